"""Option decorators shared by every command, and the ParamTypes that validate values before any call."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ecrwatch.errors import UsageError
from ecrwatch.logging_json import stderr_logger, use_log_format
from ecrwatch.models import SEVERITIES
from ecrwatch.regions import REGION_PATTERN

if TYPE_CHECKING:
    from ecrwatch.aws import Aws, AwsSettings

F = TypeVar("F", bound=Callable[..., Any])

# Region names across partitions: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, eusc-de-east-1 ...
_REGION = re.compile(f"^{REGION_PATTERN}$")
log = logging.getLogger(__name__)


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore's endpoint data lists for ECR, in any partition (no credentials needed)."""
    import botocore.session  # here: the commands that take no --region never load botocore

    from ecrwatch.botocore_data import share_loader

    session = botocore.session.get_session()
    share_loader(session)  # the endpoint data and ECR's model are read once, for this and the command's clients
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecr", partition_name=partition)
    )


def warn_unknown_regions(regions: tuple[str, ...]) -> None:
    """A well-formed region botocore does not list is used anyway, with a warning: AWS opens regions before
    an installed botocore knows them, and a typo shows up as a connection error naming the region."""
    for region in regions:
        if region not in known_regions():
            log.warning(
                "region %s is not in this botocore's endpoint data: if it is new, upgrade boto3; if it is a typo, "
                "its calls will fail to connect",
                region,
            )


class RegionType(click.ParamType[str]):
    name = "REGION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if not _REGION.match(text):
            self.fail(f"{value!r} is not an AWS region name (expected something like us-east-1)", param, ctx)
        return text


class SeverityType(click.ParamType[str]):
    name = "SEVERITY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().upper()
        if text not in SEVERITIES:
            self.fail(f"{value!r} is not a severity; use one of {', '.join(SEVERITIES)}", param, ctx)
        return text


class ProbabilityType(click.ParamType[float]):
    """A probability such as an EPSS score: a number from 0 to 1 (NaN and infinities are not)."""

    name = "P"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not 0.0 <= number <= 1.0:  # False for NaN too
            self.fail(f"{value!r} is not a probability; give a number from 0 to 1, e.g. 0.1", param, ctx)
        return number


@dataclass(frozen=True)
class GlobalOptions:
    profile: str | None
    regions: tuple[str, ...]
    verbose: int
    quiet: bool
    aws: AwsSettings


def common_options(command: F) -> F:
    """--profile, --region (repeatable), -v/-q, --log-format and the AWS call bounds; passes `opts:
    GlobalOptions`."""

    @click.option("--profile", metavar="NAME", help="AWS profile to use (default: the environment's).")
    @click.option(
        "--region",
        "regions",
        type=RegionType(),
        multiple=True,
        help="AWS region; repeat for several (default: the profile's or environment's region).",
    )
    @click.option("-v", "--verbose", count=True, help="More detail on stderr; -vv for debug logs.")
    @click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
    @click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Log lines on stderr as text, or one JSON object a line (for log pipelines).",
    )
    @click.option(
        "--max-attempts",
        type=click.IntRange(1, 50),
        default=10,
        show_default=True,
        help="Attempts per AWS call (botocore standard retry mode), first try included.",
    )
    @click.option("--connect-timeout", type=click.FloatRange(0.1, 300), default=5.0, show_default=True, help="Seconds.")
    @click.option("--read-timeout", type=click.FloatRange(0.1, 900), default=30.0, show_default=True, help="Seconds.")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        profile: str | None,
        regions: tuple[str, ...],
        verbose: int,
        quiet: bool,
        log_format: str,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        **kwargs: Any,
    ) -> Any:
        from ecrwatch.aws import AwsSettings  # boto3 is loaded when a command that calls AWS runs, not before

        configure_logging(verbose, quiet)
        use_log_format(log_format)
        warn_unknown_regions(regions)
        settings = AwsSettings(
            profile=profile, max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        opts = GlobalOptions(profile, tuple(dict.fromkeys(regions)), verbose, quiet, settings)
        return command(*args, opts=opts, **kwargs)

    return wrapper  # type: ignore[return-value]


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger = stderr_logger()
    logger.setLevel(level)
    logger.propagate = False


def selected_regions(aws: Aws, opts: GlobalOptions) -> tuple[str, ...]:
    """--region values, else the profile's or environment's region; none at all is a usage error."""
    if opts.regions:
        return opts.regions
    if aws.default_region:
        return (aws.default_region,)
    raise UsageError(
        "no AWS region was given and none is configured",
        "pass --region NAME (repeatable), or set AWS_REGION / the profile's region",
    )


@contextmanager
def progress_reporter(opts: GlobalOptions) -> Iterator[Callable[[str], None]]:
    """A progress line on stderr: a spinner on a terminal, log lines at -v otherwise, nothing with -q."""
    log = logging.getLogger("ecrwatch.progress")
    if opts.quiet or not sys.stderr.isatty():
        yield lambda message: log.info("%s", message)
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False)
    with console.status("starting") as status:
        yield lambda message: status.update(escape(message))


@dataclass(frozen=True)
class AccountOptions:
    """The account options as given (checked by `ecrwatch.accounts` in the command, before any call)."""

    accounts: tuple[str, ...]
    org: bool
    ous: tuple[str, ...]
    exclude: tuple[str, ...]
    role_name: str | None
    external_id: str | None = field(repr=False)
    inspector_account: str | None = None


def account_options(*, inspector: bool = False) -> Callable[[F], F]:
    """--account, --org, --ou, --exclude-account, --role-name, --external-id (and, with `inspector`,
    --inspector-account); passes `account_opts: AccountOptions`."""

    def decorate(command: F) -> F:
        @click.option("--account", "accounts", metavar="ID", multiple=True, help="Read this AWS account; repeatable.")
        @click.option("--org", is_flag=True, help="Read every ACTIVE account of the organisation (Organizations).")
        @click.option(
            "--ou",
            "ous",
            metavar="OU_ID",
            multiple=True,
            help="Read the accounts under this OU (recursively); repeatable.",
        )
        @click.option("--exclude-account", "exclude", metavar="ID", multiple=True, help="Leave this account out.")
        @click.option(
            "--role-name",
            metavar="NAME",
            help="Role assumed in every other account (a path may prefix it: security/ecrwatch-reader).",
        )
        @click.option(
            "--external-id",
            metavar="ID",
            envvar="ECRWATCH_EXTERNAL_ID",
            show_envvar=True,
            help="External id the role's trust policy asks for (never printed).",
        )
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            accounts: tuple[str, ...],
            org: bool,
            ous: tuple[str, ...],
            exclude: tuple[str, ...],
            role_name: str | None,
            external_id: str | None,
            inspector_account: str | None = None,
            **kwargs: Any,
        ) -> Any:
            given = AccountOptions(accounts, org, ous, exclude, role_name, external_id, inspector_account)
            return command(*args, account_opts=given, **kwargs)

        if inspector:
            wrapper = click.option(
                "--inspector-account",
                metavar="ID",
                help="Inspector's delegated administrator: asked about every member's images (its role is entered).",
            )(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
