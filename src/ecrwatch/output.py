"""Where a command's data goes: stdout, or a file written atomically (no half-written file on failure)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ecrwatch.errors import UsageError


def check_writable(path: str) -> Path:
    """Fail before any work (exit 2) when the output file could not be written."""
    if not path.strip():
        raise UsageError(
            "--output was given an empty file name", "name a file to write the report to, or leave --output out"
        )
    target = Path(path).expanduser()
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"--output {path} is a directory", "name a file to write the report to")
    if not parent.is_dir():
        raise UsageError(f"--output {path}: folder {parent} does not exist", "create the folder or choose another path")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--output {path} is not writable", "choose a path you may write to")
    return target


def write_atomically(path: Path, text: str | Iterable[str]) -> None:
    """Write to a temporary file beside the target, then rename it over the target in one step. `text` may
    come in pieces (a large report is written as it is encoded)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
