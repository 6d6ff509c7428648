"""The Lambda handler on EventBridge events shaped as AWS documents them: one JSON line per exposure on
stdout, a summary returned, notifications, and what it does with events it should not act on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from conftest import SCHEMA
from ecrwatch.aws_lambda import handler
from ecrwatch.errors import UsageError
from ecrwatch.events import ECR_IMAGE, EVENT_DETAIL_TYPE, EVENT_SOURCE
from ecrwatch.images import ecr_registry_host
from ecrwatch.logging_json import use_log_format
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from test_events import documented_event
from webhooks import WebhookReceiver

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
EXPOSURE = jsonschema.Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/exposure"})


@pytest.fixture(autouse=True)
def text_logs_afterwards() -> Iterator[None]:
    yield
    use_log_format("text")  # the handler switches the process to JSON logs; other tests read text


@pytest.fixture
def api(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> str:
    """team/api:v1 run by two tasks of service api in cluster prod; Lambda's own region set."""
    monkeypatch.setenv("AWS_REGION", REGION)
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="team/api")
    digest = push_image(ecr, "team/api", "v1")
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    for _ in range(2):
        ecs.add_task(REGION, "prod", service="api", containers=[EcsContainerSeed("api", f"{HOST}/team/api:v1", digest)])
    sim_aws.calls.clear()
    return digest


def event_for(digest: str, status: str = "ACTIVE") -> dict[str, Any]:
    return documented_event(digest=digest, repository="team/api", account=ACCOUNT_ID, region=REGION, status=status)


def stdout_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_an_active_finding_logs_one_line_per_exposure_and_returns_a_summary(
    api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = handler(event_for(api), None)
    assert summary == {
        "status": "ok",
        "finding_arn": event_for(api)["detail"]["findingArn"],
        "exposures": 1,
        "running_containers": 2,
        "errors": [],
    }
    exposure, last = stdout_lines(capsys)
    assert last == {"type": "summary", **summary}
    assert exposure["type"] == "exposure" and exposure["vulnerability_id"] == "CVE-2024-6119"
    EXPOSURE.validate({k: v for k, v in exposure.items() if k not in ("type", "workloads")})
    # Two tasks of one service: one workload.
    assert [(w["cluster"], w["service"]) for w in exposure["workloads"]] == [("prod", "api")]


def test_a_closed_finding_is_ignored_without_a_call(
    api: str, sim_aws: SimAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = handler(event_for(api, "CLOSED"), None)
    assert summary["status"] == "ignored" and "CLOSED" in summary["reason"]
    assert stdout_lines(capsys) == [{"type": "summary", **summary}]
    assert sim_aws.calls.records == []


def test_a_malformed_event_is_rejected_not_retried(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    summary = handler({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {}}, None)
    assert summary["status"] == "rejected" and "not an Amazon Inspector finding event" in summary["message"]


def test_an_unreadable_cluster_makes_the_summary_incomplete(
    api: str, sim_aws: SimAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    sim_aws.faults.add("ecs", "ListTasks", error="AccessDeniedException")
    summary = handler(event_for(api), None)
    assert summary["status"] == "incomplete" and summary["exposures"] == 0
    assert [e["source"] for e in summary["errors"]] == [f"ecs:{REGION}/prod"]


def test_the_configured_webhook_receives_the_exposure(
    api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("ECRWATCH_NOTIFY_WEBHOOKS", receiver.url)
        handler(event_for(api), None)
    (body,) = receiver.bodies
    assert [x["vulnerability_id"] for x in body["exposures"]] == ["CVE-2024-6119"]
    assert body["images"][0]["image"]["digest"] == api


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECRWATCH_MIN_SEVERITY", "SEVERE"),
        ("ECRWATCH_ECS", "maybe"),
        ("ECRWATCH_NOTIFY_WEBHOOKS", "http://example.com/x"),
    ],
)
def test_a_bad_setting_fails_the_invocation(api: str, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError):
        handler(event_for(api), None)


def test_the_documented_lambda_policy_allows_every_call_the_handler_makes(
    api: str, sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="ecrwatch-alerts")["TopicArn"]
    monkeypatch.setenv("ECRWATCH_NOTIFY_SNS", topic)
    sim_aws.calls.clear()
    assert handler(event_for(api), None)["status"] == "ok"
    called = {f"{c.service}:{c.operation}" for c in sim_aws.calls.records} - {"sts:GetCallerIdentity"}
    policy = json.loads((DEPLOY / "aws" / "lambda-iam-policy.json").read_text())
    allowed = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert called <= allowed, called - allowed
    assert "sns:Publish" in called and not any(a.startswith("inspector2:") for a in called)  # the event is the finding
    statement = next(s for s in policy["Statement"] if s["Sid"] == "PublishNotifications")
    assert statement["Resource"] == topic  # the example names the topic, not "*"


def test_the_documented_eventbridge_rule_asks_for_what_the_handler_reads() -> None:
    pattern = json.loads((DEPLOY / "aws" / "eventbridge-rule-pattern.json").read_text())
    assert pattern["source"] == [EVENT_SOURCE] and pattern["detail-type"] == [EVENT_DETAIL_TYPE]
    assert pattern["detail"] == {"status": ["ACTIVE"], "resources": {"type": [ECR_IMAGE]}}
