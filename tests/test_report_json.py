"""The JSON report: valid against the shared schema, every field a script reads, stable bytes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from conftest import REPORT_VALIDATOR, SCHEMA
from ecrwatch.models import Exposure, Filters, ScanStatus, Summary
from ecrwatch.report import json as json_report
from ecrwatch.report.json import exposure_to_dict, iter_json, render_json, report_to_dict, workload_to_dict
from factories import (
    API_AMD64,
    API_ENTRY,
    ECS_SERVICE,
    EKS_DEPLOYMENT_POD,
    INDEX_DIGEST,
    NGINX_UNSCANNED,
    empty_report,
    finding,
    image_entry,
    make_report,
    matched,
    sample_report,
)

VALIDATOR = REPORT_VALIDATOR
WORKLOAD_FIELDS = set(SCHEMA["$defs"]["workload"]["properties"])
EXPOSURE_FIELDS = set(SCHEMA["$defs"]["exposure"]["properties"])
IMAGE_FIELDS = set(SCHEMA["$defs"]["image"]["properties"])


# The report's top-level keys in the schema's order: one fixed order, so two runs over the same data give the
# same bytes (the optional ones, resolved and the triage lists, come only when a run has them).
TOP_LEVEL_KEYS = [
    "schema_version",
    "generated_at",
    "tool_version",
    "scope",
    "summary",
    "images",
    "exposures",
    "unscanned",
    "errors",
]


def _rendered(report: Any) -> dict[str, Any]:
    text = render_json(report)
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.mark.parametrize(
    "report",
    [sample_report(), empty_report(), sample_report(filters=Filters("HIGH", True, "CRITICAL"))],
    ids=["sample", "empty", "filtered"],
)
def test_report_is_valid_against_the_schema(report: Any) -> None:
    VALIDATOR.validate(_rendered(report))


def test_the_validator_checks_formats() -> None:
    # Without this, a test above could pass on a report the schema's date-time format would reject.
    bad = dataclasses.replace(sample_report(), generated_at="yesterday")
    with pytest.raises(ValidationError):
        VALIDATOR.validate(_rendered(bad))


def test_top_level_and_scope_content() -> None:
    data = _rendered(sample_report(filters=Filters("MEDIUM", True, "HIGH")))
    assert list(data) == TOP_LEVEL_KEYS
    assert data["schema_version"] == "1"
    assert data["scope"]["accounts"] == ["123456789012"]
    assert data["scope"]["regions"] == ["us-east-1", "us-west-2"]
    assert data["scope"]["filters"] == {"min_severity": "MEDIUM", "fixable_only": True, "fail_on": "HIGH"}
    legacy = next(c for c in data["scope"]["clusters"] if c["name"] == "legacy")
    assert legacy == {
        "platform": "ecs",
        "name": "legacy",
        "arn": "arn:aws:ecs:us-west-2:123456789012:cluster/legacy",
        "region": "us-west-2",
        "ok": False,
    }
    assert data["errors"][0] == {
        "source": "ecs:us-west-2/legacy",
        "code": "AccessDeniedException",
        "message": "User is not authorized to perform ecs:ListTasks",
    }


def test_summary_lists_every_severity_in_order_even_when_the_report_left_some_out() -> None:
    report = sample_report()
    sparse = dataclasses.replace(report, summary=dataclasses.replace(report.summary, by_severity={"LOW": 1}))
    summary = _rendered(sparse)["summary"]
    assert summary["by_severity"] == {
        "CRITICAL": 0,
        "HIGH": 0,
        "MEDIUM": 0,
        "LOW": 1,
        "INFORMATIONAL": 0,
        "UNTRIAGED": 0,
    }
    full = _rendered(report)["summary"]
    assert full["by_severity"]["CRITICAL"] == 1
    assert full["exposures"] == len(report.exposures) == 4
    assert (full["running_containers"], full["vulnerable_running_images"], full["unscanned_running_images"]) == (
        6,
        2,
        2,
    )


def test_images_entry_lists_each_workload_once_with_how_it_matched() -> None:
    data = _rendered(sample_report())
    api = next(i for i in data["images"] if i["image"]["repository"] == "team/api")
    assert api["image"] == {
        "reference": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api@{API_AMD64.digest}",
        "registry": "123456789012",
        "region": "us-east-1",
        "repository": "team/api",
        "digest": API_AMD64.digest,
        "tags": ["v1"],
        "platform": "linux/amd64",
    }
    assert api["exposures"] == 3
    assert api["max_severity"] == "CRITICAL"
    assert [w["matched_via"] for w in api["workloads"]] == ["digest", "tag", "index"]
    # the index match keeps the digest the pod runs (the index), not the scanned one
    assert api["workloads"][2]["running_digest"] == INDEX_DIGEST
    assert api["workloads"][1]["running_digest"] is None


def test_ecs_and_kubernetes_workloads_carry_every_schema_field() -> None:
    ecs = workload_to_dict(ECS_SERVICE)
    k8s = workload_to_dict(EKS_DEPLOYMENT_POD)
    assert set(ecs) == set(k8s) == WORKLOAD_FIELDS - {"matched_via"}
    assert ecs["task_arn"] == "arn:aws:ecs:us-east-1:123456789012:task/prod/aaaabbbbccccddddeeeeffff00001111"
    assert (ecs["service"], ecs["launch_type"], ecs["container_type"]) == ("api", "FARGATE", "app")
    assert (ecs["namespace"], ecs["pod"], ecs["owner"]) == (None, None, None)
    assert k8s["owner"] == {"kind": "Deployment", "name": "api"}
    assert (k8s["namespace"], k8s["pod"]) == ("shop", "api-7d9f8b6c5d-x2x7q")
    assert (k8s["task_arn"], k8s["service"], k8s["launch_type"]) == (None, None, None)


def test_unknown_matched_via_is_left_out_not_null() -> None:
    data = _rendered(sample_report())
    nginx = next(u for u in data["unscanned"] if u["reason"] == "not_ecr")
    assert "matched_via" not in nginx["workloads"][0]
    assert nginx["image"]["reference"] == NGINX_UNSCANNED.image.reference
    assert nginx["image"]["digest"] is None
    assert nginx["detail"] == "docker.io is not an Amazon ECR private registry"
    assert nginx["workloads"][0]["container_type"] == "sidecar"


def test_exposures_carry_the_finding_and_its_image() -> None:
    data = _rendered(sample_report())
    first = data["exposures"][0]
    assert set(first) == EXPOSURE_FIELDS - {"new"}
    assert set(first["image"]) == IMAGE_FIELDS
    assert (first["vulnerability_id"], first["severity"], first["status"]) == ("CVE-2024-0001", "CRITICAL", "ACTIVE")
    assert (first["epss_score"], first["inspector_score"], first["fix_available"]) == (0.973, 9.8, "YES")
    assert first["packages"] == [
        {"name": "openssl", "version": "3.0.2-0ubuntu1", "fixed_in": "3.0.13-0ubuntu1", "package_manager": "OS"}
    ]
    assert first["workload_count"] == 3
    assert first["image"]["digest"] == API_AMD64.digest  # whole, never shortened
    assert [e["vulnerability_id"] for e in data["exposures"]] == [
        "CVE-2024-0001",
        "CVE-2024-0002",
        "GHSA-aaaa-bbbb-cccc",
        "CVE-2023-9999",
    ]


@pytest.mark.parametrize("new", [True, False])
def test_new_appears_only_when_known(new: bool) -> None:
    exposure = sample_report().exposures[0]
    assert exposure_to_dict(dataclasses.replace(exposure, new=new))["new"] is new
    assert "new" not in exposure_to_dict(exposure)
    report = sample_report()
    with_state = dataclasses.replace(report, exposures=tuple(dataclasses.replace(e, new=new) for e in report.exposures))
    VALIDATOR.validate(_rendered(with_state))


def test_a_score_that_is_not_a_number_is_null_and_the_text_is_strict_json() -> None:
    f = finding("CVE-2024-7777", "HIGH", API_AMD64, epss=float("nan"), score=float("inf"))
    entry = image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f])
    data = _rendered(make_report(images=[(entry, [f])]))
    assert (data["exposures"][0]["epss_score"], data["exposures"][0]["inspector_score"]) == (None, None)
    VALIDATOR.validate(data)


def test_text_is_stable_indented_ascii_with_a_trailing_newline() -> None:
    f = finding("CVE-2024-8888", "LOW", API_AMD64, title="déjà vu — ünïcode")
    entry = image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f])
    report = make_report(images=[(entry, [f])])
    text = render_json(report)
    # One fixed key order, the schema's (so two runs over the same data give the same bytes).
    assert list(json.loads(text)) == TOP_LEVEL_KEYS
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.splitlines()[1] == '  "schema_version": "1",'
    assert text.isascii()
    assert json.loads(text)["exposures"][0]["title"] == "déjà vu — ünïcode"


def test_the_text_carries_the_reports_exposures_unscanned_images_and_errors() -> None:
    report = sample_report()
    data = json.loads(render_json(report))
    assert [(e["vulnerability_id"], e["image"]["digest"]) for e in data["exposures"]] == [
        (e.finding.vulnerability_id, e.finding.image.digest) for e in report.exposures
    ]
    assert [(u["reason"], u["image"]["reference"]) for u in data["unscanned"]] == [
        (u.reason, u.image.reference) for u in report.unscanned
    ]
    assert [(e["source"], e["code"]) for e in data["errors"]] == [(e.source, e.code) for e in report.errors]


@pytest.mark.parametrize(
    "report",
    [sample_report(), empty_report(), dataclasses.replace(sample_report(), resolved=())],
    ids=["sample", "empty", "with-resolved"],
)
def test_the_text_written_in_pieces_is_the_whole_document_indented(report: Any) -> None:
    # The CLI writes iter_json's pieces as they come; together they must be exactly the indented document.
    pieces = list(iter_json(report))
    assert len(pieces) > 10
    assert "".join(pieces) == json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n"


def test_the_encoder_writes_what_json_dumps_writes() -> None:
    values: list[Any] = [
        {"a": [1, 2.5, 1e-07, 5.0, -0.0, 10**20, True, False, None], "b": {}, "c": [], "d": [{}, [], [[]]]},
        {"déjà vu — ünïcode": 'tab\there, quote " backslash \\ newline \n and \u2028'},
        "plain",
        [],
        {},
    ]
    for level in (0, 1, 2):
        for value in values:
            expected = json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n" + "  " * level)
            assert json_report._encoded(value, level) == expected
    with pytest.raises(ValueError):
        json_report._encoded({"score": float("nan")}, 0)


def test_every_exposure_digest_has_its_images_entry() -> None:
    # What a consumer joins on: exposures[].image.digest -> images[].image.digest.
    data = _rendered(sample_report())
    entries = {i["image"]["digest"]: i for i in data["images"]}
    for exposure in data["exposures"]:
        assert len(entries[exposure["image"]["digest"]]["workloads"]) == exposure["workload_count"]


def test_summary_counts_pass_through_unchanged() -> None:
    report = dataclasses.replace(
        sample_report(),
        summary=Summary(
            running_containers=50_000,
            running_images=12,
            vulnerable_running_images=2,
            exposures=4,
            by_severity={"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "INFORMATIONAL": 0, "UNTRIAGED": 0},
            unscanned_running_images=2,
        ),
    )
    summary = _rendered(report)["summary"]
    assert (summary["running_containers"], summary["running_images"]) == (50_000, 12)


def test_an_exposure_object_validates_on_its_own() -> None:
    # Notifications reuse exposure_to_dict: it must be a schema exposure by itself.
    exposure_schema = {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/exposure"}
    exposure: Exposure = sample_report().exposures[2]
    Draft202012Validator(exposure_schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        exposure_to_dict(exposure)
    )
    assert exposure_to_dict(exposure)["image"]["digest"] == API_ENTRY.image.digest


def test_an_images_scan_status_and_the_not_monitored_count_are_written_as_the_schema_says() -> None:
    f = finding("CVE-2024-9999", "HIGH", API_AMD64)
    lapsed = ScanStatus("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", "2026-01-02T03:04:05Z", False)
    entry = dataclasses.replace(image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f]), scan_status=lapsed)
    report = make_report(images=[(entry, [f])])
    report = dataclasses.replace(report, summary=dataclasses.replace(report.summary, not_monitored_running_images=1))
    data = _rendered(report)
    VALIDATOR.validate(data)
    assert data["images"][0]["scan_status"] == {
        "status": "INACTIVE",
        "reason": "SCAN_ELIGIBILITY_EXPIRED",
        "last_scanned_at": "2026-01-02T03:04:05Z",
        "monitored": False,
    }
    assert data["summary"]["not_monitored_running_images"] == 1
    unread = _rendered(make_report(images=[(image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f]), [f])]))
    assert unread["images"][0]["scan_status"] is None  # coverage not read: no verdict, not a guess


def test_what_orjson_would_write_otherwise_comes_out_as_json_dumps_writes_it() -> None:
    # The report is encoded by orjson where its bytes are the standard library's: scores below 1e-4 (EPSS has
    # them), non-ASCII text and DEL are the cases where they would not be.
    odd = [
        finding("CVE-2024-0101", "HIGH", API_AMD64, epss=1.5e-05, score=9.8, title="déjà vu — ünïcode"),
        finding("CVE-2024-0102", "HIGH", API_AMD64, epss=0.00009, score=0.0, title="a DEL \x7f here"),
        finding("CVE-2024-0103", "LOW", API_AMD64, epss=5e-06, score=1e-300, title='quote " \\ \n \u2028 \x00'),
        finding("CVE-2024-0104", "LOW", API_AMD64, epss=0.0001, score=1e16),
        finding("CVE-2024-0105", "LOW", API_AMD64, epss=-0.0, score=123.456),
    ]
    report = make_report(images=[(image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], odd), odd)])
    text = "".join(iter_json(report))
    assert text == json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n"
    assert '"epss_score": 1.5e-05' in text and '"epss_score": 9e-05' in text and '"epss_score": 5e-06' in text
    assert "\\u00e9" in text and "\\u007f" in text and text.isascii()


def test_the_fast_encoder_hands_back_what_orjson_cannot_write() -> None:
    for level in (0, 2):
        value = {"big": 2**70, "small": [1, 2.5, {"k": None}]}
        expected = json.dumps(value, indent=2, allow_nan=False).replace("\n", "\n" + "  " * level)
        assert json_report._encoded_fast(value, level) == expected
    with pytest.raises(TypeError):
        json_report._encoded_fast({"when": object()}, 1)
