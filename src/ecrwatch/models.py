"""Frozen dataclasses passed between the pipeline's stages: inventory -> resolve -> findings -> correlate ->
report. Nothing from boto3 or the Kubernetes client crosses a stage boundary; these do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:  # only a field type; models stays free of the scanning logic
    from ecrwatch.scanning import RegionState

SEVERITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNTRIAGED")
# Requests in flight at once (`--workers`), by measurement (bench/README.md, issue 14): on an organisation's
# account 16 brings check as a process within about 2x the least time the calls allow at 16, where 8 cannot
# be (the bound at 8 is twice that), for about 10 MB more peak RSS.
DEFAULT_WORKERS = 16

Platform = Literal["ecs", "eks", "kubernetes"]
ContainerType = Literal["app", "init", "ephemeral", "sidecar"]
MatchedVia = Literal["digest", "index", "tag"]
UnscannedReason = Literal[
    "not_ecr",
    "not_found_in_ecr",
    "digest_unknown",
    "scan_pending",
    "scan_unsupported",
    "scan_failed",
    "scan_expired",
    "not_covered",
    "not_monitored",
]
ResolvedReason = Literal["finding_closed", "no_longer_running", "filtered", "no_longer_monitored"]


def severity_rank(severity: str) -> int:
    """0 for CRITICAL (the highest) up to 5 for UNTRIAGED; an unknown label ranks with UNTRIAGED."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES) - 1


# --- images -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference. Docker Hub names are normalised (nginx -> docker.io/library/nginx)."""

    registry: str  # host[:port], e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com or docker.io
    repository: str  # path within the registry, e.g. team/api or library/nginx
    tag: str | None
    digest: str | None  # sha256:<64 hex>, where the reference carries one
    ecr_account: str | None = None  # set for ECR private registries only
    ecr_region: str | None = None

    @property
    def is_ecr(self) -> bool:
        return self.ecr_account is not None

    @property
    def canonical(self) -> str:
        """HOST/REPOSITORY@DIGEST where a digest is known, else HOST/REPOSITORY:TAG."""
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"


# --- inventory ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    kind: str
    name: str


class Workload(NamedTuple):
    """One running container: an ECS task's container or a pod's container (of any type).

    A named tuple rather than a frozen dataclass: a run makes one per container (L: 57,000), and a frozen
    dataclass's __init__ sets each of its 18 fields through object.__setattr__: 6.3 us a workload, several
    times the cost of building a tuple (reading 20,000 pod containers: 109-121 -> 72-75 ms). Immutable and
    hashable alike."""

    platform: Platform
    cluster: str
    container: str
    image_reference: str  # exactly as the workload names it
    image: ImageRef  # image_reference parsed
    running_digest: str | None  # manifest (or index) digest the workload reports running, else None
    account: str | None = None
    region: str | None = None
    container_type: ContainerType = "app"
    task_arn: str | None = None
    service: str | None = None
    launch_type: str | None = None
    # ECS: the task's group (`service:NAME`, or `family:NAME` or the group RunTask was given for a standalone
    # task): what stays the same from one run of a scheduled task to the next.
    task_group: str | None = None
    namespace: str | None = None
    pod: str | None = None
    owner: Owner | None = None
    # The CPU architecture the workload runs on (amd64, arm64), where known: picks the platform image of a
    # multi-arch index whose findings apply to it.
    architecture: str | None = None
    # The owning team, from the first --owner-label found on the workload.
    team: str | None = None

    @property
    def reported_digest(self) -> str | None:
        """The digest the workload is reported by: the one it says it runs, else the one its reference pins."""
        return self.running_digest or self.image.digest


@dataclass(frozen=True)
class ClusterScope:
    platform: Platform
    name: str
    arn: str | None
    region: str | None
    ok: bool
    account: str | None = None  # set when several accounts are read


@dataclass(frozen=True)
class SourceError:
    """Something in scope that could not be read: `source` is ecs:REGION/CLUSTER, eks:REGION/CLUSTER,
    kube-context:NAME or SERVICE:REGION; `code` the AWS error code or HTTP status."""

    source: str
    message: str
    code: str | None = None
    account: str | None = None  # the account the failing source belongs to, when several accounts are read


@dataclass(frozen=True)
class Inventory:
    workloads: tuple[Workload, ...] = ()
    clusters: tuple[ClusterScope, ...] = ()
    errors: tuple[SourceError, ...] = ()

    def __add__(self, other: Inventory) -> Inventory:
        return Inventory(
            self.workloads + other.workloads,
            self.clusters + other.clusters,
            self.errors + other.errors,
        )


# --- resolve ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcrImageKey:
    """How a workload names an ECR image: by digest where it reports one, else by tag."""

    account: str
    region: str
    repository: str
    digest: str | None
    tag: str | None


@dataclass(frozen=True)
class PlatformManifest:
    digest: str
    platform: str | None  # os/architecture[/variant]


@dataclass(frozen=True)
class ResolvedImage:
    """What ECR says a key points at.

    kind "manifest": `digest` is an image manifest, scanned as itself.
    kind "index": `digest` is a multi-arch index; `children` are its platform manifests (attestations dropped).
    kind "missing": ECR was read and has no such tag or digest.
    kind "unknown": ECR could not be asked (`detail` says why); the digest, if the key had one, is kept.
    """

    key: EcrImageKey
    kind: Literal["manifest", "index", "missing", "unknown"]
    digest: str | None
    children: tuple[PlatformManifest, ...] = ()
    detail: str | None = None

    @property
    def scanned_digests(self) -> tuple[PlatformManifest, ...]:
        if self.kind == "index":
            return self.children
        if self.kind == "manifest" and self.digest:
            return (PlatformManifest(self.digest, None),)
        return ()


# --- findings -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScannedImage:
    """An image digest as Inspector knows it."""

    account: str
    region: str
    repository: str
    digest: str


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None = None
    fixed_in: str | None = None
    package_manager: str | None = None


@dataclass(frozen=True)
class Finding:
    finding_arn: str
    vulnerability_id: str
    severity: str
    status: str
    image: ScannedImage
    title: str | None = None
    inspector_score: float | None = None
    epss_score: float | None = None
    fix_available: str | None = None
    exploit_available: str | None = None
    packages: tuple[Package, ...] = ()
    first_observed_at: str | None = None  # RFC 3339, UTC
    last_observed_at: str | None = None
    image_tags: tuple[str, ...] = ()
    architecture: str | None = None
    last_known_exploit_at: str | None = None  # Inspector's exploitabilityDetails.lastKnownExploitAt, RFC 3339


@dataclass(frozen=True)
class Coverage:
    """Inspector's coverage record for one image digest. `status_code` and `status_reason` are None where the
    record carries no `scanStatus` (the model makes it optional)."""

    image: ScannedImage
    status_code: str | None  # ACTIVE or INACTIVE
    status_reason: str | None  # e.g. SUCCESSFUL, PENDING_INITIAL_SCAN, SCAN_ELIGIBILITY_EXPIRED
    last_scanned_at: str | None = None  # RFC 3339, UTC: the record's lastScannedAt


@dataclass(frozen=True)
class ScanStatus:
    """The schema's `images[].scan_status`: Inspector's coverage of a scanned digest, and whether Inspector
    still looks for new vulnerabilities in it (`monitored`)."""

    status: str
    reason: str | None
    last_scanned_at: str | None
    monitored: bool


@dataclass(frozen=True)
class InspectorUnread:
    """Across accounts: the images of `registry` in `region` that the Inspector asked about them (an
    account's own, or the delegated administrator's) could not answer for, and why (`detail`)."""

    registry: str
    region: str
    detail: str


@dataclass(frozen=True)
class FindingsResult:
    findings: tuple[Finding, ...] = ()
    coverage: tuple[Coverage, ...] = ()
    errors: tuple[SourceError, ...] = ()
    # Across accounts, where one account's Inspector failed: only its images are unread. An `inspector2:REGION`
    # error without an account (a single-account run) leaves the whole region unread.
    unread: tuple[InspectorUnread, ...] = ()


# --- report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    """The schema's `image` object."""

    reference: str
    repository: str
    digest: str | None
    registry: str | None = None  # ECR account id; None outside ECR private registries
    region: str | None = None
    tags: tuple[str, ...] = ()
    platform: str | None = None


@dataclass(frozen=True)
class MatchedWorkload:
    workload: Workload
    matched_via: MatchedVia | None = None


@dataclass(frozen=True)
class ImageEntry:
    image: ImageInfo
    workloads: tuple[MatchedWorkload, ...]
    exposures: int
    max_severity: str
    scan_status: ScanStatus | None = None  # None where coverage was not read (event mode)


@dataclass(frozen=True)
class Kev:
    """CISA Known Exploited Vulnerabilities data for a vulnerability, as Inspector's cisaData gives it."""

    date_added: str
    due_date: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class Exposure:
    finding: Finding
    image: ImageInfo
    workload_count: int
    new: bool | None = None  # set only when a previous state is known
    kev: Kev | None = None  # None: not in KEV, or not asked (--no-kev; a failure to ask is an errors entry)
    fails_run: bool = False  # meets a --fail-on condition


@dataclass(frozen=True)
class UnscannedEntry:
    image: ImageInfo
    reason: UnscannedReason
    detail: str | None
    workloads: tuple[MatchedWorkload, ...]


@dataclass(frozen=True)
class Filters:
    min_severity: str | None = None
    fixable_only: bool = False
    fail_on: str | None = None


@dataclass(frozen=True)
class Summary:
    running_containers: int
    running_images: int
    vulnerable_running_images: int
    exposures: int
    by_severity: dict[str, int]
    unscanned_running_images: int
    # Running images with a scanned digest whose Inspector monitoring lapsed: it has findings Inspector no
    # longer updates (scan_status.monitored false), or none and Inspector scanned it once and stopped (scanned
    # on push only, scan eligibility expired, archived, scanning being disabled).
    not_monitored_running_images: int = 0
    suppressed: int | None = None  # len(Report.suppressed), where an ignore file or VEX document was given


@dataclass(frozen=True)
class AccountDetail:
    """One selected account of a multi-account run: whether it was read completely, its organisation name."""

    account: str
    name: str | None
    ok: bool


@dataclass(frozen=True)
class Scope:
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    clusters: tuple[ClusterScope, ...]
    filters: Filters = field(default_factory=Filters)
    account_details: tuple[AccountDetail, ...] | None = None  # only when accounts were selected


@dataclass(frozen=True)
class ResolvedExposure:
    """An exposure of the previous run's state that is gone, for the workloads it is gone from. `reason` None:
    the workload still runs the digest and the finding is no longer reported, for a reason the run cannot tell."""

    finding_arn: str
    vulnerability_id: str
    severity: str
    image: ImageInfo
    workloads: tuple[Workload, ...]
    reason: ResolvedReason | None


@dataclass(frozen=True)
class SuppressionRule:
    """The ignore rule (source FILE:LINE) or VEX statement (FILE#statements/N) that set an exposure aside."""

    source: str
    reason: str
    expires: str | None = None  # YYYY-MM-DD
    vex_status: str | None = None  # not_affected or fixed
    justification: str | None = None


@dataclass(frozen=True)
class SuppressedExposure:
    exposure: Exposure
    rule: SuppressionRule


@dataclass(frozen=True)
class ExpiredRule:
    """An ignore rule past its expiry date: it no longer applies."""

    source: str
    reason: str
    expires: str  # YYYY-MM-DD
    vulnerability: str


@dataclass(frozen=True)
class Report:
    generated_at: str  # RFC 3339, UTC
    tool_version: str
    scope: Scope
    summary: Summary
    images: tuple[ImageEntry, ...]
    exposures: tuple[Exposure, ...]
    unscanned: tuple[UnscannedEntry, ...]
    errors: tuple[SourceError, ...]
    resolved: tuple[ResolvedExposure, ...] | None = None  # only with a previous state (--state)
    # Only with an ignore file or VEX document: what they set aside, and the ignore rules that expired.
    suppressed: tuple[SuppressedExposure, ...] | None = None
    expired_rules: tuple[ExpiredRule, ...] | None = None


# --- registry scanning status (`ecrwatch status`) ----------------------------------------------------


@dataclass(frozen=True)
class CoverageCount:
    status_code: str  # ACTIVE | INACTIVE
    reason: str  # SUCCESSFUL, PENDING_INITIAL_SCAN, SCAN_FREQUENCY_MANUAL, ...
    count: int


@dataclass(frozen=True)
class RegistryCoverage:
    """ECR images Inspector has a coverage record for in one region, counted by scan status.

    Read with ListCoverage rather than ListCoverageStatistics: the model types a statistics group's
    `groupKey` as the GroupKey enum (the name of the grouping, not its value), so which status each count
    belongs to would rest on undocumented behaviour. ListCoverage names both on every record."""

    counts: tuple[CoverageCount, ...]  # largest first

    @property
    def total(self) -> int:
        return sum(c.count for c in self.counts)

    @property
    def by_status_code(self) -> tuple[tuple[str, int], ...]:
        totals: dict[str, int] = {}
        for c in self.counts:
            totals[c.status_code] = totals.get(c.status_code, 0) + c.count
        return tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class StatusReadError:
    source: str  # SERVICE:REGION, as in check's errors[]
    code: str
    message: str


@dataclass(frozen=True)
class RegionStatus:
    region: str
    state: RegionState | None  # None when it could not be read
    coverage: RegistryCoverage | None


@dataclass(frozen=True)
class StatusReport:
    regions: tuple[RegionStatus, ...]
    errors: tuple[StatusReadError, ...]


@dataclass(frozen=True)
class AccountStatus:
    """`status` of one selected account: its regions, or why it could not be entered."""

    account: str
    name: str | None
    report: StatusReport | None  # None: the account could not be entered (`error` says why)
    error: StatusReadError | None = None

    @property
    def errors(self) -> tuple[StatusReadError, ...]:
        return (self.error,) if self.error else self.report.errors if self.report else ()
