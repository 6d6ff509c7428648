"""`ecrwatch check` end to end on Inspector's coverage: every running scanned digest's coverage is read, an image
Inspector no longer monitors says so (JSON and table, with what to do), and a coverage failure is an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
LAPSED_AT = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def run(*args: str) -> Result:
    # A wide terminal, so that the table's columns do not fold the sentences the tests look for.
    return CliRunner().invoke(main, ["check", "--region", REGION, *args], env={"COLUMNS": "240"})


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    valid_report(report)
    return report


def table_of(result: Result) -> str:
    """The table as a person reads it: rich folds long lines, so words are compared with the folds undone."""
    return " ".join(result.stdout.split())


class Account:
    """A simulated account: repositories pushed to ECR, ECS tasks running them, Inspector seeded per test."""

    def __init__(self, sim: SimAWS) -> None:
        self.sim = sim
        self.ecr = boto3.client("ecr", region_name=REGION)
        self.inspector = sim.extension(Inspector2Sim)
        self.ecs = sim.extension(EcsSim)
        self.ecs.add_cluster(REGION, "prod")

    def running(self, repository: str, tag: str = "v1", *, service: str | None = None) -> str:
        """Push REPOSITORY:TAG and run it in a task of cluster prod; returns its digest."""
        self.ecr.create_repository(repositoryName=repository)
        digest = push_image(self.ecr, repository, tag)
        name = repository.replace("/", "-")
        container = EcsContainerSeed(name, f"{HOST}/{repository}:{tag}", digest)
        if service:
            self.ecs.add_task(REGION, "prod", service=service, containers=[container])
        else:
            self.ecs.add_task(REGION, "prod", family=name, containers=[container])
        return digest

    def finding(self, repository: str, digest: str, vulnerability: str, severity: str = "HIGH") -> None:
        self.inspector.add_finding(
            REGION, repository=repository, digest=digest, vulnerability_id=vulnerability, severity=severity
        )

    def coverage(self, repository: str, digest: str, code: str, reason: str, **more: Any) -> None:
        self.inspector.set_coverage(
            REGION, repository=repository, digest=digest, status_code=code, reason=reason, **more
        )


@pytest.fixture
def account(sim_aws: SimAWS) -> Account:
    return Account(sim_aws)


def _image(report: dict[str, Any], digest: str) -> dict[str, Any]:
    (entry,) = [e for e in report["images"] if e["image"]["digest"] == digest]
    return entry


def test_an_image_with_findings_whose_scan_eligibility_expired_is_not_monitored(account: Account) -> None:
    lapsed = account.running("shop/api", service="api")
    watched = account.running("shop/web", service="web")
    account.finding("shop/api", lapsed, "CVE-2025-1111")
    account.finding("shop/web", watched, "CVE-2025-2222")
    account.coverage("shop/api", lapsed, "INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", last_scanned_at=LAPSED_AT)

    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert _image(report, lapsed)["scan_status"] == {
        "status": "INACTIVE",
        "reason": "SCAN_ELIGIBILITY_EXPIRED",
        "last_scanned_at": "2026-01-15T08:30:00Z",
        "monitored": False,
    }
    kept = _image(report, watched)["scan_status"]
    assert (kept["status"], kept["reason"], kept["monitored"]) == ("ACTIVE", "SUCCESSFUL", True)
    assert kept["last_scanned_at"] is not None
    assert report["summary"]["not_monitored_running_images"] == 1
    # Its findings are still live exposures: Inspector stopped looking, nothing was fixed.
    assert sorted(e["vulnerability_id"] for e in report["exposures"]) == ["CVE-2025-1111", "CVE-2025-2222"]

    table = table_of(run("--format", "table"))
    assert "Not monitored 1" in table
    assert (
        "Not monitored by Inspector: Inspector's rescan duration lapsed (last scanned 2026-01-15): "
        "its findings will be closed with no fix" in table
    )
    assert "ecrwatch enable-scanning --pull-rescan-duration 180d" in table
    assert "LAST_IN_USE_AT" in table
    assert table.count("Not monitored by Inspector") == 1  # the monitored image says nothing of the kind


def test_an_on_push_image_without_findings_is_not_monitored_and_the_table_says_what_to_do(account: Account) -> None:
    digest = account.running("batch/report")
    account.coverage("batch/report", digest, "ACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH", scan_frequency="SCAN_ON_PUSH")
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    (entry,) = report["unscanned"]
    assert (entry["reason"], entry["image"]["digest"]) == ("not_monitored", digest)
    assert "SCAN_FREQUENCY_SCAN_ON_PUSH" in entry["detail"]
    assert (report["summary"]["unscanned_running_images"], report["summary"]["not_monitored_running_images"]) == (1, 1)

    table = table_of(run("--format", "table"))
    assert "not_monitored: Inspector scan status SCAN_FREQUENCY_SCAN_ON_PUSH" in table
    advice = f"To do: add the repository to the continuous rule: ecrwatch enable-scanning --region {REGION} --filter"
    assert f"{advice} batch/report" in table


def test_an_image_deleted_from_ecr_while_it_runs_is_not_found_in_ecr(account: Account) -> None:
    digest = account.running("shop/cart")
    account.coverage("shop/cart", digest, "INACTIVE", "RESOURCE_TERMINATED")
    report = report_of(run("--format", "json"))
    (entry,) = report["unscanned"]
    assert entry["reason"] == "not_found_in_ecr"
    assert "lifecycle policy" in entry["detail"]


def test_a_coverage_record_without_a_scan_status_is_never_called_clean(account: Account) -> None:
    digest = account.running("shop/search")
    account.inspector.set_coverage(REGION, repository="shop/search", digest=digest, scan_status=False)
    result = run("--format", "json")
    report = report_of(result)
    (entry,) = report["unscanned"]
    assert (entry["reason"], entry["detail"]) == (
        "not_covered",
        "Inspector's coverage record for this image carries no scan status",
    )


def test_coverage_is_read_for_more_than_ten_digests_without_findings_ten_a_request(account: Account) -> None:
    digests = [account.running(f"svc/app{n:02d}") for n in range(12)]
    for n, digest in enumerate(digests[:11]):
        account.coverage(f"svc/app{n:02d}", digest, "ACTIVE", "SUCCESSFUL")
    # digests[11]: Inspector has no record of it
    account.sim.calls.clear()
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    (entry,) = report["unscanned"]
    assert (entry["reason"], entry["image"]["digest"]) == ("not_covered", digests[11])
    assert report["summary"]["running_images"] == 12
    calls = list(account.sim.calls.select("inspector2", "ListCoverage"))
    sizes = sorted(len(c.params["filterCriteria"]["resourceId"]) for c in calls)
    assert sizes == [2, 10]
    asked = {v["value"].rsplit("/", 1)[1] for c in calls for v in c.params["filterCriteria"]["resourceId"]}
    assert asked == set(digests)


def test_list_coverage_failing_past_the_retries_is_an_error_and_nothing_is_called_clean(account: Account) -> None:
    vulnerable = account.running("shop/api", service="api")
    clean = account.running("shop/web", service="web")
    account.finding("shop/api", vulnerable, "CVE-2025-3333")
    account.coverage("shop/web", clean, "ACTIVE", "SUCCESSFUL")
    account.sim.faults.add("inspector2", "ListCoverage", region=REGION, error="ThrottlingException", status=400)

    result = run("--format", "json", "--max-attempts", "2")
    assert result.exit_code == 3, result.output
    assert account.sim.calls.count("inspector2", "ListCoverage") == 2  # botocore's two attempts, nothing on top
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"inspector2:{REGION}", "ThrottlingException")
    assert "account" not in error  # one account read: errors name none (DESIGN)
    # The vulnerable image is still reported, without a coverage verdict; the clean one is not called clean.
    assert [e["vulnerability_id"] for e in report["exposures"]] == ["CVE-2025-3333"]
    assert _image(report, vulnerable)["scan_status"] is None
    (entry,) = report["unscanned"]
    assert (entry["reason"], entry["image"]["digest"]) == ("not_covered", clean)
    assert "could not be read" in entry["detail"]
    table = table_of(run("--format", "table", "--max-attempts", "2"))
    assert "Errors (1): the report is incomplete" in table


def test_with_state_a_finding_gone_because_monitoring_lapsed_is_resolved_as_no_longer_monitored(
    account: Account, tmp_path: Path
) -> None:
    """Inspector closes the findings of an image whose scan eligibility expired: a cron user must not read
    that as a fix. A finding closed on an image Inspector still watches is a fix."""
    state = str(tmp_path / "state.json")
    lapsing = account.running("shop/api", service="api")
    watched = account.running("shop/web", service="web")
    account.finding("shop/api", lapsing, "CVE-2025-4444")
    account.finding("shop/web", watched, "CVE-2025-5555")
    first = report_of(run("--format", "json", "--state", state))
    same_state = tmp_path / "same-state.json"  # the same first run, for the table's second run below
    same_state.write_bytes(Path(state).read_bytes())
    assert sorted(e["vulnerability_id"] for e in first["exposures"]) == ["CVE-2025-4444", "CVE-2025-5555"]

    # Later: the api task outlived the pull rescan duration; Inspector stops and closes its finding. The web
    # image's finding is closed by a fix while Inspector keeps watching it.
    account.coverage("shop/api", lapsing, "INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", last_scanned_at=LAPSED_AT)
    for arn in _finding_arns(account):
        account.inspector.set_finding_status(arn, "CLOSED")
    result = run("--format", "json", "--state", state)
    assert result.exit_code == 0, result.output
    second = report_of(result)
    resolved = {r["vulnerability_id"]: (r["reason"], r["image"]["digest"]) for r in second["resolved"]}
    assert resolved == {
        "CVE-2025-4444": ("no_longer_monitored", lapsing),
        "CVE-2025-5555": ("finding_closed", watched),
    }
    (unscanned,) = second["unscanned"]
    assert (unscanned["reason"], unscanned["image"]["digest"]) == ("scan_expired", lapsing)

    table = table_of(run("--format", "table", "--state", str(same_state)))
    assert "Resolved since the previous run (2)" in table
    assert "no longer monitored by Inspector (not a fix)" in table
    assert "finding closed" in table


def _finding_arns(account: Account) -> list[str]:
    client = boto3.client("inspector2", region_name=REGION)
    pages = client.get_paginator("list_findings").paginate()
    return [f["findingArn"] for page in pages for f in page["findings"]]


def test_a_multi_arch_image_says_which_platform_image_inspector_stopped_watching(account: Account) -> None:
    account.ecr.create_repository(repositoryName="shop/web")
    web = push_index(account.ecr, "shop/web", "v2")
    for architecture in ("x86_64", "arm64"):  # the service runs on both: each task is charged its platform
        account.ecs.add_task(
            REGION,
            "prod",
            service="web",
            containers=[EcsContainerSeed("web", f"{HOST}/shop/web:v2", web.digest)],
            cpu_architecture=architecture,
        )
    amd, arm = web.platforms["linux/amd64"], web.platforms["linux/arm64"]
    account.finding("shop/web", amd, "CVE-2025-7777")
    account.finding("shop/web", arm, "CVE-2025-7777")
    account.coverage("shop/web", arm, "INACTIVE", "IMAGE_ARCHIVED", last_scanned_at=LAPSED_AT)

    report = report_of(run("--format", "json"))
    assert {e["image"]["digest"]: e["scan_status"]["monitored"] for e in report["images"]} == {amd: True, arm: False}
    assert report["summary"]["not_monitored_running_images"] == 1  # one running image (the index)

    # The table groups the two platform images under shop/web:v2; the line is said under the arm64 one only.
    table = table_of(run("--format", "table"))
    assert table.count("Not monitored by Inspector") == 1
    platforms = table[table.index("Platform images:") : table.index("Running in")]
    arm64 = platforms[platforms.index("linux/arm64: ") :]
    assert "Not monitored by Inspector: archived in ECR (last scanned 2026-01-15)" in arm64
    assert "Not monitored" not in platforms[: platforms.index("linux/arm64: ")]
