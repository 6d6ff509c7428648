"""The findings stage against the simulated Inspector2: exactly the running digests, batched, filtered at the
source, coverage of every running digest in the same pass, and tolerant of the optional fields AWS leaves out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecrwatch.aws import Aws, AwsSettings
from ecrwatch.findings import FindingFilters, FindingsLookup, fetch_findings, resource_id
from ecrwatch.models import ScannedImage
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def image(n: int, region: str = REGION, repository: str = "team/api") -> ScannedImage:
    return ScannedImage(ACCOUNT_ID, region, repository, digest(n))


@pytest.fixture
def inspector(sim_aws: SimAWS) -> Inspector2Sim:
    return sim_aws.extension(Inspector2Sim)


def test_ten_digests_a_request_and_never_the_rest_of_the_account(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    for n in range(25):
        inspector.add_finding(
            REGION, repository="team/api", digest=digest(n), vulnerability_id=f"CVE-1-{n}", severity="HIGH"
        )
    for n in range(100, 160):  # findings on images that do not run
        inspector.add_finding(
            REGION, repository="team/old", digest=digest(n), vulnerability_id=f"CVE-2-{n}", severity="HIGH"
        )
    result = fetch_findings(Aws(), [image(n) for n in range(25)])
    assert sorted(f.vulnerability_id for f in result.findings) == sorted(f"CVE-1-{n}" for n in range(25))
    calls = list(sim_aws.calls.select("inspector2", "ListFindings"))
    assert len(calls) == 3  # 10 + 10 + 5 digests
    assert sorted(len(c.params["filterCriteria"]["ecrImageHash"]) for c in calls) == [5, 10, 10]
    assert all(
        c.params["filterCriteria"]["findingStatus"] == [{"comparison": "EQUALS", "value": "ACTIVE"}] for c in calls
    )
    # Findings do not say whether Inspector still watches an image: coverage is asked for all 25 as well.
    coverage_calls = list(sim_aws.calls.select("inspector2", "ListCoverage"))
    assert sorted(len(c.params["filterCriteria"]["resourceId"]) for c in coverage_calls) == [5, 10, 10]
    assert {c.image.digest for c in result.coverage} == {digest(n) for n in range(25)}


def test_severity_and_fix_filters_are_pushed_down(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    for severity, fix in (("CRITICAL", "NO"), ("HIGH", "YES"), ("MEDIUM", "PARTIAL"), ("LOW", "YES")):
        inspector.add_finding(
            REGION,
            repository="team/api",
            digest=digest(1),
            vulnerability_id=f"CVE-{severity}",
            severity=severity,
            fix_available=fix,
        )
    result = fetch_findings(Aws(), [image(1)], filters=FindingFilters(min_severity="MEDIUM", fixable_only=True))
    assert sorted(f.vulnerability_id for f in result.findings) == ["CVE-HIGH", "CVE-MEDIUM"]
    (call,) = sim_aws.calls.select("inspector2", "ListFindings")
    assert [v["value"] for v in call.params["filterCriteria"]["severity"]] == ["CRITICAL", "HIGH", "MEDIUM"]


def test_coverage_is_read_for_every_digest_with_findings_or_without(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    lapsed = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    inspector.add_finding(REGION, repository="team/api", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    inspector.set_coverage(
        REGION,
        repository="team/api",
        digest=digest(1),
        status_code="INACTIVE",
        reason="SCAN_ELIGIBILITY_EXPIRED",
        last_scanned_at=lapsed,
    )
    inspector.set_coverage(REGION, repository="team/api", digest=digest(2))
    inspector.set_coverage(REGION, repository="team/api", digest=digest(3), reason="UNSUPPORTED_OS")
    result = fetch_findings(Aws(), [image(1), image(2), image(3), image(4)])
    covered = {c.image.digest: (c.status_code, c.status_reason) for c in result.coverage}
    assert covered == {
        digest(1): ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED"),  # it has a finding, and Inspector stopped watching it
        digest(2): ("ACTIVE", "SUCCESSFUL"),
        digest(3): ("ACTIVE", "UNSUPPORTED_OS"),
    }  # digest(4): no record at all
    assert {c.image.digest: c.last_scanned_at for c in result.coverage}[digest(1)] == "2026-03-01T12:00:00Z"
    (call,) = sim_aws.calls.select("inspector2", "ListCoverage")
    asked = {v["value"] for v in call.params["filterCriteria"]["resourceId"]}
    assert asked == {resource_id(image(n)) for n in (1, 2, 3, 4)}


def test_digests_asked_early_get_their_coverage_asked_early(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    """Coverage goes with the findings as digests become known: ten known digests make one ListCoverage before
    the run has finished reading what runs."""
    for n in range(10):
        inspector.set_coverage(REGION, repository="team/api", digest=digest(n))
    with FindingsLookup(Aws(), workers=2) as lookup:
        lookup.ask([image(n) for n in range(10)])
        lookup.ask([image(n) for n in range(10)])  # asked twice: still one request each
        result = lookup.finish([image(n) for n in range(12)])
    calls = list(sim_aws.calls.select("inspector2", "ListCoverage"))
    assert sorted(len(c.params["filterCriteria"]["resourceId"]) for c in calls) == [2, 10]
    assert len({c.image for c in result.coverage}) == 10


def test_coverage_failing_past_the_retries_is_an_error_of_its_region(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    inspector.add_finding(REGION, repository="team/api", digest=digest(1), vulnerability_id="CVE-1", severity="LOW")
    sim_aws.faults.add("inspector2", "ListCoverage", region=REGION, error="ThrottlingException", times=None)
    result = fetch_findings(Aws(AwsSettings(max_attempts=2)), [image(1), image(2)])
    assert [(e.source, e.code) for e in result.errors] == [(f"inspector2:{REGION}", "ThrottlingException")]
    assert [f.vulnerability_id for f in result.findings] == ["CVE-1"]
    assert result.coverage == ()
    assert sim_aws.calls.count("inspector2", "ListCoverage") == 2  # both attempts, no second retry layer


def test_each_image_is_asked_in_its_own_region(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    inspector.add_finding(
        "eu-west-1", repository="team/api", digest=digest(1), vulnerability_id="CVE-EU", severity="HIGH"
    )
    result = fetch_findings(Aws(), [image(1, "eu-west-1"), image(2)])
    assert [f.image.region for f in result.findings] == ["eu-west-1"]
    assert sim_aws.calls.count("inspector2", "ListFindings", "eu-west-1") == 1
    assert sim_aws.calls.count("inspector2", "ListFindings", REGION) == 1


def test_a_failing_region_is_an_error_of_that_region_only(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    sim_aws.faults.add("inspector2", "ListFindings", region="eu-west-1", error="AccessDeniedException")
    inspector.set_coverage(REGION, repository="team/api", digest=digest(2))
    result = fetch_findings(Aws(AwsSettings(max_attempts=1)), [image(1, "eu-west-1"), image(2)])
    assert [(e.source, e.code) for e in result.errors] == [("inspector2:eu-west-1", "AccessDeniedException")]
    assert "inspector2:ListFindings" in result.errors[0].message
    assert [c.image.region for c in result.coverage] == [REGION]


def test_findings_missing_optional_fields_still_parse(sim_aws: SimAWS, inspector: Inspector2Sim) -> None:
    inspector.add_finding(
        REGION,
        repository="team/api",
        digest=digest(1),
        vulnerability_id="CVE-BARE",
        severity="HIGH",
        omit=(
            "epss",
            "packageVulnerabilityDetails",
            "inspectorScore",
            "fixAvailable",
            "exploitAvailable",
            "awsEcrContainerImage.imageTags",
            "awsEcrContainerImage.architecture",
        ),
    )
    (finding,) = fetch_findings(Aws(), [image(1)]).findings
    assert (finding.epss_score, finding.inspector_score, finding.fix_available, finding.packages) == (
        None,
        None,
        None,
        (),
    )
    assert finding.image == image(1)
    assert finding.severity == "HIGH"
