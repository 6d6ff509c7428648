"""ecrwatch's log lines go to the stderr of the command being run, whatever ran before it in the process.

A warm Lambda, the demo and the tests' CliRunner run several commands in one process, each with its own
stderr; a test runner or a host application may attach handlers of its own to the `ecrwatch` logger. The
suite failed when a Lambda test, or a test that swaps the logger's handlers, ran before a CLI test whose
warning is asserted on stderr in the same worker.
"""

from __future__ import annotations

import io
import logging
import sys

import pytest

from ecrwatch.logging_json import use_log_format
from ecrwatch.options import configure_logging


@pytest.fixture
def ecrwatch_logger(monkeypatch: pytest.MonkeyPatch) -> logging.Logger:
    logger = logging.getLogger("ecrwatch")
    monkeypatch.setattr(logger, "handlers", [])  # as in a fresh process
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.setattr(logger, "level", logger.level)
    return logger


def _stderr_of_the_next_command(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    return later


def test_a_warning_after_the_lambda_set_up_logging_goes_to_the_stderr_of_the_moment(
    ecrwatch_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # the Lambda's invocation
    use_log_format("json")
    use_log_format("text")
    later = _stderr_of_the_next_command(monkeypatch)
    logging.getLogger("ecrwatch.triage.load").warning("ignore rule expired")
    assert "ignore rule expired" in later.getvalue()


def test_a_command_writes_its_warnings_to_stderr_beside_a_handler_attached_by_someone_else(
    ecrwatch_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = io.StringIO()
    ecrwatch_logger.addHandler(logging.StreamHandler(elsewhere))  # a test runner's capture, a host's handler
    later = _stderr_of_the_next_command(monkeypatch)
    configure_logging(verbose=0, quiet=False)
    logging.getLogger("ecrwatch.accounts").warning("account 444444444444 could not be entered")
    assert "account 444444444444 could not be entered" in later.getvalue()
    assert "account 444444444444 could not be entered" in elsewhere.getvalue()  # theirs still served


def test_a_commands_text_lines_read_the_same_after_the_lambda_set_up_logging(
    ecrwatch_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    def a_command_warns() -> str:
        stderr = _stderr_of_the_next_command(monkeypatch)
        configure_logging(verbose=0, quiet=False)
        use_log_format("text")
        logging.getLogger("ecrwatch.accounts").warning("account 444444444444 could not be entered")
        return stderr.getvalue()

    in_a_fresh_process = a_command_warns()
    ecrwatch_logger.handlers.clear()  # a fresh process again, whose first caller is the Lambda
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # the Lambda's invocation
    use_log_format("json")
    assert in_a_fresh_process == "WARNING ecrwatch.accounts: account 444444444444 could not be entered\n"
    assert a_command_warns() == in_a_fresh_process  # not the bare message: the level and logger stay
