"""The pure side of enable-scanning: filter validation, the merge/replace plan, the diff, the backup document."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrwatch.errors import UsageError
from ecrwatch.scanning import (
    ACTIVATE,
    BACKUP_FORMAT,
    BASIC,
    CONTINUOUS,
    DISABLED,
    ENABLED,
    ENABLING,
    ENHANCED,
    MANUAL,
    ON_PUSH,
    PUT_RULES,
    SET_RESCAN,
    WAIT,
    BackupError,
    ConfigurationShapeError,
    EnableRequest,
    InspectorEcr,
    RegionState,
    RegistryScanning,
    RescanSettings,
    ScanRule,
    build_backup,
    enable_request,
    filter_problem,
    parse_backup,
    plan_enable,
    plan_restore,
    planned_steps,
    refuse_unallowed_deactivations,
    registry_from_api,
    registry_to_api,
    rule_diffs,
    scan_switch,
    select_backup_regions,
    validate_filters,
)

ECR_PATTERN = re.compile(r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$")
DEFAULT_RESCAN = RescanSettings("DAYS_14", "DAYS_14", "LAST_IN_USE_AT")


def state(
    scan_type: str = ENHANCED,
    rules: tuple[ScanRule, ...] = (),
    status: str = ENABLED,
    rescan: RescanSettings = DEFAULT_RESCAN,
    region: str = "us-east-1",
) -> RegionState:
    return RegionState(region, RegistryScanning(scan_type, rules), InspectorEcr(status, rescan))


def continuous(*filters: str) -> EnableRequest:
    return EnableRequest(CONTINUOUS, filters)


# --- filters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["*", "prod", "prod-*", "team/api", "a.b_c-d/e*", "*prod*", "a" * 255, "0x"])
def test_valid_filters_pass(pattern: str) -> None:
    assert filter_problem(pattern) is None
    assert validate_filters([pattern], CONTINUOUS) == (pattern,)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("", "empty"),
        ("Prod-*", "upper-case"),
        ("prod api", "characters a filter cannot have: ' '"),
        ("prod!", "'!'"),
        ("-prod", "starts with '-'"),
        ("/team", "starts with '/'"),
        ("prod-", "ends with '-'"),
        ("team/", "ends with '/'"),
        ("a--b", "two separators"),
        ("a/-b", "two separators"),
        ("a" * 256, "256 characters long; the limit is 255"),
    ],
)
def test_each_invalid_filter_form_is_named_with_its_rule(pattern: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_filters(["ok-*", pattern], ON_PUSH)
    message = caught.value.message
    assert repr(pattern) in message
    assert "on-push rule (SCAN_ON_PUSH)" in message
    assert reason in message
    assert "ok-*" not in message  # only the bad one is named
    assert caught.value.exit_status == 2


def test_every_bad_filter_is_reported_at_once() -> None:
    with pytest.raises(UsageError) as caught:
        validate_filters(["Bad", "also bad", "fine"], CONTINUOUS)
    assert "'Bad'" in caught.value.message and "'also bad'" in caught.value.message


@given(st.text(alphabet="abz09*._-/ A!", max_size=12))
def test_filter_problem_agrees_with_ecrs_pattern(pattern: str) -> None:
    accepted = filter_problem(pattern) is None
    assert accepted == bool(ECR_PATTERN.match(pattern) and 1 <= len(pattern) <= 255)


def test_more_than_100_filters_a_rule_is_refused_but_duplicates_count_once() -> None:
    many = [f"repo-{i}" for i in range(101)]
    with pytest.raises(UsageError, match="101 filters for the continuous rule"):
        validate_filters(many, CONTINUOUS)
    assert validate_filters(["a"] * 150 + ["b"], CONTINUOUS) == ("a", "b")


def test_enable_request_defaults_to_continuous_star_and_maps_option_spellings() -> None:
    assert enable_request(None, ()) == EnableRequest(CONTINUOUS, ("*",))
    request = enable_request("on-push", ("x",), "lifetime", "30d", replace=True)
    assert request == EnableRequest(ON_PUSH, ("x",), "LIFETIME", "DAYS_30", True)


# --- the plan -----------------------------------------------------------------------------------------


def test_merge_keeps_the_other_rule_and_existing_filters() -> None:
    before = state(rules=(ScanRule(ON_PUSH, ("prod-*", "team/api")), ScanRule(CONTINUOUS, ("payments",))))
    plan = plan_enable(before, continuous("*", "payments"))
    assert plan.registry == RegistryScanning(
        ENHANCED, (ScanRule(ON_PUSH, ("prod-*", "team/api")), ScanRule(CONTINUOUS, ("payments", "*")))
    )
    assert plan.registry_changed and not plan.activate_inspector
    (cont, push) = rule_diffs(before.registry, plan.registry)
    assert (cont.frequency, cont.kept, cont.added, cont.removed) == (CONTINUOUS, ("payments",), ("*",), ())
    assert (push.status, push.kept) == ("unchanged", ("prod-*", "team/api"))
    assert any("'*' matches every repository" in note for note in plan.notes)


def test_on_push_filters_go_into_the_on_push_rule() -> None:
    before = state(rules=(ScanRule(CONTINUOUS, ("*",)),))
    plan = plan_enable(before, EnableRequest(ON_PUSH, ("legacy-*",)))
    assert plan.registry.rules == (ScanRule(CONTINUOUS, ("*",)), ScanRule(ON_PUSH, ("legacy-*",)))


def test_basic_registry_becomes_enhanced_keeping_its_scan_on_push_rule_and_says_what_that_means() -> None:
    before = state(BASIC, (ScanRule(ON_PUSH, ("shop/*",)),), status=DISABLED)
    plan = plan_enable(before, continuous("*"))
    assert plan.registry == RegistryScanning(ENHANCED, (ScanRule(ON_PUSH, ("shop/*",)), ScanRule(CONTINUOUS, ("*",))))
    assert plan.activate_inspector and plan.wait_for_inspector
    notes = " ".join(plan.notes)
    assert "BASIC -> ENHANCED" in notes
    assert "no longer scanned at all" in notes
    assert "one Inspector scan at push" in notes


def test_a_basic_manual_rule_is_dropped_with_a_note_since_enhanced_has_no_manual_frequency() -> None:
    before = state(BASIC, (ScanRule(MANUAL, ("old",)), ScanRule(ON_PUSH, ("a",))), status=DISABLED)
    plan = plan_enable(before, continuous("*"))
    assert [r.frequency for r in plan.registry.rules] == [ON_PUSH, CONTINUOUS]
    assert any("manual rule (MANUAL)" in note and "dropped" in note for note in plan.notes)
    assert next(d for d in rule_diffs(before.registry, plan.registry) if d.frequency == MANUAL).removed == ("old",)


def test_replace_replaces_both_rules_and_says_so() -> None:
    before = state(rules=(ScanRule(ON_PUSH, ("a",)), ScanRule(CONTINUOUS, ("b",))))
    plan = plan_enable(before, EnableRequest(CONTINUOUS, ("c-*",), replace=True))
    assert plan.registry.rules == (ScanRule(CONTINUOUS, ("c-*",)),)
    assert any("--replace" in note for note in plan.notes)
    removed = {d.frequency: d.removed for d in rule_diffs(before.registry, plan.registry)}
    assert removed == {CONTINUOUS: ("b",), ON_PUSH: ("a",)}


def test_the_filter_limit_counts_the_merged_rule() -> None:
    before = state(rules=(ScanRule(CONTINUOUS, tuple(f"r{i}" for i in range(99))),))
    with pytest.raises(UsageError) as caught:
        plan_enable(before, continuous("x", "y"))
    assert "us-east-1" in caught.value.message and "101 filters" in caught.value.message
    assert "continuous rule" in caught.value.message


def test_an_identical_request_plans_no_change_even_when_ecr_reorders() -> None:
    before = state(rules=(ScanRule(CONTINUOUS, ("b", "*")), ScanRule(ON_PUSH, ("p",))))
    plan = plan_enable(before, continuous("*", "b"))
    assert not plan.changed
    assert planned_steps(plan) == ()


def test_inspector_enabling_is_waited_for_but_not_enabled_again() -> None:
    plan = plan_enable(state(status=ENABLING, rules=(ScanRule(CONTINUOUS, ("*",)),)), continuous("*"))
    assert not plan.activate_inspector and plan.wait_for_inspector and plan.changed
    assert [s.action for s in planned_steps(plan)] == [WAIT]


def test_steps_run_inspector_first_then_rules_then_durations() -> None:
    plan = plan_enable(state(BASIC, status=DISABLED), EnableRequest(CONTINUOUS, ("*",), "DAYS_30"))
    assert [s.action for s in planned_steps(plan)] == [ACTIVATE, WAIT, PUT_RULES, SET_RESCAN]


def test_pull_duration_alone_carries_the_current_push_duration_and_mode() -> None:
    plan = plan_enable(state(), EnableRequest(CONTINUOUS, ("*",), None, "DAYS_90"))
    assert plan.rescan == RescanSettings("DAYS_14", "DAYS_90", "LAST_IN_USE_AT")
    same = plan_enable(state(), EnableRequest(CONTINUOUS, ("*",), "DAYS_14", "DAYS_14"))
    assert same.rescan is None


def test_pull_duration_alone_without_any_known_push_duration_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--rescan-duration"):
        plan_enable(state(rescan=RescanSettings()), EnableRequest(CONTINUOUS, ("*",), None, "DAYS_90"))


def test_restoring_basic_where_inspector_scans_is_a_deactivation_refused_unless_allowed() -> None:
    saved = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=DISABLED, rescan=RescanSettings("DAYS_90"))
    now = state(ENHANCED, (ScanRule(ON_PUSH, ("a",)), ScanRule(CONTINUOUS, ("*",))), status=ENABLED)
    plan = plan_restore(now, saved)
    assert plan.registry == saved.registry  # BASIC stays BASIC
    assert plan.deactivate_inspector and not plan.deactivation_allowed and not plan.activate_inspector
    assert any("deletes its ECR findings" in n for n in plan.notes)
    assert any("refused" in n and "--allow-deactivation" in n for n in plan.notes)
    with pytest.raises(UsageError, match="deactivates Amazon Inspector's ECR scanning") as refused:
        refuse_unallowed_deactivations([plan])
    assert "--allow-deactivation" in (refused.value.hint or "")

    allowed = plan_restore(now, saved, allow_deactivation=True)
    refuse_unallowed_deactivations([allowed])  # no error
    # Durations while Inspector is still on, then BASIC (which deactivates it), then wait for DISABLED.
    steps = planned_steps(allowed)
    assert [(s.action, s.until) for s in steps] == [(SET_RESCAN, ENABLED), (PUT_RULES, ENABLED), (WAIT, DISABLED)]
    assert "deactivates" in steps[1].description and "findings" in steps[2].description
    assert allowed.rescan == RescanSettings("DAYS_90", "DAYS_14", "LAST_IN_USE_AT")


def test_restoring_basic_rules_where_inspector_is_off_is_no_deactivation() -> None:
    saved = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=DISABLED)
    for now in (state(BASIC, status=DISABLED), state(ENHANCED, status=DISABLED)):
        plan = plan_restore(now, saved)
        assert not plan.deactivate_inspector and plan.registry_changed
        refuse_unallowed_deactivations([plan])
        assert [s.action for s in planned_steps(plan)] == [PUT_RULES]


def test_a_basic_registry_already_as_saved_leaves_inspector_on_and_prints_the_command() -> None:
    saved = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=DISABLED)
    now = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=ENABLED)
    plan = plan_restore(now, saved)
    assert not plan.deactivate_inspector and plan.leave_inspector_enabled and not plan.changed
    assert any("aws inspector2 disable --resource-types ECR --region us-east-1" in n for n in plan.notes)


def test_a_basic_backup_never_activates_inspector_even_if_it_said_enabled() -> None:
    saved = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=ENABLED)
    plan = plan_restore(state(BASIC, status=DISABLED), saved)
    assert not plan.activate_inspector and not plan.wait_for_inspector
    assert any("Inspector is not activated" in n for n in plan.notes)


def test_an_enhanced_backup_activates_inspector_even_if_it_said_disabled() -> None:
    # Writing ENHANCED activates Inspector on AWS anyway: the plan says so and waits for it.
    saved = state(ENHANCED, (ScanRule(CONTINUOUS, ("*",)),), status=DISABLED)
    plan = plan_restore(state(BASIC, status=DISABLED), saved)
    assert plan.activate_inspector and plan.wait_for_inspector and not plan.deactivate_inspector
    assert [s.action for s in planned_steps(plan)][:2] == [ACTIVATE, WAIT]


@pytest.mark.parametrize(
    ("scan_type", "status", "expected"),
    [
        # Inspector's guide: activating ECR scanning makes the registry ENHANCED, deactivating makes it BASIC.
        (ENHANCED, ENABLED, "on"),
        (BASIC, DISABLED, "off"),
        (BASIC, "SUSPENDED", "off"),
        (BASIC, ENABLING, "activating"),
        (ENHANCED, ENABLING, "activating"),
        (ENHANCED, "DISABLING", "deactivating"),
        (BASIC, "DISABLING", "deactivating"),
        (ENHANCED, DISABLED, "enhanced_without_inspector"),
        (ENHANCED, "SUSPENDED", "enhanced_without_inspector"),
        (BASIC, ENABLED, "inspector_without_enhanced"),
    ],
)
def test_scan_switch_says_whether_registry_and_inspector_agree(scan_type: str, status: str, expected: str) -> None:
    switch = scan_switch(state(scan_type, status=status))
    assert switch.state == expected
    assert switch.consistent == (expected in ("on", "off"))
    assert (switch.detail is None) == switch.consistent


def test_restore_activates_inspector_where_the_backup_had_it_on() -> None:
    saved = state(rules=(ScanRule(CONTINUOUS, ("*",)),), status=ENABLED)
    plan = plan_restore(state(BASIC, status=DISABLED), saved)
    assert plan.activate_inspector and plan.wait_for_inspector


def test_restore_of_the_current_state_is_no_change() -> None:
    current = state(rules=(ScanRule(CONTINUOUS, ("*",)),))
    assert not plan_restore(current, current).changed


# --- API shapes and the backup ------------------------------------------------------------------------


def test_registry_shape_round_trips_and_unknown_values_are_refused_not_rewritten() -> None:
    api = {
        "scanType": "ENHANCED",
        "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "a*", "filterType": "WILDCARD"}]}],
    }
    assert registry_to_api(registry_from_api(api)) == api
    assert registry_from_api({}) == RegistryScanning(BASIC, ())
    with pytest.raises(ConfigurationShapeError, match="filterType"):
        registry_from_api({"scanType": "ENHANCED", "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [
            {"filter": "a", "filterType": "PREFIX"}]}]})  # fmt: skip
    with pytest.raises(ConfigurationShapeError, match="scanFrequency"):
        registry_from_api({"scanType": "ENHANCED", "rules": [{"scanFrequency": "DAILY", "repositoryFilters": []}]})


def test_backup_document_has_the_designed_shape() -> None:
    one = state(BASIC, (ScanRule(ON_PUSH, ("a",)),), status=DISABLED, rescan=RescanSettings("DAYS_90"))
    doc = build_backup([one], "123456789012", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert doc == {
        "format": "ecrwatch-scanning-backup/1",
        "taken_at": "2026-01-02T03:04:05Z",
        "account": "123456789012",
        "regions": {
            "us-east-1": {
                "registry_scanning": {
                    "scanType": "BASIC",
                    "rules": [
                        {
                            "scanFrequency": "SCAN_ON_PUSH",
                            "repositoryFilters": [{"filter": "a", "filterType": "WILDCARD"}],
                        }
                    ],
                },
                "inspector_ecr": {
                    "status": "DISABLED",
                    "rescanDuration": "DAYS_90",
                    "pullDateRescanDuration": None,
                    "pullDateRescanMode": None,
                },
            }
        },
    }


rule_strategy = st.builds(
    ScanRule,
    st.sampled_from([CONTINUOUS, ON_PUSH]),
    st.lists(st.from_regex(r"[a-z0-9*]{1,4}(?:[._/-][a-z0-9*]{1,4}){0,2}", fullmatch=True), max_size=4).map(tuple),
)
state_strategy = st.builds(
    state,
    st.just(ENHANCED),
    st.lists(rule_strategy, max_size=2).map(tuple),
    st.sampled_from([ENABLED, DISABLED, ENABLING]),
    st.builds(
        RescanSettings,
        st.sampled_from([None, "LIFETIME", "DAYS_30"]),
        st.sampled_from([None, "DAYS_180"]),
        st.sampled_from([None, "LAST_PULL_DATE"]),
    ),
    st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
)


@given(st.lists(state_strategy, min_size=1, max_size=3, unique_by=lambda s: s.region))
def test_backup_round_trips_through_json(states: list[RegionState]) -> None:
    text = json.dumps(build_backup(states, "123456789012"))
    backup = parse_backup(json.loads(text), "b.json")
    assert backup.regions == tuple(states)
    assert backup.account == "123456789012"


def _doc() -> dict:  # type: ignore[type-arg]
    return build_backup([state(rules=(ScanRule(CONTINUOUS, ("*",)),))], "123456789012")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: d.update(format="something/2"), "format is 'something/2'"),
        (lambda d: d.update(regions={}), "regions is missing or empty"),
        (lambda d: d.update(account="12"), "12-digit"),
        (lambda d: d["regions"].update({"mars-1": d["regions"]["us-east-1"]}), "'mars-1' is not an AWS region"),
        (lambda d: d["regions"]["us-east-1"]["registry_scanning"].update(scanType="FANCY"), "scanType is 'FANCY'"),
        (
            lambda d: d["regions"]["us-east-1"]["registry_scanning"]["rules"][0]["repositoryFilters"][0].update(
                filter="Bad"
            ),
            "filter 'Bad' is not a valid ECR filter",
        ),
        (
            lambda d: d["regions"]["us-east-1"]["registry_scanning"]["rules"][0].update(scanFrequency="MANUAL"),
            "scanFrequency is 'MANUAL'",  # MANUAL exists only for BASIC registries
        ),
        (lambda d: d["regions"]["us-east-1"]["inspector_ecr"].update(rescanDuration="DAYS_1"), "rescanDuration"),
        (lambda d: d["regions"]["us-east-1"].pop("inspector_ecr"), "inspector_ecr is missing"),
    ],
)
def test_a_damaged_backup_is_refused_saying_where(damage, expected: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc()
    damage(doc)
    with pytest.raises(BackupError) as caught:
        parse_backup(doc, "b.json")
    assert expected in caught.value.message and "b.json" in caught.value.message
    assert caught.value.exit_status == 2


def test_not_a_backup_at_all_is_refused() -> None:
    with pytest.raises(BackupError, match="not an ecrwatch scanning backup"):
        parse_backup([1, 2], "x.json")
    assert BACKUP_FORMAT == "ecrwatch-scanning-backup/1"


def test_restore_regions_are_narrowed_by_region_and_an_absent_one_is_refused() -> None:
    doc = build_backup([state(region="us-east-1"), state(region="eu-west-1")], None)
    backup = parse_backup(doc, "b.json")
    assert [r.region for r in select_backup_regions(backup, ["eu-west-1"]).regions] == ["eu-west-1"]
    assert select_backup_regions(backup, []).regions == backup.regions
    with pytest.raises(BackupError, match=r"b\.json has no configuration for ap-south-1"):
        select_backup_regions(backup, ["ap-south-1"])
