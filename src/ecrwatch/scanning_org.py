"""Registry scanning across accounts, the pure part: one plan over every account x region, who activates
Inspector where (the account itself, or Inspector's delegated administrator for its members), the summary of
what changed, and the `ecrwatch-scanning-backup/2` document that holds every account.

No AWS calls here (those are in `registry_org.py`). The single-account pieces (`RegionPlan`, the merge rule,
the /1 backup's region documents) come from `ecrwatch.scanning` unchanged: each account x region is planned
exactly as a single-account run plans a region.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecrwatch.scanning import (
    BACKUP_FORMAT,
    Backup,
    BackupError,
    RegionPlan,
    RegionState,
    inspector_to_document,
    parse_backup,
    regions_from_document,
    registry_to_api,
    require_account_id,
    require_format,
    require_taken_at,
)

BACKUP_FORMAT_V2 = "ecrwatch-scanning-backup/2"
# inspector2 Enable and BatchGetAccountStatus take at most this many accountIds (botocore's AccountIdSet).
MAX_ACCOUNT_IDS = 100


@dataclass(frozen=True)
class Unreadable:
    """Why an account x region could not be read: it is shown in the plan and left alone."""

    code: str
    message: str


@dataclass(frozen=True)
class Target:
    """One account x region of the plan: its plan once read, or why it could not be read."""

    account: str
    region: str
    state: RegionState | None
    plan: RegionPlan | None
    unreadable: Unreadable | None = None
    # Inspector's delegated administrator managing this account (named with --inspector-account): it
    # activates Inspector here and sets the rescan durations; None: the account does it itself.
    administrator: str | None = None

    @property
    def changed(self) -> bool:
        return self.plan is not None and self.plan.changed

    @property
    def by_administrator(self) -> bool:
        return self.administrator is not None

    @property
    def activated_by(self) -> str | None:
        """The account that activates Inspector's ECR scanning here (or waits for it), where the plan does."""
        plan = self.plan
        if plan is None or not (plan.activate_inspector or plan.wait_for_inspector):
            return None
        return self.administrator or self.account


@dataclass(frozen=True)
class OrgPlan:
    targets: tuple[Target, ...]
    inspector_account: str | None = None  # Inspector's delegated administrator, when named

    @property
    def plans(self) -> tuple[RegionPlan, ...]:
        return tuple(t.plan for t in self.targets if t.plan is not None)

    @property
    def unreadable(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.unreadable is not None)

    @property
    def changing(self) -> tuple[Target, ...]:
        return tuple(t for t in self.targets if t.changed)

    def states(self) -> dict[str, list[RegionState]]:
        """What was read, by account: the backup's content."""
        read: dict[str, list[RegionState]] = {}
        for target in self.targets:
            if target.state is not None:
                read.setdefault(target.account, []).append(target.state)
        return read


def managed_by(account: str, inspector_account: str | None) -> str | None:
    """The delegated administrator that manages `account`'s scan types: the one named, for every other
    account (Inspector's documented split: the administrator activates its members and sets their ECR rescan
    durations; a member may not deactivate, nor update the configuration, and activates itself only where its
    organisation allows it). The administrator itself, and every account without one, does it itself."""
    return inspector_account if inspector_account is not None and account != inspector_account else None


def activation_batches(targets: Iterable[Target]) -> dict[str, list[list[str]]]:
    """The delegated administrator's Enable calls: per region, the member accounts in batches of at most
    MAX_ACCOUNT_IDS (the API's limit), in account order."""
    by_region: dict[str, list[str]] = {}
    for target in targets:
        if target.by_administrator and target.plan is not None and target.plan.activate_inspector:
            by_region.setdefault(target.region, []).append(target.account)
    return {region: list(chunks(sorted(accounts))) for region, accounts in sorted(by_region.items())}


def chunks(items: Sequence[str], size: int = MAX_ACCOUNT_IDS) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --- the outcome ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetOutcome:
    account: str
    region: str
    status: str  # changed | unchanged | failed | unreadable | not_applied
    detail: str = ""


def summary_counts(outcomes: Sequence[TargetOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


# --- the /2 backup --------------------------------------------------------------------------------------


def _region_document(state: RegionState) -> dict[str, Any]:
    return {
        "registry_scanning": registry_to_api(state.registry),
        "inspector_ecr": inspector_to_document(state.inspector),
    }


def build_backup_v2(states: Mapping[str, Sequence[RegionState]], taken_at: datetime | None = None) -> dict[str, Any]:
    """`--backup FILE` across accounts: every account read, each with the regions as a /1 backup has them."""
    when = (taken_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "format": BACKUP_FORMAT_V2,
        "taken_at": when,
        "accounts": {
            account: {"regions": {state.region: _region_document(state) for state in regions}}
            for account, regions in sorted(states.items())
        },
    }


@dataclass(frozen=True)
class OrgBackup:
    """A backup of one or more accounts (a /1 file is one account: its own, or the caller's when it names none)."""

    taken_at: str
    accounts: Mapping[str | None, tuple[RegionState, ...]]  # None: a /1 backup that names no account
    source: str
    format: str = BACKUP_FORMAT_V2


def parse_any_backup(document: Any, source: str) -> OrgBackup:
    """A /1 or /2 backup, validated completely before any call (BackupError: exit 2)."""
    if isinstance(document, dict) and document.get("format") == BACKUP_FORMAT:
        single: Backup = parse_backup(document, source)
        return OrgBackup(single.taken_at, {single.account: single.regions}, source, BACKUP_FORMAT)
    require_format(document, source, BACKUP_FORMAT, BACKUP_FORMAT_V2)
    taken_at = require_taken_at(document, source)
    accounts_doc = document.get("accounts")
    if not isinstance(accounts_doc, dict) or not accounts_doc:
        raise BackupError(f"{source}: accounts is missing or empty")
    accounts: dict[str | None, tuple[RegionState, ...]] = {}
    for account, body in accounts_doc.items():
        require_account_id(account, f"{source}: accounts key")
        regions = body.get("regions") if isinstance(body, dict) else None
        where = f"{source}: accounts.{account}"
        accounts[account] = regions_from_document(regions, f"{where}.regions", where)
    return OrgBackup(taken_at, accounts, source)


def narrow_backup(
    backup: OrgBackup, caller: str, regions: Sequence[str], accounts: Sequence[str] | None, *, named: Sequence[str] = ()
) -> dict[str, tuple[RegionState, ...]]:
    """What to restore: the file's accounts (a /1 file without an account is the caller's), narrowed to
    `accounts` when a selection was given and to `regions` when --region was. An account or region named
    explicitly (`named`, --region) that the file does not hold is a BackupError; accounts that an --org or
    --ou selection adds are restored only where the file holds them."""
    held = {account or caller: states for account, states in backup.accounts.items()}
    missing_accounts = [a for a in named if a not in held]
    if missing_accounts:
        raise BackupError(
            f"{backup.source} holds no configuration for account {', '.join(missing_accounts)}",
            f"it holds {', '.join(sorted(held))}; pass one of those with --account, or none",
        )
    chosen = {a: s for a, s in held.items() if accounts is None or a in accounts}
    if regions:
        every = {state.region for states in chosen.values() for state in states}
        missing = [r for r in regions if r not in every]
        if missing:
            raise BackupError(
                f"{backup.source} has no configuration for {', '.join(missing)}",
                f"it has {', '.join(sorted(every))}; pass one of those with --region, or none",
            )
        chosen = {a: tuple(s for s in states if s.region in regions) for a, states in chosen.items()}
    return {a: s for a, s in sorted(chosen.items()) if s}
