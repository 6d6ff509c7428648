"""CPU per AWS call, in the client and in the simulator: `python -m bench.percall [--calls 300]`.

This process serves the simulated AWS endpoint (ECS, one cluster of 100 tasks of 2 containers) and does
nothing else while it waits, so its own CPU time is the simulator's. Each measurement runs in a fresh client
process (one boto3 ECS client with ecrwatch's response parser, shared by its threads as ecrwatch shares
one): after each thread's first call, `--calls` ListClusters or DescribeTasks (100 tasks) split over 1 or
`--threads` threads. The client's CPU (user+sys of its process) and the simulator's are divided by the calls;
the median of `--repeat` runs is shown.

Each figure stands beside its reference from the same run: the same calls with the client asking the
endpoint to close the connection after each answer (`Connection: close`), so that every call opens a new TCP
connection, as it did while the simulator closed every connection. `connections` is how many the simulator
accepted during the measured calls.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim, EcsTaskSeed
from ecrwatch.sim.server import SimAWS

REGION = "us-east-1"
CLUSTER = "percall"
TASKS = 100  # DescribeTasks takes at most 100 tasks
_CTX = multiprocessing.get_context("spawn")


def client_main(
    conn: Connection, environ: dict[str, str], operation: str, calls: int, threads: int, close: bool
) -> None:
    """The client process: warm up, wait for the go, make the calls, send back its CPU seconds."""
    os.environ.update(environ)
    import boto3
    import botocore.session
    from botocore.config import Config

    from ecrwatch.parsing import parser_factory

    core = botocore.session.get_session()
    core.register_component("response_parser_factory", parser_factory())  # ecrwatch's parser, as aws.py sets it
    session = boto3.Session(botocore_session=core)
    client: Any = session.client("ecs", region_name=REGION, config=Config(max_pool_connections=threads))
    if close:

        def ask_to_close(request: Any, **_: Any) -> None:
            request.headers["Connection"] = "close"

        client.meta.events.register("before-send.ecs", ask_to_close)
    tasks = client.list_tasks(cluster=CLUSTER, maxResults=TASKS)["taskArns"]
    assert len(tasks) == TASKS, tasks

    def call(_: int) -> None:
        if operation == "ListClusters":
            client.list_clusters()
        else:
            assert len(client.describe_tasks(cluster=CLUSTER, tasks=tasks)["tasks"]) == TASKS

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, range(threads)))  # every thread's first call: the pool's connections opened
        conn.send("ready")
        conn.recv()
        cpu = time.process_time()
        list(pool.map(call, range(calls)))
        conn.send(time.process_time() - cpu)
    conn.close()


def measure(sim: SimAWS, operation: str, calls: int, threads: int, close: bool) -> dict[str, Any]:
    parent, child = _CTX.Pipe()
    process = _CTX.Process(target=client_main, args=(child, sim.environ(), operation, calls, threads, close))
    process.start()
    child.close()
    assert parent.recv() == "ready"
    accepted = sim.connections_accepted
    host_cpu = time.process_time()
    parent.send("go")
    client_cpu: float = parent.recv()
    host_cpu = time.process_time() - host_cpu
    accepted = sim.connections_accepted - accepted
    process.join()
    return {
        "client_ms_per_call": round(1000 * client_cpu / calls, 3),
        "simulator_ms_per_call": round(1000 * host_cpu / calls, 3),
        "connections": accepted,
    }


def seed(sim: SimAWS) -> None:
    ecs = sim.extension(EcsSim)
    ecs.add_cluster(REGION, CLUSTER)
    containers = (
        EcsContainerSeed("app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1", "sha256:" + "a" * 64),
        EcsContainerSeed("sidecar", "123456789012.dkr.ecr.us-east-1.amazonaws.com/proxy:2", "sha256:" + "b" * 64),
    )
    ecs.add_tasks(REGION, CLUSTER, [EcsTaskSeed(containers=containers, service="web", family="web")] * TASKS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=16, help="the second thread count measured (the first is 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is shown")
    parser.add_argument("--json", action="store_true", help="the figures as JSON instead of a table")
    args = parser.parse_args(argv)
    rows = []
    with SimAWS(extensions=[EcsSim()]) as sim:
        seed(sim)
        for operation in ("ListClusters", "DescribeTasks"):
            for threads in (1, args.threads):
                runs: dict[str, list[dict[str, Any]]] = {"kept": [], "closed": []}
                for _ in range(args.repeat):  # taking turns, so that the machine's other work falls on both alike
                    runs["kept"].append(measure(sim, operation, args.calls, threads, close=False))
                    runs["closed"].append(measure(sim, operation, args.calls, threads, close=True))
                row: dict[str, Any] = {"operation": operation, "threads": threads}
                for mode, measured in runs.items():
                    row[mode] = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
                rows.append(row)
    figures = {"calls": args.calls, "repeat": args.repeat, "load_average": os.getloadavg(), "rows": rows}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.calls} calls each, median of {args.repeat} runs; load average {load}")
    print("CPU ms per call: connections kept (reference: a new connection per call); connections accepted")
    print(f"{'operation':<14}{'threads':>8}  {'client':>16}  {'simulator':>16}  {'connections':>12}")
    for row in rows:
        kept, fresh = row["kept"], row["closed"]
        print(
            f"{row['operation']:<14}{row['threads']:>8}"
            f"  {kept['client_ms_per_call']:>6.2f} ({fresh['client_ms_per_call']:>6.2f})"
            f"  {kept['simulator_ms_per_call']:>6.2f} ({fresh['simulator_ms_per_call']:>6.2f})"
            f"  {kept['connections']:>4g} ({fresh['connections']:>4g})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
