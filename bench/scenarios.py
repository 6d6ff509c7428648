"""Scenarios S and L: what runs, what the registry holds and what Inspector found, generated deterministically.

`build_world(scenario)` is pure: it returns everything the simulators are seeded with (ECR puts, ECS tasks,
Kubernetes Deployments and CronJobs, Inspector findings and coverage) and the `Facts` the lower bound is
computed from. Digests are real (SHA-256 of the manifests the seed helpers build), so ECR, the workloads and
Inspector agree on them exactly as they would in an account.

Shape of an organisation: repositories in two regions' registries; each repository holds a few running
images, one of them multi-arch (an OCI index over linux/amd64 and linux/arm64, with buildx's attestation
manifests); workloads run images from either region's registry. Most running images carry findings; a few
were scanned clean, a few were never scanned (their coverage says why). Most of the account's findings are
on images nothing runs any more.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.sim.ecs import EcsContainerSeed, EcsTaskSeed
from ecrwatch.sim.inspector2 import FindingSpec
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID

SEVERITY_WEIGHTS = (("CRITICAL", 5), ("HIGH", 20), ("MEDIUM", 40), ("LOW", 25), ("INFORMATIONAL", 5), ("UNTRIAGED", 5))
CVE_POOL = 4000  # distinct vulnerabilities an image's findings are drawn from
PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class Scenario:
    name: str
    regions: tuple[str, ...]
    ecs_clusters: int
    ecs_tasks: int
    containers_per_task: int
    eks_clusters: int
    pods: int  # CronJob pods included
    images: int  # distinct running ECR images
    multi_arch: int
    repositories: int
    findings: int  # ACTIVE findings in the account
    running_findings: int  # about this many of them on running images
    tasks_per_service: int = 50
    pods_per_deployment: int = 10
    namespaces: int = 20
    cronjobs_per_cluster: int = 5
    clean_share: float = 0.04  # running scanned digests Inspector scanned and found nothing in
    unscanned_share: float = 0.03  # ... and never scanned (pending, unsupported, no coverage at all)
    seed: int = 6


SCENARIOS: dict[str, Scenario] = {
    "S": Scenario(
        "S",
        regions=("us-east-1", "eu-west-1"),
        ecs_clusters=2,
        ecs_tasks=500,
        containers_per_task=2,
        eks_clusters=1,
        pods=1_000,
        images=50,
        multi_arch=10,
        repositories=10,
        findings=5_000,
        running_findings=500,
    ),
    "L": Scenario(
        "L",
        regions=("us-east-1", "eu-west-1"),
        ecs_clusters=40,
        ecs_tasks=20_000,
        containers_per_task=2,
        eks_clusters=5,
        pods=30_000,
        images=500,
        multi_arch=100,
        repositories=100,
        findings=200_000,
        running_findings=20_000,
    ),
}


# --- what the world is made of ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    region: str
    repository: str
    tag: str
    digest: str  # what a workload reports running: the manifest's, or the index's
    scanned: tuple[tuple[str, str], ...]  # (digest, architecture) Inspector scans: itself, or each platform's

    @property
    def uri(self) -> str:
        return f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{self.repository}"


@dataclass
class EcsCluster:
    region: str
    name: str
    tasks: list[EcsTaskSeed]


@dataclass(frozen=True)
class KubeWorkload:
    namespace: str
    name: str
    image: str
    image_id: str  # containerStatuses[].imageID
    pods: int


@dataclass
class EksCluster:
    region: str
    name: str
    deployments: list[KubeWorkload]
    cronjobs: list[KubeWorkload]

    @property
    def pods(self) -> int:
        return sum(d.pods for d in self.deployments) + sum(c.pods for c in self.cronjobs)


@dataclass(frozen=True)
class CoverageSeed:
    region: str
    repository: str
    digest: str
    status_code: str
    reason: str


@dataclass
class Facts:
    """What the lower bound and the checks of the results need to know about the data (JSON-able)."""

    regions: list[str]
    ecs: dict[str, list[int]]  # region -> RUNNING tasks of each cluster
    eks: dict[str, list[dict[str, int]]]  # region -> per cluster: pods, replicasets, jobs (to list), job_pods
    ecr: dict[str, dict[str, int]]  # region -> repository -> image ids to ask about (digests, and tags without)
    findings_by_digest: dict[str, dict[str, int]]  # region -> running scanned digest -> ACTIVE findings
    needs_resolution: dict[str, list[str]]  # region -> scanned digests only known after ECR answers (index children)
    active_findings: dict[str, int]  # region -> ACTIVE ECR findings in the account (what the naive plan pages)
    running_containers: int
    running_digests: int  # distinct digests workloads report (or tags resolve to)
    exposures: int  # ACTIVE findings on running images: what the report must hold, with no filters
    clean_digests: int
    unscanned_digests: int
    # region -> distinct vulnerabilities on running images, each counted in the first region (in `regions`
    # order) where one runs: the KEV lookups (BatchGetFindingDetails, 10 finding ARNs a call, in the finding's
    # region) need one finding of each, and a vulnerability found in two regions may be asked in either.
    kev_vulnerabilities: dict[str, int] = field(default_factory=dict)


@dataclass
class World:
    scenario: Scenario
    repositories: list[tuple[str, str]]  # (region, name)
    puts: dict[str, list[dict[str, Any]]]  # region -> PutImage arguments, in push order
    images: list[Image]
    ecs: list[EcsCluster]
    eks: list[EksCluster]
    coverage: list[CoverageSeed]
    finding_counts: dict[tuple[str, str, str], int]  # (region, repository, digest) -> findings, running images
    old_images: list[tuple[str, str, str, int]]  # (region, repository, digest, findings) nothing runs
    facts: Facts
    architectures: dict[str, str] = field(default_factory=dict)  # scanned digest -> architecture

    def findings(self, region: str) -> Iterator[FindingSpec]:
        """Every finding of a region, generated as it is seeded (200,000 specs need not all sit in memory)."""
        rng = random.Random(f"{self.scenario.seed}/findings/{region}")
        for (image_region, repository, digest), n in self.finding_counts.items():
            if image_region == region:
                yield from _findings_of(rng, region, repository, digest, n, self.architectures.get(digest, "amd64"))
        for image_region, repository, digest, n in self.old_images:
            if image_region == region:
                yield from _findings_of(rng, region, repository, digest, n, "amd64")


def _kev_vulnerabilities(
    scenario: Scenario,
    regions: list[str],
    finding_counts: dict[tuple[str, str, str], int],
    architectures: dict[str, str],
) -> dict[str, int]:
    """Facts.kev_vulnerabilities, from the running images' findings as `World.findings` generates them (the
    same generator, stopped before the findings of images that no longer run)."""
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for region in regions:
        rng = random.Random(f"{scenario.seed}/findings/{region}")
        new: set[str] = set()
        for (image_region, repository, digest), n in finding_counts.items():
            if image_region == region:
                arch = architectures.get(digest, "amd64")
                new.update(f.vulnerability_id for f in _findings_of(rng, region, repository, digest, n, arch))
        counts[region] = len(new - seen)
        seen |= new
    return counts


class _RecordingEcr:
    """Stands in for an ECR client in the seed helpers: records each PutImage for the simulator to store."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_image(self, **kwargs: Any) -> None:
        self.puts.append(kwargs)


def _findings_of(
    rng: random.Random, region: str, repository: str, digest: str, n: int, architecture: str
) -> Iterator[FindingSpec]:
    severities = [s for s, _ in SEVERITY_WEIGHTS]
    weights = [w for _, w in SEVERITY_WEIGHTS]
    for vuln in rng.sample(range(CVE_POOL), n):
        severity = rng.choices(severities, weights)[0]
        yield FindingSpec(
            repository=repository,
            digest=digest,
            vulnerability_id=f"CVE-{2018 + vuln % 7}-{10000 + vuln}",
            severity=severity,
            architecture=architecture,
            epss=round(rng.random(), 4) if vuln % 2 else None,
            fix_available=("YES", "NO", "PARTIAL")[vuln % 3],
            inspector_score=None if severity == "UNTRIAGED" else round(rng.uniform(0.1, 10.0), 1),
        )


# --- building it -----------------------------------------------------------------------------------------


def build_world(scenario: Scenario) -> World:
    rng = random.Random(scenario.seed)
    regions = scenario.regions
    repositories = [
        (regions[j % len(regions)], f"team-{j // 10:02d}/svc-{j:03d}") for j in range(scenario.repositories)
    ]
    per_repo = scenario.images // scenario.repositories
    index_every = scenario.images // max(1, scenario.multi_arch)
    recorders = {region: _RecordingEcr() for region in regions}
    images: list[Image] = []
    architectures: dict[str, str] = {}
    for j, (region, repository) in enumerate(repositories):
        for k in range(per_repo):
            number = j * per_repo + k
            tag = f"v1.{k}"
            ecr = recorders[region]
            if scenario.multi_arch and number % index_every == index_every - 1:
                pushed = push_index(ecr, repository, tag, PLATFORMS)
                scanned = tuple((digest, platform.split("/")[1]) for platform, digest in pushed.platforms.items())
                images.append(Image(region, repository, tag, pushed.digest, scanned))
            else:
                digest = push_image(ecr, repository, tag)
                images.append(Image(region, repository, tag, digest, ((digest, "amd64"),)))
            architectures.update(images[-1].scanned)

    # Workloads take images in turn (so every image runs somewhere), in a shuffled order.
    order = list(range(len(images)))
    rng.shuffle(order)
    turn = iter(range(10**9))

    def next_image() -> Image:
        return images[order[next(turn) % len(order)]]

    tag_only: set[tuple[str, str, str]] = set()  # (region, repository, tag) named by no digest anywhere
    ecs: list[EcsCluster] = []
    tasks_each = scenario.ecs_tasks // max(1, scenario.ecs_clusters)
    for c in range(scenario.ecs_clusters):
        region = regions[c % len(regions)]
        tasks: list[EcsTaskSeed] = []
        services = max(1, tasks_each // scenario.tasks_per_service)
        for s in range(services):
            count = tasks_each // services + (1 if s < tasks_each % services else 0)
            picked = [next_image() for _ in range(scenario.containers_per_task)]
            by_digest = s % 7 == 3  # some task definitions pin images by digest
            running = tuple(
                EcsContainerSeed(
                    "app" if i == 0 else f"sidecar-{i}",
                    f"{image.uri}@{image.digest}" if by_digest else f"{image.uri}:{image.tag}",
                    image.digest,
                )
                for i, image in enumerate(picked)
            )
            service = f"svc-{c:02d}-{s:02d}"
            tasks.extend(EcsTaskSeed(containers=running, service=service, family=service) for _ in range(count))
            if s == 0 and not by_digest:
                # One task still pulling: the agent reports no digest yet, so ECR resolves its tags.
                pulling = tuple(EcsContainerSeed(con.name, con.image, None, last_status="PENDING") for con in running)
                tasks[-1] = EcsTaskSeed(containers=pulling, service=service, family=service, last_status="PENDING")
                tag_only.update((im.region, im.repository, im.tag) for im in picked)
        ecs.append(EcsCluster(region, f"prod-{c:02d}", tasks))

    eks: list[EksCluster] = []
    pods_each = scenario.pods // max(1, scenario.eks_clusters)
    for c in range(scenario.eks_clusters):
        region = regions[c % len(regions)]
        deployment_pods = pods_each - scenario.cronjobs_per_cluster
        deployments = []
        for d in range(-(-deployment_pods // scenario.pods_per_deployment)):
            image = next_image()
            reported = f"{image.uri}@{image.digest}"
            image_id = f"docker-pullable://{reported}" if d % 2 else reported
            pods = min(scenario.pods_per_deployment, deployment_pods - d * scenario.pods_per_deployment)
            deployments.append(
                KubeWorkload(
                    f"ns-{d % scenario.namespaces:03d}", f"svc-{d:05d}", f"{image.uri}:{image.tag}", image_id, pods
                )
            )
        cronjobs = []
        for j in range(scenario.cronjobs_per_cluster):
            image = next_image()
            cronjobs.append(
                KubeWorkload("batch", f"report-{j:02d}", f"{image.uri}:{image.tag}", f"{image.uri}@{image.digest}", 1)
            )
        eks.append(EksCluster(region, f"eks-{c}", deployments, cronjobs))

    return _settle(scenario, rng, repositories, recorders, images, architectures, ecs, eks, tag_only)


def _settle(
    scenario: Scenario,
    rng: random.Random,
    repositories: list[tuple[str, str]],
    recorders: dict[str, _RecordingEcr],
    images: list[Image],
    architectures: dict[str, str],
    ecs: list[EcsCluster],
    eks: list[EksCluster],
    tag_only: set[tuple[str, str, str]],
) -> World:
    """Findings and coverage for what runs, the old findings, and the facts."""
    regions = scenario.regions
    running = _running_images(images, ecs, eks)
    scanned = sorted({(im.region, im.repository, d) for im in running for d, _ in im.scanned})
    rng.shuffle(scanned)
    clean = int(len(scanned) * scenario.clean_share)
    unscanned = int(len(scanned) * scenario.unscanned_share)
    coverage: list[CoverageSeed] = []
    unscanned_reasons = (("ACTIVE", "PENDING_INITIAL_SCAN"), ("INACTIVE", "UNSUPPORTED_OS"), None)
    for i, (region, repository, digest) in enumerate(scanned[: clean + unscanned]):
        if i < clean:
            coverage.append(CoverageSeed(region, repository, digest, "ACTIVE", "SUCCESSFUL"))
        else:
            status = unscanned_reasons[i % len(unscanned_reasons)]
            if status is not None:  # None: Inspector has no record of it at all
                coverage.append(CoverageSeed(region, repository, digest, *status))
    with_findings = scanned[clean + unscanned :]
    mean = scenario.running_findings / max(1, len(with_findings))
    finding_counts: dict[tuple[str, str, str], int] = {key: 0 for key in scanned}
    for key in with_findings:
        finding_counts[key] = max(1, min(CVE_POOL, round(rng.uniform(0.2, 1.8) * mean)))

    old_images: list[tuple[str, str, str, int]] = []
    remaining = scenario.findings - sum(finding_counts.values())
    n = 0
    while remaining > 0:
        region, repository = repositories[n % len(repositories)]
        digest = "sha256:" + hashlib.sha256(f"old:{scenario.name}:{repository}:{n}".encode()).hexdigest()
        count = min(remaining, max(1, round(rng.uniform(0.2, 1.8) * mean)))
        old_images.append((region, repository, digest, count))
        remaining -= count
        n += 1

    findings_by_digest: dict[str, dict[str, int]] = {r: {} for r in regions}
    for (region, _, digest), count in finding_counts.items():
        findings_by_digest[region][digest] = count
    active: dict[str, int] = defaultdict(int)
    for (region, _, _), count in finding_counts.items():
        active[region] += count
    for region, _, _, count in old_images:
        active[region] += count
    index_children: dict[str, list[str]] = {r: [] for r in regions}
    for im in running:
        if len(im.scanned) > 1 or im.scanned[0][0] != im.digest:
            index_children[im.region].extend(d for d, _ in im.scanned)
    reported = _reported_digests(ecs, eks)
    by_tag = {(im.region, im.repository, im.tag): im for im in images}
    for key in tag_only:
        im = by_tag[key]
        if im.digest not in reported:  # known only once ECR says what the tag points at
            index_children[im.region].extend(d for d, _ in im.scanned)
    ecr_ids: dict[str, dict[str, int]] = {r: {} for r in regions}
    for im in running:
        ecr_ids[im.region][im.repository] = ecr_ids[im.region].get(im.repository, 0) + 1
    for region, repository, _ in tag_only:
        ecr_ids[region][repository] = ecr_ids[region].get(repository, 0) + 1  # asked by tag, beside its digest

    facts = Facts(
        regions=list(regions),
        ecs={r: [len(c.tasks) for c in ecs if c.region == r] for r in regions},
        eks={
            r: [
                {
                    "pods": c.pods,
                    "replicasets": len(c.deployments),
                    "jobs": len(c.cronjobs),
                    "job_pods": sum(j.pods for j in c.cronjobs),
                }
                for c in eks
                if c.region == r
            ]
            for r in regions
        },
        ecr=ecr_ids,
        findings_by_digest=findings_by_digest,
        needs_resolution={r: sorted(set(ds)) for r, ds in index_children.items()},
        active_findings={r: active[r] for r in regions},
        running_containers=sum(len(t.containers) for c in ecs for t in c.tasks) + sum(c.pods for c in eks),
        running_digests=len({im.digest for im in running}),
        exposures=sum(finding_counts.values()),
        clean_digests=clean,
        unscanned_digests=unscanned,
        kev_vulnerabilities=_kev_vulnerabilities(scenario, regions, finding_counts, architectures),
    )
    return World(
        scenario=scenario,
        repositories=repositories,
        puts={region: recorder.puts for region, recorder in recorders.items()},
        images=images,
        ecs=ecs,
        eks=eks,
        coverage=coverage,
        finding_counts=finding_counts,
        old_images=old_images,
        facts=facts,
        architectures=architectures,
    )


def _running_images(images: list[Image], ecs: list[EcsCluster], eks: list[EksCluster]) -> list[Image]:
    by_uri = {(im.uri, im.tag): im for im in images} | {(im.uri, im.digest): im for im in images}
    seen: dict[Image, None] = {}
    for cluster in ecs:
        for task in cluster.tasks:
            for container in task.containers:
                uri, _, ref = (
                    container.image.rpartition("@") if "@" in container.image else container.image.rpartition(":")
                )
                seen[by_uri[(uri, ref)]] = None
    for kube in eks:
        for workload in (*kube.deployments, *kube.cronjobs):
            uri, _, tag = workload.image.rpartition(":")
            seen[by_uri[(uri, tag)]] = None
    return list(seen)


def _reported_digests(ecs: list[EcsCluster], eks: list[EksCluster]) -> set[str]:
    """Every digest some workload reports running."""
    reported = {c.digest for cluster in ecs for task in cluster.tasks for c in task.containers if c.digest}
    reported.update(w.image_id.rpartition("@")[2] for kube in eks for w in (*kube.deployments, *kube.cronjobs))
    return reported
