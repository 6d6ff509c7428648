"""The simulated endpoint's own behaviour: routing to moto, the call log, injected faults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecrwatch.sim.server import SimAWS


def test_moto_answers_through_the_layer_and_every_call_is_logged(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="team/api")
    repos = ecr.describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["team/api"]
    assert sim_aws.calls.count("ecr", "CreateRepository", "eu-west-1") == 1
    assert sim_aws.calls.count("ecr", "DescribeRepositories") == 1
    record = next(sim_aws.calls.select("ecr", "CreateRepository"))
    assert record.params == {"repositoryName": "team/api"}


def test_rest_json_operations_are_named_from_the_service_model(sim_aws: SimAWS) -> None:
    boto3.client("eks", region_name="us-west-2").list_clusters()
    assert sim_aws.calls.by_operation() == {"eks:ListClusters": 1}


def test_throttling_is_retried_by_botocore_standard_mode(sim_aws: SimAWS) -> None:
    sim_aws.faults.add("ecr", "DescribeRepositories", error="ThrottlingException", times=3)
    ecr = boto3.client("ecr", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    assert ecr.describe_repositories()["repositories"] == []
    assert sim_aws.calls.count("ecr", "DescribeRepositories") == 4


def test_an_error_fault_can_target_one_region_and_reports_the_code(sim_aws: SimAWS) -> None:
    sim_aws.faults.add("ecr", "DescribeRepositories", region="us-west-2", error="AccessDeniedException")
    boto3.client("ecr", region_name="us-east-1").describe_repositories()
    with pytest.raises(ClientError) as caught:
        boto3.client("ecr", region_name="us-west-2").describe_repositories()
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_query_protocol_errors_parse_with_their_code(sim_aws: SimAWS) -> None:
    sim_aws.faults.add("sts", "GetCallerIdentity", error="ExpiredToken", status=403)
    with pytest.raises(ClientError) as caught:
        boto3.client("sts").get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "ExpiredToken"


def test_reset_forgets_moto_state_calls_and_faults(sim_aws: SimAWS) -> None:
    boto3.client("ecr").create_repository(repositoryName="gone")
    sim_aws.faults.add("ecr", error="ThrottlingException")
    sim_aws.reset()
    assert sim_aws.calls.records == []
    assert boto3.client("ecr").describe_repositories()["repositories"] == []


def test_the_peak_of_requests_answered_at_once_is_measured(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr")
    ecr.describe_repositories()
    ecr.describe_repositories()
    assert sim_aws.concurrency.peak == 1  # one after the other

    # Five at once: each answer waits 0.5 s, long enough for all five to arrive.
    sim_aws.faults.add("ecr", "DescribeRepositories", latency=0.5)
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda _: ecr.describe_repositories(), range(5)))
    assert sim_aws.concurrency.peak == 5
    sim_aws.reset()
    assert sim_aws.concurrency.peak == 0
