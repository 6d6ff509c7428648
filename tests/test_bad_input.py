"""Bad input: every option with a wrong value is exit 2, one message that names the input and says what is
expected, no AWS call, and nothing written (no report, backup or state file, nothing on stdout).

A guard test makes every value-taking option of every command appear here, so a new option cannot go
without its bad-input case. Region names: a wrong shape is refused; a well-formed name botocore does not
list is used with a warning (AWS opens regions before an installed botocore knows them; a typo then fails to
connect, naming the region). Property tests add the round trips test_images.py does not cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrwatch.cli import main
from ecrwatch.errors import UsageError
from ecrwatch.images import (
    ecr_registry_host,
    image_id_reference,
    parse_ecr_host,
    parse_image_id,
    parse_image_reference,
)
from ecrwatch.inventory.ecs import parse_cluster_selector
from ecrwatch.options import RegionType, known_regions
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import SimAWS
from hardening_world import REGION, ecrwatch, no_traceback


@dataclass(frozen=True)
class Case:
    command: str
    option: str  # the option the case is about
    args: tuple[str, ...]  # "{tmp}" is the test's folder of inputs, "{kubeconfig}" a valid kubeconfig there
    expect: str  # what the message says is expected (or why the value is wrong)


CASES = [
    # --- shared by every AWS command ---
    Case("check", "--region", ("--region", "us_east_1"), "is not an AWS region name (expected something like"),
    Case("status", "--region", ("--region", "useast1"), "is not an AWS region name"),
    Case("enable-scanning", "--region", ("--region", ""), "is not an AWS region name"),
    Case("check", "--profile", ("--profile", "ghost"), "AWS profile 'ghost' (from --profile) was not found"),
    Case("check", "--max-attempts", ("--max-attempts", "0"), "'--max-attempts': 0 is not in the range 1<=x<=50"),
    Case("status", "--connect-timeout", ("--connect-timeout", "0"), "'--connect-timeout': 0.0 is not in the range"),
    Case("check", "--read-timeout", ("--read-timeout", "-5"), "'--read-timeout': -5.0 is not in the range"),
    Case("check", "--read-timeout", ("--read-timeout", "soon"), "'soon' is not a valid float"),
    # --- check ---
    Case("check", "--min-severity", ("--min-severity", "urgent"), "'urgent' is not a severity; use one of CRITICAL"),
    Case("check", "--fail-on", ("--fail-on", "severe"), "'severe' is not a severity; use one of CRITICAL"),
    Case("check", "--format", ("--format", "xml"), "'xml' is not one of 'table', 'json', 'csv'"),
    Case("check", "--fail-on-epss", ("--fail-on-epss", "1.5"), "'1.5' is not a probability; give a number from 0"),
    Case("check", "--fail-on-epss", ("--fail-on-epss", "nan"), "'nan' is not a probability; give a number from 0"),
    Case("check", "--fail-on-epss", ("--fail-on-epss", "high"), "'high' is not a probability"),
    Case("check", "--sort", ("--sort", "epss"), "'epss' is not one of 'severity', 'risk'"),
    Case("check", "--owner-label", ("--owner-label", " "), "--owner-label needs a label or tag key"),
    Case("check", "--team", ("--team", "payments"), "--team needs --owner-label KEY"),
    Case("check", "--group-by", ("--group-by", "floor"), "'floor' is not one of 'image', 'team'"),
    Case("check", "--ignore-file", ("--ignore-file", "{tmp}/missing.yaml"), "{tmp}/missing.yaml could not be read"),
    Case("check", "--vex", ("--vex", "{tmp}/missing.openvex.json"), "{tmp}/missing.openvex.json could not be read"),
    Case("check", "--output", ("--output", "{tmp}/missing/report.json"), "folder {tmp}/missing does not exist"),
    Case("check", "--output", ("--output", "{tmp}/folder"), "--output {tmp}/folder is a directory"),
    Case("check", "--output", ("--output", ""), "--output was given an empty file name"),
    Case("check", "--workers", ("--workers", "0"), "'--workers': 0 is not in the range 1<=x<=64"),
    Case("check", "--ecs-cluster", ("--ecs-cluster", "prod cluster"), "'prod cluster' is not a valid ECS cluster name"),
    Case("check", "--ecs-cluster", ("--ecs-cluster", "arn:aws:ecs:nowhere"), "is not an ECS cluster ARN"),
    Case("check", "--eks-cluster", ("--eks-cluster", "-dash"), "'-dash' is not a valid EKS cluster name"),
    Case("check", "--kubeconfig", ("--kubeconfig", "{tmp}/absent.yaml"), "kubeconfig {tmp}/absent.yaml does not exist"),
    Case(
        "check", "--kubeconfig", ("--kubeconfig", "{tmp}/broken.yaml"), "kubeconfig {tmp}/broken.yaml is not valid YAML"
    ),
    Case(
        "check",
        "--kube-context",
        ("--kubeconfig", "{kubeconfig}", "--kube-context", "staging"),
        "context 'staging' is not in kubeconfig {kubeconfig}",
    ),
    Case("check", "--state", ("--state", "{tmp}/corrupt.json"), "state file {tmp}/corrupt.json is not valid JSON"),
    Case("check", "--state", ("--state", "{tmp}/folder"), "--state {tmp}/folder is a directory"),
    Case("check", "--state-wait", ("--state-wait", "-1"), "'--state-wait': -1.0 is not in the range"),
    Case("check", "--new-only", ("--new-only",), "--new-only needs --state PATH"),
    Case("check", "--notify-webhook", ("--notify-webhook", "http://example.com/hook"), "only https webhooks"),
    Case("check", "--notify-sns", ("--notify-sns", "arn:aws:sns:topic"), "is not an SNS topic ARN"),
    Case("check", "--notify-timeout", ("--notify-timeout", "0"), "'--notify-timeout': 0.0 is not in the range"),
    Case("check", "--event", ("--event", "{tmp}/corrupt.json"), "event file {tmp}/corrupt.json is not JSON"),
    Case("check", "--log-format", ("--log-format", "xml"), "'xml' is not one of 'text', 'json'"),
    # --- accounts (check and status) ---
    Case("check", "--account", ("--account", "1234"), "--account '1234' is not a 12-digit AWS account id"),
    Case("status", "--ou", ("--ou", "payments"), "--ou 'payments' is not an organizational unit id"),
    Case("check", "--exclude-account", ("--exclude-account", "x"), "is not a 12-digit AWS account id"),
    Case("check", "--exclude-account", ("--exclude-account", "111111111111"), "no accounts were selected"),
    Case("check", "--role-name", ("--org", "--role-name", "reader role"), "is not an IAM role name"),
    Case("check", "--external-id", ("--role-name", "r", "--external-id", "x"), "is not a valid external id"),
    Case("status", "--external-id", ("--external-id", "abcdef"), "no --role-name was given"),
    Case("check", "--inspector-account", ("--inspector-account", "12"), "is not a 12-digit AWS account id"),
    # --- enable-scanning ---
    Case("enable-scanning", "--frequency", ("--frequency", "hourly"), "'hourly' is not one of 'continuous', 'on-push'"),
    Case("enable-scanning", "--filter", ("--filter", "Prod-*"), "'Prod-*'"),
    Case("enable-scanning", "--rescan-duration", ("--rescan-duration", "7d"), "'7d' is not one of '14d'"),
    Case(
        "enable-scanning",
        "--pull-rescan-duration",
        ("--pull-rescan-duration", "lifetime"),
        "'lifetime' is not one of '14d'",
    ),
    Case("enable-scanning", "--backup", ("--backup", "{tmp}/missing/b.json"), "the directory {tmp}/missing does not"),
    Case("enable-scanning", "--backup", ("--backup", "{tmp}/corrupt.json"), "already exists"),
    Case("enable-scanning", "--restore", ("--restore", "{tmp}/corrupt.json"), "is not valid JSON"),
    Case("enable-scanning", "--restore", ("--restore", "{tmp}/binary.bin"), "is not a text file"),
    Case("enable-scanning", "--restore", ("--restore", "{tmp}/absent.json"), "cannot be read"),
    Case("enable-scanning", "--wait-timeout", ("--wait-timeout", "-1"), "'--wait-timeout': -1.0 is not in the range"),
    Case("enable-scanning", "--poll-interval", ("--poll-interval", "-1"), "'--poll-interval': -1.0 is not in the"),
    # --- status ---
    Case("status", "--format", ("--format", "csv"), "'csv' is not one of 'table', 'json'"),
    # --- iam-policy (no AWS call ever; nothing on stdout when refused) ---
    Case("iam-policy", "--command", ("--command", "delete"), "'delete' is not one of 'check', 'enable-scanning'"),
    Case("iam-policy", "--partition", ("--partition", "aws-mars"), "'aws-mars' is not one of 'aws', 'aws-cn'"),
    Case("iam-policy", "--sns-topic", ("--sns-topic", "arn:aws:sns:*:*:*"), "is not an SNS topic ARN"),
    Case("iam-policy", "--hub-account", ("--org", "--hub-account", "hub"), "--hub-account 'hub' is not a 12-digit"),
    Case("iam-policy", "--role-name", ("--org", "--role-name", "a:b"), "is not an IAM role name"),
]
# Flags take no value that could be wrong (their wrong combinations have cases above or in the command's tests).
NO_VALUE = {"--help", "--version"}


@pytest.fixture
def inputs(tmp_path: Path, sim_kube: SimKube) -> Iterator[tuple[Path, Path]]:
    """A folder of bad inputs (and one good kubeconfig, for the unknown-context case)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "folder").mkdir()
    (folder / "corrupt.json").write_text("{not json")
    (folder / "binary.bin").write_bytes(b"\xff\xfe\x00\x81 not text")
    (folder / "broken.yaml").write_text("clusters: [ {{{\n")
    kubeconfig = sim_kube.kubeconfig(folder / "kubeconfig.yaml", context="prod")
    yield folder, kubeconfig


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.command}{c.option}={c.args[-1]}" for c in CASES])
def test_a_wrong_value_is_exit_2_naming_it_and_nothing_is_called_or_written(
    sim_aws: SimAWS, inputs: tuple[Path, Path], case: Case
) -> None:
    folder, kubeconfig = inputs

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(folder)).replace("{kubeconfig}", str(kubeconfig))

    args = [fill(a) for a in case.args]
    # Where the command could write, give it somewhere to write, to see that it does not.
    if case.command == "check" and case.option != "--output":
        args += ["--output", str(folder / "report.json")]
    if case.command == "enable-scanning" and case.option != "--backup":
        args += ["--backup", str(folder / "backup.json"), "--yes"]
    if case.command != "iam-policy" and case.option != "--region":
        args += ["--region", REGION]
    before = snapshot(folder)
    result = ecrwatch(case.command, *args)
    assert result.exit_code == 2, result.output
    no_traceback(result)
    assert fill(case.expect) in result.stderr
    assert case.option in result.stderr or repr(case.args[-1]) in result.stderr or fill(case.args[-1]) in result.stderr
    assert result.stdout == ""
    assert sim_aws.calls.records == []
    after = snapshot(folder)
    if case.option == "--state":  # the empty lock file beside a state file is kept by design (state.py)
        assert after.pop(Path(args[args.index("--state") + 1]).name + ".lock", b"") == b""
    assert after == before


def test_every_option_that_takes_a_value_has_a_bad_input_case() -> None:
    covered = {c.option for c in CASES}
    missing = []
    for name, command in main.commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.count:
                continue
            option = max(param.opts, key=len)
            if option not in covered and option not in NO_VALUE:
                missing.append(f"{name} {option}")
    assert missing == []


# --- region names -------------------------------------------------------------------------------------


def test_every_region_botocore_knows_is_accepted_and_needs_no_warning() -> None:
    regions = known_regions()
    assert {"us-east-1", "cn-north-1", "us-gov-west-1", "eusc-de-east-1"} <= regions
    region_type = RegionType()
    for region in regions:
        assert region_type.convert(region, None, None) == region
        assert region_type.convert(region.upper(), None, None) == region  # shell habits: US-EAST-1


def test_a_well_formed_region_botocore_does_not_know_is_used_with_a_warning(sim_aws: SimAWS) -> None:
    result = ecrwatch("check", "--region", "xx-mars-1", "--format", "json", "--no-eks")
    assert result.exit_code == 0, result.output
    assert "region xx-mars-1 is not in this botocore's endpoint data" in result.stderr
    assert "upgrade boto3" in result.stderr and "typo" in result.stderr
    assert sim_aws.calls.count("ecs", "ListClusters", "xx-mars-1") == 1  # used, not refused
    known = ecrwatch("check", "--region", REGION, "--format", "json", "--no-eks", "-q")
    assert known.exit_code == 0 and "endpoint data" not in known.stderr


# --- property tests the image tests do not have ---------------------------------------------------------

_accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
_regions = st.sampled_from(sorted(known_regions()))
_hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
_repositories = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}(?:/[a-z0-9]{1,8}){0,2}", fullmatch=True)


@given(_accounts, _regions)
def test_an_ecr_host_round_trips_in_every_region_botocore_knows(account: str, region: str) -> None:
    host = ecr_registry_host(account, region)
    assert parse_ecr_host(host) == (account, region)
    assert parse_ecr_host(host.upper()) == (account, region)
    assert parse_ecr_host(f"{host}:443") == (account, region)


@given(_accounts, _regions, _repositories, _hex64, st.sampled_from(["docker-pullable://", "docker://", ""]))
def test_an_image_id_names_the_same_image_as_the_reference_it_was_made_from(
    account: str, region: str, repository: str, hex64: str, scheme: str
) -> None:
    reference = parse_image_reference(f"{ecr_registry_host(account, region)}/{repository}@sha256:{hex64}")
    assert (reference.ecr_account, reference.ecr_region) == (account, region)
    from_id = image_id_reference(scheme + reference.canonical)
    assert from_id == reference
    assert parse_image_id(scheme + reference.canonical) == f"sha256:{hex64}"
    # A bare config id, with or without a scheme, names no manifest digest: never a match by mistake.
    assert parse_image_id(f"{scheme}sha256:{hex64}") is None


@given(_accounts, _regions, st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
def test_an_ecs_cluster_arn_is_read_in_its_own_region_in_every_region(account: str, region: str, name: str) -> None:
    selector = parse_cluster_selector(f"arn:aws:ecs:{region}:{account}:cluster/{name}")
    assert (selector.name, selector.region) == (name, region)


@given(st.text(max_size=80))
def test_cluster_selectors_and_region_names_fail_only_with_a_message_naming_the_text(text: str) -> None:
    try:
        selector = parse_cluster_selector(text)
    except UsageError as exc:  # anything else escaping is a crash, and fails the test
        assert repr(text) in exc.message
    else:
        assert selector.text == text and selector.name
    try:
        region = RegionType().convert(text, None, None)
    except click.BadParameter as exc:
        assert repr(text) in exc.message
    else:
        assert region == text.strip().lower()
