"""The `ecrwatch` process ends without the interpreter's teardown (entry.py): what it wrote must all be there,
and its exit status must be the command's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def ecrwatch(*args: str) -> subprocess.CompletedProcess[str]:
    # Buffered streams, as a user's pipe or file gets them (this machine's environment unbuffers Python's).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-m", "ecrwatch", *args], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def test_what_a_command_writes_to_a_pipe_is_all_there() -> None:
    done = ecrwatch("iam-policy", "--command", "check")
    assert done.returncode == 0, done.stderr
    policy = json.loads(done.stdout)  # the whole document
    assert policy["Version"] == "2012-10-17"


def test_a_usage_error_keeps_its_exit_status_and_its_message() -> None:
    done = ecrwatch("check", "--min-severity", "SEVERE")
    assert done.returncode == 2
    assert "SEVERE" in done.stderr and done.stdout == ""


@pytest.mark.parametrize(("args", "status"), [(("--version",), 0), (("no-such-command",), 2)])
def test_the_exit_status_is_the_commands(args: tuple[str, ...], status: int) -> None:
    assert ecrwatch(*args).returncode == status
