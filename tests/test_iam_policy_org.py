"""`ecrwatch iam-policy --org`: the hub's policy allows every call `check` makes with the hub's credentials
across an organisation (Organizations, AssumeRole, its own account), the member role's permissions every call
made inside a member account, and the printed trust policy, deployed as printed, lets the hub in with the
external id and refuses it without."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.accounts import SimOrganization, create_role
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, CallRecord, SimAWS
from org_world import session_in
from test_iam_policy import allows

REGION = "us-east-1"
ROLE = "security/ecrwatch-reader"
EXTERNAL_ID = "org-external-id-7"


def ecrwatch(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def printed() -> dict[str, Any]:
    result = ecrwatch("iam-policy", "--org", "--role-name", ROLE, "--hub-account", ACCOUNT_ID)
    assert result.exit_code == 0, result.output
    documents: dict[str, Any] = json.loads(result.stdout)
    return documents


def deploy_as_printed(documents: dict[str, Any], account: str) -> None:
    role = documents["member_role"]
    trust = json.dumps(role["trust_policy"])
    create_role(account, role["role_name"], trust.replace("EXTERNAL_ID", EXTERNAL_ID), path=role["path"])


def allowed_by(policy: dict[str, Any], record: CallRecord) -> bool:
    action = f"{record.service}:{record.operation}"
    if action == "sts:AssumeRole":  # scoped to the role: the call log keeps no query-protocol parameters
        target = f"arn:aws:iam::111122223333:role/{ROLE}"
        return any(
            action in s["Action"] and s["Resource"].replace("*", "111122223333") == target for s in policy["Statement"]
        )
    return allows(policy, record)


@pytest.fixture
def organisation(sim_aws: SimAWS) -> list[str]:
    documents = printed()
    org = SimOrganization()
    unit = org.add_ou("workloads")
    members = [org.add_account("registry"), org.add_account("shop", parent=unit), org.add_account("pay", parent=unit)]
    for account in members:
        deploy_as_printed(documents, account)
    registry = members[0]
    ecr = session_in(registry).client("ecr")
    ecr.create_repository(repositoryName="api")
    digest = push_image(ecr, "api", "v1")
    sim_aws.extension(Inspector2Sim).add_finding(
        REGION, repository="api", digest=digest, vulnerability_id="CVE-1", severity="HIGH", account=registry
    )
    image = f"{ecr_registry_host(registry, REGION)}/api:v1"
    for account in (ACCOUNT_ID, *members[1:]):
        sim_aws.extension(EcsSim).add_cluster(REGION, "prod", account=account)
        sim_aws.extension(EcsSim).add_task(
            REGION, "prod", account=account, containers=[EcsContainerSeed("api", image, digest=digest)]
        )
    sim_aws.calls.clear()
    return members


def test_the_hub_policy_and_the_member_role_allow_every_call_across_the_organisation(
    sim_aws: SimAWS, organisation: list[str]
) -> None:
    documents = printed()
    env = {"ECRWATCH_EXTERNAL_ID": EXTERNAL_ID}
    for options in (["--org"], ["--ou", _ou_of(organisation[1]), "--ecs-cluster", "prod"]):
        result = ecrwatch("check", "--region", REGION, "--no-eks", "--format", "json", "--role-name", ROLE, *options,
                          env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["exposures"], "the scenario found nothing: it proves little"
    records = sim_aws.calls.records
    hub = [r for r in records if r.account == ACCOUNT_ID]
    members = [r for r in records if r.account != ACCOUNT_ID]
    assert members and hub
    denied = {f"{r.service}:{r.operation}" for r in hub if not allowed_by(documents["hub_policy"], r)}
    assert denied <= {"sts:GetCallerIdentity"}
    member_policy = documents["member_role"]["permissions_policy"]
    assert {f"{r.service}:{r.operation}" for r in members if not allows(member_policy, r)} == set()
    # Every action the hub needs beyond its own account's reads was called.
    called = {f"{r.service}:{r.operation}" for r in hub}
    assert {
        "organizations:ListAccounts",
        "organizations:ListAccountsForParent",
        "organizations:ListOrganizationalUnitsForParent",
        "sts:AssumeRole",
    } <= called


def test_the_printed_trust_policy_refuses_the_hub_without_the_external_id(
    sim_aws: SimAWS, organisation: list[str]
) -> None:
    result = ecrwatch("check", "--region", REGION, "--no-eks", "--format", "json", "--role-name", ROLE,
                      "--account", organisation[1])  # fmt: skip
    assert result.exit_code == 3
    [error] = json.loads(result.stdout)["errors"]
    assert (error["source"], error["code"]) == (f"account:{organisation[1]}", "AccessDenied")


def test_iam_policy_org_never_prints_an_external_id_and_checks_its_input() -> None:
    result = ecrwatch("iam-policy", "--org", env={"ECRWATCH_EXTERNAL_ID": EXTERNAL_ID})
    assert result.exit_code == 0
    assert EXTERNAL_ID not in result.output
    trust = json.loads(result.stdout)["member_role"]["trust_policy"]["Statement"][0]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::HUB_ACCOUNT_ID:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "EXTERNAL_ID"}}
    plain = json.loads(ecrwatch("iam-policy", "--org", "--no-external-id").stdout)
    assert "Condition" not in plain["member_role"]["trust_policy"]["Statement"][0]
    for bad in (["--hub-account", "12"], ["--role-name", "no spaces"]):
        assert ecrwatch("iam-policy", "--org", *bad).exit_code == 2


def _ou_of(account: str) -> str:
    from moto.organizations.models import organizations_backends

    backend = organizations_backends[ACCOUNT_ID]["aws"]
    return str(backend.get_account_by_id(account).parent_id)
