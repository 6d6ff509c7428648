"""`ecrwatch iam-policy --command enable-scanning --org`: deployed as printed, the member role allows every
write `enable-scanning` makes inside each member account, the delegated administrator's document every call
the administrator makes for its members, and the hub's policy the calls made with the hub's credentials."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from ecrwatch.cli import main
from ecrwatch.sim.accounts import SimOrganization, create_role
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from test_iam_policy import allows
from test_iam_policy_org import allowed_by

REGION = "us-east-1"
ROLE = "security/ecrwatch-reader"  # the role name allowed_by checks AssumeRole against
EXTERNAL_ID = "org-external-id-7"


def ecrwatch(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def printed() -> dict[str, Any]:
    result = ecrwatch("iam-policy", "--org", "--command", "enable-scanning", "--role-name", ROLE,
                      "--hub-account", ACCOUNT_ID)  # fmt: skip
    assert result.exit_code == 0, result.output
    documents: dict[str, Any] = json.loads(result.stdout)
    return documents


def test_the_printed_documents_allow_every_call_of_enable_scanning_across_the_organisation(sim_aws: SimAWS) -> None:
    documents = printed()
    role = documents["member_role"]
    trust = json.dumps(role["trust_policy"]).replace("EXTERNAL_ID", EXTERNAL_ID)
    org = SimOrganization()
    admin, *members = (org.add_account("security"), org.add_account("shop"), org.add_account("pay"))
    for account in (admin, *members):
        create_role(account, role["role_name"], trust, path=role["path"])
    inspector = sim_aws.extension(Inspector2Sim)
    inspector.set_delegated_admin(REGION, admin, members)
    for member in members:
        inspector.set_account_status(REGION, account=member)
    sim_aws.calls.clear()
    result = ecrwatch("enable-scanning", "--region", REGION, "--org", "--exclude-account", ACCOUNT_ID, "--role-name",
                      ROLE, "--inspector-account", admin, "--rescan-duration", "90d", "--yes", "--poll-interval", "0",
                      env={"ECRWATCH_EXTERNAL_ID": EXTERNAL_ID})  # fmt: skip
    assert result.exit_code == 0, result.output
    records = sim_aws.calls.records
    hub = [r for r in records if r.account == ACCOUNT_ID]
    assert {f"{r.service}:{r.operation}" for r in hub if not allowed_by(documents["hub_policy"], r)} <= {
        "sts:GetCallerIdentity"
    }
    member_calls = [r for r in records if r.account in members]
    assert {"ecr:PutRegistryScanningConfiguration"} <= {f"{r.service}:{r.operation}" for r in member_calls}
    assert [f"{r.service}:{r.operation}" for r in member_calls if not allows(role["permissions_policy"], r)] == []
    # The administrator's calls for its members (accountIds / accountId) are the ones its document lists.
    for_members = [
        r for r in records if r.account == admin and (r.params.get("accountIds") or r.params.get("accountId"))
    ]
    administer = documents["delegated_administrator"]["permissions_policy"]
    assert {f"{r.service}:{r.operation}" for r in for_members} == {
        "inspector2:Enable",
        "inspector2:BatchGetAccountStatus",
        "inspector2:UpdateConfiguration",
    }
    assert [r for r in for_members if not allows(administer, r)] == []
    assert [r for r in records if r.account == admin and not allows(role["permissions_policy"], r)] == []
