"""Event mode's parser: EventBridge "Inspector2 Finding" events as AWS documents them -> the findings to check,
or why there is nothing to check, or what is wrong with the event; and how a run narrows to the event's
images."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrwatch.events import EventError, EventScope, parse_event, parse_event_text, parse_event_time
from ecrwatch.images import parse_image_reference
from ecrwatch.models import EcrImageKey, Inventory, PlatformManifest, ResolvedImage, ScannedImage, Workload

DIGEST = "sha256:" + "84f507df33c6864d49c296fb734192696e4cb6f78166ac51ac8b9b118181085d"
OTHER = "sha256:" + "1" * 64


def documented_event(
    *,
    digest: str = DIGEST,
    repository: str = "inspector2",
    account: str = "123456789012",
    region: str = "eu-central-1",
    partition: str = "aws",
    vulnerability_id: str = "CVE-2024-6119",
    status: str = "ACTIVE",
) -> dict[str, Any]:
    """The "Amazon ECR package vulnerability finding" example of the Amazon Inspector user guide ("Amazon
    EventBridge event schema for Amazon Inspector events"), with the values a test chooses."""
    resource = f"arn:{partition}:ecr:{region}:{account}:repository/{repository}/{digest}"
    return {
        "version": "0",
        "id": "5325facf-a1aa-7d97-6bce-25fde6f6d2fc",
        "detail-type": "Inspector2 Finding",
        "source": "aws.inspector2",
        "account": account,
        "time": "2024-09-04T16:55:38Z",
        "region": region,
        "resources": [resource],
        "detail.resources.tags.testkey": "allow",
        "detail": {
            "awsAccountId": account,
            "description": "Possible denial of service in X.509 name checks",
            "epss": {"score": 0.00045},
            "exploitAvailable": "NO",
            "findingArn": f"arn:{partition}:inspector2:{region}:{account}:finding/0123456789abcdef0123456789abcdef",
            "firstObservedAt": "Wed Sep 04 16:55:38.411 UTC 2024",
            "fixAvailable": "YES",
            "lastObservedAt": "Wed Sep 04 16:55:38.411 UTC 2024",
            "packageVulnerabilityDetails": {
                "cvss": [],
                "referenceUrls": [f"https://www.cve.org/CVERecord?id={vulnerability_id}"],
                "relatedVulnerabilities": ["USN-6986-1"],
                "source": "UBUNTU_CVE",
                "sourceUrl": "https://people.canonical.com/~ubuntu-security/cve/2024/CVE-2024-6119.html",
                "vendorCreatedAt": "Tue Sep 03 00:00:00.000 UTC 2024",
                "vendorSeverity": "medium",
                "vulnerabilityId": vulnerability_id,
                "vulnerablePackages": [
                    {
                        "arch": "ARM64",
                        "epoch": 0,
                        "fixedInVersion": "0:3.0.13-0ubuntu3.4",
                        "name": "libssl3t64",
                        "packageManager": "OS",
                        "release": "0ubuntu3.2",
                        "remediation": "apt-get update && apt-get upgrade",
                        "version": "3.0.13",
                    },
                    {
                        "arch": "ARM64",
                        "epoch": 0,
                        "fixedInVersion": "0:3.0.13-0ubuntu3.4",
                        "name": "openssl",
                        "packageManager": "OS",
                        "release": "0ubuntu3.2",
                        "remediation": "apt-get update && apt-get upgrade",
                        "version": "3.0.13",
                    },
                ],
            },
            "remediation": {"recommendation": {"text": "None Provided"}},
            "resources": [
                {
                    "details": {
                        "awsEcrContainerImage": {
                            "architecture": "arm64",
                            "imageHash": digest,
                            "imageTags": ["ubuntu_latest"],
                            "platform": "UBUNTU_24_04",
                            "pushedAt": "Wed Sep 04 16:55:28.000 UTC 2024",
                            "registry": account,
                            "repositoryName": repository,
                        }
                    },
                    "id": resource,
                    "partition": partition,
                    "region": region,
                    "type": "AWS_ECR_CONTAINER_IMAGE",
                }
            ],
            "severity": "MEDIUM",
            "status": status,
            "title": f"{vulnerability_id} - libssl3t64, openssl",
            "type": "PACKAGE_VULNERABILITY",
            "updatedAt": "Wed Sep 04 16:55:38.411 UTC 2024",
        },
    }


def ecr_user_guide_event() -> dict[str, Any]:
    """The older example of the ECR user guide ("Event for an image scan finding update"): resource region
    and partition "N/A", timestamps as "Dec 3, 2021, 6:02:30 PM", no EPSS."""
    event = documented_event(region="us-east-2", repository="amazon/amazon-ecs-sample")
    detail = event["detail"]
    del detail["epss"], detail["exploitAvailable"], detail["fixAvailable"]
    detail["inspectorScore"] = 6.5
    detail["firstObservedAt"] = detail["lastObservedAt"] = detail["updatedAt"] = "Dec 3, 2021, 6:02:30 PM"
    detail["resources"][0]["region"] = detail["resources"][0]["partition"] = "N/A"
    detail["resources"][0]["details"]["awsEcrContainerImage"]["pushedAt"] = "Dec 3, 2021, 6:02:13 PM"
    return event


def test_the_documented_ecr_example_gives_its_finding_for_its_image() -> None:
    found = parse_event(documented_event())
    assert found.ignored is None and found.status == "ACTIVE"
    (finding,) = found.findings
    assert finding.image == ScannedImage("123456789012", "eu-central-1", "inspector2", DIGEST)
    assert (finding.vulnerability_id, finding.severity, finding.status) == ("CVE-2024-6119", "MEDIUM", "ACTIVE")
    assert (finding.epss_score, finding.fix_available, finding.exploit_available) == (0.00045, "YES", "NO")
    assert [(p.name, p.version, p.fixed_in) for p in finding.packages] == [
        ("libssl3t64", "3.0.13", "0:3.0.13-0ubuntu3.4"),
        ("openssl", "3.0.13", "0:3.0.13-0ubuntu3.4"),
    ]
    assert finding.first_observed_at == "2024-09-04T16:55:38.411000Z"
    assert (finding.image_tags, finding.architecture) == (("ubuntu_latest",), "arm64")
    assert finding.finding_arn == found.finding_arn


def test_the_older_ecr_user_guide_example_takes_its_region_from_the_resource_arn() -> None:
    (finding,) = parse_event(ecr_user_guide_event()).findings
    assert finding.image.region == "us-east-2" and finding.image.repository == "amazon/amazon-ecs-sample"
    assert finding.first_observed_at == "2021-12-03T18:02:30Z"
    assert finding.inspector_score == 6.5 and finding.epss_score is None


@pytest.mark.parametrize(
    ("partition", "region"), [("aws", "us-west-2"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")]
)
def test_every_partition_is_read(partition: str, region: str) -> None:
    event = documented_event(partition=partition, region=region)
    for resource in event["detail"]["resources"]:
        resource["region"] = "N/A"  # so that the ARN has to be read
    (finding,) = parse_event(event).findings
    assert finding.image.region == region
    assert finding.finding_arn.startswith(f"arn:{partition}:inspector2:{region}:")


def test_every_ecr_resource_of_the_event_is_checked_and_the_others_skipped() -> None:
    event = documented_event()
    ecr = event["detail"]["resources"][0]
    second = copy.deepcopy(ecr)
    second["details"]["awsEcrContainerImage"]["imageHash"] = OTHER
    second["id"] = second["id"].replace(DIGEST, OTHER)
    lambda_resource = {"type": "AWS_LAMBDA_FUNCTION", "id": "arn:aws:lambda:eu-central-1:123456789012:function:f"}
    event["detail"]["resources"] = [ecr, lambda_resource, second]
    found = parse_event(event)
    assert [f.image.digest for f in found.findings] == [DIGEST, OTHER]
    assert found.skipped_types == ("AWS_LAMBDA_FUNCTION",)


@pytest.mark.parametrize("status", ["CLOSED", "SUPPRESSED"])
def test_a_finding_that_is_not_active_is_ignored_with_the_reason(status: str) -> None:
    found = parse_event(documented_event(status=status))
    assert found.findings == () and found.ignored is not None and status in found.ignored


def test_a_finding_about_no_ecr_image_is_ignored_with_the_reason() -> None:
    event = documented_event()
    event["detail"]["resources"] = [{"type": "AWS_EC2_INSTANCE", "id": "i-12345678901234567", "region": "eu-central-1"}]
    found = parse_event(event)
    assert found.findings == () and "AWS_EC2_INSTANCE" in (found.ignored or "")


def _without(path: str) -> dict[str, Any]:
    event = documented_event()
    *parents, last = path.split(".")
    node: Any = event
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[last]
    return event


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ([], "is not a JSON object"),
        ({**documented_event(), "source": "aws.ecr"}, "not an Amazon Inspector finding event"),
        ({**documented_event(), "detail-type": "Inspector2 Coverage"}, "not an Amazon Inspector finding event"),
        (_without("detail"), "no `detail`"),
        (_without("detail.findingArn"), "findingArn"),
        (_without("detail.status"), "detail.status"),
        (_without("detail.resources"), "lists no resources"),
        (
            {**documented_event(), "detail": {**documented_event()["detail"], "resources": ["x"]}},
            "detail.resources[1]",
        ),
    ],
)
def test_a_malformed_event_names_the_problem(event: Any, says: str) -> None:
    with pytest.raises(EventError) as raised:
        parse_event(event, "event file e.json")
    assert says in raised.value.message and raised.value.exit_status == 2


def test_an_ecr_resource_without_a_digest_anywhere_is_malformed() -> None:
    event = documented_event()
    resource = event["detail"]["resources"][0]
    del resource["details"]["awsEcrContainerImage"]["imageHash"]
    resource["id"] = "arn:aws:ecr:eu-central-1:123456789012:repository/inspector2"
    with pytest.raises(EventError) as raised:
        parse_event(event)
    assert "imageHash" in raised.value.message and "detail.resources[1]" in raised.value.message


def test_a_digest_only_in_the_resource_arn_is_used() -> None:
    event = documented_event()
    del event["detail"]["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"]
    assert parse_event(event).findings[0].image.digest == DIGEST


def test_text_that_is_not_json_names_its_source() -> None:
    with pytest.raises(EventError) as raised:
        parse_event_text("{", "event file e.json")
    assert raised.value.message.startswith("event file e.json is not JSON")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed Sep 04 16:55:38.411 UTC 2024", datetime(2024, 9, 4, 16, 55, 38, 411000, UTC)),
        ("Wed Sep 04 16:55:38 UTC 2024", datetime(2024, 9, 4, 16, 55, 38, tzinfo=UTC)),
        ("Dec 3, 2021, 6:02:30 PM", datetime(2021, 12, 3, 18, 2, 30, tzinfo=UTC)),
        ("2024-09-04T16:55:38Z", datetime(2024, 9, 4, 16, 55, 38, tzinfo=UTC)),
        ("2024-09-04T18:55:38+02:00", datetime(2024, 9, 4, 16, 55, 38, tzinfo=UTC)),
        (1725468938, datetime(2024, 9, 4, 16, 55, 38, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_event_timestamps_in_every_documented_form(text: Any, expected: datetime | None) -> None:
    assert parse_event_time(text) == expected


@given(st.text(max_size=40) | st.integers() | st.floats(allow_nan=True) | st.none() | st.booleans())
def test_no_timestamp_text_makes_the_parser_fail(value: Any) -> None:
    parsed = parse_event_time(value)
    assert parsed is None or parsed.tzinfo is not None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=12,
    )
)
def test_whatever_the_details_hold_the_resource_id_names_the_image(value: Any) -> None:
    """`details` is optional in the model and the resource id (required) names the same image: a finding is
    never dropped, nor the event refused, for details it cannot use; the image comes from the id."""
    event = documented_event()
    event["detail"]["resources"][0]["details"] = value
    (finding,) = parse_event(json.loads(json.dumps(event))).findings
    assert finding.image == ScannedImage("123456789012", "eu-central-1", "inspector2", DIGEST)


def test_details_that_name_a_malformed_digest_are_refused_naming_it() -> None:
    event = documented_event()
    event["detail"]["resources"][0]["details"] = {"awsEcrContainerImage": {"imageHash": "sha256:xyz"}}
    with pytest.raises(EventError, match="imageHash 'sha256:xyz' is not a sha256 digest"):
        parse_event(event)


# --- narrowing a run to the event's images ------------------------------------------------------------------


def _workload(reference: str, digest: str | None, name: str) -> Workload:
    return Workload(
        "ecs", "prod", name, reference, parse_image_reference(reference), digest, "123456789012", "eu-central-1"
    )


def test_a_run_narrows_to_the_workloads_that_run_the_events_image() -> None:
    found = parse_event(documented_event())
    scope = EventScope.of(found.findings)
    host = "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
    index = "sha256:" + "2" * 64
    runs_it = _workload(f"{host}/inspector2:v1", DIGEST, "direct")
    via_index = _workload(f"{host}/inspector2:multi", index, "index")
    other_digest = _workload(f"{host}/inspector2:v0", OTHER, "other")
    unknown = _workload(f"{host}/inspector2:pending", None, "pending")
    other_repo = _workload(f"{host}/elsewhere:v1", DIGEST, "elsewhere")

    def key(w: Workload) -> EcrImageKey:
        return EcrImageKey("123456789012", "eu-central-1", w.image.repository, w.running_digest, w.image.tag)

    resolved = {
        key(runs_it): ResolvedImage(key(runs_it), "manifest", DIGEST),
        key(via_index): ResolvedImage(
            key(via_index),
            "index",
            index,
            (PlatformManifest(OTHER, "linux/amd64"), PlatformManifest(DIGEST, "linux/arm64")),
        ),
        key(other_digest): ResolvedImage(key(other_digest), "manifest", OTHER),
        key(unknown): ResolvedImage(key(unknown), "unknown", None, detail="AccessDenied"),
    }
    assert scope.wants(key(runs_it)) and not scope.wants(key(other_repo))
    inventory = Inventory(workloads=(runs_it, via_index, other_digest, unknown, other_repo))
    narrowed, kept = scope.restrict(inventory, resolved)
    assert [w.container for w in narrowed.workloads] == ["direct", "index", "pending"]
    assert kept[key(via_index)].children == (PlatformManifest(DIGEST, "linux/arm64"),)  # only the event's platform


def test_an_event_about_one_platform_image_leaves_out_the_workloads_on_another_platform() -> None:
    scope = EventScope.of(parse_event(documented_event()).findings)  # the event's image: DIGEST, arm64 here
    host = "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
    index = "sha256:" + "2" * 64
    tasks = {
        arch: _workload(f"{host}/inspector2:multi", index, f"on-{arch}")._replace(architecture=arch)
        for arch in ("amd64", "arm64", None)
    }
    key = EcrImageKey("123456789012", "eu-central-1", "inspector2", index, "multi")
    children = (PlatformManifest(OTHER, "linux/amd64"), PlatformManifest(DIGEST, "linux/arm64"))
    resolved = {key: ResolvedImage(key, "index", index, children)}
    narrowed, _ = scope.restrict(Inventory(workloads=tuple(tasks.values())), resolved)
    # The amd64 task runs the index's other platform image, not the event's; unknown architecture keeps it.
    assert [w.container for w in narrowed.workloads] == ["on-arm64", "on-None"]
