"""`ecrwatch check` end to end on ECS: the simulated account over HTTP, the real CLI, the report a user reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim, EcsTaskSeed
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)


@dataclass
class World:
    sim: SimAWS
    api: str  # single-arch digest, with findings
    web_index: str
    web_amd: str
    web_arm: str
    worker: str  # reached by tag only
    clean: str
    pending: str
    eu: str  # image in another region's registry
    prod_api_task: str


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", *args])


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    valid_report(report)
    return report


@pytest.fixture
def world(sim_aws: SimAWS) -> World:
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("team/api", "team/web", "team/worker", "team/clean", "team/pending"):
        ecr.create_repository(repositoryName=repo)
    api = push_image(ecr, "team/api", "v1")
    web = push_index(ecr, "team/web", "v2")
    worker = push_image(ecr, "team/worker", "v3")
    clean = push_image(ecr, "team/clean", "v1")
    pending = push_image(ecr, "team/pending", "v1")
    ecr_eu = boto3.client("ecr", region_name="eu-west-1")
    ecr_eu.create_repository(repositoryName="team/eu")
    eu = push_image(ecr_eu, "team/eu", "v1")

    inspector = sim_aws.extension(Inspector2Sim)
    add = inspector.add_finding
    add(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0001", severity="CRITICAL", epss=0.9)
    add(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0002", severity="HIGH", epss=0.2)
    add(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0003", severity="HIGH", status="CLOSED")
    add(
        REGION,
        repository="team/api",
        digest=api,
        vulnerability_id="CVE-2024-0004",
        severity="HIGH",
        status="SUPPRESSED",
    )
    add(
        REGION,
        repository="team/web",
        digest=web.platforms["linux/amd64"],
        vulnerability_id="CVE-2024-1000",
        severity="MEDIUM",
        architecture="amd64",
    )
    add(
        REGION,
        repository="team/web",
        digest=web.platforms["linux/arm64"],
        vulnerability_id="CVE-2024-1000",
        severity="MEDIUM",
        architecture="arm64",
    )
    add(
        REGION,
        repository="team/worker",
        digest=worker,
        vulnerability_id="CVE-2024-2000",
        severity="LOW",
        fix_available="NO",
    )
    inspector.set_coverage(REGION, repository="team/clean", digest=clean)
    inspector.set_coverage(REGION, repository="team/pending", digest=pending, reason="PENDING_INITIAL_SCAN")
    add("eu-west-1", repository="team/eu", digest=eu, vulnerability_id="CVE-2024-3000", severity="HIGH")

    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    ecs.add_cluster(REGION, "batch")
    prod_api = ecs.add_task(
        REGION,
        "prod",
        service="api",
        containers=[
            EcsContainerSeed("api", f"{HOST}/team/api:v1", digest=api),
            EcsContainerSeed("datadog", "datadog/agent:7", digest="sha256:" + "d" * 64),
        ],
    )
    web_task = [EcsContainerSeed("web", f"{HOST}/team/web:v2", web.digest)]
    ecs.add_task(REGION, "prod", service="web", containers=web_task, cpu_architecture=None)  # arch unknown
    ecs.add_task(REGION, "prod", service="clean", containers=[EcsContainerSeed("c", f"{HOST}/team/clean:v1", clean)])
    ecs.add_task(REGION, "prod", family="pend", containers=[EcsContainerSeed("p", f"{HOST}/team/pending:v1", pending)])
    ecs.add_task(REGION, "batch", family="worker", containers=[EcsContainerSeed("worker", f"{HOST}/team/worker:v3")])
    eu_uri = f"{ecr_registry_host(ACCOUNT_ID, 'eu-west-1')}/team/eu:v1"
    ecs.add_task(REGION, "batch", family="eu", containers=[EcsContainerSeed("eu", eu_uri, eu)])
    ecs.add_task(
        REGION,
        "batch",
        family="old",
        desired_status="STOPPED",
        last_status="STOPPED",
        containers=[EcsContainerSeed("old", f"{HOST}/team/api:v1", api)],
    )
    return World(
        sim_aws,
        api,
        web.digest,
        web.platforms["linux/amd64"],
        web.platforms["linux/arm64"],
        worker,
        clean,
        pending,
        eu,
        prod_api,
    )


def _entry(report: dict[str, Any], digest: str) -> dict[str, Any]:
    (entry,) = [e for e in report["images"] if e["image"]["digest"] == digest]
    return entry


def test_a_running_digest_is_joined_with_its_active_findings_only(world: World) -> None:
    report = report_of(result := run())
    api = _entry(report, world.api)
    assert api["image"]["reference"] == f"{HOST}/team/api@{world.api}"
    (workload,) = api["workloads"]
    assert workload | {"task_arn": None} == workload | {
        "platform": "ecs",
        "cluster": "prod",
        "service": "api",
        "container": "api",
        "matched_via": "digest",
        "running_digest": world.api,
        "launch_type": "FARGATE",
        "account": ACCOUNT_ID,
        "region": REGION,
        "image_reference": f"{HOST}/team/api:v1",
        "task_arn": None,
    }
    assert workload["task_arn"] == world.prod_api_task
    api_ids = [e["vulnerability_id"] for e in report["exposures"] if e["image"]["digest"] == world.api]
    assert api_ids == ["CVE-2024-0001", "CVE-2024-0002"]  # CLOSED and SUPPRESSED are not live exposures
    assert result.exit_code == 0


def test_a_multi_arch_index_run_on_an_unknown_architecture_matches_both_platform_digests(world: World) -> None:
    report = report_of(run())
    for digest, platform in ((world.web_amd, "linux/amd64"), (world.web_arm, "linux/arm64")):
        entry = _entry(report, digest)
        assert entry["image"]["platform"] == platform
        (workload,) = entry["workloads"]
        assert (workload["matched_via"], workload["running_digest"]) == ("index", world.web_index)
        assert workload["architecture"] is None
    assert not [e for e in report["images"] if e["image"]["digest"] == world.web_index]


def test_a_container_without_digest_is_matched_through_its_tag(world: World) -> None:
    report = report_of(run())
    (workload,) = _entry(report, world.worker)["workloads"]
    assert (workload["matched_via"], workload["running_digest"], workload["service"]) == ("tag", None, None)


def test_unscanned_images_are_listed_with_their_reason_and_a_clean_image_nowhere(world: World) -> None:
    report = report_of(run())
    reasons = {(u["image"]["repository"], u["reason"]) for u in report["unscanned"]}
    assert reasons == {("datadog/agent", "not_ecr"), ("team/pending", "scan_pending")}
    everywhere = json.dumps(report["images"]) + json.dumps(report["unscanned"])
    assert world.clean not in everywhere
    assert report["summary"]["unscanned_running_images"] == 2


def test_an_image_from_another_regions_registry_is_looked_up_in_that_region(world: World) -> None:
    report = report_of(run())
    entry = _entry(report, world.eu)
    assert entry["image"]["region"] == "eu-west-1"
    assert world.sim.calls.count("inspector2", "ListFindings", "eu-west-1") >= 1
    assert world.sim.calls.count("ecs", "ListClusters", "eu-west-1") == 0  # eu-west-1 was not selected


def test_summary_counts_and_exposure_order(world: World) -> None:
    report = report_of(run())
    summary = report["summary"]
    assert summary["running_containers"] == 7  # the stopped task does not count
    assert summary["exposures"] == len(report["exposures"]) == 6
    assert summary["by_severity"] == {
        "CRITICAL": 1,
        "HIGH": 2,
        "MEDIUM": 2,
        "LOW": 1,
        "INFORMATIONAL": 0,
        "UNTRIAGED": 0,
    }
    severities = [e["severity"] for e in report["exposures"]]
    assert severities == ["CRITICAL", "HIGH", "HIGH", "MEDIUM", "MEDIUM", "LOW"]
    assert sorted(c["name"] for c in report["scope"]["clusters"]) == ["batch", "prod"]
    assert all(c["ok"] for c in report["scope"]["clusters"])


def test_min_severity_and_fixable_only_filter_what_is_reported(world: World) -> None:
    report = report_of(run("--min-severity", "high"))
    assert {e["severity"] for e in report["exposures"]} == {"CRITICAL", "HIGH"}
    assert report["summary"]["by_severity"]["MEDIUM"] == 0
    # Filtered-out findings do not make an image unscanned.
    assert {u["reason"] for u in report["unscanned"]} == {"not_ecr", "scan_pending"}
    report = report_of(run("--fixable-only"))
    assert "CVE-2024-2000" not in {e["vulnerability_id"] for e in report["exposures"]}


@pytest.mark.parametrize(("fail_on", "status"), [("CRITICAL", 1), ("LOW", 1), ("INFORMATIONAL", 1)])
def test_fail_on_exits_1_when_an_exposure_reaches_it(world: World, fail_on: str, status: int) -> None:
    assert run("--fail-on", fail_on).exit_code == status


def test_fail_on_looks_at_the_filtered_report(world: World) -> None:
    # Only the LOW worker finding has no fix; with --fixable-only nothing LOW remains.
    result = run("--fail-on", "LOW", "--min-severity", "LOW", "--ecs-cluster", "batch", "--fixable-only")
    report = report_of(result)
    assert {e["severity"] for e in report["exposures"]} == {"HIGH"}
    assert result.exit_code == 1
    result = run("--fail-on", "CRITICAL", "--ecs-cluster", "batch")
    assert result.exit_code == 0


def test_one_cluster_denied_while_another_is_read_exits_3_with_both_in_the_report(world: World) -> None:
    world.sim.faults.add(
        "ecs",
        "ListTasks",
        error="AccessDeniedException",
        when=lambda r: str(r.json().get("cluster")).endswith("/batch"),
    )
    result = run("--fail-on", "CRITICAL")
    report = report_of(result)
    assert result.exit_code == 3  # incomplete beats exposures
    clusters = {c["name"]: c["ok"] for c in report["scope"]["clusters"]}
    assert clusters == {"prod": True, "batch": False}
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"ecs:{REGION}/batch", "AccessDeniedException")
    assert "ecs:ListTasks" in error["message"]
    assert _entry(report, world.api)["workloads"][0]["cluster"] == "prod"


def test_more_than_100_tasks_and_more_than_100_findings_are_all_read(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="big/app")
    digest = push_image(ecr, "big/app", "v1")
    inspector = sim_aws.extension(Inspector2Sim)
    for i in range(130):
        inspector.add_finding(
            REGION, repository="big/app", digest=digest, vulnerability_id=f"CVE-2025-{i:04d}", severity="HIGH"
        )
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "big")
    seed = EcsTaskSeed(containers=[EcsContainerSeed("app", f"{HOST}/big/app:v1", digest)], service="app")
    ecs.add_tasks(REGION, "big", [seed] * 250)
    report = report_of(run())
    assert report["summary"]["running_containers"] == 250
    assert report["summary"]["exposures"] == 130
    assert len(report["images"][0]["workloads"]) == 250
    assert all(e["workload_count"] == 250 for e in report["exposures"])
    assert sim_aws.calls.count("ecs", "DescribeTasks") == 3  # 100 + 100 + 50
    assert sim_aws.calls.count("ecs", "ListTasks") == 3
    assert sim_aws.calls.count("inspector2", "ListFindings") >= 2  # paged


def test_table_output_shows_the_exposures_for_a_person(world: World) -> None:
    result = CliRunner().invoke(main, ["check", "--region", REGION, "--format", "table"])
    assert result.exit_code == 0
    assert "CVE-2024-0001" in result.stdout
    assert "team/api" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_csv_output_has_one_row_per_exposure_and_workload(world: World) -> None:
    result = CliRunner().invoke(main, ["check", "--region", REGION, "--format", "csv"])
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 1 + 6  # header + one workload for each of the six exposures


def test_output_file_is_written_and_nothing_is_half_written_on_a_bad_path(world: World, tmp_path: Any) -> None:
    target = tmp_path / "report.json"
    result = run("--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())["summary"]["exposures"] == 6
    calls_before = len(world.sim.calls.records)
    bad = run("--output", str(tmp_path / "missing" / "report.json"))
    assert bad.exit_code == 2
    assert "does not exist" in bad.stderr
    assert len(world.sim.calls.records) == calls_before  # refused before any call


def test_no_region_anywhere_is_a_usage_error(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = CliRunner().invoke(main, ["check", "--format", "json"])
    assert result.exit_code == 2
    assert "--region" in result.stderr
