"""Owners: which team a workload belongs to, from the labels and tags `--owner-label KEY` names (repeatable).

Sources are asked from the most specific: the pod's own labels, then its namespace's labels (Kubernetes), or
the task's tags (ECS); within a source, the keys in the order given. The first value found wins."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any


def team_of(keys: Sequence[str], *sources: Mapping[str, Any] | None) -> str | None:
    for source in sources:
        if not source:
            continue
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return sys.intern(value.strip())
    return None


def ecs_tags(tags: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """ECS's tag list ([{key, value}]) as a mapping."""
    return {str(t.get("key")): str(t.get("value") or "") for t in tags or () if isinstance(t, dict) and t.get("key")}
