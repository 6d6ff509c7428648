"""A Lambda function on an EventBridge rule for Inspector finding events: `ecrwatch.aws_lambda.handler`.

What `ecrwatch check --event` does, for one event a call: the finding's image(s) checked against the running
ECS tasks and EKS pods, one JSON line on stdout per exposure (CloudWatch Logs keeps one event a line),
notifications when configured, and a small summary returned. Events for findings that are not ACTIVE, or not
about ECR images, are ignored (and say so). A malformed event is rejected, not retried: the summary and the
log say what is wrong with it. Configuration errors raise, so that the invocation counts as failed.

Configuration, from environment variables (all optional):

- ECRWATCH_REGIONS: regions whose clusters are read (default: the function's own AWS_REGION).
- ECRWATCH_ECS=false / ECRWATCH_EKS=false: skip ECS / EKS. ECRWATCH_ECS_CLUSTERS, ECRWATCH_EKS_CLUSTERS:
  only these clusters (names or ARNs).
- ECRWATCH_MIN_SEVERITY, ECRWATCH_FIXABLE_ONLY=true: the report's filters.
- ECRWATCH_NOTIFY_WEBHOOKS: webhook URLs, space-separated (secrets: encrypt the variable with KMS).
  ECRWATCH_NOTIFY_SNS: SNS topic ARNs. ECRWATCH_NOTIFY_TIMEOUT: seconds a webhook may take (default 10).
- ECRWATCH_MAX_ATTEMPTS: attempts per AWS call (default 10). ECRWATCH_WORKERS: concurrent calls (default 8).
- Several accounts: ECRWATCH_ACCOUNTS (ids), ECRWATCH_ORG=true, ECRWATCH_OUS (OU ids),
  ECRWATCH_EXCLUDE_ACCOUNTS, entered with ECRWATCH_ROLE_NAME (and ECRWATCH_EXTERNAL_ID). With a role and no
  accounts named, the accounts the event's findings belong to are read (an event forwarded by Inspector's
  delegated administrator names the member account), with the function's own.

Lists are separated by spaces or commas (webhook URLs by spaces only).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.accounts import AccountSelection, parse_role, parse_selection
from ecrwatch.aws import Aws, AwsSettings, RoleSettings
from ecrwatch.check import CheckRequest
from ecrwatch.correlate import exit_status
from ecrwatch.errors import EXIT_INCOMPLETE, UsageError
from ecrwatch.events import EventError, parse_event
from ecrwatch.logging_json import use_log_format
from ecrwatch.models import DEFAULT_WORKERS, SEVERITIES, Filters, Report
from ecrwatch.notify import Notifications
from ecrwatch.report.json import error_to_dict, exposure_to_dict, matched_workload_to_dict
from ecrwatch.state import workload_identity
from ecrwatch.unattended import Unattended, run_unattended

__all__ = ["LambdaConfig", "exposure_lines", "handler"]

log = logging.getLogger(__name__)


def _names(value: str | None, *, commas: bool = True) -> tuple[str, ...]:
    """A list in a variable: space-separated, and comma-separated too except for URLs (a query may hold one)."""
    text = (value or "").replace(",", " ") if commas else (value or "")
    return tuple(dict.fromkeys(text.split()))


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{name}={value!r} is not true or false")


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number") from None
    if not low <= value <= high:
        raise UsageError(f"{name}={text} is outside {low:g}-{high:g}")
    return value


@dataclass(frozen=True)
class LambdaConfig:
    regions: tuple[str, ...]
    ecs: bool = True
    ecs_clusters: tuple[str, ...] = ()
    eks: bool = True
    eks_clusters: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    notifications: Notifications = field(default_factory=Notifications)
    max_attempts: int = 10
    workers: int = DEFAULT_WORKERS
    accounts: AccountSelection = field(default_factory=AccountSelection)
    role: RoleSettings | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LambdaConfig:
        regions = _names(environ.get("ECRWATCH_REGIONS")) or _names(environ.get("AWS_REGION"))
        if not regions:
            raise UsageError("no region: set ECRWATCH_REGIONS (Lambda sets AWS_REGION itself)")
        severity = environ.get("ECRWATCH_MIN_SEVERITY", "").strip().upper() or None
        if severity is not None and severity not in SEVERITIES:
            raise UsageError(f"ECRWATCH_MIN_SEVERITY={severity!r} is not one of {', '.join(SEVERITIES)}")
        return cls(
            regions=regions,
            ecs=_flag(environ, "ECRWATCH_ECS", True),
            ecs_clusters=_names(environ.get("ECRWATCH_ECS_CLUSTERS")),
            eks=_flag(environ, "ECRWATCH_EKS", True),
            eks_clusters=_names(environ.get("ECRWATCH_EKS_CLUSTERS")),
            filters=Filters(severity, _flag(environ, "ECRWATCH_FIXABLE_ONLY", False)),
            notifications=Notifications.parse(
                _names(environ.get("ECRWATCH_NOTIFY_WEBHOOKS"), commas=False),
                _names(environ.get("ECRWATCH_NOTIFY_SNS")),
                _number(environ, "ECRWATCH_NOTIFY_TIMEOUT", 10.0, 1, 300),
            ),
            max_attempts=int(_number(environ, "ECRWATCH_MAX_ATTEMPTS", 10, 1, 50)),
            workers=int(_number(environ, "ECRWATCH_WORKERS", DEFAULT_WORKERS, 1, 64)),
            accounts=parse_selection(
                _names(environ.get("ECRWATCH_ACCOUNTS")),
                _flag(environ, "ECRWATCH_ORG", False),
                _names(environ.get("ECRWATCH_OUS")),
                _names(environ.get("ECRWATCH_EXCLUDE_ACCOUNTS")),
            ),
            role=parse_role(
                environ.get("ECRWATCH_ROLE_NAME", "").strip() or None,
                environ.get("ECRWATCH_EXTERNAL_ID", "").strip() or None,
            ),
        )


def exposure_lines(report: Report) -> list[dict[str, Any]]:
    """One object per exposure, standing on its own: the exposure in schema form with the workloads that run
    its image, one container per workload (a service's hundred tasks are one line, not a hundred)."""
    entries = {e.image: e for e in report.images}
    lines = []
    for exposure in report.exposures:
        entry = entries.get(exposure.image)
        workloads = {workload_identity(m.workload): m for m in entry.workloads} if entry else {}
        lines.append(
            {
                "type": "exposure",
                **exposure_to_dict(exposure),
                "workloads": [matched_workload_to_dict(m) for m in workloads.values()],
            }
        )
    return lines


def _emit(line: Mapping[str, Any]) -> None:
    print(json.dumps(line, separators=(",", ":"), default=str), file=sys.stdout, flush=True)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point: one EventBridge event in, a summary out."""
    use_log_format("json")
    logger = logging.getLogger("ecrwatch")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the runtime's root handler would print each line a second time, as text
    config = LambdaConfig.from_environ(os.environ)
    try:
        found = parse_event(event)
    except EventError as exc:
        summary: dict[str, Any] = {"status": "rejected", "message": exc.message}
        _emit({"type": "summary", **summary})
        return summary
    if found.ignored:
        summary = {"status": "ignored", "finding_arn": found.finding_arn, "reason": found.ignored}
        _emit({"type": "summary", **summary})
        return summary
    accounts = config.accounts
    if config.role is not None and not accounts.active:
        # The event's own accounts (and ours: see check's account selection), entered with the role.
        named = sorted({f.image.account for f in found.findings})
        accounts = AccountSelection(tuple(named), include_caller=True)
    request = CheckRequest(
        regions=config.regions,
        ecs=config.ecs,
        ecs_clusters=config.ecs_clusters,
        eks=config.eks,
        eks_clusters=config.eks_clusters,
        filters=config.filters,
        workers=config.workers,
        event_findings=found.findings,
        accounts=accounts,
    )
    aws = Aws(AwsSettings(max_attempts=config.max_attempts), role=config.role)
    report = run_unattended(aws, request, Unattended(notifications=config.notifications))
    for line in exposure_lines(report):
        _emit(line)
    incomplete = exit_status(report, None) == EXIT_INCOMPLETE
    summary = {
        "status": "incomplete" if incomplete else "ok",
        "finding_arn": found.finding_arn,
        "exposures": len(report.exposures),
        "running_containers": report.summary.running_containers,
        "errors": [error_to_dict(e) for e in report.errors],
    }
    _emit({"type": "summary", **summary})
    return summary
