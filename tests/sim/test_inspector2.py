"""The simulated Inspector2 service, through boto3 over HTTP: a fake that lies makes every test above it lie."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from model_check import record_raw_bodies, violations

from ecrwatch.sim.inspector2 import FindingSpec, Inspector2Sim, Package, VulnerabilityIntel
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "eu-west-1"
FINDING_ARN = re.compile(r"^arn:aws:inspector2:eu-west-1:\d{12}:finding/[a-f0-9]{32}$")


def digest(n: int | str) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


@pytest.fixture
def store(sim_aws: SimAWS) -> Inspector2Sim:
    return sim_aws.extension(Inspector2Sim)


def eq(*values: str) -> list[dict[str, str]]:
    return [{"comparison": "EQUALS", "value": v} for v in values]


def arns(findings: list[dict[str, Any]]) -> set[str]:
    return {f["findingArn"] for f in findings}


def all_findings(criteria: dict[str, Any] | None = None, region: str = REGION, **extra: Any) -> list[dict[str, Any]]:
    pages = client(region).get_paginator("list_findings").paginate(filterCriteria=criteria or {}, **extra)
    return [finding for page in pages for finding in page["findings"]]


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
    inspector = client()
    raw = record_raw_bodies(inspector)
    accounts = inspector.batch_get_account_status()["accounts"]
    problems = violations(inspector, "BatchGetAccountStatus", raw[0][1])
    assert [p for p in problems if not p.endswith("required by State, missing")] == []
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


def test_other_accounts_are_unknown_unless_seeded_and_administered(sim_aws: SimAWS) -> None:
    member = "210987654321"
    answer = client().batch_get_account_status(accountIds=[member])
    assert answer["accounts"] == []
    assert answer["failedAccounts"][0]["accountId"] == member
    sim_aws.extension(Inspector2Sim).set_account_status(REGION, account=member, ecr="ENABLED")
    # Seeded, but the caller is not its delegated administrator: still refused.
    assert client().batch_get_account_status(accountIds=[member])["failedAccounts"][0]["accountId"] == member
    sim_aws.extension(Inspector2Sim).set_delegated_admin(REGION, ACCOUNT_ID, [member])
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


# --- findings: shape ---


def test_a_finding_comes_back_as_aws_shapes_it_with_the_right_types(store: Inspector2Sim) -> None:
    observed = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    arn = store.add_finding(
        REGION,
        repository="team/api",
        digest=digest(1),
        vulnerability_id="CVE-2024-3094",
        severity="CRITICAL",
        tags=("v1.2.3", "latest"),
        architecture="arm64",
        inspector_score=9.1,
        epss=0.42,
        exploit_available="YES",
        packages=(Package("xz-utils", "5.6.0-0.1", fixed_in_version="5.6.1+really5.4.5-1", arch="arm64"),),
        first_observed_at=observed,
    )
    assert FINDING_ARN.match(arn)
    inspector = client()
    raw = record_raw_bodies(inspector)
    (finding,) = inspector.list_findings()["findings"]
    assert violations(inspector, "ListFindings", raw[0][1]) == []

    assert finding["findingArn"] == arn
    assert (finding["awsAccountId"], finding["type"], finding["severity"], finding["status"]) == (
        ACCOUNT_ID,
        "PACKAGE_VULNERABILITY",
        "CRITICAL",
        "ACTIVE",
    )
    assert finding["title"] == "CVE-2024-3094 - xz-utils"
    assert finding["firstObservedAt"] == observed
    assert isinstance(finding["lastObservedAt"], datetime) and finding["lastObservedAt"] >= observed
    assert isinstance(finding["updatedAt"], datetime)
    assert isinstance(finding["inspectorScore"], float) and finding["inspectorScore"] == 9.1
    assert isinstance(finding["epss"]["score"], float) and finding["epss"]["score"] == 0.42
    assert (finding["fixAvailable"], finding["exploitAvailable"]) == ("YES", "YES")
    details = finding["packageVulnerabilityDetails"]
    assert (details["vulnerabilityId"], details["source"]) == ("CVE-2024-3094", "NVD")
    assert details["vulnerablePackages"] == [
        {
            "name": "xz-utils",
            "version": "5.6.0-0.1",
            "fixedInVersion": "5.6.1+really5.4.5-1",
            "packageManager": "OS",
            "arch": "arm64",
        }
    ]
    (resource,) = finding["resources"]
    assert resource["type"] == "AWS_ECR_CONTAINER_IMAGE"
    assert resource["id"] == f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/team/api/{digest(1)}"
    assert (resource["partition"], resource["region"]) == ("aws", REGION)
    image = resource["details"]["awsEcrContainerImage"]
    assert (image["registry"], image["repositoryName"], image["imageHash"]) == (ACCOUNT_ID, "team/api", digest(1))
    assert image["imageTags"] == ["v1.2.3", "latest"]
    assert image["architecture"] == "arm64"
    assert isinstance(image["pushedAt"], datetime) and image["pushedAt"] < observed


def test_optional_members_can_be_left_out_and_still_parse(store: Inspector2Sim) -> None:
    left_out = (
        "epss",
        "inspectorScore",
        "inspectorScoreDetails",
        "packageVulnerabilityDetails",
        "title",
        "updatedAt",
        "fixAvailable",
        "exploitAvailable",
        "awsEcrContainerImage.imageTags",
        "awsEcrContainerImage.pushedAt",
    )
    arn = store.add_finding(
        REGION, repository="bare", digest=digest(2), vulnerability_id="CVE-2023-1", severity="LOW", omit=left_out
    )
    inspector = client()
    raw = record_raw_bodies(inspector)
    (finding,) = inspector.list_findings()["findings"]
    assert violations(inspector, "ListFindings", raw[0][1]) == []
    for member in left_out:
        assert member.split(".")[-1] not in finding and member.split(".")[-1] not in str(raw[0][1])
    assert finding["findingArn"] == arn
    assert finding["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"] == digest(2)
    # What a response leaves out, a filter cannot match; NOT_EQUALS still can.
    assert all_findings({"vulnerabilityId": eq("CVE-2023-1")}) == []
    assert all_findings({"fixAvailable": [{"comparison": "NOT_EQUALS", "value": "YES"}]})[0]["findingArn"] == arn


def test_untriaged_findings_have_no_score_and_defaults_fit_the_fix(store: Inspector2Sim) -> None:
    store.add_finding(REGION, repository="r1", digest=digest(3), vulnerability_id="GHSA-x", severity="UNTRIAGED")
    store.add_finding(
        REGION, repository="r1", digest=digest(3), vulnerability_id="CVE-9", severity="HIGH", fix_available="NO"
    )
    untriaged, high = sorted(all_findings(), key=lambda f: f["severity"], reverse=True)
    assert "inspectorScore" not in untriaged
    assert high["inspectorScore"] == 7.5
    assert high["packageVulnerabilityDetails"]["vulnerablePackages"][0]["fixedInVersion"] == "NotAvailable"


# --- findings: filters ---


@pytest.fixture
def catalogue(store: Inspector2Sim) -> dict[str, str]:
    """Five findings across two images and three repositories: name -> ARN."""

    def add(name: str, repository: str, image: str, vulnerability: str, severity: str, **extra: Any) -> tuple[str, str]:
        spec = {"repository": repository, "digest": digest(image), "vulnerability_id": vulnerability}
        return name, store.add_finding(REGION, severity=severity, **spec, **extra)

    requests = Package("requests", "2.0.0", "2.31.0", package_manager="PIP")
    return dict(
        [
            add("api-crit", "team/api", "api", "CVE-1", "CRITICAL", tags=("v1", "prod"), epss=0.9, inspector_score=9.8),
            add(
                "api-low",
                "team/api",
                "api",
                "CVE-2",
                "LOW",
                tags=("v1", "prod"),
                fix_available="NO",
                inspector_score=2.0,
            ),
            add(
                "web-high",
                "team/web",
                "web",
                "CVE-1",
                "HIGH",
                tags=("v2",),
                epss=0.1,
                inspector_score=7.0,
                status="SUPPRESSED",
            ),
            add("batch-med", "other/batch", "batch", "CVE-3", "MEDIUM", inspector_score=5.0, packages=(requests,)),
            add("batch-closed", "other/batch", "batch", "CVE-4", "HIGH", status="CLOSED", inspector_score=7.5),
        ]
    )


def names(findings: list[dict[str, Any]], catalogue: dict[str, str]) -> set[str]:
    by_arn = {arn: name for name, arn in catalogue.items()}
    return {by_arn[f["findingArn"]] for f in findings}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"ecrImageRepositoryName": eq("team/api")}, {"api-crit", "api-low"}),
        ({"ecrImageRepositoryName": [{"comparison": "PREFIX", "value": "team/"}]}, {"api-crit", "api-low", "web-high"}),
        (
            {"ecrImageRepositoryName": [{"comparison": "NOT_EQUALS", "value": "team/api"}]},
            {"web-high", "batch-med", "batch-closed"},
        ),
        # Values of one field are OR'ed ...
        ({"severity": eq("CRITICAL", "HIGH")}, {"api-crit", "web-high", "batch-closed"}),
        # ... and a NOT_EQUALS among them excludes what it matches.
        (
            {
                "ecrImageRepositoryName": [
                    *eq("team/api", "other/batch"),
                    {"comparison": "NOT_EQUALS", "value": "team/api"},
                ]
            },
            {"batch-med", "batch-closed"},
        ),
        # Several NOT_EQUALS: none may match.
        (
            {"severity": [{"comparison": "NOT_EQUALS", "value": v} for v in ("HIGH", "LOW")]},
            {"api-crit", "batch-med"},
        ),
        # Fields are AND'ed.
        ({"vulnerabilityId": eq("CVE-1"), "findingStatus": eq("ACTIVE")}, {"api-crit"}),
        (
            {"ecrImageHash": eq(digest("api"), digest("batch")), "severity": eq("LOW", "HIGH")},
            {"api-low", "batch-closed"},
        ),
        # A field with several values (tags) matches when any does; NOT_EQUALS excludes when any does.
        ({"ecrImageTags": eq("prod")}, {"api-crit", "api-low"}),
        ({"ecrImageTags": [{"comparison": "NOT_EQUALS", "value": "v1"}]}, {"web-high", "batch-med", "batch-closed"}),
        ({"ecrImageTags": [{"comparison": "PREFIX", "value": "v"}]}, {"api-crit", "api-low", "web-high"}),
        ({"findingArn": eq("arn:aws:inspector2:eu-west-1:123456789012:finding/" + "0" * 32)}, set()),
        ({"fixAvailable": eq("NO")}, {"api-low"}),
        ({"exploitAvailable": eq("NO"), "severity": eq("MEDIUM")}, {"batch-med"}),
        ({"awsAccountId": eq(ACCOUNT_ID), "findingType": eq("PACKAGE_VULNERABILITY")}, None),
        ({"resourceType": eq("AWS_ECR_CONTAINER_IMAGE"), "ecrImageRegistry": eq(ACCOUNT_ID)}, None),
        ({"resourceType": eq("AWS_LAMBDA_FUNCTION")}, set()),
        ({"ecrImageArchitecture": eq("arm64")}, set()),
        ({"vulnerablePackages": [{"name": {"comparison": "EQUALS", "value": "requests"}}]}, {"batch-med"}),
        (
            {"vulnerablePackages": [{"name": {"comparison": "PREFIX", "value": "open"}, "version": eq("3.0.8-r0")[0]}]},
            {"api-crit", "api-low", "web-high", "batch-closed"},
        ),
        ({"inspectorScore": [{"lowerInclusive": 7.0, "upperInclusive": 9.0}]}, {"web-high", "batch-closed"}),
        ({"epssScore": [{"lowerInclusive": 0.5}]}, {"api-crit"}),
        ({"inspectorScore": [{"upperInclusive": 2.0}, {"lowerInclusive": 9.5}]}, {"api-crit", "api-low"}),
    ],
)
def test_filter_criteria(catalogue: dict[str, str], criteria: dict[str, Any], expected: set[str] | None) -> None:
    assert names(all_findings(criteria), catalogue) == (set(catalogue) if expected is None else expected)


def test_resource_id_filter_matches_the_image_and_nothing_else(catalogue: dict[str, str]) -> None:
    resource = f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/team/web/{digest('web')}"
    assert names(all_findings({"resourceId": eq(resource)}), catalogue) == {"web-high"}
    # The same digest in another repository is another resource.
    other = f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/team/api/{digest('web')}"
    assert all_findings({"resourceId": eq(other)}) == []


def test_date_filters(store: Inspector2Sim) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    old = store.add_finding(
        REGION, repository="r1", digest=digest(1), vulnerability_id="CVE-1", severity="LOW", first_observed_at=base
    )
    new = store.add_finding(REGION, repository="r1", digest=digest(1), vulnerability_id="CVE-2", severity="LOW",
                            first_observed_at=base + timedelta(days=30))  # fmt: skip
    window = {"firstObservedAt": [{"startInclusive": base + timedelta(days=1)}]}
    assert arns(all_findings(window)) == {new}
    window = {"firstObservedAt": [{"startInclusive": base, "endInclusive": base}]}
    assert arns(all_findings(window)) == {old}


def test_findings_are_per_region(store: Inspector2Sim) -> None:
    here = store.add_finding(REGION, repository="r1", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    there = store.add_finding("us-east-1", repository="r1", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    assert here != there
    assert arns(all_findings()) == {here}
    assert arns(all_findings(region="us-east-1")) == {there}
    assert all_findings(region="ap-south-1") == []


def test_more_than_ten_values_in_a_field_is_refused(catalogue: dict[str, str]) -> None:
    ten = eq(*(digest(n) for n in range(9)), digest("api"))
    assert names(all_findings({"ecrImageHash": ten}), catalogue) == {"api-crit", "api-low"}
    with pytest.raises(ClientError) as caught:
        client().list_findings(filterCriteria={"ecrImageHash": [*ten, *eq(digest("web"))]})
    response = validation_error(caught)
    assert [f["name"] for f in response["fields"]] == ["filterCriteria.ecrImageHash"]
    assert "less than or equal to 10" in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"lambdaFunctionName": eq("f")}, "filterCriteria.lambdaFunctionName"),  # in the model, not simulated
        ({"resourceTags": [{"comparison": "EQUALS", "key": "team"}]}, "filterCriteria.resourceTags"),
        (
            {"vulnerablePackages": [{"runtimeReachability": {"comparison": "EQUALS", "value": "REACHABLE"}}]},
            "filterCriteria.vulnerablePackages.1.member.runtimeReachability",
        ),
    ],
)
def test_a_filter_the_simulator_does_not_implement_is_refused_by_name(
    catalogue: dict[str, str], criteria: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).list_findings(filterCriteria={**criteria, "severity": eq("LOW")})
    response = validation_error(caught)
    assert [f["name"] for f in response["fields"]] == [field]
    assert field.rsplit(".", 1)[-1] in response["Error"]["Message"]


def test_a_filter_field_outside_the_model_is_refused_by_name(catalogue: dict[str, str]) -> None:
    inspector = client()

    def rename(request: Any, **_: Any) -> None:  # botocore cannot send a member its model lacks: edit the body
        request.data = request.data.replace(b'"ecrImageTags"', b'"ecrImageDigest"')

    inspector.meta.events.register("before-sign.inspector2.ListFindings", rename)
    with pytest.raises(ClientError) as caught:
        inspector.list_findings(filterCriteria={"ecrImageTags": eq("v1")})
    assert [f["name"] for f in validation_error(caught)["fields"]] == ["filterCriteria.ecrImageDigest"]


@pytest.mark.parametrize(
    "criteria",
    [
        {"severity": [{"comparison": "CONTAINS", "value": "HIGH"}]},
        {"severity": [{"comparison": "EQUALS", "value": ""}]},
        {"severity": []},
        {"severity": [{"comparison": "EQUALS"}]},
    ],
)
def test_malformed_string_filters_are_refused(catalogue: dict[str, str], criteria: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).list_findings(filterCriteria=criteria)
    assert validation_error(caught)["fields"][0]["name"].startswith("filterCriteria.severity")


# --- findings: pages ---


@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_max_results_outside_1_to_100_is_refused(catalogue: dict[str, str], max_results: int) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).list_findings(maxResults=max_results)
    assert [f["name"] for f in validation_error(caught)["fields"]] == ["maxResults"]


def test_pages_hold_at_most_25_findings_whatever_max_results_asks(store: Inspector2Sim) -> None:
    store.add_findings(
        REGION,
        [
            FindingSpec(repository="big", digest=digest(1), vulnerability_id=f"CVE-{n}", severity="LOW")
            for n in range(30)
        ],
    )
    inspector = client()
    assert len(inspector.list_findings(maxResults=100)["findings"]) == 25
    assert len(inspector.list_findings()["findings"]) == 25
    page = inspector.list_findings(maxResults=7)
    assert len(page["findings"]) == 7 and page["nextToken"]


def test_the_paginator_collects_every_match_exactly_once(sim_aws: SimAWS, store: Inspector2Sim) -> None:
    wanted = store.add_findings(
        REGION,
        [
            FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"CVE-{n}", severity="HIGH")
            for n in range(60)
        ]
        + [
            FindingSpec(repository="app", digest=digest(2), vulnerability_id=f"CVE-{n}", severity="HIGH")
            for n in range(7)
        ],
    )
    # Noise the query must not return: another image, and closed findings on the same one.
    other = [
        FindingSpec(repository="app", digest=digest(3), vulnerability_id=f"C-{n}", severity="HIGH") for n in range(40)
    ]
    closed = [
        FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"OLD-{n}", severity="HIGH", status="CLOSED")
        for n in range(10)
    ]
    store.add_findings(REGION, other + closed)
    criteria = {"ecrImageHash": eq(digest(1), digest(2)), "findingStatus": eq("ACTIVE")}
    found = all_findings(criteria, PaginationConfig={"PageSize": 100})
    assert len(found) == len(wanted) == 67
    assert arns(found) == set(wanted)
    assert sim_aws.calls.count("inspector2", "ListFindings") == 3  # 25 + 25 + 17


def test_paging_is_not_disturbed_by_findings_seeded_between_pages(store: Inspector2Sim) -> None:
    first = store.add_findings(
        REGION,
        [FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"A-{n}", severity="LOW") for n in range(30)],
    )
    inspector = client()
    page1 = inspector.list_findings(filterCriteria={"ecrImageHash": eq(digest(1))}, maxResults=10)
    store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="LATE", severity="LOW")
    rest = inspector.get_paginator("list_findings").paginate(
        filterCriteria={"ecrImageHash": eq(digest(1))}, PaginationConfig={"StartingToken": page1["nextToken"]}
    )
    seen = [f["findingArn"] for f in page1["findings"]] + [f["findingArn"] for p in rest for f in p["findings"]]
    assert len(seen) == len(set(seen)) == 31
    assert set(first) <= set(seen)


def test_a_bad_or_foreign_next_token_is_refused(store: Inspector2Sim) -> None:
    store.add_findings(
        REGION,
        [FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"A-{n}", severity="LOW") for n in range(30)],
    )
    inspector = client()
    token = inspector.list_findings(filterCriteria={"severity": eq("LOW")})["nextToken"]
    for bad in ("not-a-token", token[:-4]):
        with pytest.raises(ClientError) as caught:
            inspector.list_findings(filterCriteria={"severity": eq("LOW")}, nextToken=bad)
        assert validation_error(caught)["fields"][0]["name"] == "nextToken"
    # A token belongs to the query that issued it.
    with pytest.raises(ClientError) as caught:
        inspector.list_findings(filterCriteria={"severity": eq("HIGH")}, nextToken=token)
    validation_error(caught)


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_sort_criteria_order_the_pages(store: Inspector2Sim, order: str) -> None:
    scores = [1.5, 9.9, 4.2, 7.7, 3.3, 8.8, 2.1, 6.0, 5.5, 0.5, 9.1, 4.4]
    store.add_findings(
        REGION,
        [FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"CVE-{n}", severity="LOW", epss=score / 10)
         for n, score in enumerate(scores)]
        + [FindingSpec(repository="app", digest=digest(1), vulnerability_id="NO-EPSS", severity="LOW")],
    )  # fmt: skip
    found = all_findings(sortCriteria={"field": "EPSS_SCORE", "sortOrder": order}, PaginationConfig={"PageSize": 5})
    values = [f.get("epss", {}).get("score") for f in found]
    present = sorted(s / 10 for s in scores)
    # A finding without EPSS sorts lowest.
    assert values == ([None, *present] if order == "ASC" else [*reversed(present), None])


def test_sort_by_severity_uses_severity_order(catalogue: dict[str, str]) -> None:
    found = all_findings(sortCriteria={"field": "SEVERITY", "sortOrder": "DESC"})
    assert [f["severity"] for f in found] == ["CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW"]


# --- findings: seeding ---


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"digest": "sha256:abc"}, "digest"),
        ({"severity": "SEVERE"}, "Severity"),
        ({"status": "OPEN"}, "FindingStatus"),
        ({"fix_available": "MAYBE"}, "FixAvailable"),
        ({"repository": "Team/API"}, "repository"),
        ({"epss": 1.5}, "EPSS"),
        ({"omit": ("findingArn",)}, "omit"),
        ({"account": "12345"}, "account"),
        ({"tags": "latest"}, "tags"),
    ],
)
def test_seeding_what_aws_would_never_return_is_refused(
    store: Inspector2Sim, change: dict[str, Any], message: str
) -> None:
    spec = {"repository": "app", "digest": digest(1), "vulnerability_id": "CVE-1", "severity": "LOW", **change}
    with pytest.raises(ValueError, match=message):
        store.add_finding(REGION, **spec)
    assert all_findings() == []


def test_one_finding_per_vulnerability_per_image_and_bulk_seeding_is_all_or_nothing(store: Inspector2Sim) -> None:
    store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    batch = [
        FindingSpec(repository="app", digest=digest(2), vulnerability_id="CVE-1", severity="LOW"),
        FindingSpec(repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="HIGH"),
    ]
    with pytest.raises(ValueError, match="already exists"):
        store.add_findings(REGION, batch)
    assert len(all_findings()) == 1


def test_a_finding_status_can_change_after_seeding(store: Inspector2Sim) -> None:
    arn = store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    store.set_finding_status(arn, "CLOSED")
    assert all_findings({"findingStatus": eq("ACTIVE")}) == []
    assert arns(all_findings({"findingStatus": eq("CLOSED")})) == {arn}


# --- coverage ---


def coverage(criteria: dict[str, Any] | None = None, region: str = REGION, **extra: Any) -> list[dict[str, Any]]:
    pages = client(region).get_paginator("list_coverage").paginate(filterCriteria=criteria or {}, **extra)
    return [record for page in pages for record in page["coveredResources"]]


def image_id(repository: str, n: int | str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/{repository}/{digest(n)}"


def test_a_finding_implies_an_active_coverage_record_for_its_image(store: Inspector2Sim) -> None:
    store.add_finding(
        REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW", tags=("v1",)
    )
    inspector = client()
    raw = record_raw_bodies(inspector)
    records = inspector.list_coverage(filterCriteria={"resourceType": eq("AWS_ECR_CONTAINER_IMAGE")})
    assert violations(inspector, "ListCoverage", raw[0][1]) == []
    (record,) = records["coveredResources"]
    assert record["resourceId"] == image_id("app", 1)
    assert (record["accountId"], record["scanType"]) == (ACCOUNT_ID, "PACKAGE")
    assert record["scanStatus"] == {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"}
    assert record["resourceMetadata"]["ecrImage"]["tags"] == ["v1"]
    assert record["resourceMetadata"]["ecrRepository"] == {"name": "app", "scanFrequency": "CONTINUOUS_SCAN"}
    assert isinstance(record["lastScannedAt"], datetime)
    # Inspector lists the repository too.
    (repository,) = coverage({"resourceType": eq("AWS_ECR_REPOSITORY")})
    assert repository["resourceId"] == f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/app"
    assert "ecrImage" not in repository["resourceMetadata"]


def test_seeded_coverage_is_kept_when_findings_arrive(store: Inspector2Sim) -> None:
    store.set_coverage(
        REGION, repository="app", digest=digest(1), status_code="INACTIVE", reason="SCAN_ELIGIBILITY_EXPIRED"
    )
    store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    (record,) = coverage({"resourceId": eq(image_id("app", 1))})
    assert record["scanStatus"] == {"statusCode": "INACTIVE", "reason": "SCAN_ELIGIBILITY_EXPIRED"}


# Every coverage reason ecrwatch reads an ECR image's state from (DESIGN.md "Details that scripts rely on").
ECR_COVERAGE_REASONS = [
    ("ACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH"),
    ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED"),
    ("INACTIVE", "IMAGE_ARCHIVED"),
    ("INACTIVE", "PENDING_DISABLE"),
    ("INACTIVE", "RESOURCE_TERMINATED"),
    ("INACTIVE", "ACCESS_DENIED_TO_ENCRYPTION_KEY"),
    ("INACTIVE", "EXCLUDED_BY_TAG"),
    ("ACTIVE", "PENDING_REVIVAL_SCAN"),
]


@pytest.mark.parametrize(("code", "reason"), ECR_COVERAGE_REASONS)
def test_coverage_records_carry_the_seeded_reason_and_last_scan_as_the_model_shapes_them(
    store: Inspector2Sim, code: str, reason: str
) -> None:
    scanned_at = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    store.set_coverage(
        REGION, repository="app", digest=digest(1), status_code=code, reason=reason, last_scanned_at=scanned_at
    )
    inspector = client()
    raw = record_raw_bodies(inspector)
    records = inspector.list_coverage(filterCriteria={"resourceId": eq(image_id("app", 1))})
    assert violations(inspector, "ListCoverage", raw[0][1]) == []
    (record,) = records["coveredResources"]
    assert record["scanStatus"] == {"statusCode": code, "reason": reason}
    assert record["lastScannedAt"] == scanned_at
    (counted,) = coverage({"scanStatusReason": eq(reason), "resourceType": eq("AWS_ECR_CONTAINER_IMAGE")})
    assert counted["resourceId"] == image_id("app", 1)


def test_a_coverage_record_may_be_seeded_without_a_scan_status(store: Inspector2Sim) -> None:
    """CoveredResource.scanStatus is optional in the model: such a record has no status to filter or group by."""
    store.set_coverage(REGION, repository="app", digest=digest(1), scan_status=False)
    store.set_coverage(REGION, repository="app", digest=digest(2))
    inspector = client()
    raw = record_raw_bodies(inspector)
    records = inspector.list_coverage(filterCriteria={"resourceId": eq(image_id("app", 1))})
    assert violations(inspector, "ListCoverage", raw[0][1]) == []
    (record,) = records["coveredResources"]
    assert "scanStatus" not in record
    assert record["resourceId"] == image_id("app", 1)
    images = {"resourceType": eq("AWS_ECR_CONTAINER_IMAGE")}
    assert [r["resourceId"] for r in coverage({**images, "scanStatusCode": eq("ACTIVE")})] == [image_id("app", 2)]
    stats = client().list_coverage_statistics(filterCriteria=images, groupBy="SCAN_STATUS_CODE")
    assert (stats["totalCounts"], stats["countsByGroup"]) == (2, [{"groupKey": "ACTIVE", "count": 1}])


@pytest.fixture
def covered(store: Inspector2Sim) -> None:
    store.set_coverage(REGION, repository="team/api", digest=digest(1), tags=("v1", "prod"))
    store.set_coverage(REGION, repository="team/api", digest=digest(2), reason="PENDING_INITIAL_SCAN")
    store.set_coverage(REGION, repository="team/web", digest=digest(3), status_code="INACTIVE", reason="UNSUPPORTED_OS")
    store.set_coverage(REGION, repository="legacy", digest=digest(4), status_code="INACTIVE",
                       reason="SCAN_FREQUENCY_MANUAL", scan_frequency="MANUAL")  # fmt: skip
    store.set_coverage(REGION, repository="team/web", digest=digest(5), account="210987654321")
    store.set_delegated_admin(REGION, ACCOUNT_ID)  # the caller sees its member's record too


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"resourceId": eq(image_id("team/api", 1), image_id("team/web", 3))}, {1, 3}),
        ({"scanStatusCode": eq("INACTIVE")}, {3, 4}),
        ({"scanStatusCode": [{"comparison": "NOT_EQUALS", "value": "INACTIVE"}]}, {1, 2, 5}),
        ({"scanStatusReason": eq("PENDING_INITIAL_SCAN", "UNSUPPORTED_OS")}, {2, 3}),
        ({"ecrRepositoryName": eq("team/api")}, {1, 2}),
        ({"ecrImageTags": eq("prod")}, {1}),
        ({"accountId": eq("210987654321")}, {5}),
        ({"accountId": eq(ACCOUNT_ID), "ecrRepositoryName": eq("team/web")}, {3}),
        ({"scanType": eq("PACKAGE")}, {1, 2, 3, 4, 5}),
    ],
)
def test_coverage_filters(covered: None, criteria: dict[str, Any], expected: set[int]) -> None:
    records = coverage({**criteria, "resourceType": eq("AWS_ECR_CONTAINER_IMAGE")})
    by_digest = {n: digest(n) for n in range(1, 6)}
    assert {n for n, d in by_digest.items() for r in records if r["resourceId"].endswith(d)} == expected


def test_coverage_of_images_never_scanned_has_no_last_scanned_at(covered: None) -> None:
    (pending,) = coverage({"scanStatusReason": eq("PENDING_INITIAL_SCAN")})
    assert "lastScannedAt" not in pending
    manual = coverage({"ecrRepositoryName": eq("legacy")})
    assert {r["resourceType"]: r["scanStatus"]["reason"] for r in manual} == {
        "AWS_ECR_CONTAINER_IMAGE": "SCAN_FREQUENCY_MANUAL",
        "AWS_ECR_REPOSITORY": "SCAN_FREQUENCY_MANUAL",
    }


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        (
            {"ecrRepositoryName": [{"comparison": "PREFIX", "value": "team"}]},
            "filterCriteria.ecrRepositoryName.1.member.comparison",
        ),
        ({"lambdaFunctionName": eq("f")}, "filterCriteria.lambdaFunctionName"),
        ({"ecrRepositoryName": eq(*(f"r{n}" for n in range(11)))}, "filterCriteria.ecrRepositoryName"),
    ],
)
def test_coverage_refuses_what_aws_refuses_and_what_is_not_simulated(
    covered: None, criteria: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).list_coverage(filterCriteria=criteria)
    assert [f["name"] for f in validation_error(caught)["fields"]] == [field]


def test_coverage_pages_through_every_record_once(sim_aws: SimAWS, store: Inspector2Sim) -> None:
    for n in range(45):
        store.set_coverage(REGION, repository=f"repo{n % 3}", digest=digest(n))
    records = coverage({"resourceType": eq("AWS_ECR_CONTAINER_IMAGE")}, PaginationConfig={"PageSize": 10})
    assert len(records) == len({r["resourceId"] for r in records}) == 45
    assert sim_aws.calls.count("inspector2", "ListCoverage") == 5
    with pytest.raises(ClientError) as caught:
        client(validate=False).list_coverage(maxResults=201)
    validation_error(caught)
    assert len(client().list_coverage(maxResults=200)["coveredResources"]) == 48  # and 3 repositories


def test_coverage_statistics_group_and_count(covered: None) -> None:
    images = {"resourceType": eq("AWS_ECR_CONTAINER_IMAGE")}
    inspector = client()
    raw = record_raw_bodies(inspector)
    answer = inspector.list_coverage_statistics(filterCriteria=images, groupBy="SCAN_STATUS_REASON")
    assert [p for p in violations(inspector, "ListCoverageStatistics", raw[0][1]) if "groupKey" not in p] == []
    assert answer["totalCounts"] == 5
    assert {c["groupKey"]: c["count"] for c in answer["countsByGroup"]} == {
        "SUCCESSFUL": 2,
        "PENDING_INITIAL_SCAN": 1,
        "UNSUPPORTED_OS": 1,
        "SCAN_FREQUENCY_MANUAL": 1,
    }
    by_code = inspector.list_coverage_statistics(groupBy="SCAN_STATUS_CODE")
    assert by_code["totalCounts"] == 5 + 4  # four repositories too
    assert by_code["countsByGroup"] == [{"groupKey": "ACTIVE", "count": 6}, {"groupKey": "INACTIVE", "count": 3}]
    assert "countsByGroup" not in inspector.list_coverage_statistics(filterCriteria=images)


def test_coverage_statistics_come_five_groups_a_page(store: Inspector2Sim) -> None:
    for n in range(12):
        for m in range(n % 4 + 1):
            store.set_coverage(REGION, repository=f"repo{n:02d}", digest=digest(f"{n}-{m}"))
    pages = list(
        client()
        .get_paginator("list_coverage_statistics")
        .paginate(filterCriteria={"resourceType": eq("AWS_ECR_CONTAINER_IMAGE")}, groupBy="ECR_REPOSITORY_NAME")
    )
    assert [len(p["countsByGroup"]) for p in pages] == [5, 5, 2]
    counts = [c for p in pages for c in p["countsByGroup"]]
    assert {c["groupKey"]: c["count"] for c in counts} == {f"repo{n:02d}": n % 4 + 1 for n in range(12)}
    assert [c["count"] for c in counts] == sorted((c["count"] for c in counts), reverse=True)
    assert all(p["totalCounts"] == 30 for p in pages)


def test_seeding_impossible_coverage_is_refused(store: Inspector2Sim) -> None:
    with pytest.raises(ValueError, match="ScanStatusReason"):
        store.set_coverage(REGION, repository="app", digest=digest(1), reason="FINE")
    with pytest.raises(ValueError, match="scan frequency"):
        store.set_coverage(REGION, repository="app", digest=digest(1), scan_frequency="HOURLY")


# --- deactivation and reset ---


def test_deactivating_ecr_deletes_its_findings_and_coverage(store: Inspector2Sim) -> None:
    member = "210987654321"
    store.set_account_status(REGION, ecr="ENABLED")
    store.set_account_status(REGION, account=member, ecr="ENABLED")
    store.set_delegated_admin(REGION, ACCOUNT_ID, [member])
    store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    kept = store.add_finding(
        REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW", account=member
    )
    store.add_finding("us-east-1", repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    inspector = client()
    inspector.disable(resourceTypes=["ECR"])
    assert len(all_findings()) == 2  # not yet: DISABLING
    inspector.batch_get_account_status()
    assert arns(all_findings()) == {kept}
    assert {r["accountId"] for r in coverage()} == {member}
    assert len(all_findings(region="us-east-1")) == 1


def test_reset_forgets_findings_coverage_and_settings(sim_aws: SimAWS, store: Inspector2Sim) -> None:
    store.add_finding(REGION, repository="app", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    store.enable_after_polls = 5
    store.findings_page_limit = 3
    sim_aws.reset()
    assert all_findings() == [] and coverage() == []
    assert (store.enable_after_polls, store.findings_page_limit) == (1, 25)


def test_concurrent_readers_see_whole_results_while_findings_are_seeded(store: Inspector2Sim) -> None:
    wanted = set(
        store.add_findings(
            REGION,
            [
                FindingSpec(repository="app", digest=digest(1), vulnerability_id=f"A-{n}", severity="LOW")
                for n in range(60)
            ],
        )
    )
    results: list[set[str]] = []

    def read(inspector: Any) -> None:
        for _ in range(3):
            pages = inspector.get_paginator("list_findings").paginate(filterCriteria={"ecrImageHash": eq(digest(1))})
            results.append({f["findingArn"] for page in pages for f in page["findings"]})

    # Clients are made here: boto3 makes them safely on one thread only, then they may be shared.
    readers = [threading.Thread(target=read, args=(client(),)) for _ in range(4)]
    for reader in readers:
        reader.start()
    for batch in range(20):
        other = [FindingSpec(repository="app", digest=digest(2), vulnerability_id=f"B-{batch}-{n}", severity="LOW")
                 for n in range(50)]  # fmt: skip
        store.add_findings(REGION, other)
    for reader in readers:
        reader.join()
    assert results == [wanted] * 12
    assert len(all_findings({"ecrImageHash": eq(digest(2))})) == 1000


# --- BatchGetFindingDetails ---


def test_finding_details_carry_kev_and_observed_exploitation_for_every_finding_of_the_vulnerability(
    store: Inspector2Sim,
) -> None:
    added, due, seen = (
        datetime(2024, 7, 1, tzinfo=UTC),
        datetime(2024, 7, 22, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
    )
    listed = store.add_finding(
        REGION, repository="shop/api", digest=digest(1), vulnerability_id="CVE-2024-6387", severity="HIGH", epss=0.4
    )
    again = store.add_finding(
        REGION, repository="shop/web", digest=digest(2), vulnerability_id="CVE-2024-6387", severity="HIGH"
    )
    plain = store.add_finding(
        REGION, repository="shop/api", digest=digest(1), vulnerability_id="CVE-2024-0001", severity="LOW"
    )
    store.set_vulnerability_intel(
        "CVE-2024-6387",
        VulnerabilityIntel(
            kev_added=added, kev_due=due, kev_action="Apply updates.", exploit_last_seen=seen, cwes=["CWE-364"]
        ),
    )
    inspector = client()
    raw = record_raw_bodies(inspector)
    answer = inspector.batch_get_finding_details(findingArns=[listed, again, plain])
    assert violations(inspector, "BatchGetFindingDetails", raw[0][1]) == []
    assert answer["errors"] == []
    details = {d["findingArn"]: d for d in answer["findingDetails"]}
    for arn in (listed, again):
        assert details[arn]["cisaData"] == {"dateAdded": added, "dateDue": due, "action": "Apply updates."}
        assert details[arn]["exploitObserved"] == {"lastSeen": seen}
        assert details[arn]["cwes"] == ["CWE-364"]
    assert details[listed]["epssScore"] == 0.4
    assert "cisaData" not in details[plain] and "exploitObserved" not in details[plain]


def test_finding_details_of_an_unknown_arn_are_an_errors_entry_not_a_failed_call(store: Inspector2Sim) -> None:
    known = store.add_finding(REGION, repository="shop/api", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    unknown = f"arn:aws:inspector2:{REGION}:{ACCOUNT_ID}:finding/{'0' * 32}"
    elsewhere = known.replace(REGION, "us-east-1")  # the same id asked in another region: not there
    inspector = client()
    raw = record_raw_bodies(inspector)
    answer = inspector.batch_get_finding_details(findingArns=[known, unknown])
    assert violations(inspector, "BatchGetFindingDetails", raw[0][1]) == []
    assert [d["findingArn"] for d in answer["findingDetails"]] == [known]
    assert answer["errors"] == [
        {
            "findingArn": unknown,
            "errorCode": "FINDING_DETAILS_NOT_FOUND",
            "errorMessage": "Finding details could not be found for the finding ARN.",
        }
    ]
    other = client("us-east-1").batch_get_finding_details(findingArns=[elsewhere])
    assert [e["errorCode"] for e in other["errors"]] == ["FINDING_DETAILS_NOT_FOUND"]


@pytest.mark.parametrize(
    "arns",
    [
        [f"arn:aws:inspector2:{REGION}:{ACCOUNT_ID}:finding/{i:032x}" for i in range(11)],  # FindingArnList max 10
        [],  # min 1
        ["arn:aws:inspector2:eu-west-1:123:finding/abc"],  # not the FindingArn pattern
    ],
    ids=["eleven", "none", "malformed"],
)
def test_finding_details_refuse_what_the_model_refuses(store: Inspector2Sim, arns: list[str]) -> None:
    with pytest.raises(ClientError) as caught:
        client(validate=False).batch_get_finding_details(findingArns=arns)
    validation_error(caught)


def test_intel_that_aws_would_never_hold_is_refused_when_seeded(store: Inspector2Sim) -> None:
    with pytest.raises(ValueError, match="needs kev_added"):
        store.set_vulnerability_intel("CVE-1", VulnerabilityIntel(kev_due=datetime(2024, 1, 1, tzinfo=UTC)))
    with pytest.raises(ValueError, match="30 characters"):
        store.set_vulnerability_intel("CVE-1", VulnerabilityIntel(ttps=["T" * 31]))
