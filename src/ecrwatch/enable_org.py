"""`enable-scanning` across accounts, start to end: the accounts selected, every account x region read and
planned, one plan shown, one question, the writes, the summary. The CLI parses and calls this; the reading and
writing are `registry_org`'s, the planning `scanning_org`'s, the rendering `report.scanning_org`'s."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console

from ecrwatch import registry, registry_org, scanning, scanning_org
from ecrwatch.accounts import AccountSelection, list_organisation_early, require_role, select_accounts
from ecrwatch.aws import Aws, RoleSettings
from ecrwatch.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError
from ecrwatch.options import AccountOptions, GlobalOptions, selected_regions
from ecrwatch.report import scanning as scanning_report
from ecrwatch.report import scanning_org as org_report

_INCOMPLETE = frozenset({"failed", "not_applied", "unreadable"})


@dataclass(frozen=True)
class OrgRun:
    """The run's own options, checked by the CLI before any call."""

    restore: str | None
    document: Any  # the --restore file's JSON, when restoring
    backup: str | None
    dry_run: bool
    yes: bool
    allow_deactivation: bool
    wait: registry.WaitSettings


def _restore_targets(
    run: OrgRun,
    opts: GlobalOptions,
    selection: AccountSelection,
    chosen: list[str],
    caller: str,
    role: RoleSettings | None,
) -> dict[str, tuple[scanning.RegionState, ...]]:
    assert run.restore is not None
    saved = scanning_org.parse_any_backup(run.document, run.restore)
    targets = scanning_org.narrow_backup(
        saved, caller, opts.regions, chosen if selection.active else None, named=selection.accounts
    )
    others = [account for account in targets if account != caller]
    if others and role is None:
        raise UsageError(
            f"{run.restore} holds account {others[0]}, other than the caller's ({caller}), and no --role-name was "
            "given to enter it (a backup holds no credentials)",
            "pass --role-name NAME, the role deployed in every account (see `ecrwatch iam-policy --org`)",
        )
    return targets


def _home_region(run: OrgRun, aws: Aws, opts: GlobalOptions) -> tuple[str, tuple[str, ...]]:
    """The region the caller's identity is asked in, and the regions an enable run reads."""
    if run.restore is None:
        regions = tuple(selected_regions(aws, opts))
        return regions[0], regions
    saved = scanning_org.parse_any_backup(run.document, run.restore)  # validated before any call
    first = next(iter(saved.accounts.values()))[0].region
    return (opts.regions[0] if opts.regions else first), ()


def _waiting(err: Console, plan: scanning_org.OrgPlan, quiet: bool) -> registry.Waiting:
    """The spinner of a single-account run where one account is written; with several written side by side
    (a terminal shows one live spinner at a time), one line each instead."""
    if len({t.account for t in plan.changing}) <= 1:
        return scanning_report.spinner(err)

    @contextlib.contextmanager
    def say(text: str) -> Iterator[None]:
        if not quiet:
            err.print(text, markup=False, soft_wrap=True, style="dim")
        yield

    return say


def run_enable_scanning_org(
    opts: GlobalOptions,
    account_opts: AccountOptions,
    selection: AccountSelection,
    role: RoleSettings | None,
    request: scanning.EnableRequest,
    run: OrgRun,
    err: Console,
) -> int:
    """Read every account x region, show one plan, ask once, apply; the exit status."""
    out = scanning_report.stdout_console()
    aws = Aws(opts.aws, role=role)
    aws.check_credentials()
    home, regions = _home_region(run, aws, opts)
    listed = list_organisation_early(aws, selection, home)
    caller = aws.account_id(home)
    require_role(selection, caller, role)
    admin = account_opts.inspector_account
    if admin is not None and admin != caller and role is None:
        raise UsageError(
            f"--inspector-account {admin} is another account than the caller's ({caller}), and no --role-name was "
            "given to enter it",
            "pass --role-name NAME, the role deployed in every account (see `ecrwatch iam-policy --org`)",
        )
    chosen = select_accounts(aws, selection, caller, listed)
    for error in chosen.errors:
        err.print(f"error: {error.source}: {error.message}", markup=False, soft_wrap=True)
    accounts = [a.account for a in chosen.accounts]
    if run.restore is not None:
        saved = _restore_targets(run, opts, selection, accounts, caller, role)
        planners = registry_org.restore_planners(saved, allow_deactivation=run.allow_deactivation)
    else:
        planners = registry_org.enable_planners(accounts, regions, request)
    plan = registry_org.read_org(aws, planners, inspector_account=admin)
    org_report.render_org_plan(out, plan, title="Restore" if run.restore else "Planned change")
    # Refused before the backup too: the same command with the flag can then use the same --backup FILE.
    scanning.refuse_unallowed_deactivations(plan.plans)
    if run.backup:
        registry.write_backup(run.backup, scanning_org.build_backup_v2(plan.states()))
        err.print(f"Backup of every account read written to {run.backup}", markup=False, soft_wrap=True)
    incomplete = bool(chosen.errors or plan.unreadable)
    if not plan.changing or run.dry_run:
        org_report.render_org_outcome(out, plan, (), dry_run=run.dry_run)
        return EXIT_INCOMPLETE if incomplete else EXIT_OK
    ask = functools.partial(click.confirm, default=False, err=True)
    if not org_report.confirm_org(err, plan, yes=run.yes, is_terminal=scanning_report.stdin_is_terminal(), ask=ask):
        err.print("Cancelled: nothing was written.")
        return EXIT_OK
    outcomes = registry_org.apply_org(
        aws,
        plan,
        wait=run.wait,
        notify_for=org_report.account_notifier(scanning_report.progress(err, opts.quiet)),
        waiting=_waiting(err, plan, opts.quiet),
        backup_path=run.backup,
    )
    org_report.render_org_outcome(out, plan, outcomes, dry_run=False)
    return EXIT_INCOMPLETE if incomplete or any(o.status in _INCOMPLETE for o in outcomes) else EXIT_OK
