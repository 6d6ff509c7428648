"""Running ECS containers: every RUNNING task's every container, in every cluster of the selected regions
or only the clusters named.

A cluster selector is a name or an ARN. A name is looked for in each selected region and is an error only
where no region has it; an ARN is read in its own region, selected or not. `collect_ecs_regions` applies
those rules across regions and is what a caller reading several regions wants; `collect_ecs` reads one
region and says which names it did not find there, leaving the decision to its caller.

Calls: ListClusters (paged) or DescribeClusters (100 names a call) per region, then per cluster ListTasks
(desiredStatus RUNNING, pages of 100) and DescribeTasks (100 tasks a call). Clusters are read concurrently
on a bounded thread pool; `Aws` keeps one boto3 client per thread.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ecrwatch.aws import Aws, calling_in
from ecrwatch.errors import AwsCallError
from ecrwatch.images import ImageReferenceError, is_digest, parse_image_reference
from ecrwatch.inventory.selection import ECS_CLUSTER, ClusterSelector, RegionPlan, parse_selector, plan_regions
from ecrwatch.models import ClusterScope, ImageRef, Inventory, SourceError, Workload
from ecrwatch.owners import ecs_tags, team_of

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import FailureTypeDef

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
PAGE = 100  # ListTasks maxResults and DescribeTasks / DescribeClusters batch limit

# DescribeClusters returns deleted clusters for a while, as INACTIVE: for ecrwatch they do not exist.
_GONE_STATUSES = frozenset({"INACTIVE"})


def parse_cluster_selector(text: str) -> ClusterSelector:
    """An `--ecs-cluster` value: a cluster name or ARN; anything else is a UsageError (exit 2)."""
    return parse_selector(text, ECS_CLUSTER)


# --- turning DescribeTasks answers into workloads (pure) ----------------------------------------------

# The task attribute ECS sets to the CPU architecture the task runs on (x86_64 or arm64), named as OCI
# platforms name architectures, which is how an image index names its platform images.
CPU_ARCHITECTURE_ATTRIBUTE = "ecs.cpu-architecture"
_OCI_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "arm64": "arm64", "aarch64": "arm64"}


def task_architecture(task: Mapping[str, Any]) -> str | None:
    """The OCI architecture (amd64, arm64) of a described task, from its `ecs.cpu-architecture` attribute;
    None where the task does not carry it or names one ecrwatch does not know."""
    for attribute in task.get("attributes") or ():
        if isinstance(attribute, dict) and attribute.get("name") == CPU_ARCHITECTURE_ATTRIBUTE:
            value = (attribute.get("value") or "").strip().lower()
            architecture = _OCI_ARCHITECTURES.get(value)
            if architecture is None and value:
                log.debug("ECS task %s: unknown %s %r", task.get("taskArn"), CPU_ARCHITECTURE_ATTRIBUTE, value)
            return architecture
    return None


@lru_cache(maxsize=4096)
def _parse_reference(reference: str) -> tuple[str, ImageRef]:
    """Tasks of a service name the same images: each reference is parsed once, and its workloads share
    one ImageRef and one string."""
    return sys.intern(reference), parse_image_reference(reference)


def task_workloads(
    task: Mapping[str, Any], region: str, cluster: str, owner_labels: Sequence[str] = ()
) -> tuple[list[Workload], list[SourceError]]:
    """One Workload per container of a described task, its team the first of `owner_labels` among the task's
    tags; a container whose image reference cannot be parsed is an error (it runs, but nothing can be said
    about it), never silently dropped. The task is as JSON decoded it (parsing.AS_DECODED): any member may be
    null or absent."""
    task_arn = task.get("taskArn") or ""
    account = task_arn.split(":")[4] if task_arn.count(":") >= 5 else None
    group = task.get("group") or ""
    service = group[len("service:") :] if group.startswith("service:") else None
    architecture = task_architecture(task)
    team = team_of(owner_labels, ecs_tags(task.get("tags"))) if owner_labels else None
    workloads: list[Workload] = []
    errors: list[SourceError] = []
    for container in task.get("containers") or ():
        if not isinstance(container, dict):  # a null in the list (JSON allows it; AWS does not send it)
            continue
        name = sys.intern(container.get("name") or "")
        try:
            reference, image = _parse_reference(container.get("image") or "")
        except ImageReferenceError as exc:
            errors.append(
                SourceError(
                    source=f"ecs:{region}/{cluster}",
                    message=f"task {task_arn} container {name!r}: {exc}",
                    code="InvalidImageReference",
                )
            )
            continue
        reported = container.get("imageDigest")
        # One string per digest, not per container: an organisation's 40,000 containers run a few hundred.
        running_digest = sys.intern(reported) if reported and is_digest(reported) else image.digest
        workloads.append(
            Workload(
                platform="ecs",
                account=account,
                region=region,
                cluster=cluster,
                container=name,
                image_reference=reference,
                image=image,
                running_digest=running_digest,
                task_arn=task_arn,
                service=service,
                launch_type=task.get("launchType"),
                container_type="app",
                task_group=group or None,
                architecture=architecture,
                team=team,
            )
        )
    return workloads, errors


def _cluster_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# --- reading (API calls) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcsInventory(Inventory):
    """An Inventory, plus the cluster names asked for that the region read does not have. Whether such a
    name is an error depends on the other regions: see `collect_ecs_regions`."""

    not_found: tuple[str, ...] = ()


@dataclass
class _Discovery:
    clusters: list[tuple[str, str]] = field(default_factory=list)  # (arn, name), in order
    not_found_names: list[str] = field(default_factory=list)
    not_found_arns: list[str] = field(default_factory=list)
    error: SourceError | None = None


def _discover(aws: Aws, plan: RegionPlan) -> _Discovery:
    ecs = aws.ecs(plan.region)
    found = _Discovery()
    try:
        if plan.every_cluster:
            with calling_in(aws, "ecs", "ListClusters", plan.region):
                for page in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": PAGE}):
                    found.clusters.extend((arn, _cluster_name(arn)) for arn in page.get("clusterArns", []))
            return found
        wanted = [*plan.names, *(s.text for s in plan.arns)]
        seen: set[str] = set()
        for start in range(0, len(wanted), PAGE):
            batch = wanted[start : start + PAGE]
            with calling_in(aws, "ecs", "DescribeClusters", plan.region):
                answer = ecs.describe_clusters(clusters=batch)
            present: dict[str, str] = {}
            for cluster in answer.get("clusters", []):
                if cluster.get("status") not in _GONE_STATUSES and "clusterArn" in cluster:
                    arn = cluster["clusterArn"]
                    present[arn] = cluster.get("clusterName") or _cluster_name(arn)
            for selector in batch:
                matched = _match(selector, present)
                if matched is None:
                    (found.not_found_arns if selector.startswith("arn:") else found.not_found_names).append(selector)
                elif matched not in seen:  # a name and its ARN both given: read once
                    seen.add(matched)
                    found.clusters.append((matched, present[matched]))
    except AwsCallError as exc:
        # Clusters found before the failure are still read; which names exist here is now unknown.
        found.error = SourceError(source=f"ecs:{plan.region}", message=exc.message, code=exc.code)
        found.not_found_names.clear()
    return found


def _match(selector: str, present: Mapping[str, str]) -> str | None:
    if selector.startswith("arn:"):
        return selector if selector in present else None
    return next((arn for arn, name in present.items() if name == selector), None)


OnWorkloads = Callable[[Sequence[Workload]], None]


@dataclass
class _ClusterRead:
    scope: ClusterScope
    workloads: list[Workload] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)


def _read_cluster(
    aws: Aws,
    region: str,
    arn: str,
    name: str,
    on_workloads: OnWorkloads | None = None,
    owner_labels: Sequence[str] = (),
) -> _ClusterRead:
    """Every container of every RUNNING task in one cluster. A failure keeps what was read before it and
    marks the cluster not ok: a partial read is still evidence of what runs. `on_workloads` hears of each
    page's containers as soon as it is read (Inspector can be asked about them meanwhile)."""
    ecs = aws.ecs(region)
    read = _ClusterRead(ClusterScope(platform="ecs", name=name, arn=arn, region=region, ok=True))
    pending: list[str] = []

    def describe(batch: list[str]) -> None:
        with calling_in(aws, "ecs", "DescribeTasks", region):
            if owner_labels:  # the tags name the owner; only then are they asked for
                answer = ecs.describe_tasks(cluster=arn, tasks=batch, include=["TAGS"])
            else:
                answer = ecs.describe_tasks(cluster=arn, tasks=batch)
        page: list[Workload] = []
        for task in answer.get("tasks") or ():
            # Stopped between ListTasks and DescribeTasks (or a null in the list: JSON allows it).
            if not isinstance(task, dict) or task.get("desiredStatus") != "RUNNING":
                continue
            workloads, errors = task_workloads(task, region, name, owner_labels)
            page.extend(workloads)
            read.errors.extend(errors)
        read.workloads.extend(page)
        if on_workloads is not None:
            on_workloads(page)
        for failure in answer.get("failures") or ():
            if isinstance(failure, dict):
                _note_failure(failure, region, name, read)

    try:
        with calling_in(aws, "ecs", "ListTasks", region):
            pages = ecs.get_paginator("list_tasks").paginate(
                cluster=arn, desiredStatus="RUNNING", PaginationConfig={"PageSize": PAGE}
            )
            for page in pages:
                pending.extend(page.get("taskArns", []))
                while len(pending) >= PAGE:
                    describe(pending[:PAGE])
                    del pending[:PAGE]
        if pending:
            describe(pending)
    except AwsCallError as exc:
        read.errors.append(SourceError(source=f"ecs:{region}/{name}", message=exc.message, code=exc.code))
    if read.errors and any(e.code != "InvalidImageReference" for e in read.errors):
        read.scope = ClusterScope(platform="ecs", name=name, arn=arn, region=region, ok=False)
    return read


def _note_failure(failure: FailureTypeDef, region: str, cluster: str, read: _ClusterRead) -> None:
    reason = failure.get("reason") or ""
    if reason == "MISSING":  # the task ended and was forgotten after it was listed: it no longer runs
        log.debug("ECS task %s in %s/%s is gone since it was listed", failure.get("arn"), region, cluster)
        return
    detail = f" ({failure['detail']})" if failure.get("detail") else ""
    read.errors.append(
        SourceError(
            source=f"ecs:{region}/{cluster}",
            message=f"ecs:DescribeTasks could not describe {failure.get('arn')}: {reason}{detail}",
            code=reason or None,
        )
    )


def _collect(
    aws: Aws,
    plans: Sequence[RegionPlan],
    workers: int,
    on_workloads: OnWorkloads | None = None,
    owner_labels: Sequence[str] = (),
) -> list[tuple[RegionPlan, _Discovery, EcsInventory]]:
    """Each plan's clusters read on one bounded pool; results in plan and discovery order."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecs")
    try:
        discoveries = [pool.submit(_discover, aws, plan) for plan in plans]
        reads: list[tuple[RegionPlan, _Discovery, list[Future[_ClusterRead]]]] = []
        for plan, pending in zip(plans, discoveries, strict=True):
            found = pending.result()
            futures = [
                pool.submit(_read_cluster, aws, plan.region, arn, name, on_workloads, owner_labels)
                for arn, name in found.clusters
            ]
            reads.append((plan, found, futures))
        results = []
        for plan, found, futures in reads:
            cluster_reads = [future.result() for future in futures]
            errors = [] if found.error is None else [found.error]
            errors.extend(
                SourceError(
                    source=f"ecs:{plan.region}/{_cluster_name(arn)}",
                    message=f"ECS cluster {arn} was not found",
                    code="ClusterNotFoundException",
                )
                for arn in found.not_found_arns
            )
            inventory = EcsInventory(
                workloads=tuple(w for r in cluster_reads for w in r.workloads),
                clusters=tuple(r.scope for r in cluster_reads),
                errors=tuple(errors) + tuple(e for r in cluster_reads for e in r.errors),
                not_found=tuple(found.not_found_names),
            )
            results.append((plan, found, inventory))
        return results
    finally:
        # On an exception (CredentialsError above all) do not start what is still queued.
        pool.shutdown(wait=True, cancel_futures=True)


def collect_ecs(aws: Aws, region: str, clusters: Sequence[str] = (), *, workers: int = DEFAULT_WORKERS) -> EcsInventory:
    """One region: every cluster in it, or the clusters named (names looked for here; ARNs read in their own
    region). Names this region does not have are in `not_found`, not in `errors`: to read several regions,
    use `collect_ecs_regions`, which reads each ARN once and reports a name only where no region has it."""
    selectors = [parse_cluster_selector(text) for text in clusters]
    results = _collect(aws, plan_regions([region], selectors), workers)
    merged = Inventory()
    not_found: list[str] = []
    for _, _, inventory in results:
        merged = merged + inventory
        not_found.extend(inventory.not_found)
    return EcsInventory(merged.workloads, merged.clusters, merged.errors, tuple(not_found))


def collect_ecs_regions(
    aws: Aws,
    regions: Sequence[str],
    clusters: Sequence[str] = (),
    *,
    workers: int = DEFAULT_WORKERS,
    on_workloads: OnWorkloads | None = None,
    owner_labels: Sequence[str] = (),
) -> Inventory:
    """Every selected region's clusters, or the clusters named: a name in each selected region, an error
    only where no region has it (source: the first region; none when a region could not be asked, whose
    own error already says the read is incomplete); an ARN once, in its own region. `on_workloads` hears of
    the running containers of each DescribeTasks page as soon as it is read."""
    selectors = [parse_cluster_selector(text) for text in clusters]
    results = _collect(aws, plan_regions(regions, selectors), workers, on_workloads, owner_labels)
    inventory = Inventory()
    for _, _, region_inventory in results:
        inventory = inventory + region_inventory
    name_regions = [(plan, found) for plan, found, _ in results if plan.names]
    missing: list[SourceError] = []
    for name in dict.fromkeys(s.name for s in selectors if not s.is_arn):
        if name_regions and all(found.error is None and name in found.not_found_names for _, found in name_regions):
            searched = ", ".join(plan.region for plan, _ in name_regions)
            missing.append(
                SourceError(
                    source=f"ecs:{name_regions[0][0].region}/{name}",
                    message=f"ECS cluster {name!r} was not found in {searched}",
                    code="ClusterNotFoundException",
                )
            )
    return inventory + Inventory(errors=tuple(missing))
