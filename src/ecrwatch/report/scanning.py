"""Rendering for `enable-scanning` and `status`: the planned change as a diff, what was applied, the status
table and its JSON. Also the two interactions these commands have with a person: the confirmation and the
activation spinner (both only on a terminal)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from ecrwatch.errors import UsageError
from ecrwatch.models import AccountStatus, RegistryCoverage, StatusReadError, StatusReport
from ecrwatch.scanning import (
    ALLOW_DEACTIVATION,
    DISABLED,
    ENABLED,
    RegionPlan,
    RegionState,
    RegistryScanning,
    RescanSettings,
    Step,
    inspector_to_document,
    planned_steps,
    registry_to_api,
    rule_diffs,
    rule_name,
    scan_switch,
)

STATUS_FORMAT = "ecrwatch-status/1"


def stdout_console() -> Console:
    """Data for a person on stdout: colour only on a terminal; lines are never folded into the next."""
    return Console(highlight=False, emoji=False, soft_wrap=True)


# --- the plan as a diff -------------------------------------------------------------------------------


def _row(label: str, value: str | Text, indent: int = 2) -> Text:
    line = Text(" " * indent + f"{label:<28}")
    line.append(value)
    return line


def _rescan_value(before: str | None, after: str | None) -> Text:
    if before == after:
        return Text(f"{before or '(not set)'} (unchanged)", style="dim")
    return Text.assemble((before or "(not set)", "red"), " -> ", (after or "(not set)", "green"))


def _inspector_value(plan: RegionPlan) -> Text:
    status = plan.before.inspector.status
    if plan.deactivate_inspector:
        consent = "allowed by" if plan.deactivation_allowed else "refused without"
        return Text.assemble(
            (status, "green"),
            " -> ",
            (DISABLED, "bold red"),
            f" (DEACTIVATED by writing BASIC: its ECR findings are deleted; {consent} {ALLOW_DEACTIVATION})",
        )
    if plan.activate_inspector:
        return Text.assemble((status, "red"), " -> ", (ENABLED, "green"), " (activate, then wait until enabled)")
    if plan.wait_for_inspector:
        return Text.assemble((status, "yellow"), " -> ", (ENABLED, "green"), " (activation in progress: wait)")
    if plan.leave_inspector_enabled:
        return Text(f"{status} (stays on, see the note)", style="yellow")
    return Text(f"{status} (unchanged)", style="dim")


def _registry_lines(before: RegistryScanning, after: RegistryScanning) -> list[Text]:
    lines = []
    if before.scan_type == after.scan_type:
        lines.append(_row("Scan type", Text(f"{after.scan_type} (unchanged)", style="dim")))
    else:
        lines.append(
            _row("Scan type", Text.assemble((before.scan_type, "red"), " -> ", (after.scan_type, "bold green")))
        )
    diffs = rule_diffs(before, after)
    if not diffs:
        lines.append(_row("Rules", Text("none (unchanged)", style="dim")))
    for diff in diffs:
        name = rule_name(diff.frequency).removeprefix("the ")
        label = name[:1].upper() + name[1:]
        lines.append(Text(f"  {label}: {diff.status}", style="bold" if diff.status != "unchanged" else ""))
        for pattern in diff.kept:
            lines.append(Text(f"      {pattern}"))
        for pattern in diff.added:
            lines.append(Text(f"    + {pattern}", style="green"))
        for pattern in diff.removed:
            lines.append(Text(f"    - {pattern}", style="red"))
    return lines


def _rescan_lines(current: RescanSettings, wanted: RescanSettings | None) -> list[Text]:
    after = wanted or current
    return [
        _row("Rescan after push", _rescan_value(current.rescan_duration, after.rescan_duration)),
        _row("Rescan after pull", _rescan_value(current.pull_date_rescan_duration, after.pull_date_rescan_duration)),
        _row("Pull-date rescan mode", _rescan_value(current.pull_date_rescan_mode, after.pull_date_rescan_mode)),
    ]


def render_plan(console: Console, plans: Sequence[RegionPlan], *, title: str = "Planned change") -> None:
    """Before -> after for each region: Inspector, scan type, each rule's filters (+ added, - removed),
    rescan durations, the writes in order, and what a person should know."""
    for plan in plans:
        heading = Text(f"{title} in {plan.region}", style="bold")
        if not plan.changed:
            heading.append(": no change", style="bold green")
        console.print(heading)
        console.print(_row("Inspector scanning for ECR", _inspector_value(plan)))
        for line in _registry_lines(plan.before.registry, plan.registry):
            console.print(line)
        for line in _rescan_lines(plan.before.inspector.rescan, plan.rescan):
            console.print(line)
        steps = planned_steps(plan)
        if steps:
            console.print(Text("  Writes, in this order:"))
            for number, step in enumerate(steps, 1):
                console.print(Text(f"    {number}. {step.description} ({step.action})"))
        for note in plan.notes:
            console.print(Text(f"  note: {note}", style="yellow"))
        console.print()


def render_outcome(console: Console, plans: Sequence[RegionPlan], applied: Sequence[Step], *, dry_run: bool) -> None:
    changed = [p for p in plans if p.changed]
    if not changed:
        console.print(Text("No change: the configuration is already as asked; nothing was written.", style="green"))
        return
    if dry_run:
        console.print(Text(f"Dry run: {len(changed)} region(s) would change; nothing was written.", style="yellow"))
        return
    console.print(Text("Applied:", style="bold green"))
    for step in applied:
        console.print(Text(f"  {step}"))


# --- interaction (stderr) -----------------------------------------------------------------------------


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm_apply(err: Console, plans: Sequence[RegionPlan], *, yes: bool, is_terminal: bool) -> bool:
    """True to go ahead. Refuses (UsageError, exit 2) when there is no terminal to ask on and no --yes."""
    if yes:
        return True
    regions = ", ".join(p.region for p in plans if p.changed)
    if not is_terminal:
        raise UsageError(
            f"enable-scanning would change {regions}, and stdin is not a terminal to ask for confirmation; "
            "nothing was written",
            "review the plan above, then pass --yes to apply it (or --dry-run to only show it)",
        )
    return click.confirm(f"Apply these changes to {regions}?", default=False, err=True)


def spinner(err: Console) -> Callable[[str], AbstractContextManager[object]]:
    """A progress spinner on stderr while waiting, only when stderr is a terminal."""

    @contextlib.contextmanager
    def waiting(text: str) -> Iterator[object]:
        if err.is_terminal:
            with err.status(text) as status:
                yield status
        else:
            yield None

    return waiting


def progress(err: Console, quiet: bool) -> Callable[[Step], None]:
    def notify(step: Step) -> None:
        if not quiet:
            err.print(Text(f"done: {step}", style="dim"), soft_wrap=True)

    return notify


# --- status -------------------------------------------------------------------------------------------


def _rules_lines(registry: RegistryScanning) -> list[Text]:
    if not registry.rules:
        return [Text("none", style="dim")]
    lines = []
    for rule in registry.rules:
        label = rule_name(rule.frequency).removeprefix("the ").removesuffix(f" ({rule.frequency})")
        line = Text(f"{label}: ", style="bold")
        line.append(", ".join(rule.filters) if rule.filters else "(no filters)")
        lines.append(line)
    return lines


def _rescan_text(rescan: RescanSettings) -> str:
    push = rescan.rescan_duration or "(not set)"
    pull = rescan.pull_date_rescan_duration or "(not set)"
    mode = f", by {rescan.pull_date_rescan_mode}" if rescan.pull_date_rescan_mode else ""
    return f"after push {push}; after pull {pull}{mode}"


def _coverage_lines(coverage: RegistryCoverage | None) -> list[Text]:
    if coverage is None:
        return [Text("could not be read (see errors)", style="red")]
    if coverage.total == 0:
        return [Text("no ECR images known to Inspector", style="yellow")]
    summary = ", ".join(f"{count} {code}" for code, count in coverage.by_status_code)
    lines = [Text(f"{coverage.total} image(s): {summary}")]
    for item in coverage.counts:
        style = "green" if item.reason == "SUCCESSFUL" else "yellow"
        lines.append(Text(f"{item.count:>6}  {item.status_code} / {item.reason}", style=style))
    return lines


def _print_rows(console: Console, label: str, values: Sequence[Text]) -> None:
    """A labelled value; further lines of it aligned under the first."""
    for index, value in enumerate(values):
        console.print(_row(label if index == 0 else "", value))


def _switch_text(state: RegionState) -> Text:
    """Whether the registry's scan type and Inspector's ECR status agree (on AWS they are one switch)."""
    switch = scan_switch(state)
    if switch.detail is None:
        return Text(f"agree ({state.registry.scan_type}, Inspector {state.inspector.status})", style="green")
    if switch.state in ("activating", "deactivating"):
        return Text(f"in transition: {switch.detail}", style="yellow")
    return Text(f"DISAGREE: {switch.detail}", style="bold yellow")


def render_status(console: Console, report: StatusReport) -> None:
    for region in report.regions:
        console.print(Text(f"Region {region.region}", style="bold"))
        state = region.state
        if state is not None:
            status = state.inspector.status
            _print_rows(
                console, "Inspector scanning for ECR", [Text(status, style="green" if status == ENABLED else "red")]
            )
            _print_rows(console, "Scan type", [Text(state.registry.scan_type)])
            _print_rows(console, "Registry and Inspector", [_switch_text(state)])
            _print_rows(console, "Rules", _rules_lines(state.registry))
            _print_rows(console, "Rescan durations", [Text(_rescan_text(state.inspector.rescan))])
        else:
            _print_rows(console, "Configuration", [Text("could not be read (see errors)", style="red")])
        _print_rows(console, "Coverage", _coverage_lines(region.coverage))
        console.print()
    if report.errors:
        console.print(Text("Errors", style="bold red"))
        for error in report.errors:
            console.print(Text(f"  {error.source}  {error.code}  {error.message}"))


def status_document(report: StatusReport) -> dict[str, Any]:
    """`status --format json`: the APIs' own values (ENABLED, CONTINUOUS_SCAN, DAYS_30), as the backup has them."""
    regions = []
    for region in report.regions:
        entry: dict[str, Any] = {"region": region.region, "registry_scanning": None, "inspector_ecr": None}
        entry["scan_switch"] = None
        if region.state is not None:
            entry["registry_scanning"] = registry_to_api(region.state.registry)
            entry["inspector_ecr"] = inspector_to_document(region.state.inspector)
            switch = scan_switch(region.state)
            entry["scan_switch"] = {"consistent": switch.consistent, "state": switch.state, "detail": switch.detail}
        coverage = region.coverage
        entry["coverage"] = (
            None
            if coverage is None
            else {
                "resource_type": "AWS_ECR_CONTAINER_IMAGE",
                "total": coverage.total,
                "by_scan_status": [
                    {"statusCode": c.status_code, "reason": c.reason, "count": c.count} for c in coverage.counts
                ],
            }
        )
        regions.append(entry)
    errors = [{"source": e.source, "code": e.code, "message": e.message} for e in report.errors]
    return {"format": STATUS_FORMAT, "regions": regions, "errors": errors}


def status_json(report: StatusReport) -> str:
    return json.dumps(status_document(report), indent=2) + "\n"


def render_accounts_status(console: Console, accounts: Sequence[AccountStatus]) -> None:
    """One section per account, each with its regions' sections and errors."""
    for entry in accounts:
        title = f"Account {entry.account}" + (f" ({entry.name})" if entry.name else "")
        console.rule(Text(title, style="bold"), align="left")
        if entry.report is None:
            console.print(Text(f"  could not be entered: {entry.error.message if entry.error else ''}", style="red"))
            console.print()
            continue
        render_status(console, entry.report)


def accounts_status_document(
    accounts: Sequence[AccountStatus], extra_errors: Sequence[StatusReadError] = ()
) -> dict[str, Any]:
    """`status --format json` with accounts selected: each account's regions and errors, keyed by account id;
    `errors` lists them all, each with its account (none for `extra_errors`: Organizations refusing)."""
    by_account: dict[str, Any] = {}
    errors: list[dict[str, Any]] = [{"source": e.source, "code": e.code, "message": e.message} for e in extra_errors]
    for entry in accounts:
        document = status_document(entry.report) if entry.report is not None else {"regions": [], "errors": []}
        if entry.error is not None:
            document["errors"] = [
                {"source": entry.error.source, "code": entry.error.code, "message": entry.error.message}
            ]
        by_account[entry.account] = {
            "name": entry.name,
            "ok": not entry.errors,
            "regions": document["regions"],
            "errors": document["errors"],
        }
        errors.extend({**e, "account": entry.account} for e in document["errors"])
    return {"format": STATUS_FORMAT, "accounts": by_account, "errors": errors}


def accounts_status_json(accounts: Sequence[AccountStatus], extra_errors: Sequence[StatusReadError] = ()) -> str:
    return json.dumps(accounts_status_document(accounts, extra_errors), indent=2) + "\n"
