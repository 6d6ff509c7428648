"""The `ecrwatch` process: the command, then the process ends without tearing the interpreter down.

Once the command has written its report and its streams are flushed, what is left is freeing memory the
process is about to hand back anyway: after `check --org` over 51 accounts (a botocore session and clients per
account, hundreds of thousands of objects) that teardown took 0.45 s after the last byte was written. Every pool
of threads is shut down inside the command, so nothing is cut short. Commands run in-process (tests, the demo,
the Lambda handler) do not come through here.
"""

from __future__ import annotations

import logging
import os
import sys

# What Python exits with when it cannot flush stdout at exit (a closed pipe): the same here.
_FLUSH_FAILED = 120


def run() -> None:
    from ecrwatch.cli import main

    try:
        main()  # click's standalone mode ends with SystemExit
        status = 0
    except SystemExit as exc:
        status = _status(exc.code)
    logging.shutdown()  # flushes the log handlers, as the interpreter's exit would
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, or a stream already closed
            status = status or _FLUSH_FAILED
    os._exit(status)


def _status(code: object) -> int:
    """The exit status Python gives a SystemExit's code."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
