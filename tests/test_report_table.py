"""The table for a person: readable at 80 columns, complete, no colour off a terminal, no injected escapes."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from rich.console import Console

from ecrwatch.models import Filters, Owner, Report, ScanStatus, SourceError
from ecrwatch.report.table import render_table, short_digest
from factories import (
    API_AMD64,
    CLUSTERS,
    ECS_SERVICE,
    EKS_DEPLOYMENT_POD,
    ERRORS,
    NGINX_UNSCANNED,
    PENDING_UNSCANNED,
    WORKER_ARM64,
    digest,
    ecr_uri,
    ecs_workload,
    empty_report,
    finding,
    image_entry,
    image_info,
    k8s_workload,
    make_report,
    matched,
    sample_report,
)


def _render(report: Report, *, width: int = 80, terminal: bool = False) -> tuple[str, str]:
    """(what the file received, the plain text) for a console like the CLI's."""
    out = io.StringIO()
    if terminal:
        console = Console(file=out, width=width, record=True, force_terminal=True, color_system="standard")
    else:
        console = Console(file=out, width=width, record=True, force_terminal=False)
    render_table(report, console)
    return out.getvalue(), console.export_text()


class _AsciiFile(io.StringIO):
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "ascii"


def test_fits_80_columns_without_ansi_off_a_terminal() -> None:
    raw, text = _render(sample_report())
    assert "\x1b" not in raw
    assert raw == text  # nothing but the text itself
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_terminal_gets_severity_colours() -> None:
    raw, text = _render(sample_report(), terminal=True)
    assert "\x1b[" in raw
    assert re.search(r"\x1b\[[0-9;]*31m[^\x1b]*CRITICAL", raw)  # red
    assert "\x1b" not in text


def test_summary_shows_the_counts() -> None:
    _, text = _render(sample_report())
    lines = {line.strip("│ ").split("  ")[0]: line for line in text.splitlines() if "│" in line}
    assert re.search(r"Running containers\s+6\b", lines["Running containers"])
    assert re.search(r"Running images\s+4\b", lines["Running images"])
    assert re.search(r"Vulnerable images\s+2\b", lines["Vulnerable images"])
    assert re.search(r"Exposures\s+4\s+CRITICAL 1\s+HIGH 1\s+MEDIUM 1\s+LOW 1", lines["Exposures"])
    assert re.search(r"Unscanned images\s+2\b", lines["Unscanned images"])
    assert re.search(r"Errors\s+2\b", lines["Errors"])
    assert "5 clusters (2 not read)" in text


def test_exposures_are_grouped_by_image_with_their_workloads_and_findings() -> None:
    _, text = _render(sample_report())
    api = text.index(f"/team/api@{short_digest(API_AMD64.digest or '')}")
    worker = text.index(f"/team/worker@{short_digest(WORKER_ARM64.digest or '')}")
    unscanned = text.index("Unscanned running images")
    api_block, worker_block = text[api:worker], text[worker:unscanned]
    # the image, its platform and tags
    assert "linux/amd64" in api_block and "tags v1" in api_block
    # its workloads: ECS service and standalone task, the EKS Deployment, and how each matched
    for expected in (
        "service api",
        "task aaaabbbbccccddddeeeeffff00001111",
        "task 22223333444455556666777788889999",
        "shop/Deployment api",
        "pod api-7d9f8b6c5d-x2x7q",
        "migrate",
    ):
        assert expected in api_block, expected
    assert re.search(r"\bdigest\b", api_block) and re.search(r"\btag\b", api_block)
    assert re.search(r"\bindex\b", api_block)
    # its findings, highest first, with the fix and the scores
    assert api_block.index("CVE-2024-0001") < api_block.index("CVE-2024-0002") < api_block.index("GHSA-aaaa-bbbb-cccc")
    assert "97.3%" in api_block and "9.8" in api_block
    assert "zlib 1.2.11 (no fix)" in api_block
    assert "openssl 3.0.2-0ubuntu1 →" in api_block
    assert "CVE-2024-0001" not in worker_block
    assert "CVE-2023-9999" in worker_block and "curl 7.88.1 → 8.0.0" in worker_block
    assert "batch/CronJob nightly" in worker_block and "fetch (init)" in worker_block


def _multi_arch_report() -> Report:
    """shop/web:v2, a multi-arch index: CVE-2024-1000 in both platform images, CVE-2024-2000 in arm64 alone;
    an amd64 and an arm64 ECS service, and a pod of unknown architecture that runs both."""
    index = digest("shop/web index")
    amd64 = image_info("shop/web", digest("shop/web amd64"), tags=(), platform="linux/amd64")
    arm64 = image_info("shop/web", digest("shop/web arm64"), tags=(), platform="linux/arm64")
    uri = ecr_uri("shop/web", tag="v2")
    intel = ecs_workload(image_reference=uri, running_digest=index, service="web-intel", task_id="a" * 32)
    graviton = ecs_workload(image_reference=uri, running_digest=index, service="web-graviton", task_id="b" * 32)
    pod = k8s_workload(image_reference=uri, running_digest=None, pod="web-next", namespace="shop")
    both_amd = finding("CVE-2024-1000", "HIGH", amd64, epss=0.2)
    both_arm = finding("CVE-2024-1000", "HIGH", arm64, epss=0.2)
    arm_only = finding("CVE-2024-2000", "CRITICAL", arm64, epss=0.5)
    arm_entry = image_entry(arm64, [matched(graviton, "index"), matched(pod, "tag")], [arm_only, both_arm])
    amd_entry = image_entry(amd64, [matched(intel, "index"), matched(pod, "tag")], [both_amd])
    return make_report(images=[(arm_entry, [arm_only, both_arm]), (amd_entry, [both_amd])])


def test_the_platform_images_of_a_multi_arch_image_are_one_block_under_the_name_users_know() -> None:
    _, text = _render(_multi_arch_report(), width=120)
    assert text.count("shop/web:v2") == 1  # one block, named as the workloads name it
    assert f"multi-arch index {short_digest(digest('shop/web index'))}" in text
    assert f"linux/amd64: {short_digest(digest('shop/web amd64'))} (1 exposure)" in text
    # A CVE found in both platform images is one row, listing both; the arm64-only one lists arm64 alone.
    assert text.count("CVE-2024-1000") == 1 and text.count("CVE-2024-2000") == 1
    lines = text.splitlines()
    both = next(i for i, line in enumerate(lines) if "CVE-2024-1000" in line)
    assert lines[both].rstrip().endswith("arm64") and lines[both + 1].strip() == "amd64"
    arm_row = next(line for line in lines if "CVE-2024-2000" in line)
    assert arm_row.rstrip().endswith("arm64") and "amd64" not in arm_row
    assert text.index("CVE-2024-2000") < text.index("CVE-2024-1000")  # the worst first
    # Each workload once, with the platform image it runs (the pod of unknown architecture runs both).
    rows = {
        name: line for line in text.splitlines() for name in ("web-intel", "web-graviton", "web-next") if name in line
    }
    assert rows["web-intel"].rstrip().endswith("amd64") and "arm64" not in rows["web-intel"]
    assert rows["web-graviton"].rstrip().endswith("arm64") and "amd64" not in rows["web-graviton"]
    assert rows["web-next"].rstrip().endswith("arm64, amd64")
    assert text.count("web-next") == 1 and "Running in 3 containers" in text


def test_a_platform_image_inspector_stopped_monitoring_says_so_in_the_multi_arch_block() -> None:
    report = _multi_arch_report()
    lapsed = ScanStatus("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", "2025-01-01T00:00:00Z", monitored=False)
    arm, amd = report.images
    report = dataclasses.replace(report, images=(arm, dataclasses.replace(amd, scan_status=lapsed)))
    _, text = _render(report, width=120)
    amd_line = text.index(f"linux/amd64: {short_digest(digest('shop/web amd64'))}")
    assert "Not monitored by Inspector" in text[amd_line:] and "Not monitored" not in text[:amd_line]


def test_a_multi_arch_block_fits_80_columns() -> None:
    raw, text = _render(_multi_arch_report())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b" not in raw
    assert "CVE-2024-1000" in text and "linux/amd64: " in text


def test_digests_are_shortened_in_the_table_and_nothing_else_is_cut() -> None:
    _, text = _render(sample_report())
    assert (API_AMD64.digest or "") not in text
    assert short_digest(API_AMD64.digest or "") in text
    # every ellipsis is a shortened digest: rich cropped nothing
    assert text.count("…") == len(re.findall(r"sha256:[0-9a-f]{12}…", text))


def test_long_values_wrap_instead_of_being_cropped() -> None:
    repository = "platform/" + "very-long-component-name/" * 5 + "service"
    image = dataclasses.replace(
        API_AMD64, repository=repository, reference=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:v1"
    )
    message = "the EKS API server endpoint could not be reached within 30 seconds; check security groups"
    long_error = SourceError("eks:ap-southeast-2/a-cluster-with-a-rather-long-name", message, "EndpointTimeout")
    f = finding("CVE-2024-4242", "HIGH", API_AMD64)
    entry = image_entry(image, [matched(ECS_SERVICE, "digest")], [f])
    report = make_report(images=[(entry, [dataclasses.replace(f)])], errors=[long_error])
    report = dataclasses.replace(report, exposures=tuple(dataclasses.replace(e, image=image) for e in report.exposures))
    _, text = _render(report)
    assert max(len(line) for line in text.splitlines()) <= 80
    joined = "".join(line.rstrip() for line in text.splitlines())
    assert image.reference in joined
    for word in message.split():
        assert word in text, word
    assert "…" not in text


def test_unscanned_images_show_reason_detail_and_workloads() -> None:
    _, text = _render(sample_report())
    unscanned = text[text.index("Unscanned running images (2)") : text.index("Errors (2)")]
    assert "docker.io/library/nginx:latest" in unscanned
    assert "not_ecr: docker.io is not an Amazon ECR private registry" in unscanned
    assert "edge/StatefulSet proxy" in unscanned and "nginx (sidecar)" in unscanned
    assert "kubernetes onprem-ok" in unscanned
    assert "scan_pending: Inspector scan status PENDING_INITIAL_SCAN" in unscanned
    assert "service new" in unscanned


def test_errors_show_source_code_and_message() -> None:
    _, text = _render(sample_report(), width=120)
    errors = text[text.index("Errors (2): the report is incomplete") :]
    for error in ERRORS:
        line = next(line for line in errors.splitlines() if error.source in line)
        assert (error.code or "-") in line and error.message in line


def test_empty_report_says_so_and_still_shows_blind_spots_and_errors() -> None:
    report = empty_report(unscanned_entries=[NGINX_UNSCANNED, PENDING_UNSCANNED], errors=ERRORS)
    raw, text = _render(report)
    assert "No running container has an exposure." in text
    assert "Exposures by image" not in text
    assert "Unscanned running images (2)" in text and "docker.io/library/nginx:latest" in text
    assert "Errors (2)" in text and "ecs:us-west-2/legacy" in text
    assert "Every running image was scanned" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\x1b" not in raw


def test_a_clean_run_says_everything_was_read() -> None:
    _, text = _render(empty_report())
    assert "No running container has an exposure." in text
    assert "Every running image was scanned, and every source in scope was read." in text


def test_empty_after_filters_says_the_filters_applied() -> None:
    _, text = _render(empty_report(filters=Filters(min_severity="CRITICAL")))
    assert "No running container has an exposure that passes the filters." in text
    assert "min severity CRITICAL" in text


def test_pods_of_one_controller_are_one_row_and_bare_pods_their_own() -> None:
    pods = [EKS_DEPLOYMENT_POD._replace(pod=f"api-7d9f8b6c5d-{i:05d}") for i in range(40)]
    bare = EKS_DEPLOYMENT_POD._replace(pod="debug-shell", owner=None)
    other = EKS_DEPLOYMENT_POD._replace(pod="web-1", owner=Owner("StatefulSet", "web"))
    f = finding("CVE-2024-5555", "HIGH", API_AMD64)
    entry = image_entry(API_AMD64, [matched(w, "index") for w in [*pods, bare, other]], [f])
    _, text = _render(make_report(images=[(entry, [f])]))
    assert "Running in 42 containers:" in text
    assert "shop/Deployment api" in text and "40 pods" in text
    assert "api-7d9f8b6c5d-00001" not in text
    assert "shop/debug-shell" in text
    assert "shop/StatefulSet web" in text and "pod web-1" in text


def test_values_cannot_inject_escapes_or_markup() -> None:
    hostile = SourceError(
        source="kube-context:[bold]ctx[/bold]",
        message="refused \x1b[2J\x1b]0;owned\x07 :warning: [link=http://evil.example]here[/link]",
        code="401",
    )
    report = dataclasses.replace(sample_report(), errors=(hostile,))
    for terminal in (False, True):
        raw, text = _render(report, terminal=terminal, width=160)
        assert "\x1b[2J" not in raw and "\x1b]" not in raw and "\x07" not in raw
        assert "\\x1b[2J" in text
        assert "kube-context:[bold]ctx[/bold]" in text
        assert ":warning:" in text and "[link=http://evil.example]here[/link]" in text


def test_ascii_console_gets_ascii_only() -> None:
    out = _AsciiFile()
    console = Console(file=out, width=80, force_terminal=False)
    render_table(sample_report(), console)
    text = out.getvalue()
    text.encode("ascii")  # raises if anything is not ASCII
    assert "sha256:" in text and "..." in text
    assert "openssl 3.0.2-0ubuntu1 ->" in text


@pytest.mark.parametrize("width", [80, 100, 200])
def test_every_cluster_and_error_source_is_named(width: int) -> None:
    _, text = _render(sample_report(), width=width)
    for cluster in CLUSTERS:
        if cluster.ok and cluster.name != "payments":  # payments appears via its workloads
            assert cluster.name in text
    assert "eks payments" in text
    for error in ERRORS:
        assert error.source in text


# What a person must read beside an image whose findings Inspector no longer updates, by Inspector's reason
# (its API reference's words, and DESIGN.md's advice for the two a user can fix with ecrwatch).
LAPSED_SAYINGS = [
    ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", "its findings will be closed with no fix", "--pull-rescan-duration"),
    ("INACTIVE", "IMAGE_ARCHIVED", "archived in ECR", "close its findings with no fix"),
    ("ACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH", "scanned once at push", "enable-scanning --region us-east-1 --filter"),
    ("INACTIVE", "PENDING_DISABLE", "being turned off", "its findings will be deleted"),
    ("INACTIVE", "RESOURCE_TERMINATED", "deleted from ECR while it still runs", "lifecycle policy"),
    ("INACTIVE", "SCAN_FREQUENCY_MANUAL", "not scanned by Inspector", "enable-scanning --region us-east-1 --filter"),
    ("INACTIVE", "SOME_FUTURE_REASON", "Inspector scan status SOME_FUTURE_REASON (INACTIVE)", "does not monitor"),
    ("UNKNOWN", None, "carries no scan status", "unknown"),
]


@pytest.mark.parametrize(("code", "reason", "says", "advises"), LAPSED_SAYINGS)
def test_an_image_inspector_no_longer_monitors_says_so_beside_it(
    code: str, reason: str | None, says: str, advises: str
) -> None:
    f = finding("CVE-2024-1234", "HIGH", API_AMD64)
    status = ScanStatus(code, reason, "2026-02-03T04:05:06.789Z", False)
    entry = dataclasses.replace(image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f]), scan_status=status)
    _, text = _render(make_report(images=[(entry, [f])]), width=400)
    (line,) = [line for line in text.splitlines() if line.startswith("Not monitored by Inspector: ")]
    assert says in line and advises in line
    if reason is not None and reason != "SOME_FUTURE_REASON":
        assert "(last scanned 2026-02-03)" in line  # the day, not the microseconds


def test_a_monitored_image_or_one_whose_coverage_was_not_read_says_nothing_of_the_kind() -> None:
    f = finding("CVE-2024-1234", "HIGH", API_AMD64)
    for status in (ScanStatus("ACTIVE", "SUCCESSFUL", "2026-02-03T04:05:06Z", True), None):
        entry = dataclasses.replace(image_entry(API_AMD64, [matched(ECS_SERVICE, "digest")], [f]), scan_status=status)
        _, text = _render(make_report(images=[(entry, [f])]), width=400)
        assert "Not monitored" not in text
