"""The two plans the benchmark measures, each run in a fresh process (so that its peak RSS is its own).

- `check`: ecrwatch's own pipeline, `run_check`, then the JSON report rendered, as a cron job runs it.
- `naive`: the same inventory and ECR resolution, then every ACTIVE ECR finding of the account paged through
  (ListFindings filtered only by findingStatus and resourceType, at the largest page size; regions
  concurrently), joined with the running digests as the pages come (which spares it the memory of holding
  them), coverage for the digests without findings, and the same `correlate`. Its pages form one chain per
  region, so on L it takes about 4,000 x 150 ms; `max_pages` stops each region after that many pages, and the
  parent extrapolates the rest from the pages measured.
"""

from __future__ import annotations

import cProfile
import gc
import hashlib
import os
import pstats
import resource
import threading
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any


@dataclass(frozen=True)
class PlanSpec:
    plan: str  # "check", "naive" or "stages"
    environ: dict[str, str]
    regions: tuple[str, ...]
    workers: int
    max_pages: int | None = None  # naive only: pages per region before stopping (None: all)
    profile: str | None = None  # write cProfile stats here
    trace_memory: bool = False  # tracemalloc on (slower): the peak of Python allocations
    verify_report: bool = False  # after the run: are the report's bytes the standard library's json.dumps?


@dataclass
class PlanResult:
    plan: str
    workers: int
    started_at: float  # epoch seconds
    wall_s: float
    pipeline_s: float  # without rendering the report
    cpu_s: float  # the process's CPU time (user + system) over the run
    rss_start_mb: float  # after imports, before the run
    rss_peak_mb: float
    rss_peak_pipeline_mb: float  # the peak before the report is rendered
    traced_peak_mb: float | None
    gc_s: float  # time in the cyclic garbage collector, all generations
    summary: dict[str, Any]
    naive: dict[str, Any] = field(default_factory=dict)


class _AllThreadsProfile:
    """cProfile for the main thread and every thread started while it is on (check's work is done in worker
    threads; a plain cProfile sees only the main thread waiting)."""

    def __init__(self) -> None:
        self._profiles = [cProfile.Profile()]
        self._lock = threading.Lock()

    def _start_in_thread(self, *_: Any) -> None:
        # Called once in each new thread (threading.setprofile); the thread's own profiler replaces it.
        profile = cProfile.Profile()
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def enable(self) -> None:
        threading.setprofile(self._start_in_thread)
        self._profiles[0].enable()

    def dump_stats(self, path: str) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]
        self._profiles[0].disable()
        stats = pstats.Stats(self._profiles[0])
        with self._lock:
            for profile in self._profiles[1:]:
                profile.create_stats()  # a thread's profiler still on is read as it stands
                stats.add(profile)
        stats.dump_stats(path)


class _GcClock:
    """Time spent in the cyclic garbage collector (gc.callbacks), which a run holding millions of objects pays."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def _rss_peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries the RSS of the process that forked this
    one over the exec, so a child of the benchmark's large parent reported the parent's size, not its own."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: the kernel's figure


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _environment(environ: dict[str, str]) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(name, None)
    os.environ.update(environ)
    # Nothing from the machine's own AWS configuration.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def _summary(report: Any) -> dict[str, Any]:
    arns = sorted(e.finding.finding_arn for e in report.exposures)
    unscanned = sorted(f"{u.image.reference}|{u.reason}" for u in report.unscanned)
    return {
        "running_containers": report.summary.running_containers,
        "running_images": report.summary.running_images,
        "exposures": report.summary.exposures,
        "unscanned": len(report.unscanned),
        "errors": [f"{e.source} {e.code}" for e in report.errors],
        "exposures_sha256": hashlib.sha256("\n".join(arns).encode()).hexdigest()[:16],
        "unscanned_sha256": hashlib.sha256("\n".join(unscanned).encode()).hexdigest()[:16],
    }


def run_plan(spec: PlanSpec, conn: Connection) -> None:
    """A child process's main: run one plan, send its PlanResult."""
    _environment(spec.environ)
    # Imported here, after the environment is set, and counted in rss_start_mb, not in the run.
    import boto3  # noqa: F401
    import kubernetes  # noqa: F401

    from ecrwatch import check  # noqa: F401
    from ecrwatch.collector import fewer_collections
    from ecrwatch.report.json import iter_json

    rss_start = _rss_now_mb()
    if spec.trace_memory:
        tracemalloc.start()
    profiler = _AllThreadsProfile() if spec.profile else None
    if profiler is not None:
        profiler.enable()
    gc_clock = _GcClock()
    started_at, started, cpu = time.time(), time.perf_counter(), time.process_time()
    naive: dict[str, Any] = {}
    with fewer_collections():  # as the CLI runs check and writes its report (see ecrwatch/collector.py)
        if spec.plan == "check":
            report = _run_check(spec)
        elif spec.plan == "stages":
            report, naive = _run_stages(spec)
        else:
            report, naive = _run_naive(spec)
        pipeline = time.perf_counter() - started
        peak_pipeline = _rss_peak_mb()
        # As the CLI writes it (piece by piece, to a file or a pipe): here to nowhere, counting the bytes.
        rendered = sum(len(piece) for piece in iter_json(report)) if report is not None else 0
        wall = time.perf_counter() - started
    if profiler is not None and spec.profile:
        profiler.dump_stats(spec.profile)
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if spec.trace_memory else None
    summary = {**_summary(report), "json_bytes": rendered} if report is not None else {}
    if spec.verify_report and report is not None:
        import json

        from ecrwatch.report.json import report_to_dict

        expected = json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n"
        summary["report_is_json_dumps"] = "".join(iter_json(report)) == expected
    result = PlanResult(
        plan=spec.plan,
        workers=spec.workers,
        started_at=started_at,
        wall_s=wall,
        pipeline_s=pipeline,
        cpu_s=time.process_time() - cpu,
        rss_start_mb=rss_start,
        rss_peak_mb=_rss_peak_mb(),
        rss_peak_pipeline_mb=peak_pipeline,
        traced_peak_mb=traced,
        gc_s=gc_clock.total,
        summary=summary,
        naive=naive,
    )
    conn.send(result)
    conn.close()


def _run_check(spec: PlanSpec) -> Any:
    from ecrwatch.aws import Aws
    from ecrwatch.check import CheckRequest, run_check

    return run_check(Aws(), CheckRequest(regions=spec.regions, workers=spec.workers))


def _run_stages(spec: PlanSpec) -> tuple[Any, dict[str, Any]]:
    """check's stages one at a time, each source of the inventory alone, with the wall and CPU time of each:
    where the time goes (a diagnostic; `check` itself overlaps what it can)."""
    from ecrwatch import __version__
    from ecrwatch.aws import Aws
    from ecrwatch.check import scanned_images
    from ecrwatch.correlate import correlate, ecr_key
    from ecrwatch.findings import FindingFilters, fetch_findings
    from ecrwatch.inventory.ecs import collect_ecs_regions
    from ecrwatch.inventory.eks import collect_kubernetes, plan_kubernetes
    from ecrwatch.models import Filters
    from ecrwatch.report.json import iter_json
    from ecrwatch.resolve import resolve_images

    times: dict[str, Any] = {}

    def timed(name: str, work: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = work()
        times[name] = {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}
        return out

    aws = Aws()
    account = timed("identity", lambda: aws.account_id(spec.regions[0]))
    ecs = timed("inventory ecs", lambda: collect_ecs_regions(aws, spec.regions, workers=spec.workers))
    plan = plan_kubernetes(spec.regions, eks=True, eks_clusters=(), kubeconfig=None, kube_contexts=())
    assert plan is not None
    kube = timed("inventory eks", lambda: collect_kubernetes(aws, plan, workers=spec.workers))
    inventory = ecs + kube
    keys = [k for k in (ecr_key(w) for w in inventory.workloads) if k is not None]
    resolved = timed("resolve", lambda: resolve_images(aws, keys, home_accounts=[account], workers=spec.workers))
    images = scanned_images(list(resolved.images.values()))
    findings = timed("findings", lambda: fetch_findings(aws, images, filters=FindingFilters(), workers=spec.workers))
    report = timed(
        "correlate",
        lambda: correlate(
            inventory,
            resolved.images,
            findings,
            filters=Filters(),
            accounts=[account],
            regions=spec.regions,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            tool_version=__version__,
            extra_errors=resolved.errors,
        ),
    )
    timed("render json", lambda: sum(len(piece) for piece in iter_json(report)))
    return report, {"stages": times}


# --- the naive plan ----------------------------------------------------------------------------------------


def _run_naive(spec: PlanSpec) -> tuple[Any, dict[str, Any]]:
    from ecrwatch import __version__
    from ecrwatch.aws import Aws
    from ecrwatch.check import CheckRequest, scanned_images
    from ecrwatch.correlate import correlate, ecr_key
    from ecrwatch.inventory.jobs import collect_inventory
    from ecrwatch.models import Filters, FindingsResult
    from ecrwatch.resolve import resolve_images

    aws = Aws()
    request = CheckRequest(regions=spec.regions, workers=spec.workers)
    account = aws.account_id(spec.regions[0])
    started = time.perf_counter()
    inventory = collect_inventory(aws, request, lambda _m: None)
    keys = [k for k in (ecr_key(w) for w in inventory.workloads) if k is not None]
    resolved = resolve_images(aws, keys, home_accounts=[account], workers=spec.workers)
    wanted = set(scanned_images(list(resolved.images.values())))
    inventory_s = time.perf_counter() - started

    regions = sorted({image.region for image in wanted})
    with ThreadPoolExecutor(max_workers=max(1, len(regions)), thread_name_prefix="naive") as pool:
        paged = list(pool.map(lambda region: _page_findings(aws, region, wanted, spec.max_pages), regions))
    findings = [f for region_pages in paged for f in region_pages["findings"]]
    findings_s = time.perf_counter() - started - inventory_s
    complete = all(region_pages["complete"] for region_pages in paged)
    info: dict[str, Any] = {
        "inventory_s": inventory_s,
        "findings_s": findings_s,
        "complete": complete,
        "regions": {
            region: {k: v for k, v in region_pages.items() if k != "findings"}
            for region, region_pages in zip(regions, paged, strict=True)
        },
    }
    if not complete:
        return None, info
    seen = {f.image for f in findings}
    coverage = _coverage(aws, [image for image in wanted if image not in seen], spec.workers)
    info["coverage_s"] = time.perf_counter() - started - inventory_s - findings_s
    report = correlate(
        inventory,
        resolved.images,
        FindingsResult(tuple(findings), tuple(coverage)),
        filters=Filters(),
        accounts=[account],
        regions=spec.regions,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        tool_version=__version__,
        extra_errors=resolved.errors,
    )
    return report, info


def _page_findings(aws: Any, region: str, wanted: set[Any], max_pages: int | None) -> dict[str, Any]:
    from ecrwatch.aws import calling
    from ecrwatch.findings import parse_finding

    client = aws.inspector2(region)
    criteria = {
        "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
        "resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}],
    }
    kept = []
    pages = items = 0
    started = time.perf_counter()
    complete = True
    with calling("inspector2", "ListFindings", region):
        for page in client.get_paginator("list_findings").paginate(
            filterCriteria=criteria, PaginationConfig={"PageSize": 100}
        ):
            pages += 1
            for raw in page.get("findings", []):
                items += 1
                finding = parse_finding(raw)
                if finding is not None and finding.image in wanted:
                    kept.append(finding)
            if max_pages is not None and pages >= max_pages and page.get("nextToken"):
                complete = False
                break
    elapsed = time.perf_counter() - started
    return {"findings": kept, "pages": pages, "items": items, "seconds": elapsed, "complete": complete}


def _coverage(aws: Any, images: Sequence[Any], workers: int) -> list[Any]:
    """ListCoverage by resourceId, ten a request (the filter's limit), for the digests with no finding."""
    from ecrwatch.aws import calling
    from ecrwatch.findings import resource_id
    from ecrwatch.models import Coverage

    def one(batch: Sequence[Any]) -> list[Any]:
        region = batch[0].region
        by_id = {resource_id(image): image for image in batch}
        out = []
        with calling("inspector2", "ListCoverage", region):
            for page in (
                aws.inspector2(region)
                .get_paginator("list_coverage")
                .paginate(filterCriteria={"resourceId": [{"comparison": "EQUALS", "value": rid} for rid in by_id]})
            ):
                for record in page.get("coveredResources", []):
                    image = by_id.get(record.get("resourceId", ""))
                    status = record.get("scanStatus") or {}
                    if image is not None:
                        out.append(Coverage(image, status.get("statusCode", ""), status.get("reason", "")))
        return out

    by_region: dict[str, list[Any]] = {}
    for image in images:
        by_region.setdefault(image.region, []).append(image)
    batches = [imgs[i : i + 10] for imgs in by_region.values() for i in range(0, len(imgs), 10)]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches) or 1))) as pool:
        return [c for part in pool.map(one, batches) for c in part]
