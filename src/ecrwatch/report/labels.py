"""Short names for digests and workloads, as the table and the notifications write them (plain text: no rich,
so that a notification is composed without loading the table's renderer)."""

from __future__ import annotations

import re

from ecrwatch.models import Workload

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SHORT_HEX = 12


def short_digest(digest: str, ellipsis: str = "…") -> str:
    """sha256:0123456789ab… : enough to tell digests apart by eye; the JSON report has them whole."""
    if DIGEST.fullmatch(digest):
        return digest[: len("sha256:") + _SHORT_HEX] + ellipsis
    return digest


def task_id(task_arn: str | None) -> str:
    return task_arn.rsplit("/", 1)[-1] if task_arn else "?"


def workload_label(w: Workload) -> str:
    """The workload a container belongs to, in a few words: `ecs prod service api`, `eks payments
    shop/Deployment web` (a standalone task or a bare pod by its own name)."""
    where = f"{w.platform} {w.cluster}"
    if w.platform == "ecs":
        return f"{where} service {w.service}" if w.service else f"{where} task {task_id(w.task_arn)}"
    ns = f"{w.namespace}/" if w.namespace else ""
    return f"{where} {ns}{w.owner.kind} {w.owner.name}" if w.owner else f"{where} {ns}{w.pod or '?'}"
