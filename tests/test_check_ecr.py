"""`ecrwatch check` through the CLI when ECR cannot answer for every image: deleted digests and tags, another
account's registry that denies, a later BatchGetImage chunk whose connection fails, failure entries such as
KmsError, and the hint naming the IAM action a denied call needs.

ECR's own words decide: only "not found" (ImageNotFound) makes `not_found_in_ecr`; anything else ECR refuses is
an `errors` entry (`ecr:REGION`), exit 3, and the images concerned are never reported clean (DESIGN.md,
"Details that scripts rely on").
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.httpsession
import pytest
from botocore.exceptions import EndpointConnectionError

from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.ecr import EcrSim
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from hardening_world import ecrwatch, report_of, zero_backoff

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
FOREIGN = "999999999999"


@pytest.fixture
def ecr(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> Any:
    zero_backoff(monkeypatch)
    sim_aws.extension(EcsSim).add_cluster(REGION, "prod")
    return boto3.client("ecr", region_name=REGION)


def run_task(sim: SimAWS, name: str, image: str, digest: str | None = None) -> None:
    sim.extension(EcsSim).add_task(REGION, "prod", service=name, containers=[EcsContainerSeed(name, image, digest)])


def check(*args: str) -> Any:
    return ecrwatch("check", "--region", REGION, "--no-eks", "--format", "json", *args)


def unscanned_by_digest(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["image"]["digest"]: u for u in report["unscanned"] if u["image"]["digest"]}


# --- not found in ECR, digest unknown -----------------------------------------------------------------------


def test_a_deleted_digest_and_a_deleted_tag_are_not_found_in_ecr(sim_aws: SimAWS, ecr: Any) -> None:
    ecr.create_repository(repositoryName="team/api")
    deleted = push_image(ecr, "team/api", "v1")
    push_image(ecr, "team/api", "v2")
    ecr.batch_delete_image(repositoryName="team/api", imageIds=[{"imageDigest": deleted}, {"imageTag": "v2"}])
    run_task(sim_aws, "api", f"{HOST}/team/api:v1", deleted)  # still runs the digest it pulled
    run_task(sim_aws, "worker", f"{HOST}/team/api:v2")  # named by tag only, no digest reported
    result = check()
    assert result.exit_code == 0, result.output  # a blind spot, not a failure of the run
    report = report_of(result)
    assert report["errors"] == []
    by_reason = {(u["reason"], u["image"]["reference"]): u for u in report["unscanned"]}
    assert set(by_reason) == {
        ("not_found_in_ecr", f"{HOST}/team/api@{deleted}"),
        ("not_found_in_ecr", f"{HOST}/team/api:v2"),
    }
    assert deleted in by_reason[("not_found_in_ecr", f"{HOST}/team/api@{deleted}")]["detail"]
    assert "tag v2" in by_reason[("not_found_in_ecr", f"{HOST}/team/api:v2")]["detail"]


def test_a_tag_in_another_accounts_registry_that_denies_is_digest_unknown_naming_the_account(
    sim_aws: SimAWS, ecr: Any
) -> None:
    foreign_host = ecr_registry_host(FOREIGN, REGION)
    run_task(sim_aws, "agent", f"{foreign_host}/vendor/agent:2.1")
    result = check()
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert report["errors"] == []  # a registry we were never given is no error of the run ...
    (entry,) = report["unscanned"]  # ... but never silence
    assert (entry["reason"], entry["image"]["reference"]) == ("digest_unknown", f"{foreign_host}/vendor/agent:2.1")
    assert FOREIGN in entry["detail"] and "ecr:BatchGetImage" in entry["detail"]


# --- one chunk fails, the other keeps its answers -----------------------------------------------------------


def test_a_later_chunk_that_cannot_connect_leaves_the_other_chunks_images_resolved(
    sim_aws: SimAWS, ecr: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecr.create_repository(repositoryName="team/api")
    inspector = sim_aws.extension(Inspector2Sim)
    digests = [push_image(ecr, "team/api", f"v{i}") for i in range(120)]
    vulnerable = set(digests[::2])
    for i, digest in enumerate(digests):
        inspector.set_coverage(REGION, repository="team/api", digest=digest)
        if digest in vulnerable:
            add = inspector.add_finding
            add(REGION, repository="team/api", digest=digest, vulnerability_id=f"CVE-2024-{i:04d}", severity="HIGH")
        run_task(sim_aws, f"svc{i}", f"{HOST}/team/api:v{i}", digest)

    # The network fails for the repository's second BatchGetImage request (every attempt of it): the client
    # sees EndpointConnectionError, as botocore raises it when a connection cannot be made.
    bodies: list[bytes] = []
    send = botocore.httpsession.URLLib3Session.send

    def failing_send(self: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target") or b""
        if (target if isinstance(target, bytes) else target.encode()).endswith(b".BatchGetImage"):
            body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
            if body not in bodies:
                bodies.append(body)
            if bodies.index(body) == 1:
                raise EndpointConnectionError(endpoint_url=request.url)
        return send(self, request)

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", failing_send)
    result = check("--max-attempts", "2")
    assert result.exit_code == 3, result.output  # incomplete beats the HIGH exposures
    report = report_of(result)
    assert [(e["source"], e["code"]) for e in report["errors"]] == [(f"ecr:{REGION}", "EndpointConnectionError")]

    failed = {i["imageDigest"] for i in json.loads(bodies[1])["imageIds"]}
    assert (len(bodies), len(failed)) == (2, 20)  # 100 ids, then 20; the second never answered
    reported = {image["image"]["digest"] for image in report["images"]}
    assert reported == vulnerable  # findings are Inspector's facts, whatever ECR could say
    blind = unscanned_by_digest(report)
    # The first chunk's clean images are clean; the failed chunk's are never called clean.
    assert set(blind) == failed - vulnerable
    for digest in failed - vulnerable:
        assert blind[digest]["reason"] == "not_covered"
        assert "EndpointConnectionError" in blind[digest]["detail"]


# --- failure entries ----------------------------------------------------------------------------------------


def test_a_kms_error_entry_is_an_error_exit_3_and_its_images_are_not_clean(sim_aws: SimAWS, ecr: Any) -> None:
    ecr.create_repository(repositoryName="team/locked")
    locked = push_image(ecr, "team/locked", "v1")
    push_image(ecr, "team/locked", "v2")
    inspector = sim_aws.extension(Inspector2Sim)
    inspector.set_coverage(REGION, repository="team/locked", digest=locked)  # scanned, no finding
    store = sim_aws.extension(EcrSim)
    reason = "The KMS key of repository team/locked is disabled"
    store.fail_image(REGION, "team/locked", "KmsError", digest=locked, reason=reason)
    store.fail_image(REGION, "team/locked", "KmsError", tag="v2", reason=reason)
    run_task(sim_aws, "locked", f"{HOST}/team/locked:v1", locked)
    run_task(sim_aws, "tagged", f"{HOST}/team/locked:v2")

    result = check()
    assert result.exit_code == 3, result.output
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == (f"ecr:{REGION}", "KmsError")
    assert "2 images of team/locked" in error["message"] and reason in error["message"]
    by_reference = {u["image"]["reference"]: u for u in report["unscanned"]}
    assert set(by_reference) == {f"{HOST}/team/locked@{locked}", f"{HOST}/team/locked:v2"}
    assert by_reference[f"{HOST}/team/locked@{locked}"]["reason"] == "not_covered"
    assert by_reference[f"{HOST}/team/locked@{locked}"]["detail"] == (
        f"Inspector shows no finding for this digest, but ECR could not say what it is; "
        f"ECR could not return it: KmsError: {reason} (see errors)"
    )
    assert by_reference[f"{HOST}/team/locked:v2"]["reason"] == "digest_unknown"
    assert all("KmsError" in u["detail"] for u in report["unscanned"])

    table = ecrwatch("check", "--region", REGION, "--no-eks")
    assert table.exit_code == 3
    assert "KmsError" in table.stdout and f"ecr:{REGION}" in table.stdout


# --- the hint for a denied call ------------------------------------------------------------------------------


def test_an_access_denied_call_prints_the_iam_action_to_grant(sim_aws: SimAWS, ecr: Any) -> None:
    ecr.create_repository(repositoryName="team/api")
    digest = push_image(ecr, "team/api", "v1")
    run_task(sim_aws, "api", f"{HOST}/team/api:v1", digest)
    sim_aws.faults.add("ecr", "BatchGetImage", error="AccessDeniedException")
    sim_aws.faults.add("inspector2", "ListFindings", error="AccessDeniedException")
    result = check()
    assert result.exit_code == 3
    report = report_of(result)
    assert sorted((e["source"], e["code"]) for e in report["errors"]) == [
        (f"ecr:{REGION}", "AccessDeniedException"),
        (f"inspector2:{REGION}", "AccessDeniedException"),
    ]
    assert "grant the IAM permission ecr:BatchGetImage" in result.stderr
    assert "grant the IAM permission inspector2:ListFindings" in result.stderr
    (entry,) = report["unscanned"]
    assert entry["reason"] == "not_covered"  # neither ECR nor Inspector could be read: never clean
