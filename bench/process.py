"""`check` as users run it: `python -m ecrwatch check ... --format json --output F` in a process of its own.

Unlike the in-process plan (plans.py), this counts everything a user waits for: the interpreter's start,
ecrwatch's imports, making clients, the run, writing the report to a file, and the process's exit. The
child's CPU time (user + system) and peak RSS come from the kernel's own accounting of that child
(`os.wait4`), not from inside it. A small launcher process forks it: Linux counts in a child's ru_maxrss the
RSS of the process it was forked from, and the benchmark's own process is larger than ecrwatch's peak.
"""

from __future__ import annotations

import compileall
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.plans import PlanResult, PlanSpec

# Forks and execs the command in argv[2:], then writes its exit status, wall time, CPU time and peak RSS (the
# kernel's accounting of that child, from a parent of about 10 MB) to the file argv[1].
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status), "wall_s": wall,
               "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, out)
"""

# Times in the report: when it was made, and the findings' observed times (the simulators date them at seeding).
_TIMES = re.compile(rb'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"')


def child_environment(environ: dict[str, str]) -> dict[str, str]:
    """This process's environment pointed at the simulators, with nothing of the machine's AWS configuration."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION")}
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(environ)
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    return env


def report_summary(document: dict[str, Any]) -> dict[str, Any]:
    """The figures plans._summary takes from a Report, here from its JSON: the same keys, the same digests."""
    arns = sorted(e["finding_arn"] for e in document["exposures"])
    unscanned = sorted(f"{u['image']['reference']}|{u['reason']}" for u in document["unscanned"])
    return {
        "running_containers": document["summary"]["running_containers"],
        "running_images": document["summary"]["running_images"],
        "exposures": document["summary"]["exposures"],
        "unscanned": len(document["unscanned"]),
        "errors": [f"{e['source']} {e['code']}" for e in document["errors"]],
        "exposures_sha256": hashlib.sha256("\n".join(arns).encode()).hexdigest()[:16],
        "unscanned_sha256": hashlib.sha256("\n".join(unscanned).encode()).hexdigest()[:16],
    }


def report_bytes_sha256(data: bytes) -> str:
    """The report's bytes, all but its times: equal between two runs against one seeding that wrote the same
    report. Not across seedings: the simulated ECS task ARNs are random at each, so compare the exposures' and
    unscanned images' digests (above) there."""
    return hashlib.sha256(_TIMES.sub(b'"T"', data)).hexdigest()[:16]


@functools.cache
def compile_ecrwatch() -> None:
    """ecrwatch's modules compiled to bytecode, as users have them: pip compiles a package when it installs it,
    and a source checkout writes its __pycache__ on its first run. This machine's environment sets
    PYTHONDONTWRITEBYTECODE=1, under which each measured process compiled ecrwatch's source again (0.1-0.15 s
    of CPU that users do not pay). Python still reads bytecode that is there, and ignores it once stale."""
    import ecrwatch

    compileall.compile_dir(Path(ecrwatch.__file__).parent, quiet=1)


def _wrapper() -> list[str]:
    """BENCH_WRAP: a command (an absolute path, and its arguments) each check process is run under, e.g.
    `py-spy record -o F --` to profile the run users get, or a script choosing which code each run uses."""
    return os.environ.get("BENCH_WRAP", "").split()


def run_process(spec: PlanSpec, timeout: float = 3600.0) -> PlanResult:
    """One `ecrwatch check` process against the simulators; its figures as a PlanResult (plan "process")."""
    compile_ecrwatch()
    with tempfile.TemporaryDirectory(prefix="ecrwatch-bench-") as scratch:
        report_path = Path(scratch) / "report.json"
        argv = [sys.executable, "-m", "ecrwatch", "check", "--format", "json", "--output", str(report_path)]
        for region in spec.regions:
            argv += ["--region", region]
        if spec.workers:
            argv += ["--workers", str(spec.workers)]  # 0: check's own default
        figures_path = Path(scratch) / "figures.json"
        with open(Path(scratch) / "stderr", "w+b") as stderr:
            started_at = time.time()
            subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(figures_path), *_wrapper(), *argv],
                env=child_environment(spec.environ),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
            stderr.seek(0)
            messages = stderr.read().decode(errors="replace")
        if not figures_path.exists():
            raise RuntimeError(f"the launcher of ecrwatch check failed: {messages[-2000:]}")
        figures = json.loads(figures_path.read_text())
        exit_code, wall = figures["exit_code"], figures["wall_s"]
        if exit_code not in (0, 3) or not report_path.exists():  # 3: incomplete, the report still written
            raise RuntimeError(f"ecrwatch check exited {exit_code}: {messages[-2000:]}")
        data = report_path.read_bytes()
    document = json.loads(data)
    return PlanResult(
        plan="process",
        workers=spec.workers,
        started_at=started_at,
        wall_s=wall,
        pipeline_s=wall,
        cpu_s=figures["cpu_s"],
        rss_start_mb=0.0,
        rss_peak_mb=figures["maxrss_kb"] / 1024,  # Linux reports KiB
        rss_peak_pipeline_mb=figures["maxrss_kb"] / 1024,
        traced_peak_mb=None,
        gc_s=0.0,
        summary={
            **report_summary(document),
            "json_bytes": len(data),
            "report_sha256": report_bytes_sha256(data),
            "exit_code": exit_code,
        },
    )
