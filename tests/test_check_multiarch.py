"""`ecrwatch check` end to end on a multi-arch image: a finding is charged to the workloads that run the
platform image it was found in (ECS: the task's `ecs.cpu-architecture`; Kubernetes: the `kubernetes.io/arch`
label of the pod's node), and to every workload whose architecture is unknown."""

from __future__ import annotations

import json
from collections.abc import Callable
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
from ecrwatch.sim.kube import KubeContainerSeed, SimKube
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


GRAVITON = "ip-10-0-2-20.us-east-1.compute.internal"
INTEL = "ip-10-0-3-30.us-east-1.compute.internal"


def shop_cluster(sim_eks_cluster: Callable[..., SimKube], shop: Shop) -> SimKube:
    """An EKS cluster with an arm64 and an amd64 node, a Deployment on each, and a pod that is not scheduled
    yet (no node: architecture unknown) naming the same image by tag."""
    kube = sim_eks_cluster(REGION, "shop")
    kube.add_node(GRAVITON, architecture="arm64")
    kube.add_node(INTEL, architecture="amd64")
    running = [KubeContainerSeed("web", f"{HOST}/shop/web:v2", image_id=f"{HOST}/shop/web@{shop.index.digest}")]
    kube.run_deployment("shop", "web-arm", running, replicas=1, node_name=GRAVITON)
    kube.run_deployment("shop", "web-intel", running, replicas=1, node_name=INTEL)
    kube.add_pod("shop", "web-next", containers=[KubeContainerSeed("web", f"{HOST}/shop/web:v2")], node_name=None)
    return kube


def pod_owner(pod: str) -> str:
    return pod if pod == "web-next" else pod.rsplit("-", 2)[0]


def test_pods_are_charged_with_the_findings_of_their_nodes_platform(
    sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], shop: Shop
) -> None:
    shop_cluster(sim_eks_cluster, shop)

    result, report = check("--no-ecs")

    assert result.exit_code == 0, result.output
    arm_only = {(pod_owner(pod), arch) for pod, arch in charged(report, ARM_ONLY)}
    assert arm_only == {("web-arm", "arm64"), ("web-next", None)}
    both = {(pod_owner(pod), arch) for pod, arch in charged(report, BOTH)}
    assert both == {("web-arm", "arm64"), ("web-intel", "amd64"), ("web-next", None)}
    by_digest = {e["image"]["digest"]: e for e in report["images"]}
    intel = [pod_owner(w["pod"]) for w in by_digest[shop.amd64]["workloads"]]
    assert intel == ["web-intel", "web-next"]
    assert {w["matched_via"] for w in by_digest[shop.amd64]["workloads"]} == {"index", "tag"}


def test_a_cluster_that_refuses_nodes_keeps_its_pods_charged_with_every_platform_and_says_why(
    sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], shop: Shop
) -> None:
    kube = shop_cluster(sim_eks_cluster, shop)
    kube.denied.add("nodes")

    result, report = check("--no-ecs")

    assert result.exit_code == 3, result.output  # a grant the printed ClusterRole has is missing
    [error] = report["errors"]
    assert (error["source"], error["code"]) == (f"eks:{REGION}/shop", "403")
    assert "nodes" in error["message"] and "ecrwatch iam-policy --kubernetes" in error["message"]
    arm_only = {(pod_owner(pod), arch) for pod, arch in charged(report, ARM_ONLY)}
    assert arm_only == {("web-arm", None), ("web-intel", None), ("web-next", None)}  # nothing hidden
    assert report["scope"]["clusters"][0]["ok"] is False
