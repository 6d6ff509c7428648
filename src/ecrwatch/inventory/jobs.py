"""What `check` reads running containers from, as jobs: each ECS region set, each EKS region set, each
kubeconfig context. A job is planned once and can be run with any account's clients (`SourceJob`), which is
how the organisation's accounts are each read with their own (see across_accounts.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ecrwatch.aws import Aws
from ecrwatch.inventory.ecs import collect_ecs_regions, parse_cluster_selector
from ecrwatch.inventory.eks import collect_kubernetes, plan_kubernetes
from ecrwatch.models import Inventory, Workload

if TYPE_CHECKING:
    from ecrwatch.check import CheckRequest

OnWorkloads = Callable[[Sequence[Workload]], None]
Progress = Callable[[str], None]
# One source, read with the clients it is given.
SourceJob = Callable[[Aws], Inventory]


def source_jobs(request: CheckRequest, on_workloads: OnWorkloads | None = None) -> list[SourceJob]:
    """One job per source the request names. `on_workloads` hears of running containers as soon as they are
    read (a page of ECS tasks, a Kubernetes cluster). A bad --ecs-cluster, --eks-cluster, kubeconfig or
    context is a UsageError (exit 2) here, before any job runs."""
    for selector in request.ecs_clusters if request.ecs else ():
        parse_cluster_selector(selector)
    kubernetes = plan_kubernetes(
        request.regions,
        eks=request.eks,
        eks_clusters=request.eks_clusters,
        kubeconfig=request.kubeconfig,
        kube_contexts=request.kube_contexts,
    )
    workers, owners = request.workers, request.triage.owner_labels
    jobs: list[SourceJob] = []
    if request.ecs:
        regions, clusters = request.regions, request.ecs_clusters
        jobs.append(
            lambda aws: collect_ecs_regions(
                aws, regions, clusters, workers=workers, on_workloads=on_workloads, owner_labels=owners
            )
        )
    if kubernetes is not None:
        plan = kubernetes
        jobs.append(
            lambda aws: collect_kubernetes(aws, plan, workers=workers, on_workloads=on_workloads, owner_labels=owners)
        )
    return jobs


def inventory_jobs(
    aws: Aws, request: CheckRequest, on_workloads: OnWorkloads | None = None
) -> list[Callable[[], Inventory]]:
    """The request's sources, each to be read with `aws`'s clients."""
    return [functools.partial(job, aws) for job in source_jobs(request, on_workloads)]


def collect_inventory(
    aws: Aws, request: CheckRequest, progress: Progress, jobs: Sequence[Callable[[], Inventory]] | None = None
) -> Inventory:
    """Every source of running containers, sources concurrently; each source reports its own failures."""
    jobs = inventory_jobs(aws, request) if jobs is None else jobs
    inventory = Inventory()
    if not jobs:
        return inventory
    progress(f"reading {len(jobs)} inventory source(s)")
    with ThreadPoolExecutor(max_workers=max(1, min(request.workers, len(jobs))), thread_name_prefix="inv") as pool:
        for part in pool.map(lambda job: job(), jobs):
            inventory = inventory + part
    return inventory
