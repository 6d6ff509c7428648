"""The join: running workloads x resolved ECR images x Inspector findings and coverage -> Report.

Pure: no I/O, no AWS calls. Linear in workloads + findings + coverage records: findings and coverage are
indexed by their (account, region, repository, digest) key once, and each scanned digest's verdict is worked
out once however many workloads run it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import get_args

from ecrwatch.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from ecrwatch.images import ecr_registry_host
from ecrwatch.models import (
    SEVERITIES,
    Coverage,
    EcrImageKey,
    Exposure,
    Filters,
    Finding,
    FindingsResult,
    ImageEntry,
    ImageInfo,
    ImageRef,
    Inventory,
    MatchedVia,
    MatchedWorkload,
    PlatformManifest,
    Report,
    ResolvedImage,
    ScannedImage,
    ScanStatus,
    Scope,
    SourceError,
    Summary,
    UnscannedEntry,
    UnscannedReason,
    Workload,
    severity_rank,
)

log = logging.getLogger(__name__)

# Inspector coverage `scanStatus.reason` -> unscanned reason, for a running digest with no finding (DESIGN.md,
# "Details that scripts rely on"). SUCCESSFUL means scanned; a reason not here is reported in Inspector's own
# words as `not_covered` (coverage not established), never as a failure Inspector did not report.
_COVERAGE_REASONS: dict[str, UnscannedReason] = {
    "PENDING_INITIAL_SCAN": "scan_pending",
    "SCAN_IN_PROGRESS": "scan_pending",
    "PENDING_REVIVAL_SCAN": "scan_pending",
    "UNSUPPORTED_OS": "scan_unsupported",
    "UNSUPPORTED_MEDIA_TYPE": "scan_unsupported",
    "UNSUPPORTED_RUNTIME": "scan_unsupported",
    "IMAGE_SIZE_EXCEEDED": "scan_unsupported",
    "SCAN_ELIGIBILITY_EXPIRED": "scan_expired",
    "IMAGE_ARCHIVED": "scan_expired",
    "SCAN_FREQUENCY_SCAN_ON_PUSH": "not_monitored",
    "SCAN_FREQUENCY_MANUAL": "not_covered",
    "NO_SCAN_CONFIGURATION_ASSOCIATED": "not_covered",
    "EXCLUDED_BY_TAG": "not_covered",
    "PENDING_DISABLE": "not_covered",
    "RESOURCE_TERMINATED": "not_found_in_ecr",
    # The failures Inspector's API reference describes as such (it could not scan the image).
    "ACCESS_DENIED": "scan_failed",
    "ACCESS_DENIED_TO_ENCRYPTION_KEY": "scan_failed",
    "INTERNAL_ERROR": "scan_failed",
    "INVALID_ARTIFACT": "scan_failed",
}
# Reasons for which Inspector no longer looks for new vulnerabilities in the image (its findings, if any, are
# as of lastScannedAt): scanned once at push; scan duration lapsed or image archived (findings to be closed
# with no fix); scanning being turned off; and the reasons it never did (manual, excluded, unconfigured, gone).
NOT_MONITORED_REASONS = frozenset(
    {
        "SCAN_FREQUENCY_SCAN_ON_PUSH",
        "SCAN_ELIGIBILITY_EXPIRED",
        "IMAGE_ARCHIVED",
        "PENDING_DISABLE",
        "SCAN_FREQUENCY_MANUAL",
        "EXCLUDED_BY_TAG",
        "NO_SCAN_CONFIGURATION_ASSOCIATED",
        "RESOURCE_TERMINATED",
    }
)
# Inspector scanned the image and then stopped: an image without findings and one of these counts as not
# monitored in the summary (its clean bill is as of its last scan), and its detail gives that date.
LAPSED_REASONS = frozenset(
    {"SCAN_ELIGIBILITY_EXPIRED", "IMAGE_ARCHIVED", "PENDING_DISABLE", "SCAN_FREQUENCY_SCAN_ON_PUSH"}
)
_SCANNED = "SUCCESSFUL"
_FIXABLE = frozenset({"YES", "PARTIAL"})
_REASON_ORDER: dict[str, int] = {reason: i for i, reason in enumerate(get_args(UnscannedReason))}
# Inspector reports the image config's architecture; Inspector scans Linux images only.
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


def coverage_reason(status_reason: str | None) -> UnscannedReason | None:
    """The unscanned reason for an Inspector coverage reason; None where the image was scanned."""
    if status_reason == _SCANNED:
        return None
    return _COVERAGE_REASONS.get(status_reason or "", "not_covered")


def scan_status(record: Coverage) -> ScanStatus:
    """The report's `scan_status` of a coverage record. `monitored` needs Inspector to say so: an INACTIVE
    status, a reason for which Inspector does not rescan, or no scan status at all is not monitored."""
    monitored = (
        record.status_code == "ACTIVE"
        and record.status_reason is not None
        and record.status_reason not in NOT_MONITORED_REASONS
    )
    return ScanStatus(record.status_code or "UNKNOWN", record.status_reason, record.last_scanned_at, monitored)


def _coverage_detail(record: Coverage) -> str:
    """Inspector's words for a coverage record, with what they mean where the reason alone would mislead."""
    if record.status_reason is None:
        return "Inspector's coverage record for this image carries no scan status"
    said = f"Inspector scan status {record.status_reason} ({record.status_code or 'no status code'})"
    if record.last_scanned_at and record.status_reason in LAPSED_REASONS:
        said += f", last scanned {record.last_scanned_at[:10]}"
    meaning = _COVERAGE_MEANINGS.get(record.status_reason)
    if meaning is None and record.status_reason not in _COVERAGE_REASONS:
        meaning = "a scan status ecrwatch does not know: not known to be scanned"
    return f"{said}: {meaning}" if meaning else said


_COVERAGE_MEANINGS: dict[str, str] = {
    "SCAN_FREQUENCY_SCAN_ON_PUSH": "scanned once at push, never rescanned, so vulnerabilities published since are"
    " not found",
    "RESOURCE_TERMINATED": "the image was deleted from ECR (an ECR lifecycle policy, or someone) while it still"
    " runs; Inspector is cleaning up its findings and coverage",
    "PENDING_DISABLE": "Inspector's ECR scanning is being turned off",
    "SCAN_ELIGIBILITY_EXPIRED": "the rescan duration lapsed; Inspector no longer scans this image",
    "IMAGE_ARCHIVED": "the image was archived in ECR; Inspector no longer scans it",
}


def _named_tag(image: ImageRef) -> str | None:
    """The tag a workload's image reference names; a reference with neither tag nor digest means :latest."""
    if image.tag:
        return image.tag
    return None if image.digest else "latest"


def ecr_key(workload: Workload) -> EcrImageKey | None:
    """How the workload's image is looked up in ECR; None outside ECR private registries."""
    image = workload.image
    if image.ecr_account is None or image.ecr_region is None:
        return None
    return _ecr_key(image, workload.reported_digest)


@lru_cache(maxsize=65536)
def _ecr_key(image: ImageRef, digest: str | None) -> EcrImageKey:
    """One key per image and reported digest: L's 70,000 containers run 600 images, and a key was made
    twice a container (0.4 s of CPU)."""
    assert image.ecr_account is not None and image.ecr_region is not None
    return EcrImageKey(
        account=image.ecr_account,
        region=image.ecr_region,
        repository=image.repository,
        digest=digest,
        tag=_named_tag(image),
    )


def is_reported(finding: Finding, filters: Filters) -> bool:
    """Whether a finding survives --min-severity and --fixable-only."""
    if filters.min_severity and severity_rank(finding.severity) > severity_rank(filters.min_severity.upper()):
        return False
    return not (filters.fixable_only and (finding.fix_available or "").upper() not in _FIXABLE)


def at_or_above(severity: str, threshold: str) -> bool:
    return severity_rank(severity) <= severity_rank(threshold.upper())


def exit_status(report: Report, fail_on: str | None) -> int:
    """3 when something could not be read (beats 1), 1 for an exposure that fails the run (a --fail-on
    condition, `fails_run`) or is at or above `fail_on`, else 0."""
    if report.errors:
        return EXIT_INCOMPLETE
    if any(e.fails_run for e in report.exposures):
        return EXIT_FINDINGS
    if fail_on and any(at_or_above(e.finding.severity, fail_on) for e in report.exposures):
        return EXIT_FINDINGS
    return EXIT_OK


def exposure_sort_key(exposure: Exposure) -> tuple[int, float, float, str, str, str, str]:
    """Severity (highest first), EPSS then Inspector score (highest first, missing last), vulnerability id,
    repository, digest; the finding ARN last so that the order is total."""
    f = exposure.finding
    return (
        severity_rank(f.severity),
        -f.epss_score if f.epss_score is not None else float("inf"),
        -f.inspector_score if f.inspector_score is not None else float("inf"),
        f.vulnerability_id,
        f.image.repository,
        f.image.digest,
        f.finding_arn,
    )


def _workload_sort_key(workload: Workload) -> tuple[str, ...]:
    return (
        workload.platform,
        workload.account or "",
        workload.region or "",
        workload.cluster,
        workload.namespace or "",
        workload.pod or "",
        workload.service or "",
        workload.task_arn or "",
        workload.container_type,
        workload.container,
        workload.image_reference,
    )


def _platform_of(architecture: str | None) -> str | None:
    if not architecture:
        return None
    if "/" in architecture:
        return architecture
    return f"linux/{_ARCH_ALIASES.get(architecture, architecture)}"


def _architecture_of(platform: str | None) -> str | None:
    """The architecture of an OCI platform string (`linux/arm64/v8` -> arm64); None where it names none."""
    parts = (platform or "").split("/")
    return (parts[1] or None) if len(parts) >= 2 else None


def platforms_run(children: Sequence[PlatformManifest], architecture: str | None) -> tuple[PlatformManifest, ...]:
    """The platform images of an index that a workload on `architecture` runs: the child of its architecture.
    Where that is unknown (no architecture recorded, a child whose platform is not named) every child applies,
    as nothing says which one runs; so does every child for an architecture the index does not offer (it cannot
    have pulled the index as recorded: rather than drop its findings, all of them are its)."""
    offered = {_architecture_of(child.platform) for child in children}
    if architecture is None or len(children) < 2 or None in offered or architecture not in offered:
        return tuple(children)
    return tuple(child for child in children if _architecture_of(child.platform) == architecture)


def platform_runners(
    children: Sequence[PlatformManifest], members: Sequence[tuple[int, Workload]], reference: str
) -> list[tuple[PlatformManifest, list[tuple[int, Workload]]]]:
    """Each platform image with the workloads that run it (see `platforms_run`), leaving out those no workload
    runs. A workload on an architecture the index does not offer is logged."""
    offered = {_architecture_of(child.platform) for child in children}
    unmatched = sorted({w.architecture for _, w in members if w.architecture and w.architecture not in offered})
    if unmatched and len(children) > 1 and None not in offered:
        log.warning(
            "%s offers %s, not %s, which some of its workloads run on: every platform image is charged to them",
            reference,
            ", ".join(sorted(a for a in offered if a)),
            ", ".join(unmatched),
        )
    by_architecture: dict[str | None, tuple[PlatformManifest, ...]] = {}
    runners: dict[str, list[tuple[int, Workload]]] = {child.digest: [] for child in children}
    for index, workload in members:
        run = by_architecture.get(workload.architecture)
        if run is None:
            run = by_architecture[workload.architecture] = platforms_run(children, workload.architecture)
        for child in run:
            runners[child.digest].append((index, workload))
    return [(child, runners[child.digest]) for child in children if runners[child.digest]]


_UNREAD_ECR = "Inspector shows no finding for this digest, but ECR could not say what it is"


# --- the verdict on one scanned digest ----------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """What Inspector says about one scanned digest: exposures to report, or an unscanned reason, or neither
    (scanned and clean, or every finding filtered out)."""

    reported: tuple[Finding, ...] = ()
    tags: tuple[str, ...] = ()
    reason: UnscannedReason | None = None
    detail: str | None = None
    scan_status: ScanStatus | None = None  # None where no coverage record was read
    # Inspector stopped monitoring a digest it had scanned: its findings, or its clean bill, are out of date.
    lapsed: bool = False


class _Inspector:
    """Findings and coverage indexed by scanned digest, with one verdict per digest worked out on demand."""

    def __init__(self, findings: FindingsResult, filters: Filters) -> None:
        self._filters = filters
        self._findings: dict[ScannedImage, dict[str, Finding]] = {}
        for finding in findings.findings:
            if finding.status != "ACTIVE":  # the findings stage asks for ACTIVE only; be sure
                continue
            self._findings.setdefault(finding.image, {}).setdefault(finding.finding_arn, finding)
        self._coverage: dict[ScannedImage, Coverage] = {}
        for record in findings.coverage:
            self._coverage.setdefault(record.image, record)
        # A region where Inspector could not be read says nothing about its images: never call them clean.
        # Across accounts, one account's Inspector failing leaves only the images it was asked about unread.
        self._unread_regions = {
            e.source.split(":", 1)[1].split("/", 1)[0]
            for e in findings.errors
            if e.source.startswith("inspector2:") and e.account is None
        }
        self._unread = {(u.registry, u.region): u.detail for u in findings.unread}
        self._verdicts: dict[ScannedImage, _Verdict] = {}

    def has_findings(self, image: ScannedImage) -> bool:
        """Whether Inspector holds ACTIVE findings for this digest (reported or filtered out)."""
        return bool(self._findings.get(image))

    def verdict(self, image: ScannedImage) -> _Verdict:
        known = self._verdicts.get(image)
        if known is None:
            known = self._verdicts[image] = self._judge(image)
        return known

    def _judge(self, image: ScannedImage) -> _Verdict:
        record = self._coverage.get(image)
        status = scan_status(record) if record is not None else None
        active = self._findings.get(image)
        if active:
            tags = sorted({tag for f in active.values() for tag in f.image_tags})
            reported = tuple(f for f in active.values() if is_reported(f, self._filters))
            # Findings Inspector no longer updates, whatever its reason: they are as of its last scan.
            lapsed = status is not None and not status.monitored
            return _Verdict(reported=reported, tags=tuple(tags), scan_status=status, lapsed=lapsed)
        if record is not None and record.status_reason != _SCANNED:
            return _Verdict(
                reason=coverage_reason(record.status_reason),
                detail=_coverage_detail(record),
                scan_status=status,
                lapsed=record.status_reason in LAPSED_REASONS,
            )
        if image.region in self._unread_regions:
            return _Verdict(reason="not_covered", detail=f"Inspector could not be read in {image.region} (see errors)")
        unread = self._unread.get((image.account, image.region))
        if unread is not None:
            return _Verdict(reason="not_covered", detail=unread)
        if record is None:
            return _Verdict(reason="not_covered", detail="Inspector has no coverage record")
        return _Verdict(scan_status=status)  # scanned, no active finding


# --- accumulators ------------------------------------------------------------------------------------


@dataclass
class _ImageBuilder:
    image: ScannedImage
    verdict: _Verdict
    platform: str | None = None
    workloads: dict[int, MatchedWorkload] = field(default_factory=dict)


@dataclass
class _UnscannedBuilder:
    reason: UnscannedReason
    reference: str
    repository: str
    digest: str | None
    registry: str | None
    region: str | None
    detail: str | None
    tags: set[str] = field(default_factory=set)
    workloads: dict[int, MatchedWorkload] = field(default_factory=dict)


def _sorted_workloads(workloads: Iterable[MatchedWorkload]) -> tuple[MatchedWorkload, ...]:
    return tuple(sorted(workloads, key=lambda m: _workload_sort_key(m.workload)))


class _Join:
    def __init__(
        self,
        resolved: Mapping[EcrImageKey, ResolvedImage],
        inspector: _Inspector,
        accounts: Sequence[str],
        registry_notes: Mapping[str, str] | None = None,
    ) -> None:
        self._resolved = resolved
        self._inspector = inspector
        self._home = frozenset(accounts)
        self._registry_notes = registry_notes or {}
        self.images: dict[ScannedImage, _ImageBuilder] = {}
        self.unscanned: dict[tuple[UnscannedReason, str], _UnscannedBuilder] = {}
        self.running: set[str] = set()
        self.vulnerable: set[str] = set()
        self.blind: set[str] = set()
        self.not_monitored: set[str] = set()  # running images with a scanned digest whose monitoring lapsed

    def add(self, workloads: Sequence[Workload]) -> None:
        """Every workload; those of one ECR image (an `ecr_key`) are judged together: tens of thousands of
        containers run a few hundred images."""
        by_key: dict[EcrImageKey, list[tuple[int, Workload]]] = {}
        for index, workload in enumerate(workloads):
            key = ecr_key(workload)
            if key is None:
                self._add_other(index, workload)
            else:
                by_key.setdefault(key, []).append((index, workload))
        for key, members in by_key.items():
            self._add_ecr(key, members)

    def _add_other(self, index: int, workload: Workload) -> None:
        image = workload.image
        digest = workload.reported_digest
        reference = f"{image.registry}/{image.repository}@{digest}" if digest else image.canonical
        self.running.add(digest or reference)
        self.blind.add(digest or reference)
        self._unscanned(
            index,
            workload,
            None,
            reason="not_ecr",
            detail=f"{image.registry} is not an Amazon ECR private registry",
            reference=reference,
            repository=image.repository,
            digest=digest,
            registry=None,
            region=None,
        )

    def _add_ecr(self, key: EcrImageKey, members: Sequence[tuple[int, Workload]]) -> None:
        resolved = self._resolved.get(key) or ResolvedImage(
            key, "unknown", key.digest, detail="ECR was not asked about this image"
        )
        host = ecr_registry_host(key.account, key.region)
        # The digest that runs: the one the workload reports, else the one its tag resolved to.
        running = key.digest or resolved.digest
        reference = f"{host}/{key.repository}@{running}" if running else f"{host}/{key.repository}:{key.tag}"
        identity = running or reference
        self.running.add(identity)

        def unscanned(
            reason: UnscannedReason,
            detail: str | None,
            via: MatchedVia | None,
            runners: Sequence[tuple[int, Workload]] = members,
        ) -> None:
            self.blind.add(identity)
            for index, workload in runners:
                self._unscanned(
                    index,
                    workload,
                    via,
                    reason=reason,
                    detail=detail,
                    reference=reference,
                    repository=key.repository,
                    digest=running,
                    registry=key.account,
                    region=key.region,
                )

        if resolved.kind == "missing":
            what = f"digest {key.digest}" if key.digest else f"tag {key.tag}"
            unscanned("not_found_in_ecr", resolved.detail or f"ECR has no image with {what}", None)
            return
        if running is None:
            unscanned("digest_unknown", resolved.detail or "no digest reported and ECR could not tell", None)
            return

        children: tuple[PlatformManifest, ...]
        if resolved.kind == "index":
            children = resolved.children
            via: MatchedVia = "index" if key.digest else "tag"
            if not children:
                unscanned("scan_unsupported", "the image index lists no platform images", via)
                return
        else:  # a manifest, or a digest ECR could not be asked about: scanned as itself, if at all
            children = (PlatformManifest(running, None),)
            via = "digest" if key.digest else "tag"

        blind_spots: dict[UnscannedReason, list[tuple[PlatformManifest, str | None, list[tuple[int, Workload]]]]] = {}
        for child, runners in platform_runners(children, members, reference):
            scanned = ScannedImage(key.account, key.region, key.repository, child.digest)
            verdict = self._inspector.verdict(scanned)
            if verdict.lapsed:
                self.not_monitored.add(identity)
            if verdict.reason is not None:
                blind_spots.setdefault(verdict.reason, []).append((child, verdict.detail, runners))
            elif verdict.reported:
                self.vulnerable.add(identity)
                entry = self.images.get(scanned)
                if entry is None:
                    entry = self.images[scanned] = _ImageBuilder(scanned, verdict)
                if entry.platform is None:
                    entry.platform = child.platform
                for index, workload in runners:
                    entry.workloads.setdefault(index, MatchedWorkload(workload, via))

        for reason, parts in blind_spots.items():
            detail = self._detail(key, resolved, [(child, detail) for child, detail, _ in parts])
            blind_runners = {index: workload for _, _, some in parts for index, workload in some}
            unscanned(reason, detail, via, sorted(blind_runners.items()))
        if resolved.kind == "unknown" and not blind_spots:
            # ECR could not say what this digest is (an index's platform images would be the scanned ones):
            # without findings for it, it is never called clean.
            scanned_children = (ScannedImage(key.account, key.region, key.repository, c.digest) for c in children)
            if not any(self._inspector.has_findings(image) for image in scanned_children):
                unscanned("not_covered", self._detail(key, resolved, [(children[0], _UNREAD_ECR)]), via)

    def _detail(
        self, key: EcrImageKey, resolved: ResolvedImage, parts: list[tuple[PlatformManifest, str | None]]
    ) -> str:
        if resolved.kind == "index":
            by_detail: dict[str, list[str]] = {}
            for child, detail in parts:
                by_detail.setdefault(detail or "not scanned", []).append(child.platform or child.digest)
            text = "; ".join(f"platform {', '.join(names)}: {detail}" for detail, names in by_detail.items())
        else:
            text = parts[0][1] or "not scanned"
        if self._home and key.account not in self._home:
            text += f"; image in another account's registry ({key.account})"
            note = self._registry_notes.get(key.account)
            if note:
                text += f": {note}"
        if resolved.kind == "unknown" and resolved.detail:
            text += "; " + (resolved.detail if resolved.detail.startswith("ECR ") else f"ECR: {resolved.detail}")
        return text

    def _unscanned(
        self,
        index: int,
        workload: Workload,
        via: MatchedVia | None,
        *,
        reason: UnscannedReason,
        detail: str | None,
        reference: str,
        repository: str,
        digest: str | None,
        registry: str | None,
        region: str | None,
    ) -> None:
        entry = self.unscanned.get((reason, reference))
        if entry is None:
            entry = self.unscanned[(reason, reference)] = _UnscannedBuilder(
                reason, reference, repository, digest, registry, region, detail
            )
        tag = _named_tag(workload.image)
        if tag:
            entry.tags.add(tag)
        entry.workloads.setdefault(index, MatchedWorkload(workload, via))


# --- the report ----------------------------------------------------------------------------------------


def correlate(
    inventory: Inventory,
    resolved: Mapping[EcrImageKey, ResolvedImage],
    findings: FindingsResult,
    *,
    filters: Filters,
    accounts: Sequence[str],
    regions: Sequence[str],
    generated_at: str,
    tool_version: str,
    extra_errors: Sequence[SourceError] = (),
    registry_notes: Mapping[str, str] | None = None,
) -> Report:
    """Join what runs with what Inspector found. `resolved` holds what ECR said for each `ecr_key` (a key
    missing from it counts as one ECR could not be asked about); `accounts` are the home accounts, so that an
    image from another account's registry can be named as such, with its `registry_notes` (why that account
    could not be entered) where there are some."""
    join = _Join(resolved, _Inspector(findings, filters), accounts, registry_notes)
    join.add(inventory.workloads)

    exposures: list[Exposure] = []
    entries: dict[ScannedImage, ImageEntry] = {}
    for scanned, builder in join.images.items():
        verdict = builder.verdict
        platform = builder.platform or next(
            (p for p in (_platform_of(f.architecture) for f in verdict.reported) if p), None
        )
        info = ImageInfo(
            reference=f"{ecr_registry_host(scanned.account, scanned.region)}/{scanned.repository}@{scanned.digest}",
            repository=scanned.repository,
            digest=scanned.digest,
            registry=scanned.account,
            region=scanned.region,
            tags=verdict.tags,
            platform=platform,
        )
        workloads = _sorted_workloads(builder.workloads.values())
        entries[scanned] = ImageEntry(
            image=info,
            workloads=workloads,
            exposures=len(verdict.reported),
            max_severity=min((f.severity for f in verdict.reported), key=severity_rank),
            scan_status=verdict.scan_status,
        )
        exposures.extend(Exposure(f, info, len(workloads)) for f in verdict.reported)
    exposures.sort(key=exposure_sort_key)

    # Images in the order of their worst exposure, so a reader meets the worst first.
    ordered: dict[ScannedImage, ImageEntry] = {}
    for exposure in exposures:
        scanned = exposure.finding.image
        if scanned not in ordered:
            ordered[scanned] = entries[scanned]

    unscanned = tuple(
        UnscannedEntry(
            image=ImageInfo(
                reference=b.reference,
                repository=b.repository,
                digest=b.digest,
                registry=b.registry,
                region=b.region,
                tags=tuple(sorted(b.tags)),
            ),
            reason=b.reason,
            detail=b.detail,
            workloads=_sorted_workloads(b.workloads.values()),
        )
        for b in sorted(join.unscanned.values(), key=lambda b: (_REASON_ORDER[b.reason], b.reference))
    )

    by_severity = dict.fromkeys(SEVERITIES, 0)
    for exposure in exposures:
        severity = exposure.finding.severity
        by_severity[severity if severity in by_severity else SEVERITIES[-1]] += 1

    return Report(
        generated_at=generated_at,
        tool_version=tool_version,
        scope=Scope(tuple(accounts), tuple(regions), inventory.clusters, filters),
        summary=Summary(
            running_containers=len(inventory.workloads),
            running_images=len(join.running),
            vulnerable_running_images=len(join.vulnerable),
            exposures=len(exposures),
            by_severity=by_severity,
            unscanned_running_images=len(join.blind),
            not_monitored_running_images=len(join.not_monitored),
        ),
        images=tuple(ordered.values()),
        exposures=tuple(exposures),
        unscanned=unscanned,
        # One failure met by two stages (an account both selected and asked as Inspector's administrator) is told once.
        errors=tuple(dict.fromkeys((*inventory.errors, *findings.errors, *extra_errors))),
    )
