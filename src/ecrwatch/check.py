"""The `check` pipeline: inventory -> resolve -> findings -> correlate. Calls the stages; renders nothing.

Findings are asked for while the inventory is still being read (see `check_run`): at organisation scale the
stages took turns at a CPU-bound inventory and a latency-bound Inspector lookup, each idling the other."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ecrwatch import __version__
from ecrwatch.accounts import (
    AccountSelection,
    Entered,
    Selection,
    enter_accounts,
    list_organisation_early,
    require_role,
    select_accounts,
)
from ecrwatch.across_accounts import account_jobs, arns_outside, names_across_accounts, with_accounts
from ecrwatch.aws import Aws
from ecrwatch.collector import fewer_collections
from ecrwatch.correlate import correlate, ecr_key
from ecrwatch.errors import AwsCallError
from ecrwatch.events import EventScope
from ecrwatch.findings import FindingFilters, FindingsLookup
from ecrwatch.inventory.jobs import collect_inventory, inventory_jobs
from ecrwatch.kev import fetch_kev, with_kev
from ecrwatch.models import (
    DEFAULT_WORKERS,
    Coverage,
    EcrImageKey,
    Filters,
    Finding,
    FindingsResult,
    ImageRef,
    Inventory,
    Report,
    ResolvedImage,
    ScannedImage,
    SourceError,
    Workload,
)
from ecrwatch.resolve import resolve_images
from ecrwatch.triage.apply import accept_risks
from ecrwatch.triage.fail import mark_failing
from ecrwatch.triage.policy import TriagePolicy

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CheckRequest:
    regions: tuple[str, ...]
    ecs: bool = True
    ecs_clusters: tuple[str, ...] = ()
    eks: bool = True
    eks_clusters: tuple[str, ...] = ()
    kubeconfig: str | None = None
    kube_contexts: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    workers: int = DEFAULT_WORKERS
    # Event mode: check only these findings' images, with these findings (from an EventBridge event; Inspector
    # may not list them yet) instead of asking Inspector.
    event_findings: tuple[Finding, ...] = ()
    triage: TriagePolicy = field(default_factory=TriagePolicy)
    # Several accounts: which (none: the caller's alone), and Inspector's delegated administrator, if asked.
    accounts: AccountSelection = field(default_factory=AccountSelection)
    inspector_account: str | None = None


@dataclass(frozen=True)
class CheckRun:
    """A report and what it was made from: a state diff needs to know which workloads run which digests,
    including the clean ones the report leaves out."""

    report: Report
    inventory: Inventory
    resolved: Mapping[EcrImageKey, ResolvedImage]
    # Inspector's coverage of each scanned digest read this run: a finding that went away from an image
    # Inspector no longer monitors was not fixed.
    coverage: Mapping[ScannedImage, Coverage] = field(default_factory=dict)


def scanned_images(resolved: Sequence[ResolvedImage]) -> list[ScannedImage]:
    """Every digest Inspector would have scanned for these images (an index's platform manifests, a
    manifest itself, or a digest ECR could not confirm)."""
    out: dict[ScannedImage, None] = {}
    for image in resolved:
        key = image.key
        if image.kind == "unknown" and image.digest:
            out[ScannedImage(key.account, key.region, key.repository, image.digest)] = None
        for child in image.scanned_digests:
            out[ScannedImage(key.account, key.region, key.repository, child.digest)] = None
    return list(out)


def running_images(workloads: Iterable[Workload]) -> Iterator[ScannedImage]:
    """The ECR digests workloads report running, as they report them, each once: Inspector can be asked about
    them before ECR is (a manifest is scanned as itself; an index is not scanned, its platform images are).
    Containers of one image share its ImageRef, and a page of 100 tasks runs a few images."""
    seen: set[tuple[ImageRef, str]] = set()
    for workload in workloads:
        image = workload.image
        digest = workload.reported_digest
        if digest and image.ecr_account is not None and image.ecr_region is not None and (image, digest) not in seen:
            seen.add((image, digest))
            yield ScannedImage(image.ecr_account, image.ecr_region, image.repository, digest)


def run_check(aws: Aws, request: CheckRequest, *, progress: Progress = lambda _m: None) -> Report:
    return check_run(aws, request, progress=progress).report


def check_run(aws: Aws, request: CheckRequest, *, progress: Progress = lambda _m: None) -> CheckRun:
    """The stages overlap: Inspector is asked about the digests that run as soon as they are read, while the
    rest of the inventory is read and ECR resolves it; `--workers` bounds the requests in flight, all stages
    together. The garbage collector runs less often meanwhile (see collector.py)."""
    aws.in_flight.limit(request.workers)
    lookup = None
    if not request.event_findings:
        pushed_down = FindingFilters(request.filters.min_severity, request.filters.fixable_only)
        lookup = FindingsLookup(
            aws, filters=pushed_down, workers=request.workers, inspector_account=request.inspector_account
        )
    try:
        with fewer_collections():
            return _check_run(aws, request, progress, lookup)
    finally:
        if lookup is not None:
            lookup.close()


def _check_run(aws: Aws, request: CheckRequest, progress: Progress, lookup: FindingsLookup | None) -> CheckRun:
    ask = (lambda workloads: lookup.ask(running_images(workloads))) if lookup is not None else None
    jobs = inventory_jobs(aws, request, ask)  # bad selectors, kubeconfigs or contexts: exit 2 before any AWS call
    aws.check_credentials()
    home = request.regions[0]
    listed = list_organisation_early(aws, request.accounts, home)
    try:
        account = aws.account_id(home)
    except AwsCallError as exc:
        # Nothing else would answer either; a cron job still gets its report, saying why it is empty.
        log.warning("%s", exc)
        unread = SourceError(f"sts:{home}", exc.message, exc.code)
        return CheckRun(_report(request, Inventory(), {}, FindingsResult(), [], [unread]), Inventory(), {})
    selection: Selection | None = None
    entered = Entered({account: aws}, {})
    if request.accounts.active:
        require_role(request.accounts, account, aws.role)  # exit 2: nothing but the identity was asked
        progress("selecting accounts")
        selection = select_accounts(aws, request.accounts, account, listed)
        selected = sorted(a.account for a in selection.accounts)
        progress(f"entering and reading {len(selected)} account(s)")
        jobs = account_jobs(aws, request, ask, selected, account)
    inventory = collect_inventory(aws, request, progress, jobs)
    if selection is not None:
        # Each account was entered by its first job (an account no job needed is entered here).
        entered = enter_accounts(aws, selected, request.workers)
        inventory = names_across_accounts(inventory, request)
    if request.triage.team is not None:  # one team's report: its workloads only, and its exit status
        team = request.triage.team
        inventory = replace(inventory, workloads=tuple(w for w in inventory.workloads if w.team == team))
    progress(f"{len(inventory.workloads)} running container(s); resolving images in ECR")
    keys = [k for k in (ecr_key(w) for w in inventory.workloads) if k is not None]
    event = EventScope.of(request.event_findings) if request.event_findings else None
    if event is not None:
        keys = [k for k in keys if event.wants(k)]
    resolved = resolve_images(aws, keys, home_accounts=list(entered.clients), workers=request.workers)
    images_resolved: Mapping[EcrImageKey, ResolvedImage] = resolved.images
    if lookup is not None:
        images = scanned_images(list(resolved.images.values()))
        progress(f"looking up Inspector findings for {len(images)} image digest(s)")
        findings = lookup.finish(images)
    else:
        assert event is not None  # only event mode has no lookup
        inventory, images_resolved = event.restrict(inventory, resolved.images)
        findings = FindingsResult(findings=request.event_findings)
    if selection is None:
        report = _report(request, inventory, images_resolved, findings, [account], resolved.errors)
        coverage = {c.image: c for c in findings.coverage}
        return CheckRun(_triaged(aws, report, request, progress), inventory, images_resolved, coverage)
    # Registry accounts entered to resolve images or ask Inspector count as ours; those that could not be
    # entered are named in their images' details, with why.
    registries = sorted({k.account for k in keys})
    ours = [*entered.clients, *(a for a in registries if a not in entered.clients and aws.reader(a) is not aws)]
    notes = {a: f"account {a} could not be entered ({e.code or 'no role'})" for a in registries
             if (e := aws.entry_failure(a)) is not None}  # fmt: skip
    errors = [*selection.errors, *entered.errors(), *arns_outside(request, selection), *resolved.errors]
    report = _report(request, inventory, images_resolved, findings, ours, errors, notes)
    coverage = {c.image: c for c in findings.coverage}
    report = _triaged(aws, with_accounts(report, selection, entered), request, progress)
    return CheckRun(report, inventory, images_resolved, coverage)


def _triaged(aws: Aws, report: Report, request: CheckRequest, progress: Progress) -> Report:
    """The report without the exposures an ignore rule or VEX statement sets aside, with KEV data on the rest
    (unless --no-kev), each saying whether it fails the run.
    Event mode asks Inspector nothing (the event carries the finding, which Inspector may not list yet): its
    exposures' kev stays null, as with --no-kev."""
    today = request.triage.today or datetime.now(UTC).date()
    report = accept_risks(report, request.triage.acceptance, today)  # KEV is asked for what is still reported
    if request.triage.kev and report.exposures and not request.event_findings:
        progress(f"asking Inspector for KEV data on {len(report.exposures)} exposure(s)")
        kev = fetch_kev(aws, report.exposures, workers=request.workers, inspector_account=request.inspector_account)
        report = with_kev(report, kev)
    conditions = request.triage.fail
    if conditions.severity is None and request.filters.fail_on:
        conditions = replace(conditions, severity=request.filters.fail_on)
    return mark_failing(report, conditions)


def _report(
    request: CheckRequest,
    inventory: Inventory,
    resolved: Mapping[EcrImageKey, ResolvedImage],
    findings: FindingsResult,
    accounts: Sequence[str],
    errors: Sequence[SourceError],
    registry_notes: Mapping[str, str] | None = None,
) -> Report:
    return correlate(
        inventory,
        resolved,
        findings,
        filters=request.filters,
        accounts=accounts,
        regions=request.regions,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tool_version=__version__,
        extra_errors=errors,
        registry_notes=registry_notes,
    )
