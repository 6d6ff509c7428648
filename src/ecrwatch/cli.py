"""The command line: parse options, call the pipeline, render, choose the exit status. No AWS calls here."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from ecrwatch import __version__
from ecrwatch.errors import EcrwatchError


def stderr_console() -> Console:
    """Messages for a person: colour only on a terminal (rich checks), never on stdout's data."""
    return Console(stderr=True, highlight=False)


class EcrwatchGroup(click.Group):
    """Turns an EcrwatchError anywhere below into its message, hint and exit status: no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EcrwatchError as exc:
            console = stderr_console()
            console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True, emoji=False)
            if exc.hint:
                console.print(f"  hint: {exc.hint}", markup=False, soft_wrap=True, emoji=False)
            ctx.exit(exc.exit_status)


@click.group(cls=EcrwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ecrwatch")
def main() -> None:
    """Which Amazon Inspector findings are live in running ECS tasks and Kubernetes pods, and what runs
    that nobody scans."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
