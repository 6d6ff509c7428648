"""How fast this machine's CPU runs right now: a figure printed beside every CPU time the benchmarks give.

The same code's CPU time on these two virtual CPUs moved by a third from one hour to the next (L's check: 6.8 s
at 14:45 UTC, 8.9-11.9 s at 15:09-15:29 on 2026-12-05, the machine idle both times): the host's other work sets
their speed, and no steal time shows it. `speed()` is the CPU time of a fixed piece of pure-Python work like
check's own (JSON decoded, its strings and dicts walked, a set built, JSON encoded), the least of a few rounds:
two CPU figures are comparable in proportion to their calibrations, so a figure from another hour can be read
against one from now.
"""

from __future__ import annotations

import json
import time

_TASKS = 4000


def _document() -> str:
    tasks = [
        {
            "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{n:032x}",
            "desiredStatus": "RUNNING",
            "containers": [
                {"name": f"app-{n % 7}", "image": f"repo/svc-{n % 50}:v{n % 3}", "imageDigest": f"sha256:{n:064x}"}
            ],
        }
        for n in range(_TASKS)
    ]
    return json.dumps({"tasks": tasks})


_TEXT = _document()


def _work() -> int:
    parsed = json.loads(_TEXT)
    running = {
        (c["image"], c["imageDigest"])
        for t in parsed["tasks"]
        if t["desiredStatus"] == "RUNNING"
        for c in t["containers"]
    }
    return len(json.dumps(sorted(running)))


def speed(rounds: int = 10) -> float:
    """CPU seconds of the fixed work in this thread (the benchmark's other threads, the simulators', do not
    count), the least of `rounds` (about 0.02 s each on this machine)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        _work()
        best = min(best, time.thread_time() - started)
    return round(best, 4)


if __name__ == "__main__":
    print(f"calibration: {speed():.4f} s of CPU for the fixed work")
