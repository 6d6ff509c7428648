"""The simulated Amazon Inspector2 service, served in place of moto's (which is too thin for ecrwatch).

Requests are checked against botocore's own model of the service (types, enums, lengths, ranges,
patterns, required members) and refused with a ValidationException as AWS refuses them, then answered from
a per-region store:

- Account status: per resource type DISABLED / ENABLING / ENABLED / DISABLING. `Enable` starts a
  transition that completes after `enable_after_polls` further BatchGetAccountStatus calls (0: at once),
  so callers must poll, as they must against AWS. A status seeded with `set_account_status` stays as
  seeded (a seeded ENABLING never completes: a stuck activation). When ECR reaches DISABLED, that account's
  ECR findings and coverage in the region are deleted, as Inspector deletes them. ECR scanning and the
  registry's scan type are one switch: `sim.registry_scanning` links them (seeding sets either side alone,
  to reproduce what AWS shows in transition).
- Configuration: the ECR rescan durations, with the documented defaults for a new account until set.
- Findings (PACKAGE_VULNERABILITY on AWS_ECR_CONTAINER_IMAGE), indexed by region and image digest, so a
  query by `ecrImageHash` costs what it matches even with 200,000 findings seeded. ListFindings pages hold at
  most `findings_page_limit` findings (25, the model's FindingList maximum) whatever `maxResults` (1-100) asks.
- Coverage: one record per image, and one per repository (AWS_ECR_REPOSITORY), as Inspector lists both.
  `add_finding` creates an ACTIVE / SUCCESSFUL record for its image when the image has none: Inspector
  always has one for an image it scanned. ListCoverageStatistics pages hold at most 5 groups (CountsList),
  each `groupKey` carrying the group's value (ACTIVE, SUCCESSFUL, a repository name), which is what makes
  the counts usable, although the model types the member as the GroupKey enum.

Deliberate departures from the model's letter: a healthy account State carries no errorCode/errorMessage
(the model marks them required, but there is no error to report; callers must not count on them).

Filters follow `inspector2_query`; page tokens are opaque, bound to the query that issued them, and resume
after the last item returned, so findings seeded between pages do not shift a paging caller.
Seed helpers validate what they are given, so that a test cannot seed something AWS would never return.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import count
from typing import Any, Protocol, TypeVar

from ecrwatch.sim.inspector2_query import (
    Field,
    Predicate,
    ValidationError,
    check_shape,
    compile_criteria,
    decode_token,
    encode_token,
    enum,
    epoch,
    equals_values,
    fingerprint,
    invalid,
    optional_members,
    parse_request,
)
from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

# ResourceScanType (what Enable/Disable take) -> its key in ResourceStatus / ResourceState.
RESOURCE_KEYS: Mapping[str, str] = {
    "EC2": "ec2",
    "ECR": "ecr",
    "LAMBDA": "lambda",
    "LAMBDA_CODE": "lambdaCode",
    "CODE_REPOSITORY": "codeRepository",
}

# What GetConfiguration reports for an account that never set its ECR rescan durations. The user guide
# ("Configuring the Amazon ECR re-scan duration") gives 14 days, by last-in-use date, for new accounts since
# 16 May 2025 (it was 90 days before, and LIFETIME before that); a test may set older defaults on the store.
ECR_DEFAULTS: Mapping[str, str] = {
    "rescanDuration": "DAYS_14",
    "pullDateRescanDuration": "DAYS_14",
    "pullDateRescanMode": "LAST_IN_USE_AT",
}

FINDINGS_PAGE_LIMIT = 25  # FindingList: max 25 in the model, although maxResults may ask for up to 100
COVERAGE_DEFAULT_PAGE = 100  # ListCoverage without maxResults (1-200); AWS does not document its default
STATISTICS_PAGE = 5  # CountsList: max 5

SEVERITY_RANK: Mapping[str, int] = {
    "UNTRIAGED": 0,
    "INFORMATIONAL": 1,
    "LOW": 2,
    "MEDIUM": 3,
    "HIGH": 4,
    "CRITICAL": 5,
}
# Inspector score given to a seeded finding that names none (UNTRIAGED findings have no score).
DEFAULT_SCORES: Mapping[str, float] = {"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.3, "LOW": 3.1, "INFORMATIONAL": 0.0}
_CVSS_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
# Coverage reasons for an image Inspector has not scanned (no lastScannedAt).
_NEVER_SCANNED = frozenset({"PENDING_INITIAL_SCAN", "SCAN_FREQUENCY_MANUAL", "NO_SCAN_CONFIGURATION_ASSOCIATED"})

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")  # as the finding ARN pattern allows
_ACCOUNT = re.compile(r"^\d{12}$")
_REPOSITORY = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")  # ECR's
_DIGEST = re.compile(r"^sha256:[a-z0-9]{64}$")  # ImageHash


# --- what tests seed ---


@dataclass(frozen=True)
class Package:
    """A vulnerable package of a finding (VulnerablePackage)."""

    name: str
    version: str
    fixed_in_version: str | None = None  # AWS says "NotAvailable" when there is no fix
    package_manager: str = "OS"
    arch: str | None = None
    epoch: int | None = None
    release: str | None = None
    file_path: str | None = None
    source_layer_hash: str | None = None
    remediation: str | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"name": self.name, "version": self.version, "packageManager": self.package_manager}
        optional = {
            "fixedInVersion": self.fixed_in_version,
            "arch": self.arch,
            "epoch": self.epoch,
            "release": self.release,
            "filePath": self.file_path,
            "sourceLayerHash": self.source_layer_hash,
            "remediation": self.remediation,
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        return item


@dataclass(frozen=True, kw_only=True)
class FindingSpec:
    """One finding to seed; `add_finding` takes the same keyword arguments.

    `packages` None gives one OS package whose fix matches `fix_available`. `inspector_score` None gives a
    score typical of the severity; `epss` None omits `epss`. `omit` names optional members to leave out of
    the response, as AWS sometimes does: Finding members ("epss", "packageVulnerabilityDetails", ...),
    "awsEcrContainerImage.MEMBER", "packageVulnerabilityDetails.MEMBER", "resource.partition",
    "resource.region". An omitted member is absent for filters too (only NOT_EQUALS matches it).
    """

    repository: str
    digest: str
    vulnerability_id: str
    severity: str
    account: str = ACCOUNT_ID
    status: str = "ACTIVE"
    tags: Sequence[str] = ()
    architecture: str = "amd64"
    platform: str = "DEBIAN_12"
    title: str | None = None
    description: str | None = None
    inspector_score: float | None = None
    epss: float | None = None
    fix_available: str = "YES"
    exploit_available: str = "NO"
    packages: Sequence[Package] | None = None
    source: str = "NVD"
    vendor_severity: str | None = None
    related_vulnerabilities: Sequence[str] = ()
    first_observed_at: datetime | None = None
    last_observed_at: datetime | None = None
    updated_at: datetime | None = None
    pushed_at: datetime | None = None
    omit: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class VulnerabilityIntel:
    """What Inspector knows about a vulnerability beyond one finding (BatchGetFindingDetails' FindingDetail):
    CISA KEV data (`kev_added` set: listed), observed exploitation, weaknesses and references. Inspector's
    intelligence is per vulnerability, so every finding of it, in any image, carries the same."""

    kev_added: datetime | None = None  # cisaData.dateAdded
    kev_due: datetime | None = None  # cisaData.dateDue
    kev_action: str | None = None  # cisaData.action
    exploit_first_seen: datetime | None = None  # exploitObserved.firstSeen
    exploit_last_seen: datetime | None = None  # exploitObserved.lastSeen
    cwes: Sequence[str] = ()
    reference_urls: Sequence[str] = ()
    ttps: Sequence[str] = ()
    tools: Sequence[str] = ()
    risk_score: int | None = None


def _omittable() -> frozenset[str]:
    finding = optional_members("Finding") - {"networkReachabilityDetails", "codeVulnerabilityDetails"}
    image = {f"awsEcrContainerImage.{m}" for m in optional_members("AwsEcrContainerImageDetails")}
    details = {f"packageVulnerabilityDetails.{m}" for m in optional_members("PackageVulnerabilityDetails")}
    return frozenset(finding | image | details | {"resource.partition", "resource.region"})


OMITTABLE = _omittable()


@cache
def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def image_resource_id(region: str, account: str, repository: str, digest: str) -> str:
    """The resourceId Inspector gives an ECR image (findings and coverage alike)."""
    return f"arn:{partition(region)}:ecr:{region}:{account}:repository/{repository}/{digest}"


def repository_resource_id(region: str, account: str, repository: str) -> str:
    return f"arn:{partition(region)}:ecr:{region}:{account}:repository/{repository}"


# --- the store ---


@dataclass(slots=True)
class _Finding:
    seq: int
    arn: str
    region: str
    account: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    architecture: str
    platform: str
    pushed_at: float
    vulnerability_id: str
    severity: str
    status: str
    title_given: str | None  # None: the title AWS composes, "<vulnerability id> - <package names>"
    description_given: str | None
    inspector_score: float | None
    epss: float | None
    fix_available: str
    exploit_available: str
    packages: tuple[Package, ...]
    source: str
    vendor_severity: str | None
    related: tuple[str, ...]
    first_observed_at: float
    last_observed_at: float
    updated_at: float
    omit: frozenset[str]

    def resource_id(self) -> str:
        return image_resource_id(self.region, self.account, self.repository, self.digest)

    # Composed when asked rather than stored: 200,000 findings are seeded for the benchmarks.
    @property
    def title(self) -> str:
        if self.title_given is not None:
            return self.title_given
        return f"{self.vulnerability_id} - {', '.join(p.name for p in self.packages)}"

    @property
    def description(self) -> str:
        if self.description_given is not None:
            return self.description_given
        subject = self.packages[0].name if self.packages else "a package"
        return f"A vulnerability ({self.vulnerability_id}) in {subject}."

    def has(self, member: str) -> bool:
        return member not in self.omit

    def details(self, member: str) -> bool:
        """Whether packageVulnerabilityDetails and its `member` are in the response."""
        omit = self.omit
        return "packageVulnerabilityDetails" not in omit and f"packageVulnerabilityDetails.{member}" not in omit


@dataclass(slots=True)
class _Coverage:
    seq: int
    region: str
    account: str
    resource_type: str
    resource_id: str
    repository: str
    tags: tuple[str, ...]
    status_code: str
    reason: str
    scan_frequency: str
    last_scanned_at: float | None
    image_pulled_at: float | None
    has_scan_status: bool = True  # scanStatus is optional in CoveredResource; a test may seed a record without


@dataclass
class _Region:
    findings: list[_Finding] = field(default_factory=list)  # in seq order
    by_hash: dict[str, list[_Finding]] = field(default_factory=dict)  # digest -> findings, in seq order
    by_arn: dict[str, _Finding] = field(default_factory=dict)
    coverage: list[_Coverage] = field(default_factory=list)  # in seq order
    coverage_by_id: dict[str, _Coverage] = field(default_factory=dict)


@dataclass
class _Account:
    """One account's Inspector state in one region."""

    status: dict[str, str] = field(default_factory=lambda: dict.fromkeys(RESOURCE_KEYS.values(), "DISABLED"))
    polls: dict[str, int] = field(default_factory=dict)  # resource key -> status polls seen in transition
    ecr_config: dict[str, str] = field(default_factory=dict)  # empty: never set, the defaults apply
    ecr_config_updated_at: float = field(default_factory=time.time)
    ec2_scan_mode: str = "EC2_SSM_AGENT_BASED"

    def overall(self) -> str:
        values = set(self.status.values())
        for status in ("ENABLING", "DISABLING", "SUSPENDING", "ENABLED", "SUSPENDED"):
            if status in values:
                return status
        return "DISABLED"


def _value(present: bool, value: Any) -> tuple[Any, ...]:
    return (value,) if present and value is not None else ()


# FilterCriteria members this simulator answers (see inspector2_query for the semantics).
FINDING_FIELDS: Mapping[str, Field] = {
    "findingArn": Field("string", lambda f: (f.arn,)),
    "awsAccountId": Field("string", lambda f: (f.account,)),
    "findingType": Field("string", lambda f: ("PACKAGE_VULNERABILITY",)),
    "severity": Field("string", lambda f: (f.severity,)),
    "findingStatus": Field("string", lambda f: (f.status,)),
    "title": Field("string", lambda f: _value(f.has("title"), f.title)),
    "resourceType": Field("string", lambda f: ("AWS_ECR_CONTAINER_IMAGE",)),
    "resourceId": Field("string", lambda f: (f.resource_id(),)),
    "ecrImageArchitecture": Field(
        "string", lambda f: _value(f.has("awsEcrContainerImage.architecture"), f.architecture)
    ),
    "ecrImageRegistry": Field("string", lambda f: (f.account,)),
    "ecrImageRepositoryName": Field("string", lambda f: (f.repository,)),
    "ecrImageTags": Field("string", lambda f: f.tags if f.has("awsEcrContainerImage.imageTags") else ()),
    "ecrImageHash": Field("string", lambda f: (f.digest,)),
    "vulnerabilityId": Field("string", lambda f: _value(f.details("vulnerabilityId"), f.vulnerability_id)),
    "vulnerabilitySource": Field("string", lambda f: _value(f.details("source"), f.source)),
    "vendorSeverity": Field("string", lambda f: _value(f.details("vendorSeverity"), f.vendor_severity)),
    "relatedVulnerabilities": Field("string", lambda f: f.related if f.details("relatedVulnerabilities") else ()),
    "fixAvailable": Field("string", lambda f: _value(f.has("fixAvailable"), f.fix_available)),
    "exploitAvailable": Field("string", lambda f: _value(f.has("exploitAvailable"), f.exploit_available)),
    "inspectorScore": Field("number", lambda f: _value(f.has("inspectorScore"), f.inspector_score)),
    "epssScore": Field("number", lambda f: _value(f.has("epss"), f.epss)),
    "firstObservedAt": Field("date", lambda f: (f.first_observed_at,)),
    "lastObservedAt": Field("date", lambda f: (f.last_observed_at,)),
    "updatedAt": Field("date", lambda f: _value(f.has("updatedAt"), f.updated_at)),
    "ecrImagePushedAt": Field("date", lambda f: _value(f.has("awsEcrContainerImage.pushedAt"), f.pushed_at)),
    "vulnerablePackages": Field("package", lambda f: f.packages if f.details("vulnerablePackages") else ()),
}

# SortCriteria.field -> the value findings are ordered by (None: absent, ordered lowest).
FINDING_SORT: Mapping[str, Callable[[_Finding], Any]] = {
    "AWS_ACCOUNT_ID": lambda f: f.account,
    "FINDING_TYPE": lambda f: "PACKAGE_VULNERABILITY",
    "SEVERITY": lambda f: SEVERITY_RANK[f.severity],
    "FIRST_OBSERVED_AT": lambda f: f.first_observed_at,
    "LAST_OBSERVED_AT": lambda f: f.last_observed_at,
    "FINDING_STATUS": lambda f: f.status,
    "RESOURCE_TYPE": lambda f: "AWS_ECR_CONTAINER_IMAGE",
    "ECR_IMAGE_PUSHED_AT": lambda f: f.pushed_at if f.has("awsEcrContainerImage.pushedAt") else None,
    "ECR_IMAGE_REPOSITORY_NAME": lambda f: f.repository,
    "ECR_IMAGE_REGISTRY": lambda f: f.account,
    "NETWORK_PROTOCOL": lambda f: None,  # network reachability findings only
    "COMPONENT_TYPE": lambda f: None,
    "VULNERABILITY_ID": lambda f: f.vulnerability_id if f.details("vulnerabilityId") else None,
    "VULNERABILITY_SOURCE": lambda f: f.source if f.details("source") else None,
    "INSPECTOR_SCORE": lambda f: f.inspector_score if f.has("inspectorScore") else None,
    "VENDOR_SEVERITY": lambda f: f.vendor_severity if f.details("vendorSeverity") else None,
    "EPSS_SCORE": lambda f: f.epss if f.has("epss") else None,
}

# CoverageFilterCriteria members this simulator answers.
COVERAGE_FIELDS: Mapping[str, Field] = {
    "scanStatusCode": Field("string", lambda c: _value(c.has_scan_status, c.status_code)),
    "scanStatusReason": Field("string", lambda c: _value(c.has_scan_status, c.reason)),
    "accountId": Field("string", lambda c: (c.account,)),
    "resourceId": Field("string", lambda c: (c.resource_id,)),
    "resourceType": Field("string", lambda c: (c.resource_type,)),
    "scanType": Field("string", lambda c: ("PACKAGE",)),
    "ecrRepositoryName": Field("string", lambda c: (c.repository,)),
    "ecrImageTags": Field("string", lambda c: c.tags),
    "lastScannedAt": Field("date", lambda c: _value(True, c.last_scanned_at)),
    "imagePulledAt": Field("date", lambda c: _value(True, c.image_pulled_at)),
}

# ListCoverageStatistics groupBy -> the group a record counts in (PROVIDER_ORG_ID is not simulated).
COVERAGE_GROUPS: Mapping[str, Callable[[_Coverage], str | None]] = {
    "SCAN_STATUS_CODE": lambda c: c.status_code if c.has_scan_status else None,
    "SCAN_STATUS_REASON": lambda c: c.reason if c.has_scan_status else None,
    "ACCOUNT_ID": lambda c: c.account,
    "RESOURCE_TYPE": lambda c: c.resource_type,
    "ECR_REPOSITORY_NAME": lambda c: c.repository,
    "PROVIDER": lambda c: "AWS",
    "PROVIDER_ACCOUNT_ID": lambda c: c.account,
    "PROVIDER_REGION": lambda c: c.region,
}


class _Sequenced(Protocol):
    seq: int


R = TypeVar("R", bound=_Sequenced)


class Inspector2Sim:
    """Inspector2 operations served from our own store (see the module docstring)."""

    service = "inspector2"
    operations = frozenset(
        {
            "Enable",
            "Disable",
            "BatchGetAccountStatus",
            "GetConfiguration",
            "UpdateConfiguration",
            "ListFindings",
            "ListCoverage",
            "ListCoverageStatistics",
            "BatchGetFindingDetails",
            "ListAccountPermissions",
        }
    )

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._seq = count()
        self._accounts: dict[tuple[str, str], _Account] = {}  # (region, account) -> state
        self._regions: dict[str, _Region] = {}
        # region -> (delegated administrator, its members; None: every other account)
        self._admins: dict[str, tuple[str, frozenset[str] | None]] = {}
        self._caller = threading.local()  # the account the request being served acts in
        # (region, member) allowed to activate its own scan types; other members may not (see _member_rules)
        self._self_enable: set[tuple[str, str]] = set()
        self.enable_after_polls = 1
        self.disable_after_polls = 1
        self.ecr_defaults: dict[str, str] = dict(ECR_DEFAULTS)
        self.findings_page_limit = FINDINGS_PAGE_LIMIT
        self._intel: dict[str, VulnerabilityIntel] = {}  # vulnerability id -> intelligence, every region
        # Told (region, account, status) when ECR scanning settles at ENABLED or DISABLED: the registry's side
        # of the switch (see `sim.registry_scanning`). Wiring, not state: reset() keeps it.
        self._ecr_settled: list[Callable[[str, str, str], None]] = []

    def on_ecr_settled(self, listener: Callable[[str, str, str], None]) -> None:
        """Call `listener(region, account, status)` whenever ECR scanning reaches ENABLED or DISABLED through a
        transition (Enable, Disable, or the registry's scan type being written); seeding does not call it."""
        self._ecr_settled.append(listener)

    def switch_ecr(self, region: str, account: str, *, enable: bool) -> None:
        """Start activating (or deactivating) ECR scanning as Enable (or Disable) would: what writing the
        registry's scan type ENHANCED (or BASIC) does on AWS."""
        with self._lock:
            self._start_transition(region, account, self._account(region, account), "ecr", enable=enable)

    def reset(self) -> None:
        """Forget every account, finding and coverage record, and restore the settings' defaults."""
        with self._lock:
            self._accounts.clear()
            self._regions.clear()
            self._admins.clear()
            self._self_enable.clear()
            self.enable_after_polls = 1
            self.disable_after_polls = 1
            self.ecr_defaults = dict(ECR_DEFAULTS)
            self.findings_page_limit = FINDINGS_PAGE_LIMIT
            self._intel.clear()

    # --- seeding: account and configuration ---

    def set_delegated_admin(self, region: str, admin: str, members: Iterable[str] | None = None) -> None:
        """Make `admin` Inspector's delegated administrator in `region`: it sees (and manages) its members'
        findings and coverage, as each member sees its own. `members` None: every other account."""
        with self._lock:
            self._admins[region] = (admin, None if members is None else frozenset(members))

    def allow_member_self_enable(self, region: str, account: str) -> None:
        """Let member `account` activate scan types for itself in `region` (ListAccountPermissions'
        ENABLE_SCANNING): what an administrator's organisation may allow. A member never may deactivate."""
        with self._lock:
            self._self_enable.add((region, account))

    def administrator_of(self, region: str, account: str) -> str | None:
        """The delegated administrator managing `account` in `region`, or None for a standalone account (and
        for the administrator itself)."""
        admin, members = self._admins.get(region, ("", frozenset()))
        if not admin or account == admin:
            return None
        return admin if members is None or account in members else None

    def set_account_status(
        self,
        region: str,
        *,
        account: str = ACCOUNT_ID,
        ecr: str | None = None,
        ec2: str | None = None,
        lambda_: str | None = None,
        lambda_code: str | None = None,
        code_repository: str | None = None,
    ) -> None:
        """Set resource-type statuses directly (no transition): `set_account_status("us-east-1", ecr="ENABLED")`."""
        wanted = {
            "ecr": ecr,
            "ec2": ec2,
            "lambda": lambda_,
            "lambdaCode": lambda_code,
            "codeRepository": code_repository,
        }
        statuses = enum("Status")
        for key, status in wanted.items():
            if status is not None and status not in statuses:
                raise ValueError(f"{key} status {status!r} is not one of {sorted(statuses)}")
        with self._lock:
            state = self._account(region, account)
            for key, status in wanted.items():
                if status is not None:
                    state.status[key] = status
                    state.polls.pop(key, None)

    def ecr_status(self, region: str, account: str = ACCOUNT_ID) -> str:
        with self._lock:
            return self._account(region, account).status["ecr"]

    def set_ecr_configuration(
        self,
        region: str,
        *,
        account: str = ACCOUNT_ID,
        rescan_duration: str,
        pull_date_rescan_duration: str | None = None,
        pull_date_rescan_mode: str | None = None,
    ) -> None:
        """Seed the ECR rescan durations as if UpdateConfiguration had set them."""
        wanted = {
            "rescanDuration": rescan_duration,
            "pullDateRescanDuration": pull_date_rescan_duration,
            "pullDateRescanMode": pull_date_rescan_mode,
        }
        check_shape("EcrConfiguration", {k: v for k, v in wanted.items() if v is not None})
        with self._lock:
            self._set_ecr_config(self._account(region, account), wanted)

    def ecr_configuration(self, region: str, account: str = ACCOUNT_ID) -> dict[str, str]:
        """The effective ECR rescan durations (the defaults where never set)."""
        with self._lock:
            return self._ecr_config(self._account(region, account))

    # --- seeding: findings and coverage ---

    def add_finding(
        self,
        region: str,
        *,
        repository: str,
        digest: str,
        vulnerability_id: str,
        severity: str,
        account: str = ACCOUNT_ID,
        status: str = "ACTIVE",
        tags: Sequence[str] = (),
        architecture: str = "amd64",
        platform: str = "DEBIAN_12",
        title: str | None = None,
        description: str | None = None,
        inspector_score: float | None = None,
        epss: float | None = None,
        fix_available: str = "YES",
        exploit_available: str = "NO",
        packages: Sequence[Package] | None = None,
        source: str = "NVD",
        vendor_severity: str | None = None,
        related_vulnerabilities: Sequence[str] = (),
        first_observed_at: datetime | None = None,
        last_observed_at: datetime | None = None,
        updated_at: datetime | None = None,
        pushed_at: datetime | None = None,
        omit: Sequence[str] = (),
    ) -> str:
        """Seed one finding (the arguments are FindingSpec's); returns its ARN."""
        spec = FindingSpec(
            repository=repository,
            digest=digest,
            vulnerability_id=vulnerability_id,
            severity=severity,
            account=account,
            status=status,
            tags=tags,
            architecture=architecture,
            platform=platform,
            title=title,
            description=description,
            inspector_score=inspector_score,
            epss=epss,
            fix_available=fix_available,
            exploit_available=exploit_available,
            packages=packages,
            source=source,
            vendor_severity=vendor_severity,
            related_vulnerabilities=related_vulnerabilities,
            first_observed_at=first_observed_at,
            last_observed_at=last_observed_at,
            updated_at=updated_at,
            pushed_at=pushed_at,
            omit=omit,
        )
        return self.add_findings(region, [spec])[0]

    def add_findings(self, region: str, specs: Iterable[FindingSpec]) -> list[str]:
        """Seed many findings at once (all or none: each is checked before any is stored); returns their ARNs."""
        now = time.time()
        built: list[_Finding] = []
        # Hundreds of thousands of new objects would set off the cyclic collector again and again, each
        # time walking the whole heap; these hold no cycles.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._add(region, specs, now, built)
        finally:
            if collecting:
                gc.enable()
        return [finding.arn for finding in built]

    def _add(self, region: str, specs: Iterable[FindingSpec], now: float, built: list[_Finding]) -> None:
        with self._lock:
            store = self._regions.setdefault(region, _Region())
            # The ARN derives from (region, account, repository, digest, vulnerability): one finding per
            # vulnerability in an image, as Inspector has.
            batch: set[str] = set()
            defaults = _Defaults(now)
            for spec in specs:
                finding = _build_finding(region, spec, next(self._seq), defaults)
                if finding.arn in store.by_arn or finding.arn in batch:
                    image = f"{finding.repository}@{finding.digest}"
                    raise ValueError(f"a finding for {finding.vulnerability_id} on {image} already exists")
                batch.add(finding.arn)
                built.append(finding)
            for finding in built:
                store.findings.append(finding)
                store.by_hash.setdefault(finding.digest, []).append(finding)
                store.by_arn[finding.arn] = finding
                if finding.resource_id() not in store.coverage_by_id:
                    self._cover_image(
                        store,
                        region,
                        finding.account,
                        finding.repository,
                        finding.digest,
                        tags=finding.tags,
                        status_code="ACTIVE",
                        reason="SUCCESSFUL",
                        scan_frequency="CONTINUOUS_SCAN",
                        last_scanned_at=finding.last_observed_at,
                        image_pulled_at=None,
                        set_repository=False,
                    )

    def set_vulnerability_intel(self, vulnerability_id: str, intel: VulnerabilityIntel) -> None:
        """What BatchGetFindingDetails says about every finding of `vulnerability_id` (KEV listing, observed
        exploitation); checked against the model's limits as AWS would hold them."""
        if intel.kev_added is None and (intel.kev_due is not None or intel.kev_action is not None):
            raise ValueError("a KEV due date or action needs kev_added: CISA lists a vulnerability on a date")
        if any(len(t) > 30 for t in intel.ttps):
            raise ValueError("a TTP is at most 30 characters (Ttp)")
        if len(intel.reference_urls) > 100:
            raise ValueError("at most 100 reference URLs (VulnerabilityReferenceUrls)")
        with self._lock:
            self._intel[vulnerability_id] = intel

    def set_finding_status(self, arn: str, status: str) -> None:
        """Change a seeded finding's status (ACTIVE, SUPPRESSED, CLOSED), as Inspector does over time."""
        if status not in enum("FindingStatus"):
            raise ValueError(f"finding status {status!r} is not one of {sorted(enum('FindingStatus'))}")
        with self._lock:
            for store in self._regions.values():
                finding = store.by_arn.get(arn)
                if finding is not None:
                    finding.status = status
                    finding.updated_at = time.time()
                    return
        raise KeyError(f"no finding {arn}")

    def set_coverage(
        self,
        region: str,
        *,
        repository: str,
        digest: str,
        status_code: str = "ACTIVE",
        reason: str = "SUCCESSFUL",
        tags: Sequence[str] = (),
        account: str = ACCOUNT_ID,
        scan_frequency: str = "CONTINUOUS_SCAN",
        last_scanned_at: datetime | None = None,
        image_pulled_at: datetime | None = None,
        scan_status: bool = True,
    ) -> str:
        """Seed (or replace) the coverage record of an image, and its repository's; returns the resourceId.

        lastScannedAt defaults to now, except for an image never scanned (pending initial scan, manual scan
        frequency, no scan configuration), which has none. `scan_status=False` leaves `scanStatus` out of the
        record (the model makes it optional), so a caller's handling of its absence can be tested.
        """
        _check_image(region, account, repository, digest, tags)
        for value, shape in ((status_code, "ScanStatusCode"), (reason, "ScanStatusReason")):
            if value not in enum(shape):
                raise ValueError(f"{shape} {value!r} is not one of {sorted(enum(shape))}")
        if scan_frequency not in enum("EcrScanFrequency"):
            raise ValueError(f"scan frequency {scan_frequency!r} is not one of {sorted(enum('EcrScanFrequency'))}")
        if last_scanned_at is not None:
            scanned: float | None = epoch(last_scanned_at)
        else:
            scanned = None if reason in _NEVER_SCANNED else time.time()
        with self._lock:
            store = self._regions.setdefault(region, _Region())
            return self._cover_image(
                store,
                region,
                account,
                repository,
                digest,
                tags=tuple(tags),
                status_code=status_code,
                reason=reason,
                scan_frequency=scan_frequency,
                last_scanned_at=scanned,
                image_pulled_at=epoch(image_pulled_at) if image_pulled_at else None,
                set_repository=True,
                has_scan_status=scan_status,
            )

    def _cover_image(
        self,
        store: _Region,
        region: str,
        account: str,
        repository: str,
        digest: str,
        *,
        tags: tuple[str, ...],
        status_code: str,
        reason: str,
        scan_frequency: str,
        last_scanned_at: float | None,
        image_pulled_at: float | None,
        set_repository: bool,
        has_scan_status: bool = True,
    ) -> str:
        resource_id = image_resource_id(region, account, repository, digest)
        record = store.coverage_by_id.get(resource_id)
        seq = record.seq if record else next(self._seq)  # a replaced record keeps its place in listings
        record = _Coverage(
            seq,
            region,
            account,
            "AWS_ECR_CONTAINER_IMAGE",
            resource_id,
            repository,
            tags,
            status_code,
            reason,
            scan_frequency,
            last_scanned_at,
            image_pulled_at,
            has_scan_status,
        )
        self._put_coverage(store, record)
        # The repository's record says how the repository is scanned: set_coverage decides (the last call
        # wins); a finding only creates it where it is missing.
        repo_id = repository_resource_id(region, account, repository)
        existing = store.coverage_by_id.get(repo_id)
        if existing is not None and not set_repository:
            return resource_id
        manual = scan_frequency == "MANUAL"
        repo = _Coverage(
            existing.seq if existing else next(self._seq),
            region,
            account,
            "AWS_ECR_REPOSITORY",
            repo_id,
            repository,
            (),
            "INACTIVE" if manual else "ACTIVE",
            "SCAN_FREQUENCY_MANUAL" if manual else "SUCCESSFUL",
            scan_frequency,
            None if manual else (last_scanned_at or time.time()),
            None,
        )
        self._put_coverage(store, repo)
        return resource_id

    @staticmethod
    def _put_coverage(store: _Region, record: _Coverage) -> None:
        if record.resource_id in store.coverage_by_id:
            index = bisect_right(store.coverage, record.seq, key=lambda c: c.seq) - 1
            store.coverage[index] = record
        else:
            store.coverage.append(record)
        store.coverage_by_id[record.resource_id] = record

    # --- the service ---

    def handle(self, request: SimRequest) -> SimResponse:
        try:
            params = parse_request(request)
            self._caller.account = request.account
            payload = getattr(self, "_op_" + _snake(request.operation))(request.region, params)
        except ValidationError as exc:
            return exc.response()
        return SimResponse.json(payload)

    def _account(self, region: str, account: str) -> _Account:
        state = self._accounts.get((region, account))
        if state is None:
            state = self._accounts[(region, account)] = _Account()
        return state

    def _caller_account(self) -> str:
        return str(getattr(self._caller, "account", ACCOUNT_ID))

    def _visible(self, region: str) -> Callable[[str], bool]:
        """Whose findings and coverage the caller sees in `region`: its own, and its members' where it is
        the delegated administrator."""
        caller = self._caller_account()
        admin, members = self._admins.get(region, ("", frozenset()))
        if caller != admin:
            return lambda account: account == caller
        if members is None:
            return lambda _account: True
        return lambda account: account == caller or account in members

    def _known(self, region: str, account: str) -> bool:
        """The caller's own account, and a member account it administers that a test seeded."""
        return account == self._caller_account() or (
            (region, account) in self._accounts and self._visible(region)(account)
        )

    # --- Enable, Disable, BatchGetAccountStatus ---

    def _op_enable(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        keys = [RESOURCE_KEYS[t] for t in params["resourceTypes"]]
        return self._toggle(region, params.get("accountIds") or [self._caller_account()], keys, enable=True)

    def _op_disable(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # Without resourceTypes, Disable turns Inspector off for every resource type.
        keys = [RESOURCE_KEYS[t] for t in params.get("resourceTypes") or RESOURCE_KEYS]
        return self._toggle(region, params.get("accountIds") or [self._caller_account()], keys, enable=False)

    def _member_rules(self, region: str, account_ids: list[str], *, enable: bool) -> None:
        """What Inspector refuses a member: deactivating itself (its administrator manages its scan types;
        Inspector's guide: "If your account is a member account ... you cannot deactivate Amazon
        Inspector"; AWS answers 403 "Member account ... is not authorized to disable itself."), and
        activating itself unless its organisation allows it (ListAccountPermissions' ENABLE_SCANNING)."""
        caller = self._caller_account()
        if self.administrator_of(region, caller) is None or caller not in account_ids:
            return
        if not enable:
            raise SimError(
                "AccessDeniedException", f"Member account {caller} is not authorized to disable itself.", 403
            )
        if (region, caller) not in self._self_enable:
            raise SimError("AccessDeniedException", f"Member account {caller} is not authorized to enable itself.", 403)

    def _toggle(self, region: str, account_ids: list[str], keys: list[str], *, enable: bool) -> dict[str, Any]:
        accounts, failed = [], []
        self._member_rules(region, account_ids, enable=enable)
        with self._lock:
            for account in dict.fromkeys(account_ids):
                if not self._known(region, account):
                    failed.append(_failed(account, "ACCESS_DENIED", "The account is not a member of your organization"))
                    continue
                state = self._account(region, account)
                blocked = [k for k in keys if state.status[k] == ("DISABLING" if enable else "ENABLING")]
                if blocked:
                    code = "DISABLE_IN_PROGRESS" if enable else "ENABLE_IN_PROGRESS"
                    failed.append({**_failed(account, code, f"{blocked[0]} is changing state"), **_status(state)})
                    continue
                for key in keys:
                    self._start_transition(region, account, state, key, enable=enable)
                accounts.append({"accountId": account, **_status(state)})
        response: dict[str, Any] = {"accounts": accounts}
        if failed:
            response["failedAccounts"] = failed
        return response

    def _start_transition(self, region: str, account: str, state: _Account, key: str, *, enable: bool) -> None:
        current = state.status[key]
        if current in (("ENABLED", "ENABLING") if enable else ("DISABLED", "DISABLING")):
            return
        polls = self.enable_after_polls if enable else self.disable_after_polls
        if polls <= 0:
            self._finish(region, account, state, key, "ENABLED" if enable else "DISABLED")
        else:
            state.status[key] = "ENABLING" if enable else "DISABLING"
            state.polls[key] = 0

    def _finish(self, region: str, account: str, state: _Account, key: str, status: str) -> None:
        state.status[key] = status
        state.polls.pop(key, None)
        if key == "ecr" and status == "DISABLED":
            self._forget_ecr(region, account)
        if key == "ecr":
            for listener in self._ecr_settled:
                listener(region, account, status)

    def _forget_ecr(self, region: str, account: str) -> None:
        """Inspector deletes an account's ECR findings and coverage when ECR scanning is deactivated."""
        store = self._regions.get(region)
        if store is None:
            return
        kept = _Region()
        for finding in store.findings:
            if finding.account != account:
                kept.findings.append(finding)
                kept.by_hash.setdefault(finding.digest, []).append(finding)
                kept.by_arn[finding.arn] = finding
        for record in store.coverage:
            if record.account != account:
                kept.coverage.append(record)
                kept.coverage_by_id[record.resource_id] = record
        self._regions[region] = kept

    def _op_batch_get_account_status(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        accounts, failed = [], []
        with self._lock:
            for account in dict.fromkeys(params.get("accountIds") or [self._caller_account()]):
                if not self._known(region, account):
                    failed.append(_failed(account, "ACCESS_DENIED", "The account is not a member of your organization"))
                    continue
                state = self._account(region, account)
                accounts.append(
                    {
                        "accountId": account,
                        "state": {"status": state.overall()},
                        "resourceState": {key: {"status": status} for key, status in state.status.items()},
                    }
                )
                self._advance(region, account, state)
        response: dict[str, Any] = {"accounts": accounts}
        if failed:
            response["failedAccounts"] = failed
        return response

    def _advance(self, region: str, account: str, state: _Account) -> None:
        """One more status poll has seen each transition in progress: complete those that are due."""
        for key in list(state.polls):
            state.polls[key] += 1
            enabling = state.status[key] == "ENABLING"
            due = self.enable_after_polls if enabling else self.disable_after_polls
            if state.polls[key] >= due:
                self._finish(region, account, state, key, "ENABLED" if enabling else "DISABLED")

    # --- GetConfiguration, UpdateConfiguration ---

    def _op_list_account_permissions(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """What the caller may configure: everything for a standalone account or the administrator; for a
        member, at most activating its own scan types, where allowed (never deactivating them)."""
        caller = self._caller_account()
        services = [params["service"]] if params.get("service") else sorted(enum("Service"))
        if self.administrator_of(region, caller) is None:
            operations = sorted(enum("Operation"))
        else:
            with self._lock:
                operations = ["ENABLE_SCANNING"] if (region, caller) in self._self_enable else []
        permissions = [{"operation": op, "service": svc} for svc in services for op in operations]
        start = int(params.get("nextToken") or 0)
        limit = params.get("maxResults") or len(permissions) or 1
        response: dict[str, Any] = {"permissions": permissions[start : start + limit]}
        if start + limit < len(permissions):
            response["nextToken"] = str(start + limit)
        return response

    def _op_get_configuration(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            state = self._configured_account(region, params)
            rescan = {**self._ecr_config(state), "status": "SUCCESS", "updatedAt": state.ecr_config_updated_at}
            return {
                "ecrConfiguration": {"rescanDurationState": rescan},
                "ec2Configuration": {"scanModeState": {"scanMode": state.ec2_scan_mode, "scanModeStatus": "SUCCESS"}},
            }

    def _op_update_configuration(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        for unsupported in ("amiConfiguration", "updateConfigurationInheritance"):
            if unsupported in params:
                raise invalid(unsupported, f"{unsupported} is not supported by the Inspector2 simulator")
        if "ecrConfiguration" not in params and "ec2Configuration" not in params:
            raise invalid("ecrConfiguration", "At least one configuration must be given")
        caller = self._caller_account()
        if self.administrator_of(region, caller) is not None:
            # botocore's model: "Only the delegated administrator can specify an accountId; member accounts
            # cannot call this operation."
            raise SimError(
                "AccessDeniedException",
                f"Member account {caller} cannot update the configuration; its delegated administrator does",
                403,
            )
        with self._lock:
            state = self._configured_account(region, params)
            if "ecrConfiguration" in params:
                self._set_ecr_config(state, params["ecrConfiguration"])
            if "ec2Configuration" in params:
                state.ec2_scan_mode = params["ec2Configuration"]["scanMode"]
        return {}

    def _configured_account(self, region: str, params: dict[str, Any]) -> _Account:
        account = params.get("accountId") or self._caller_account()
        if "accountId" in params and self._caller_account() != account:
            admin = self.administrator_of(region, account)
            if admin != self._caller_account():
                raise SimError("AccessDeniedException", f"You do not have access to account {account}", 403)
        if not self._known(region, account):
            raise SimError("AccessDeniedException", f"You do not have access to account {account}", 403)
        return self._account(region, account)

    def _ecr_config(self, state: _Account) -> dict[str, str]:
        return {**self.ecr_defaults, **state.ecr_config}

    def _set_ecr_config(self, state: _Account, given: Mapping[str, str | None]) -> None:
        # Members left out keep their current values (the pull-date settings are optional in the request).
        for key in ECR_DEFAULTS:
            value = given.get(key)
            if value is not None:
                state.ecr_config[key] = value
        state.ecr_config_updated_at = time.time()

    # --- ListFindings ---

    def _op_list_findings(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        criteria = params.get("filterCriteria") or {}
        predicates = compile_criteria(criteria, FINDING_FIELDS, "filterCriteria", "FilterCriteria")
        sort = params.get("sortCriteria")
        query = fingerprint("ListFindings", criteria, sort)
        after = decode_token(params.get("nextToken"), query)
        limit = min(params.get("maxResults") or self.findings_page_limit, self.findings_page_limit)
        sort_key = _finding_sort_key(sort["field"]) if sort else None
        with self._lock:
            store = self._regions.get(region) or _Region()
            visible = self._visible(region)
            candidates = _finding_candidates(store, criteria)
            descending = bool(sort and sort["sortOrder"] == "DESC")
            mine = [lambda f: visible(f.account), *predicates]
            page, last = _page(candidates, mine, sort_key, descending, after, limit)
            response: dict[str, Any] = {"findings": [_render_finding(f) for f in page]}
        if last is not None:
            response["nextToken"] = encode_token(query, last)
        return response

    # --- BatchGetFindingDetails ---

    def _op_batch_get_finding_details(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        # The model bounds findingArns to 1-10 ARNs of its pattern (parse_request refused anything else).
        # An ARN this region has no finding for is an `errors` entry, the call itself succeeds.
        details: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self._lock:
            store = self._regions.get(region) or _Region()
            visible = self._visible(region)
            for arn in dict.fromkeys(params["findingArns"]):
                finding = store.by_arn.get(arn)
                if finding is None or not visible(finding.account):  # another account's: not the caller's to see
                    errors.append(
                        {
                            "findingArn": arn,
                            "errorCode": "FINDING_DETAILS_NOT_FOUND",
                            "errorMessage": "Finding details could not be found for the finding ARN.",
                        }
                    )
                else:
                    details.append(_render_detail(finding, self._intel.get(finding.vulnerability_id)))
        return {"findingDetails": details, "errors": errors}

    # --- ListCoverage, ListCoverageStatistics ---

    def _op_list_coverage(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        criteria = params.get("filterCriteria") or {}
        predicates = compile_criteria(criteria, COVERAGE_FIELDS, "filterCriteria", "CoverageFilterCriteria")
        query = fingerprint("ListCoverage", criteria)
        after = decode_token(params.get("nextToken"), query)
        with self._lock:
            store = self._regions.get(region) or _Region()
            visible = self._visible(region)
            candidates = _coverage_candidates(store, criteria)
            limit = params.get("maxResults") or COVERAGE_DEFAULT_PAGE
            mine = [lambda c: visible(c.account), *predicates]
            page, last = _page(candidates, mine, None, False, after, limit)
            response: dict[str, Any] = {"coveredResources": [_render_coverage(c) for c in page]}
        if last is not None:
            response["nextToken"] = encode_token(query, last)
        return response

    def _op_list_coverage_statistics(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        criteria = params.get("filterCriteria") or {}
        predicates = compile_criteria(criteria, COVERAGE_FIELDS, "filterCriteria", "CoverageFilterCriteria")
        group_by = params.get("groupBy")
        if group_by is not None and group_by not in COVERAGE_GROUPS:
            raise invalid("groupBy", f"groupBy {group_by} is not supported by the Inspector2 simulator")
        query = fingerprint("ListCoverageStatistics", criteria, group_by)
        after = decode_token(params.get("nextToken"), query)
        with self._lock:
            store = self._regions.get(region) or _Region()
            visible = self._visible(region)
            matched = [
                c for c in _coverage_candidates(store, criteria) if visible(c.account) and all(p(c) for p in predicates)
            ]
        response: dict[str, Any] = {"totalCounts": len(matched)}
        if group_by is None:
            return response
        counts: dict[str, int] = {}
        for record in matched:
            key = COVERAGE_GROUPS[group_by](record)
            if key is not None:  # a record without a scan status is in no status group
                counts[key] = counts.get(key, 0) + 1
        # Largest groups first; the key (-count, group) also says where the next page resumes.
        ordered = sorted((-n, group) for group, n in counts.items())
        if after is not None:
            ordered = [key for key in ordered if key > after]
        page = ordered[:STATISTICS_PAGE]
        response["countsByGroup"] = [{"groupKey": group, "count": -negative} for negative, group in page]
        if len(ordered) > STATISTICS_PAGE:
            response["nextToken"] = encode_token(query, page[-1])
        return response


# --- building and rendering ---


class _Defaults:
    """Times a seeded finding gets when it names none: computed once a batch, and shared (memory)."""

    def __init__(self, now: float) -> None:
        self.last = now
        self.first = now - 3 * 86400
        self.pushed = self.first - 86400


def _build_finding(region: str, spec: FindingSpec, seq: int, defaults: _Defaults) -> _Finding:
    if isinstance(spec.tags, str):
        raise ValueError(f"tags {spec.tags!r} must be a sequence of tags, not one string")
    tags = tuple(spec.tags)
    _check_image(region, spec.account, spec.repository, spec.digest, tags)
    for value, shape in (
        (spec.severity, "Severity"),
        (spec.status, "FindingStatus"),
        (spec.fix_available, "FixAvailable"),
        (spec.exploit_available, "ExploitAvailable"),
    ):
        if value not in enum(shape):
            raise ValueError(f"{shape} {value!r} is not one of {sorted(enum(shape))}")
    if not 1 <= len(spec.vulnerability_id) <= 128:
        raise ValueError(f"vulnerability id {spec.vulnerability_id!r} must be 1 to 128 characters")
    if spec.inspector_score is not None and not 0.0 <= spec.inspector_score <= 10.0:
        raise ValueError(f"inspector score {spec.inspector_score} is outside 0-10")
    if spec.epss is not None and not 0.0 <= spec.epss <= 1.0:
        raise ValueError(f"EPSS score {spec.epss} is outside 0-1")
    unknown = set(spec.omit) - OMITTABLE
    if unknown:
        raise ValueError(f"cannot omit {sorted(unknown)}: only optional members can be ({sorted(OMITTABLE)})")
    packages = tuple(spec.packages) if spec.packages is not None else (_default_package(spec.fix_available),)
    managers = enum("PackageManager")
    for package in packages:
        if not package.name or not package.version or package.package_manager not in managers:
            raise ValueError(f"package {package} needs a name, a version and a package manager in {sorted(managers)}")
    for text, what in ((spec.title, "title"), (spec.description, "description")):
        if text is not None and not 1 <= len(text) <= 1024:
            raise ValueError(f"{what} must be 1 to 1024 characters")
    first = epoch(spec.first_observed_at) if spec.first_observed_at else defaults.first
    last = epoch(spec.last_observed_at) if spec.last_observed_at else max(defaults.last, first)
    score = spec.inspector_score if spec.inspector_score is not None else DEFAULT_SCORES.get(spec.severity)
    identity = f"{region}|{spec.account}|{spec.repository}|{spec.digest}|{spec.vulnerability_id}"
    finding_id = hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()
    return _Finding(
        seq=seq,
        arn=f"arn:{partition(region)}:inspector2:{region}:{spec.account}:finding/{finding_id}",
        region=region,
        account=spec.account,
        repository=spec.repository,
        digest=spec.digest,
        tags=tags,
        architecture=spec.architecture,
        platform=spec.platform,
        pushed_at=epoch(spec.pushed_at)
        if spec.pushed_at
        else (first - 86400 if spec.first_observed_at else defaults.pushed),
        vulnerability_id=spec.vulnerability_id,
        severity=spec.severity,
        status=spec.status,
        title_given=spec.title,
        description_given=spec.description,
        inspector_score=score,
        epss=spec.epss,
        fix_available=spec.fix_available,
        exploit_available=spec.exploit_available,
        packages=packages,
        source=spec.source,
        vendor_severity=spec.vendor_severity or (spec.severity if spec.severity in DEFAULT_SCORES else None),
        related=tuple(spec.related_vulnerabilities),
        first_observed_at=first,
        last_observed_at=last,
        updated_at=epoch(spec.updated_at) if spec.updated_at else last,
        omit=frozenset(spec.omit) if spec.omit else _NOTHING,
    )


_NOTHING: frozenset[str] = frozenset()
_DEFAULT_PACKAGES = {
    fix: Package("openssl", "3.0.8-r0", "3.0.13-r0" if fix != "NO" else "NotAvailable", arch="x86_64", epoch=0)
    for fix in ("YES", "NO", "PARTIAL")
}


def _default_package(fix_available: str) -> Package:
    return _DEFAULT_PACKAGES.get(fix_available, _DEFAULT_PACKAGES["YES"])


def _check_image(region: str, account: str, repository: str, digest: str, tags: Sequence[str]) -> None:
    if not _REGION.match(region):
        raise ValueError(f"region {region!r} is not an AWS region name")
    if not _ACCOUNT.match(account):
        raise ValueError(f"account {account!r} is not 12 digits")
    if not (2 <= len(repository) <= 256 and _REPOSITORY.match(repository)):
        raise ValueError(f"repository {repository!r} is not a valid ECR repository name")
    if not _DIGEST.match(digest):
        raise ValueError(f"digest {digest!r} is not sha256: and 64 lower-case hex digits")
    if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):  # a str is a sequence too
        raise ValueError(f"tags {tags!r} must be a sequence of non-empty strings")


def _render_finding(f: _Finding) -> dict[str, Any]:
    image: dict[str, Any] = {
        "registry": f.account,
        "repositoryName": f.repository,
        "imageHash": f.digest,
        "architecture": f.architecture,
        "platform": f.platform,
        "pushedAt": f.pushed_at,
    }
    if f.tags:  # an untagged image has no imageTags
        image["imageTags"] = list(f.tags)
    resource = {
        "type": "AWS_ECR_CONTAINER_IMAGE",
        "id": f.resource_id(),
        "partition": partition(f.region),
        "region": f.region,
        "details": {"awsEcrContainerImage": _drop(image, f.omit, "awsEcrContainerImage.")},
    }
    details: dict[str, Any] = {
        "vulnerabilityId": f.vulnerability_id,
        "source": f.source,
        "vulnerablePackages": [p.to_json() for p in f.packages],
    }
    if f.source == "NVD" and f.vulnerability_id.startswith("CVE-"):
        details["sourceUrl"] = f"https://nvd.nist.gov/vuln/detail/{f.vulnerability_id}"
    if f.vendor_severity:
        details["vendorSeverity"] = f.vendor_severity
    if f.related:
        details["relatedVulnerabilities"] = list(f.related)
    if f.inspector_score is not None:
        details["cvss"] = [
            {"baseScore": f.inspector_score, "scoringVector": _CVSS_VECTOR, "version": "3.1", "source": f.source}
        ]
    finding: dict[str, Any] = {
        "findingArn": f.arn,
        "awsAccountId": f.account,
        "type": "PACKAGE_VULNERABILITY",
        "title": f.title,
        "description": f.description,
        "remediation": {"recommendation": {"text": "None Provided"}},
        "severity": f.severity,
        "status": f.status,
        "firstObservedAt": f.first_observed_at,
        "lastObservedAt": f.last_observed_at,
        "updatedAt": f.updated_at,
        "fixAvailable": f.fix_available,
        "exploitAvailable": f.exploit_available,
        "packageVulnerabilityDetails": _drop(details, f.omit, "packageVulnerabilityDetails."),
        "resources": [_drop(resource, f.omit, "resource.")],
    }
    if f.inspector_score is not None:
        finding["inspectorScore"] = f.inspector_score
        finding["inspectorScoreDetails"] = {
            "adjustedCvss": {
                "scoreSource": f.source,
                "version": "3.1",
                "score": f.inspector_score,
                "scoringVector": _CVSS_VECTOR,
                "adjustments": [],
            }
        }
    if f.epss is not None:
        finding["epss"] = {"score": f.epss}
    if f.exploit_available == "YES":
        finding["exploitabilityDetails"] = {"lastKnownExploitAt": f.last_observed_at}
    return _drop(finding, f.omit, "")


def _render_detail(f: _Finding, intel: VulnerabilityIntel | None) -> dict[str, Any]:
    """A FindingDetail: what Inspector knows of the finding's vulnerability. Members with nothing to say are
    left out, as AWS leaves them out (cisaData only for a vulnerability in CISA's KEV catalogue)."""
    detail: dict[str, Any] = {"findingArn": f.arn}
    if f.epss is not None:
        detail["epssScore"] = f.epss
    if intel is None:
        return detail
    if intel.kev_added is not None:
        cisa: dict[str, Any] = {"dateAdded": epoch(intel.kev_added)}
        if intel.kev_due is not None:
            cisa["dateDue"] = epoch(intel.kev_due)
        if intel.kev_action is not None:
            cisa["action"] = intel.kev_action
        detail["cisaData"] = cisa
    observed = {"firstSeen": intel.exploit_first_seen, "lastSeen": intel.exploit_last_seen}
    if any(observed.values()):
        detail["exploitObserved"] = {k: epoch(v) for k, v in observed.items() if v is not None}
    for member, values in (
        ("cwes", intel.cwes),
        ("referenceUrls", intel.reference_urls),
        ("ttps", intel.ttps),
        ("tools", intel.tools),
    ):
        if values:
            detail[member] = list(values)
    if intel.risk_score is not None:
        detail["riskScore"] = intel.risk_score
    return detail


def _drop(item: dict[str, Any], omit: frozenset[str], prefix: str) -> dict[str, Any]:
    if not omit:
        return item
    return {key: value for key, value in item.items() if prefix + key not in omit}


def _render_coverage(c: _Coverage) -> dict[str, Any]:
    metadata: dict[str, Any] = {"ecrRepository": {"name": c.repository, "scanFrequency": c.scan_frequency}}
    if c.resource_type == "AWS_ECR_CONTAINER_IMAGE":
        image: dict[str, Any] = {"tags": list(c.tags)}
        if c.image_pulled_at is not None:
            image["imagePulledAt"] = c.image_pulled_at
        metadata["ecrImage"] = image
    record: dict[str, Any] = {
        "resourceType": c.resource_type,
        "resourceId": c.resource_id,
        "accountId": c.account,
        "scanType": "PACKAGE",
        "resourceMetadata": metadata,
    }
    if c.has_scan_status:
        record["scanStatus"] = {"statusCode": c.status_code, "reason": c.reason}
    if c.last_scanned_at is not None:
        record["lastScannedAt"] = c.last_scanned_at
    return record


# --- querying and paging ---


def _finding_candidates(store: _Region, criteria: Mapping[str, Any]) -> Sequence[_Finding]:
    """The findings a query can match, in seq order, from an index where the filters allow one."""
    hashes = equals_values(criteria, "ecrImageHash")
    if hashes is None:
        ids = equals_values(criteria, "resourceId")
        hashes = [i.rpartition("/")[2] for i in ids] if ids is not None else None
    if hashes is not None:
        return _merge([store.by_hash.get(h, []) for h in dict.fromkeys(hashes)])
    arns = equals_values(criteria, "findingArn")
    if arns is not None:
        return _merge([[store.by_arn[a]] for a in dict.fromkeys(arns) if a in store.by_arn])
    return store.findings


def _coverage_candidates(store: _Region, criteria: Mapping[str, Any]) -> Sequence[_Coverage]:
    ids = equals_values(criteria, "resourceId")
    if ids is not None:
        return _merge([[store.coverage_by_id[i]] for i in dict.fromkeys(ids) if i in store.coverage_by_id])
    return store.coverage


def _merge(groups: list[list[R]]) -> list[R]:
    if len(groups) == 1:
        return groups[0]
    return sorted((item for group in groups for item in group), key=lambda item: item.seq)


def _finding_sort_key(name: str) -> Callable[[_Finding], tuple[Any, ...]]:
    value_of = FINDING_SORT[name]

    def key(finding: _Finding) -> tuple[Any, ...]:
        value = value_of(finding)
        return (0, "", finding.seq) if value is None else (1, value, finding.seq)

    return key


def _page(
    candidates: Sequence[R],
    predicates: list[Predicate],
    sort_key: Callable[[R], tuple[Any, ...]] | None,
    descending: bool,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[R], tuple[Any, ...] | None]:
    """Up to `limit` matches after the position `after`, and the position to resume from (None: no more)."""
    if sort_key is None:
        # In seq order: resume by bisection, then test lazily, so a page costs what it scans.
        start = 0 if after is None else bisect_right(candidates, after[0], key=lambda item: item.seq)
        page: list[R] = []
        for index in range(start, len(candidates)):
            item = candidates[index]
            if all(test(item) for test in predicates):
                if len(page) == limit:
                    return page, (page[-1].seq,)
                page.append(item)
        return page, None
    keyed = sorted(
        ((sort_key(item), item) for item in candidates if all(test(item) for test in predicates)),
        key=lambda pair: pair[0],
        reverse=descending,
    )
    if after is not None:
        keyed = [pair for pair in keyed if (pair[0] < after if descending else pair[0] > after)]
    if len(keyed) > limit:
        return [item for _, item in keyed[:limit]], keyed[limit - 1][0]
    return [item for _, item in keyed], None


def _status(state: _Account) -> dict[str, Any]:
    return {"status": state.overall(), "resourceStatus": dict(state.status)}


def _failed(account: str, code: str, message: str) -> dict[str, Any]:
    return {"accountId": account, "errorCode": code, "errorMessage": message}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
