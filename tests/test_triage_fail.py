"""Fail conditions and risk order, end to end through `check` against the simulated account: which exposures
fail the run (`fails_run`), the exit status, the table's marks and `--sort risk`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
EXPLOITED_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@dataclass
class World:
    sim: SimAWS
    api: str


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, *args])


def report_of(result: Result) -> dict[str, Any]:
    return valid_report(json.loads(result.stdout))


def failing(report: dict[str, Any]) -> list[str]:
    return [e["vulnerability_id"] for e in report["exposures"] if e["fails_run"]]


@pytest.fixture
def world(sim_aws: SimAWS) -> World:
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="shop/api")
    api = push_image(ecr, "shop/api", "v1")
    add = sim_aws.extension(Inspector2Sim).add_finding
    # A critical nobody exploits, a low with a public exploit and a high EPSS, a medium in between.
    add(REGION, repository="shop/api", digest=api, vulnerability_id="CVE-2024-1001", severity="CRITICAL", epss=0.01)
    add(
        REGION,
        repository="shop/api",
        digest=api,
        vulnerability_id="CVE-2024-1002",
        severity="LOW",
        epss=0.7,
        exploit_available="YES",
        last_observed_at=EXPLOITED_AT,
    )
    add(REGION, repository="shop/api", digest=api, vulnerability_id="CVE-2024-1003", severity="MEDIUM", epss=0.05)
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    ecs.add_task(REGION, "prod", service="api", containers=[EcsContainerSeed("api", f"{HOST}/shop/api:v1", api)])
    return World(sim_aws, api)


def test_without_a_fail_condition_nothing_fails_the_run(world: World) -> None:
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert [e["vulnerability_id"] for e in report["exposures"]] == ["CVE-2024-1001", "CVE-2024-1003", "CVE-2024-1002"]
    assert failing(report) == []


def test_exposures_carry_inspectors_exploit_data(world: World) -> None:
    report = report_of(run("--format", "json"))
    exploited = next(e for e in report["exposures"] if e["vulnerability_id"] == "CVE-2024-1002")
    assert (exploited["exploit_available"], exploited["last_known_exploit_at"]) == ("YES", "2026-03-04T05:06:07Z")
    quiet = next(e for e in report["exposures"] if e["vulnerability_id"] == "CVE-2024-1001")
    assert (quiet["exploit_available"], quiet["last_known_exploit_at"]) == ("NO", None)


@pytest.mark.parametrize(
    ("options", "fails"),
    [
        (["--fail-on", "CRITICAL"], ["CVE-2024-1001"]),
        (["--fail-on", "MEDIUM"], ["CVE-2024-1001", "CVE-2024-1003"]),
        (["--fail-on-exploitable"], ["CVE-2024-1002"]),
        (["--fail-on-epss", "0.05"], ["CVE-2024-1003", "CVE-2024-1002"]),
        (["--fail-on-epss", "0.5"], ["CVE-2024-1002"]),
        (["--fail-on", "CRITICAL", "--fail-on-exploitable"], ["CVE-2024-1001", "CVE-2024-1002"]),
    ],
)
def test_any_condition_met_fails_the_run_and_the_exposure_says_so(
    world: World, options: list[str], fails: list[str]
) -> None:
    result = run("--format", "json", *options)
    assert result.exit_code == 1, result.output
    assert failing(report_of(result)) == fails


def test_a_condition_nothing_meets_leaves_the_run_clean(world: World) -> None:
    result = run("--format", "json", "--fail-on-epss", "0.9", "--fail-on-kev")
    assert result.exit_code == 0, result.output
    assert failing(report_of(result)) == []


def test_an_incomplete_run_is_3_even_when_an_exposure_fails_it(world: World) -> None:
    result = run("--format", "json", "--fail-on-exploitable", "--ecs-cluster", "prod", "--ecs-cluster", "gone")
    assert result.exit_code == 3, result.output
    report = report_of(result)
    assert failing(report) == ["CVE-2024-1002"]
    assert [e["source"] for e in report["errors"]] == [f"ecs:{REGION}/gone"]


def _row(table: str, vulnerability: str) -> str:
    """A finding's row as one string: its cells wrap onto the lines below at 80 columns."""
    start = table.index(vulnerability)
    end = table.find("CVE-", start + len(vulnerability))
    return " ".join(table[start : end if end != -1 else None].split())


def test_the_table_marks_exploitable_and_failing_findings(world: World) -> None:
    result = run("--format", "table", "--fail-on-exploitable")
    assert result.exit_code == 1
    assert "exploit" in _row(result.stdout, "CVE-2024-1002") and "fails" in _row(result.stdout, "CVE-2024-1002")
    quiet = _row(result.stdout, "CVE-2024-1001")
    assert "exploit" not in quiet and "fails" not in quiet


def _table_order(result: Result) -> list[str]:
    return [word for line in result.stdout.splitlines() for word in line.split() if word.startswith("CVE-")]


def test_sort_risk_puts_the_likeliest_exploited_first_and_the_default_order_stays(world: World) -> None:
    assert _table_order(run("--format", "table")) == ["CVE-2024-1001", "CVE-2024-1003", "CVE-2024-1002"]
    risk = run("--format", "table", "--sort", "risk")
    assert _table_order(risk) == ["CVE-2024-1002", "CVE-2024-1003", "CVE-2024-1001"]
