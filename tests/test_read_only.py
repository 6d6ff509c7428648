"""`ecrwatch check` is read-only: against a seeded account (ECS, EKS, ECR, Inspector), with every option that
changes what it reads, the call log holds reads only, and the Kubernetes API sees only GETs."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import SimAWS
from hardening_world import OTHER, REGION, add_eks_cluster, check, report_of, seed_account

# What a read is called in the AWS APIs ecrwatch uses; anything else (Put*, Create*, Update*, Enable*,
# Tag*, Start*, ...) is a write.
READ = re.compile(r"^(List|Describe|Get|BatchGet)[A-Z]\w*$")


@pytest.mark.parametrize(
    ("options", "exit_code"),
    [
        ((), 0),
        (("--ecs-cluster", "prod", "--ecs-cluster", "edge", "--eks-cluster", "shop"), 0),
        # The account runs CRITICAL and HIGH findings with a fix: --fail-on LOW fails the run.
        (("--min-severity", "HIGH", "--fixable-only", "--fail-on", "LOW"), 1),
        (("--format", "table"), 0),
        (("--format", "csv", "--workers", "1"), 0),
    ],
    ids=["everything", "named-clusters", "filters", "table", "csv"],
)
def test_check_calls_nothing_but_reads(
    sim_aws: SimAWS,
    sim_eks_cluster: Callable[..., SimKube],
    tmp_path: Path,
    options: tuple[str, ...],
    exit_code: int,
) -> None:
    account = seed_account(sim_aws)
    kube = add_eks_cluster(sim_eks_cluster, account)
    sim_aws.calls.clear()
    result = check(*options, "--output", str(tmp_path / "report"))
    assert result.exit_code == exit_code, result.output
    operations = sim_aws.calls.by_operation()
    writes = sorted(op for op in operations if not READ.match(op.split(":", 1)[1]))
    assert writes == []
    # The proof covers every service check talks to, in both regions.
    assert {op.split(":", 1)[0] for op in operations} == {"sts", "ecs", "eks", "ecr", "inspector2"}
    assert {r.region for r in sim_aws.calls.records} == {REGION, OTHER}
    assert kube.requests, "the EKS cluster was read"
    assert {request.method for request in kube.requests} == {"GET"}


def test_a_report_is_what_was_read_not_a_sample(sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube]) -> None:
    """The read-only runs above are real runs: the report holds ECS and EKS workloads of both regions."""
    account = seed_account(sim_aws)
    add_eks_cluster(sim_eks_cluster, account)
    report = report_of(check())
    platforms = {(w["platform"], w["region"]) for i in report["images"] for w in i["workloads"]}
    assert platforms == {("ecs", REGION), ("ecs", OTHER), ("eks", REGION)}


def test_the_one_write_is_the_notification_asked_for(sim_aws: SimAWS, tmp_path: Path) -> None:
    """With --notify-sns, check publishes to that topic, and writes nothing else anywhere."""
    seed_account(sim_aws)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="ecrwatch-alerts")["TopicArn"]
    sim_aws.calls.clear()
    result = check("--notify-sns", topic, "--state", str(tmp_path / "state.json"), "--no-eks")
    assert result.exit_code == 0, result.output
    writes = sorted({f"{r.service}:{r.operation}" for r in sim_aws.calls.records if not READ.match(r.operation)})
    assert writes == ["sns:Publish"]
    assert {r.region for r in sim_aws.calls.select("sns")} == {REGION}  # the topic's own region
