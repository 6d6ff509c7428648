"""The command line: parse options, call the pipeline, render, choose the exit status. No AWS calls here.

Each command imports what it runs (boto3, the kubernetes client, rich, the pipeline) in its own body, not
here: `--help`, `iam-policy` and a command's option errors start without them (tests/test_imports.py).
"""

from __future__ import annotations

import io
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ecrwatch import __version__, iam, scanning
from ecrwatch.collector import fewer_collections
from ecrwatch.errors import EXIT_INCOMPLETE, EXIT_OK, EcrwatchError, UsageError
from ecrwatch.logging_json import json_logs, notice
from ecrwatch.models import DEFAULT_WORKERS, Filters
from ecrwatch.options import (
    AccountOptions,
    GlobalOptions,
    ProbabilityType,
    SeverityType,
    account_options,
    common_options,
    progress_reporter,
    selected_regions,
)
from ecrwatch.output import check_writable, write_atomically
from ecrwatch.scanning import PULL_RESCAN_DURATION_OPTIONS, RESCAN_DURATION_OPTIONS

if TYPE_CHECKING:
    from rich.console import Console

    from ecrwatch.accounts import AccountSelection
    from ecrwatch.aws import Aws, RoleSettings
    from ecrwatch.check import CheckRequest
    from ecrwatch.models import StatusReadError
    from ecrwatch.unattended import Unattended


def stderr_console() -> Console:
    """Messages for a person: colour only on a terminal (rich checks), never on stdout's data."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


class EcrwatchGroup(click.Group):
    """Turns an EcrwatchError anywhere below into its message, hint and exit status: no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EcrwatchError as exc:
            if json_logs():  # --log-format json: the error is one more JSON line
                logging.getLogger("ecrwatch").error("%s", exc.message, extra={"fields": {"hint": exc.hint}})
                ctx.exit(exc.exit_status)
            from rich.markup import escape

            console = stderr_console()
            console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True, emoji=False)
            if exc.hint:
                console.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True, emoji=False)
            ctx.exit(exc.exit_status)


@click.group(cls=EcrwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecrwatch")
def main() -> None:
    """Which Amazon Inspector findings are live in running ECS tasks and Kubernetes pods, and what runs
    that nobody scans."""


@main.command()
@click.option("--ecs/--no-ecs", default=True, show_default=True, help="Read ECS clusters.")
@click.option("--ecs-cluster", "ecs_clusters", metavar="NAME|ARN", multiple=True, help="Only these ECS clusters.")
@click.option("--eks/--no-eks", default=True, show_default=True, help="Read EKS clusters (STS-signed token).")
@click.option("--eks-cluster", "eks_clusters", metavar="NAME|ARN", multiple=True, help="Only these EKS clusters.")
@click.option("--kubeconfig", metavar="PATH", help="Kubeconfig file (its current context unless --kube-context).")
@click.option("--kube-context", "kube_contexts", metavar="NAME", multiple=True, help="Kubeconfig context to read.")
@click.option("--min-severity", type=SeverityType(), help="Hide findings below this severity.")
@click.option("--fail-on", type=SeverityType(), help="Exit 1 when an exposure at or above this severity is reported.")
@click.option("--fixable-only", is_flag=True, help="Only findings with a fix available (YES or PARTIAL).")
@click.option(
    "--kev/--no-kev",
    default=True,
    show_default=True,
    help="Ask Inspector (BatchGetFindingDetails) which reported vulnerabilities are in CISA's KEV catalogue.",
)
@click.option("--fail-on-kev", is_flag=True, help="Exit 1 when a reported exposure is in CISA's KEV catalogue.")
@click.option(
    "--fail-on-exploitable",
    is_flag=True,
    help="Exit 1 when a reported exposure has a known exploit (Inspector's exploitAvailable) or is in KEV.",
)
@click.option(
    "--fail-on-epss",
    type=ProbabilityType(),
    help="Exit 1 when a reported exposure's EPSS score is P or more (0-1, e.g. 0.1).",
)
@click.option(
    "--ignore-file",
    metavar="FILE",
    envvar="ECRWATCH_IGNORE_FILE",
    help="Risk accepted for a while (YAML rules: vulnerability, reason, optional narrowing and expires): matching "
    "exposures are listed as suppressed, not reported or failed on. Default: $ECRWATCH_IGNORE_FILE.",
)
@click.option(
    "--vex",
    "vex_files",
    metavar="FILE",
    multiple=True,
    help="OpenVEX document: not_affected or fixed statements for a running image set its exposures aside; repeatable.",
)
@click.option(
    "--owner-label",
    "owner_labels",
    metavar="KEY",
    multiple=True,
    help="Label (pod, then namespace) or ECS task tag naming a workload's team; repeatable, the first found wins.",
)
@click.option(
    "--team",
    metavar="NAME",
    help="Report only the workloads of this team (by --owner-label), and exit on their exposures alone.",
)
@click.option(
    "--group-by",
    type=click.Choice(["image", "team"]),
    default="image",
    show_default=True,
    help="Table sections: by image, or by team (--owner-label) and then by image.",
)
@click.option(
    "--sort",
    "sort_order",
    type=click.Choice(["severity", "risk"]),
    default="severity",
    show_default=True,
    help="Table order: severity (then EPSS, score), or risk (KEV first, then EPSS, then severity).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    help="Output format (default: table on a terminal, json otherwise).",
)
@click.option("--output", metavar="FILE", help="Write the report to FILE (atomically) instead of stdout.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Requests in flight at once (AWS and Kubernetes together).",
)
@click.option(
    "--state",
    "state_path",
    metavar="PATH",
    help="Keep the exposures seen in PATH between runs: each exposure says whether it is new, and the report "
    "lists those of the last run that are gone (resolved).",
)
@click.option(
    "--state-wait",
    type=click.FloatRange(0, 3600),
    default=60.0,
    show_default=True,
    help="Seconds to wait while another run holds the --state file, then exit 3.",
)
@click.option("--new-only", is_flag=True, help="Report only the exposures that were not in the --state file.")
@click.option(
    "--notify-webhook",
    "webhooks",
    metavar="URL",
    multiple=True,
    envvar="ECRWATCH_NOTIFY_WEBHOOKS",
    help="POST a JSON summary (Slack-ready `text`) to URL (https) when the run reports something or is "
    "incomplete; repeatable. Default: $ECRWATCH_NOTIFY_WEBHOOKS (space-separated), which keeps the secret URL "
    "out of the command line.",
)
@click.option(
    "--notify-sns",
    "sns_topics",
    metavar="TOPIC_ARN",
    multiple=True,
    help="Publish the summary and exposures (JSON, split below SNS's size limit) to an SNS topic; repeatable.",
)
@click.option(
    "--notify-timeout",
    type=click.FloatRange(1, 300),
    default=10.0,
    show_default=True,
    help="Seconds a webhook may take.",
)
@click.option(
    "--event",
    "event_source",
    metavar="FILE|-",
    help="Check one EventBridge 'Inspector2 Finding' event (JSON file, - for stdin): only its image(s).",
)
@account_options(inspector=True)
@common_options
def check(
    opts: GlobalOptions,
    account_opts: AccountOptions,
    ecs: bool,
    ecs_clusters: tuple[str, ...],
    eks: bool,
    eks_clusters: tuple[str, ...],
    kubeconfig: str | None,
    kube_contexts: tuple[str, ...],
    min_severity: str | None,
    fail_on: str | None,
    fixable_only: bool,
    kev: bool,
    fail_on_kev: bool,
    fail_on_exploitable: bool,
    fail_on_epss: float | None,
    ignore_file: str | None,
    vex_files: tuple[str, ...],
    owner_labels: tuple[str, ...],
    team: str | None,
    group_by: str,
    sort_order: str,
    output_format: str | None,
    output: str | None,
    workers: int,
    state_path: str | None,
    state_wait: float,
    new_only: bool,
    webhooks: tuple[str, ...],
    sns_topics: tuple[str, ...],
    notify_timeout: float,
    event_source: str | None,
) -> None:
    """Report Inspector findings live in running containers, and running images nobody scans.

    Exit status: 0 nothing meets a fail condition, 1 a reported exposure meets one (--fail-on,
    --fail-on-kev, --fail-on-exploitable, --fail-on-epss), 2 usage or configuration error, 3 incomplete
    (something could not be read; the report says what; 3 beats 1).
    """
    from ecrwatch.aws import Aws
    from ecrwatch.check import CheckRequest
    from ecrwatch.notify import Notifications
    from ecrwatch.triage.fail import FailConditions
    from ecrwatch.triage.load import load_acceptance
    from ecrwatch.triage.policy import TriagePolicy
    from ecrwatch.unattended import Unattended, load_event

    selection, role = _accounts(account_opts)
    target = check_writable(output) if output is not None else None
    fmt = output_format or ("table" if target is None and sys.stdout.isatty() else "json")
    if team is not None and not owner_labels:
        raise UsageError(
            "--team needs --owner-label KEY", "name the label or tag that holds the team, e.g. --owner-label team"
        )
    if any(not key.strip() for key in owner_labels):
        raise UsageError("--owner-label needs a label or tag key", "e.g. --owner-label team")
    acceptance = load_acceptance(ignore_file, vex_files, today=datetime.now(UTC).date())
    unattended = Unattended(
        state=Path(state_path).expanduser() if state_path else None,
        state_wait=state_wait,
        new_only=new_only,
        notifications=Notifications.parse(webhooks, sns_topics, notify_timeout),
    )
    unattended.check()
    event = load_event(event_source) if event_source else None
    if event is not None and event.ignored:
        notice(f"event ignored: {event.ignored}", finding_arn=event.finding_arn, status=event.status)
        sys.exit(EXIT_OK)
    aws = Aws(opts.aws, role=role)
    request = CheckRequest(
        regions=selected_regions(aws, opts),
        ecs=ecs,
        ecs_clusters=ecs_clusters,
        eks=eks,
        eks_clusters=eks_clusters,
        kubeconfig=kubeconfig,
        kube_contexts=kube_contexts,
        filters=Filters(min_severity, fixable_only, fail_on),
        workers=workers,
        event_findings=event.findings if event else (),
        triage=TriagePolicy(
            fail=FailConditions(fail_on, fail_on_kev, fail_on_exploitable, fail_on_epss),
            kev=kev,
            acceptance=acceptance,
            owner_labels=tuple(key.strip() for key in owner_labels),
            team=team,
        ),
        accounts=selection,
        inspector_account=account_opts.inspector_account,
    )
    with fewer_collections():  # the report's rendering too (see collector.py)
        status = _run_and_write(aws, request, unattended, opts, fmt, target, (sort_order, group_by))
    sys.exit(status)


def _is_multi_account_backup(document: object) -> bool:
    from ecrwatch.scanning_org import BACKUP_FORMAT_V2

    return isinstance(document, dict) and document.get("format") == BACKUP_FORMAT_V2


def _accounts(given: AccountOptions) -> tuple[AccountSelection, RoleSettings | None]:
    """The account options, checked before any call (exit 2)."""
    from ecrwatch.accounts import parse_account_id, parse_role, parse_selection

    if given.inspector_account is not None:
        parse_account_id("--inspector-account", given.inspector_account)
    selection = parse_selection(given.accounts, given.org, given.ous, given.exclude)
    return selection, parse_role(given.role_name, given.external_id)


def _status_accounts(
    aws: Aws, selection: AccountSelection, region: str
) -> tuple[list[tuple[str, str | None]], list[StatusReadError]]:
    """The selected accounts (id, name) and the Organizations errors, for `status`."""
    from ecrwatch.accounts import list_organisation_early, require_role, select_accounts
    from ecrwatch.models import StatusReadError

    listed = list_organisation_early(aws, selection, region)
    caller = aws.account_id(region)
    require_role(selection, caller, aws.role)
    chosen = select_accounts(aws, selection, caller, listed)
    errors = [StatusReadError(e.source, e.code or "", e.message) for e in chosen.errors]
    return [(a.account, a.name) for a in chosen.accounts], errors


def _run_and_write(
    aws: Aws,
    request: CheckRequest,
    unattended: Unattended,
    opts: GlobalOptions,
    fmt: str,
    target: Path | None,
    order: tuple[str, str],
) -> int:
    """Run the check and write its report; the exit status it calls for. The table's renderer (rich) is loaded
    only for a table."""
    from ecrwatch.correlate import exit_status
    from ecrwatch.report.csv import render_csv
    from ecrwatch.report.json import iter_json
    from ecrwatch.unattended import run_unattended

    with progress_reporter(opts) as progress:
        report = run_unattended(aws, request, unattended, progress=progress)
    if fmt == "table":
        from rich.console import Console

        from ecrwatch.report.table import render_table

        console = Console(
            file=io.StringIO() if target else None,
            force_terminal=False if target else None,
            width=120 if target else None,
            highlight=False,
        )
        render_table(report, console, sort=order[0], group_by=order[1])
        if target is not None:
            write_atomically(target, console.file.getvalue())  # type: ignore[attr-defined]
    else:
        # JSON goes out as it is encoded: an organisation's report is tens of megabytes.
        pieces = iter_json(report) if fmt == "json" else iter([render_csv(report)])
        if target is not None:
            write_atomically(target, pieces)
        else:
            for piece in pieces:
                click.echo(piece, nl=False)
    return exit_status(report, request.filters.fail_on)


@main.command("enable-scanning")
@click.option(
    "--frequency",
    type=click.Choice(["continuous", "on-push"]),
    help="Scan frequency of the rule your filters go into.  [default: continuous]",
)
@click.option(
    "--filter",
    "filters",
    metavar="PATTERN",
    multiple=True,
    help="Repository filter (ECR wildcard syntax, e.g. 'team-*'); repeatable.  [default: *]",
)
@click.option(
    "--rescan-duration",
    type=click.Choice(list(RESCAN_DURATION_OPTIONS)),
    help="How long Inspector keeps re-scanning an image after its push.",
)
@click.option(
    "--pull-rescan-duration",
    type=click.Choice(list(PULL_RESCAN_DURATION_OPTIONS)),
    help="How long Inspector keeps re-scanning an image after its last pull.",
)
@click.option("--replace", is_flag=True, help="Replace the whole rule set (both frequencies) instead of merging.")
@click.option("--dry-run", is_flag=True, help="Show the planned change and write nothing.")
@click.option("--yes", is_flag=True, help="Apply without asking (needed when stdin is not a terminal).")
@click.option("--backup", metavar="FILE", help="First write the configuration as it is now to FILE (JSON).")
@click.option("--restore", metavar="FILE", help="Put back the configuration saved by --backup FILE.")
@click.option(
    "--allow-deactivation",
    is_flag=True,
    help="With --restore: allow setting a registry back to BASIC, which deactivates Inspector's ECR scanning "
    "and deletes its ECR findings (refused without this flag).",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(0, 3600),
    default=300,
    show_default=True,
    help="Seconds to wait for Inspector's activation.",
)
@click.option("--poll-interval", type=click.FloatRange(0, 300), default=5.0, hidden=True)
@account_options(inspector=True)
@common_options
def enable_scanning(
    opts: GlobalOptions,
    account_opts: AccountOptions,
    frequency: str | None,
    filters: tuple[str, ...],
    rescan_duration: str | None,
    pull_rescan_duration: str | None,
    replace: bool,
    dry_run: bool,
    yes: bool,
    backup: str | None,
    restore: str | None,
    allow_deactivation: bool,
    wait_timeout: float,
    poll_interval: float,
) -> None:
    """Turn on Amazon Inspector enhanced scanning for the ECR registry of each region, safely.

    Activates Inspector for ECR where it is off (and waits for it), then merges continuous (or on-push)
    rules for the --filter patterns into the rules that exist: existing rules and filters are kept unless
    --replace. Shows the change as a diff first, asks before writing (--yes to skip; required when stdin
    is not a terminal), and writes nothing with --dry-run. A second identical run writes nothing.

    A registry set back to BASIC (only --restore of a BASIC backup does that) deactivates Inspector's ECR
    scanning, and Inspector deletes its ECR findings: refused unless --allow-deactivation.

    Exit status: 0 done (or nothing to do), 2 bad options, a refused deactivation or refused to prompt, 3 a
    call failed or activation timed out (the message says what was and was not applied).

    Across accounts (--account, --org, --ou, with --role-name): every account x region is read first, one
    plan is shown and confirmed once, then each account is written through its role; an account that cannot
    be read or written is an error for it alone (exit 3). With --inspector-account, Inspector's delegated
    administrator activates its members. --backup then holds every account (ecrwatch-scanning-backup/2);
    --restore reads /1 and /2 files, narrowed by the account options as by --region.
    """
    from ecrwatch import registry
    from ecrwatch.aws import Aws
    from ecrwatch.report import scanning as scanning_report

    out, err = scanning_report.stdout_console(), stderr_console()
    given: dict[str, object] = {"--frequency": frequency, "--filter": filters, "--replace": replace}
    given |= {"--rescan-duration": rescan_duration, "--pull-rescan-duration": pull_rescan_duration}
    if restore and any(given.values()):
        names = ", ".join(name for name, value in given.items() if value)
        raise UsageError(f"--restore puts back a saved configuration; it cannot be combined with {names}")
    if allow_deactivation and not restore:
        raise UsageError(
            "--allow-deactivation applies to --restore only: enable-scanning otherwise never sets a registry to BASIC"
        )
    # Everything the user gave is checked before the first call.
    selection, role = _accounts(account_opts)
    document = registry.read_backup_document(restore) if restore else None
    request = scanning.enable_request(frequency, filters, rescan_duration, pull_rescan_duration, replace)
    if backup:
        registry.check_backup_target(backup, restore)
    wait = registry.WaitSettings(timeout=wait_timeout, poll_interval=poll_interval)
    if selection.active or account_opts.inspector_account or _is_multi_account_backup(document):
        from ecrwatch.enable_org import OrgRun, run_enable_scanning_org

        given_run = OrgRun(restore, document, backup, dry_run, yes, allow_deactivation, wait)
        sys.exit(run_enable_scanning_org(opts, account_opts, selection, role, request, given_run, stderr_console()))
    saved = scanning.select_backup_regions(scanning.parse_backup(document, restore), opts.regions) if restore else None
    aws = Aws(opts.aws)
    aws.check_credentials()
    if saved is not None:
        states, plans = registry.prepare_restore(aws, saved, allow_deactivation=allow_deactivation)
    else:
        states, plans = registry.prepare_enable(aws, selected_regions(aws, opts), request)
    scanning_report.render_plan(out, plans, title="Restore" if restore else "Planned change")
    # Refused before the backup too: the same command with the flag can then use the same --backup FILE.
    scanning.refuse_unallowed_deactivations(plans)
    if backup:
        registry.write_backup(backup, scanning.build_backup(states, aws.account_id(states[0].region)))
        err.print(f"Backup of the current configuration written to {backup}", markup=False, soft_wrap=True)
    applied: tuple[scanning.Step, ...] = ()
    if any(p.changed for p in plans) and not dry_run:
        if not scanning_report.confirm_apply(err, plans, yes=yes, is_terminal=scanning_report.stdin_is_terminal()):
            err.print("Cancelled: nothing was written.")
            return
        applied = registry.apply_plans(
            aws,
            plans,
            wait=wait,
            notify=scanning_report.progress(err, opts.quiet),
            waiting=scanning_report.spinner(err),
            backup_path=backup,
        )
    scanning_report.render_outcome(out, plans, applied, dry_run=dry_run)


@main.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@account_options()
@common_options
def status(opts: GlobalOptions, account_opts: AccountOptions, output_format: str) -> None:
    """Show each region's scanning: Inspector activation for ECR, scan type, rules and filters, rescan
    durations, and Inspector's coverage of the registry's images by scan status. With accounts selected
    (--account, --org, --ou): one section per account and region.

    Exit status: 0, or 3 when a region, API or account could not be read (the rest is still shown).
    """
    from ecrwatch import registry
    from ecrwatch.aws import Aws
    from ecrwatch.report import scanning as scanning_report

    selection, role = _accounts(account_opts)
    aws = Aws(opts.aws, role=role)
    aws.check_credentials()
    regions = selected_regions(aws, opts)
    if selection.active:
        accounts, failed = _status_accounts(aws, selection, regions[0])
        statuses = registry.read_accounts_status(aws, accounts, regions)
        if output_format == "json":
            click.echo(scanning_report.accounts_status_json(statuses, failed), nl=False)
        else:
            for error in failed:
                click.echo(f"error: {error.source}: {error.message}", err=True)
            scanning_report.render_accounts_status(scanning_report.stdout_console(), statuses)
        sys.exit(EXIT_INCOMPLETE if failed or any(s.errors for s in statuses) else EXIT_OK)
    report = registry.read_status(aws, regions)
    if output_format == "json":
        click.echo(scanning_report.status_json(report), nl=False)
    else:
        scanning_report.render_status(scanning_report.stdout_console(), report)
    sys.exit(EXIT_INCOMPLETE if report.errors else EXIT_OK)


@main.command("iam-policy")
@click.option(
    "--command",
    "command_name",
    type=click.Choice([*iam.COMMANDS, "all"]),
    default="check",
    show_default=True,
    help="The command whose permissions to print; all: every command's.",
)
@click.option(
    "--kubernetes",
    is_flag=True,
    help="Print the read-only ClusterRole (YAML) and the EKS access entry that `check` needs instead.",
)
@click.option("--partition", type=click.Choice(iam.PARTITIONS), default="aws", show_default=True, help="ARN partition.")
@click.option(
    "--sns-topic",
    "sns_topics",
    metavar="ARN",
    multiple=True,
    help="Also allow sns:Publish to this topic (for notifications); repeatable.",
)
@click.option(
    "--org",
    is_flag=True,
    help="Print a multi-account deployment instead: the hub's policy, and the member role's permissions and "
    "trust policy (JSON).",
)
@click.option(
    "--role-name",
    metavar="NAME",
    default=iam.DEFAULT_MEMBER_ROLE,
    show_default=True,
    help="With --org: the member role's name (a path may prefix it).",
)
@click.option("--hub-account", metavar="ID", help="With --org: the account ecrwatch runs in (the trusted one).")
@click.option(
    "--external-id/--no-external-id",
    "external_id",
    default=True,
    show_default=True,
    help="With --org: the trust policy asks for an external id (a placeholder: its value is never printed).",
)
def iam_policy(
    command_name: str,
    kubernetes: bool,
    partition: str,
    sns_topics: tuple[str, ...],
    org: bool,
    role_name: str,
    hub_account: str | None,
    external_id: bool,
) -> None:
    """Print the least-privilege IAM policy (JSON) a command needs: attach it to the role ecrwatch runs as.

    `check` only reads (ECS, EKS, ECR, Inspector); `enable-scanning` also writes the registry's scanning
    configuration and activates Inspector; `status` only reads. Notes on actions that are needed only
    sometimes go to stderr. Makes no AWS call.
    """
    if kubernetes:
        if command_name not in ("check", "all") or sns_topics:
            raise UsageError(
                "--kubernetes prints the Kubernetes access of `check`; it takes no --command "
                f"{command_name} and no --sns-topic",
                "run `ecrwatch iam-policy --kubernetes` alone",
            )
        click.echo(iam.render_kubernetes(partition), nl=False)
        return
    commands = iam.commands_for(command_name)
    topics = iam.check_sns_topics(sns_topics, partition)
    if org:
        from ecrwatch.accounts import parse_account_id, parse_role

        parse_role(role_name, None)
        if hub_account is not None:
            parse_account_id("--hub-account", hub_account)
        org_request = iam.OrgPolicyRequest(commands, partition, role_name.strip("/"), hub_account, external_id, topics)
        click.echo(iam.render_org(org_request), nl=False)
        for line in iam.org_notes(org_request):
            click.echo(f"note: {line}", err=True)
        return
    request = iam.PolicyRequest(commands, partition, topics)
    click.echo(iam.render_policy(request), nl=False)
    for line in iam.notes(commands):
        click.echo(f"note: {line}", err=True)  # plain text: no need to load rich for it


@main.command()
def demo() -> None:
    """Run ecrwatch against a simulated AWS account, offline: `status`, then `enable-scanning` (plan,
    apply, a second run that changes nothing), then `status` again. Needs the `demo` extra."""
    try:
        from ecrwatch.demo import run_demo
    except ImportError as exc:
        raise UsageError(
            f"the demo needs the simulated services' packages ({exc.name} is missing)",
            "pip install 'ecrwatch[demo]'",
        ) from None
    sys.exit(run_demo(main))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
