"""Run the organisation-scale benchmark: `python -m bench.run --scenario S|L|both` (see bench/README.md).

For each scenario: a process seeds the simulators and serves them under injected latency (bench/host.py);
then, each in a fresh process, ecrwatch `check` (once per `--workers` value) and the naive plan run against
them (bench/plans.py), while the host counts their calls; the lower bound comes from the scenario's own
facts (bench/bound.py). A table goes to stdout, the figures to bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import pstats
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.bound import AWS_LATENCY, FINDINGS_PAGE, Bound, lower_bound
from bench.calibrate import speed
from bench.host import serve
from bench.plans import PlanResult, PlanSpec, run_plan
from bench.process import run_process
from bench.scenarios import SCENARIOS

RESULTS = Path(__file__).resolve().parent / "results"
WORKERS = (8, 16, 32)  # the --workers values check runs with
COMPARED = 8  # the one in the main table: ecrwatch's default, and the one within 2x its bound (see README)
TARGET_BOUND_WORKERS = 16  # issue 14: check as a process, at its default --workers, within 2x the bound at 16
_CTX = multiprocessing.get_context("spawn")


class Host:
    """The simulators' process (bench/host.py), driven over a pipe."""

    def __init__(self, scenario: str, timeout: float = 600.0, *, latency: bool = True) -> None:
        self._conn, child = _CTX.Pipe()
        self._process = _CTX.Process(target=serve, args=(scenario, child, latency), name=f"sim-{scenario}", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(timeout):
            raise RuntimeError("the simulators did not come up")
        ready = self._conn.recv()
        self.environ: dict[str, str] = ready["environ"]
        self.facts: dict[str, Any] = ready["facts"]
        self.seeding_s: dict[str, float] = ready["seeding_s"]

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send("stop")
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()


def run_child(spec: PlanSpec, timeout: float = 3600.0) -> PlanResult:
    conn, child = _CTX.Pipe()
    process = _CTX.Process(target=run_plan, args=(spec, child), name=f"plan-{spec.plan}")
    process.start()
    child.close()
    try:
        if not _wait(conn, process, timeout):
            raise RuntimeError(f"the {spec.plan} plan did not finish (exit code {process.exitcode})")
        result: PlanResult = conn.recv()
        return result
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


def _wait(conn: Connection, process: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.poll(1.0):
            return True
        if not process.is_alive() and not conn.poll(0):
            return False
    return False


def measure(host: Host, spec: PlanSpec) -> dict[str, Any]:
    """One plan run, with the calls the host saw it make."""
    host.ask("reset")
    load = os.getloadavg()[0]  # other work on the machine shares its cores with both processes
    result = run_process(spec) if spec.plan == "process" else run_child(spec)
    seen = host.ask("counters")
    # When each kind of call was first made and last answered, in seconds from the start of the run.
    seen["spans"] = {
        k: [round(a - result.started_at, 3), round(b - result.started_at, 3)] for k, (a, b) in seen["spans"].items()
    }
    return {"result": asdict(result), "loadavg": load, **seen}


def naive_estimate(naive: dict[str, Any], facts: dict[str, Any], check_calls: dict[str, int]) -> dict[str, Any]:
    """The naive plan's figures where it stopped early: each region's findings chain at the measured time a
    page, for every page the account's ACTIVE findings fill; coverage as check's (the same digests have no
    finding), one round of latency."""
    info = naive["result"]["naive"]
    calls = dict(naive["calls"])
    total_pages = 0
    slowest = 0.0
    for region, measured in info["regions"].items():
        region_pages = -(-facts["active_findings"][region] // FINDINGS_PAGE)
        total_pages += region_pages
        slowest = max(slowest, region_pages * measured["seconds"] / max(1, measured["pages"]))
    calls["inspector2:ListFindings"] = total_pages
    coverage = check_calls.get("inspector2:ListCoverage", 0)
    if coverage:
        calls["inspector2:ListCoverage"] = coverage
    wall = info["inventory_s"] + slowest + (AWS_LATENCY if coverage else 0.0)
    return {"calls": dict(sorted(calls.items())), "wall_s": wall, "estimated": True}


def run_scenario(name: str, workers: list[int], args: argparse.Namespace) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    print(f"[{name}] seeding the simulators ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    host = Host(name)
    print(f"[{name}] seeded in {time.perf_counter() - started:.1f} s {host.seeding_s}", file=sys.stderr, flush=True)
    try:
        checks: dict[int, dict[str, Any]] = {}
        processes: dict[int, dict[str, Any]] = {}
        for w in workers:
            if args.mode in ("both", "in-process"):
                checks[w] = _median_of(host, PlanSpec("check", host.environ, scenario.regions, w), args.repeat, name)
            if args.mode in ("both", "process"):
                spec = PlanSpec("process", host.environ, scenario.regions, w)
                processes[w] = _median_of(host, spec, args.repeat, name)
        measured_runs = checks or processes
        chosen = args.compare if args.compare in measured_runs else workers[-1]
        extras: dict[str, Any] = {}
        if args.stages:
            stages = measure(host, PlanSpec("stages", host.environ, scenario.regions, chosen))
            extras["stages"] = stages["result"]["naive"]["stages"]
            for stage, spent in extras["stages"].items():
                print(
                    f"[{name}] {stage:14s} wall {spent['wall_s']:7.2f} s  CPU {spent['cpu_s']:7.2f} s", file=sys.stderr
                )
        if args.verify_report:
            verified = run_child(PlanSpec("check", host.environ, scenario.regions, chosen, verify_report=True))
            extras["report_is_json_dumps"] = verified.summary["report_is_json_dumps"]
            print(f"[{name}] report bytes = json.dumps: {extras['report_is_json_dumps']}", file=sys.stderr)
        if args.trace_memory:
            traced = run_child(PlanSpec("check", host.environ, scenario.regions, chosen, trace_memory=True))
            extras["traced_peak_mb"] = traced.traced_peak_mb
        if args.profile:
            RESULTS.mkdir(exist_ok=True)
            path = RESULTS / f"profile-{name}-w{chosen}.pstats"
            run_child(PlanSpec("check", host.environ, scenario.regions, chosen, profile=str(path)))
            extras["profile"] = str(path)
            pstats.Stats(str(path), stream=sys.stderr).sort_stats("cumulative").print_stats(35)
        naive: dict[str, Any] | None = None
        if not args.no_naive:
            max_pages = None if args.naive_pages == "all" else int(args.naive_pages)
            print(f"[{name}] naive plan (pages per region: {max_pages or 'all'}) ...", file=sys.stderr, flush=True)
            naive = measure(host, PlanSpec("naive", host.environ, scenario.regions, chosen, max_pages=max_pages))
            info = naive["result"]["naive"]
            if info["complete"]:
                naive["estimate"] = {"calls": naive["calls"], "wall_s": naive["result"]["wall_s"], "estimated": False}
            else:
                naive["estimate"] = naive_estimate(naive, host.facts, measured_runs[chosen]["calls"])
        bounds: dict[int, Bound] = {}
        for w in sorted({*workers, TARGET_BOUND_WORKERS}):
            peaks = [run["peak_in_flight"].get("all", 0) for run in (checks.get(w), processes.get(w)) if run]
            bounds[w] = lower_bound(host.facts, max([w, *peaks]))
        return {
            "scenario": asdict(scenario),
            "seeding_s": host.seeding_s,
            "facts": {
                k: v for k, v in host.facts.items() if k not in ("findings_by_digest", "needs_resolution", "ecr")
            },
            "workers": chosen,
            "check": {str(w): c for w, c in checks.items()},
            "process": {str(w): c for w, c in processes.items()},
            "naive": naive,
            "bound": {str(w): b.to_json() for w, b in bounds.items()},
            **extras,
        }
    finally:
        host.stop()


def _median_of(host: Host, spec: PlanSpec, repeat: int, name: str) -> dict[str, Any]:
    """`repeat` runs of a plan; the median one by wall time (the machine's other work makes runs vary)."""
    runs = []
    for _ in range(repeat):
        calibration = speed()  # beside each run: the machine's CPU speed at the time (bench/calibrate.py)
        runs.append({**measure(host, spec), "calibration_s": calibration})
        r = runs[-1]["result"]
        print(
            f"[{name}] {spec.plan} --workers {spec.workers}: {r['wall_s']:.2f} s, CPU {r['cpu_s']:.1f} s "
            f"(calibration {calibration:.4f} s), "
            f"{sum(runs[-1]['calls'].values())} calls, peak in flight {runs[-1]['peak_in_flight'].get('all', 0)}",
            file=sys.stderr,
            flush=True,
        )
    runs.sort(key=lambda run: float(run["result"]["wall_s"]))
    # Each run's CPU and load too: under other engineers' load, CPU time varies by a third from run to run.
    return {
        **runs[len(runs) // 2],
        "walls_s": [round(run["result"]["wall_s"], 2) for run in runs],
        "cpus_s": [round(run["result"]["cpu_s"], 2) for run in runs],
        "loads": [round(run["loadavg"], 1) for run in runs],
        "calibrations_s": [run["calibration_s"] for run in runs],
    }


# --- output ------------------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _column(title: str, calls: dict[str, int], **rows: str) -> dict[str, Any]:
    return {"title": title, "calls": calls, "rows": rows}


ROWS = (
    ("wall", "wall time (s)"),
    ("pipeline", "  run_check (s)"),
    ("report", "  report written (s)"),
    ("cpu", "check's CPU (s)"),
    ("rss", "peak RSS (MB)"),
    ("concurrency", "peak in flight"),
)


def table(results: dict[str, dict[str, Any]]) -> str:
    columns: list[dict[str, Any]] = []
    for name, res in results.items():
        w = str(res["workers"])
        bound = res["bound"][w]
        for kind, label in (("check", "check"), ("process", "process")):
            run = res.get(kind, {}).get(w)
            if run is None:
                continue
            r = run["result"]
            columns.append(
                _column(
                    f"{name} {label} w{w}",
                    run["calls"],
                    wall=f"{r['wall_s']:.2f}",
                    pipeline=f"{r['pipeline_s']:.2f}" if kind == "check" else "-",
                    report=f"{r['wall_s'] - r['pipeline_s']:.2f}" if kind == "check" else "-",
                    cpu=f"{r['cpu_s']:.1f}",
                    rss=f"{r['rss_peak_mb']:.0f}",
                    concurrency=str(run["peak_in_flight"].get("all", 0)),
                )
            )
        if res["naive"] is not None:
            est, nr = res["naive"]["estimate"], res["naive"]["result"]
            mark = "~" if est["estimated"] else ""
            columns.append(
                _column(
                    f"{name} naive",
                    est["calls"],
                    wall=f"{mark}{est['wall_s']:.1f}",
                    rss=f"{nr['rss_peak_mb']:.0f}",
                    concurrency=str(res["naive"]["peak_in_flight"].get("all", 0)),
                )
            )
        columns.append(
            _column(
                f"{name} bound", bound["calls"], wall=f"{bound['wall_s']:.2f}", concurrency=str(bound["concurrency"])
            )
        )
    operations = sorted({op for column in columns for op in column["calls"]})
    width = max(len(text) for text in [*operations, *(label for _, label in ROWS)]) + 2
    cell = max(14, *(len(c["title"]) + 2 for c in columns))
    lines = ["".ljust(width) + "".join(c["title"].rjust(cell) for c in columns)]
    for op in operations:
        lines.append(op.ljust(width) + "".join(str(c["calls"].get(op, 0)).rjust(cell) for c in columns))
    lines.append("total calls".ljust(width) + "".join(str(sum(c["calls"].values())).rjust(cell) for c in columns))
    for key, label in ROWS:
        lines.append(label.ljust(width) + "".join(c["rows"].get(key, "-").rjust(cell) for c in columns))
    lines.append("")
    for name, res in results.items():
        w = str(res["workers"])
        bound = res["bound"][w]
        check = res["check"].get(w) or res["process"][w]
        wall = check["result"]["wall_s"]
        parts = [
            f"{name}, --workers {w} (bound at concurrency {bound['concurrency']}):",
            f"calls {_ratio(sum(check['calls'].values()), bound['total_calls'])} the bound,",
            f"wall {_ratio(wall, bound['wall_s'])} the bound,",
        ]
        if res["naive"] is not None:
            est = res["naive"]["estimate"]
            note = " (naive extrapolated from the pages it read)" if est["estimated"] else ""
            parts.append(f"naive {_ratio(est['wall_s'], wall)} slower{note},")
        parts.append(f"peak RSS {check['result']['rss_peak_mb']:.0f} MB")
        lines.append(" ".join(parts))
        if res["naive"] is not None and not res["naive"]["estimate"]["estimated"]:
            lines.append("  " + _agreement(check["result"]["summary"], res["naive"]["result"]["summary"]))
        at_16 = res["bound"][str(TARGET_BOUND_WORKERS)]
        for kind in ("check", "process"):
            for k, c in res.get(kind, {}).items():
                b, r = res["bound"][k], c["result"]
                line = (
                    f"  {kind:7s} --workers {k:>2}: wall {r['wall_s']:6.2f} s = {_ratio(r['wall_s'], b['wall_s'])} "
                    f"the bound ({b['wall_s']:.2f} s at concurrency {b['concurrency']}), "
                    f"{_ratio(r['wall_s'], at_16['wall_s'])} the bound at {TARGET_BOUND_WORKERS}, "
                    f"calls {sum(c['calls'].values())} = {_ratio(sum(c['calls'].values()), b['total_calls'])}, "
                    f"CPU {r['cpu_s']:.1f} s, peak RSS {r['rss_peak_mb']:.0f} MB, load {c['loadavg']:.1f}"
                )
                if "report_sha256" in r["summary"]:
                    line += f", report {r['summary']['json_bytes']:,} bytes sha256 {r['summary']['report_sha256']}"
                if len(c["walls_s"]) > 1:
                    line += f", walls of the runs {c['walls_s']}"
                    if "cpus_s" in c:
                        line += f", their CPU {c['cpus_s']} at load {c['loads']}"
                    if "calibrations_s" in c:
                        line += f" and calibration {c['calibrations_s']} s"
                lines.append(line)
    return "\n".join(lines)


def _agreement(check: dict[str, Any], naive: dict[str, Any]) -> str:
    """Whether the naive plan, run to the end, found what check found: the same exposures (finding and image)
    and the same unscanned images, by digest of their sorted lists."""
    keys = ("exposures", "unscanned", "exposures_sha256", "unscanned_sha256", "errors")
    if all(check.get(k) == naive.get(k) for k in keys):
        return f"reports agree: {check['exposures']} exposures, {check['unscanned']} unscanned images in both"
    differ = ", ".join(f"{k} {check.get(k)} vs {naive.get(k)}" for k in keys if check.get(k) != naive.get(k))
    return f"REPORTS DIFFER (check vs naive): {differ}"


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(total_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _naive_pages(text: str) -> str:
    if text != "all" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'all' nor a number of pages above 0")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["S", "L", "both"], default="both")
    parser.add_argument(
        "--workers",
        default=",".join(map(str, WORKERS)),
        help="comma-separated --workers values to run check with (default: %(default)s)",
    )
    parser.add_argument(
        "--compare", type=int, default=COMPARED, help="the --workers value shown beside the naive plan and the bound"
    )
    parser.add_argument(
        "--naive-pages",
        type=_naive_pages,
        default="all",
        help="pages per region the naive plan reads: 'all' (the default: on L about 11 minutes), or a number, "
        "after which it stops and its time is extrapolated (a quicker, estimated figure)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of check per --workers value; the median is shown")
    parser.add_argument(
        "--mode",
        choices=["both", "in-process", "process"],
        default="both",
        help="check as run_check in a warm process (in-process), as `python -m ecrwatch check --output F` "
        "(process: start-up, imports and writing the file included, as users run it), or both (default)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive plan")
    parser.add_argument(
        "--stages", action="store_true", help="one more run with check's stages one at a time, timed (where CPU goes)"
    )
    parser.add_argument("--trace-memory", action="store_true", help="one more check run under tracemalloc")
    parser.add_argument(
        "--verify-report",
        action="store_true",
        help="one more check run whose report, as written, is compared with json.dumps(indent=2) of the same report",
    )
    parser.add_argument("--profile", action="store_true", help="one more check run under cProfile")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    names = ["S", "L"] if args.scenario == "both" else [args.scenario]
    started = time.perf_counter()
    results = {name: run_scenario(name, workers, args) for name in names}
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "generated_at": stamp,
        "machine": machine(),
        "elapsed_s": time.perf_counter() - started,
        "results": results,
    }
    path = RESULTS / f"bench-{stamp}-{'-'.join(names)}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path} ({time.perf_counter() - started:.0f} s in all)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
