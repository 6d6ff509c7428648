"""The simulated Inspector2 service, through boto3 over HTTP: a fake that lies makes every test above it lie."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "eu-west-1"


def client(region: str = REGION, *, validate: bool = True) -> Any:
    # parameter_validation=False lets a test send what botocore would refuse locally, to see the service refuse it.
    return boto3.client("inspector2", region_name=region, config=Config(parameter_validation=validate))


def validation_error(caught: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response = caught.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return dict(response)


# --- account status ---


def test_a_new_account_has_every_resource_type_disabled(sim_aws: SimAWS) -> None:
    accounts = client().batch_get_account_status()["accounts"]
    assert [a["accountId"] for a in accounts] == [ACCOUNT_ID]
    assert accounts[0]["state"]["status"] == "DISABLED"
    assert {k: v["status"] for k, v in accounts[0]["resourceState"].items()} == {
        "ec2": "DISABLED",
        "ecr": "DISABLED",
        "lambda": "DISABLED",
        "lambdaCode": "DISABLED",
        "codeRepository": "DISABLED",
    }


def test_enable_ecr_goes_through_enabling_and_needs_polling(sim_aws: SimAWS) -> None:
    inspector = client()
    enabled = inspector.enable(resourceTypes=["ECR"])
    assert enabled["accounts"][0]["resourceStatus"]["ecr"] == "ENABLING"
    assert enabled["accounts"][0]["status"] == "ENABLING"
    assert "failedAccounts" not in enabled

    first = inspector.batch_get_account_status()["accounts"][0]
    assert first["resourceState"]["ecr"]["status"] == "ENABLING"
    second = inspector.batch_get_account_status()["accounts"][0]
    assert second["resourceState"]["ecr"]["status"] == "ENABLED"
    assert second["state"]["status"] == "ENABLED"
    assert second["resourceState"]["ec2"]["status"] == "DISABLED"
    assert sim_aws.extension(Inspector2Sim).ecr_status(REGION) == "ENABLED"
    # Other regions are separate accounts' worth of state.
    assert sim_aws.extension(Inspector2Sim).ecr_status("us-east-1") == "DISABLED"


def test_the_number_of_polls_before_enabled_is_configurable(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(Inspector2Sim)
    store.enable_after_polls = 3
    inspector = client()
    inspector.enable(resourceTypes=["ECR", "EC2"])
    seen = [inspector.batch_get_account_status()["accounts"][0]["resourceState"]["ecr"]["status"] for _ in range(4)]
    assert seen == ["ENABLING", "ENABLING", "ENABLING", "ENABLED"]

    store.enable_after_polls = 0
    assert inspector.enable(resourceTypes=["LAMBDA"])["accounts"][0]["resourceStatus"]["lambda"] == "ENABLED"


def test_enabling_what_is_enabled_changes_nothing(sim_aws: SimAWS) -> None:
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, ecr="ENABLED")
    answer = client().enable(resourceTypes=["ECR"])
    assert answer["accounts"][0]["resourceStatus"]["ecr"] == "ENABLED"
    assert client().batch_get_account_status()["accounts"][0]["resourceState"]["ecr"]["status"] == "ENABLED"


def test_disable_goes_through_disabling(sim_aws: SimAWS) -> None:
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, ecr="ENABLED", ec2="ENABLED")
    inspector = client()
    answer = inspector.disable(resourceTypes=["ECR"])
    assert answer["accounts"][0]["resourceStatus"] == {
        "ec2": "ENABLED",
        "ecr": "DISABLING",
        "lambda": "DISABLED",
        "lambdaCode": "DISABLED",
        "codeRepository": "DISABLED",
    }
    inspector.batch_get_account_status()
    state = inspector.batch_get_account_status()["accounts"][0]
    assert state["resourceState"]["ecr"]["status"] == "DISABLED"
    assert state["state"]["status"] == "ENABLED"  # EC2 still is


def test_enable_while_disabling_is_refused_per_account(sim_aws: SimAWS) -> None:
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, ecr="DISABLING")
    answer = client().enable(resourceTypes=["ECR"])
    assert answer["accounts"] == []
    assert answer["failedAccounts"][0]["errorCode"] == "DISABLE_IN_PROGRESS"


def test_a_seeded_enabling_status_stays_until_changed(sim_aws: SimAWS) -> None:
    # A stuck activation, for testing how long callers wait.
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, ecr="ENABLING")
    for _ in range(3):
        assert client().batch_get_account_status()["accounts"][0]["resourceState"]["ecr"]["status"] == "ENABLING"


def test_other_accounts_are_unknown_unless_seeded(sim_aws: SimAWS) -> None:
    member = "210987654321"
    answer = client().batch_get_account_status(accountIds=[member])
    assert answer["accounts"] == []
    assert answer["failedAccounts"][0]["accountId"] == member
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, account=member, ecr="ENABLED")
    answer = client().batch_get_account_status(accountIds=[member, ACCOUNT_ID])
    assert [(a["accountId"], a["resourceState"]["ecr"]["status"]) for a in answer["accounts"]] == [
        (member, "ENABLED"),
        (ACCOUNT_ID, "DISABLED"),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"resourceTypes": ["ECS"]}, "resourceTypes.1.member"),
        ({"resourceTypes": []}, "resourceTypes"),
        ({}, "resourceTypes"),
        ({"resourceTypes": ["ECR"], "accountIds": ["12345"]}, "accountIds.1.member"),
    ],
)
def test_enable_validates_like_aws(sim_aws: SimAWS, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).enable(**params)
    response = validation_error(caught)
    assert field in response["Error"]["Message"]
    assert sim_aws.extension(Inspector2Sim).ecr_status(REGION) == "DISABLED"


def test_seeding_an_impossible_status_is_refused(sim_aws: SimAWS) -> None:
    with pytest.raises(ValueError, match="ACTIVE"):
        sim_aws.extension(Inspector2Sim).set_account_status(REGION, ecr="ACTIVE")


# --- configuration ---


def test_configuration_defaults_for_a_new_account(sim_aws: SimAWS) -> None:
    config = client().get_configuration()
    state = config["ecrConfiguration"]["rescanDurationState"]
    assert state["rescanDuration"] == "DAYS_14"
    assert state["pullDateRescanDuration"] == "DAYS_14"
    assert state["pullDateRescanMode"] == "LAST_IN_USE_AT"
    assert state["status"] == "SUCCESS"
    assert isinstance(state["updatedAt"], datetime)
    assert config["ec2Configuration"]["scanModeState"]["scanMode"] == "EC2_SSM_AGENT_BASED"


def test_configuration_round_trip(sim_aws: SimAWS) -> None:
    inspector = client()
    before = inspector.get_configuration()["ecrConfiguration"]["rescanDurationState"]["updatedAt"]
    inspector.update_configuration(
        ecrConfiguration={
            "rescanDuration": "LIFETIME",
            "pullDateRescanDuration": "DAYS_180",
            "pullDateRescanMode": "LAST_PULL_DATE",
        }
    )
    state = inspector.get_configuration()["ecrConfiguration"]["rescanDurationState"]
    assert (state["rescanDuration"], state["pullDateRescanDuration"], state["pullDateRescanMode"]) == (
        "LIFETIME",
        "DAYS_180",
        "LAST_PULL_DATE",
    )
    assert state["updatedAt"] >= before
    # The pull-date settings are optional: left out, they keep their values.
    inspector.update_configuration(ecrConfiguration={"rescanDuration": "DAYS_30"})
    state = inspector.get_configuration()["ecrConfiguration"]["rescanDurationState"]
    assert (state["rescanDuration"], state["pullDateRescanDuration"]) == ("DAYS_30", "DAYS_180")
    # Per region.
    other = client("us-west-2").get_configuration()["ecrConfiguration"]["rescanDurationState"]
    assert other["rescanDuration"] == "DAYS_14"
    assert sim_aws.extension(Inspector2Sim).ecr_configuration(REGION)["rescanDuration"] == "DAYS_30"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"rescanDuration": "DAYS_45"}, "ecrConfiguration.rescanDuration"),
        (
            {"rescanDuration": "DAYS_30", "pullDateRescanDuration": "LIFETIME"},
            "ecrConfiguration.pullDateRescanDuration",
        ),
        ({"rescanDuration": "DAYS_30", "pullDateRescanMode": "LAST_PUSH"}, "ecrConfiguration.pullDateRescanMode"),
        ({"pullDateRescanDuration": "DAYS_30"}, "ecrConfiguration.rescanDuration"),
    ],
)
def test_update_configuration_validates_enums(sim_aws: SimAWS, config: dict[str, str], field: str) -> None:
    inspector = client(validate=False)
    with pytest.raises(ClientError) as caught:
        inspector.update_configuration(ecrConfiguration=config)
    response = validation_error(caught)
    assert response["reason"] == "FIELD_VALIDATION_FAILED"
    assert [f["name"] for f in response["fields"]] == [field]
    assert inspector.get_configuration()["ecrConfiguration"]["rescanDurationState"]["rescanDuration"] == "DAYS_14"


def test_update_configuration_needs_something_to_update(sim_aws: SimAWS) -> None:
    with pytest.raises(ClientError) as caught:
        client().update_configuration()
    validation_error(caught)


def test_seeded_configuration_is_what_get_configuration_reports(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(Inspector2Sim)
    store.set_ecr_configuration(REGION, rescan_duration="DAYS_90", pull_date_rescan_duration="DAYS_30")
    state = client().get_configuration()["ecrConfiguration"]["rescanDurationState"]
    assert (state["rescanDuration"], state["pullDateRescanDuration"]) == ("DAYS_90", "DAYS_30")
    with pytest.raises(ValueError, match="enum"):
        store.set_ecr_configuration(REGION, rescan_duration="FOREVER")
