"""Owners, end to end through `check` against the simulated account and an EKS cluster: `--owner-label`
names each workload's team from its pod's labels, else its namespace's, else its ECS task's tags; `--team`
narrows the report and its exit status to one team."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
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
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from webhooks import WebhookReceiver

REGION = "us-west-2"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)


@dataclass
class World:
    sim: SimAWS
    kube: SimKube


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--no-kev", *args])


def report_of(result: Result) -> dict[str, Any]:
    return valid_report(json.loads(result.stdout))


def teams(report: dict[str, Any]) -> dict[str, str | None]:
    """Each workload (ECS service, Kubernetes namespace/owner) with its team."""
    out: dict[str, str | None] = {}
    for entry in [*report["images"], *report["unscanned"]]:
        for w in entry["workloads"]:
            name = f"ecs {w['service']}" if w["platform"] == "ecs" else f"{w['namespace']}/{w['owner']['name']}"
            out[name] = w["team"]
    return out


@pytest.fixture
def world(sim_aws: SimAWS, sim_eks_cluster: Any) -> World:
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("shop/api", "shop/worker", "pay/ledger", "misc/tool"):
        ecr.create_repository(repositoryName=repo)
    images = {repo: push_image(ecr, repo, "v1") for repo in ("shop/api", "shop/worker", "pay/ledger", "misc/tool")}
    add = sim_aws.extension(Inspector2Sim).add_finding
    add(REGION, repository="shop/api", digest=images["shop/api"], vulnerability_id="CVE-2024-0001", severity="HIGH")
    add(
        REGION, repository="shop/worker", digest=images["shop/worker"], vulnerability_id="CVE-2024-0002", severity="LOW"
    )
    add(
        REGION,
        repository="pay/ledger",
        digest=images["pay/ledger"],
        vulnerability_id="CVE-2024-0003",
        severity="CRITICAL",
    )
    add(REGION, repository="misc/tool", digest=images["misc/tool"], vulnerability_id="CVE-2024-0004", severity="LOW")

    def seed(repo: str, name: str) -> KubeContainerSeed:
        return KubeContainerSeed(name, f"{HOST}/{repo}:v1", image_id=f"{HOST}/{repo}@{images[repo]}")

    kube = sim_eks_cluster(REGION, "prod")
    kube.add_namespace("shop", labels={"team": "storefront"})
    kube.run_deployment("shop", "api", [seed("shop/api", "api")], replicas=1)
    # The pod's own label beats its namespace's; of the pod's labels, the first --owner-label given wins.
    kube.run_deployment(
        "shop", "worker", [seed("shop/worker", "worker")], replicas=1, pod_labels={"owner": "batch", "team": "jobs"}
    )
    kube.run_deployment("misc", "tool", [seed("misc/tool", "tool")], replicas=1)  # nobody's
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "pay")
    ledger = EcsContainerSeed("ledger", f"{HOST}/pay/ledger:v1", images["pay/ledger"])
    ecs.add_task(REGION, "pay", service="ledger", containers=[ledger], tags={"team": "payments", "env": "prod"})
    return World(sim_aws, kube)


def test_teams_come_from_the_pod_then_its_namespace_then_the_ecs_tasks_tags(world: World) -> None:
    result = run("--format", "json", "--owner-label", "owner", "--owner-label", "team")
    assert result.exit_code == 0, result.output
    assert teams(report_of(result)) == {
        "shop/api": "storefront",  # the namespace's label
        "shop/worker": "batch",  # the pod's own label, the first key given
        "misc/tool": None,
        "ecs ledger": "payments",  # the task's tag
    }


def test_without_owner_labels_no_team_is_named_and_nothing_more_is_read(world: World) -> None:
    report = report_of(run("--format", "json"))
    assert set(teams(report).values()) == {None}
    assert not any("/namespaces" in r.path and r.path.rstrip("/").endswith("namespaces") for r in world.kube.requests)
    described = [r.params for r in world.sim.calls.select("ecs", "DescribeTasks")]
    assert described and all("include" not in params for params in described)


def test_the_csv_has_a_team_column(world: World) -> None:
    result = run("--format", "csv", "--owner-label", "team")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted({(r["repository"], r["team"]) for r in rows}) == [
        ("misc/tool", ""),
        ("pay/ledger", "payments"),
        ("shop/api", "storefront"),
        ("shop/worker", "jobs"),
    ]


def test_team_narrows_the_report_and_its_exit_status_to_that_team(world: World) -> None:
    # payments runs a CRITICAL: the whole run fails on it, the storefront's run does not
    assert run("--format", "json", "--owner-label", "team", "--fail-on", "CRITICAL").exit_code == 1
    result = run("--format", "json", "--owner-label", "team", "--team", "storefront", "--fail-on", "CRITICAL")
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert [e["vulnerability_id"] for e in report["exposures"]] == ["CVE-2024-0001"]
    assert teams(report) == {"shop/api": "storefront"}
    assert report["summary"]["running_containers"] == 1
    payments = run("--format", "json", "--owner-label", "team", "--team", "payments", "--fail-on", "CRITICAL")
    assert payments.exit_code == 1
    assert [e["vulnerability_id"] for e in report_of(payments)["exposures"]] == ["CVE-2024-0003"]


def test_team_without_an_owner_label_is_refused_before_any_call(world: World) -> None:
    world.sim.calls.clear()
    result = run("--team", "storefront")
    assert result.exit_code == 2
    assert "--team needs --owner-label" in result.stderr
    assert world.sim.calls.records == []


class _Receiver(WebhookReceiver):
    def vulnerabilities(self) -> list[str]:
        return sorted(e["vulnerability_id"] for body in self.bodies for e in body["exposures"])


@pytest.fixture
def receivers() -> Iterator[tuple[_Receiver, _Receiver, _Receiver]]:
    made = (_Receiver(), _Receiver(), _Receiver())
    yield made
    for receiver in made:
        receiver.close()


def test_each_team_webhook_gets_its_teams_exposures_and_the_plain_ones_the_rest(
    world: World, receivers: tuple[_Receiver, _Receiver, _Receiver]
) -> None:
    storefront, payments, rest = receivers
    result = run(
        "--format",
        "json",
        "--owner-label",
        "team",
        "--notify-webhook",
        f"team=storefront:{storefront.url}",
        "--notify-webhook",
        f"team=payments:{payments.url}",
        "--notify-webhook",
        rest.url,
    )
    assert result.exit_code == 0, result.output
    assert storefront.vulnerabilities() == ["CVE-2024-0001"]
    assert payments.vulnerabilities() == ["CVE-2024-0003"]
    assert rest.vulnerabilities() == ["CVE-2024-0002", "CVE-2024-0004"]  # team jobs (not routed) and nobody's
    assert [w["team"] for body in payments.bodies for i in body["images"] for w in i["workloads"]] == ["payments"]
    assert "1 exposure" in payments.bodies[0]["text"]


def test_a_team_webhook_that_names_no_team_is_refused(world: World) -> None:
    result = run("--notify-webhook", "team=:https://hooks.example.com/x")
    assert result.exit_code == 2
    assert "a team's webhook is team=NAME:URL" in result.stderr


def test_the_table_groups_exposures_by_team(world: World) -> None:
    result = run("--format", "table", "--owner-label", "team", "--group-by", "team")
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())
    headings = ["team jobs (1)", "team payments (1)", "team storefront (1)", "no team (no --owner-label found) (1)"]
    positions = [words.index(f"Exposures of {h}") for h in headings]
    assert positions == sorted(positions)
    storefront = words[positions[2] : positions[3]]
    assert "CVE-2024-0001" in storefront and "CVE-2024-0003" not in storefront
