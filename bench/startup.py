"""Start-up of ecrwatch's commands beside the interpreter's and boto3's, measured in the same run.

`python -m bench.startup [--repeat 5]`: each command runs `--repeat` times as a fresh process, the commands
taking turns (so that the machine's other work falls on all of them alike); the median wall time and CPU
time (user + system, the kernel's accounting of the child) of each are shown, and `ecrwatch --help` against
its targets (<= 0.25 s and <= 3x `python -c 'import boto3'`) and the Lambda handler's import (<= 0.8 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.process import compile_ecrwatch

PYTHON = sys.executable
_SCRIPT = Path(PYTHON).parent / "ecrwatch"  # the console script pip installs: what users type
ECRWATCH = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "ecrwatch"]

COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("python -c pass", [PYTHON, "-c", "pass"]),
    ("python -c 'import boto3'", [PYTHON, "-c", "import boto3"]),
    ("ecrwatch --help", [*ECRWATCH, "--help"]),
    ("ecrwatch iam-policy", [*ECRWATCH, "iam-policy"]),
    ("ecrwatch check --no-eks --help", [*ECRWATCH, "check", "--no-eks", "--help"]),
    ("python -c 'import ecrwatch.aws_lambda'", [PYTHON, "-c", "import ecrwatch.aws_lambda"]),
    # What the lazy imports spare the commands above: the kubernetes client alone.
    ("python -c 'import kubernetes'", [PYTHON, "-c", "import kubernetes"]),
)
HELP_LIMIT_S, HELP_LIMIT_X_BOTO3, LAMBDA_LIMIT_S = 0.25, 3.0, 0.8


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of argv as a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{argv} exited {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(repeat: int) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in COMMANDS}
    for _name, argv in COMMANDS:  # once each first, unmeasured: the files into the page cache
        run_once(argv)
    for _ in range(repeat):
        for name, argv in COMMANDS:
            runs[name].append(run_once(argv))
    return {
        name: {
            "wall_s": statistics.median(w for w, _ in measured),
            "cpu_s": statistics.median(c for _, c in measured),
            "walls_s": [round(w, 3) for w, _ in measured],
        }
        for name, measured in runs.items()
    }


def table(figures: dict[str, dict[str, Any]]) -> str:
    boto3 = figures["python -c 'import boto3'"]["wall_s"]
    width = max(map(len, figures)) + 2
    lines = [f"{'':{width}}{'wall (median)':>14}{'CPU (median)':>14}{'x import boto3':>16}"]
    for name, f in figures.items():
        lines.append(f"{name:{width}}{f['wall_s']:>12.3f} s{f['cpu_s']:>12.3f} s{f['wall_s'] / boto3:>15.2f}x")
    help_s = figures["ecrwatch --help"]["wall_s"]
    lambda_s = figures["python -c 'import ecrwatch.aws_lambda'"]["wall_s"]
    lines += [
        "",
        f"ecrwatch --help: {help_s:.3f} s (target <= {HELP_LIMIT_S} s: "
        f"{'met' if help_s <= HELP_LIMIT_S else 'NOT met'}), {help_s / boto3:.2f}x import boto3 "
        f"(target <= {HELP_LIMIT_X_BOTO3}x: "
        f"{'met' if help_s / boto3 <= HELP_LIMIT_X_BOTO3 else 'NOT met'})",
        f"Lambda handler import: {lambda_s:.3f} s (target <= {LAMBDA_LIMIT_S} s: "
        f"{'met' if lambda_s <= LAMBDA_LIMIT_S else 'NOT met'})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command; the median is shown")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    compile_ecrwatch()
    load = os.getloadavg()[0]
    figures = measure(args.repeat)
    print(table(figures))
    print(f"\n(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; {args.repeat} runs each)")
    if args.json:
        Path(args.json).write_text(json.dumps({"loadavg": load, "figures": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
