"""The CSV report: one row per exposure x workload, RFC 4180, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from ecrwatch.models import Package, Report
from ecrwatch.report.csv import COLUMNS, csv_cell, render_csv
from factories import (
    API_AMD64,
    ECS_SERVICE,
    EKS_CRONJOB_INIT,
    EKS_DEPLOYMENT_POD,
    WORKER_ARM64,
    empty_report,
    finding,
    image_entry,
    make_report,
    matched,
    sample_report,
)


def _rows(report: Report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_csv(report), newline="")))


def test_one_row_per_exposure_and_workload() -> None:
    report = sample_report()
    rows = _rows(report)
    # team/api: 3 findings x 3 workloads; team/worker: 1 finding x 1 workload
    assert len(rows) == 3 * 3 + 1 * 1
    per_finding: dict[str, set[str]] = {}
    for row in rows:
        per_finding.setdefault(row["vulnerability_id"], set()).add(row["task_arn"] or row["pod"])
    assert per_finding["CVE-2024-0001"] == {
        "arn:aws:ecs:us-east-1:123456789012:task/prod/aaaabbbbccccddddeeeeffff00001111",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/22223333444455556666777788889999",
        "api-7d9f8b6c5d-x2x7q",
    }
    # joined by digest: the worker's finding is listed with the worker's workload only
    assert per_finding["CVE-2023-9999"] == {"nightly-28912345-abcde"}


def test_header_and_every_row_have_the_same_columns() -> None:
    text = render_csv(sample_report())
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(table[0]) == COLUMNS
    assert {len(row) for row in table} == {len(COLUMNS)}
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_cells_carry_what_a_spreadsheet_user_filters_on() -> None:
    rows = _rows(sample_report())
    ecs = next(r for r in rows if r["vulnerability_id"] == "CVE-2024-0001" and r["service"] == "api")
    assert ecs["severity"] == "CRITICAL"
    assert (ecs["package"], ecs["installed_version"], ecs["fixed_version"]) == (
        "openssl",
        "3.0.2-0ubuntu1",
        "3.0.13-0ubuntu1",
    )
    assert (ecs["fix_available"], ecs["epss_score"], ecs["inspector_score"]) == ("YES", "0.973", "9.8")
    assert ecs["digest"] == API_AMD64.digest  # the whole digest, never shortened
    assert ecs["repository"] == "team/api"
    assert ecs["image"] == API_AMD64.reference
    assert ecs["image_platform"] == "linux/amd64"
    assert (ecs["workload_platform"], ecs["cluster"], ecs["container"]) == ("ecs", "prod", "app")
    assert (ecs["matched_via"], ecs["launch_type"], ecs["container_type"]) == ("digest", "FARGATE", "app")
    assert (ecs["account"], ecs["region"]) == ("123456789012", "us-east-1")
    assert ecs["finding_arn"].startswith("arn:aws:inspector2:us-east-1:123456789012:finding/")
    assert ecs["workload_count"] == "3"
    assert ecs["new"] == ""

    pod = next(r for r in rows if r["vulnerability_id"] == "CVE-2024-0001" and r["pod"])
    assert (pod["namespace"], pod["owner"], pod["matched_via"]) == ("shop", "Deployment/api", "index")
    assert pod["service"] == pod["task_arn"] == ""

    tag = next(r for r in rows if r["vulnerability_id"] == "CVE-2024-0001" and r["container"] == "migrate")
    assert (tag["matched_via"], tag["running_digest"], tag["service"]) == ("tag", "", "")

    init = next(r for r in rows if r["vulnerability_id"] == "CVE-2023-9999")
    assert (init["container_type"], init["owner"]) == ("init", "CronJob/nightly")
    assert init["running_digest"] == WORKER_ARM64.digest


def test_each_row_says_the_architecture_its_workload_runs_on_and_empty_where_unknown() -> None:
    graviton = ECS_SERVICE._replace(architecture="arm64")
    f = finding("CVE-2024-1234", "HIGH", API_AMD64)
    entry = image_entry(API_AMD64, [matched(graviton, "index"), matched(EKS_DEPLOYMENT_POD, "index")], [f])
    rows = _rows(make_report(images=[(entry, [f])]))
    assert sorted((r["service"] or r["pod"], r["architecture"]) for r in rows) == [
        ("api", "arm64"),
        (EKS_DEPLOYMENT_POD.pod, ""),
    ]


def test_quoting_round_trips_commas_quotes_and_line_breaks() -> None:
    title = 'overflow in "parse", then\nmore\r\nlines'
    f = finding("CVE-2024-1234", "HIGH", API_AMD64, title=title)
    entry = image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f])
    text = render_csv(make_report(images=[(entry, [f])]))
    assert text.endswith("\r\n")  # RFC 4180 record separator
    rows = _rows(make_report(images=[(entry, [f])]))
    assert len(rows) == 1
    assert rows[0]["title"] == title


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@evil/pkg", "'@evil/pkg"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ("a=b", "a=b"),
        ("CVE-2024-0001", "CVE-2024-0001"),
        ("", ""),
        (None, ""),
    ],
)
def test_formula_guard(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


def test_hostile_values_from_findings_are_neutralised() -> None:
    rows = _rows(sample_report())
    ghsa = next(r for r in rows if r["vulnerability_id"] == "GHSA-aaaa-bbbb-cccc")
    assert ghsa["title"].startswith("'=HYPERLINK(")
    assert ghsa["package"] == "'@evil/pkg; -cmd"
    assert ghsa["installed_version"] == "1.0.0; 2"
    assert ghsa["fixed_version"] == "1.0.1; "
    assert ghsa["epss_score"] == ghsa["inspector_score"] == ""
    # nothing in any cell starts a formula
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_hostile_workload_values_are_neutralised() -> None:
    hostile = EKS_CRONJOB_INIT._replace(container="-2+3", cluster="=cmd|' /C calc'!A0")
    f = finding("CVE-2023-0001", "LOW", WORKER_ARM64, packages=(Package("curl", "1"),))
    entry = image_entry(WORKER_ARM64, [matched(hostile, "digest")], [f])
    row = _rows(make_report(images=[(entry, [f])]))[0]
    assert row["container"] == "'-2+3"
    assert row["cluster"] == "'=cmd|' /C calc'!A0"


def test_exposure_without_an_images_entry_still_gets_a_row() -> None:
    report = sample_report()
    orphaned = dataclasses.replace(report, images=report.images[1:])  # drop team/api's entry
    rows = _rows(orphaned)
    api_rows = [r for r in rows if r["repository"] == "team/api"]
    assert len(api_rows) == 3  # one per finding, no workload to pair with
    assert all(r["cluster"] == "" and r["matched_via"] == "" for r in api_rows)
    assert len(rows) == 3 + 1


def test_new_flag_is_written_when_known() -> None:
    report = sample_report()
    marked = dataclasses.replace(
        report, exposures=(dataclasses.replace(report.exposures[0], new=True), *report.exposures[1:])
    )
    rows = _rows(marked)
    assert {r["new"] for r in rows if r["vulnerability_id"] == "CVE-2024-0001"} == {"true"}
    assert {r["new"] for r in rows if r["vulnerability_id"] != "CVE-2024-0001"} == {""}


def test_empty_report_is_just_the_header() -> None:
    text = render_csv(empty_report())
    assert list(csv.reader(io.StringIO(text, newline=""))) == [list(COLUMNS)]
