"""The state between runs: workload identities, the file (round trip, refusals), the lock, and the diff rules
(new, resolved with its reason, carried when the run has no evidence), run through the real join."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conftest import valid_report
from ecrwatch.check import CheckRequest, CheckRun
from ecrwatch.correlate import correlate, ecr_key
from ecrwatch.models import (
    ClusterScope,
    Coverage,
    Filters,
    Finding,
    FindingsResult,
    Inventory,
    Owner,
    PlatformManifest,
    ResolvedImage,
    ScannedImage,
    SourceError,
    Workload,
)
from ecrwatch.report.json import render_json
from ecrwatch.report.table import render_table
from ecrwatch.state import (
    RunScope,
    State,
    StateBusyError,
    StateFileError,
    StateLock,
    diff_state,
    mark_report,
    only_new,
    parse_state,
    render_state,
    workload_identity,
)
from factories import ACCOUNT, REGION, digest, ecr_uri, ecs_workload, image_info, k8s_workload
from factories import finding as make_finding

NOW = "2025-01-02T03:04:05Z"
API, WEB = digest("api"), digest("web")


def api_task(task: str, *, service: str | None = "api", cluster: str = "prod", running: str = API) -> Workload:
    return ecs_workload(
        image_reference=ecr_uri("team/api", tag="v1"),
        running_digest=running,
        cluster=cluster,
        service=service,
        task_id=task,
    )


def web_task(task: str, *, cluster: str = "prod") -> Workload:
    return ecs_workload(
        image_reference=ecr_uri("team/web", tag="v1"), running_digest=WEB, cluster=cluster, service="web", task_id=task
    )


def cve(vulnerability_id: str, repository: str = "team/api", digest_: str = API, severity: str = "HIGH") -> Finding:
    return make_finding(vulnerability_id, severity, image_info(repository, digest_))


def check_run(
    workloads: Sequence[Workload],
    findings: Sequence[Finding],
    *,
    clusters: Sequence[str] = ("prod", "batch"),
    unread: Sequence[str] = (),
    errors: Sequence[SourceError] = (),
    filters: Filters | None = None,
    unresolved: Sequence[Workload] = (),
    lapsed: Mapping[str, str] | None = None,
) -> CheckRun:
    """What check_run would return for these workloads and findings: ECR resolves every workload's digest as a
    manifest (except `unresolved`: ECR could not be asked), every image is scanned and monitored, except the
    digests of `lapsed`, whose coverage gives the reason Inspector stopped monitoring them."""
    resolved = {}
    for w in workloads:
        key = ecr_key(w)
        assert key is not None
        kind = "unknown" if w in unresolved else "manifest"
        resolved[key] = ResolvedImage(key, kind, key.digest if kind == "manifest" else None)
    scanned = {ScannedImage(k.account, k.region, k.repository, r.digest) for k, r in resolved.items() if r.digest}
    inventory = Inventory(
        workloads=tuple(workloads),
        clusters=tuple(ClusterScope("ecs", c, None, REGION, c not in unread) for c in clusters),
        errors=tuple(errors)
        + tuple(SourceError(f"ecs:{REGION}/{c}", "denied", "AccessDeniedException") for c in unread),
    )
    lapsed = lapsed or {}
    coverage = tuple(
        Coverage(s, "INACTIVE", lapsed[s.digest]) if s.digest in lapsed else Coverage(s, "ACTIVE", "SUCCESSFUL")
        for s in scanned
    )
    report = correlate(
        inventory,
        resolved,
        FindingsResult(tuple(findings), coverage),
        filters=filters or Filters(),
        accounts=[ACCOUNT],
        regions=[REGION],
        generated_at=NOW,
        tool_version="test",
    )
    return CheckRun(report, inventory, resolved, {c.image: c for c in coverage})


def scope(run: CheckRun, **request: Any) -> RunScope:
    return RunScope.of(run.report, CheckRequest(regions=(REGION,), **request))


def diff(previous: State | None, run: CheckRun, **request: Any) -> Any:
    return diff_state(previous, run, scope(run, **request), now=NOW)


def reasons(result: Any) -> list[tuple[str, str | None, list[str]]]:
    return [(r.vulnerability_id, r.reason, [w.service or w.task_arn for w in r.workloads]) for r in result.resolved]


# --- identities --------------------------------------------------------------------------------------------


def test_tasks_of_one_service_are_one_workload_and_standalone_tasks_one_per_group() -> None:
    assert workload_identity(api_task("a" * 32)) == workload_identity(api_task("b" * 32))
    assert workload_identity(api_task("a" * 32)) != workload_identity(api_task("a" * 32, cluster="other"))
    assert workload_identity(api_task("a" * 32)) != workload_identity(api_task("a" * 32)._replace(container="sidecar"))
    # A scheduled task: each run is a new task, in the same group (its family, unless RunTask named another).
    tonight, tomorrow = (api_task(t, service=None)._replace(task_group="family:nightly") for t in ("a" * 32, "b" * 32))
    assert workload_identity(tonight) == workload_identity(tomorrow)
    assert workload_identity(tonight) != workload_identity(tomorrow._replace(task_group="family:hourly"))
    assert workload_identity(tonight) != workload_identity(api_task("a" * 32))  # not the service of that name
    # A task that reports no group has nothing stabler than its own id.
    assert workload_identity(api_task("a" * 32, service=None)) != workload_identity(api_task("b" * 32, service=None))


def test_pods_of_one_deployment_are_one_workload_and_bare_pods_their_own() -> None:
    deployment = Owner("Deployment", "web")
    one = k8s_workload(pod="web-5d9f-abcde", owner=deployment)
    other = k8s_workload(pod="web-77aa-fghij", owner=deployment)
    assert workload_identity(one) == workload_identity(other)
    assert workload_identity(one) != workload_identity(one._replace(namespace="staging"))
    assert workload_identity(k8s_workload(pod="debug-1")) != workload_identity(k8s_workload(pod="debug-2"))


# --- new ---------------------------------------------------------------------------------------------------


def test_a_first_run_finds_everything_new_and_a_second_nothing() -> None:
    run = check_run([api_task("1" * 32), web_task("2" * 32)], [cve("CVE-1"), cve("CVE-2", "team/web", WEB)])
    first = diff(None, run)
    assert len(first.new) == 2 and first.resolved == ()
    second = diff(first.state, run)
    assert second.new == frozenset() and second.resolved == ()


def test_a_new_service_running_a_known_vulnerable_digest_makes_its_exposure_new() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    canary = api_task("3" * 32, service="api-canary")
    second = diff(first.state, check_run([api_task("1" * 32), canary], [cve("CVE-1")]))
    assert len(second.new) == 1


def test_new_flags_and_new_only_follow_the_diff() -> None:
    first = diff(None, check_run([api_task("1" * 32), web_task("2" * 32)], [cve("CVE-1")]))
    run = check_run([api_task("1" * 32), web_task("2" * 32)], [cve("CVE-1"), cve("CVE-2", "team/web", WEB, "LOW")])
    result = diff(first.state, run)
    marked = mark_report(run.report, result)
    assert {e.finding.vulnerability_id: e.new for e in marked.exposures} == {"CVE-1": False, "CVE-2": True}
    only = only_new(marked, run.resolved)
    assert [e.finding.vulnerability_id for e in only.exposures] == ["CVE-2"]
    assert [e.image.digest for e in only.images] == [WEB]
    assert (only.summary.exposures, only.summary.vulnerable_running_images) == (1, 1)
    assert only.summary.by_severity["LOW"] == 1 and only.summary.by_severity["HIGH"] == 0
    assert only.summary.running_containers == run.report.summary.running_containers


# --- resolved and carried ----------------------------------------------------------------------------------


def test_one_service_moving_off_a_digest_resolves_its_workload_only() -> None:
    canary = api_task("3" * 32, service="api-canary")
    first = diff(None, check_run([api_task("1" * 32), canary], [cve("CVE-1")]))
    fixed = api_task("4" * 32, running=digest("api-fixed"))
    second = diff(first.state, check_run([fixed, canary], [cve("CVE-1")]))
    assert reasons(second) == [("CVE-1", "no_longer_running", ["api"])]
    assert second.new == frozenset()
    (kept,) = second.state.exposures.values()
    assert len(kept.workloads) == 1


def index_run(architecture: str | None) -> CheckRun:
    """One web task on a multi-arch index with an arm64-only finding, running on `architecture`."""
    index, amd, arm = digest("web index"), digest("web amd64"), digest("web arm64")
    task = web_task("1" * 32)._replace(running_digest=index, architecture=architecture)
    key = ecr_key(task)
    assert key is not None
    children = (PlatformManifest(amd, "linux/amd64"), PlatformManifest(arm, "linux/arm64"))
    resolved = {key: ResolvedImage(key, "index", index, children)}
    coverage = tuple(Coverage(ScannedImage(ACCOUNT, REGION, "team/web", d), "ACTIVE", "SUCCESSFUL") for d in (amd, arm))
    inventory = Inventory(workloads=(task,), clusters=(ClusterScope("ecs", "prod", None, REGION, True),))
    report = correlate(
        inventory,
        resolved,
        FindingsResult((cve("CVE-ARM", "team/web", arm),), coverage),
        filters=Filters(),
        accounts=[ACCOUNT],
        regions=[REGION],
        generated_at=NOW,
        tool_version="test",
    )
    return CheckRun(report, inventory, resolved, {c.image: c for c in coverage})


def test_a_task_no_longer_charged_with_another_platform_s_finding_is_not_told_it_was_fixed() -> None:
    # Before its architecture was known, the task was charged with every platform image of the index.
    before = diff(None, index_run(None))
    assert [e.vulnerability_id for e in before.state.exposures.values()] == ["CVE-ARM"]
    # Known to run amd64, it does not run the arm64 image: the finding is still open there, not closed.
    after = diff(before.state, index_run("amd64"))
    assert reasons(after) == [("CVE-ARM", "no_longer_running", ["web"])]
    assert after.state.exposures == {}


def test_a_cluster_that_could_not_be_read_keeps_its_exposures_and_resolves_nothing() -> None:
    batch = api_task("5" * 32, cluster="batch", service="jobs")
    first = diff(None, check_run([api_task("1" * 32), batch], [cve("CVE-1")]))
    second = diff(first.state, check_run([api_task("1" * 32)], [cve("CVE-1")], unread=["batch"]))
    assert second.resolved == ()
    assert first.state.exposures.keys() == second.state.exposures.keys()
    assert next(iter(second.state.exposures.values())).workloads == next(iter(first.state.exposures.values())).workloads


def test_a_region_whose_listing_failed_keeps_all_its_clusters_exposures() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    failed = check_run([], [], clusters=(), errors=[SourceError(f"ecs:{REGION}", "denied", "AccessDeniedException")])
    second = diff(first.state, failed)
    assert second.resolved == () and second.state.exposures.keys() == first.state.exposures.keys()


def test_a_cluster_gone_from_a_full_listing_resolves_but_one_left_out_by_choice_does_not() -> None:
    first = diff(None, check_run([api_task("1" * 32, cluster="old")], [cve("CVE-1")], clusters=("old",)))
    run = check_run([], [], clusters=("prod",))
    assert reasons(diff(first.state, run)) == [("CVE-1", "no_longer_running", ["api"])]
    chosen = diff(first.state, run, ecs_clusters=("prod",))
    assert chosen.resolved == () and chosen.state.exposures.keys() == first.state.exposures.keys()


def test_a_workload_whose_digest_cannot_be_told_keeps_its_exposures() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    by_tag = ecs_workload(image_reference=ecr_uri("team/api", tag="v1"), running_digest=None, task_id="6" * 32)
    second = diff(first.state, check_run([by_tag], [cve("CVE-1")], unresolved=[by_tag]))
    assert second.resolved == () and second.state.exposures.keys() == first.state.exposures.keys()


def test_inspector_unread_in_the_images_region_resolves_nothing_that_still_runs() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    unread = SourceError(f"inspector2:{REGION}", "denied", "AccessDeniedException")
    second = diff(first.state, check_run([api_task("1" * 32)], [], errors=[unread]))
    assert second.resolved == () and second.state.exposures.keys() == first.state.exposures.keys()


def test_a_finding_no_longer_listed_is_closed_unless_a_filter_could_hide_it() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL"), cve("CVE-2")]))
    closed = diff(first.state, check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL")]))
    assert reasons(closed) == [("CVE-2", "finding_closed", ["api"])]
    # With --fixable-only, Inspector leaves out findings without a fix: a missing one may be re-scored, not closed.
    unsure = diff(
        first.state,
        check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL")]),
        filters=Filters(fixable_only=True),
    )
    assert reasons(unsure) == [("CVE-2", None, ["api"])]
    filtered = diff(
        first.state, check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL")]), filters=Filters("CRITICAL")
    )
    assert reasons(filtered) == [("CVE-2", "filtered", ["api"])]


@pytest.mark.parametrize(
    "inspector_reason", ["SCAN_ELIGIBILITY_EXPIRED", "IMAGE_ARCHIVED", "PENDING_DISABLE", "SCAN_FREQUENCY_SCAN_ON_PUSH"]
)
def test_a_finding_gone_with_inspectors_monitoring_is_not_called_fixed(inspector_reason: str) -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL"), cve("CVE-2")]))
    lapsed = check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL")], lapsed={API: inspector_reason})
    assert reasons(diff(first.state, lapsed)) == [("CVE-2", "no_longer_monitored", ["api"])]


def test_a_finding_gone_while_inspector_waits_to_revive_the_image_is_not_called_fixed() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL"), cve("CVE-2")]))
    run = check_run([api_task("1" * 32)], [cve("CVE-1", severity="CRITICAL")])
    reviving = replace(run, coverage={s: Coverage(s, "ACTIVE", "PENDING_REVIVAL_SCAN") for s in run.coverage})
    assert reasons(diff(first.state, reviving)) == [("CVE-2", "no_longer_monitored", ["api"])]


def test_a_finding_gone_from_an_image_inspector_has_no_record_of_cannot_be_told_fixed() -> None:
    first = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    run = check_run([api_task("1" * 32)], [])
    forgotten = replace(run, coverage={})  # e.g. ECR scanning deactivated: Inspector deleted findings and coverage
    assert reasons(diff(first.state, forgotten)) == [("CVE-1", None, ["api"])]


def test_event_mode_judges_only_the_events_finding() -> None:
    first = diff(
        None, check_run([api_task("1" * 32), web_task("2" * 32)], [cve("CVE-1"), cve("CVE-2", "team/web", WEB)])
    )
    event = cve("CVE-1")
    # Event mode: only the workloads running the event's image, and only the event's finding.
    run = check_run([api_task("1" * 32)], [event])
    result = diff(first.state, run, event_findings=(event,))
    assert result.resolved == () and result.new == frozenset()
    assert result.state.exposures.keys() == first.state.exposures.keys()
    stopped = diff(first.state, check_run([], []), event_findings=(event,))
    assert reasons(stopped) == [("CVE-1", "no_longer_running", ["api"])]
    assert len(stopped.state.exposures) == 1  # CVE-2 carried


# --- the file ----------------------------------------------------------------------------------------------


def test_the_state_file_round_trips_and_is_stable() -> None:
    deployment = k8s_workload(
        image_reference=ecr_uri("team/api", tag="v1"), running_digest=API, owner=Owner("Deployment", "api"), pod="api-1"
    )
    result = diff(None, check_run([api_task("1" * 32), deployment], [cve("CVE-1")]))
    text = render_state(result.state, written_at=NOW, tool_version="test")
    loaded = parse_state(text, "s.json")
    assert render_state(loaded, written_at=NOW, tool_version="test") == text
    assert json.loads(text)["format"] == "ecrwatch-state/1"
    (image,) = loaded.images.values()
    assert {w.workload for w in image.workloads.values()} == {api_task("1" * 32), deployment}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.pop("images"), "images is missing"),
        (lambda d: d["exposures"][0].update(image="elsewhere"), "names no image of the file"),
        (lambda d: d["exposures"][0].update(workloads=["nobody"]), "does not list"),
        (lambda d: d["images"][0]["workloads"][0]["workload"].update(platform="nomad"), "platform 'nomad'"),
        (
            lambda d: d["images"][0]["workloads"][0]["workload"].update(image_reference="team/app:bad tag"),
            "image_reference",
        ),
        (lambda d: d["images"][0]["image"].update(digest=None), "digest is missing"),
    ],
)
def test_a_damaged_state_file_says_where(change: Any, says: str) -> None:
    result = diff(None, check_run([api_task("1" * 32)], [cve("CVE-1")]))
    data = json.loads(render_state(result.state, written_at=NOW, tool_version="test"))
    change(data)
    with pytest.raises(StateFileError) as raised:
        parse_state(json.dumps(data), "s.json")
    assert "state file s.json is damaged" in raised.value.message and says in raised.value.message
    assert raised.value.exit_status == 2


# --- the lock ----------------------------------------------------------------------------------------------


def test_the_lock_waits_for_its_holder_and_gives_up_after_the_wait(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with StateLock(state, 0):
        started = time.monotonic()
        with pytest.raises(StateBusyError) as raised, StateLock(state, 0.3, poll=0.05):
            pass
        assert time.monotonic() - started >= 0.3
        assert str(state) in raised.value.message and raised.value.exit_status == 3

    holder = open(f"{state}.lock", "a+")  # noqa: SIM115 - released from another thread
    fcntl.flock(holder, fcntl.LOCK_EX)
    threading.Timer(0.2, holder.close).start()
    with StateLock(state, 5, poll=0.05):  # the holder lets go within the wait
        pass


# --- the report ------------------------------------------------------------------------------------------


def test_a_report_with_resolved_exposures_is_valid_and_shown_to_a_person() -> None:
    first = diff(
        None, check_run([api_task("1" * 32), web_task("2" * 32)], [cve("CVE-1"), cve("CVE-2", "team/web", WEB)])
    )
    run = check_run([api_task("1" * 32)], [cve("CVE-1")])
    report = mark_report(run.report, diff(first.state, run))
    document = json.loads(render_json(report))
    valid_report(document)
    (resolved,) = document["resolved"]
    assert (resolved["vulnerability_id"], resolved["reason"], resolved["severity"]) == (
        "CVE-2",
        "no_longer_running",
        "HIGH",
    )
    assert resolved["workloads"][0]["service"] == "web"
    console = Console(width=120, record=True, force_terminal=False)
    render_table(report, console)
    text = console.export_text()
    assert (
        "Resolved since the previous run (1)" in text and "no longer running" in text and "ecs prod service web" in text
    )
