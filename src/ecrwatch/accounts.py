"""Which accounts a run reads: `--account`, `--org`, `--ou` (recursively), less `--exclude-account`, and how
they are entered (`--role-name`, `--external-id`). Options are checked before any call; Organizations is
asked only for `--org` and `--ou`, with its paginators, and only ACTIVE accounts are kept (a suspended or
closing account has nothing to read and its role can no longer be assumed)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ecrwatch.aws import AccountUnavailable, Aws, RoleSettings, calling
from ecrwatch.errors import AwsCallError, UsageError
from ecrwatch.models import SourceError

log = logging.getLogger(__name__)

OrgAccounts = list[tuple[str, str | None]]  # (account id, name) of the ACTIVE accounts Organizations lists

_ACCOUNT = re.compile(r"^\d{12}$")
# Organizations' own patterns (botocore's model): an OU id, or the root's id.
_PARENT = re.compile(r"^(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
# IAM: a role name (1-64 of [\w+=,.@-]), optionally after a path of such segments.
_ROLE = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
# STS's ExternalId: 2-1224 characters of [\w+=,.@:/-].
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


@dataclass(frozen=True)
class AccountSelection:
    accounts: tuple[str, ...] = ()
    org: bool = False
    ous: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_caller: bool = False  # the caller's own account too (the Lambda's event accounts)

    @property
    def active(self) -> bool:
        """Whether accounts were selected at all (else: the caller's account alone, as always)."""
        return bool(self.accounts or self.org or self.ous)


@dataclass(frozen=True)
class SelectedAccount:
    account: str
    name: str | None = None


@dataclass(frozen=True)
class Selection:
    """The accounts to read, and what kept the list from being complete (Organizations refusing)."""

    accounts: tuple[SelectedAccount, ...]
    errors: tuple[SourceError, ...] = ()


def parse_account_id(option: str, value: str) -> str:
    if not _ACCOUNT.match(value):
        raise UsageError(f"{option} {value!r} is not a 12-digit AWS account id", f"pass {option} with an account id")
    return value


def parse_selection(accounts: Iterable[str], org: bool, ous: Iterable[str], exclude: Iterable[str]) -> AccountSelection:
    """The options, checked (exit 2 on a malformed id, before any call)."""
    for option, values, pattern, what in (
        ("--account", accounts, _ACCOUNT, "a 12-digit AWS account id"),
        ("--exclude-account", exclude, _ACCOUNT, "a 12-digit AWS account id"),
        ("--ou", ous, _PARENT, "an organizational unit id (ou-xxxx-xxxxxxxx) or the root's id (r-xxxx)"),
    ):
        for value in values:
            if not pattern.match(value):
                raise UsageError(f"{option} {value!r} is not {what}", f"pass {option} with {what}")
    selection = AccountSelection(
        tuple(dict.fromkeys(accounts)), org, tuple(dict.fromkeys(ous)), tuple(dict.fromkeys(exclude))
    )
    if selection.exclude and not selection.active:
        raise UsageError(
            "--exclude-account leaves accounts out of a selection, and no accounts were selected",
            "add --org, --ou OU_ID or --account ID",
        )
    return selection


def parse_role(role_name: str | None, external_id: str | None) -> RoleSettings | None:
    """--role-name and --external-id, checked; the id is never echoed back."""
    if external_id is not None and not _EXTERNAL_ID.match(external_id):
        raise UsageError(
            "--external-id (or ECRWATCH_EXTERNAL_ID) is not a valid external id",
            "use 2 to 1224 characters of letters, digits and +=,.@:/-",
        )
    if role_name is None:
        if external_id is not None:
            raise UsageError("--external-id is used to enter other accounts, and no --role-name was given",
                             "add --role-name NAME")  # fmt: skip
        return None
    name = role_name.strip("/")
    if not _ROLE.match(name):
        raise UsageError(
            f"--role-name {role_name!r} is not an IAM role name",
            "pass the role's name, a path may prefix it: security/ecrwatch-reader",
        )
    return RoleSettings(name, external_id)


def require_role(selection: AccountSelection, caller: str, role: RoleSettings | None) -> None:
    """Selecting another account without a role to enter it with is a usage error, found before any call but
    the caller's identity."""
    if role is not None:
        return
    others = [a for a in selection.accounts if a != caller]
    if selection.org or selection.ous or others:
        what = "--org" if selection.org else "--ou" if selection.ous else f"--account {others[0]}"
        raise UsageError(
            f"{what} selects accounts other than the caller's ({caller}), and no --role-name was given to enter them",
            "pass --role-name NAME, the role deployed in every account (see `ecrwatch iam-policy --org`)",
        )


def list_organisation_early(aws: Aws, selection: AccountSelection, region: str) -> Future[OrgAccounts] | None:
    """The organisation's accounts (--org, --ou) asked for at once, beside the caller's identity, when a role
    is given: then `require_role` cannot refuse the run, and nothing else waits on the identity. Its pages
    and the Organizations client are no longer a chain after GetCallerIdentity. `region` is the one the
    identity is asked in (the caller's partition). None: nothing to ask early; `select_accounts` asks."""
    if aws.role is None or not (selection.org or selection.ous):
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="organizations")
    listed = pool.submit(_organisation_accounts, aws, selection, region)
    pool.shutdown(wait=False)  # the thread ends with its one job
    return listed


def select_accounts(
    aws: Aws, selection: AccountSelection, caller: str, listed: Future[OrgAccounts] | None = None
) -> Selection:
    """The accounts of the selection, the caller's alone without one. Organizations is asked with the
    caller's credentials (or was, by `list_organisation_early`: `listed`); its refusal is an `organizations`
    error and the accounts named with --account are still read."""
    if not selection.active:
        return Selection((SelectedAccount(caller),))
    chosen: dict[str, str | None] = {a: None for a in selection.accounts}
    if selection.include_caller:
        chosen.setdefault(caller, None)
    errors: list[SourceError] = []
    if selection.org or selection.ous:
        try:
            found = listed.result() if listed is not None else _organisation_accounts(aws, selection)
            for account, name in found:
                if chosen.get(account) is None:
                    chosen[account] = name
        except AwsCallError as exc:
            log.warning("%s", exc)
            errors.append(SourceError("organizations", exc.message, exc.code))
    kept = tuple(SelectedAccount(a, n) for a, n in sorted(chosen.items()) if a not in selection.exclude)
    return Selection(kept, tuple(errors))


def _organisation_accounts(aws: Aws, selection: AccountSelection, region: str | None = None) -> OrgAccounts:
    # Organizations is global: botocore sends a client of any region of the partition to its one endpoint.
    client = aws.client("organizations", region or aws.home_region or "us-east-1")
    found: OrgAccounts = []

    def keep(accounts: Iterable[dict[str, object]]) -> None:
        for account in accounts:
            state = account.get("State") or account.get("Status")
            if state == "ACTIVE":
                found.append((str(account["Id"]), str(account.get("Name")) if account.get("Name") else None))

    if selection.org:
        with calling("organizations", "ListAccounts", None):
            for page in client.get_paginator("list_accounts").paginate():
                keep(page.get("Accounts", []))
    for ou in selection.ous:
        parents = [ou]
        while parents:  # the OU's accounts, then its child OUs', breadth first
            parent = parents.pop(0)
            with calling("organizations", "ListAccountsForParent", None):
                for page in client.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                    keep(page.get("Accounts", []))
            with calling("organizations", "ListOrganizationalUnitsForParent", None):
                paginator = client.get_paginator("list_organizational_units_for_parent")
                for page in paginator.paginate(ParentId=parent):
                    parents.extend(str(unit["Id"]) for unit in page.get("OrganizationalUnits", []))
    return found


@dataclass(frozen=True)
class Entered:
    """The accounts that could be entered (an Aws acting in each) and those that could not."""

    clients: dict[str, Aws]
    refused: dict[str, AccountUnavailable]

    def errors(self) -> list[SourceError]:
        return [
            SourceError(f"account:{account}", exc.message, exc.code, account=account)
            for account, exc in sorted(self.refused.items())
        ]


def enter_accounts(aws: Aws, accounts: Sequence[str], workers: int) -> Entered:
    """Each account entered once (its AssumeRole), accounts side by side."""
    clients: dict[str, Aws] = {}
    refused: dict[str, AccountUnavailable] = {}

    def enter(account: str) -> Aws | AccountUnavailable:
        try:
            return aws.account(account)
        except AccountUnavailable as exc:
            log.warning("%s", exc)
            return exc

    if not accounts:
        return Entered(clients, refused)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(accounts))), thread_name_prefix="enter") as pool:
        for account, outcome in zip(accounts, pool.map(enter, accounts), strict=True):
            if isinstance(outcome, AccountUnavailable):
                refused[account] = outcome
            else:
                clients[account] = outcome
    return Entered(clients, refused)
