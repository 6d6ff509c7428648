"""Registry scanning, the API side: read each region's ECR scanning configuration and Inspector ECR state,
apply a plan (activate Inspector and wait, write the rules, set rescan durations), and the backup file.

Every boto3 dict is turned into `ecrwatch.scanning` dataclasses here; nothing from boto3 leaves this module.
A write that fails part-way raises an ApplyError that lists what was applied and what was not.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ecrwatch.aws import Aws, calling_in
from ecrwatch.errors import AwsCallError, CredentialsError, EcrwatchError, TimeoutWaitingError, UsageError
from ecrwatch.models import (
    AccountStatus,
    CoverageCount,
    RegionStatus,
    RegistryCoverage,
    StatusReadError,
    StatusReport,
)
from ecrwatch.scanning import (
    ACTIVATE,
    DISABLED,
    ENABLED,
    ENABLING,
    PUT_RULES,
    SET_RESCAN,
    WAIT,
    Backup,
    BackupError,
    ConfigurationShapeError,
    EnableRequest,
    InspectorEcr,
    RegionPlan,
    RegionState,
    RegistryScanning,
    RescanSettings,
    Step,
    parse_backup,
    plan_enable,
    plan_restore,
    planned_steps,
    registry_from_api,
    registry_to_api,
    rescan_to_api,
    select_backup_regions,
)

if TYPE_CHECKING:
    from mypy_boto3_inspector2.type_defs import EcrConfigurationTypeDef

ECR_IMAGE = "AWS_ECR_CONTAINER_IMAGE"
# Inspector statuses from which an activation will not complete by waiting.
_STUCK = frozenset({"DISABLED", "DISABLING", "SUSPENDING", "SUSPENDED"})

Notify = Callable[[Step], None]
Waiting = Callable[[str], AbstractContextManager[object]]


# --- reading ------------------------------------------------------------------------------------------


def read_registry(aws: Aws, region: str) -> RegistryScanning:
    with calling_in(aws, "ecr", "GetRegistryScanningConfiguration", region):
        response = aws.ecr(region).get_registry_scanning_configuration()
    try:
        return registry_from_api(response.get("scanningConfiguration") or {})
    except ConfigurationShapeError as exc:
        # Refuse rather than rewrite (and so lose) something we do not understand.
        raise EcrwatchError(
            f"{region}: the registry scanning configuration has {exc}; ecrwatch does not rewrite a configuration "
            "it cannot represent",
            "upgrade ecrwatch, or change the configuration in the ECR console",
        ) from None


def read_inspector_status(aws: Aws, region: str) -> str:
    """Inspector's status for the ECR resource type in this account and region."""
    with calling_in(aws, "inspector2", "BatchGetAccountStatus", region):
        response = aws.inspector2(region).batch_get_account_status()
    for failed in response.get("failedAccounts") or ():
        raise EcrwatchError(
            f"{region}: inspector2:BatchGetAccountStatus could not read account {failed.get('accountId')}: "
            f"{failed.get('errorCode')}: {failed.get('errorMessage')}",
            "check that the credentials are for the account whose registry you mean",
        )
    accounts = response.get("accounts") or []
    if not accounts:
        return "DISABLED"
    ecr: dict[str, Any] = dict(accounts[0].get("resourceState", {}).get("ecr", {}))
    return str(ecr.get("status") or "DISABLED")


def read_rescan(aws: Aws, region: str) -> RescanSettings:
    try:
        with calling_in(aws, "inspector2", "GetConfiguration", region):
            response = aws.inspector2(region).get_configuration()
    except AwsCallError as exc:
        if exc.code == "ResourceNotFoundException":  # never configured: nothing to keep or restore
            return RescanSettings()
        raise
    state: Any = response.get("ecrConfiguration", {}).get("rescanDurationState", {})
    return RescanSettings(
        rescan_duration=state.get("rescanDuration"),
        pull_date_rescan_duration=state.get("pullDateRescanDuration"),
        pull_date_rescan_mode=state.get("pullDateRescanMode"),
    )


def read_state(aws: Aws, region: str) -> RegionState:
    registry = read_registry(aws, region)
    inspector = InspectorEcr(read_inspector_status(aws, region), read_rescan(aws, region))
    return RegionState(region, registry, inspector)


# --- planning (reads only) --------------------------------------------------------------------------------


def prepare_enable(
    aws: Aws, regions: Sequence[str], request: EnableRequest
) -> tuple[tuple[RegionState, ...], tuple[RegionPlan, ...]]:
    """Read every region, then plan; a region that cannot be read stops everything before any write."""
    states = tuple(read_state(aws, region) for region in regions)
    return states, tuple(plan_enable(state, request) for state in states)


def prepare_restore(
    aws: Aws, backup: Backup, *, allow_deactivation: bool = False
) -> tuple[tuple[RegionState, ...], tuple[RegionPlan, ...]]:
    """Read the backup's regions and plan their restore; a backup from another account is refused."""
    first = backup.regions[0].region
    if backup.account is not None and (account := aws.account_id(first)) != backup.account:
        raise UsageError(
            f"{backup.source} was taken in account {backup.account}; these credentials are for account {account}",
            "use the profile of the account the backup belongs to (--profile NAME)",
        )
    states = tuple(read_state(aws, saved.region) for saved in backup.regions)
    return states, tuple(
        plan_restore(state, saved, allow_deactivation=allow_deactivation)
        for state, saved in zip(states, backup.regions, strict=True)
    )


# --- coverage (for status) ------------------------------------------------------------------------------


def read_coverage(aws: Aws, region: str) -> RegistryCoverage:
    counts: dict[tuple[str, str], int] = {}
    with calling_in(aws, "inspector2", "ListCoverage", region):
        paginator = aws.inspector2(region).get_paginator("list_coverage")
        pages = paginator.paginate(
            filterCriteria={"resourceType": [{"comparison": "EQUALS", "value": ECR_IMAGE}]},
            PaginationConfig={"PageSize": 200},  # ListCoverageMaxResults' maximum
        )
        for page in pages:
            for resource in page.get("coveredResources") or ():
                status: dict[str, Any] = dict(resource.get("scanStatus") or {})
                key = (str(status.get("statusCode") or "UNKNOWN"), str(status.get("reason") or "UNKNOWN"))
                counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return RegistryCoverage(tuple(CoverageCount(code, reason, n) for (code, reason), n in ordered))


def _read_error(exc: EcrwatchError, fallback_service: str, region: str) -> StatusReadError:
    if isinstance(exc, AwsCallError):
        return StatusReadError(f"{exc.service}:{region}", exc.code or "", exc.message)
    return StatusReadError(f"{fallback_service}:{region}", type(exc).__name__, exc.message)


def read_status(aws: Aws, regions: Sequence[str]) -> StatusReport:
    """Each region's configuration and coverage; a region or API that fails is an error, the rest still shown."""
    results, errors = [], []
    for region in regions:
        state: RegionState | None = None
        coverage: RegistryCoverage | None = None
        try:
            state = read_state(aws, region)
        except AwsCallError as exc:
            errors.append(_read_error(exc, "ecr", region))
        except EcrwatchError as exc:
            if exc.exit_status != 3:
                raise
            errors.append(_read_error(exc, "ecr", region))
        try:
            coverage = read_coverage(aws, region)
        except AwsCallError as exc:
            errors.append(_read_error(exc, "inspector2", region))
        results.append(RegionStatus(region, state, coverage))
    return StatusReport(tuple(results), tuple(errors))


def read_accounts_status(
    aws: Aws, accounts: Sequence[tuple[str, str | None]], regions: Sequence[str], workers: int = 8
) -> list[AccountStatus]:
    """`read_status` of each account (id, name), accounts side by side, each with its own clients; an account
    that cannot be entered is an `account:ID` error and the others are still read."""
    from concurrent.futures import ThreadPoolExecutor

    from ecrwatch.aws import AccountUnavailable

    def one(item: tuple[str, str | None]) -> AccountStatus:
        account, name = item
        try:
            clients = aws.account(account)
        except AccountUnavailable as exc:
            return AccountStatus(
                account, name, None, StatusReadError(f"account:{account}", exc.code or "", exc.message)
            )
        try:
            return AccountStatus(account, name, read_status(clients, regions))
        except CredentialsError as exc:
            if clients is aws:
                raise  # the caller's own credentials: nothing else would answer either (exit 2)
            # Another account refused in a region it has not opted into: its error, not the run's.
            return AccountStatus(
                account, name, None, StatusReadError(f"account:{account}", exc.code or "", exc.message)
            )

    if not accounts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(accounts))), thread_name_prefix="status") as pool:
        return list(pool.map(one, accounts))


# --- applying -----------------------------------------------------------------------------------------


class ApplyError(EcrwatchError):
    """A write failed part-way: says exactly which steps were applied and which were not."""

    def __init__(self, cause: EcrwatchError, applied: Sequence[Step], not_applied: Sequence[Step], hint: str) -> None:
        lines = [cause.message]
        lines.append("applied:" if applied else "applied: nothing")
        lines.extend(f"  {step}" for step in applied)
        lines.append("not applied:" if not_applied else "not applied: nothing")
        lines.extend(f"  {step}" + ("  <- failed here" if i == 0 else "") for i, step in enumerate(not_applied))
        super().__init__("\n".join(lines), hint)
        self.exit_status = cause.exit_status
        self.cause = cause
        self.applied = tuple(applied)
        self.not_applied = tuple(not_applied)


@dataclass(frozen=True)
class WaitSettings:
    timeout: float = 300.0
    poll_interval: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def _activate(aws: Aws, region: str) -> None:
    with calling_in(aws, "inspector2", "Enable", region):
        response = aws.inspector2(region).enable(resourceTypes=["ECR"])
    for failed in response.get("failedAccounts") or ():
        code, message = failed.get("errorCode"), failed.get("errorMessage")
        if code in ("ALREADY_ENABLED", "ENABLE_IN_PROGRESS"):
            continue
        hint = (
            "grant inspector2:Enable and iam:CreateServiceLinkedRole (for AWSServiceRoleForAmazonInspector2)"
            if code == "ACCESS_DENIED"
            else "check the account's Inspector settings (delegated administrator, Organizations policies)"
        )
        raise AwsCallError(
            f"inspector2:Enable in {region} did not activate ECR scanning for account {failed.get('accountId')}: "
            f"{code}: {message}",
            hint,
            service="inspector2",
            operation="Enable",
            code=str(code),
            region=region,
        )


@dataclass(frozen=True)
class _Awaited:
    """What a wait for one Inspector ECR status is for: the statuses that mean it will not come, and what to
    say when it does not."""

    status: str
    opposed: frozenset[str]
    opposed_hint: str
    slow_hint: str  # follows the `aws inspector2 batch-get-account-status` command in the hint


_ACTIVATION = _Awaited(
    ENABLED,
    _STUCK,
    "an Organizations policy or the delegated administrator may be deactivating it",
    " and the Inspector console; activation can take several minutes (raise --wait-timeout)",
)
_DEACTIVATION = _Awaited(
    DISABLED,
    frozenset({ENABLED, ENABLING}),
    "something activated it again",
    "; deactivation can take several minutes (raise --wait-timeout)",
)


def _wait_for(aws: Aws, region: str, wait: WaitSettings, awaited: _Awaited) -> None:
    """Poll BatchGetAccountStatus until ECR reaches the awaited status, at most `wait.timeout` seconds; a
    status that leads away from it ends the wait at once."""
    deadline = wait.clock() + wait.timeout
    check = f"check `aws inspector2 batch-get-account-status --region {region}`"
    while True:
        status = read_inspector_status(aws, region)
        if status == awaited.status:
            return
        if status in awaited.opposed:
            raise EcrwatchError(
                f"{region}: Inspector scanning for ECR went to {status} while ecrwatch waited for {awaited.status}",
                f"{check}; {awaited.opposed_hint}",
            )
        remaining = deadline - wait.clock()
        if remaining <= 0:
            raise TimeoutWaitingError(
                f"{region}: Inspector scanning for ECR was still {status} after {wait.timeout:g} s",
                check + awaited.slow_hint,
            )
        wait.sleep(min(wait.poll_interval, remaining))


def wait_until_enabled(aws: Aws, region: str, wait: WaitSettings) -> None:
    """Poll BatchGetAccountStatus until ECR is ENABLED, at most `wait.timeout` seconds."""
    _wait_for(aws, region, wait, _ACTIVATION)


def wait_until_disabled(aws: Aws, region: str, wait: WaitSettings) -> None:
    """Poll BatchGetAccountStatus until ECR is DISABLED (a deactivation has finished deleting its findings)."""
    _wait_for(aws, region, wait, _DEACTIVATION)


def _run_step(aws: Aws, plan: RegionPlan, step: Step, wait: WaitSettings, waiting: Waiting) -> None:
    region = plan.region
    if step.action == ACTIVATE:
        _activate(aws, region)
    elif step.action == WAIT and step.until == DISABLED:
        with waiting(f"{region}: waiting for Amazon Inspector to deactivate ECR scanning (up to {wait.timeout:g} s)"):
            wait_until_disabled(aws, region, wait)
    elif step.action == WAIT:
        with waiting(f"{region}: waiting for Amazon Inspector to activate ECR scanning (up to {wait.timeout:g} s)"):
            wait_until_enabled(aws, region, wait)
    elif step.action == PUT_RULES:
        params = registry_to_api(plan.registry)
        with calling_in(aws, "ecr", "PutRegistryScanningConfiguration", region):
            aws.ecr(region).put_registry_scanning_configuration(**params)
    elif step.action == SET_RESCAN:
        assert plan.rescan is not None
        with calling_in(aws, "inspector2", "UpdateConfiguration", region):
            config = cast("EcrConfigurationTypeDef", rescan_to_api(plan.rescan))
            aws.inspector2(region).update_configuration(ecrConfiguration=config)
    else:  # pragma: no cover - planned_steps makes no other kind
        raise AssertionError(step.action)


@contextlib.contextmanager
def _no_spinner(_text: str) -> Iterator[None]:
    yield


def apply_plans(
    aws: Aws,
    plans: Sequence[RegionPlan],
    *,
    wait: WaitSettings | None = None,
    notify: Notify | None = None,
    waiting: Waiting | None = None,
    backup_path: str | None = None,
) -> tuple[Step, ...]:
    """Make every plan's writes, region by region, stopping at the first failure (ApplyError)."""
    wait = wait or WaitSettings()
    steps = [(plan, step) for plan in plans for step in planned_steps(plan)]
    done: list[Step] = []
    for index, (plan, step) in enumerate(steps):
        try:
            _run_step(aws, plan, step, wait, waiting or _no_spinner)
        except EcrwatchError as exc:
            raise ApplyError(exc, done, [s for _, s in steps[index:]], _apply_hint(exc, backup_path)) from None
        except KeyboardInterrupt:
            # Ctrl-C during the activation wait is likely; the user still needs to know where things stand.
            stopped = EcrwatchError(f"interrupted during: {step}")
            raise ApplyError(stopped, done, [s for _, s in steps[index:]], _apply_hint(stopped, backup_path)) from None
        done.append(step)
        if notify:
            notify(step)
    return tuple(done)


def _apply_hint(exc: EcrwatchError, backup_path: str | None) -> str:
    parts = [exc.hint] if exc.hint else []
    parts.append("running the same command again applies only what is still missing")
    if backup_path:
        parts.append(f"`ecrwatch enable-scanning --restore {backup_path}` puts back the configuration as it was")
    return "; ".join(parts)


# --- the backup file ----------------------------------------------------------------------------------


def check_backup_target(path: str, restore_path: str | None = None) -> None:
    """Before any call: a backup never overwrites a file (it may be the only copy of an earlier configuration)."""
    target = Path(path)
    if restore_path is not None and target.resolve() == Path(restore_path).resolve():
        raise UsageError(f"--backup {path} is the file --restore reads", "write the backup to another file")
    if target.exists():
        raise UsageError(
            f"--backup {path} already exists; ecrwatch does not overwrite a backup (it may be the only copy of an "
            "earlier configuration)",
            "choose a new file name, or move the old backup away",
        )
    if not target.parent.is_dir():
        raise UsageError(f"--backup {path}: the directory {target.parent} does not exist")


def write_backup(path: str, document: dict[str, Any]) -> None:
    """Atomically: a temporary file in the same directory, flushed to disk, then renamed into place."""
    target = Path(path)
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"--backup {path} cannot be written: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"--backup {path} cannot be written: {exc.strerror}") from None


def load_backup(path: str, regions: Sequence[str] = ()) -> Backup:
    """Read and validate a --restore file completely, before any call (BackupError, exit 2); narrowed to
    `regions` where given."""
    return select_backup_regions(parse_backup(read_backup_document(path), path), regions)


def read_backup_document(path: str) -> Any:
    """The JSON of a --restore file (BackupError, exit 2, when it cannot be read or is not JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"--restore {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BackupError(f"--restore {path} is not a text file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BackupError(f"--restore {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    return document
