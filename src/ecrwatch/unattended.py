"""What a run does around a check when nobody watches it (cron, a Kubernetes CronJob, a Lambda): the state
between runs (lock, load, diff, atomic write), --new-only, and the notifications. Shared by `check` and
`ecrwatch.aws_lambda`; renders nothing.

Order, and why: the state file is locked first (a second run waits, bounded) and read before any AWS call (a
damaged file is exit 2 with nothing done); the new state is written as soon as the report is known, before
anything is sent, so that a failed delivery (an `errors` entry, exit 3) never loses the state of a good run;
notifications go out after the lock is released.
"""

from __future__ import annotations

import errno
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ecrwatch import __version__
from ecrwatch.aws import Aws
from ecrwatch.check import CheckRequest, CheckRun, Progress, check_run
from ecrwatch.errors import UsageError
from ecrwatch.events import EventError, EventFindings, parse_event_text
from ecrwatch.logging_json import notice
from ecrwatch.models import Report, SourceError
from ecrwatch.notify import Notifications, notify
from ecrwatch.state import (
    RunScope,
    StateLock,
    check_state_path,
    diff_state,
    load_state,
    mark_report,
    only_new,
    write_state,
)

__all__ = ["Unattended", "load_event", "run_unattended"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unattended:
    state: Path | None = None
    state_wait: float = 60.0  # seconds to wait for another run's lock on the state file
    new_only: bool = False
    notifications: Notifications = field(default_factory=Notifications)

    def check(self) -> None:
        """Refuse what cannot work, before any call (exit 2)."""
        if self.new_only and self.state is None:
            raise UsageError("--new-only needs --state PATH", "pass --state FILE: new is relative to the last run")
        if self.state is not None:
            check_state_path(self.state)


def run_unattended(
    aws: Aws, request: CheckRequest, options: Unattended, *, progress: Progress = lambda _m: None
) -> Report:
    """Run the check with the state and notifications `options` ask for; the report as it was sent."""
    options.check()
    if options.state is None:
        report = check_run(aws, request, progress=progress).report
    else:
        with StateLock(options.state, options.state_wait):
            report = _with_state(aws, request, options.state, progress=progress, new_only=options.new_only)
    errors = notify(aws, report, options.notifications)
    return replace(report, errors=report.errors + errors) if errors else report


def _with_state(aws: Aws, request: CheckRequest, path: Path, *, progress: Progress, new_only: bool) -> Report:
    previous = load_state(path)
    if previous is None:
        notice(f"state file {path} does not exist yet: every exposure is new", level=logging.INFO)
    run: CheckRun = check_run(aws, request, progress=progress)
    now = run.report.generated_at
    diff = diff_state(previous, run, RunScope.of(run.report, request), now=now)
    report = mark_report(run.report, diff)
    try:
        write_state(path, diff.state, written_at=now, tool_version=__version__)
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0) if exc.errno else type(exc).__name__
        message = (
            f"state file {path} could not be written ({exc.strerror or exc}); "
            "the next run compares with the last state written"
        )
        log.error("%s", message)
        report = replace(report, errors=(*report.errors, SourceError("state", message, code)))
    else:
        progress(f"state: {len(diff.state.exposures)} exposure(s) written to {path}")
    return only_new(report, run.resolved) if new_only else report


def load_event(source: str) -> EventFindings:
    """The EventBridge event in a file, or on stdin for `-` (exit 2 when it cannot be read)."""
    name = "the event on stdin" if source == "-" else f"event file {source}"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EventError(f"{name} could not be read: {exc}", "pass a readable JSON file, or - for stdin") from None
    return parse_event_text(text, name)
