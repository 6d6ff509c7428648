"""Faults, through the real CLI against the simulated services: throttling, server errors, timeouts, refused
connections, expired and missing credentials, and AWS answers without their optional fields.

Each test says what a cron job sees: the exit status, the report's `errors`, and one clear line on stderr
where nothing could run. Never a traceback. (Kubernetes faults are tested with the Kubernetes inventory.)
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ecrwatch.sim.ecs as sim_ecs
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import SimAWS
from hardening_world import (
    HOST,
    OTHER,
    REGION,
    SESSION_TOKEN,
    Account,
    add_eks_cluster,
    check,
    closed_port,
    ecrwatch,
    no_traceback,
    report_of,
    seed_account,
    wait_for_calls,
    without_time,
    zero_backoff,
)


@pytest.fixture
def account(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> Account:
    zero_backoff(monkeypatch)
    return seed_account(sim_aws)


def cluster_is(name: str) -> Any:
    """A fault condition: the request names this ECS cluster (by ARN, as ecrwatch sends it)."""
    return lambda request: str(request.json().get("cluster", "")).endswith(f"/{name}")


def exposure_ids(report: dict[str, Any]) -> set[str]:
    return {e["vulnerability_id"] for e in report["exposures"]}


# --- throttling ---------------------------------------------------------------------------------------


def test_a_throttling_burst_is_ridden_out_and_the_report_is_the_same(sim_aws: SimAWS, account: Account) -> None:
    calm = report_of(check("--fail-on", "CRITICAL"))
    sim_aws.calls.clear()
    sim_aws.faults.add("sts", "GetCallerIdentity", error="Throttling", times=2)
    sim_aws.faults.add("ecs", "ListTasks", error="ThrottlingException", times=4)
    sim_aws.faults.add("ecr", "BatchGetImage", error="ThrottlingException", times=3)
    sim_aws.faults.add("inspector2", "ListFindings", error="ThrottlingException", status=429, times=4)
    result = check("--fail-on", "CRITICAL")
    assert result.exit_code == 1, result.output  # the exposures decide, not the throttling
    stormy = report_of(result)
    assert stormy["errors"] == []
    assert without_time(stormy) == without_time(calm)
    throttled = [r for r in sim_aws.calls.records if r.status in (400, 429)]
    assert len(throttled) == 2 + 4 + 3 + 4  # every throttle was answered, then retried by botocore


def test_throttling_past_the_retries_on_one_cluster_is_that_clusters_error(sim_aws: SimAWS, account: Account) -> None:
    sim_aws.faults.add("ecs", "ListTasks", error="ThrottlingException", when=cluster_is("batch"))
    result = check("--max-attempts", "2", "--fail-on", "CRITICAL")
    assert result.exit_code == 3  # incomplete beats exposures
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"ecs:{REGION}/batch", "ThrottlingException")
    assert "ecs:ListTasks" in error["message"]
    assert (
        sum(1 for r in sim_aws.calls.select("ecs", "ListTasks") if str(r.params.get("cluster", "")).endswith("/batch"))
        == 2
    )
    clusters = {c["name"]: c["ok"] for c in report["scope"]["clusters"]}
    assert clusters == {"prod": True, "batch": False, "edge": True}
    # The rest completed: prod's and edge's exposures are there.
    assert exposure_ids(report) == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-3000"}


def test_throttling_past_the_retries_in_one_region_is_that_regions_error(sim_aws: SimAWS, account: Account) -> None:
    sim_aws.faults.add("ecs", "ListClusters", region=OTHER, error="ThrottlingException")
    result = check("--max-attempts", "3")
    assert result.exit_code == 3
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"ecs:{OTHER}", "ThrottlingException")
    assert {c["name"] for c in report["scope"]["clusters"]} == {"prod", "batch"}
    assert exposure_ids(report) == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-2000"}
    assert sim_aws.calls.count("ecs", "ListClusters", OTHER) == 3


def test_inspector_throttled_in_one_region_never_calls_its_images_clean(sim_aws: SimAWS, account: Account) -> None:
    sim_aws.faults.add("inspector2", "ListFindings", region=OTHER, error="ThrottlingException", status=429)
    result = check("--max-attempts", "2")
    assert result.exit_code == 3
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"inspector2:{OTHER}", "ThrottlingException")
    assert "inspector2:ListFindings" in error["message"]
    (edge,) = [u for u in report["unscanned"] if u["image"]["digest"] == account.edge]
    assert "could not be read" in edge["detail"]
    assert "CVE-2024-0001" in exposure_ids(report)  # us-east-1 was read


# --- server errors ------------------------------------------------------------------------------------


def test_a_burst_of_server_errors_is_retried_and_the_run_completes(sim_aws: SimAWS, account: Account) -> None:
    sim_aws.faults.add("ecs", "DescribeTasks", error="ServerException", status=500, times=2)
    sim_aws.faults.add("inspector2", "ListCoverage", error="InternalServerException", status=500, times=2)
    result = check()
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert report["errors"] == []
    assert report["summary"]["running_containers"] == 4


def test_persistent_server_errors_are_errors_of_the_cluster_and_the_registry_they_hit(
    sim_aws: SimAWS, account: Account
) -> None:
    sim_aws.faults.add("ecs", "DescribeTasks", error="ServerException", status=500, when=cluster_is("prod"))
    sim_aws.faults.add("ecr", "BatchGetImage", region=OTHER, error="ServerException", status=503)
    result = check("--max-attempts", "2")
    assert result.exit_code == 3
    no_traceback(result)
    report = report_of(result)
    errors = {e["source"]: e for e in report["errors"]}
    assert set(errors) == {f"ecs:{REGION}/prod", f"ecr:{OTHER}"}
    assert errors[f"ecs:{REGION}/prod"]["code"] == "ServerException"
    assert "ecs:DescribeTasks" in errors[f"ecs:{REGION}/prod"]["message"]
    assert "ecr:BatchGetImage" in errors[f"ecr:{OTHER}"]["message"]
    # batch was read; the edge image is not declared clean: its digest is known, its fate is not.
    assert "CVE-2024-2000" in exposure_ids(report)
    assert sim_aws.calls.count("ecs", "DescribeTasks", REGION) >= 2


# --- timeouts -----------------------------------------------------------------------------------------


def test_a_read_timeout_is_the_slow_clusters_error_and_the_option_sets_it(sim_aws: SimAWS, account: Account) -> None:
    sim_aws.faults.add("ecs", "DescribeTasks", latency=1.0, when=cluster_is("prod"))
    result = check("--read-timeout", "0.3", "--max-attempts", "1")
    wait_for_calls(sim_aws, "ecs", "DescribeTasks", 3)  # the abandoned request is still answered, later
    assert result.exit_code == 3
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"ecs:{REGION}/prod", "ReadTimeoutError")
    assert "did not answer within the read timeout" in error["message"]
    assert "CVE-2024-2000" in exposure_ids(report) and "CVE-2024-3000" in exposure_ids(report)

    # The same latency under a longer --read-timeout is no fault at all: the option is what decided.
    sim_aws.calls.clear()
    patient = check("--read-timeout", "5", "--max-attempts", "1")
    assert patient.exit_code == 0, patient.output
    assert report_of(patient)["errors"] == []


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A loopback port whose listener never accepts and whose accept queue is full, so a new connection
    never completes: connects time out (loopback only, closed after the test)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in (*fillers, listener):
        sock.close()


def test_a_connect_timeout_is_bounded_by_the_option(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch, unanswered_port: int
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{unanswered_port}")
    result = check("--connect-timeout", "0.2", "--max-attempts", "1")
    assert result.exit_code == 3
    no_traceback(result)
    ((source, code),) = [(e["source"], e["code"]) for e in json.loads(result.stdout)["errors"]]
    assert (source, code) == (f"sts:{REGION}", "ConnectTimeoutError")  # the report says why it is empty
    assert f"no connection to http://127.0.0.1:{unanswered_port}/ within the connect timeout" in result.stderr
    assert "--connect-timeout" in result.stderr


def test_the_timeout_and_retry_options_reach_botocore(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    real_client = __import__("ecrwatch.aws", fromlist=["Aws"]).Aws.client

    def recording(self: Any, service: str, region: str) -> Any:
        client = real_client(self, service, region)
        made.append(client)
        return client

    monkeypatch.setattr("ecrwatch.aws.Aws.client", recording)
    result = check("--connect-timeout", "1.5", "--read-timeout", "7", "--max-attempts", "4")
    assert result.exit_code == 0, result.output
    assert made
    for client in made:
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (1.5, 7.0)
        assert config.retries == {"mode": "standard", "total_max_attempts": 4}


# --- connection refused -------------------------------------------------------------------------------


def test_a_refused_connection_is_one_clear_message_and_exit_3(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    first_call = "ecr:GetRegistryScanningConfiguration"
    result = ecrwatch("enable-scanning", "--dry-run", "--region", REGION, "--max-attempts", "2")
    assert result.exit_code == 3
    no_traceback(result)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {first_call} in {REGION}: could not connect to http://127.0.0.1:{port}/"]
    assert "AWS_ENDPOINT_URL" in result.stderr  # the hint says where to look


def test_a_refused_connection_in_status_is_each_apis_error_in_the_report(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    result = ecrwatch("status", "--region", REGION, "--format", "json", "--max-attempts", "1")
    assert result.exit_code == 3
    no_traceback(result)
    errors = {e["source"]: e for e in json.loads(result.stdout)["errors"]}
    assert set(errors) == {f"ecr:{REGION}", f"inspector2:{REGION}"}
    assert all(e["code"] == "EndpointConnectionError" for e in errors.values())
    assert f"could not connect to http://127.0.0.1:{port}" in errors[f"ecr:{REGION}"]["message"]


def test_a_refused_connection_still_writes_a_report_that_says_why(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    folder = tmp_path / "reports"
    folder.mkdir()
    result = check("--output", str(folder / "report.json"), "--max-attempts", "1")
    assert result.exit_code == 3
    no_traceback(result)
    # A cron job still gets its report: empty, and saying why; no temporary file is left beside it.
    assert [p.name for p in folder.iterdir()] == ["report.json"]
    report = json.loads((folder / "report.json").read_text())
    ((source, code),) = [(e["source"], e["code"]) for e in report["errors"]]
    assert (source, code) == (f"sts:{REGION}", "EndpointConnectionError")
    assert report["summary"]["running_containers"] == 0
    assert "could not connect" in result.stderr


def test_an_aws_endpoint_whose_certificate_is_not_trusted_is_refused(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch, sim_kube: SimKube
) -> None:
    # An HTTPS server with a CA of its own (the simulated Kubernetes API) standing in for an intercepting proxy.
    monkeypatch.setenv("AWS_ENDPOINT_URL", sim_kube.url)
    result = ecrwatch("check", "--region", REGION, "--format", "json", "--max-attempts", "1")
    assert result.exit_code == 3
    no_traceback(result)
    assert f"sts:GetCallerIdentity in {REGION}: TLS verification of {sim_kube.url}" in result.stderr
    assert "AWS_CA_BUNDLE" in result.stderr
    assert sim_kube.requests == []  # nothing was sent to a server that could not be verified


# --- credentials --------------------------------------------------------------------------------------


EXPIRED = [
    ("sts", "GetCallerIdentity", "ExpiredToken", 403),
    ("ecs", "ListClusters", "ExpiredTokenException", 400),
    ("ecr", "BatchGetImage", "ExpiredTokenException", 400),
    ("inspector2", "ListFindings", "ExpiredTokenException", 403),
]


@pytest.mark.parametrize(("service", "operation", "code", "status"), EXPIRED)
def test_expired_credentials_anywhere_in_the_run_are_exit_2_naming_the_variables(
    sim_aws: SimAWS,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
    operation: str,
    code: str,
    status: int,
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    sim_aws.faults.add(
        service, operation, error=code, status=status, message="The security token included in the request is expired"
    )
    result = check("--fail-on", "CRITICAL")
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stdout == ""  # no half report: nothing can be trusted until the credentials are fixed
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert f"({code}) calling {service}:{operation}" in lines[0]
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN" in lines[0]
    assert "refresh the credentials" in result.stderr


@pytest.mark.parametrize("command", [("status",), ("enable-scanning", "--dry-run"), ("check",)])
def test_expired_credentials_of_a_profile_name_the_profile(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...]
) -> None:
    environ = sim_aws.environ()
    (tmp_path / "aws-credentials").write_text(
        "[prod-audit]\n"
        f"aws_access_key_id = {environ['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {environ['AWS_SECRET_ACCESS_KEY']}\n"
        f"aws_session_token = {SESSION_TOKEN}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    sim_aws.faults.add("*", error="ExpiredTokenException", status=400)
    result = ecrwatch(*command, "--profile", "prod-audit", "--region", REGION)
    assert result.exit_code == 2
    no_traceback(result)
    assert "AWS rejected the credentials from profile 'prod-audit'" in result.stderr
    assert SESSION_TOKEN not in result.output


def _write_config(tmp_path: Path, text: str) -> None:
    (tmp_path / "aws-config").write_text(text)


MISSING = [
    pytest.param((), {}, "no AWS credentials were found (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY", id="none"),
    pytest.param(
        ("--profile", "ghost"), {}, "AWS profile 'ghost' (from --profile) was not found", id="no-such-profile"
    ),
    pytest.param(
        (), {"AWS_PROFILE": "ghost"}, "AWS profile 'ghost' (from AWS_PROFILE) was not found", id="env-profile"
    ),
    pytest.param(
        (),
        {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
        "incomplete AWS credentials in the environment: AWS_SECRET_ACCESS_KEY is missing",
        id="partial",
    ),
    pytest.param(("--profile", "empty"), {}, "profile 'empty' has no credentials", id="profile-without-keys"),
]


@pytest.mark.parametrize("command", ["check", "status", "enable-scanning"])
@pytest.mark.parametrize(("args", "env", "message"), MISSING)
def test_missing_credentials_are_one_message_exit_2_and_no_call(
    sim_aws: SimAWS,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    args: tuple[str, ...],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _write_config(tmp_path, "[profile empty]\nregion = us-east-1\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    extra = ("--dry-run",) if command == "enable-scanning" else ()
    result = ecrwatch(command, "--region", REGION, *args, *extra)
    assert result.exit_code == 2, result.output
    no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "hint:" in result.stderr
    assert sim_aws.calls.records == []


# --- answers without their optional fields ------------------------------------------------------------


def test_answers_missing_optional_fields_never_crash_the_run_nor_hide_a_finding(
    sim_aws: SimAWS, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inspector: a finding with every optional member it may leave out, the resource's region included.
    sim_aws.extension(Inspector2Sim).add_finding(
        REGION,
        repository="team/api",
        digest=account.api,
        vulnerability_id="CVE-2025-9999",
        severity="CRITICAL",
        omit=(
            "epss",
            "packageVulnerabilityDetails",
            "inspectorScore",
            "inspectorScoreDetails",
            "fixAvailable",
            "exploitAvailable",
            "exploitabilityDetails",
            "title",
            "awsEcrContainerImage.imageTags",
            "awsEcrContainerImage.architecture",
            "awsEcrContainerImage.platform",
            "awsEcrContainerImage.pushedAt",
            "resource.region",
            "resource.partition",
        ),
    )
    ecs = sim_aws.extension(EcsSim)
    # ECS: a container the agent has not resolved yet (no imageDigest), and a task with no containers at all.
    ecs.add_task(REGION, "batch", family="pulling", containers=[EcsContainerSeed("late", f"{HOST}/team/api:v1")])
    ecs.add_task(REGION, "batch", family="hollow")
    real_render = sim_ecs._render_task

    def hollow(cluster: Any, task: Any, with_tags: bool) -> dict[str, Any]:
        rendered = real_render(cluster, task, with_tags)
        if task.seed.family == "hollow":
            rendered["containers"] = []
        return rendered

    monkeypatch.setattr(sim_ecs, "_render_task", hollow)

    result = check("--fail-on", "CRITICAL")
    no_traceback(result)
    assert result.exit_code == 1
    report = report_of(result)
    assert report["errors"] == []
    (bare,) = [
        e
        for e in report["exposures"]
        if e["image"]["digest"] == account.api and e["severity"] == "CRITICAL" and e["epss_score"] is None
    ]
    assert bare["inspector_score"] is None
    assert report["summary"]["by_severity"]["CRITICAL"] == 2  # the bare finding beside CVE-2024-0001
    (api,) = [i for i in report["images"] if i["image"]["digest"] == account.api]
    matched = sorted((w["container"], w["matched_via"]) for w in api["workloads"])
    assert matched == [("api", "digest"), ("late", "tag")]
    assert report["summary"]["running_containers"] == 5  # 4 seeded + the pulling one; the hollow task has none


# --- a Kubernetes API that stalls mid-listing (the Kubernetes inventory's own tests cover the rest) ------


def test_a_kubernetes_api_that_stalls_mid_listing_is_that_clusters_error(
    sim_aws: SimAWS, account: Account, sim_eks_cluster: Callable[..., SimKube]
) -> None:
    kube = add_eks_cluster(sim_eks_cluster, account)
    kube.stall("/api/v1/pods", after_items=1)  # headers and the first pod, then nothing
    result = check("--read-timeout", "0.5", "--max-attempts", "1", "--fail-on", "CRITICAL")
    assert result.exit_code == 3  # incomplete beats exposures
    no_traceback(result)
    report = report_of(result)
    (error,) = report["errors"]
    assert error["source"] == f"eks:{REGION}/shop"
    assert "ReadTimeout" in error["code"]
    assert {c["name"]: c["ok"] for c in report["scope"]["clusters"]}["shop"] is False
    # ECS was read in full.
    assert exposure_ids(report) == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-2000", "CVE-2024-3000"}
