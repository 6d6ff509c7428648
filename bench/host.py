"""The simulators' process: seeds a scenario, serves it under injected latency, and counts what it is asked.

It runs apart from the plans being measured, so that the simulators' stores (200,000 findings, 30,000 pods)
and their CPU are not counted as ecrwatch's: a real AWS account serves from elsewhere too. The parent drives
it over a pipe: `reset` (forget the calls so far), `counters` (calls per operation, status codes, the peak
number of requests in flight), `stop`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from bench.scenarios import SCENARIOS, World, build_world
from ecrwatch.sim.ecr import EcrSim, manifest_digest
from ecrwatch.sim.ecs import EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import KubeContainerSeed, SimKube
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

AWS_LATENCY = 0.030
KUBE_LATENCY = 0.010
LIST_FINDINGS_LATENCY = 0.150

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class Meter:
    """Requests in flight across every simulated endpoint, and their peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = Counter[str]()
        self.peak = Counter[str]()
        self.spans: list[tuple[str, float, float]] = []  # (kind, start, end), wall-clock
        self.cpu_since = time.process_time()
        self.connections_since = 0  # TCP connections the endpoints had accepted at the last reset

    @contextmanager
    def track(self, kind: str) -> Iterator[None]:
        start = time.time()
        with self._lock:
            self.in_flight[kind] += 1
            self.in_flight["all"] += 1
            for key in (kind, "all"):
                self.peak[key] = max(self.peak[key], self.in_flight[key])
        try:
            yield
        finally:
            end = time.time()
            with self._lock:
                self.in_flight[kind] -= 1
                self.in_flight["all"] -= 1
                self.spans.append((kind, start, end))

    def reset(self) -> None:
        with self._lock:
            self.peak = Counter(self.in_flight)
            self.spans = []
            self.cpu_since = time.process_time()


class MeteredSimAWS(SimAWS):
    meter: Meter

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service = scope.group(1) if scope else "aws"
        with self.meter.track(f"{service}:{target.rsplit('.', 1)[-1] or environ.get('PATH_INFO', '')}"):
            return super()._app(environ, start_response)


class MeteredSimKube(SimKube):
    meter: Meter

    def _handle(self, handler: Any) -> None:
        with self.meter.track("kube:" + _kube_resource(handler.path.split("?", 1)[0])):
            super()._handle(handler)


def _kube_resource(path: str) -> str:
    """`/api/v1/pods` -> pods, `/apis/apps/v1/replicasets` -> replicasets, anything else as it is."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"] and len(parts) == 3:
        return parts[2]
    if parts[:1] == ["apis"] and len(parts) == 4:
        return parts[3]
    return path


class _DirectEcr:
    """Writes ECR images into moto's store as PutImage would (the digest is the manifest's SHA-256, as
    EcrSim makes it), without 900 HTTP round trips: 0.1 s rather than 7 s for L."""

    def __init__(self, region: str) -> None:
        from moto.ecr.models import ecr_backends

        self.backend = ecr_backends[ACCOUNT_ID][region]

    def create_repository(self, name: str) -> None:
        self.backend.create_repository(name, None, {"encryptionType": "AES256"}, {"scanOnPush": False}, "MUTABLE", [])

    def put(self, put: dict[str, Any]) -> None:
        manifest = put["imageManifest"]
        tag: Any = put.get("imageTag")  # None: an untagged image (moto's signature says str)
        self.backend.put_image(
            put["repositoryName"], manifest, tag, put["imageManifestMediaType"], manifest_digest(manifest)
        )


def seed(world: World, sim: MeteredSimAWS, meter: Meter) -> tuple[list[MeteredSimKube], dict[str, float]]:
    """Fill every store; returns the Kubernetes API servers (one per EKS cluster) and seconds per store."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    for region in world.scenario.regions:
        ecr = _DirectEcr(region)
        for repo_region, name in world.repositories:
            if repo_region == region:
                ecr.create_repository(name)
        for put in world.puts[region]:
            ecr.put(put)
    timings["ecr"] = time.perf_counter() - start

    start = time.perf_counter()
    ecs = sim.extension(EcsSim)
    for cluster in world.ecs:
        ecs.add_cluster(cluster.region, cluster.name)
        ecs.add_tasks(cluster.region, cluster.name, cluster.tasks)
    timings["ecs"] = time.perf_counter() - start

    start = time.perf_counter()
    inspector = sim.extension(Inspector2Sim)
    for region in world.scenario.regions:
        inspector.set_account_status(region, ecr="ENABLED", ec2="DISABLED")
        inspector.add_findings(region, world.findings(region))
    for cov in world.coverage:
        inspector.set_coverage(
            cov.region, repository=cov.repository, digest=cov.digest, status_code=cov.status_code, reason=cov.reason
        )
    timings["inspector2"] = time.perf_counter() - start

    start = time.perf_counter()
    environ = sim.environ()
    kubes: list[MeteredSimKube] = []
    eks = sim.extension(EksSim)
    for kube_cluster in world.eks:
        kube = MeteredSimKube(
            eks_cluster_name=kube_cluster.name,
            aws_secret_keys={environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]},
            tokens=(),
            sts_endpoints=(sim.endpoint_url,),
        )
        kube.meter = meter
        for d in kube_cluster.deployments:
            kube.run_deployment(
                d.namespace, d.name, [KubeContainerSeed("app", d.image, image_id=d.image_id)], replicas=d.pods
            )
        for job in kube_cluster.cronjobs:
            kube.run_cronjob(job.namespace, job.name, [KubeContainerSeed("report", job.image, image_id=job.image_id)])
        kube.start()
        eks.add_cluster(kube_cluster.region, kube_cluster.name, endpoint=kube.url, ca_pem=kube.ca_pem)
        kubes.append(kube)
    timings["kubernetes"] = time.perf_counter() - start
    return kubes, timings


def warm_up(world: World) -> None:
    """One call of each kind before anything is measured: moto imports a service's backend on its first
    request, which is the simulator's cost, not the caller's."""
    import boto3

    session = boto3.Session()
    session.client("sts", region_name=world.scenario.regions[0]).get_caller_identity()
    for region in world.scenario.regions:
        repository = next(name for r, name in world.repositories if r == region)
        session.client("ecr", region_name=region).batch_get_image(
            repositoryName=repository, imageIds=[{"imageTag": "warm-up"}]
        )
        session.client("ecs", region_name=region).list_clusters()
        session.client("eks", region_name=region).list_clusters()
        inspector: Any = session.client("inspector2", region_name=region)
        nothing = [{"comparison": "EQUALS", "value": "sha256:" + "0" * 64}]
        inspector.list_findings(filterCriteria={"ecrImageHash": nothing})
        inspector.list_coverage(filterCriteria={"resourceId": nothing})


def inject_latency(sim: SimAWS, kubes: list[MeteredSimKube]) -> None:
    """AWS 30 ms a call, Inspector ListFindings 150 ms (it is slow in AWS), Kubernetes 10 ms."""
    sim.faults.add("*", None, latency=AWS_LATENCY, when=lambda r: r.operation != "ListFindings")
    sim.faults.add("inspector2", "ListFindings", latency=LIST_FINDINGS_LATENCY)
    for kube in kubes:
        kube.latency = KUBE_LATENCY


def counters(sim: SimAWS, kubes: list[MeteredSimKube], meter: Meter) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for record in sim.calls.records:
        calls[f"{record.service}:{record.operation}"] += 1
        statuses[str(record.status)] += 1
    for kube in kubes:
        for request in kube.requests:
            calls["kube:" + _kube_resource(request.path)] += 1
            statuses[str(request.status)] += 1
    spans: dict[str, list[float]] = {}
    durations: dict[str, list[float]] = {}
    for kind, start, end in meter.spans:
        first, last = spans.get(kind, [start, end])
        spans[kind] = [min(first, start), max(last, end)]
        durations.setdefault(kind, []).append(end - start)
    served = {
        kind: {"mean_ms": round(1000 * sum(d) / len(d), 1), "max_ms": round(1000 * max(d), 1)}
        for kind, d in sorted(durations.items())
    }
    return {
        "occupancy": occupancy(meter.spans),
        "calls": dict(sorted(calls.items())),
        "statuses": dict(statuses),
        "peak_in_flight": dict(meter.peak),
        "spans": {kind: [a, b] for kind, (a, b) in sorted(spans.items())},  # first start, last end (epoch s)
        "served": served,  # time from request to response at the simulator, injected latency included
        "host_cpu_s": time.process_time() - meter.cpu_since,
        # TCP connections opened to the endpoints (AWS and Kubernetes): clients keep theirs between calls.
        "connections": connections(sim, kubes) - meter.connections_since,
    }


def connections(sim: SimAWS, kubes: list[MeteredSimKube]) -> int:
    return sim.connections_accepted + sum(kube.connections_accepted for kube in kubes)


def occupancy(spans: list[tuple[str, float, float]], width: float = 1.0) -> dict[str, list[float]]:
    """Requests in flight on average in each `width`-second slice of the run, per service (`ecs`, `kube`,
    `inspector2`, ...): where the run left its concurrency unused."""
    if not spans:
        return {}
    origin = min(start for _, start, _ in spans)
    slices = int((max(end for _, _, end in spans) - origin) // width) + 1
    out: dict[str, list[float]] = {}
    for kind, start, end in spans:
        row = out.setdefault(kind.split(":", 1)[0], [0.0] * slices)
        first, last = int((start - origin) // width), int((end - origin) // width)
        for index in range(first, last + 1):
            low = max(start, origin + index * width)
            high = min(end, origin + (index + 1) * width)
            row[index] += max(0.0, high - low) / width
    return {kind: [round(v, 2) for v in row] for kind, row in sorted(out.items())}


def serve(scenario_name: str, conn: Connection, latency: bool = True) -> None:
    """The host process's main: seed, report ready, then answer the parent's commands until `stop`."""
    started = time.perf_counter()
    world = build_world(SCENARIOS[scenario_name])
    generated = time.perf_counter() - started
    meter = Meter()
    sim = MeteredSimAWS(extensions=[EcrSim(), Inspector2Sim(), EcsSim(), EksSim()])
    sim.meter = meter
    sim.start()
    os.environ.update(sim.environ())
    kubes, timings = seed(world, sim, meter)
    timings["generate"] = generated
    warm_up(world)
    sim.calls.clear()
    if latency:
        inject_latency(sim, kubes)
    conn.send({"environ": sim.environ(), "facts": asdict(world.facts), "seeding_s": timings})
    try:
        while True:
            command = conn.recv()
            if command == "reset":
                sim.calls.clear()
                for kube in kubes:
                    kube.clear_requests()
                meter.reset()
                meter.connections_since = connections(sim, kubes)
                conn.send("ok")
            elif command == "counters":
                conn.send(counters(sim, kubes, meter))
            elif command == "stop":
                break
    finally:
        for kube in kubes:
            kube.stop()
        sim.stop()
        conn.close()
