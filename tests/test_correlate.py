"""The join, on plain data: workloads x resolved images x Inspector findings and coverage -> Report."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import pytest

from ecrwatch.correlate import correlate, ecr_key, exit_status
from ecrwatch.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from ecrwatch.models import (
    SEVERITIES,
    ClusterScope,
    Coverage,
    EcrImageKey,
    Filters,
    Finding,
    FindingsResult,
    ImageRef,
    Inventory,
    PlatformManifest,
    Report,
    ResolvedImage,
    ScannedImage,
    SourceError,
    UnscannedEntry,
    Workload,
)

HOME = "111111111111"
OTHER = "602401143452"  # e.g. the AWS-owned registry EKS add-ons come from
REGION = "us-east-1"
HOST = f"{HOME}.dkr.ecr.{REGION}.amazonaws.com"
OTHER_HOST = f"{OTHER}.dkr.ecr.{REGION}.amazonaws.com"


def dg(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


# --- input helpers ---------------------------------------------------------------------------------------


def ecr_image(repo: str, *, tag: str | None = None, digest: str | None = None, account: str = HOME) -> ImageRef:
    return ImageRef(
        registry=f"{account}.dkr.ecr.{REGION}.amazonaws.com",
        repository=repo,
        tag=tag if tag or digest else "latest",
        digest=digest,
        ecr_account=account,
        ecr_region=REGION,
    )


def text_of(image: ImageRef) -> str:
    text = f"{image.registry}/{image.repository}"
    if image.tag:
        text += f":{image.tag}"
    if image.digest:
        text += f"@{image.digest}"
    return text


def wl(
    image: ImageRef, running: str | None = None, *, container: str = "app", task: str = "t1", **kw: object
) -> Workload:
    return Workload(
        platform="ecs",
        cluster="prod",
        container=container,
        image_reference=text_of(image),
        image=image,
        running_digest=running,
        account=HOME,
        region=REGION,
        task_arn=f"arn:aws:ecs:{REGION}:{HOME}:task/prod/{task}",
        **kw,  # type: ignore[arg-type]
    )


def key_of(w: Workload) -> EcrImageKey:
    key = ecr_key(w)
    assert key is not None
    return key


def manifest(w: Workload, digest: str) -> ResolvedImage:
    return ResolvedImage(key_of(w), "manifest", digest)


def index(w: Workload, digest: str, children: Sequence[tuple[str, str]]) -> ResolvedImage:
    return ResolvedImage(key_of(w), "index", digest, tuple(PlatformManifest(d, p) for d, p in children))


def scanned(digest: str, repo: str = "app", account: str = HOME) -> ScannedImage:
    return ScannedImage(account, REGION, repo, digest)


def finding(
    digest: str,
    vuln: str = "CVE-2024-0001",
    severity: str = "HIGH",
    *,
    repo: str = "app",
    status: str = "ACTIVE",
    arn: str | None = None,
    epss: float | None = None,
    score: float | None = None,
    fix: str | None = None,
    tags: tuple[str, ...] = (),
    arch: str | None = None,
) -> Finding:
    return Finding(
        finding_arn=arn or f"arn:aws:inspector2:{REGION}:{HOME}:finding/{vuln}-{repo}-{digest[7:15]}",
        vulnerability_id=vuln,
        severity=severity,
        status=status,
        image=scanned(digest, repo),
        epss_score=epss,
        inspector_score=score,
        fix_available=fix,
        image_tags=tags,
        architecture=arch,
    )


def covered(digest: str, reason: str = "SUCCESSFUL", *, repo: str = "app", account: str = HOME) -> Coverage:
    return Coverage(scanned(digest, repo, account), "ACTIVE" if reason == "SUCCESSFUL" else "INACTIVE", reason)


def run(
    workloads: Iterable[Workload],
    resolved: Iterable[ResolvedImage] = (),
    findings: Iterable[Finding] = (),
    coverage: Iterable[Coverage] = (),
    *,
    filters: Filters | None = None,
    inventory_errors: Sequence[SourceError] = (),
    findings_errors: Sequence[SourceError] = (),
    extra_errors: Sequence[SourceError] = (),
    clusters: Sequence[ClusterScope] = (),
) -> Report:
    return correlate(
        Inventory(tuple(workloads), tuple(clusters), tuple(inventory_errors)),
        {r.key: r for r in resolved},
        FindingsResult(tuple(findings), tuple(coverage), tuple(findings_errors)),
        filters=filters or Filters(),
        accounts=[HOME],
        regions=[REGION],
        generated_at="2025-01-01T00:00:00Z",
        tool_version="0.0.0",
        extra_errors=extra_errors,
    )


def only_unscanned(report: Report) -> UnscannedEntry:
    assert len(report.unscanned) == 1, report.unscanned
    return report.unscanned[0]


# --- ecr_key -----------------------------------------------------------------------------------------------


def test_ecr_key_prefers_the_running_digest_then_the_references_and_defaults_the_tag_to_latest() -> None:
    d = dg("a")
    by_tag = wl(ecr_image("app", tag="v1"))
    assert ecr_key(by_tag) == EcrImageKey(HOME, REGION, "app", None, "v1")
    assert ecr_key(wl(ecr_image("app", tag="v1"), d)) == EcrImageKey(HOME, REGION, "app", d, "v1")
    assert ecr_key(wl(ecr_image("app", digest=d))) == EcrImageKey(HOME, REGION, "app", d, None)
    bare = ImageRef(HOST, "app", None, None, HOME, REGION)  # a reference with neither tag nor digest
    assert ecr_key(wl(bare)) == EcrImageKey(HOME, REGION, "app", None, "latest")
    nginx = ImageRef("docker.io", "library/nginx", "latest", None)
    assert ecr_key(wl(nginx)) is None
    public = ImageRef("public.ecr.aws", "eks/coredns", "v1", None)
    assert ecr_key(wl(public)) is None


# --- matching ------------------------------------------------------------------------------------------


def test_digest_match_reports_the_image_its_workloads_and_each_finding() -> None:
    d = dg("app-v1")
    w = wl(ecr_image("app", tag="v1"), d)
    report = run(
        [w],
        [manifest(w, d)],
        [
            finding(d, "CVE-2024-0001", "CRITICAL", tags=("v1", "prod"), arch="amd64"),
            finding(d, "CVE-2024-0002", "MEDIUM", tags=("v1",), arch="amd64"),
        ],
    )
    (entry,) = report.images
    assert entry.image.reference == f"{HOST}/app@{d}"
    assert (entry.image.registry, entry.image.region, entry.image.repository, entry.image.digest) == (
        HOME,
        REGION,
        "app",
        d,
    )
    assert entry.image.tags == ("prod", "v1")
    assert entry.image.platform == "linux/amd64"
    assert [(m.workload, m.matched_via) for m in entry.workloads] == [(w, "digest")]
    assert entry.exposures == 2
    assert entry.max_severity == "CRITICAL"
    assert [e.finding.vulnerability_id for e in report.exposures] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert all(e.image == entry.image and e.workload_count == 1 for e in report.exposures)
    assert report.unscanned == ()


def test_index_match_reports_every_platform_child_with_matched_via_index() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    w = wl(ecr_image("app", tag="v2"), idx)
    report = run(
        [w],
        [index(w, idx, [(amd, "linux/amd64"), (arm, "linux/arm64/v8")])],
        [finding(amd, "CVE-2024-1000"), finding(arm, "CVE-2024-2000")],
    )
    by_digest = {e.image.digest: e for e in report.images}
    assert set(by_digest) == {amd, arm}
    assert by_digest[amd].image.platform == "linux/amd64"
    assert by_digest[arm].image.platform == "linux/arm64/v8"
    for entry in report.images:
        assert [(m.workload, m.matched_via) for m in entry.workloads] == [(w, "index")]
    assert {(e.finding.vulnerability_id, e.image.digest) for e in report.exposures} == {
        ("CVE-2024-1000", amd),
        ("CVE-2024-2000", arm),
    }
    # One running image (the index), vulnerable through its children.
    assert (report.summary.running_images, report.summary.vulnerable_running_images) == (1, 1)


def test_each_workload_is_charged_only_with_the_platform_image_it_runs() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    intel = wl(ecr_image("app", tag="v2"), idx, task="intel", architecture="amd64")
    graviton = wl(ecr_image("app", tag="v2"), idx, task="graviton", architecture="arm64")
    unsaid = wl(ecr_image("app", tag="v2"), idx, task="unsaid")  # architecture unknown
    report = run(
        [intel, graviton, unsaid],
        [index(intel, idx, [(amd, "linux/amd64"), (arm, "linux/arm64/v8")])],
        [finding(amd, "CVE-2024-1000"), finding(arm, "CVE-2024-2000", "CRITICAL")],
    )
    by_digest = {e.image.digest: e for e in report.images}
    assert [m.workload.task_arn for m in by_digest[amd].workloads] == [intel.task_arn, unsaid.task_arn]
    assert [m.workload.task_arn for m in by_digest[arm].workloads] == [graviton.task_arn, unsaid.task_arn]
    assert {(e.finding.vulnerability_id, e.workload_count) for e in report.exposures} == {
        ("CVE-2024-1000", 2),
        ("CVE-2024-2000", 2),
    }


def test_a_cve_of_a_platform_nothing_runs_on_is_not_reported() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    intel = wl(ecr_image("app", tag="v2"), idx, architecture="amd64")
    report = run(
        [intel],
        [index(intel, idx, [(amd, "linux/amd64"), (arm, "linux/arm64")])],
        [finding(arm, "CVE-2024-2000", "CRITICAL")],
        [covered(amd)],
    )
    assert (report.images, report.exposures, report.unscanned) == ((), (), ())
    assert (report.summary.running_images, report.summary.vulnerable_running_images) == (1, 0)
    assert report.summary.by_severity["CRITICAL"] == 0


def test_an_unscanned_platform_image_is_reported_for_the_workloads_that_run_it_only() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    intel = wl(ecr_image("app", tag="v2"), idx, task="intel", architecture="amd64")
    graviton = wl(ecr_image("app", tag="v2"), idx, task="graviton", architecture="arm64")
    children = [(amd, "linux/amd64"), (arm, "linux/arm64")]
    coverage = [covered(amd), covered(arm, "PENDING_INITIAL_SCAN")]
    only_intel = run([intel], [index(intel, idx, children)], [], coverage)
    assert only_intel.unscanned == () and only_intel.summary.unscanned_running_images == 0
    both = run([intel, graviton], [index(intel, idx, children)], [], coverage)
    entry = only_unscanned(both)
    assert (entry.reason, entry.image.digest) == ("scan_pending", idx)
    assert [m.workload.task_arn for m in entry.workloads] == [graviton.task_arn]


def test_a_workload_on_an_architecture_the_index_does_not_offer_is_charged_with_every_platform(
    caplog: pytest.LogCaptureFixture,
) -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    mainframe = wl(ecr_image("app", tag="v2"), idx, architecture="s390x")
    report = run(
        [mainframe],
        [index(mainframe, idx, [(amd, "linux/amd64"), (arm, "linux/arm64")])],
        [finding(amd, "CVE-2024-1000"), finding(arm, "CVE-2024-2000")],
    )
    assert {e.image.digest for e in report.images} == {amd, arm}
    assert "not s390x" in caplog.text and "every platform image is charged" in caplog.text


def test_tag_fallback_matches_the_digest_the_tag_resolves_to() -> None:
    d = dg("app-v3")
    w = wl(ecr_image("app", tag="v3"))  # pending container: no digest reported
    report = run([w], [manifest(w, d)], [finding(d)])
    (entry,) = report.images
    assert entry.image.digest == d
    assert [m.matched_via for m in entry.workloads] == ["tag"]


def test_tag_resolving_to_an_index_is_matched_via_tag_on_every_child() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    w = wl(ecr_image("app", tag="multi"))
    report = run(
        [w], [index(w, idx, [(amd, "linux/amd64"), (arm, "linux/arm64")])], [finding(amd), finding(arm, "CVE-2")]
    )
    assert {e.image.digest for e in report.images} == {amd, arm}
    assert {m.matched_via for e in report.images for m in e.workloads} == {"tag"}


def test_workloads_naming_one_digest_differently_share_its_entry() -> None:
    idx, amd = dg("index"), dg("amd64")
    by_index = wl(ecr_image("app", tag="v1"), idx, task="a")
    by_tag = wl(ecr_image("app", tag="v1"), task="b")
    by_child = wl(ecr_image("app", digest=amd), amd, task="c")
    report = run(
        [by_tag, by_child, by_index],
        [
            index(by_index, idx, [(amd, "linux/amd64")]),
            index(by_tag, idx, [(amd, "linux/amd64")]),
            manifest(by_child, amd),
        ],
        [finding(amd)],
    )
    (entry,) = report.images
    assert {(m.workload.task_arn, m.matched_via) for m in entry.workloads} == {
        (by_index.task_arn, "index"),
        (by_tag.task_arn, "tag"),
        (by_child.task_arn, "digest"),
    }
    assert report.exposures[0].workload_count == 3
    # The index (named by digest or by tag) and the child run directly are two running images.
    assert report.summary.running_images == 2


def test_a_workload_is_listed_once_per_image_however_many_findings_it_has() -> None:
    d = dg("busy")
    w1, w2 = wl(ecr_image("app", tag="v1"), d, task="a"), wl(ecr_image("app", tag="v1"), d, task="b")
    report = run([w1, w2], [manifest(w1, d)], [finding(d, f"CVE-2024-{n:04}") for n in range(5)])
    (entry,) = report.images
    assert [m.workload for m in entry.workloads] == [w1, w2]
    assert entry.exposures == 5
    assert len(report.exposures) == 5
    assert {e.workload_count for e in report.exposures} == {2}


# --- unscanned -----------------------------------------------------------------------------------------


def test_images_outside_ecr_private_registries_are_not_ecr() -> None:
    nginx = ImageRef("docker.io", "library/nginx", "latest", None)
    coredns_digest = dg("coredns")
    coredns = ImageRef("public.ecr.aws", "eks/coredns", "v1.11", None)
    w1, w2 = wl(nginx, container="proxy", task="a"), wl(nginx, container="proxy", task="b")
    w3 = wl(coredns, coredns_digest, container="dns")
    report = run([w1, w2, w3])
    assert report.images == () and report.exposures == ()
    by_ref = {u.image.reference: u for u in report.unscanned}
    assert set(by_ref) == {"docker.io/library/nginx:latest", f"public.ecr.aws/eks/coredns@{coredns_digest}"}
    hub = by_ref["docker.io/library/nginx:latest"]
    assert hub.reason == "not_ecr"
    assert (hub.image.registry, hub.image.region, hub.image.digest, hub.image.tags) == (None, None, None, ("latest",))
    assert [m.workload for m in hub.workloads] == [w1, w2]
    assert {m.matched_via for m in hub.workloads} == {None}
    public = by_ref[f"public.ecr.aws/eks/coredns@{coredns_digest}"]
    assert (public.reason, public.image.digest, public.image.tags) == ("not_ecr", coredns_digest, ("v1.11",))
    assert report.summary.unscanned_running_images == 2


def test_an_image_ecr_does_not_have_is_not_found_in_ecr() -> None:
    w = wl(ecr_image("gone", tag="old"))
    report = run([w], [ResolvedImage(key_of(w), "missing", None, detail="ImageNotFound: tag old")])
    entry = only_unscanned(report)
    assert entry.reason == "not_found_in_ecr"
    assert entry.image.reference == f"{HOST}/gone:old"
    assert (entry.image.digest, entry.image.tags, entry.image.registry) == (None, ("old",), HOME)
    assert entry.detail == "ImageNotFound: tag old"


def test_a_deleted_running_digest_is_not_found_in_ecr_and_keeps_its_digest() -> None:
    d = dg("deleted")
    w = wl(ecr_image("app", tag="v0"), d)
    entry = only_unscanned(run([w], [ResolvedImage(key_of(w), "missing", None)]))
    assert (entry.reason, entry.image.digest, entry.image.reference) == ("not_found_in_ecr", d, f"{HOST}/app@{d}")
    assert entry.detail and d in entry.detail


def test_no_digest_and_ecr_unreachable_is_digest_unknown_with_the_reason() -> None:
    w = wl(ecr_image("app", tag="v1", account=OTHER))
    report = run([w], [ResolvedImage(key_of(w), "unknown", None, detail="AccessDeniedException from ECR")])
    entry = only_unscanned(report)
    assert entry.reason == "digest_unknown"
    assert entry.detail == "AccessDeniedException from ECR"
    assert entry.image.reference == f"{OTHER_HOST}/app:v1"
    assert report.errors == ()  # a blind spot, not an error of the run


def test_another_accounts_image_with_a_known_digest_and_no_record_is_not_covered_naming_the_account() -> None:
    d = dg("addon")
    w = wl(ecr_image("eks/coredns", tag="v1.11", account=OTHER), d)
    key = key_of(w)
    for resolved in ([ResolvedImage(key, "unknown", d, detail="AccessDeniedException")], []):
        entry = only_unscanned(run([w], resolved))
        assert entry.reason == "not_covered"
        assert entry.detail and OTHER in entry.detail
        assert (entry.image.registry, entry.image.digest) == (OTHER, d)
        assert entry.image.reference == f"{OTHER_HOST}/eks/coredns@{d}"
        assert [m.matched_via for m in entry.workloads] == ["digest"]


def test_another_accounts_image_inspector_has_findings_for_is_reported() -> None:
    d = dg("shared")
    w = wl(ecr_image("base", tag="v1", account=OTHER), d)
    f = Finding("arn:x", "CVE-2024-7", "HIGH", "ACTIVE", ScannedImage(OTHER, REGION, "base", d))
    report = run([w], [ResolvedImage(key_of(w), "unknown", d)], [f])
    assert [e.image.reference for e in report.images] == [f"{OTHER_HOST}/base@{d}"]
    assert report.unscanned == ()


# Written from Inspector's API reference (ScanStatus.reason: what each reason says about an ECR image) and
# DESIGN.md "Details that scripts rely on" (which unscanned reason a script sees for it); not from the code.
DOCUMENTED_REASONS = [
    # "identified for scanning, results will be available soon" / "currently being scanned"
    ("PENDING_INITIAL_SCAN", "scan_pending"),
    ("SCAN_IN_PROGRESS", "scan_pending"),
    ("PENDING_REVIVAL_SCAN", "scan_pending"),
    # "does not support this OS, architecture, or image manifest type", "unsupported media type", ...
    ("UNSUPPORTED_OS", "scan_unsupported"),
    ("UNSUPPORTED_MEDIA_TYPE", "scan_unsupported"),
    ("UNSUPPORTED_RUNTIME", "scan_unsupported"),
    ("IMAGE_SIZE_EXCEEDED", "scan_unsupported"),
    # "the configured scan duration has lapsed" / "archived in Amazon ECR and no longer available for scanning"
    ("SCAN_ELIGIBILITY_EXPIRED", "scan_expired"),
    ("IMAGE_ARCHIVED", "scan_expired"),
    # "scanned one time and will not [get] new findings because of the scan frequency configuration"
    ("SCAN_FREQUENCY_SCAN_ON_PUSH", "not_monitored"),
    # not covered: manual frequency, no scan configuration, excluded by tag, scanning being disabled
    ("SCAN_FREQUENCY_MANUAL", "not_covered"),
    ("NO_SCAN_CONFIGURATION_ASSOCIATED", "not_covered"),
    ("EXCLUDED_BY_TAG", "not_covered"),
    ("PENDING_DISABLE", "not_covered"),
    # "this resource has been terminated": the image is gone from ECR while it still runs
    ("RESOURCE_TERMINATED", "not_found_in_ecr"),
    # failures Inspector names: IAM policy, KMS key policy, its own internal error
    ("ACCESS_DENIED", "scan_failed"),
    ("ACCESS_DENIED_TO_ENCRYPTION_KEY", "scan_failed"),
    ("INTERNAL_ERROR", "scan_failed"),
]


@pytest.mark.parametrize(("inspector_reason", "reason"), DOCUMENTED_REASONS)
def test_coverage_reasons_map_to_unscanned_reasons(inspector_reason: str, reason: str) -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    entry = only_unscanned(run([w], [manifest(w, d)], coverage=[covered(d, inspector_reason)]))
    assert entry.reason == reason
    assert entry.detail and inspector_reason in entry.detail
    assert HOME not in entry.detail  # the home registry needs no naming
    assert (entry.image.digest, entry.image.tags) == (d, ("v1",))
    assert [m.matched_via for m in entry.workloads] == ["digest"]


def test_an_image_deleted_from_ecr_while_it_runs_says_so() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    entry = only_unscanned(run([w], [manifest(w, d)], coverage=[covered(d, "RESOURCE_TERMINATED")]))
    assert entry.reason == "not_found_in_ecr"
    assert entry.detail and "lifecycle policy" in entry.detail and "still runs" in entry.detail


def test_a_reason_ecrwatch_does_not_know_is_told_in_inspectors_words_and_not_called_a_failure() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    record = Coverage(scanned(d), "ACTIVE", "SOME_FUTURE_REASON")
    entry = only_unscanned(run([w], [manifest(w, d)], coverage=[record]))
    assert entry.reason == "not_covered"
    assert entry.detail and "SOME_FUTURE_REASON (ACTIVE)" in entry.detail
    assert "does not know" in entry.detail


def test_a_coverage_record_without_a_scan_status_is_not_covered_and_says_why() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    entry = only_unscanned(run([w], [manifest(w, d)], coverage=[Coverage(scanned(d), None, None)]))
    assert entry.reason == "not_covered"
    assert entry.detail == "Inspector's coverage record for this image carries no scan status"


# Inspector's reasons for which it no longer looks for new vulnerabilities in an image that has findings
# (DESIGN.md: scanned once at push, scan eligibility expired, image archived, scanning being turned off).
LAPSED = ["SCAN_FREQUENCY_SCAN_ON_PUSH", "SCAN_ELIGIBILITY_EXPIRED", "IMAGE_ARCHIVED", "PENDING_DISABLE"]


@pytest.mark.parametrize("inspector_reason", LAPSED)
def test_an_image_with_findings_inspector_stopped_watching_is_reported_not_monitored(inspector_reason: str) -> None:
    d, clean = dg("img"), dg("clean")
    w, other = wl(ecr_image("app", tag="v1"), d), wl(ecr_image("api", tag="v2"), clean, task="t2")
    record = Coverage(scanned(d), "INACTIVE", inspector_reason, "2026-01-02T03:04:05Z")
    report = run(
        [w, other],
        [manifest(w, d), manifest(other, clean)],
        [finding(d)],
        [record, covered(clean, repo="api")],
    )
    (entry,) = report.images
    assert entry.scan_status is not None
    assert (entry.scan_status.status, entry.scan_status.reason) == ("INACTIVE", inspector_reason)
    assert (entry.scan_status.last_scanned_at, entry.scan_status.monitored) == ("2026-01-02T03:04:05Z", False)
    assert report.summary.not_monitored_running_images == 1
    assert len(report.exposures) == 1  # its findings are still reported


def test_an_image_inspector_watches_is_monitored_with_its_last_scan() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    record = Coverage(scanned(d), "ACTIVE", "SUCCESSFUL", "2026-05-06T07:08:09Z")
    report = run([w], [manifest(w, d)], [finding(d)], [record])
    (entry,) = report.images
    assert entry.scan_status is not None
    assert (entry.scan_status.status, entry.scan_status.reason) == ("ACTIVE", "SUCCESSFUL")
    assert (entry.scan_status.last_scanned_at, entry.scan_status.monitored) == ("2026-05-06T07:08:09Z", True)
    assert report.summary.not_monitored_running_images == 0


def test_an_image_whose_coverage_was_not_read_has_no_scan_status() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    (entry,) = run([w], [manifest(w, d)], [finding(d)]).images
    assert entry.scan_status is None


def test_not_monitored_images_are_counted_once_per_running_image_with_findings_or_without() -> None:
    """An index whose two platform images both lapsed is one running image; an on-push image with no finding
    (unscanned not_monitored) counts too; a monitored one does not, nor one Inspector never could scan."""
    idx, amd, arm, push, fine, old = dg("index"), dg("amd64"), dg("arm64"), dg("push"), dg("fine"), dg("old")
    multi = wl(ecr_image("app", tag="v1"), idx)
    on_push = wl(ecr_image("batch", tag="v1"), push, task="t2")
    watched = wl(ecr_image("web", tag="v1"), fine, task="t3")
    legacy = wl(ecr_image("legacy", tag="v1"), old, task="t4")
    report = run(
        [multi, on_push, watched, legacy],
        [
            index(multi, idx, [(amd, "linux/amd64"), (arm, "linux/arm64")]),
            manifest(on_push, push),
            manifest(watched, fine),
            manifest(legacy, old),
        ],
        [finding(amd), finding(arm), finding(fine, repo="web")],
        [
            covered(amd, "SCAN_ELIGIBILITY_EXPIRED"),
            covered(arm, "SCAN_ELIGIBILITY_EXPIRED"),
            Coverage(scanned(push, "batch"), "ACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH"),
            covered(fine, repo="web"),
            covered(old, "UNSUPPORTED_OS", repo="legacy"),  # INACTIVE, never monitored: unscanned, not lapsed
        ],
    )
    assert report.summary.not_monitored_running_images == 2
    assert [u.reason for u in report.unscanned] == ["scan_unsupported", "not_monitored"]
    monitored = {e.image.digest: e.scan_status.monitored for e in report.images if e.scan_status}
    assert monitored == {amd: False, arm: False, fine: True}


def test_no_coverage_record_is_not_covered() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"))
    entry = only_unscanned(run([w], [manifest(w, d)]))
    assert entry.reason == "not_covered"
    assert entry.image.digest == d  # the digest the tag resolved to
    assert [m.matched_via for m in entry.workloads] == ["tag"]


def test_a_clean_scanned_image_is_in_neither_list() -> None:
    d = dg("clean")
    w = wl(ecr_image("app", tag="v1"), d)
    report = run([w], [manifest(w, d)], coverage=[covered(d, "SUCCESSFUL")])
    assert (report.images, report.exposures, report.unscanned) == ((), (), ())
    assert (report.summary.running_images, report.summary.unscanned_running_images) == (1, 0)


def test_an_index_with_one_child_unscanned_and_one_vulnerable_is_in_both_lists() -> None:
    idx, amd, arm, arm2 = dg("index"), dg("amd64"), dg("arm64"), dg("arm/v7")
    w = wl(ecr_image("app", tag="v1"), idx)
    report = run(
        [w],
        [index(w, idx, [(amd, "linux/amd64"), (arm, "linux/arm64"), (arm2, "linux/arm/v7")])],
        [finding(amd)],
        [covered(arm, "PENDING_INITIAL_SCAN"), covered(arm2, "SCAN_IN_PROGRESS")],
    )
    assert [e.image.digest for e in report.images] == [amd]
    entry = only_unscanned(report)
    assert (entry.reason, entry.image.digest) == ("scan_pending", idx)
    assert entry.detail and "linux/arm64" in entry.detail and "linux/arm/v7" in entry.detail
    assert "linux/amd64" not in entry.detail
    assert [m.matched_via for m in entry.workloads] == ["index"]
    assert report.summary.vulnerable_running_images == 1
    assert report.summary.unscanned_running_images == 1


def test_an_index_with_every_child_scanned_and_clean_is_in_neither_list() -> None:
    idx, amd, arm = dg("index"), dg("amd64"), dg("arm64")
    w = wl(ecr_image("app", tag="v1"), idx)
    report = run([w], [index(w, idx, [(amd, "linux/amd64"), (arm, "linux/arm64")])], [], [covered(amd), covered(arm)])
    assert (report.images, report.unscanned) == ((), ())


def test_a_region_inspector_could_not_read_is_never_called_clean() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    report = run(
        [w],
        [manifest(w, d)],
        coverage=[covered(d, "SUCCESSFUL")],
        findings_errors=[SourceError(f"inspector2:{REGION}", "throttled", "ThrottlingException")],
    )
    entry = only_unscanned(report)
    assert entry.detail and REGION in entry.detail
    assert exit_status(report, None) == EXIT_INCOMPLETE


def test_unscanned_entries_are_one_per_running_image_and_reason_in_a_stable_order() -> None:
    d1, d2 = dg("one"), dg("two")
    a = wl(ecr_image("zeta", tag="v1"), d1, task="a")
    b = wl(ecr_image("zeta", tag="latest"), d1, task="b")
    c = wl(ecr_image("alpha", tag="v1"), d2, task="c")
    nginx = wl(ImageRef("docker.io", "library/nginx", "latest", None), task="d")
    resolved = [manifest(a, d1), manifest(b, d1), ResolvedImage(key_of(c), "missing", None)]
    forward = run([a, b, c, nginx], resolved)
    backward = run([nginx, c, b, a], resolved)
    assert forward.unscanned == backward.unscanned
    assert [(u.reason, u.image.reference) for u in forward.unscanned] == [
        ("not_ecr", "docker.io/library/nginx:latest"),
        ("not_found_in_ecr", f"{HOST}/alpha@{d2}"),
        ("not_covered", f"{HOST}/zeta@{d1}"),
    ]
    zeta = forward.unscanned[2]
    assert zeta.image.tags == ("latest", "v1")
    assert [m.workload.task_arn for m in zeta.workloads] == [a.task_arn, b.task_arn]


# --- findings: status and filters ------------------------------------------------------------------------


def test_closed_and_suppressed_findings_are_ignored_and_duplicates_counted_once() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    active = finding(d, "CVE-2024-0003", arn="arn:active")
    report = run(
        [w],
        [manifest(w, d)],
        [
            finding(d, "CVE-2024-0001", "CRITICAL", status="CLOSED"),
            finding(d, "CVE-2024-0002", "CRITICAL", status="SUPPRESSED"),
            active,
            active,
        ],
    )
    assert [e.finding for e in report.exposures] == [active]
    assert report.images[0].max_severity == "HIGH"


def test_only_closed_or_suppressed_findings_fall_back_to_coverage() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    closed = [finding(d, status="CLOSED")]
    assert run([w], [manifest(w, d)], closed, [covered(d)]).unscanned == ()
    assert only_unscanned(run([w], [manifest(w, d)], closed)).reason == "not_covered"


def test_min_severity_and_fixable_only_decide_what_is_reported_and_counted() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    findings = [
        finding(d, "C-fix", "CRITICAL", fix="YES"),
        finding(d, "C-nofix", "CRITICAL", fix="NO"),
        finding(d, "H-partial", "HIGH", fix="PARTIAL"),
        finding(d, "M-fix", "MEDIUM", fix="YES"),
        finding(d, "U-fix", "UNTRIAGED", fix="YES"),
        finding(d, "I-none", "INFORMATIONAL"),
    ]

    def reported(filters: Filters) -> list[str]:
        report = run([w], [manifest(w, d)], findings, filters=filters)
        assert report.summary.exposures == len(report.exposures)
        assert sum(report.summary.by_severity.values()) == len(report.exposures)
        assert report.scope.filters == filters
        return [e.finding.vulnerability_id for e in report.exposures]

    assert reported(Filters()) == ["C-fix", "C-nofix", "H-partial", "M-fix", "I-none", "U-fix"]
    assert reported(Filters(min_severity="HIGH")) == ["C-fix", "C-nofix", "H-partial"]
    assert reported(Filters(min_severity="LOW")) == ["C-fix", "C-nofix", "H-partial", "M-fix"]
    assert reported(Filters(fixable_only=True)) == ["C-fix", "H-partial", "M-fix", "U-fix"]
    assert reported(Filters(min_severity="HIGH", fixable_only=True)) == ["C-fix", "H-partial"]

    report = run([w], [manifest(w, d)], findings, filters=Filters(min_severity="HIGH"))
    assert report.summary.by_severity == {
        "CRITICAL": 2,
        "HIGH": 1,
        "MEDIUM": 0,
        "LOW": 0,
        "INFORMATIONAL": 0,
        "UNTRIAGED": 0,
    }
    assert list(report.summary.by_severity) == list(SEVERITIES)
    assert report.images[0].exposures == 3


def test_a_digest_whose_findings_are_all_filtered_out_is_in_neither_list() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    # No coverage record: the findings themselves show that Inspector scanned it.
    report = run([w], [manifest(w, d)], [finding(d, severity="LOW")], filters=Filters(min_severity="HIGH"))
    assert (report.images, report.exposures, report.unscanned) == ((), (), ())
    assert report.summary.vulnerable_running_images == 0


def test_exposures_sort_by_severity_epss_score_then_id_repository_digest() -> None:
    da, db = dg("a"), dg("b")
    w1 = wl(ecr_image("web", tag="v1"), da, task="a")
    w2 = wl(ecr_image("api", tag="v1"), db, task="b")
    findings = [
        finding(da, "CVE-H", "HIGH", repo="web", epss=0.99, score=10.0),
        finding(da, "CVE-C-none", "CRITICAL", repo="web"),
        finding(da, "CVE-C-epss-low", "CRITICAL", repo="web", epss=0.10, score=9.8),
        finding(da, "CVE-C-score-none", "CRITICAL", repo="web", epss=0.50),
        finding(da, "CVE-C-score-low", "CRITICAL", repo="web", epss=0.50, score=7.0),
        finding(da, "CVE-C-score-high", "CRITICAL", repo="web", epss=0.50, score=9.0),
        finding(da, "CVE-TIE", "CRITICAL", repo="web", epss=0.50, score=9.0),
        finding(db, "CVE-TIE", "CRITICAL", repo="api", epss=0.50, score=9.0),
        finding(db, "CVE-A", "CRITICAL", repo="api", epss=0.50, score=9.0),
    ]
    report = run([w1, w2], [manifest(w1, da), manifest(w2, db)], findings)
    assert [(e.finding.vulnerability_id, e.image.repository) for e in report.exposures] == [
        ("CVE-A", "api"),
        ("CVE-C-score-high", "web"),
        ("CVE-TIE", "api"),
        ("CVE-TIE", "web"),
        ("CVE-C-score-low", "web"),
        ("CVE-C-score-none", "web"),
        ("CVE-C-epss-low", "web"),
        ("CVE-C-none", "web"),
        ("CVE-H", "web"),
    ]
    assert run([w2, w1], [manifest(w1, da), manifest(w2, db)], reversed(findings)).exposures == report.exposures
    # Images come in the order of their worst exposure.
    assert [e.image.repository for e in report.images] == ["api", "web"]


def test_same_repository_ties_break_on_digest() -> None:
    da, db = sorted([dg("x"), dg("y")])
    w1, w2 = wl(ecr_image("app", tag="v1"), db, task="a"), wl(ecr_image("app", tag="v2"), da, task="b")
    report = run([w1, w2], [manifest(w1, db), manifest(w2, da)], [finding(db, "CVE-1"), finding(da, "CVE-1")])
    assert [e.image.digest for e in report.exposures] == [da, db]


# --- summary, scope, errors, exit status ----------------------------------------------------------------------


def test_summary_counts_every_container_and_distinct_running_images() -> None:
    vulnerable, clean = dg("vulnerable"), dg("clean")
    app = wl(ecr_image("app", tag="v1"), vulnerable, container="app", task="a")
    init = wl(ecr_image("app", tag="v1"), vulnerable, container="migrate", task="a", container_type="init")
    by_tag = wl(ecr_image("app", tag="v1"), container="app", task="b")  # pending: same image by its tag
    sidecar = wl(ecr_image("envoy", tag="v1"), clean, container="envoy", task="a")
    hub = wl(ImageRef("docker.io", "library/busybox", "1.36", None), container="debug", task="a")
    report = run(
        [app, init, by_tag, sidecar, hub],
        [manifest(app, vulnerable), manifest(by_tag, vulnerable), manifest(sidecar, clean)],
        [finding(vulnerable, "CVE-1", "CRITICAL"), finding(vulnerable, "CVE-2", "LOW")],
        [covered(clean, repo="envoy")],
    )
    summary = report.summary
    assert summary.running_containers == 5
    assert summary.running_images == 3  # vulnerable (three containers), clean, busybox
    assert summary.vulnerable_running_images == 1
    assert summary.unscanned_running_images == 1
    assert summary.exposures == 2
    assert summary.by_severity["CRITICAL"] == 1 and summary.by_severity["LOW"] == 1
    (entry,) = report.images
    assert {m.workload.container for m in entry.workloads} == {"app", "migrate"}
    assert len(entry.workloads) == 3


def test_scope_and_errors_are_carried_in_order() -> None:
    cluster = ClusterScope("ecs", "prod", "arn:aws:ecs:us-east-1:111111111111:cluster/prod", REGION, False)
    e1 = SourceError("ecs:us-east-1/prod", "denied", "AccessDeniedException")
    e2 = SourceError("inspector2:us-west-2", "throttled", "ThrottlingException")
    e3 = SourceError("ecr:us-east-1", "boom", "500")
    report = run([], clusters=[cluster], inventory_errors=[e1], findings_errors=[e2], extra_errors=[e3])
    assert report.errors == (e1, e2, e3)
    assert (report.scope.accounts, report.scope.regions, report.scope.clusters) == ((HOME,), (REGION,), (cluster,))
    assert (report.generated_at, report.tool_version) == ("2025-01-01T00:00:00Z", "0.0.0")
    assert report.summary.running_containers == 0
    assert report.summary.by_severity == dict.fromkeys(SEVERITIES, 0)


def test_exit_status_incomplete_beats_findings_and_fail_on_is_a_threshold() -> None:
    d = dg("img")
    w = wl(ecr_image("app", tag="v1"), d)
    report = run([w], [manifest(w, d)], [finding(d, severity="HIGH")])
    assert exit_status(report, None) == EXIT_OK
    assert exit_status(report, "CRITICAL") == EXIT_OK
    assert exit_status(report, "HIGH") == EXIT_FINDINGS
    assert exit_status(report, "LOW") == EXIT_FINDINGS
    broken = run([w], [manifest(w, d)], [finding(d, severity="HIGH")], extra_errors=[SourceError("ecr:us-east-1", "x")])
    assert exit_status(broken, "HIGH") == EXIT_INCOMPLETE
    assert exit_status(broken, None) == EXIT_INCOMPLETE
    # --fail-on looks at what the report contains, after the filters.
    filtered = run([w], [manifest(w, d)], [finding(d, severity="HIGH")], filters=Filters(min_severity="CRITICAL"))
    assert exit_status(filtered, "HIGH") == EXIT_OK


def test_a_digest_ecr_could_not_be_asked_about_is_never_called_clean() -> None:
    d = dg("kms-locked")
    w = wl(ecr_image("app", tag="v1"), d)
    unread = ResolvedImage(key_of(w), "unknown", d, detail="ECR could not return it: KmsError (see errors)")
    entry = only_unscanned(run([w], [unread], coverage=[covered(d)]))
    assert entry.reason == "not_covered"
    assert entry.detail and "KmsError" in entry.detail and "no finding" in entry.detail
    assert entry.image.digest == d
    # The same image with ECR's answer is scanned and clean: nothing to report.
    clean = run([w], [ResolvedImage(key_of(w), "manifest", d)], coverage=[covered(d)])
    assert (clean.unscanned, clean.images) == ((), ())


def test_a_digest_ecr_could_not_be_asked_about_keeps_its_findings_even_when_filtered_out() -> None:
    d = dg("kms-vulnerable")
    w = wl(ecr_image("app", tag="v1"), d)
    unread = ResolvedImage(key_of(w), "unknown", d, detail="ECR could not be read: ThrottlingException")
    f = Finding("arn:low", "CVE-2024-9", "LOW", "ACTIVE", scanned(d))
    assert [e.image.digest for e in run([w], [unread], [f], [covered(d)]).images] == [d]
    hidden = run([w], [unread], [f], [covered(d)], filters=Filters(min_severity="HIGH"))
    assert (hidden.images, hidden.unscanned) == ((), ())  # filtered by the user, not unknown
