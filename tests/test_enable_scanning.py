"""`ecrwatch enable-scanning` end to end: the CLI, over HTTP, against the simulated ECR and Inspector2.

The call log proves what was and was not written; the configuration is always read back through boto3, as
a user would check it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from ecrwatch import registry as registry_api
from ecrwatch.aws import Aws
from ecrwatch.cli import main
from ecrwatch.errors import EcrwatchError
from ecrwatch.report import scanning as scanning_report
from ecrwatch.scanning import enable_request
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import SimAWS

REGION = "us-east-1"
WRITES = (
    ("ecr", "PutRegistryScanningConfiguration"),
    ("inspector2", "Enable"),
    ("inspector2", "UpdateConfiguration"),
    ("inspector2", "Disable"),
)
FAST = ("--poll-interval", "0.01", "--wait-timeout", "10")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["enable-scanning", *args], input=input)


def writes(sim: SimAWS) -> int:
    return sum(sim.calls.count(service, operation) for service, operation in WRITES)


def rule(frequency: str, *filters: str) -> dict[str, Any]:
    return {"scanFrequency": frequency, "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters]}


def seed_registry(scan_type: str, *rules: dict[str, Any], region: str = REGION) -> None:
    boto3.client("ecr", region_name=region).put_registry_scanning_configuration(scanType=scan_type, rules=list(rules))


def registry(region: str = REGION) -> dict[str, Any]:
    config: dict[str, Any] = boto3.client("ecr", region_name=region).get_registry_scanning_configuration()
    return config["scanningConfiguration"]


def rescan(region: str = REGION) -> dict[str, Any]:
    state = boto3.client("inspector2", region_name=region).get_configuration()["ecrConfiguration"]
    return {k: v for k, v in state["rescanDurationState"].items() if k not in ("updatedAt", "status")}


def inspector(sim: SimAWS) -> Inspector2Sim:
    return sim.extension(Inspector2Sim)


@pytest.fixture
def customer(sim_aws: SimAWS) -> SimAWS:
    """A registry with the customer's own rules: ENHANCED, on-push for prod-* and team/api; Inspector on."""
    seed_registry("ENHANCED", rule("SCAN_ON_PUSH", "prod-*", "team/api"))
    inspector(sim_aws).set_account_status(REGION, ecr="ENABLED")
    sim_aws.calls.clear()
    return sim_aws


def test_merge_keeps_the_other_rule_and_its_filters(customer: SimAWS) -> None:
    result = run("--filter", "app-*", "--filter", "*", "--yes")
    assert result.exit_code == 0, result.output
    assert registry() == {
        "scanType": "ENHANCED",
        "rules": [rule("SCAN_ON_PUSH", "prod-*", "team/api"), rule("CONTINUOUS_SCAN", "app-*", "*")],
    }
    assert customer.calls.count("ecr", "PutRegistryScanningConfiguration") == 1
    assert customer.calls.count("inspector2", "Enable") == 0  # already on
    assert "+ app-*" in result.stdout and "+ *" in result.stdout
    assert "      prod-*" in result.stdout  # kept, shown unmarked


def test_dry_run_shows_the_diff_and_writes_nothing(customer: SimAWS) -> None:
    result = run("--dry-run")
    assert result.exit_code == 0, result.output
    assert writes(customer) == 0
    assert "Planned change in us-east-1" in result.stdout
    assert "Continuous rule (CONTINUOUS_SCAN): new" in result.stdout and "+ *" in result.stdout
    assert "Dry run: 1 region(s) would change; nothing was written." in result.stdout
    assert registry()["rules"] == [rule("SCAN_ON_PUSH", "prod-*", "team/api")]


def test_a_second_identical_run_writes_nothing_and_says_so(sim_aws: SimAWS) -> None:
    assert run("--yes", "--filter", "team-*", *FAST).exit_code == 0
    first_writes = writes(sim_aws)
    assert first_writes >= 2  # Enable + Put (Inspector was off)
    again = run("--yes", "--filter", "team-*", *FAST)
    assert again.exit_code == 0, again.output
    assert writes(sim_aws) == first_writes
    assert "no change" in again.stdout and "nothing was written" in again.stdout


@pytest.mark.parametrize(
    "bad",
    ["", "Prod-*", "prod api", "prod!", "-prod", "prod-", "a--b", "a/-b", "a" * 256, "team//api", "ümlaut"],
)
def test_each_invalid_filter_is_refused_before_any_call(sim_aws: SimAWS, bad: str) -> None:
    result = run("--filter", "ok-*", "--filter", bad, "--frequency", "on-push", "--yes")
    assert result.exit_code == 2
    assert repr(bad) in result.stderr and "on-push rule (SCAN_ON_PUSH)" in result.stderr
    assert sim_aws.calls.records == []


def test_too_many_filters_for_the_merged_rule_is_refused_before_any_write(sim_aws: SimAWS) -> None:
    seed_registry("ENHANCED", rule("CONTINUOUS_SCAN", *(f"repo-{i}" for i in range(99))))
    inspector(sim_aws).set_account_status(REGION, ecr="ENABLED")
    result = run("--filter", "new-a", "--filter", "new-b", "--yes")
    assert result.exit_code == 2
    assert "101 filters" in result.stderr and "continuous rule" in result.stderr
    assert writes(sim_aws) == 1  # only the seeding put above
    assert len(registry()["rules"][0]["repositoryFilters"]) == 99


def test_without_a_terminal_and_without_yes_it_refuses_and_writes_nothing(customer: SimAWS) -> None:
    result = run()
    assert result.exit_code == 2
    assert "--yes" in result.stderr and "not a terminal" in result.stderr
    assert "Planned change in us-east-1" in result.stdout  # the plan is shown, so the user can review it
    assert writes(customer) == 0


def test_on_a_terminal_it_asks_and_no_means_nothing_is_written(
    customer: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanning_report, "stdin_is_terminal", lambda: True)
    declined = run(input="n\n")
    assert declined.exit_code == 0
    assert "Apply these changes to us-east-1?" in declined.stderr and "Cancelled" in declined.stderr
    assert writes(customer) == 0
    accepted = run(input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert registry()["rules"][-1] == rule("CONTINUOUS_SCAN", "*")


def test_basic_registry_to_enhanced_activates_inspector_and_keeps_the_basic_rule(sim_aws: SimAWS) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "shop/*"))
    sim_aws.calls.clear()
    result = run("--yes", *FAST)
    assert result.exit_code == 0, result.output
    assert registry() == {
        "scanType": "ENHANCED",
        "rules": [rule("SCAN_ON_PUSH", "shop/*"), rule("CONTINUOUS_SCAN", "*")],
    }
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"
    assert sim_aws.calls.count("inspector2", "Enable") == 1
    assert "Scan type                   BASIC -> ENHANCED" in result.stdout
    assert "BASIC -> ENHANCED: ECR's basic scanner stops" in result.stdout
    assert "DISABLED -> ENABLED" in result.stdout
    # Activation came first and was waited for; the rules were written only once it was ENABLED.
    operations = [r.operation for r in sim_aws.calls.records if r.operation != "GetCallerIdentity"]
    assert operations.index("Enable") < operations.index("PutRegistryScanningConfiguration")
    assert operations[operations.index("PutRegistryScanningConfiguration") - 1] == "BatchGetAccountStatus"


def test_inspector_already_enabling_is_waited_for_without_enabling_again(sim_aws: SimAWS) -> None:
    seed_registry("ENHANCED", rule("CONTINUOUS_SCAN", "*"))
    inspector(sim_aws).enable_after_polls = 3
    boto3.client("inspector2", region_name=REGION).enable(resourceTypes=["ECR"])  # someone else started it
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLING"
    sim_aws.calls.clear()
    result = run("--yes", "--wait-timeout", "10", *FAST)
    assert result.exit_code == 0, result.output
    assert sim_aws.calls.count("inspector2", "Enable") == 0
    assert sim_aws.calls.count("inspector2", "BatchGetAccountStatus") >= 2


def test_rescan_durations_are_set_through_inspector(customer: SimAWS) -> None:
    result = run("--yes", "--rescan-duration", "lifetime", "--pull-rescan-duration", "180d")
    assert result.exit_code == 0, result.output
    assert rescan() == {
        "rescanDuration": "LIFETIME",
        "pullDateRescanDuration": "DAYS_180",
        "pullDateRescanMode": "LAST_IN_USE_AT",
    }
    assert "DAYS_14 -> LIFETIME" in result.stdout


def test_replace_replaces_the_whole_rule_set(customer: SimAWS) -> None:
    result = run("--replace", "--filter", "only-*", "--yes")
    assert result.exit_code == 0, result.output
    assert registry()["rules"] == [rule("CONTINUOUS_SCAN", "only-*")]
    assert "- prod-*" in result.stdout and "- team/api" in result.stdout


def test_region_twice_configures_both_registries(sim_aws: SimAWS) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "eu-only"), region="eu-west-1")
    result = run("--region", "us-east-1", "--region", "eu-west-1", "--yes", *FAST)
    assert result.exit_code == 0, result.output
    assert registry("us-east-1")["rules"] == [rule("CONTINUOUS_SCAN", "*")]
    assert registry("eu-west-1")["rules"] == [rule("SCAN_ON_PUSH", "eu-only"), rule("CONTINUOUS_SCAN", "*")]
    for region in ("us-east-1", "eu-west-1"):
        assert inspector(sim_aws).ecr_status(region) == "ENABLED"
        assert sim_aws.calls.count("ecr", "PutRegistryScanningConfiguration", region) == 1 + (region == "eu-west-1")


# --- failures -----------------------------------------------------------------------------------------


def test_throttled_calls_succeed_after_retries(sim_aws: SimAWS) -> None:
    seed_registry("BASIC")
    sim_aws.calls.clear()
    sim_aws.faults.add("ecr", "GetRegistryScanningConfiguration", error="ThrottlingException", times=1)
    sim_aws.faults.add("inspector2", "Enable", error="ThrottlingException", status=429, times=1)
    sim_aws.faults.add("ecr", "PutRegistryScanningConfiguration", error="ThrottlingException", times=2)
    result = run("--yes", *FAST)
    assert result.exit_code == 0, result.output
    assert sim_aws.calls.count("ecr", "GetRegistryScanningConfiguration") == 2
    assert sim_aws.calls.count("ecr", "PutRegistryScanningConfiguration") == 3
    assert sim_aws.calls.count("inspector2", "Enable") == 2
    assert registry() == {"scanType": "ENHANCED", "rules": [rule("CONTINUOUS_SCAN", "*")]}


def test_throttling_beyond_retries_names_the_action_and_what_was_applied(sim_aws: SimAWS) -> None:
    seed_registry("ENHANCED", rule("SCAN_ON_PUSH", "keep-me"))
    sim_aws.faults.add("ecr", "PutRegistryScanningConfiguration", error="ThrottlingException")
    result = run("--yes", "--max-attempts", "2", *FAST)
    assert result.exit_code == 3
    assert "ecr:PutRegistryScanningConfiguration in us-east-1 failed with ThrottlingException" in result.stderr
    assert "throttled" in result.stderr
    # Writing ENHANCED in ECR had already started Inspector's activation: the plan only waited for it.
    assert "applied:\n  us-east-1: wait until Inspector scanning for ECR is ENABLED" in result.stderr
    assert sim_aws.calls.count("inspector2", "Enable") == 0
    assert registry()["rules"] == [rule("SCAN_ON_PUSH", "keep-me")]


def test_access_denied_on_the_ecr_write_names_the_permission_and_what_was_already_applied(
    sim_aws: SimAWS, tmp_path: Path
) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "shop/*"))
    sim_aws.faults.add("ecr", "PutRegistryScanningConfiguration", error="AccessDeniedException", status=403)
    backup = tmp_path / "before.json"
    result = run("--yes", "--rescan-duration", "30d", "--backup", str(backup), *FAST)
    assert result.exit_code == 3
    err = result.stderr
    assert "ecr:PutRegistryScanningConfiguration in us-east-1 failed with AccessDeniedException" in err
    assert "grant the IAM permission ecr:PutRegistryScanningConfiguration" in err
    applied, not_applied = err.split("not applied:")
    assert "us-east-1: activate Amazon Inspector scanning for ECR (inspector2:Enable)" in applied
    assert "us-east-1: wait until Inspector scanning for ECR is ENABLED" in applied
    assert "write the registry scanning configuration" in not_applied and "<- failed here" in not_applied
    assert "set the ECR rescan durations" in not_applied
    assert f"--restore {backup}" in err
    # What the message says is what happened; the activation alone made the registry ENHANCED (one switch on
    # AWS), keeping its on-push rule, and the rules ecrwatch meant to add were not written.
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"
    assert registry() == {"scanType": "ENHANCED", "rules": [rule("SCAN_ON_PUSH", "shop/*")]}
    assert sim_aws.calls.count("inspector2", "UpdateConfiguration") == 0


def test_interrupting_the_activation_wait_still_says_what_was_applied(sim_aws: SimAWS) -> None:
    inspector(sim_aws).enable_after_polls = 10_000
    aws = Aws()
    _, plans = registry_api.prepare_enable(aws, [REGION], enable_request(None, ()))

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    wait = registry_api.WaitSettings(timeout=60, poll_interval=1, sleep=interrupt)
    with pytest.raises(registry_api.ApplyError) as caught:
        registry_api.apply_plans(aws, plans, wait=wait)
    assert caught.value.exit_status == 3
    assert [s.action for s in caught.value.applied] == ["inspector2:Enable"]
    assert [s.action for s in caught.value.not_applied] == [
        "inspector2:BatchGetAccountStatus",
        "ecr:PutRegistryScanningConfiguration",
    ]
    assert "interrupted during: us-east-1: wait until Inspector" in caught.value.message
    assert sim_aws.calls.count("ecr", "PutRegistryScanningConfiguration") == 0


def test_an_unreadable_region_stops_everything_before_any_write(sim_aws: SimAWS) -> None:
    sim_aws.faults.add("ecr", "GetRegistryScanningConfiguration", region="eu-west-1", error="AccessDeniedException")
    result = run("--region", "us-east-1", "--region", "eu-west-1", "--yes")
    assert result.exit_code == 3
    assert "ecr:GetRegistryScanningConfiguration in eu-west-1" in result.stderr
    assert writes(sim_aws) == 0


def test_activation_that_does_not_finish_in_time_exits_3_saying_what_to_check(sim_aws: SimAWS) -> None:
    inspector(sim_aws).enable_after_polls = 10_000
    result = run("--yes", "--wait-timeout", "0.2", "--poll-interval", "0.01")
    assert result.exit_code == 3
    assert "us-east-1: Inspector scanning for ECR was still ENABLING after 0.2 s" in result.stderr
    assert "aws inspector2 batch-get-account-status --region us-east-1" in result.stderr
    assert "--wait-timeout" in result.stderr
    assert sim_aws.calls.count("ecr", "PutRegistryScanningConfiguration") == 0
    assert "not applied:" in result.stderr and "write the registry scanning configuration" in result.stderr


# --- backup and restore -------------------------------------------------------------------------------


def ecr_findings(region: str = REGION) -> int:
    image = [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}]
    client = boto3.client("inspector2", region_name=region)
    return len(client.list_findings(filterCriteria={"resourceType": image})["findings"])


def test_backup_then_restore_of_basic_is_a_deactivation_done_only_when_allowed(sim_aws: SimAWS, tmp_path: Path) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "shop/*", "platform/*"))
    inspector(sim_aws).set_ecr_configuration(
        REGION, rescan_duration="DAYS_90", pull_date_rescan_duration="DAYS_30", pull_date_rescan_mode="LAST_PULL_DATE"
    )
    original_registry, original_rescan = registry(), rescan()
    backup = tmp_path / "scanning-backup.json"

    changed = run(
        "--yes", "--backup", str(backup), "--rescan-duration", "lifetime", "--pull-rescan-duration", "14d", *FAST
    )
    assert changed.exit_code == 0, changed.output
    assert registry() != original_registry and rescan() != original_rescan
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"
    document = json.loads(backup.read_text())
    assert document["format"] == "ecrwatch-scanning-backup/1"
    assert document["account"] == "123456789012"
    assert document["regions"][REGION] == {
        "registry_scanning": original_registry,
        "inspector_ecr": {"status": "DISABLED", **original_rescan},
    }
    inspector(sim_aws).add_finding(
        REGION, repository="shop/web", digest="sha256:" + "a" * 64, vulnerability_id="CVE-2024-1", severity="HIGH"
    )
    enhanced_registry, enhanced_rescan = registry(), rescan()

    # Without the flag, with or without --dry-run: the plan says what would happen, exit 2, nothing written.
    for dry_run in ((), ("--dry-run",)):
        sim_aws.calls.clear()
        refused = run("--restore", str(backup), "--yes", *dry_run, *FAST)
        assert refused.exit_code == 2, refused.output
        assert "ENABLED -> DISABLED (DEACTIVATED by writing BASIC: its ECR findings are deleted" in refused.stdout
        assert "refused without --allow-deactivation" in refused.stdout
        assert "deactivates Amazon Inspector's ECR scanning" in refused.stderr
        assert "--allow-deactivation" in refused.stderr
        assert writes(sim_aws) == 0
    assert (registry(), rescan(), ecr_findings()) == (enhanced_registry, enhanced_rescan, 1)
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"

    sim_aws.calls.clear()
    previewed = run("--restore", str(backup), "--dry-run", "--allow-deactivation", *FAST)
    assert previewed.exit_code == 0, previewed.output
    assert "allowed by --allow-deactivation" in previewed.stdout and "Dry run" in previewed.stdout
    assert writes(sim_aws) == 0 and ecr_findings() == 1

    restored = run("--restore", str(backup), "--yes", "--allow-deactivation", *FAST)
    assert restored.exit_code == 0, restored.output
    assert "wait until Inspector scanning for ECR is DISABLED (its ECR findings and coverage are deleted)" in (
        restored.stdout
    )
    assert registry() == original_registry  # a BASIC registry is restored as BASIC
    assert rescan() == original_rescan
    assert inspector(sim_aws).ecr_status(REGION) == "DISABLED"
    assert ecr_findings() == 0

    again = run("--restore", str(backup), "--yes", *FAST)
    assert again.exit_code == 0, again.output
    assert "no change" in again.stdout


def test_a_refused_deactivation_writes_no_backup_so_the_same_command_can_be_rerun_with_the_flag(
    sim_aws: SimAWS, tmp_path: Path
) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "shop/*"))
    basic = tmp_path / "basic.json"
    assert run("--dry-run", "--backup", str(basic)).exit_code == 0
    assert run("--yes", *FAST).exit_code == 0
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"

    now = tmp_path / "now.json"
    refused = run("--restore", str(basic), "--backup", str(now), "--yes", *FAST)
    assert refused.exit_code == 2, refused.output
    assert not now.exists()
    allowed = run("--restore", str(basic), "--backup", str(now), "--yes", "--allow-deactivation", *FAST)
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(now.read_text())["regions"][REGION]["inspector_ecr"]["status"] == "ENABLED"
    assert registry() == {"scanType": "BASIC", "rules": [rule("SCAN_ON_PUSH", "shop/*")]}
    assert inspector(sim_aws).ecr_status(REGION) == "DISABLED"


def test_a_deactivation_that_does_not_finish_in_time_exits_3_saying_what_was_applied(
    sim_aws: SimAWS, tmp_path: Path
) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "shop/*"))
    basic = tmp_path / "basic.json"
    assert run("--dry-run", "--backup", str(basic)).exit_code == 0
    assert run("--yes", *FAST).exit_code == 0
    inspector(sim_aws).disable_after_polls = 10_000
    result = run(
        "--restore", str(basic), "--yes", "--allow-deactivation", "--wait-timeout", "0.2", "--poll-interval", "0.01"
    )
    assert result.exit_code == 3, result.output
    assert "us-east-1: Inspector scanning for ECR was still DISABLING after 0.2 s" in result.stderr
    applied, not_applied = result.stderr.split("not applied:")
    assert "this deactivates Inspector's ECR scanning (ecr:PutRegistryScanningConfiguration)" in applied
    assert "wait until Inspector scanning for ECR is DISABLED" in not_applied
    assert registry()["scanType"] == "BASIC"


def test_the_deactivation_wait_stops_when_inspector_is_activated_again(sim_aws: SimAWS) -> None:
    inspector(sim_aws).set_account_status(REGION, ecr="DISABLING")  # seeded: stays DISABLING until changed

    def someone_reactivates(_seconds: float) -> None:
        inspector(sim_aws).set_account_status(REGION, ecr="ENABLED")

    wait = registry_api.WaitSettings(timeout=60, poll_interval=1, sleep=someone_reactivates)
    with pytest.raises(EcrwatchError, match="went to ENABLED while ecrwatch waited for DISABLED") as caught:
        registry_api.wait_until_disabled(Aws(), REGION, wait)
    assert caught.value.exit_status == 3


def test_allow_deactivation_without_restore_is_refused_before_any_call(sim_aws: SimAWS) -> None:
    result = run("--allow-deactivation", "--yes")
    assert result.exit_code == 2
    assert "--allow-deactivation applies to --restore only" in result.stderr
    assert sim_aws.calls.records == []


def test_restore_of_an_enhanced_backup_activates_inspector_and_waits(sim_aws: SimAWS, tmp_path: Path) -> None:
    seed_registry("ENHANCED", rule("CONTINUOUS_SCAN", "prod-*"))
    inspector(sim_aws).set_account_status(REGION, ecr="ENABLED")
    backup = tmp_path / "enhanced.json"
    assert run("--dry-run", "--backup", str(backup)).exit_code == 0
    # Someone deactivates Inspector for ECR: the registry goes BASIC with it, and the findings go.
    boto3.client("inspector2", region_name=REGION).disable(resourceTypes=["ECR"])
    while inspector(sim_aws).ecr_status(REGION) != "DISABLED":
        boto3.client("inspector2", region_name=REGION).batch_get_account_status()
    assert registry()["scanType"] == "BASIC"

    restored = run("--restore", str(backup), "--yes", *FAST)
    assert restored.exit_code == 0, restored.output
    assert "DISABLED -> ENABLED (activate, then wait until enabled)" in restored.stdout
    assert inspector(sim_aws).ecr_status(REGION) == "ENABLED"
    assert registry() == {"scanType": "ENHANCED", "rules": [rule("CONTINUOUS_SCAN", "prod-*")]}


def test_backup_is_written_with_dry_run_and_when_nothing_changes_and_never_overwritten(
    customer: SimAWS, tmp_path: Path
) -> None:
    first = tmp_path / "a.json"
    assert run("--dry-run", "--backup", str(first)).exit_code == 0
    assert writes(customer) == 0
    assert json.loads(first.read_text())["regions"][REGION]["registry_scanning"]["scanType"] == "ENHANCED"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left behind

    customer.calls.clear()
    refused = run("--dry-run", "--backup", str(first))
    assert refused.exit_code == 2 and "already exists" in refused.stderr
    assert customer.calls.records == []

    seed_registry("ENHANCED", rule("CONTINUOUS_SCAN", "*"))
    second = tmp_path / "b.json"
    unchanged = run("--yes", "--backup", str(second))
    assert unchanged.exit_code == 0 and "no change" in unchanged.stdout
    assert json.loads(second.read_text())["regions"][REGION]["registry_scanning"]["rules"] == [
        rule("CONTINUOUS_SCAN", "*")
    ]


def test_restore_with_region_restores_only_that_region(sim_aws: SimAWS, tmp_path: Path) -> None:
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "east"), region="us-east-1")
    seed_registry("BASIC", rule("SCAN_ON_PUSH", "west"), region="us-west-2")
    backup = tmp_path / "b.json"
    args = ("--region", "us-east-1", "--region", "us-west-2", "--yes", *FAST)
    assert run(*args, "--backup", str(backup)).exit_code == 0
    result = run("--restore", str(backup), "--region", "us-west-2", "--yes", "--allow-deactivation", *FAST)
    assert result.exit_code == 0, result.output
    assert registry("us-west-2") == {"scanType": "BASIC", "rules": [rule("SCAN_ON_PUSH", "west")]}
    assert inspector(sim_aws).ecr_status("us-west-2") == "DISABLED"
    assert registry("us-east-1")["scanType"] == "ENHANCED"
    assert inspector(sim_aws).ecr_status("us-east-1") == "ENABLED"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not valid JSON"),
        ('{"format": "other/1"}', "format is 'other/1'"),
        ('{"format": "ecrwatch-scanning-backup/1", "account": "12"}', "account '12' is not a 12-digit AWS account id"),
        ('{"format": "ecrwatch-scanning-backup/1"}', "taken_at is missing"),
        ('{"format": "ecrwatch-scanning-backup/1", "taken_at": "x", "regions": []}', "regions is missing or empty"),
        (None, "cannot be read"),
    ],
)
def test_a_bad_restore_file_is_refused_before_any_call(
    sim_aws: SimAWS, tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "backup.json"
    if content is not None:
        path.write_text(content)
    result = run("--restore", str(path), "--yes")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert sim_aws.calls.records == []


def test_restore_of_a_region_the_file_does_not_have_is_refused_before_any_call(
    customer: SimAWS, tmp_path: Path
) -> None:
    backup = tmp_path / "b.json"
    assert run("--dry-run", "--backup", str(backup)).exit_code == 0
    customer.calls.clear()
    result = run("--restore", str(backup), "--region", "eu-central-1", "--yes")
    assert result.exit_code == 2 and "no configuration for eu-central-1" in result.stderr
    assert customer.calls.records == []


def test_a_backup_from_another_account_is_not_restored(customer: SimAWS, tmp_path: Path) -> None:
    backup = tmp_path / "b.json"
    assert run("--dry-run", "--backup", str(backup)).exit_code == 0
    document = json.loads(backup.read_text())
    document["account"] = "999999999999"
    backup.write_text(json.dumps(document))
    result = run("--restore", str(backup), "--yes")
    assert result.exit_code == 2
    assert "taken in account 999999999999" in result.stderr and "123456789012" in result.stderr
    assert writes(customer) == 0


def test_backup_cannot_overwrite_the_file_being_restored(customer: SimAWS, tmp_path: Path) -> None:
    backup = tmp_path / "b.json"
    assert run("--dry-run", "--backup", str(backup)).exit_code == 0
    customer.calls.clear()
    result = run("--restore", str(backup), "--backup", str(backup), "--yes")
    assert result.exit_code == 2 and "is the file --restore reads" in result.stderr
    assert customer.calls.records == []


def test_restore_cannot_be_mixed_with_enable_options(sim_aws: SimAWS, tmp_path: Path) -> None:
    result = run("--restore", str(tmp_path / "x.json"), "--filter", "a", "--replace")
    assert result.exit_code == 2 and "--filter, --replace" in result.stderr
    assert sim_aws.calls.records == []


def test_help_describes_the_contract() -> None:
    text = CliRunner().invoke(main, ["enable-scanning", "--help"]).output
    for option in ("--frequency", "--filter", "--rescan-duration", "--pull-rescan-duration", "--replace"):
        assert option in text
    for option in ("--dry-run", "--yes", "--backup", "--restore", "--allow-deactivation", "--wait-timeout"):
        assert option in text
    assert "--poll-interval" not in text
