"""The Lambda handler in the delegated administrator's account: an Inspector event names the member account
the image belongs to; with ECRWATCH_ROLE_NAME the handler enters that account and finds its running tasks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecrwatch.aws_lambda import handler
from ecrwatch.images import ecr_registry_host
from ecrwatch.logging_json import use_log_format
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import SimAWS
from org_world import ROLE, deploy_role, session_in
from test_events import documented_event

REGION = "us-east-1"
MEMBER = "111111111111"


@pytest.fixture(autouse=True)
def text_logs_afterwards() -> Iterator[None]:
    yield
    use_log_format("text")


@pytest.fixture
def member_image(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_REGION", REGION)
    ecr = session_in(MEMBER).client("ecr")
    ecr.create_repository(repositoryName="team/api")
    digest = push_image(ecr, "team/api", "v1")
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod", account=MEMBER)
    image = f"{ecr_registry_host(MEMBER, REGION)}/team/api:v1"
    ecs.add_task(REGION, "prod", account=MEMBER, service="api", containers=[EcsContainerSeed("api", image, digest)])
    return digest


def test_an_event_for_a_member_account_is_checked_in_that_account_with_the_role(
    member_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy_role(MEMBER, external_id="lambda-external-id")
    event = documented_event(digest=member_image, repository="team/api", account=MEMBER, region=REGION)
    without_role = handler(event, None)
    assert (without_role["status"], without_role["exposures"]) == ("ok", 0)  # the hub runs nothing itself
    monkeypatch.setenv("ECRWATCH_ROLE_NAME", ROLE)
    monkeypatch.setenv("ECRWATCH_EXTERNAL_ID", "lambda-external-id")
    summary = handler(event, None)
    assert (summary["status"], summary["exposures"], summary["running_containers"]) == ("ok", 1, 1)
    assert summary["errors"] == []


def test_a_member_account_the_role_cannot_enter_makes_the_summary_incomplete(
    member_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECRWATCH_ROLE_NAME", ROLE)
    event = documented_event(digest=member_image, repository="team/api", account=MEMBER, region=REGION)
    summary = handler(event, None)
    assert summary["status"] == "incomplete"
    assert [(e["source"], e["code"]) for e in summary["errors"]] == [(f"account:{MEMBER}", "AccessDenied")]
