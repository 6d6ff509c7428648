"""`ecrwatch status`: each region's scanning configuration and Inspector's coverage, as a table or JSON."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from click.testing import CliRunner, Result

from ecrwatch.cli import main
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import SimAWS


def status(*args: str) -> Result:
    return CliRunner().invoke(main, ["status", *args])


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture
def configured(sim_aws: SimAWS) -> SimAWS:
    """us-east-1: ENHANCED with both rules, Inspector on, custom durations, four images in two repositories."""
    boto3.client("ecr").put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]},
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [
                    {"filter": "prod-*", "filterType": "WILDCARD"},
                    {"filter": "team/api", "filterType": "WILDCARD"},
                ],
            },
        ],
    )
    inspector = sim_aws.extension(Inspector2Sim)
    inspector.set_account_status("us-east-1", ecr="ENABLED")
    inspector.set_ecr_configuration(
        "us-east-1",
        rescan_duration="DAYS_30",
        pull_date_rescan_duration="DAYS_90",
        pull_date_rescan_mode="LAST_PULL_DATE",
    )
    for name, reason in (("a", "SUCCESSFUL"), ("b", "SUCCESSFUL"), ("c", "PENDING_INITIAL_SCAN")):
        inspector.set_coverage("us-east-1", repository="shop/web", digest=digest(name), reason=reason)
    inspector.set_coverage(
        "us-east-1", repository="legacy", digest=digest("d"), status_code="INACTIVE", reason="UNSUPPORTED_OS"
    )
    sim_aws.calls.clear()
    return sim_aws


def test_table_shows_activation_scan_type_rules_durations_and_coverage(configured: SimAWS) -> None:
    result = status()
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "Region us-east-1"
    assert "  Inspector scanning for ECR  ENABLED" in lines
    assert "  Scan type                   ENHANCED" in lines
    assert "  Registry and Inspector      agree (ENHANCED, Inspector ENABLED)" in lines
    assert "  Rules                       continuous rule: *" in lines
    assert "                              on-push rule: prod-*, team/api" in lines
    assert "  Rescan durations            after push DAYS_30; after pull DAYS_90, by LAST_PULL_DATE" in lines
    # Repository coverage records are not images: four images, not six records.
    assert "  Coverage                    4 image(s): 3 ACTIVE, 1 INACTIVE" in lines
    assert "                                   2  ACTIVE / SUCCESSFUL" in lines
    assert "                                   1  ACTIVE / PENDING_INITIAL_SCAN" in lines
    assert "                                   1  INACTIVE / UNSUPPORTED_OS" in lines
    assert not any(r.operation.startswith(("Put", "Enable", "Update")) for r in configured.calls.records)


def test_json_carries_the_apis_own_values(configured: SimAWS) -> None:
    result = status("--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"] == "ecrwatch-status/1"
    assert document["errors"] == []
    (region,) = document["regions"]
    assert region["region"] == "us-east-1"
    assert region["registry_scanning"]["scanType"] == "ENHANCED"
    assert [r["scanFrequency"] for r in region["registry_scanning"]["rules"]] == ["CONTINUOUS_SCAN", "SCAN_ON_PUSH"]
    assert region["inspector_ecr"] == {
        "status": "ENABLED",
        "rescanDuration": "DAYS_30",
        "pullDateRescanDuration": "DAYS_90",
        "pullDateRescanMode": "LAST_PULL_DATE",
    }
    assert region["scan_switch"] == {"consistent": True, "state": "on", "detail": None}
    assert region["coverage"] == {
        "resource_type": "AWS_ECR_CONTAINER_IMAGE",
        "total": 4,
        "by_scan_status": [
            {"statusCode": "ACTIVE", "reason": "SUCCESSFUL", "count": 2},
            {"statusCode": "ACTIVE", "reason": "PENDING_INITIAL_SCAN", "count": 1},
            {"statusCode": "INACTIVE", "reason": "UNSUPPORTED_OS", "count": 1},
        ],
    }


def test_coverage_is_counted_across_pages(sim_aws: SimAWS) -> None:
    inspector = sim_aws.extension(Inspector2Sim)
    for index in range(230):
        inspector.set_coverage("us-east-1", repository="many", digest=digest(f"img-{index}"))
    result = status("--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["regions"][0]["coverage"]["total"] == 230
    assert sim_aws.calls.count("inspector2", "ListCoverage") == 2


def test_each_region_is_shown_and_one_that_fails_is_an_error_not_a_stop(configured: SimAWS) -> None:
    configured.faults.add("ecr", "GetRegistryScanningConfiguration", region="eu-west-1", error="AccessDeniedException")
    result = status("--region", "us-east-1", "--region", "eu-west-1", "--format", "json")
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    east, west = document["regions"]
    assert (east["region"], east["inspector_ecr"]["status"]) == ("us-east-1", "ENABLED")
    assert (west["region"], west["registry_scanning"], west["coverage"]["total"]) == ("eu-west-1", None, 0)
    (error,) = document["errors"]
    assert error["source"] == "ecr:eu-west-1" and error["code"] == "AccessDeniedException"
    assert "ecr:GetRegistryScanningConfiguration" in error["message"]

    table = status("--region", "us-east-1", "--region", "eu-west-1")
    assert table.exit_code == 3
    assert "Region eu-west-1" in table.stdout and "could not be read (see errors)" in table.stdout
    assert "ecr:eu-west-1  AccessDeniedException" in table.stdout


def test_a_fresh_account_reads_as_basic_with_inspector_off(sim_aws: SimAWS) -> None:
    result = status()
    assert result.exit_code == 0, result.output
    assert "Inspector scanning for ECR  DISABLED" in result.stdout
    assert "Scan type                   BASIC" in result.stdout
    assert "no ECR images known to Inspector" in result.stdout


def test_no_region_anywhere_is_a_usage_error(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = status()
    assert result.exit_code == 2
    assert "--region" in result.stderr
    assert sim_aws.calls.records == []


def test_help_says_what_status_shows() -> None:
    text = CliRunner().invoke(main, ["status", "--help"]).output
    assert "--format [table|json]" in text and "coverage" in text


# --- the registry's scan type and Inspector's ECR status: one switch on AWS ------------------------------


def test_a_registry_and_an_inspector_that_disagree_are_reported_in_json_and_table(sim_aws: SimAWS) -> None:
    inspector = sim_aws.extension(Inspector2Sim)
    # us-east-1: ENHANCED in ECR, yet Inspector's ECR scanning DISABLED (seeded: AWS would be mid-transition).
    boto3.client("ecr", region_name="us-east-1").put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    inspector.set_account_status("us-east-1", ecr="DISABLED")
    # eu-west-1: Inspector ENABLED beside a BASIC registry.
    inspector.set_account_status("eu-west-1", ecr="ENABLED")
    # us-west-2: both off, as a new account is.
    regions = ("--region", "us-east-1", "--region", "eu-west-1", "--region", "us-west-2")

    result = status(*regions, "--format", "json")
    assert result.exit_code == 0, result.output
    switches = {r["region"]: r["scan_switch"] for r in json.loads(result.stdout)["regions"]}
    assert {region: (s["consistent"], s["state"]) for region, s in switches.items()} == {
        "us-east-1": (False, "enhanced_without_inspector"),
        "eu-west-1": (False, "inspector_without_enhanced"),
        "us-west-2": (True, "off"),
    }
    assert "Inspector scanning for ECR is DISABLED" in switches["us-east-1"]["detail"]
    assert "the registry is BASIC" in switches["eu-west-1"]["detail"]

    table = status(*regions)
    assert table.exit_code == 0, table.output
    lines = [line.rstrip() for line in table.stdout.splitlines()]
    disagreements = [line for line in lines if line.startswith("  Registry and Inspector")]
    assert disagreements[0].startswith(
        "  Registry and Inspector      DISAGREE: the registry is ENHANCED but Inspector scanning for ECR is DISABLED"
    )
    assert disagreements[1].startswith(
        "  Registry and Inspector      DISAGREE: Inspector scanning for ECR is ENABLED but the registry is BASIC"
    )
    assert disagreements[2] == "  Registry and Inspector      agree (BASIC, Inspector DISABLED)"


def test_an_activation_in_progress_is_shown_as_a_transition(sim_aws: SimAWS) -> None:
    sim_aws.extension(Inspector2Sim).enable_after_polls = 5
    boto3.client("inspector2", region_name="us-east-1").enable(resourceTypes=["ECR"])
    result = status("--format", "json")
    assert result.exit_code == 0, result.output
    (region,) = json.loads(result.stdout)["regions"]
    assert (region["registry_scanning"]["scanType"], region["inspector_ecr"]["status"]) == ("BASIC", "ENABLING")
    assert region["scan_switch"]["state"] == "activating" and region["scan_switch"]["consistent"] is False
    table = status()
    assert "  Registry and Inspector      in transition: Inspector is activating ECR scanning" in table.stdout
