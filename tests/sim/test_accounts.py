"""Several accounts in the simulator: AssumeRole refused as AWS refuses it (missing role, untrusted caller,
wrong or missing external id), credentials from a role acting in the role's account, and a request signed
for one account never seeing another account's clusters, findings, coverage or registry."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecrwatch.sim.accounts import SimOrganization, create_role, trust_policy
from ecrwatch.sim.ecs import EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
A, B = "111111111111", "222222222222"
DIGEST = "sha256:" + "d" * 64


def assume(role_arn: str, **extra: str) -> dict[str, Any]:
    return boto3.client("sts", region_name=REGION).assume_role(RoleArn=role_arn, RoleSessionName="tests", **extra)


def session_in(account: str, external_id: str | None = None) -> boto3.Session:
    arn = create_role(account, f"reader-{account}", trust_policy(ACCOUNT_ID, external_id))
    creds = assume(arn, **({"ExternalId": external_id} if external_id else {}))["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def refusal(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


# --- AssumeRole -----------------------------------------------------------------------------------------


def test_credentials_from_a_role_act_in_the_roles_account(sim_aws: SimAWS) -> None:
    identity = session_in(A).client("sts").get_caller_identity()
    assert identity["Account"] == A
    assert identity["Arn"].startswith(f"arn:aws:sts::{A}:assumed-role/reader-{A}/")


def test_a_role_that_does_not_exist_is_access_denied(sim_aws: SimAWS) -> None:
    with pytest.raises(ClientError) as caught:
        assume(f"arn:aws:iam::{A}:role/nobody")
    assert refusal(caught) == ("AccessDenied", 403)
    assert f"not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{A}:role/nobody" in str(caught.value)


def test_a_trust_policy_naming_another_account_refuses_the_caller(sim_aws: SimAWS) -> None:
    arn = create_role(A, "reader", trust_policy(B))
    with pytest.raises(ClientError) as caught:
        assume(arn)
    assert refusal(caught) == ("AccessDenied", 403)


def test_the_external_id_condition_is_enforced(sim_aws: SimAWS) -> None:
    arn = create_role(A, "reader", trust_policy(ACCOUNT_ID, "right-id"))
    for wrong in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as caught:
            assume(arn, **wrong)
        assert refusal(caught) == ("AccessDenied", 403)
        assert "right-id" not in str(caught.value)
    assert assume(arn, ExternalId="right-id")["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{A}:")


def test_a_trust_narrowed_to_one_role_admits_that_roles_sessions_only(sim_aws: SimAWS) -> None:
    hub = create_role(ACCOUNT_ID, "ecrwatch-hub", trust_policy(ACCOUNT_ID), path="/ops/")
    statement = json.loads(trust_policy(ACCOUNT_ID, "ext-id"))["Statement"][0]
    statement["Condition"]["ArnEquals"] = {"aws:PrincipalArn": hub}  # the role's ARN, its path included
    reader = create_role(A, "reader", json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    with pytest.raises(ClientError) as caught:
        assume(reader, ExternalId="ext-id")  # the default user: in the trusted account, but not that role
    assert refusal(caught) == ("AccessDenied", 403)
    credentials = assume(hub)["Credentials"]
    as_hub = boto3.client(
        "sts",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    entered = as_hub.assume_role(RoleArn=reader, RoleSessionName="tests", ExternalId="ext-id")
    assert entered["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{A}:assumed-role/reader/")
    with pytest.raises(ClientError) as caught:
        as_hub.assume_role(RoleArn=reader, RoleSessionName="tests")  # the external id is still asked for
    assert refusal(caught) == ("AccessDenied", 403)


def test_a_role_with_a_path_is_entered_by_its_full_arn(sim_aws: SimAWS) -> None:
    arn = create_role(A, "reader", trust_policy(ACCOUNT_ID), path="/security/")
    assert arn == f"arn:aws:iam::{A}:role/security/reader"
    assert assume(arn)["Credentials"]["AccessKeyId"]
    with pytest.raises(ClientError):
        assume(f"arn:aws:iam::{A}:role/reader")


# --- isolation ------------------------------------------------------------------------------------------


def test_each_account_sees_only_its_own_ecs_clusters(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(EcsSim)
    arn_a = store.add_cluster(REGION, "prod", account=A)
    arn_b = store.add_cluster(REGION, "prod", account=B)
    store.add_task(REGION, "prod", account=A, family="a-app")
    store.add_task(REGION, arn_b, family="b-app")
    for account, arn, family in ((A, arn_a, "a-app"), (B, arn_b, "b-app")):
        ecs = session_in(account).client("ecs")
        assert ecs.list_clusters()["clusterArns"] == [arn]
        [task_arn] = ecs.list_tasks(cluster="prod")["taskArns"]
        assert f":{account}:task/prod/" in task_arn
        [task] = ecs.describe_tasks(cluster="prod", tasks=[task_arn])["tasks"]
        assert task["taskDefinitionArn"].split("/")[-1].startswith(family)
    assert boto3.client("ecs", region_name=REGION).list_clusters()["clusterArns"] == []


def test_each_account_sees_only_its_own_eks_clusters(sim_aws: SimAWS, sim_kube: SimKube) -> None:
    store = sim_aws.extension(EksSim)
    for account in (A, B):
        store.add_cluster(REGION, "prod", endpoint=sim_kube.url, ca_pem=sim_kube.ca_pem, account=account)
    for account in (A, B):
        eks = session_in(account).client("eks")
        assert eks.list_clusters()["clusters"] == ["prod"]
        assert eks.describe_cluster(name="prod")["cluster"]["arn"] == f"arn:aws:eks:{REGION}:{account}:cluster/prod"
    assert boto3.client("eks", region_name=REGION).list_clusters()["clusters"] == []


def test_each_account_sees_only_its_own_inspector_findings_and_coverage(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(Inspector2Sim)
    for account in (A, B):
        store.add_finding(REGION, repository="app", digest=DIGEST, vulnerability_id=f"CVE-{account}",
                          severity="HIGH", account=account)  # fmt: skip
    inspector = session_in(A).client("inspector2")
    findings = inspector.list_findings()["findings"]
    assert [f["awsAccountId"] for f in findings] == [A]
    assert {c["accountId"] for c in inspector.list_coverage()["coveredResources"]} == {A}
    assert boto3.client("inspector2", region_name=REGION).list_findings()["findings"] == []


def test_the_delegated_administrator_sees_its_members_findings(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(Inspector2Sim)
    for account in (A, B, "333333333333"):
        store.add_finding(REGION, repository="app", digest=DIGEST, vulnerability_id=f"CVE-{account}",
                          severity="HIGH", account=account)  # fmt: skip
    store.set_delegated_admin(REGION, A, members=[B])
    admin_session = session_in(A)
    admin = admin_session.client("inspector2")
    assert {f["awsAccountId"] for f in admin.list_findings()["findings"]} == {A, B}
    only_b = admin.list_findings(filterCriteria={"awsAccountId": [{"comparison": "EQUALS", "value": B}]})
    assert [f["awsAccountId"] for f in only_b["findings"]] == [B]
    assert {c["accountId"] for c in admin.list_coverage()["coveredResources"]} == {A, B}
    # A member does not see its administrator's findings.
    member = session_in(B).client("inspector2")
    assert [f["awsAccountId"] for f in member.list_findings()["findings"]] == [B]
    # In another region, A administers nobody.
    other = admin_session.client("inspector2", region_name="eu-west-1")
    store.add_finding("eu-west-1", repository="app", digest=DIGEST, vulnerability_id="CVE-x", severity="LOW",
                      account=B)  # fmt: skip
    assert other.list_findings()["findings"] == []


def test_an_account_reads_its_own_registry_and_is_denied_anothers(sim_aws: SimAWS) -> None:
    registry = session_in(A).client("ecr")
    registry.create_repository(repositoryName="app")
    assert [r["repositoryName"] for r in registry.describe_repositories()["repositories"]] == ["app"]
    other = session_in(B).client("ecr")
    assert other.describe_repositories()["repositories"] == []
    with pytest.raises(ClientError) as caught:
        other.batch_get_image(registryId=A, repositoryName="app", imageIds=[{"imageTag": "v1"}])
    assert refusal(caught)[0] == "AccessDeniedException"
    assert f"arn:aws:iam::{B}:" in str(caught.value)


# --- Organizations --------------------------------------------------------------------------------------


def test_the_organisation_lists_its_accounts_and_ous(sim_aws: SimAWS) -> None:
    org = SimOrganization()
    prod = org.add_ou("prod")
    team = org.add_ou("team", parent=prod)
    deep = org.add_account("deep", parent=team)
    top = org.add_account("top")
    gone = org.add_account("gone", suspended=True)
    client = boto3.client("organizations", region_name=REGION)
    states = {a["Id"]: a["State"] for a in client.list_accounts()["Accounts"]}
    assert states[deep] == states[top] == states[ACCOUNT_ID] == "ACTIVE"
    assert states[gone] == "SUSPENDED"
    assert [o["Id"] for o in client.list_organizational_units_for_parent(ParentId=prod)["OrganizationalUnits"]] == [
        team
    ]
    assert [a["Id"] for a in client.list_accounts_for_parent(ParentId=team)["Accounts"]] == [deep]
