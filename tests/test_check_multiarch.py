"""`ecrwatch check` end to end on a multi-arch image: a finding is charged to the workloads that run the
platform image it was found in (ECS: the task's `ecs.cpu-architecture`; Kubernetes: the `kubernetes.io/arch`
label of the pod's node), and to every workload whose architecture is unknown."""

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
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import PushedIndex, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
BOTH = "CVE-2024-1000"  # in the amd64 and the arm64 image
ARM_ONLY = "CVE-2024-2000"  # in the arm64 image alone (an arm64-only package build)


@dataclass
class Shop:
    index: PushedIndex

    @property
    def amd64(self) -> str:
        return self.index.platforms["linux/amd64"]

    @property
    def arm64(self) -> str:
        return self.index.platforms["linux/arm64"]


@pytest.fixture
def shop(sim_aws: SimAWS) -> Shop:
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="shop/web")
    index = push_index(ecr, "shop/web", "v2")
    inspector = sim_aws.extension(Inspector2Sim)
    for platform, architecture in (("linux/amd64", "amd64"), ("linux/arm64", "arm64")):
        inspector.add_finding(
            REGION,
            repository="shop/web",
            digest=index.platforms[platform],
            vulnerability_id=BOTH,
            severity="HIGH",
            architecture=architecture,
        )
    inspector.add_finding(
        REGION,
        repository="shop/web",
        digest=index.platforms["linux/arm64"],
        vulnerability_id=ARM_ONLY,
        severity="CRITICAL",
        architecture="arm64",
    )
    return Shop(index)


def check(*args: str) -> tuple[Result, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", *args])
    report: dict[str, Any] = json.loads(result.stdout)
    valid_report(report)
    return result, report


def charged(report: dict[str, Any], vulnerability: str) -> set[tuple[str, str | None]]:
    """(workload name, architecture) of every workload the report charges with `vulnerability`."""
    digests = {e["image"]["digest"] for e in report["exposures"] if e["vulnerability_id"] == vulnerability}
    return {
        (w.get("service") or w.get("pod") or "", w.get("architecture"))
        for entry in report["images"]
        if entry["image"]["digest"] in digests
        for w in entry["workloads"]
    }


def test_ecs_tasks_are_charged_with_the_findings_of_the_platform_they_run(sim_aws: SimAWS, shop: Shop) -> None:
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    web = [EcsContainerSeed("web", f"{HOST}/shop/web:v2", shop.index.digest)]
    ecs.add_task(REGION, "prod", service="intel", containers=web, cpu_architecture="x86_64")
    ecs.add_task(REGION, "prod", service="graviton", containers=web, cpu_architecture="arm64")
    ecs.add_task(REGION, "prod", service="unsaid", containers=web, cpu_architecture=None)

    result, report = check("--no-eks")

    assert result.exit_code == 0, result.output
    assert charged(report, ARM_ONLY) == {("graviton", "arm64"), ("unsaid", None)}
    assert charged(report, BOTH) == {("intel", "amd64"), ("graviton", "arm64"), ("unsaid", None)}
    by_digest = {e["image"]["digest"]: e for e in report["images"]}
    assert [w["service"] for w in by_digest[shop.amd64]["workloads"]] == ["intel", "unsaid"]
    assert [w["service"] for w in by_digest[shop.arm64]["workloads"]] == ["graviton", "unsaid"]
    # JSON keeps one images[] entry per scanned digest, and one exposure per finding.
    assert sorted(e["vulnerability_id"] for e in report["exposures"]) == [BOTH, BOTH, ARM_ONLY]


def test_an_arm64_only_cve_is_not_reported_where_only_amd64_tasks_run(sim_aws: SimAWS, shop: Shop) -> None:
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    web = [EcsContainerSeed("web", f"{HOST}/shop/web:v2", shop.index.digest)]
    ecs.add_task(REGION, "prod", service="intel", containers=web, cpu_architecture="x86_64")

    result, report = check("--no-eks", "--fail-on", "CRITICAL")

    assert result.exit_code == 0, result.output  # the CRITICAL is in an image nothing here runs
    assert [e["vulnerability_id"] for e in report["exposures"]] == [BOTH]
    assert [e["image"]["digest"] for e in report["images"]] == [shop.amd64]
    assert report["summary"]["by_severity"]["CRITICAL"] == 0
