"""Rendering for `enable-scanning` across accounts: one plan (a diff per account x region, who activates
Inspector where, the unreadable ones, a total), the single confirmation, and the summary of what changed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.text import Text

from ecrwatch.errors import UsageError
from ecrwatch.report.scanning import render_plan
from ecrwatch.scanning import Step
from ecrwatch.scanning_org import OrgPlan, Target, TargetOutcome, summary_counts


def _where(target: Target | TargetOutcome) -> str:
    return f"account {target.account} {target.region}"


def _activation_line(target: Target) -> Text | None:
    plan = target.plan
    if plan is not None and target.activated_by is None and target.by_administrator and plan.rescan:
        return Text(
            f"  Rescan durations: set by the delegated administrator {target.administrator} (UpdateConfiguration "
            "with accountId: a member cannot set them)",
            style="cyan",
        )
    if plan is None or target.activated_by is None:
        return None
    what = "activates" if plan.activate_inspector else "waits for"
    if target.by_administrator:
        durations = ", and sets its rescan durations (UpdateConfiguration with accountId)" if plan.rescan else ""
        return Text(
            f"  Activation: the delegated administrator {target.activated_by} {what} Inspector's ECR scanning "
            f"for this account (inspector2:Enable with accountIds){durations}",
            style="cyan",
        )
    return Text(f"  Activation: the account {what} Inspector's ECR scanning itself (inspector2:Enable)", style="cyan")


def render_org_plan(console: Console, plan: OrgPlan, *, title: str = "Planned change") -> None:
    """Each account x region as a single-account plan shows a region, headed by its account; the unreadable
    ones say why and that they are left alone; then the total."""
    for target in plan.targets:
        if target.plan is None:
            heading = Text(f"{title} for account {target.account} in {target.region}: ", style="bold")
            heading.append("UNREADABLE, left alone", style="bold red")
            console.print(heading)
            reason = target.unreadable
            if reason is not None:
                console.print(Text(f"  {reason.code}: {reason.message}", style="red"))
            console.print()
            continue
        render_plan(console, [target.plan], title=f"{title} for account {target.account}")
        line = _activation_line(target)
        if line is not None:
            console.print(line)
            console.print()
    changing, unreadable = len(plan.changing), len(plan.unreadable)
    total = Text(f"Total: {changing} of {len(plan.targets)} account x region(s) would change", style="bold")
    accounts = sorted({t.account for t in plan.changing})
    if accounts:
        total.append(f" (in {len(accounts)} account(s))")
    if unreadable:
        total.append(f"; {unreadable} could not be read and are left alone", style="bold red")
    console.print(total)
    console.print()


def confirm_org(err: Console, plan: OrgPlan, *, yes: bool, is_terminal: bool, ask: Callable[[str], bool]) -> bool:
    """Asked once for the whole plan; refuses (exit 2) with no terminal and no --yes."""
    if yes:
        return True
    count = len(plan.changing)
    accounts = len({t.account for t in plan.changing})
    if not is_terminal:
        raise UsageError(
            f"enable-scanning would change {count} account x region(s) in {accounts} account(s), and stdin is not a "
            "terminal to ask for confirmation; nothing was written",
            "review the plan above, then pass --yes to apply it (or --dry-run to only show it)",
        )
    return ask(f"Apply these changes to {count} account x region(s) in {accounts} account(s)?")


def render_org_outcome(console: Console, plan: OrgPlan, outcomes: Sequence[TargetOutcome], *, dry_run: bool) -> None:
    """Exactly which accounts x regions changed, failed, were left alone."""
    if dry_run or not outcomes:
        changing = plan.changing
        if not changing:
            console.print(Text("No change: every account x region read is already as asked; nothing was written.",
                               style="green"))  # fmt: skip
        elif dry_run:
            console.print(
                Text(f"Dry run: {len(changing)} account x region(s) would change; nothing was written.", style="yellow")
            )
        for target in plan.unreadable:
            console.print(Text(f"Not read: {_where(target)}", style="red"))
        return
    labels = {
        "changed": ("Changed", "green"),
        "unchanged": ("Unchanged", "dim"),
        "failed": ("FAILED", "bold red"),
        "not_applied": ("Not applied", "red"),
        "unreadable": ("Not read (left alone)", "red"),
    }
    for status, (label, style) in labels.items():
        chosen = [o for o in outcomes if o.status == status]
        if not chosen:
            continue
        console.print(Text(f"{label}:", style=style))
        for outcome in chosen:
            line = Text(f"  {_where(outcome)}")
            if outcome.detail and status != "unchanged":
                line.append(f": {outcome.detail}")
            console.print(line)
    counts = summary_counts(outcomes)
    parts = [f"{counts.get(s, 0)} {labels[s][0].lower()}" for s in labels if counts.get(s)]
    console.print(Text("Summary: " + ", ".join(parts), style="bold"))


def account_notifier(notify: Callable[[Step], None]) -> Callable[[str], Callable[[Step], None]]:
    """Progress lines that name the account: `done: account 111111111111 us-east-1: ...`."""

    def for_account(account: str) -> Callable[[Step], None]:
        def tell(step: Step) -> None:
            notify(Step(f"account {account} {step.region}", step.action, step.description, step.until))

        return tell

    return for_account
