"""`ecrwatch check` as a cron job, end to end: the state between runs (new, resolved, incomplete runs,
concurrent runs, a damaged file), notifications (a webhook on loopback, SNS into SQS in the simulated
account), event mode, and what an unattended run writes to stderr. The real CLI against the simulated
account over HTTP."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import yaml  # type: ignore[import-untyped]
from click.testing import CliRunner, Result

from conftest import REPORT_VALIDATOR, SCHEMA
from ecrwatch.cli import check as check_command
from ecrwatch.cli import main
from ecrwatch.iam import KUBERNETES_RULES
from ecrwatch.images import ecr_registry_host
from ecrwatch.inventory.kubeconfig import load_kubeconfig
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import FindingSpec, Inspector2Sim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from test_events import documented_event as example_event

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
VALIDATOR = REPORT_VALIDATOR
SECRET_PATH = "/services/T0000/B0000/s3cr3tT0k3n"


@dataclass
class World:
    sim: SimAWS
    api: str
    web: str
    worker: str
    findings: dict[str, str]  # vulnerability id -> finding ARN
    tasks: dict[str, str]  # service -> task ARN
    tmp: Path

    @property
    def state(self) -> Path:
        return self.tmp / "state.json"

    def add_finding(self, digest: str, repository: str, vulnerability_id: str, severity: str) -> None:
        self.findings[vulnerability_id] = self.sim.extension(Inspector2Sim).add_finding(
            REGION, repository=repository, digest=digest, vulnerability_id=vulnerability_id, severity=severity
        )


@pytest.fixture
def world(sim_aws: SimAWS, tmp_path: Path) -> World:
    """prod: service api (team/api, CRITICAL CVE-1), service web (team/web, HIGH CVE-2); batch: service
    worker (team/worker, MEDIUM CVE-3)."""
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("team/api", "team/web", "team/worker"):
        ecr.create_repository(repositoryName=repo)
    w = World(
        sim_aws,
        push_image(ecr, "team/api", "v1"),
        push_image(ecr, "team/web", "v1"),
        push_image(ecr, "team/worker", "v1"),
        {},
        {},
        tmp_path,
    )
    w.add_finding(w.api, "team/api", "CVE-2025-0001", "CRITICAL")
    w.add_finding(w.web, "team/web", "CVE-2025-0002", "HIGH")
    w.add_finding(w.worker, "team/worker", "CVE-2025-0003", "MEDIUM")
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    ecs.add_cluster(REGION, "batch")
    for cluster, service, repo, digest in (
        ("prod", "api", "team/api", w.api),
        ("prod", "web", "team/web", w.web),
        ("batch", "worker", "team/worker", w.worker),
    ):
        w.tasks[service] = ecs.add_task(
            REGION, cluster, service=service, containers=[EcsContainerSeed(service, f"{HOST}/{repo}:v1", digest)]
        )
    sim_aws.calls.clear()  # seeding is not the run's doing
    return w


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", *args], input=input)


def report_of(result: Result) -> dict[str, Any]:
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    VALIDATOR.validate(report)
    return report


def ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["vulnerability_id"] for item in items)


def flags(report: dict[str, Any]) -> dict[str, bool]:
    return {e["vulnerability_id"]: e["new"] for e in report["exposures"]}


# --- state: new and resolved --------------------------------------------------------------------------------


def test_first_run_without_a_state_file_finds_everything_new_and_writes_the_state(world: World) -> None:
    result = run("--state", str(world.state))
    report = report_of(result)
    assert result.exit_code == 0
    assert flags(report) == {"CVE-2025-0001": True, "CVE-2025-0002": True, "CVE-2025-0003": True}
    assert report["resolved"] == []
    state = json.loads(world.state.read_text())
    assert state["format"] == "ecrwatch-state/1"
    assert sorted(e["vulnerability_id"] for e in state["exposures"]) == [
        "CVE-2025-0001",
        "CVE-2025-0002",
        "CVE-2025-0003",
    ]


def test_a_finding_between_two_runs_is_the_only_new_exposure(world: World) -> None:
    run("--state", str(world.state))
    world.add_finding(world.api, "team/api", "CVE-2025-0004", "LOW")
    copy = world.tmp / "copy.json"
    copy.write_bytes(world.state.read_bytes())

    report = report_of(run("--state", str(world.state)))
    assert flags(report) == {
        "CVE-2025-0001": False,
        "CVE-2025-0002": False,
        "CVE-2025-0003": False,
        "CVE-2025-0004": True,
    }

    only = report_of(run("--state", str(copy), "--new-only"))
    assert ids(only["exposures"]) == ["CVE-2025-0004"] and only["exposures"][0]["new"] is True
    assert [e["image"]["digest"] for e in only["images"]] == [world.api]
    assert only["images"][0]["exposures"] == 1 and only["images"][0]["max_severity"] == "LOW"
    summary = only["summary"]
    assert (summary["exposures"], summary["vulnerable_running_images"]) == (1, 1)
    assert summary["by_severity"] == {
        "CRITICAL": 0,
        "HIGH": 0,
        "MEDIUM": 0,
        "LOW": 1,
        "INFORMATIONAL": 0,
        "UNTRIAGED": 0,
    }
    assert summary["running_containers"] == 3  # what runs is not filtered

    again = report_of(run("--state", str(copy), "--new-only"))
    assert again["exposures"] == [] and again["images"] == []


def test_a_service_replacing_its_task_with_the_same_digest_is_not_new(world: World) -> None:
    run("--state", str(world.state))
    ecs = world.sim.extension(EcsSim)
    ecs.stop_task(REGION, "prod", world.tasks["api"])
    ecs.add_task(REGION, "prod", service="api", containers=[EcsContainerSeed("api", f"{HOST}/team/api:v1", world.api)])
    report = report_of(run("--state", str(world.state)))
    assert flags(report)["CVE-2025-0001"] is False
    assert report["resolved"] == []


def test_the_next_run_of_a_scheduled_task_is_not_new(world: World) -> None:
    ecs = world.sim.extension(EcsSim)
    nightly = {
        "family": "nightly-report",
        "started_by": "events-rule/nightly",
        "containers": [EcsContainerSeed("report", f"{HOST}/team/worker:v1", world.worker)],
    }
    tonight = ecs.add_task(REGION, "batch", **nightly)
    first = report_of(run("--state", str(world.state), "--new-only"))
    assert ids(first["exposures"]) == ["CVE-2025-0001", "CVE-2025-0002", "CVE-2025-0003"]
    ecs.stop_task(REGION, "batch", tonight)
    ecs.add_task(REGION, "batch", **nightly)
    again = report_of(run("--state", str(world.state), "--new-only"))
    assert again["exposures"] == []  # the same task definition's next run: nothing to alert about again
    assert again["resolved"] == []
    state = json.loads(world.state.read_text())
    assert any("/group/family:nightly-report/report" in key for e in state["exposures"] for key in e["workloads"])


def test_a_stopped_workload_is_resolved_once_and_leaves_the_state(world: World) -> None:
    run("--state", str(world.state))
    world.sim.extension(EcsSim).stop_task(REGION, "batch", world.tasks["worker"])
    report = report_of(run("--state", str(world.state)))
    (resolved,) = report["resolved"]
    assert (resolved["vulnerability_id"], resolved["reason"]) == ("CVE-2025-0003", "no_longer_running")
    assert resolved["finding_arn"] == world.findings["CVE-2025-0003"]
    assert [(w["cluster"], w["service"], w["container"]) for w in resolved["workloads"]] == [
        ("batch", "worker", "worker")
    ]
    assert resolved["image"]["digest"] == world.worker
    assert report_of(run("--state", str(world.state)))["resolved"] == []


def test_a_closed_finding_on_a_running_image_is_resolved_as_closed(world: World) -> None:
    run("--state", str(world.state))
    world.sim.extension(Inspector2Sim).set_finding_status(world.findings["CVE-2025-0002"], "CLOSED")
    report = report_of(run("--state", str(world.state)))
    assert [(r["vulnerability_id"], r["reason"]) for r in report["resolved"]] == [("CVE-2025-0002", "finding_closed")]


def test_a_finding_hidden_by_a_filter_is_resolved_as_filtered(world: World) -> None:
    run("--state", str(world.state))
    report = report_of(run("--state", str(world.state), "--min-severity", "HIGH"))
    assert [(r["vulnerability_id"], r["reason"]) for r in report["resolved"]] == [("CVE-2025-0003", "filtered")]


def test_an_unreadable_cluster_on_the_second_run_neither_resolves_nor_loses_its_exposures(world: World) -> None:
    run("--state", str(world.state))
    world.sim.faults.add(
        "ecs",
        "ListTasks",
        error="AccessDeniedException",
        when=lambda r: str(r.json().get("cluster")).endswith("/batch"),
    )
    result = run("--state", str(world.state))
    report = report_of(result)
    assert result.exit_code == 3
    assert [e["source"] for e in report["errors"]] == [f"ecs:{REGION}/batch"]
    assert ids(report["exposures"]) == ["CVE-2025-0001", "CVE-2025-0002"]
    assert report["resolved"] == []
    kept = json.loads(world.state.read_text())
    assert "CVE-2025-0003" in {e["vulnerability_id"] for e in kept["exposures"]}

    world.sim.faults.clear()
    report = report_of(run("--state", str(world.state), "--new-only"))
    assert report["exposures"] == [] and report["resolved"] == []  # back, and not new


def test_an_unreadable_inspector_region_resolves_nothing(world: World) -> None:
    run("--state", str(world.state))
    world.sim.faults.add("inspector2", "ListFindings", error="AccessDeniedException")
    result = run("--state", str(world.state))
    report = report_of(result)
    assert result.exit_code == 3
    assert report["exposures"] == [] and report["resolved"] == []
    assert len(json.loads(world.state.read_text())["exposures"]) == 3


# --- state: the file and the lock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "something-else/1", "images": []}', "is not an ecrwatch state file"),
        ('{"format": "ecrwatch-state/2"}', "does not read"),
        ('{"format": "ecrwatch-state/1", "images": [], "exposures": [{"image": "x"}]}', "is damaged"),
    ],
)
def test_a_damaged_or_foreign_state_file_is_refused_untouched_before_any_call(
    world: World, content: str, says: str
) -> None:
    world.state.write_text(content)
    result = run("--state", str(world.state))
    assert result.exit_code == 2
    assert str(world.state) in result.stderr and says in result.stderr
    assert world.state.read_text() == content
    assert world.sim.calls.records == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--new-only"], "--new-only needs --state"),
        (["--state", "/nonexistent/folder/state.json"], "does not exist"),
        (["--notify-sns", "arn:aws:sqs:us-east-1:123456789012:q"], "not an SNS topic ARN"),
    ],
)
def test_unattended_options_that_cannot_work_are_exit_2_before_any_call(
    world: World, args: list[str], says: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2 and says in result.stderr
    assert world.sim.calls.records == []


def test_a_run_waits_for_the_lock_then_gives_up_with_exit_3_and_the_state_untouched(world: World) -> None:
    run("--state", str(world.state))
    before = world.state.read_bytes()
    world.sim.calls.clear()
    with open(f"{world.state}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run holds it
        result = run("--state", str(world.state), "--state-wait", "0.3")
    assert result.exit_code == 3
    assert "another ecrwatch run" in result.stderr and "--state-wait" in result.stderr
    assert world.state.read_bytes() == before
    assert world.sim.calls.records == []


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ecrwatch", "check", "--region", REGION, "--format", "json", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _until_locked(state: Path, process: subprocess.Popen[str]) -> None:
    """Return once `process` holds the state file's lock (probing it without keeping it)."""
    lock = Path(f"{state}.lock")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the first run ended before it was seen holding the lock"
        if lock.exists():
            with lock.open("a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                fcntl.flock(probe, fcntl.LOCK_UN)
        time.sleep(0.02)
    raise AssertionError("the first run never took the lock")


def test_a_second_run_waits_for_the_first_and_sees_its_state(world: World) -> None:
    world.sim.faults.add("ecs", "ListTasks", latency=1.5, times=1)  # the first run holds the lock that long at least
    first = _cli("--state", str(world.state))
    _until_locked(world.state, first)
    second = _cli("--state", str(world.state), "--state-wait", "60")
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    reports = [json.loads(out) for out, _ in outputs]
    for report in reports:
        VALIDATOR.validate(report)
    assert [sum(e["new"] for e in r["exposures"]) for r in reports] == [3, 0]  # the second read what the first wrote
    assert len(json.loads(world.state.read_text())["exposures"]) == 3


def test_a_run_that_cannot_wait_for_a_running_one_exits_3_and_leaves_the_state_to_it(world: World) -> None:
    world.sim.faults.add("ecs", "ListTasks", latency=1.5, times=1)
    first = _cli("--state", str(world.state))
    _until_locked(world.state, first)
    second = run("--state", str(world.state), "--state-wait", "0")
    out, err = first.communicate(timeout=120)
    assert (first.returncode, second.exit_code) == (0, 3), err
    assert "another ecrwatch run" in second.stderr and second.stdout == ""
    written = json.loads(world.state.read_text())  # whole, and the first run's
    assert written["written_at"] == json.loads(out)["generated_at"]


# --- notifications ------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook on loopback: records what it is sent, answers `status`."""

    url: str
    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            box.bodies.append(json.loads(self.rfile.read(length)))
            box.paths.append(self.path)
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}?token=abc"
    yield box
    server.shutdown()
    server.server_close()


# A notification body: exposures and images[] entries in the report's own schema form.
PART = jsonschema.Draft202012Validator(
    {
        "$defs": SCHEMA["$defs"],
        "type": "object",
        "required": ["text", "part", "exposures", "images", "errors"],
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "exposures": SCHEMA["properties"]["exposures"],
            "images": SCHEMA["properties"]["images"],
            "errors": SCHEMA["properties"]["errors"],
        },
    }
)


def test_the_webhook_receives_the_reported_exposures_with_their_images(world: World, receiver: Receiver) -> None:
    result = run("--state", str(world.state), "--notify-webhook", receiver.url)
    report = report_of(result)
    (body,) = receiver.bodies
    assert receiver.paths == [f"{SECRET_PATH}?token=abc"]
    assert body["exposures"] == report["exposures"]
    assert body["images"] == report["images"]
    assert body["errors"] == [] and body["part"] == "1/1"
    PART.validate(body)
    text = body["text"]
    assert text.startswith("ecrwatch: 3 new exposures in running containers (1 CRITICAL, 1 HIGH, 1 MEDIUM)")
    assert "CVE-2025-0001" in text and "ecs prod service api" in text
    assert SECRET_PATH not in result.stderr + result.stdout

    # Nothing new to report: nothing sent.
    run("--state", str(world.state), "--new-only", "--notify-webhook", receiver.url)
    assert len(receiver.bodies) == 1


def test_an_incomplete_run_is_notified_even_with_nothing_to_report(world: World, receiver: Receiver) -> None:
    run("--state", str(world.state))
    world.sim.faults.add("ecs", "ListTasks", error="AccessDeniedException")
    result = run("--state", str(world.state), "--new-only", "--notify-webhook", receiver.url)
    assert result.exit_code == 3
    (body,) = receiver.bodies
    assert body["exposures"] == []
    assert sorted(e["source"] for e in body["errors"]) == [f"ecs:{REGION}/batch", f"ecs:{REGION}/prod"]
    assert "Incomplete: 2 source(s) could not be read" in body["text"]


def test_a_failed_delivery_is_an_error_and_the_state_is_still_written(world: World, receiver: Receiver) -> None:
    receiver.status = 403
    result = run("--state", str(world.state), "--notify-webhook", receiver.url)
    report = report_of(result)
    assert result.exit_code == 3
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == ("notify:webhook", "403")
    assert "http://127.0.0.1:" in error["message"] and "/…" in error["message"]
    assert "s3cr3t" not in result.stdout + result.stderr and "token=abc" not in result.stdout + result.stderr
    assert len(json.loads(world.state.read_text())["exposures"]) == 3  # the run's state is not lost
    assert report_of(run("--state", str(world.state), "--new-only"))["exposures"] == []


def test_a_webhook_must_be_https_unless_it_is_on_loopback(world: World) -> None:
    result = run("--notify-webhook", "http://hooks.example.com/services/T/B/secret")
    assert result.exit_code == 2
    assert "only https" in result.stderr and "secret" not in result.stderr
    assert world.sim.calls.records == []


def _queue(sqs: Any, sns: Any, topic: str, name: str, raw: bool) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": str(raw).lower()})
    return url


def _received(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if not answer.get("Messages"):
            return bodies
        for message in answer["Messages"]:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_sns_subscribers_receive_the_summary_and_exposures(world: World) -> None:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="ecrwatch-alerts")["TopicArn"]
    raw, wrapped = _queue(sqs, sns, topic, "raw", True), _queue(sqs, sns, topic, "wrapped", False)
    report = report_of(run("--notify-sns", topic))
    (raw_body,) = _received(sqs, raw)
    (envelope,) = _received(sqs, wrapped)
    message = json.loads(raw_body)
    assert json.loads(json.loads(envelope)["Message"]) == message
    assert json.loads(envelope)["Subject"] == "ecrwatch: 3 exposures"
    assert message["exposures"] == report["exposures"] and message["images"] == report["images"]
    assert message["text"].startswith("ecrwatch: 3 exposures in running containers")
    PART.validate(message)


def test_a_large_report_reaches_sns_in_numbered_self_contained_parts(world: World) -> None:
    inspector = world.sim.extension(Inspector2Sim)
    for repo, digest in (("team/api", world.api), ("team/web", world.web)):
        specs = [
            FindingSpec(
                repository=repo, digest=digest, vulnerability_id=f"CVE-2026-{i:04d}", severity="LOW", title="x" * 1000
            )
            for i in range(150)
        ]
        inspector.add_findings(REGION, specs)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="big")["TopicArn"]
    queue = _queue(sqs, sns, topic, "big", True)
    report = report_of(run("--notify-sns", topic))
    messages = [json.loads(b) for b in _received(sqs, queue)]
    assert len(messages) >= 2
    assert all(len(json.dumps(m, separators=(",", ":")).encode()) <= 256 * 1024 for m in messages)
    total = len(messages)
    assert sorted(m["part"] for m in messages) == sorted(f"{i}/{total}" for i in range(1, total + 1))
    for m in messages:
        assert m["text"].endswith(f"(part {m['part']})")
        present = {e["image"]["digest"] for e in m["images"]}
        assert {x["image"]["digest"] for x in m["exposures"]} <= present  # each part stands on its own
        PART.validate(m)
    sent = sorted(x["finding_arn"] for m in messages for x in m["exposures"])
    assert sent == sorted(x["finding_arn"] for x in report["exposures"])  # every exposure, once


def test_a_fifo_topic_gets_its_message_grouped(world: World) -> None:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(
        Name="alerts.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"}
    )["TopicArn"]
    url = sqs.create_queue(QueueName="alerts.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    result = run("--notify-sns", topic)
    assert result.exit_code == 0, result.stderr
    (body,) = _received(sqs, url)
    assert len(json.loads(body)["exposures"]) == 3


def test_a_failed_sns_publish_is_an_error_and_exit_3(world: World) -> None:
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:no-such-topic"
    result = run("--state", str(world.state), "--notify-sns", missing)
    report = report_of(result)
    assert result.exit_code == 3
    (error,) = report["errors"]
    assert error["source"] == f"sns:{REGION}" and missing in error["message"]
    assert world.state.exists()


# --- event mode ---------------------------------------------------------------------------------------------


def documented_event(world: World, vulnerability_id: str, *, status: str = "ACTIVE") -> dict[str, Any]:
    """AWS's documented ECR finding event (see test_events), for team/api's digest."""
    return example_event(
        digest=world.api,
        repository="team/api",
        account=ACCOUNT_ID,
        region=REGION,
        vulnerability_id=vulnerability_id,
        status=status,
    )


def test_event_mode_checks_only_the_events_finding_against_what_runs(world: World) -> None:
    event = world.tmp / "event.json"
    event.write_text(json.dumps(documented_event(world, "CVE-2024-6119")))
    result = run("--event", str(event), "--fail-on", "MEDIUM")
    report = report_of(result)
    assert result.exit_code == 1
    (exposure,) = report["exposures"]
    assert (exposure["vulnerability_id"], exposure["severity"], exposure["epss_score"]) == (
        "CVE-2024-6119",
        "MEDIUM",
        0.00045,
    )
    assert exposure["first_observed_at"] == "2024-09-04T16:55:38.411000Z"
    (entry,) = report["images"]
    assert [(w["cluster"], w["service"]) for w in entry["workloads"]] == [("prod", "api")]
    assert report["summary"]["running_containers"] == 1 and report["unscanned"] == []
    assert world.sim.calls.count("inspector2") == 0  # the event is the finding: Inspector is not asked


def test_event_mode_reads_the_event_from_stdin(world: World) -> None:
    result = run("--event", "-", input=json.dumps(documented_event(world, "CVE-2024-6119")))
    assert ids(report_of(result)["exposures"]) == ["CVE-2024-6119"]


def test_an_event_for_a_closed_finding_is_ignored_and_says_so(world: World) -> None:
    event = world.tmp / "event.json"
    event.write_text(json.dumps(documented_event(world, "CVE-2024-6119", status="CLOSED")))
    result = run("--event", str(event))
    assert result.exit_code == 0 and result.stdout == ""
    assert "event ignored" in result.stderr and "CLOSED" in result.stderr
    assert world.sim.calls.records == []


def test_a_malformed_event_is_exit_2_naming_the_problem(world: World) -> None:
    event = world.tmp / "event.json"
    broken = documented_event(world, "CVE-2024-6119")
    del broken["detail"]["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"]
    broken["detail"]["resources"][0]["id"] = "arn:aws:ecr:us-east-1:123456789012:repository/team/api"
    event.write_text(json.dumps(broken))
    result = run("--event", str(event))
    assert result.exit_code == 2
    assert "imageHash" in result.stderr and str(event) in result.stderr
    event.write_text("{")
    assert run("--event", str(event)).exit_code == 2


# --- unattended output --------------------------------------------------------------------------------------


def _check_process(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`ecrwatch check` in a process of its own, as cron runs it: no terminal, nothing on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "ecrwatch", "check", "--region", REGION, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_an_unattended_run_never_prompts_and_writes_no_colour(world: World) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TERM")}
    process = _check_process("--format", "table", "--state", str(world.state), "-v", environ=environ)
    assert process.returncode == 0, process.stderr
    assert "CVE-2025-0001" in process.stdout
    assert "\x1b[" not in process.stdout + process.stderr
    assert "looking up Inspector findings" in process.stderr  # progress as log lines, not a spinner


def test_log_format_json_writes_one_json_object_a_line_on_stderr(world: World) -> None:
    world.state.write_text("{not json")
    process = _check_process("--state", str(world.state), "--log-format", "json")
    assert process.returncode == 2
    lines = [json.loads(line) for line in process.stderr.splitlines()]
    (error,) = lines
    assert error["level"] == "error" and str(world.state) in error["message"] and error["hint"]

    world.state.unlink()
    process = _check_process("--state", str(world.state), "--log-format", "json", "-v")
    assert process.returncode == 0
    lines = [json.loads(line) for line in process.stderr.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any("does not exist yet" in line["message"] for line in lines)


@pytest.mark.parametrize("command", [["enable-scanning", "--dry-run"], ["status"]])
def test_the_other_commands_write_json_logs_too(command: list[str], tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    options = ["--region", REGION, "--profile", "nowhere", "--log-format", "json"]
    process = subprocess.run(
        [sys.executable, "-m", "ecrwatch", *command, *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )
    assert process.returncode == 2
    (error,) = [json.loads(line) for line in process.stderr.splitlines()]
    assert error["level"] == "error" and "'nowhere'" in error["message"] and error["hint"]


def test_the_webhook_url_can_stay_out_of_the_command_line(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECRWATCH_NOTIFY_WEBHOOKS", receiver.url)
    run("--state", str(world.state))
    assert len(receiver.bodies) == 1


# --- deploy/ ------------------------------------------------------------------------------------------------

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _manifests() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())}


def test_the_cronjob_reads_with_get_and_list_on_pods_nodes_namespaces_replicasets_and_jobs_only() -> None:
    manifests = _manifests()
    rules = {(r["apiGroups"][0], r["resources"][0]): sorted(r["verbs"]) for r in manifests["ClusterRole"]["rules"]}
    assert rules == {(rule.api_group, rule.resources[0]): sorted(rule.verbs) for rule in KUBERNETES_RULES}
    assert all(verbs == ["get", "list"] for verbs in rules.values())
    subjects = manifests["ClusterRoleBinding"]["subjects"]
    assert {"kind": "ServiceAccount", "name": "ecrwatch", "namespace": "ecrwatch"} in subjects
    pod = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == manifests["ServiceAccount"]["metadata"]["name"]
    assert manifests["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_cronjobs_arguments_are_ecrwatch_check_options_and_keep_the_state_on_its_volume() -> None:
    manifests = _manifests()
    container = manifests["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    command, *args = container["args"]
    assert command == "check"
    params = check_command.make_context("check", list(args)).params
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(params["state_path"]).parent == Path(mounts["state"])
    assert Path(params["kubeconfig"]).parent == Path(mounts["kubeconfig"])
    assert params["new_only"] and params["log_format"] == "json"
    assert not any("hooks." in a for a in args)  # webhook URLs are secrets: from the environment only
    assert container["env"][0]["name"] == "ECRWATCH_NOTIFY_WEBHOOKS"


def test_the_in_cluster_kubeconfig_loads_as_the_service_account(tmp_path: Path) -> None:
    text = _manifests()["ConfigMap"]["data"]["kubeconfig"]
    mounted = tmp_path / "serviceaccount"
    mounted.mkdir()
    (mounted / "token").write_text("token")
    (mounted / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    config = tmp_path / "kubeconfig"
    config.write_text(text.replace("/var/run/secrets/kubernetes.io/serviceaccount", str(mounted)))
    (context,) = load_kubeconfig(str(config), []).contexts
    assert (context.name, context.server, context.auth) == (
        "in-cluster",
        "https://kubernetes.default.svc",
        "token-file",
    )


def test_the_crontab_example_runs_check_with_a_state_file() -> None:
    (line,) = [x for x in (DEPLOY / "crontab.example").read_text().splitlines() if x.startswith("*/")]
    command = line.split(" && ", 1)[1].split(" 2>>", 1)[0]
    words = [w.strip('"') for w in command.split()]
    assert words[:2] == ["ecrwatch", "check"]
    params = check_command.make_context("check", words[2:]).params
    assert params["state_path"] and params["new_only"]
