"""Registry scanning across accounts, the API side: read every selected account x region (accounts side by
side, each through its own role), then apply the one plan account by account, one account's failure never
stopping the others.

Inspector activation where a delegated administrator is named (`--inspector-account`): the administrator
calls inspector2:Enable with `accountIds` (at most 100 a call, botocore's AccountIdSet) and waits with
BatchGetAccountStatus for each member; a member's ECR rescan durations are set by the administrator too
(UpdateConfiguration with `accountId`: members cannot call it). The registry rules are always written by
each account itself, through its role, with the single-account merge-never-clobber plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from ecrwatch.aws import AccountUnavailable, Aws, calling_in
from ecrwatch.errors import AwsCallError, CredentialsError, EcrwatchError
from ecrwatch.registry import (
    ApplyError,
    Notify,
    Waiting,
    WaitSettings,
    apply_plans,
    read_state,
)
from ecrwatch.scanning import (
    ENABLED,
    EnableRequest,
    RegionPlan,
    RegionState,
    plan_enable,
    plan_restore,
    rescan_to_api,
)
from ecrwatch.scanning_org import (
    OrgPlan,
    Target,
    TargetOutcome,
    Unreadable,
    activation_batches,
    chunks,
    managed_by,
)

if TYPE_CHECKING:
    from mypy_boto3_inspector2.type_defs import EcrConfigurationTypeDef

_STUCK = frozenset({"DISABLED", "DISABLING", "SUSPENDING", "SUSPENDED"})
# Enable's per-account answers that mean the account is (becoming) active: nothing failed.
_ALREADY = frozenset({"ALREADY_ENABLED", "ENABLE_IN_PROGRESS"})

Planner = Callable[[RegionState], RegionPlan]
# Accounts written at once. Each account's writes are few; most of an account's time is spent waiting for
# Inspector's activation, which must not be paid account after account.
APPLY_ACCOUNTS_AT_ONCE = 8


# --- reading ------------------------------------------------------------------------------------------


def _unreadable(exc: EcrwatchError) -> Unreadable:
    code = (exc.code if isinstance(exc, AwsCallError) else None) or type(exc).__name__
    return Unreadable(str(code), exc.message)


def _read_account(aws: Aws, account: str, planners: Mapping[str, Planner], admin: str | None) -> list[Target]:
    """One account's regions; an account that cannot be entered makes each of its regions unreadable."""
    try:
        clients = aws.account(account)
    except AccountUnavailable as exc:
        return [Target(account, region, None, None, _unreadable(exc), admin) for region in planners]
    targets = []
    for region, planner in planners.items():
        try:
            state = read_state(clients, region)
        except CredentialsError as exc:
            if clients is aws:
                raise  # the caller's own credentials: nothing else would answer either (exit 2)
            # Another account refused in a region it has not opted into: its error, not the run's.
            targets.append(Target(account, region, None, None, Unreadable(exc.code or "", exc.message), admin))
            continue
        except EcrwatchError as exc:
            if exc.exit_status != 3:
                raise
            targets.append(Target(account, region, None, None, _unreadable(exc), admin))
            continue
        targets.append(Target(account, region, state, planner(state), None, admin))
    return targets


def read_org(
    aws: Aws,
    planners: Mapping[str, Mapping[str, Planner]],
    *,
    inspector_account: str | None = None,
    workers: int = 8,
) -> OrgPlan:
    """Read and plan every account x region (`planners[account][region]` plans what was read); nothing is
    written here. Accounts are read side by side."""
    accounts = sorted(planners)
    if not accounts:
        return OrgPlan((), inspector_account)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(accounts))), thread_name_prefix="scan-read") as pool:
        read = list(
            pool.map(
                lambda account: _read_account(aws, account, planners[account], managed_by(account, inspector_account)),
                accounts,
            )
        )
    return OrgPlan(tuple(t for per_account in read for t in per_account), inspector_account)


def enable_planners(
    accounts: Sequence[str], regions: Sequence[str], request: EnableRequest
) -> dict[str, dict[str, Planner]]:
    def planner(state: RegionState) -> RegionPlan:
        return plan_enable(state, request)

    return {account: dict.fromkeys(regions, planner) for account in accounts}


def restore_planners(
    saved: Mapping[str, Sequence[RegionState]], *, allow_deactivation: bool
) -> dict[str, dict[str, Planner]]:
    def planner_for(backup_state: RegionState) -> Planner:
        return lambda state: plan_restore(state, backup_state, allow_deactivation=allow_deactivation)

    return {account: {s.region: planner_for(s) for s in states} for account, states in saved.items()}


# --- applying: the administrator's part -------------------------------------------------------------------


def _admin_enable(admin: Aws, region: str, accounts: list[str]) -> dict[str, str]:
    """inspector2:Enable for ECR on behalf of `accounts`; returns account -> why it was refused."""
    with calling_in(admin, "inspector2", "Enable", region):
        response = admin.inspector2(region).enable(accountIds=accounts, resourceTypes=["ECR"])
    refused = {}
    for failed in response.get("failedAccounts") or ():
        if failed.get("errorCode") in _ALREADY:
            continue
        refused[str(failed.get("accountId"))] = (
            f"the delegated administrator's inspector2:Enable was refused for this account: "
            f"{failed.get('errorCode')}: {failed.get('errorMessage')}"
        )
    return refused


def _admin_statuses(admin: Aws, region: str, accounts: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """ECR status of each account as the administrator sees it, and the accounts it could not read."""
    statuses, refused = {}, {}
    with calling_in(admin, "inspector2", "BatchGetAccountStatus", region):
        response = admin.inspector2(region).batch_get_account_status(accountIds=accounts)
    for entry in response.get("accounts") or ():
        ecr: dict[str, Any] = dict(entry.get("resourceState", {}).get("ecr", {}))
        statuses[str(entry.get("accountId"))] = str(ecr.get("status") or "DISABLED")
    for failed in response.get("failedAccounts") or ():
        refused[str(failed.get("accountId"))] = f"{failed.get('errorCode')}: {failed.get('errorMessage')}"
    return statuses, refused


def _admin_wait(admin: Aws, region: str, accounts: list[str], wait: WaitSettings) -> dict[str, str]:
    """Poll until every member's ECR scanning is ENABLED; returns account -> why it did not get there."""
    deadline = wait.clock() + wait.timeout
    pending, failed = list(accounts), {}
    while pending:
        still: list[str] = []
        for batch in chunks(pending):
            statuses, refused = _admin_statuses(admin, region, batch)
            failed.update(refused)
            for account in batch:
                status = statuses.get(account)
                if status is None or account in refused:
                    failed.setdefault(account, "the delegated administrator could not read its status")
                elif status in _STUCK:
                    failed[account] = f"Inspector scanning for ECR went to {status} while ecrwatch waited for ENABLED"
                elif status != ENABLED:
                    still.append(account)
        pending = still
        if not pending:
            break
        remaining = deadline - wait.clock()
        if remaining <= 0:
            for account in pending:
                failed[account] = f"Inspector scanning for ECR was still activating after {wait.timeout:g} s"
            break
        wait.sleep(min(wait.poll_interval, remaining))
    return failed


def _admin_activation(aws: Aws, plan: OrgPlan, wait: WaitSettings, waiting: Waiting) -> dict[tuple[str, str], str]:
    """The administrator activates (and waits for) its members; (account, region) -> why it failed."""
    admin_id = plan.inspector_account
    managed = [t for t in plan.targets if t.by_administrator and t.activated_by is not None]
    if admin_id is None or not managed:
        return {}
    try:
        admin = aws.account(admin_id)
    except AccountUnavailable as exc:
        why = f"the delegated administrator {admin_id} could not be entered: {exc.message}"
        return {(t.account, t.region): why for t in managed}
    failed: dict[tuple[str, str], str] = {}
    for region, batches in activation_batches(managed).items():
        for batch in batches:
            try:
                refused = _admin_enable(admin, region, batch)
            except AwsCallError as exc:
                refused = dict.fromkeys(batch, exc.message)
            failed.update({(account, region): why for account, why in refused.items()})
    by_region: dict[str, list[str]] = {}
    for target in managed:
        if (target.account, target.region) not in failed:
            by_region.setdefault(target.region, []).append(target.account)
    for region, accounts in sorted(by_region.items()):
        text = f"{region}: the delegated administrator waits for {len(accounts)} account(s) (up to {wait.timeout:g} s)"
        try:
            with waiting(text):
                late = _admin_wait(admin, region, sorted(accounts), wait)
        except AwsCallError as exc:
            late = dict.fromkeys(accounts, exc.message)
        failed.update({(account, region): why for account, why in late.items()})
    return failed


def _admin_rescan(aws: Aws, admin_id: str, target: Target) -> None:
    """A member's ECR rescan durations, set by its delegated administrator (members cannot call it)."""
    assert target.plan is not None and target.plan.rescan is not None
    config = cast("EcrConfigurationTypeDef", rescan_to_api(target.plan.rescan))
    admin = aws.account(admin_id)
    with calling_in(admin, "inspector2", "UpdateConfiguration", target.region):
        admin.inspector2(target.region).update_configuration(accountId=target.account, ecrConfiguration=config)


# --- applying: each account's part ----------------------------------------------------------------------


def _own_plan(target: Target) -> RegionPlan:
    """What the account writes itself: all of it, or, where its administrator activates it and sets its
    durations, the rules alone."""
    assert target.plan is not None
    if not target.by_administrator:
        return target.plan
    return replace(target.plan, activate_inspector=False, wait_for_inspector=False, rescan=None)


def _apply_account(
    aws: Aws,
    account: str,
    targets: list[Target],
    inspector_account: str | None,
    *,
    wait: WaitSettings,
    notify: Notify | None,
    waiting: Waiting,
    backup_path: str | None,
) -> list[TargetOutcome]:
    plans = [_own_plan(t) for t in targets]
    try:
        clients = aws.account(account)
        apply_plans(
            clients, plans, wait=wait, notify=notify, waiting=_naming(waiting, account), backup_path=backup_path
        )
    except AccountUnavailable as exc:
        return [TargetOutcome(account, t.region, "failed", exc.message) for t in targets]
    except ApplyError as exc:
        return _partial(account, targets, exc, inspector_account)
    outcomes = []
    for target in targets:
        if target.by_administrator and target.plan is not None and target.plan.rescan is not None:
            assert inspector_account is not None
            try:
                _admin_rescan(aws, inspector_account, target)
            except EcrwatchError as err:
                outcomes.append(TargetOutcome(account, target.region, "failed", err.message))
                continue
        outcomes.append(TargetOutcome(account, target.region, "changed"))
    return outcomes


def _naming(waiting: Waiting, account: str) -> Waiting:
    """The wait's message names the account: several accounts wait at once."""

    def named(text: str) -> AbstractContextManager[object]:
        return waiting(f"account {account} {text}")

    return named


def _why(exc: ApplyError, inspector_account: str | None) -> str:
    """The failure of one account's write, with what to do about it."""
    cause = exc.cause
    member = (
        isinstance(cause, AwsCallError) and cause.code == "AccessDeniedException" and "Member account" in cause.message
    )
    if member and inspector_account is None:
        hint = (
            "the account is a member of Inspector's delegated administrator, which manages its scan types: "
            "pass --inspector-account ADMINISTRATOR_ID so that the administrator activates it"
        )
    else:
        hint = cause.hint or ""
    return f"{cause.message}" + (f" (hint: {hint})" if hint else "")


def _partial(
    account: str, targets: list[Target], exc: ApplyError, inspector_account: str | None
) -> list[TargetOutcome]:
    """Where an account's writes stopped: regions done before the failure changed, the failing one failed,
    the ones after it not applied."""
    failing = exc.not_applied[0].region if exc.not_applied else None
    after = {step.region for step in exc.not_applied[1:]} - {failing}
    outcomes = []
    for target in targets:
        if target.region == failing:
            outcomes.append(TargetOutcome(account, target.region, "failed", _why(exc, inspector_account)))
        elif target.region in after:
            outcomes.append(
                TargetOutcome(account, target.region, "not_applied", "an earlier write of this account failed")
            )
        else:
            outcomes.append(TargetOutcome(account, target.region, "changed"))
    return outcomes


def apply_org(
    aws: Aws,
    plan: OrgPlan,
    *,
    wait: WaitSettings,
    notify_for: Callable[[str], Notify] | None = None,
    waiting: Waiting,
    backup_path: str | None = None,
) -> tuple[TargetOutcome, ...]:
    """Apply the plan: the administrator's activations first (the rules take effect once Inspector is on),
    then each account's own writes. Returns one outcome per account x region."""
    failed = _admin_activation(aws, plan, wait, waiting)
    outcomes: list[TargetOutcome] = []
    to_apply: dict[str, list[Target]] = {}
    for target in plan.targets:
        key = (target.account, target.region)
        if target.unreadable is not None:
            outcomes.append(TargetOutcome(target.account, target.region, "unreadable", target.unreadable.message))
        elif key in failed:
            outcomes.append(TargetOutcome(target.account, target.region, "failed", failed[key]))
        elif not target.changed:
            outcomes.append(TargetOutcome(target.account, target.region, "unchanged"))
        else:
            to_apply.setdefault(target.account, []).append(target)

    def apply_one(item: tuple[str, list[Target]]) -> list[TargetOutcome]:
        account, targets = item
        return _apply_account(
            aws,
            account,
            targets,
            plan.inspector_account,
            wait=wait,
            notify=notify_for(account) if notify_for else None,
            waiting=waiting,
            backup_path=backup_path,
        )

    # Accounts side by side: each waits for its own activation, and one slow account must not hold up the rest.
    if to_apply:
        workers = max(1, min(APPLY_ACCOUNTS_AT_ONCE, len(to_apply)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan-apply") as pool:
            for applied in pool.map(apply_one, sorted(to_apply.items())):
                outcomes.extend(applied)
    order = {(t.account, t.region): i for i, t in enumerate(plan.targets)}
    return tuple(sorted(outcomes, key=lambda o: order[(o.account, o.region)]))
