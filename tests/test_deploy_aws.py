"""The deployment kit's AWS side (deploy/aws/): the member-roles template that a StackSet deploys in every
account of an organisation. cfn-lint accepts it (and refuses a broken copy); deployed into the simulated
account (moto's CloudFormation), it makes a read-only role and a scanning role whose inline policies are
exactly what `ecrwatch iam-policy` prints, in every partition, and whose trust lets in only the hub account
with the external id."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml  # type: ignore[import-untyped]
from botocore.exceptions import ClientError
from cfnlint.api import lint_file
from cfnlint.decode import decode
from click.testing import CliRunner

from ecrwatch.aws_lambda import LambdaConfig
from ecrwatch.cli import main
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MEMBER_ROLES = DEPLOY / "aws" / "member-roles.yaml"
HUB = "111122223333"
EXTERNAL_ID = "ecrwatch-7f0c2b1e-test-external-id"
# A region of each partition, as moto (and AWS) place them.
PARTITION_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}
# Which `ecrwatch iam-policy --command` each inline policy of the template stands for.
ROLE_POLICIES = {
    "ecrwatch-reader": {"ecrwatch-check": "check", "ecrwatch-status": "status"},
    "ecrwatch-scanning": {"ecrwatch-enable-scanning": "enable-scanning"},
}


def cloudformation_templates() -> list[Path]:
    """Every CloudFormation template of the kit (a YAML file that says its template format version)."""
    return sorted(p for p in (DEPLOY / "aws").glob("*.yaml") if "AWSTemplateFormatVersion" in p.read_text())


def lint(path: Path) -> list[str]:
    return [f"{m.rule.id} {m.linenumber}: {m.message}" for m in lint_file(path)]


def printed_policy(command: str, partition: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["iam-policy", "--command", command, "--partition", partition])
    assert result.exit_code == 0, result.output
    policy: dict[str, Any] = json.loads(result.stdout)
    return policy


def permissions(policy: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """A policy as (effect, action, resource, condition) grants: Sids, grouping and order do not matter."""
    grants = set()
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
        grants.update((statement["Effect"], a, r, condition) for a in actions for r in resources)
    return grants


def deploy(region: str = "us-east-1", **parameters: str) -> dict[str, Any]:
    """Create the member-roles stack in the simulated account; its outputs."""
    values = {"HubAccountId": HUB, "ExternalId": EXTERNAL_ID, **parameters}
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName="ecrwatch-member-roles",
        TemplateBody=MEMBER_ROLES.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName="ecrwatch-member-roles")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def role_names(region: str = "us-east-1") -> set[str]:
    return {r["RoleName"] for r in boto3.client("iam", region_name=region).list_roles()["Roles"]}


def trust_statement(role: str) -> dict[str, Any]:
    document = boto3.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    (statement,) = document["Statement"]
    return dict(statement)


# --- cfn-lint ------------------------------------------------------------------------------------------------


def test_the_kit_has_the_member_roles_template() -> None:
    assert MEMBER_ROLES in cloudformation_templates()


@pytest.mark.parametrize("template", cloudformation_templates(), ids=lambda p: p.name)
def test_cfn_lint_accepts_every_template_of_the_kit(template: Path) -> None:
    assert lint(template) == []


def test_cfn_lint_refuses_a_template_with_a_misspelt_property_or_an_unknown_action(tmp_path: Path) -> None:
    text = MEMBER_ROLES.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("MaxSessionDuration: 3600", "MaxSessionDurations: 3600", 1))
    assert any("MaxSessionDurations" in problem for problem in lint(broken))
    broken.write_text(text.replace("ecs:ListTasks]", "ecs:ListTask]", 1))
    assert any(problem.startswith("W3037") and "'listtask'" in problem for problem in lint(broken))


# --- the permissions are iam-policy's ---------------------------------------------------------------------------


@pytest.mark.parametrize("partition", sorted(PARTITION_REGIONS))
def test_the_deployed_roles_hold_exactly_what_iam_policy_prints(sim_aws: SimAWS, partition: str) -> None:
    region = PARTITION_REGIONS[partition]
    outputs = deploy(region)
    iam = boto3.client("iam", region_name=region)
    for role, policies in ROLE_POLICIES.items():
        assert set(iam.list_role_policies(RoleName=role)["PolicyNames"]) == set(policies)
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        for policy_name, command in policies.items():
            deployed = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            assert permissions(deployed) == permissions(printed_policy(command, partition)), (role, policy_name)
    assert outputs == {
        "ReaderRoleArn": f"arn:{partition}:iam::{ACCOUNT_ID}:role/ecrwatch-reader",
        "ScanningRoleArn": f"arn:{partition}:iam::{ACCOUNT_ID}:role/ecrwatch-scanning",
    }


def test_the_read_only_role_can_write_nothing(sim_aws: SimAWS) -> None:
    deploy()
    iam = boto3.client("iam")
    actions = {
        action
        for name in ROLE_POLICIES["ecrwatch-reader"]
        for (_, action, _, _) in permissions(
            iam.get_role_policy(RoleName="ecrwatch-reader", PolicyName=name)["PolicyDocument"]
        )
    }
    verbs = {action.split(":")[1] for action in actions}
    assert all(re.match(r"(List|Describe|Get|BatchGet)[A-Z]", verb) for verb in verbs), sorted(verbs)


# --- trust ------------------------------------------------------------------------------------------------------


def test_both_roles_trust_the_hub_account_with_the_external_id_only(sim_aws: SimAWS) -> None:
    deploy()
    for role in ROLE_POLICIES:
        assert trust_statement(role) == {
            "Sid": "HubAccountWithExternalId",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{HUB}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
        }


def test_each_role_can_be_narrowed_to_one_hub_role(sim_aws: SimAWS) -> None:
    deploy(ReaderTrustedRoleName="ecrwatch-hub", ScanningTrustedRoleName="security/admin")
    assert trust_statement("ecrwatch-reader")["Condition"] == {
        "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
        "ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{HUB}:role/ecrwatch-hub"},
    }
    assert trust_statement("ecrwatch-scanning")["Condition"]["ArnEquals"] == {
        "aws:PrincipalArn": f"arn:aws:iam::{HUB}:role/security/admin"
    }


def test_the_scanning_role_is_optional_and_names_and_path_are_parameters(sim_aws: SimAWS) -> None:
    outputs = deploy(CreateScanningRole="false", ReaderRoleName="ecr-reader", RolePath="/security/")
    assert role_names() == {"ecr-reader"}
    assert outputs == {"ReaderRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/security/ecr-reader"}


def test_cloudformation_never_shows_the_external_id(sim_aws: SimAWS) -> None:
    deploy()
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName="ecrwatch-member-roles")["Stacks"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["ExternalId"] == "****"
    assert EXTERNAL_ID not in json.dumps(stack, default=str)


def test_a_hub_account_id_that_is_not_one_is_refused_and_nothing_is_made(sim_aws: SimAWS) -> None:
    with pytest.raises(ClientError) as refused:
        deploy(HubAccountId="hub-account")
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "HubAccountId" in refused.value.response["Error"]["Message"]
    assert role_names() == set()


# --- a StackSet across the organisation ---------------------------------------------------------------------------


def iam_in(account: str) -> Any:
    """An IAM client acting in another account of the simulated organisation."""
    credentials = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="deploy-test"
    )["Credentials"]
    return boto3.client(
        "iam",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_a_service_managed_stack_set_gives_every_account_of_the_ou_its_roles(sim_aws: SimAWS) -> None:
    members = stack_set_organisation(HUB, EXTERNAL_ID)
    for member in members:
        iam = iam_in(member)
        assert {"ecrwatch-reader", "ecrwatch-scanning"} <= {r["RoleName"] for r in iam.list_roles()["Roles"]}
        deployed = iam.get_role_policy(RoleName="ecrwatch-reader", PolicyName="ecrwatch-check")["PolicyDocument"]
        assert permissions(deployed) == permissions(printed_policy("check", "aws"))
        trust = iam.get_role(RoleName="ecrwatch-reader")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
        assert trust["Condition"]["StringEquals"] == {"sts:ExternalId": EXTERNAL_ID}
    # A service-managed StackSet never deploys to the management account (the caller's, here).
    assert role_names() == set()


# --- the organisation: iam-policy --org, and check through the StackSet's roles ---------------------------------


def org_documents(command: str, role: str) -> dict[str, Any]:
    args = ["iam-policy", "--org", "--hub-account", HUB, "--role-name", role, "--command", command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    documents: dict[str, Any] = json.loads(result.stdout)
    return documents


@pytest.mark.parametrize(
    ("role", "policy_name", "command"),
    [(role, name, command) for role, policies in ROLE_POLICIES.items() for name, command in policies.items()],
)
def test_each_member_role_is_what_iam_policy_org_prints(
    sim_aws: SimAWS, role: str, policy_name: str, command: str
) -> None:
    deploy()
    member = org_documents(command, role)["member_role"]
    iam = boto3.client("iam")
    deployed = iam.get_role(RoleName=member["role_name"])["Role"]
    assert deployed["Path"] == member["path"]
    inline = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    assert permissions(inline) == permissions(member["permissions_policy"])
    # The printed trust policy holds a placeholder where the external id goes: ecrwatch never prints it.
    printed_trust = json.loads(json.dumps(member["trust_policy"]).replace('"EXTERNAL_ID"', json.dumps(EXTERNAL_ID)))
    (printed,) = printed_trust["Statement"]
    assert {k: v for k, v in trust_statement(role).items() if k != "Sid"} == printed


def test_the_scanning_role_lets_inspectors_delegated_administrator_activate_its_members(sim_aws: SimAWS) -> None:
    deploy()
    printed = org_documents("enable-scanning", "ecrwatch-scanning")["delegated_administrator"]["permissions_policy"]
    iam = boto3.client("iam")
    deployed = iam.get_role_policy(RoleName="ecrwatch-scanning", PolicyName="ecrwatch-enable-scanning")
    assert permissions(printed) <= permissions(deployed["PolicyDocument"])


def test_the_event_function_enters_member_accounts_with_the_hub_policys_grant(sim_aws: SimAWS) -> None:
    function = deploy_event_function(MemberRoleName="ecrwatch-reader", ExternalId=EXTERNAL_ID)
    config = LambdaConfig.from_environ({**function["Environment"]["Variables"], "AWS_REGION": "us-east-1"})
    assert config.role is not None and config.role.name == "ecrwatch-reader"
    assert config.role.external_id == EXTERNAL_ID
    (enter,) = [
        s
        for s in org_documents("check", "ecrwatch-reader")["hub_policy"]["Statement"]
        if s["Sid"] == ("EnterMemberAccounts")
    ]
    assert {g for g in function_permissions(function) if g[1] == "sts:AssumeRole"} == permissions(
        {"Statement": [enter]}
    )


def test_without_a_member_role_the_event_function_reads_its_own_account_only(sim_aws: SimAWS) -> None:
    function = deploy_event_function()
    config = LambdaConfig.from_environ({**function["Environment"]["Variables"], "AWS_REGION": "us-east-1"})
    assert config.role is None
    assert not any(a.startswith("sts:") for _, a, _, _ in function_permissions(function))


HUB_ROLE = DEPLOY / "aws" / "hub-role.yaml"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def deploy_hub_role(**parameters: str) -> str:
    values = {"OidcIssuer": ISSUER, **parameters}
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName="ecrwatch-hub",
        TemplateBody=HUB_ROLE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName="ecrwatch-hub")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    (output,) = stack["Outputs"]
    return str(output["OutputValue"])


def role_permissions(role: str) -> set[tuple[str, str, str, str]]:
    iam = boto3.client("iam")
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    grants: set[tuple[str, str, str, str]] = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        grants |= permissions(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    return grants


def test_the_hub_role_holds_exactly_the_hub_policy_iam_policy_org_prints(sim_aws: SimAWS) -> None:
    topic = boto3.client("sns").create_topic(Name="ecrwatch-alerts")["TopicArn"]
    arn = deploy_hub_role(AlertTopicArn=topic, MemberRoleName="security/ecrwatch-reader")
    assert arn == f"arn:aws:iam::{ACCOUNT_ID}:role/ecrwatch-hub"
    args = ["iam-policy", "--org", "--hub-account", ACCOUNT_ID, "--role-name", "security/ecrwatch-reader"]
    result = CliRunner().invoke(main, [*args, "--sns-topic", topic])
    assert result.exit_code == 0, result.output
    assert role_permissions("ecrwatch-hub") == permissions(json.loads(result.stdout)["hub_policy"])


def test_only_the_cronjobs_service_account_may_take_the_hub_role(sim_aws: SimAWS) -> None:
    deploy_hub_role()
    role = boto3.client("iam").get_role(RoleName="ecrwatch-hub")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:ecrwatch:ecrwatch",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    # The CronJob's ServiceAccount is that one, annotated with this role.
    documents = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob-org.yaml").read_text())}
    account = documents["ServiceAccount"]["metadata"]
    assert (account["namespace"], account["name"]) == ("ecrwatch", "ecrwatch")
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/ecrwatch-hub")
    assert "sns:Publish" not in {a for _, a, _, _ in role_permissions("ecrwatch-hub")}


def stack_set_organisation(hub: str, external_id: str, **parameters: str) -> list[str]:
    """An organisation with an OU of two accounts, given the member roles by a service-managed StackSet (the
    README's two commands, as API calls); the member accounts."""
    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    (root,) = organizations.list_roots()["Roots"]
    ou = organizations.create_organizational_unit(ParentId=root["Id"], Name="workloads")["OrganizationalUnit"]["Id"]
    members = []
    for name in ("payments", "storefront"):
        account = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
        members.append(account["CreateAccountStatus"]["AccountId"])
        organizations.move_account(AccountId=members[-1], SourceParentId=root["Id"], DestinationParentId=ou)
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack_set(
        StackSetName="ecrwatch-member-roles",
        TemplateBody=MEMBER_ROLES.read_text(),
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            for k, v in {"HubAccountId": hub, "ExternalId": external_id, **parameters}.items()
        ],
    )
    operation = cloudformation.create_stack_instances(
        StackSetName="ecrwatch-member-roles", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=["us-east-1"]
    )
    status = cloudformation.describe_stack_set_operation(
        StackSetName="ecrwatch-member-roles", OperationId=operation["OperationId"]
    )["StackSetOperation"]["Status"]
    assert status == "SUCCEEDED"
    return members


def check_org(external_id: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    args = ["check", "--org", "--role-name", "ecrwatch-reader", "--external-id", external_id]
    result = CliRunner().invoke(main, [*args, "--region", "us-east-1", "--no-eks", "--format", "json"], env=env)
    report: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, report


def test_check_org_enters_every_account_through_the_stack_sets_role_with_the_external_id_only(
    sim_aws: SimAWS,
) -> None:
    members = stack_set_organisation(ACCOUNT_ID, EXTERNAL_ID)  # the hub is the caller's own account here
    status, report = check_org(EXTERNAL_ID)
    assert status == 0, report["errors"]
    details = {d["account"]: d["ok"] for d in report["scope"]["account_details"]}
    assert details == {ACCOUNT_ID: True, members[0]: True, members[1]: True}

    status, report = check_org("not-the-external-id")
    assert status == 3
    details = {d["account"]: d["ok"] for d in report["scope"]["account_details"]}
    assert details == {ACCOUNT_ID: True, members[0]: False, members[1]: False}
    assert sorted((e["source"], e["code"]) for e in report["errors"]) == [
        (f"account:{member}", "AccessDenied") for member in sorted(members)
    ]
    assert "not-the-external-id" not in json.dumps(report)


def test_with_reader_trusted_role_name_only_that_hub_role_enters_the_members(sim_aws: SimAWS) -> None:
    iam = boto3.client("iam")
    trust = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
    hub = iam.create_role(
        RoleName="ecrwatch-hub", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]["Arn"]
    members = stack_set_organisation(ACCOUNT_ID, EXTERNAL_ID, ReaderTrustedRoleName="ecrwatch-hub")
    status, report = check_org(EXTERNAL_ID)  # the caller is the account's user, not the hub role
    assert status == 3
    assert sorted(e["source"] for e in report["errors"]) == sorted(f"account:{m}" for m in members)

    credentials = boto3.client("sts").assume_role(RoleArn=hub, RoleSessionName="cronjob")["Credentials"]
    as_hub = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    status, report = check_org(EXTERNAL_ID, env=as_hub)
    assert status == 0, report["errors"]
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {
        ACCOUNT_ID: True,
        members[0]: True,
        members[1]: True,
    }


# --- the parameters are as IAM and STS define them --------------------------------------------------------------


def template() -> dict[str, Any]:
    decoded, problems = decode(str(MEMBER_ROLES))
    assert not problems and decoded is not None
    return dict(decoded)


def test_the_external_id_is_never_echoed_and_bounded_as_sts_bounds_it() -> None:
    parameter = template()["Parameters"]["ExternalId"]
    external_id = botocore.session.get_session().get_service_model("sts").shape_for("externalIdType").metadata
    assert parameter["NoEcho"] is True and "Default" not in parameter
    assert (parameter["MinLength"], parameter["MaxLength"]) == (external_id["min"], external_id["max"])
    # CloudFormation matches AllowedPattern against the whole value, as fullmatch does.
    for value in ("abc", "a-b_c+d=e,f.g@h:i/j", EXTERNAL_ID):
        assert re.fullmatch(parameter["AllowedPattern"], value) and re.fullmatch(external_id["pattern"], value)
    for value in ("two words", "quote'", "semi;colon"):
        assert not re.fullmatch(parameter["AllowedPattern"], value)
        assert not re.fullmatch(external_id["pattern"], value)


def test_role_names_and_path_are_bounded_as_iam_bounds_them() -> None:
    parameters = template()["Parameters"]
    iam = botocore.session.get_session().get_service_model("iam")
    role_name = iam.shape_for("roleNameType").metadata
    for name in ("ReaderRoleName", "ScanningRoleName"):
        assert (parameters[name]["MinLength"], parameters[name]["MaxLength"]) == (role_name["min"], role_name["max"])
        assert parameters[name]["AllowedPattern"] == role_name["pattern"]
    path = iam.shape_for("pathType").metadata
    assert parameters["RolePath"]["MaxLength"] == path["max"]
    for value in ("/", "/security/", "/a/b/"):
        assert re.fullmatch(parameters["RolePath"]["AllowedPattern"], value)
        assert re.fullmatch(path["pattern"], value)
    for value in ("security", "/security", "security/"):
        assert not re.fullmatch(parameters["RolePath"]["AllowedPattern"], value)
        assert not re.fullmatch(path["pattern"], value)


# --- the event function: EventBridge rule and Lambda ------------------------------------------------------------

EVENT_LAMBDA = DEPLOY / "aws" / "event-lambda.yaml"


def deploy_event_function(**parameters: str) -> dict[str, Any]:
    """Create the event-function stack (its package in a simulated bucket); the function's configuration."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ecrwatch-artifacts")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("ecrwatch/__init__.py", "")
    s3.put_object(Bucket="ecrwatch-artifacts", Key="ecrwatch.zip", Body=package.getvalue())
    values = {"CodeBucket": "ecrwatch-artifacts", "CodeKey": "ecrwatch.zip", **parameters}
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="ecrwatch-events",
        TemplateBody=EVENT_LAMBDA.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (stack,) = cloudformation.describe_stacks(StackName="ecrwatch-events")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    function = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName="ecrwatch-events")
    return dict(function["Configuration"])


def function_permissions(function: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """Every grant of the function's role, over all its inline policies."""
    iam = boto3.client("iam")
    role = function["Role"].rsplit("/", 1)[1]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    grants: set[tuple[str, str, str, str]] = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        grants |= permissions(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    return grants


def test_the_event_rule_sends_the_documented_pattern_to_the_function_only(sim_aws: SimAWS) -> None:
    function = deploy_event_function()
    events = boto3.client("events", region_name="us-east-1")
    (rule,) = events.list_rules()["Rules"]
    assert json.loads(rule["EventPattern"]) == json.loads(
        (DEPLOY / "aws" / "eventbridge-rule-pattern.json").read_text()
    )
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == function["FunctionArn"]
    (grant,) = json.loads(
        boto3.client("lambda", region_name="us-east-1").get_policy(FunctionName="ecrwatch-events")["Policy"]
    )["Statement"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


def test_the_functions_settings_are_ones_the_handler_accepts(sim_aws: SimAWS) -> None:
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="ecrwatch-alerts")["TopicArn"]
    function = deploy_event_function(AlertTopicArn=topic, Regions="us-east-1 eu-west-1", MinSeverity="CRITICAL")
    assert function["Handler"] == "ecrwatch.aws_lambda.handler"
    config = LambdaConfig.from_environ({**function["Environment"]["Variables"], "AWS_REGION": "us-east-1"})
    assert config.regions == ("us-east-1", "eu-west-1")
    assert config.filters.min_severity == "CRITICAL"
    assert [t.arn for t in config.notifications.topics] == [topic]


def test_the_functions_role_holds_the_documented_lambda_policy(sim_aws: SimAWS) -> None:
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="ecrwatch-alerts")["TopicArn"]
    deployed = function_permissions(deploy_event_function(AlertTopicArn=topic))
    documented = permissions(json.loads((DEPLOY / "aws" / "lambda-iam-policy.json").read_text()))
    # The documented file names an example account and topic; the stack names its own, and it creates the
    # function's log group itself, so the function need not.
    assert {a for _, a, _, _ in deployed} == {a for _, a, _, _ in documented} - {"logs:CreateLogGroup"}
    publish = {r for _, a, r, _ in deployed if a == "sns:Publish"}
    assert publish == {topic}
    logs = {r for _, a, r, _ in deployed if a.startswith("logs:")}
    assert logs == {f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/lambda/ecrwatch-events:*"}


def test_without_a_topic_the_function_may_publish_nowhere(sim_aws: SimAWS) -> None:
    actions = {a for _, a, _, _ in function_permissions(deploy_event_function())}
    assert "sns:Publish" not in actions and "ecs:ListTasks" in actions


def test_the_readmes_deploy_commands_name_the_kits_files_and_their_parameters() -> None:
    readme = (DEPLOY.parent / "README.md").read_text()
    section = readme.split("## Deploying across an organisation", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"aws cloudformation create-stack(?:-set)? .*?(?=\n\S|\n\n|```)", section, re.S)
    assert len(commands) == 3  # the StackSet, the hub role, the event function
    for command in commands:
        (template,) = re.findall(r"file://(deploy/aws/[\w.-]+)", command)
        decoded, problems = decode(str(DEPLOY.parent / template))
        assert not problems and decoded is not None
        parameters = decoded["Parameters"]
        named = re.findall(r"ParameterKey=(\w+)", command)
        assert named and set(named) <= set(parameters)
        required = {name for name, slot in parameters.items() if "Default" not in slot}
        assert required <= set(named), (template, required - set(named))
    assert "--permission-model SERVICE_MANAGED" in commands[0]
    assert "OrganizationalUnitIds=" in section
