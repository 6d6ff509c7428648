"""`ecrwatch enable-scanning` across accounts, end to end through the CLI against a simulated organisation:
one plan over every account x region, an account that cannot be entered (shown unreadable, left alone, exit
3), the writes made through each account's role, a second run that changes nothing, Inspector's delegated
administrator activating its members, a member refused activating itself, backups /2 and /1 restored.

Every expectation is read back from the simulated accounts through boto3, as a user would check it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ecrwatch.cli import main
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import ROLE, deploy_role, session_in

REGIONS = ("us-east-1", "eu-west-1")
TEAM_A, TEAM_B, REGISTRY, NO_ROLE = "111111111111", "333333333333", "222222222222", "444444444444"
ADMIN = REGISTRY  # Inspector's delegated administrator where one is named
FAST = ("--poll-interval", "0.01", "--wait-timeout", "10")
WRITES = (
    ("ecr", "PutRegistryScanningConfiguration"),
    ("inspector2", "Enable"),
    ("inspector2", "UpdateConfiguration"),
    ("inspector2", "Disable"),
)


def run(*args: str, regions: tuple[str, ...] = REGIONS) -> Result:
    chosen = [a for r in regions for a in ("--region", r)]
    return CliRunner().invoke(main, ["enable-scanning", *chosen, *FAST, *args], env={"COLUMNS": "200"})


def restore(*args: str) -> Result:
    """--restore: the regions are the file's (--region narrows them)."""
    return run("--restore", *args, regions=())


def accounts(*ids: str) -> list[str]:
    return [a for account in ids for a in ("--account", account)]


def writes(sim: SimAWS, account: str | None = None) -> int:
    return sum(
        1
        for service, operation in WRITES
        for record in sim.calls.select(service, operation)
        if account is None or record.account == account
    )


def rule(frequency: str, *filters: str) -> dict[str, Any]:
    return {"scanFrequency": frequency, "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters]}


def registry(account: str, region: str) -> dict[str, Any]:
    ecr = session_in(account, region).client("ecr")
    config: dict[str, Any] = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    return config


def seed_registry(account: str, region: str, scan_type: str, *rules: dict[str, Any]) -> None:
    ecr = session_in(account, region).client("ecr")
    ecr.put_registry_scanning_configuration(scanType=scan_type, rules=list(rules))


def inspector(sim: SimAWS) -> Inspector2Sim:
    return sim.extension(Inspector2Sim)


@pytest.fixture
def org(sim_aws: SimAWS) -> SimAWS:
    """Three workload/registry accounts with the member role, one without it. TEAM_A already scans in
    us-east-1 with its own on-push rule, which must survive."""
    for account in (TEAM_A, TEAM_B, REGISTRY):
        deploy_role(account)
    seed_registry(TEAM_A, "us-east-1", "ENHANCED", rule("SCAN_ON_PUSH", "prod-*"))
    inspector(sim_aws).set_account_status("us-east-1", account=TEAM_A, ecr="ENABLED")
    sim_aws.calls.clear()
    return sim_aws


def test_one_plan_across_accounts_with_one_unreadable_then_apply_then_nothing_to_do(org: SimAWS) -> None:
    selection = [*accounts(TEAM_A, TEAM_B, REGISTRY, NO_ROLE), "--role-name", ROLE]
    dry = run(*selection, "--dry-run")
    assert dry.exit_code == 3, dry.output  # one account could not be read: never a clean run
    assert writes(org) == 0
    out = dry.stdout
    for account in (TEAM_A, TEAM_B, REGISTRY):
        for region in REGIONS:
            assert f"Planned change for account {account} in {region}" in out
    assert f"Planned change for account {NO_ROLE} in us-east-1: UNREADABLE, left alone" in out
    assert "Total: 6 of 8 account x region(s) would change (in 3 account(s)); 2 could not be read" in out
    assert "Dry run: 6 account x region(s) would change; nothing was written." in out

    applied = run(*selection, "--yes")
    assert applied.exit_code == 3, applied.output
    for account in (TEAM_A, TEAM_B, REGISTRY):
        for region in REGIONS:
            assert registry(account, region)["scanType"] == "ENHANCED"
            assert f"account {account} {region}" in applied.stdout
    # The customer's own rule is kept: merged, never clobbered.
    assert registry(TEAM_A, "us-east-1")["rules"] == [rule("SCAN_ON_PUSH", "prod-*"), rule("CONTINUOUS_SCAN", "*")]
    assert registry(TEAM_B, "eu-west-1")["rules"] == [rule("CONTINUOUS_SCAN", "*")]
    # Each account wrote its own registry through its role; the one without a role was left alone.
    assert {r.account for r in org.calls.select("ecr", "PutRegistryScanningConfiguration")} == {
        TEAM_A,
        TEAM_B,
        REGISTRY,
    }
    assert writes(org, NO_ROLE) == 0
    assert "Changed:" in applied.stdout and f"Not read (left alone):\n  account {NO_ROLE} us-east-1" in applied.stdout
    assert "Summary: 6 changed, 2 not read (left alone)" in applied.stdout

    org.calls.clear()
    again = run(*accounts(TEAM_A, TEAM_B, REGISTRY), "--role-name", ROLE, "--yes")
    assert again.exit_code == 0, again.output
    assert writes(org) == 0
    assert "No change: every account x region read is already as asked; nothing was written." in again.stdout


def test_without_yes_and_without_a_terminal_nothing_is_written(org: SimAWS) -> None:
    result = run(*accounts(TEAM_A, TEAM_B), "--role-name", ROLE)
    assert result.exit_code == 2
    assert "would change 4 account x region(s) in 2 account(s)" in result.stderr
    assert writes(org) == 0


def test_another_account_without_a_role_is_a_usage_error_before_any_call(org: SimAWS) -> None:
    result = run(*accounts(TEAM_A))
    assert result.exit_code == 2
    assert "--role-name" in result.stderr
    assert [r.operation for r in org.calls.records] == ["GetCallerIdentity"]


def members_of(sim: SimAWS, admin: str, *members: str) -> None:
    for region in REGIONS:
        inspector(sim).set_delegated_admin(region, admin, members)


def test_a_member_refused_activating_itself_fails_alone_and_the_others_are_applied(org: SimAWS) -> None:
    members_of(org, ADMIN, TEAM_B)  # TEAM_B's scan types are managed by its delegated administrator
    result = run(*accounts(TEAM_A, TEAM_B), "--role-name", ROLE, "--yes")
    assert result.exit_code == 3, result.output
    # Inspector refused TEAM_B's own Enable (403): nothing else was written there, TEAM_A was applied.
    assert [r.status for r in org.calls.select("inspector2", "Enable") if r.account == TEAM_B] == [403]
    assert registry(TEAM_B, "us-east-1")["scanType"] == "BASIC"
    assert writes(org, TEAM_B) == 1
    assert registry(TEAM_A, "eu-west-1")["scanType"] == "ENHANCED"
    assert inspector(org).ecr_status("eu-west-1", TEAM_A) == "ENABLED"
    out = result.stdout
    assert f"FAILED:\n  account {TEAM_B} us-east-1: " in out
    assert f"Member account {TEAM_B} is not authorized to enable itself." in out
    assert f"Not applied:\n  account {TEAM_B} eu-west-1" in out
    assert "--inspector-account" in out  # the way out: let the administrator activate it
    assert "Summary: 2 changed, 1 failed, 1 not applied" in out


def test_the_delegated_administrator_activates_its_members_and_waits_for_each(org: SimAWS) -> None:
    members_of(org, ADMIN, TEAM_A, TEAM_B)
    result = run(*accounts(TEAM_A, TEAM_B, ADMIN), "--role-name", ROLE, "--inspector-account", ADMIN, "--yes")
    assert result.exit_code == 0, result.output
    enables = list(org.calls.select("inspector2", "Enable"))
    # Members never call Enable themselves; the administrator names them (TEAM_A was on in us-east-1).
    assert {r.account for r in enables} == {ADMIN}
    by_region = {(r.region, tuple(r.params.get("accountIds") or ())) for r in enables}
    assert by_region == {
        ("us-east-1", (TEAM_B,)),
        ("eu-west-1", (TEAM_A, TEAM_B)),
        ("us-east-1", ()),  # the administrator activates itself
        ("eu-west-1", ()),
    }
    for account in (TEAM_A, TEAM_B, ADMIN):
        for region in REGIONS:
            assert inspector(org).ecr_status(region, account) == "ENABLED"
            assert registry(account, region)["scanType"] == "ENHANCED"
    # The administrator polled its members' status until each was ENABLED.
    polls = [r for r in org.calls.select("inspector2", "BatchGetAccountStatus") if r.params.get("accountIds")]
    assert polls and {r.account for r in polls} == {ADMIN}
    assert f"the delegated administrator {ADMIN} activates Inspector's ECR scanning for this account" in result.stdout
    assert "the account activates Inspector's ECR scanning itself" in result.stdout  # the administrator


def test_rescan_durations_of_members_are_set_by_their_administrator(org: SimAWS) -> None:
    members_of(org, ADMIN, TEAM_A)
    result = run(*accounts(TEAM_A), "--role-name", ROLE, "--inspector-account", ADMIN, "--rescan-duration", "90d",
                 "--yes")  # fmt: skip
    assert result.exit_code == 0, result.output
    # TEAM_A's Inspector is on in us-east-1: only its durations are the administrator's there.
    assert f"Rescan durations: set by the delegated administrator {ADMIN}" in result.stdout
    assert "(inspector2:Enable with accountIds), and sets its rescan durations" in result.stdout  # eu-west-1
    updates = list(org.calls.select("inspector2", "UpdateConfiguration"))
    assert {(r.account, r.params.get("accountId")) for r in updates} == {(ADMIN, TEAM_A)}
    for region in REGIONS:
        config = session_in(TEAM_A, region).client("inspector2").get_configuration()
        assert config["ecrConfiguration"]["rescanDurationState"]["rescanDuration"] == "DAYS_90"


def test_backup_v2_holds_every_account_read_and_restore_puts_each_back(org: SimAWS, tmp_path: Path) -> None:
    seed_registry(TEAM_B, "eu-west-1", "ENHANCED", rule("CONTINUOUS_SCAN", "team-b/*"))
    inspector(org).set_account_status("eu-west-1", account=TEAM_B, ecr="ENABLED")
    inspector(org).set_account_status("eu-west-1", account=TEAM_A, ecr="ENABLED")
    seed_registry(TEAM_A, "eu-west-1", "ENHANCED", rule("SCAN_ON_PUSH", "*"))
    before = {(a, r): registry(a, r) for a in (TEAM_A, TEAM_B) for r in REGIONS}
    backup = tmp_path / "scanning.json"
    selection = [*accounts(TEAM_A, TEAM_B, NO_ROLE), "--role-name", ROLE]
    applied = run(*selection, "--replace", "--filter", "new-*", "--backup", str(backup), "--yes")
    assert applied.exit_code == 3, applied.output  # NO_ROLE could not be read
    document = json.loads(backup.read_text())
    assert document["format"] == "ecrwatch-scanning-backup/2"
    assert sorted(document["accounts"]) == [TEAM_A, TEAM_B]  # what was read; a backup holds no credentials
    assert sorted(document["accounts"][TEAM_A]["regions"]) == sorted(REGIONS)
    assert document["accounts"][TEAM_B]["regions"]["eu-west-1"]["registry_scanning"] == {
        "scanType": "ENHANCED",
        "rules": [rule("CONTINUOUS_SCAN", "team-b/*")],
    }
    assert registry(TEAM_B, "eu-west-1")["rules"] == [rule("CONTINUOUS_SCAN", "new-*")]

    # Narrowed by the selection: only TEAM_B's eu-west-1 is put back.
    only_b = restore(str(backup), *accounts(TEAM_B), "--role-name", ROLE, "--region", "eu-west-1", "--yes")
    assert only_b.exit_code == 0, only_b.output
    assert registry(TEAM_B, "eu-west-1") == before[(TEAM_B, "eu-west-1")]
    assert registry(TEAM_A, "eu-west-1")["rules"] == [rule("CONTINUOUS_SCAN", "new-*")]

    # Everything the file holds (the role named again). BASIC registries whose Inspector is now on would be
    # deactivated: refused unasked, nothing written.
    org.calls.clear()
    refused = restore(str(backup), "--role-name", ROLE, "--yes")
    assert refused.exit_code == 2 and writes(org) == 0
    assert "--allow-deactivation" in refused.stderr
    done = restore(str(backup), "--role-name", ROLE, "--allow-deactivation", "--yes")
    assert done.exit_code == 0, done.output
    for key, config in before.items():
        assert registry(*key) == config, key


def test_restore_reports_an_account_it_cannot_enter_and_restores_the_others(org: SimAWS, tmp_path: Path) -> None:
    region_doc = {
        "registry_scanning": {"scanType": "ENHANCED", "rules": [rule("CONTINUOUS_SCAN", "kept-*")]},
        "inspector_ecr": {
            "status": "ENABLED",
            "rescanDuration": None,
            "pullDateRescanDuration": None,
            "pullDateRescanMode": None,
        },
    }
    document = {
        "format": "ecrwatch-scanning-backup/2",
        "taken_at": "2026-12-01T00:00:00Z",
        "accounts": {TEAM_A: {"regions": {"us-east-1": region_doc}}, NO_ROLE: {"regions": {"us-east-1": region_doc}}},
    }
    backup = tmp_path / "b.json"
    backup.write_text(json.dumps(document))
    result = restore(str(backup), "--role-name", ROLE, "--yes")
    assert result.exit_code == 3, result.output
    assert registry(TEAM_A, "us-east-1")["rules"] == [rule("CONTINUOUS_SCAN", "kept-*")]
    assert f"Restore for account {NO_ROLE} in us-east-1: UNREADABLE, left alone" in result.stdout
    assert "Summary: 1 changed, 1 not read (left alone)" in result.stdout


def test_a_v1_backup_still_restores_into_its_account(org: SimAWS, tmp_path: Path) -> None:
    document = {
        "format": "ecrwatch-scanning-backup/1",
        "taken_at": "2026-12-01T00:00:00Z",
        "account": TEAM_B,
        "regions": {
            "us-east-1": {
                "registry_scanning": {"scanType": "ENHANCED", "rules": [rule("SCAN_ON_PUSH", "v1-*")]},
                "inspector_ecr": {
                    "status": "ENABLED",
                    "rescanDuration": "DAYS_30",
                    "pullDateRescanDuration": None,
                    "pullDateRescanMode": None,
                },
            }
        },
    }
    backup = tmp_path / "v1.json"
    backup.write_text(json.dumps(document))
    result = restore(str(backup), *accounts(TEAM_B), "--role-name", ROLE, "--yes")
    assert result.exit_code == 0, result.output
    assert registry(TEAM_B, "us-east-1") == {"scanType": "ENHANCED", "rules": [rule("SCAN_ON_PUSH", "v1-*")]}
    assert inspector(org).ecr_status("us-east-1", TEAM_B) == "ENABLED"
    assert writes(org, ACCOUNT_ID) == 0
    other = restore(str(backup), *accounts(TEAM_A), "--role-name", ROLE, "--yes")
    assert other.exit_code == 2
    assert f"holds no configuration for account {TEAM_A}" in other.stderr


@pytest.mark.parametrize(
    ("accounts_doc", "says"),
    [
        ({}, "accounts is missing or empty"),
        ({"12": {"regions": {}}}, "'12' is not a 12-digit AWS account id"),
        ({TEAM_A: {"regions": {}}}, f"accounts.{TEAM_A}.regions is missing or empty"),
        ({TEAM_A: {"regions": {"us-east-1": {"registry_scanning": {"scanType": "FULL", "rules": []}}}}}, "FULL"),
    ],
)
def test_a_malformed_v2_backup_is_refused_before_any_call(
    org: SimAWS, tmp_path: Path, accounts_doc: dict[str, Any], says: str
) -> None:
    backup = tmp_path / "bad.json"
    backup.write_text(json.dumps({"format": "ecrwatch-scanning-backup/2", "taken_at": "x", "accounts": accounts_doc}))
    result = restore(str(backup), "--role-name", ROLE, "--yes")
    assert result.exit_code == 2
    assert says in result.stderr
    assert org.calls.records == []


V1, V2 = "ecrwatch-scanning-backup/1", "ecrwatch-scanning-backup/2"
V2_REGION = {"registry_scanning": {"scanType": "BASIC", "rules": []}, "inspector_ecr": {"status": "DISABLED"}}


def v2_backup(account: str, regions: dict[str, Any]) -> dict[str, Any]:
    return {"format": V2, "taken_at": "x", "accounts": {account: {"regions": regions}}}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([V2_REGION], f"format is None; expected {V1!r} or {V2!r}"),
        ({"format": "other/3"}, f"format is 'other/3'; expected {V1!r} or {V2!r}"),
        ({"format": V2, "accounts": {TEAM_A: {}}}, "taken_at is missing"),
        (v2_backup(f"{TEAM_A}\n", {}), f"accounts key '{TEAM_A}\\n' is not a 12-digit AWS account id"),
        (v2_backup(TEAM_A, {"mars-1": V2_REGION}), f"accounts.{TEAM_A}: 'mars-1' is not an AWS region name"),
        (
            v2_backup(TEAM_A, {"us-east-1": {"registry_scanning": V2_REGION["registry_scanning"]}}),
            f"accounts.{TEAM_A}: regions.us-east-1.inspector_ecr is missing",
        ),
    ],
)
def test_a_v2_backup_with_a_bad_field_is_refused_naming_the_file_and_field(
    org: SimAWS, tmp_path: Path, document: Any, says: str
) -> None:
    backup = tmp_path / "bad.json"
    backup.write_text(json.dumps(document))
    # --account: read as across accounts even when the file does not say /2 (a /1 file alone is single-account)
    result = restore(str(backup), *accounts(TEAM_A), "--role-name", ROLE, "--yes")
    assert result.exit_code == 2
    assert f"{backup}: {says}" in result.stderr
    assert org.calls.records == []


def test_a_delegated_administrator_in_another_account_needs_a_role(org: SimAWS) -> None:
    result = run("--inspector-account", ADMIN, "--yes")
    assert result.exit_code == 2
    assert f"--inspector-account {ADMIN}" in result.stderr and "--role-name" in result.stderr
    assert writes(org) == 0


def test_a_member_refusing_its_role_in_one_region_mid_apply_fails_there_alone(org: SimAWS) -> None:
    # AWS answers a region the account has not opted into as if the credentials were unknown there.
    org.faults.add("ecr", "PutRegistryScanningConfiguration", region="eu-west-1", status=403,
                   error="UnrecognizedClientException", message="The security token included in the request is invalid",
                   when=lambda r: r.account == TEAM_B)  # fmt: skip
    result = run(*accounts(TEAM_A, TEAM_B), "--role-name", ROLE, "--yes")
    assert result.exit_code == 3, result.output
    assert registry(TEAM_B, "eu-west-1")["rules"] == []  # its rule was refused
    assert registry(TEAM_B, "us-east-1")["rules"] == [rule("CONTINUOUS_SCAN", "*")]
    assert registry(TEAM_A, "eu-west-1")["rules"] == [rule("CONTINUOUS_SCAN", "*")]
    out = result.stdout
    # The refusal is the member's, in that region: never "refresh the caller's credentials".
    assert f"FAILED:\n  account {TEAM_B} eu-west-1: account {TEAM_B} refused the credentials of role {ROLE}" in out
    assert "from the environment" not in out
    assert "Summary: 3 changed, 1 failed" in out


def test_the_delegated_administrator_refused_in_one_region_fails_its_members_there_alone(org: SimAWS) -> None:
    members_of(org, ADMIN, TEAM_A, TEAM_B)
    org.faults.add("inspector2", "Enable", region="eu-west-1", status=403, error="UnrecognizedClientException",
                   message="The security token included in the request is invalid",
                   when=lambda r: r.account == ADMIN and bool(r.json().get("accountIds")))  # fmt: skip
    result = run(*accounts(TEAM_A, TEAM_B), "--role-name", ROLE, "--inspector-account", ADMIN, "--yes")
    assert result.exit_code == 3, result.output
    for account in (TEAM_A, TEAM_B):
        assert inspector(org).ecr_status("us-east-1", account) == "ENABLED"
        assert inspector(org).ecr_status("eu-west-1", account) == "DISABLED"
    out = result.stdout
    for account in (TEAM_A, TEAM_B):
        assert f"account {account} eu-west-1: account {ADMIN} refused the credentials of role {ROLE}" in out
