"""`--log-format json`: every line ecrwatch writes to stderr is one JSON object, for log pipelines.

`{"time": RFC 3339 UTC, "level": "warning", "logger": "ecrwatch.findings", "message": "...", ...}`, with a
record's extra fields (`logger.info("...", extra={"fields": {...}})`) merged in, and an error's hint as
`hint`. Notices (`notice`) are what a run says to whoever reads its stderr (an event ignored, a state file
started afresh): plain lines by default, JSON objects in JSON mode, nothing with -q.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "json_logs", "notice", "stderr_logger", "use_log_format"]

_ROOT = "ecrwatch"
_state = {"json": False}
_text_formatters: dict[logging.Handler, logging.Formatter | None] = {}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; never more than one line, whatever the message holds."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each record, not as it was when logging was set up: a second command
    in one process (the demo, the tests' CliRunner, a Lambda handler invoked before a CLI command) has its own
    stderr."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def stderr_logger() -> logging.Logger:
    """The `ecrwatch` logger, sure to have a StderrHandler of its own (text lines until `use_log_format`)."""
    logger = logging.getLogger(_ROOT)
    # Its own handler, whatever else is attached (pytest attaches its capture handlers to a logger that does
    # not propagate: counting those, a CLI run in a test wrote its warnings nowhere the test could read).
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger


def use_log_format(name: str) -> None:
    """Write ecrwatch's log lines as `json` objects or as `text`, to the current stderr."""
    logger = stderr_logger()
    for handler in logger.handlers:
        if name == "json" and not isinstance(handler.formatter, JsonFormatter):
            _text_formatters[handler] = handler.formatter
            handler.setFormatter(JsonFormatter())
        elif name != "json" and handler in _text_formatters:
            handler.setFormatter(_text_formatters.pop(handler))
    _state["json"] = name == "json"


def json_logs() -> bool:
    return _state["json"]


def notice(message: str, *, level: int = logging.WARNING, **fields: Any) -> None:
    """Tell whoever reads stderr something a run did on purpose; silent with -q (the logger's level)."""
    logger = logging.getLogger(f"{_ROOT}.notice")
    if not logger.isEnabledFor(level):
        return
    if json_logs():
        logger.log(level, "%s", message, extra={"fields": fields})
    else:
        print(f"ecrwatch: {message}", file=sys.stderr)
