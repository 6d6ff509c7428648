"""The lower bound: the fewest calls the data allows, and the shortest wall time those calls allow.

Calls (from the scenario's facts, not from what ecrwatch did):
- ECS: per region ListClusters pages (100 a page; one even for no cluster); per cluster ListTasks pages
  (100 a page, desiredStatus RUNNING) and DescribeTasks (100 tasks a call).
- EKS: per region ListClusters pages (100); DescribeCluster per cluster; per cluster the Kubernetes lists in
  pages of 500 (the page size kubectl and ecrwatch use; the API sets no maximum): pods, nodes (each pod's CPU
  architecture picks the platform image of an index it runs; one page even for no node), ReplicaSets where a
  pod is owned by one, Jobs where a pod is owned by one.
- ECR: per repository holding running images, BatchGetImage for every 100 image ids asked about (the
  running digests, and the tags of workloads that report none): index resolution per repository.
- Inspector: per region, ListFindings at least once per 10 running digests (the ecrImageHash filter takes
  10 values) and at least once per 25 findings on them: a page holds at most 25 findings (the model's
  FindingList maximum, whatever maxResults asks), so the count is max(ceil(D/10), ceil(F/25)), which no
  grouping of digests into queries can beat. ListCoverage once per 10 running scanned digests, with findings
  or without (the resourceId filter takes 10 values; a page holds 200 records, more than 10 digests can have):
  findings alone cannot say whether Inspector still monitors an image. BatchGetFindingDetails once per 10
  distinct vulnerabilities on running images (KEV data is per vulnerability; the call takes 10 finding ARNs
  of its region; a vulnerability found in two regions is counted in the first).
- Nothing else: the caller's account is in the ARNs ECS returns, so STS GetCallerIdentity is not counted;
  EKS tokens are presigned locally.

Wall time: max(longest chain of dependent calls, total latency / concurrency), the classic bound for any
schedule of that work on that many parallel callers (CPU time is taken to be zero). Chains:
- an ECS cluster: ListClusters pages -> ListTasks pages, one after the other -> the last DescribeTasks;
- an EKS cluster: ListClusters pages -> DescribeCluster -> the longest of its Kubernetes lists, page by page;
- a scanned digest: the earliest a workload can reveal it (ECS ListClusters -> ListTasks -> DescribeTasks,
  or EKS ListClusters -> DescribeCluster -> a pods page) -> BatchGetImage where only ECR can name it (an
  index's platform manifests, a tag) -> its own findings pages (ceil(f/25), at least one), with its
  ListCoverage beside them (independent of the findings, so it lengthens the chain only where it is longer);
- a vulnerability's KEV lookup: the earliest a workload names an image -> one findings page -> the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AWS_LATENCY = 0.030
KUBE_LATENCY = 0.010
LIST_FINDINGS_LATENCY = 0.150
ECS_PAGE = 100
EKS_PAGE = 100
KUBE_PAGE = 500
BATCH_GET_IMAGE = 100
FILTER_VALUES = 10
FINDINGS_PAGE = 25
FINDING_DETAILS = 10  # BatchGetFindingDetails: FindingArnList max 10

LATENCY = {"inspector2:ListFindings": LIST_FINDINGS_LATENCY}


def latency_of(operation: str) -> float:
    if operation.startswith("kube:"):
        return KUBE_LATENCY
    return LATENCY.get(operation, AWS_LATENCY)


def pages(items: int, size: int) -> int:
    """Pages a listing of `items` takes: at least one, even when it turns out empty."""
    return max(1, -(-items // size))


@dataclass(frozen=True)
class Bound:
    calls: dict[str, int]
    critical_path_s: float
    work_s: float  # the sum of every call's latency
    concurrency: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def wall_s(self) -> float:
        return max(self.critical_path_s, self.work_s / self.concurrency)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "total_calls": self.total_calls,
            "critical_path_s": round(self.critical_path_s, 3),
            "work_s": round(self.work_s, 3),
            "concurrency": self.concurrency,
            "wall_s": round(self.wall_s, 3),
        }


def lower_bound(facts: dict[str, Any], concurrency: int) -> Bound:
    calls: dict[str, int] = {}

    def add(operation: str, n: int) -> None:
        if n:
            calls[operation] = calls.get(operation, 0) + n

    chains: list[float] = []
    reveal: list[float] = []  # the earliest moment a workload can name an image, per source kind
    for region in facts["regions"]:
        tasks = facts["ecs"].get(region, [])
        list_pages = pages(len(tasks), ECS_PAGE)
        add("ecs:ListClusters", list_pages)
        for n in tasks:
            add("ecs:ListTasks", pages(n, ECS_PAGE))
            add("ecs:DescribeTasks", -(-n // ECS_PAGE))
            chains.append((list_pages + pages(n, ECS_PAGE) + (1 if n else 0)) * AWS_LATENCY)
            if n:
                reveal.append((list_pages + 2) * AWS_LATENCY)

        clusters = facts["eks"].get(region, [])
        list_pages = pages(len(clusters), EKS_PAGE)
        add("eks:ListClusters", list_pages)
        for cluster in clusters:
            add("eks:DescribeCluster", 1)
            lists = [pages(cluster["pods"], KUBE_PAGE), pages(cluster.get("nodes", 0), KUBE_PAGE)]
            add("kube:pods", lists[0])
            add("kube:nodes", lists[1])  # each pod's CPU architecture: its node's kubernetes.io/arch label
            if cluster["pods"] > cluster["job_pods"]:  # pods owned by ReplicaSets (Deployments)
                lists.append(pages(cluster["replicasets"], KUBE_PAGE))
                add("kube:replicasets", lists[-1])
            if cluster["job_pods"]:
                lists.append(pages(cluster["jobs"], KUBE_PAGE))
                add("kube:jobs", lists[-1])
            before = (list_pages + 1) * AWS_LATENCY
            chains.append(before + max(lists) * KUBE_LATENCY)
            if cluster["pods"]:
                reveal.append(before + KUBE_LATENCY)

        for ids in facts["ecr"].get(region, {}).values():
            add("ecr:BatchGetImage", -(-ids // BATCH_GET_IMAGE))

    earliest = min(reveal, default=0.0)
    for region in facts["regions"]:
        by_digest: dict[str, int] = facts["findings_by_digest"].get(region, {})
        if by_digest:
            add(
                "inspector2:ListFindings",
                max(-(-len(by_digest) // FILTER_VALUES), -(-sum(by_digest.values()) // FINDINGS_PAGE)),
            )
            add("inspector2:ListCoverage", -(-len(by_digest) // FILTER_VALUES))
        resolved_first = set(facts["needs_resolution"].get(region, []))
        for digest, n in by_digest.items():
            chain = earliest + (AWS_LATENCY if digest in resolved_first else 0.0)
            chain += max(pages(n, FINDINGS_PAGE) * LIST_FINDINGS_LATENCY, AWS_LATENCY)
            chains.append(chain)

    kev = facts.get("kev_vulnerabilities", {})
    for region in facts["regions"]:
        add("inspector2:BatchGetFindingDetails", -(-kev.get(region, 0) // FINDING_DETAILS))
    if any(kev.values()):
        chains.append(earliest + LIST_FINDINGS_LATENCY + AWS_LATENCY)

    work = sum(n * latency_of(op) for op, n in calls.items())
    return Bound(dict(sorted(calls.items())), max(chains, default=0.0), work, max(1, concurrency))
