"""Hand-built reports and their parts, for the formatter tests (and anyone else's).

Every builder takes keywords with defaults that make a plausible value, so a test spells out only what it
is about. `sample_report()` is the scenario the formatter tests share: ECS and Kubernetes workloads, a
digest, an index and a tag match, an unscanned non-ECR image, an unscanned ECR image, and errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ecrwatch.images import ecr_registry_host, parse_image_reference
from ecrwatch.models import (
    SEVERITIES,
    ClusterScope,
    ContainerType,
    Exposure,
    Filters,
    Finding,
    ImageEntry,
    ImageInfo,
    MatchedVia,
    MatchedWorkload,
    Owner,
    Package,
    Platform,
    Report,
    ScannedImage,
    Scope,
    SourceError,
    Summary,
    UnscannedEntry,
    UnscannedReason,
    Workload,
    severity_rank,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
GENERATED_AT = "2025-01-02T03:04:05Z"


def digest(seed: object) -> str:
    """A well-formed sha256 digest, the same for the same seed."""
    return "sha256:" + hashlib.sha256(str(seed).encode()).hexdigest()


def ecr_uri(
    repository: str, *, tag: str | None = None, digest: str | None = None, account: str = ACCOUNT, region: str = REGION
) -> str:
    uri = f"{ecr_registry_host(account, region)}/{repository}"
    if tag:
        uri += f":{tag}"
    if digest:
        uri += f"@{digest}"
    return uri


def ecs_workload(
    *,
    image_reference: str | None = None,
    running_digest: str | None = None,
    cluster: str = "prod",
    service: str | None = "api",
    task_id: str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    container: str = "app",
    launch_type: str | None = "FARGATE",
    account: str = ACCOUNT,
    region: str = REGION,
    task_group: str | None = None,
) -> Workload:
    reference = image_reference or ecr_uri("team/api", tag="v1", account=account, region=region)
    return Workload(
        platform="ecs",
        cluster=cluster,
        container=container,
        image_reference=reference,
        image=parse_image_reference(reference),
        running_digest=running_digest,
        account=account,
        region=region,
        container_type="app",
        task_arn=f"arn:aws:ecs:{region}:{account}:task/{cluster}/{task_id}",
        service=service,
        launch_type=launch_type,
        task_group=task_group if task_group is not None else (f"service:{service}" if service else None),
    )


def k8s_workload(
    *,
    image_reference: str | None = None,
    running_digest: str | None = None,
    platform: Platform = "eks",
    cluster: str = "payments",
    namespace: str = "default",
    pod: str = "api-7d9f8b6c5d-x2x7q",
    owner: Owner | None = None,
    container: str = "app",
    container_type: ContainerType = "app",
    account: str | None = ACCOUNT,
    region: str | None = REGION,
) -> Workload:
    reference = image_reference or ecr_uri("team/api", tag="v1")
    return Workload(
        platform=platform,
        cluster=cluster,
        container=container,
        image_reference=reference,
        image=parse_image_reference(reference),
        running_digest=running_digest,
        account=account,
        region=region,
        container_type=container_type,
        namespace=namespace,
        pod=pod,
        owner=owner,
    )


def image_info(
    repository: str,
    digest_: str | None,
    *,
    account: str | None = ACCOUNT,
    region: str | None = REGION,
    tags: Sequence[str] = ("v1",),
    platform: str | None = "linux/amd64",
    reference: str | None = None,
) -> ImageInfo:
    if reference is None:
        assert account and region, "an image outside ECR needs its reference spelled out"
        reference = ecr_uri(
            repository, digest=digest_, tag=None if digest_ else "latest", account=account, region=region
        )
    return ImageInfo(
        reference=reference,
        repository=repository,
        digest=digest_,
        registry=account,
        region=region,
        tags=tuple(tags),
        platform=platform,
    )


def finding(
    vulnerability_id: str,
    severity: str,
    image: ImageInfo,
    *,
    title: str | None = None,
    epss: float | None = None,
    score: float | None = None,
    fix_available: str | None = "YES",
    exploit_available: str | None = "NO",
    packages: Sequence[Package] = (),
) -> Finding:
    assert image.digest and image.registry and image.region
    return Finding(
        finding_arn=f"arn:aws:inspector2:{image.region}:{image.registry}:finding/"
        + hashlib.md5(f"{vulnerability_id}{image.digest}".encode()).hexdigest(),
        vulnerability_id=vulnerability_id,
        severity=severity,
        status="ACTIVE",
        image=ScannedImage(image.registry, image.region, image.repository, image.digest),
        title=title if title is not None else f"{vulnerability_id} - {packages[0].name if packages else 'x'}",
        inspector_score=score,
        epss_score=epss,
        fix_available=fix_available,
        exploit_available=exploit_available,
        packages=tuple(packages),
        first_observed_at="2024-12-01T00:00:00Z",
        last_observed_at="2025-01-01T00:00:00Z",
        image_tags=image.tags,
        architecture=(image.platform or "").rsplit("/", 1)[-1] or None,
    )


def matched(workload: Workload, via: MatchedVia | None) -> MatchedWorkload:
    return MatchedWorkload(workload, via)


def image_entry(image: ImageInfo, workloads: Sequence[MatchedWorkload], findings: Sequence[Finding]) -> ImageEntry:
    worst = min((f.severity for f in findings), key=severity_rank)
    return ImageEntry(image=image, workloads=tuple(workloads), exposures=len(findings), max_severity=worst)


def unscanned(
    image: ImageInfo, reason: UnscannedReason, detail: str | None, workloads: Sequence[MatchedWorkload]
) -> UnscannedEntry:
    return UnscannedEntry(image=image, reason=reason, detail=detail, workloads=tuple(workloads))


def make_report(
    *,
    images: Sequence[tuple[ImageEntry, Sequence[Finding]]] = (),
    unscanned_entries: Sequence[UnscannedEntry] = (),
    errors: Sequence[SourceError] = (),
    clusters: Sequence[ClusterScope] = (),
    filters: Filters | None = None,
    extra_containers: int = 0,
    regions: Sequence[str] = (REGION,),
) -> Report:
    """A Report whose summary agrees with its parts (exposures sorted as correlate sorts them)."""
    exposures: list[Exposure] = []
    for entry, findings in images:
        for f in findings:
            exposures.append(Exposure(finding=f, image=entry.image, workload_count=len(entry.workloads)))
    exposures.sort(
        key=lambda e: (
            severity_rank(e.finding.severity),
            -(e.finding.epss_score if e.finding.epss_score is not None else -1.0),
            -(e.finding.inspector_score if e.finding.inspector_score is not None else -1.0),
            e.finding.vulnerability_id,
        )
    )
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for e in exposures:
        by_severity[e.finding.severity] += 1
    containers = {id(m.workload) for entry, _ in images for m in entry.workloads}
    containers |= {id(m.workload) for entry in unscanned_entries for m in entry.workloads}
    vulnerable = {entry.image.digest for entry, _ in images}
    blind = {entry.image.digest or entry.image.reference for entry in unscanned_entries}
    return Report(
        generated_at=GENERATED_AT,
        tool_version="0.1.0",
        scope=Scope(
            accounts=(ACCOUNT,),
            regions=tuple(regions),
            clusters=tuple(clusters),
            filters=filters or Filters(),
        ),
        summary=Summary(
            running_containers=len(containers) + extra_containers,
            running_images=len(vulnerable | blind) + (1 if extra_containers else 0),
            vulnerable_running_images=len(vulnerable),
            exposures=len(exposures),
            by_severity=by_severity,
            unscanned_running_images=len(blind),
        ),
        images=tuple(entry for entry, _ in images),
        exposures=tuple(exposures),
        unscanned=tuple(unscanned_entries),
        errors=tuple(errors),
    )


# --- the shared scenario -----------------------------------------------------------------------------------

INDEX_DIGEST = digest("team/api index")
API_AMD64 = image_info("team/api", digest("team/api amd64"), tags=("v1",), platform="linux/amd64")
WORKER_ARM64 = image_info("team/worker", digest("team/worker arm64"), tags=("2024.12",), platform="linux/arm64")

# An ECS service task that reports the platform digest it pulled.
ECS_SERVICE = ecs_workload(
    image_reference=ecr_uri("team/api", tag="v1"),
    running_digest=API_AMD64.digest,
    task_id="aaaabbbbccccddddeeeeffff00001111",
)
# A standalone ECS task that names the image by tag and reports no digest: matched through the tag.
ECS_STANDALONE = ecs_workload(
    image_reference=ecr_uri("team/api", tag="v1"),
    running_digest=None,
    service=None,
    task_id="22223333444455556666777788889999",
    container="migrate",
    launch_type="EC2",
)
# An EKS Deployment's pod running the multi-arch index that contains API_AMD64.
EKS_DEPLOYMENT_POD = k8s_workload(
    image_reference=ecr_uri("team/api", digest=INDEX_DIGEST),
    running_digest=INDEX_DIGEST,
    namespace="shop",
    pod="api-7d9f8b6c5d-x2x7q",
    owner=Owner("Deployment", "api"),
)
# A CronJob's init container on another image.
EKS_CRONJOB_INIT = k8s_workload(
    image_reference=ecr_uri("team/worker", tag="2024.12"),
    running_digest=WORKER_ARM64.digest,
    namespace="batch",
    pod="nightly-28912345-abcde",
    owner=Owner("CronJob", "nightly"),
    container="fetch",
    container_type="init",
)
# A sidecar from Docker Hub on a cluster reached through a kubeconfig context: not in ECR.
NGINX_SIDECAR = k8s_workload(
    image_reference="nginx",
    running_digest=None,
    platform="kubernetes",
    cluster="onprem-ok",
    namespace="edge",
    pod="proxy-0",
    owner=Owner("StatefulSet", "proxy"),
    container="nginx",
    container_type="sidecar",
    account=None,
    region=None,
)
# An ECR image Inspector has not scanned yet.
PENDING_DIGEST = digest("team/new pending")
PENDING_WORKLOAD = ecs_workload(
    image_reference=ecr_uri("team/new", tag="rc1"),
    running_digest=PENDING_DIGEST,
    service="new",
    task_id="99998888777766665555444433332222",
)

API_FINDINGS = (
    finding(
        "CVE-2024-0001",
        "CRITICAL",
        API_AMD64,
        epss=0.973,
        score=9.8,
        packages=(Package("openssl", "3.0.2-0ubuntu1", "3.0.13-0ubuntu1", "OS"),),
    ),
    finding(
        "CVE-2024-0002",
        "HIGH",
        API_AMD64,
        epss=0.0004,
        score=7.5,
        fix_available="NO",
        packages=(Package("zlib", "1.2.11", None, "OS"),),
    ),
    # What a hostile image can put in a finding: a package name and title a spreadsheet would evaluate, and a
    # title with a comma, quotes and a line break.
    finding(
        "GHSA-aaaa-bbbb-cccc",
        "MEDIUM",
        API_AMD64,
        title='=HYPERLINK("http://evil.example","click"), then\n"more"',
        epss=None,
        score=None,
        packages=(Package("@evil/pkg", "1.0.0", "1.0.1", "NPM"), Package("-cmd", "2", None, "NPM")),
    ),
)
WORKER_FINDINGS = (
    finding("CVE-2023-9999", "LOW", WORKER_ARM64, epss=0.01, score=3.1, packages=(Package("curl", "7.88.1", "8.0.0"),)),
)

API_ENTRY = image_entry(
    API_AMD64,
    [matched(ECS_SERVICE, "digest"), matched(ECS_STANDALONE, "tag"), matched(EKS_DEPLOYMENT_POD, "index")],
    API_FINDINGS,
)
WORKER_ENTRY = image_entry(WORKER_ARM64, [matched(EKS_CRONJOB_INIT, "digest")], WORKER_FINDINGS)

NGINX_UNSCANNED = unscanned(
    image_info(
        "library/nginx",
        None,
        account=None,
        region=None,
        tags=("latest",),
        platform=None,
        reference="docker.io/library/nginx:latest",
    ),
    "not_ecr",
    "docker.io is not an Amazon ECR private registry",
    [matched(NGINX_SIDECAR, None)],
)
PENDING_UNSCANNED = unscanned(
    image_info("team/new", PENDING_DIGEST, tags=("rc1",), platform=None),
    "scan_pending",
    "Inspector scan status PENDING_INITIAL_SCAN (ACTIVE)",
    [matched(PENDING_WORKLOAD, "digest")],
)

ERRORS = (
    SourceError("ecs:us-west-2/legacy", "User is not authorized to perform ecs:ListTasks", "AccessDeniedException"),
    SourceError("kube-context:onprem", "the API server refused the credentials (401 Unauthorized)", "401"),
)
CLUSTERS = (
    ClusterScope("ecs", "prod", f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod", REGION, True),
    ClusterScope("ecs", "legacy", f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/legacy", "us-west-2", False),
    ClusterScope("eks", "payments", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/payments", REGION, True),
    ClusterScope("kubernetes", "onprem-ok", None, None, True),
    ClusterScope("kubernetes", "onprem", None, None, False),
)


def sample_report(*, filters: Filters | None = None) -> Report:
    return make_report(
        images=[(API_ENTRY, API_FINDINGS), (WORKER_ENTRY, WORKER_FINDINGS)],
        unscanned_entries=[NGINX_UNSCANNED, PENDING_UNSCANNED],
        errors=ERRORS,
        clusters=CLUSTERS,
        filters=filters,
        regions=(REGION, "us-west-2"),
    )


def empty_report(
    *,
    unscanned_entries: Sequence[UnscannedEntry] = (),
    errors: Sequence[SourceError] = (),
    filters: Filters | None = None,
) -> Report:
    """No exposure: what a clean run, or a run with only blind spots, looks like."""
    return make_report(
        unscanned_entries=unscanned_entries,
        errors=errors,
        clusters=CLUSTERS[:1],
        filters=filters,
        extra_containers=3,
    )
