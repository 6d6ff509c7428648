"""`ecrwatch status` across accounts: one section per account and region, JSON keyed by account, an account
that cannot be entered is an error (exit 3) and the others are still shown."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from ecrwatch.cli import main
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import ROLE, deploy_role

REGIONS = ("us-east-1", "eu-west-1")
MEMBER, MISSING = "111111111111", "444444444444"


def status(*args: str) -> Result:
    regions = [a for r in REGIONS for a in ("--region", r)]
    return CliRunner().invoke(main, ["status", *regions, *args], env={"COLUMNS": "160"})


def test_status_reads_each_account_and_region_and_keys_json_by_account(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER)
    inspector = sim_aws.extension(Inspector2Sim)
    inspector.set_account_status("us-east-1", account=MEMBER, ecr="ENABLED")
    result = status("--account", ACCOUNT_ID, "--account", MEMBER, "--account", MISSING, "--role-name", ROLE,
                    "--format", "json")  # fmt: skip
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert sorted(document["accounts"]) == sorted([ACCOUNT_ID, MEMBER, MISSING])
    member = document["accounts"][MEMBER]
    assert [r["region"] for r in member["regions"]] == list(REGIONS)
    assert member["regions"][0]["inspector_ecr"]["status"] == "ENABLED"
    assert document["accounts"][ACCOUNT_ID]["regions"][0]["inspector_ecr"]["status"] == "DISABLED"
    assert member["ok"] and document["accounts"][ACCOUNT_ID]["ok"]
    missing = document["accounts"][MISSING]
    assert (missing["ok"], missing["regions"]) == (False, [])
    assert [(e["source"], e["account"], e["code"]) for e in document["errors"]] == [
        (f"account:{MISSING}", MISSING, "AccessDenied")
    ]


def test_status_table_has_one_section_per_account_and_region(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER)
    result = status("--account", MEMBER, "--account", ACCOUNT_ID, "--role-name", ROLE)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.index(f"Account {MEMBER}") < text.index(f"Account {ACCOUNT_ID}")  # in account id order
    assert text.count("Region us-east-1") == 2 and text.count("Region eu-west-1") == 2


def test_status_without_account_options_is_unchanged(sim_aws: SimAWS) -> None:
    document = json.loads(status("--format", "json").stdout)
    assert set(document) == {"format", "regions", "errors"}
    assert sim_aws.calls.count("sts", "AssumeRole") == 0


def test_an_account_refused_in_a_region_is_its_own_error(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER)
    sim_aws.faults.add("ecr", "GetRegistryScanningConfiguration", region="eu-west-1", status=403,
                       error="UnrecognizedClientException", when=lambda r: r.account == MEMBER)  # fmt: skip
    result = status("--account", ACCOUNT_ID, "--account", MEMBER, "--role-name", ROLE, "--format", "json")
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert document["accounts"][ACCOUNT_ID]["ok"] and not document["accounts"][MEMBER]["ok"]
    refused = [(e["source"], e["code"], e["account"]) for e in document["errors"]]
    assert refused == [("ecr:eu-west-1", "UnrecognizedClientException", MEMBER)]
    assert f"account {MEMBER}" in document["errors"][0]["message"]
    # The member's other region is still read, and so is the refusing region's Inspector coverage.
    regions = {r["region"]: r for r in document["accounts"][MEMBER]["regions"]}
    assert list(regions) == list(REGIONS)
    assert regions["us-east-1"]["inspector_ecr"]["status"] == "DISABLED"
