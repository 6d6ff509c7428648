"""The organisation scenario: `ecrwatch check --org` over many accounts, measured against its lower bound.

    python -m bench.org [--accounts 50 | --accounts 10,25,50,100] [--tasks 20] [--workers 16] [--repeat N]

The layout issue 12 describes: the hub (the simulator's default account, holding Organizations) runs
ecrwatch; a registry account holds every image and is Inspector's delegated administrator; `--accounts`
workload accounts each run one ECS cluster per region whose tasks run the registry's images by digest. Every
account has the member role. ecrwatch runs as a process (`python -m ecrwatch check --org --inspector-account
REGISTRY`), against the simulated services with the same injected latency as S and L (30 ms a call, 150 ms a
ListFindings page).

Lower bound, calls (from the data, not from what ecrwatch did):
- Organizations: ListAccounts pages of 20 (the model's MaxResults maximum);
- one AssumeRole per entered account (every account but the hub's own, which is read with its credentials);
- ECS: per account and region, ListClusters (one page); per cluster ListTasks and DescribeTasks pages of 100;
- ECR: BatchGetImage per repository holding running images (100 ids a call), in the registry account;
- Inspector, asked of the delegated administrator: per region max(ceil(D/10), ceil(F/25)) ListFindings and
  ceil(D/10) ListCoverage, D the running digests and F their findings.
Wall time bound: max(the longest chain of dependent calls, the sum of every call's latency / concurrency);
the chain: ListAccounts pages -> AssumeRole -> ListClusters -> ListTasks -> DescribeTasks -> the findings pages
of the digests that task revealed. It grows with the largest account and with the total calls over the
concurrency, not with accounts times a fixed cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.bound import AWS_LATENCY, LIST_FINDINGS_LATENCY, pages
from bench.calibrate import speed
from bench.process import compile_ecrwatch
from ecrwatch.sim.accounts import SimOrganization, create_role, session_in, trust_policy
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim, EcsTaskSeed
from ecrwatch.sim.inspector2 import FindingSpec, Inspector2Sim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from ecrwatch.sim.world import build_sim_aws

REGIONS = ("us-east-1", "eu-west-1")
ROLE = "ecrwatch-reader"
REPOSITORIES = 20
IMAGES_PER_REPOSITORY = 3
FINDINGS_PER_IMAGE = 4
ORGANIZATIONS_PAGE = 20


def seed(sim: SimAWS, accounts: int, tasks: int) -> dict[str, Any]:
    """The organisation; returns the facts the bound is computed from."""
    org = SimOrganization()
    registry = org.add_account("registry")
    workloads = [org.add_account(f"workload-{n:03d}") for n in range(accounts)]
    for account in (registry, *workloads):
        create_role(account, ROLE, trust_policy(ACCOUNT_ID))
    inspector = sim.extension(Inspector2Sim)
    images: dict[str, list[tuple[str, str]]] = {}
    for region in REGIONS:
        ecr = session_in(registry, region).client("ecr")
        images[region] = []
        for r in range(REPOSITORIES):
            repository = f"team-{r:02d}/svc"
            ecr.create_repository(repositoryName=repository)
            for i in range(IMAGES_PER_REPOSITORY):
                digest = push_image(ecr, repository, f"v{i}", name=f"{region}/{repository}/{i}")
                images[region].append((repository, digest))
        specs = [
            FindingSpec(
                repository=repo, digest=digest, vulnerability_id=f"CVE-2024-{n:05d}", severity="HIGH", account=registry
            )
            for repo, digest in images[region]
            for n in range(FINDINGS_PER_IMAGE)
        ]
        inspector.add_findings(region, specs)
        inspector.set_delegated_admin(region, registry)
    ecs = sim.extension(EcsSim)
    for a, account in enumerate(workloads):
        for region in REGIONS:
            ecs.add_cluster(region, "prod", account=account)
            host = f"{registry}.dkr.ecr.{region}.amazonaws.com"
            seeds = []
            for t in range(tasks):
                repository, digest = images[region][(a * tasks + t) % len(images[region])]
                container = EcsContainerSeed("app", f"{host}/{repository}@{digest}", digest)
                seeds.append(EcsTaskSeed(containers=(container,), family=f"app-{t % 5}"))
            ecs.add_tasks(region, "prod", seeds, account=account)
    running = {
        region: {
            images[region][(a * tasks + t) % len(images[region])][1] for a in range(accounts) for t in range(tasks)
        }
        for region in REGIONS
    }
    repositories = {region: {r for r, d in images[region] if d in running[region]} for region in REGIONS}
    return {"registry": registry, "workloads": workloads, "running": running, "repositories": repositories,
            "all_accounts": len(list(org.accounts())), "tasks": tasks}  # fmt: skip


def bound(facts: dict[str, Any], concurrency: int) -> dict[str, Any]:
    workloads, tasks = len(facts["workloads"]), facts["tasks"]
    accounts = facts["all_accounts"]  # hub, registry, workloads
    calls: Counter[str] = Counter()
    calls["organizations:ListAccounts"] = pages(accounts, ORGANIZATIONS_PAGE)
    calls["sts:AssumeRole"] = accounts - 1
    for _region in REGIONS:
        calls["ecs:ListClusters"] += accounts
        calls["ecs:ListTasks"] += workloads * pages(tasks, 100)
        calls["ecs:DescribeTasks"] += workloads * pages(tasks, 100)
    findings_latency = 0.0
    for region in REGIONS:
        digests = len(facts["running"][region])
        calls["ecr:BatchGetImage"] += len(facts["repositories"][region])
        listed = max(pages(digests, 10), pages(digests * FINDINGS_PER_IMAGE, 25))
        calls["inspector2:ListFindings"] += listed
        calls["inspector2:ListCoverage"] += pages(digests, 10)
        findings_latency += listed * LIST_FINDINGS_LATENCY
    work = sum(n * AWS_LATENCY for op, n in calls.items() if op != "inspector2:ListFindings") + findings_latency
    chain = (
        calls["organizations:ListAccounts"] * AWS_LATENCY  # the accounts, page by page
        + AWS_LATENCY  # its AssumeRole
        + AWS_LATENCY  # ListClusters
        + 2 * pages(tasks, 100) * AWS_LATENCY  # ListTasks, then DescribeTasks
        + pages(FINDINGS_PER_IMAGE, 25) * LIST_FINDINGS_LATENCY  # the findings of the digests it revealed
    )
    return {
        "calls": dict(sorted(calls.items())),
        "total_calls": sum(calls.values()),
        "critical_path_s": round(chain, 3),
        "work_s": round(work, 3),
        "concurrency": concurrency,
        "wall_s": round(max(chain, work / concurrency), 3),
    }


def run(accounts: int, tasks: int, workers: int, repeat: int = 1) -> list[dict[str, Any]]:
    """`repeat` measured runs of check against one simulated organisation, after one run that is not measured.

    The unmeasured run warms the simulator, not ecrwatch (each measured run is a new process): the simulated
    services build their per-account state (moto's backends, each made on an account's first request) and
    load their service models on first use. Measured cold, that CPU is spent in the benchmark's process while
    ecrwatch's requests wait: 0.6-2.1 s of simulator CPU a run, answers held up to a second (ListFindings
    measured at 0.2-1.1 s, ListClusters at 0.2 s, against 30-150 ms injected), a cost AWS does not have.
    Check only reads, so every run sees the same organisation."""
    with build_sim_aws() as sim, tempfile.TemporaryDirectory(prefix="ecrwatch-org-bench-") as tmp:
        sim.reset()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(sim.environ())
        env.update({"AWS_CONFIG_FILE": f"{tmp}/config", "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/credentials",
                    "AWS_EC2_METADATA_DISABLED": "true"})  # fmt: skip
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        facts = seed(sim, accounts, tasks)
        sim.faults.add("*", latency=AWS_LATENCY, when=lambda r: r.operation != "ListFindings")
        sim.faults.add("inspector2", "ListFindings", latency=LIST_FINDINGS_LATENCY)
        compile_ecrwatch()  # as users have it installed (see bench/process.py)
        regions = [a for r in REGIONS for a in ("--region", r)]
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "ecrwatch", "check", *regions, "--org", "--role-name", ROLE,
                   "--inspector-account", facts["registry"], "--no-eks", "--workers", str(workers),
                   "--format", "json", "--output", str(report), "-q"]  # fmt: skip
        subprocess.run(command, env=env, capture_output=True, check=False)  # the simulator's warm-up
        limit = bound(facts, workers)
        runs = []
        for _ in range(repeat):
            calibration = speed()  # the machine's CPU speed beside each run (bench/calibrate.py)
            runs.append({**_measure(sim, command, env, report, facts, limit), "calibration_s": calibration})
        return runs


def _measure(
    sim: SimAWS, command: list[str], env: dict[str, str], report: Path, facts: dict[str, Any], limit: dict[str, Any]
) -> dict[str, Any]:
    """One run of check as a process: its wall and CPU time, its calls and the simulator's CPU meanwhile."""
    report.unlink(missing_ok=True)
    sim.calls.clear()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    connections = sim.connections_accepted
    simulator_cpu = time.process_time()  # this process only serves the simulator while check runs
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    simulator_cpu = time.process_time() - simulator_cpu
    connections = sim.connections_accepted - connections
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    called = Counter(f"{c.service}:{c.operation}" for c in sim.calls.records)
    timeline: dict[str, list[float]] = {}  # each kind of call: first and last answered, from the start
    for record in sim.calls.records:
        span = timeline.setdefault(f"{record.service}:{record.operation}", [wall, 0.0])
        at = round(record.answered_at - started, 3)
        span[0], span[1] = min(span[0], at), max(span[1], at)
    document = json.loads(report.read_text()) if report.exists() else {}
    return {
        "accounts": facts["all_accounts"],
        "regions": list(REGIONS),
        "tasks_per_cluster": facts["tasks"],
        "exit_status": done.returncode,
        "stderr": done.stderr[-2000:],
        "exposures": len(document.get("exposures", [])),
        "errors": document.get("errors"),
        "calls": dict(sorted(called.items())),
        "total_calls": sum(called.values()),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "simulator_cpu_s": round(simulator_cpu, 3),
        "connections": connections,  # TCP connections check opened to the simulated endpoint
        "timeline_s": dict(sorted(timeline.items(), key=lambda item: item[1])),
        "bound": limit,
        "calls_over_bound": round(sum(called.values()) / limit["total_calls"], 3),
        "wall_over_bound": round(wall / limit["wall_s"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="50", help="workload accounts; a list (10,25,50,100) shows the growth")
    parser.add_argument("--tasks", type=int, default=20, help="RUNNING tasks in each account's cluster, per region")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="runs of check per size; the median run is shown")
    args = parser.parse_args(argv)
    results = []
    for accounts in (int(n) for n in args.accounts.split(",")):
        runs = sorted(run(accounts, args.tasks, args.workers, args.repeat), key=lambda r: r["wall_s"])
        result = runs[len(runs) // 2]
        result["walls_s"] = [r["wall_s"] for r in runs]
        result["cpus_s"] = [r["cpu_s"] for r in runs]
        result["calibrations_s"] = [r["calibration_s"] for r in runs]
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        results.append(result)
        print(
            f"{result['accounts']:>4} accounts: {result['total_calls']} calls "
            f"({result['calls_over_bound']}x the bound), "
            f"wall {result['wall_s']} s ({result['wall_over_bound']}x the bound of {result['bound']['wall_s']} s), "
            f"CPU {result['cpu_s']} s (simulator {result['simulator_cpu_s']} s), "
            f"{result['connections']} connections, load {result['load_average'][0]}; "
            f"runs: walls {result['walls_s']} s, CPU {result['cpus_s']} s, calibration {result['calibrations_s']} s",
            file=sys.stderr,
        )
    print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 0 if all(r["exit_status"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
