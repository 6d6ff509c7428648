"""`ecrwatch iam-policy` prints exactly what each command needs: every AWS operation the commands call against
the simulated services is allowed by the printed policy (resource-scoped actions on the resource each call
names), and every action in the policy is called, apart from a short, explicit list that AWS checks inside
another call. `--kubernetes` covers every Kubernetes request `check` makes, and nothing more."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml  # type: ignore[import-untyped]

from ecrwatch import iam
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import CallRecord, SimAWS
from hardening_world import OTHER, REGION, add_eks_cluster, check, ecrwatch, seed_account

# AWS allows these to every principal; ecrwatch calls them (the account id), so no policy lists them.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Allowed, and never in a call log: AWS checks them inside another call (the ECR docs' enhanced-scanning
# policy lists the first; the second is how Inspector's first activation creates its service-linked role).
# Actions AWS checks inside another call, so no call log shows them. inspector2:Disable: ECR's "IAM permissions
# required for enhanced scanning" lists it for turning enhanced scanning off (setting the registry to BASIC).
CHECKED_BY_AWS = {
    "enable-scanning": {"inspector2:ListAccountPermissions", "iam:CreateServiceLinkedRole", "inspector2:Disable"}
}
FAST = ("--poll-interval", "0.01", "--wait-timeout", "10")


def printed_policy(command: str, *options: str) -> dict[str, Any]:
    result = ecrwatch("iam-policy", "--command", command, *options)
    assert result.exit_code == 0, result.output
    policy: dict[str, Any] = json.loads(result.stdout)
    return policy


# The topic a notification scenario publishes to: the call log keeps no parameters of query-protocol calls.
PUBLISHED_TO: dict[str, str] = {}


def resource_of(record: CallRecord) -> str | None:
    """The ARN a resource-scoped action is authorised against, from the call's own parameters."""
    action = f"{record.service}:{record.operation}"
    if action == "ecr:BatchGetImage":
        registry = record.params["registryId"]
        return f"arn:aws:ecr:{record.region}:{registry}:repository/{record.params['repositoryName']}"
    return PUBLISHED_TO.get(action)


def allows(policy: dict[str, Any], record: CallRecord) -> bool:
    action = f"{record.service}:{record.operation}"
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:
            return True
        target = resource_of(record)
        assert target is not None, f"{action} is scoped in the policy: say here which resource a call names"
        if any(fnmatch.fnmatchcase(target, pattern) for pattern in resources):
            return True
    return False


def policy_actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def assert_allows_every_call(policy: dict[str, Any], records: list[CallRecord]) -> None:
    assert records, "the scenarios called nothing"
    denied = sorted({f"{r.service}:{r.operation}" for r in records if not allows(policy, r)} - NEEDS_NO_PERMISSION)
    assert denied == [], "called, but not allowed by the printed policy"


def assert_covers_exactly(policy: dict[str, Any], records: Iterable[CallRecord], checked_by_aws: set[str]) -> None:
    records = list(records)
    assert_allows_every_call(policy, records)
    called = {f"{r.service}:{r.operation}" for r in records}
    unused = sorted(policy_actions(policy) - called - checked_by_aws)
    assert unused == [], "in the printed policy, but no scenario calls it"
    assert not (called & checked_by_aws), "an action said to be checked by AWS is called by ecrwatch"


# --- scenarios: each returns the call log of its runs --------------------------------------------------


def check_scenarios(
    sim: SimAWS, make_cluster: Callable[..., SimKube], tmp_path: Path
) -> tuple[list[CallRecord], SimKube]:
    account = seed_account(sim)
    kube = add_eks_cluster(make_cluster, account)
    records: list[CallRecord] = []
    for options in (
        (),
        ("--ecs-cluster", "prod", "--eks-cluster", "shop", "--min-severity", "HIGH"),
        ("--owner-label", "team"),  # task tags and the namespaces' labels
    ):
        sim.calls.clear()
        result = check(*options)
        assert result.exit_code == 0, result.output
        records += sim.calls.records
    return records, kube


def enable_scanning_scenarios(sim: SimAWS, tmp_path: Path) -> list[CallRecord]:
    """First activation with rules and durations and a backup, a no-change rerun, then the restore (of a BASIC
    registry: a deactivation, allowed)."""
    boto3.client("ecr", region_name=REGION).put_registry_scanning_configuration(scanType="BASIC", rules=[])
    sim.calls.clear()
    backup = tmp_path / "before.json"
    steps = [
        ("--yes", "--rescan-duration", "30d", "--backup", str(backup), *FAST),
        ("--yes", "--rescan-duration", "30d", *FAST),
        ("--restore", str(backup), "--yes", "--allow-deactivation", *FAST),
    ]
    for args in steps:
        result = ecrwatch("enable-scanning", "--region", REGION, *args)
        assert result.exit_code == 0, result.output
    assert sim.extension(Inspector2Sim).ecr_status(REGION) == "DISABLED"
    return sim.calls.records


def status_scenarios(sim: SimAWS) -> list[CallRecord]:
    sim.calls.clear()
    for region_args in (("--region", REGION), ("--region", REGION, "--region", OTHER)):
        result = ecrwatch("status", *region_args, "--format", "json")
        assert result.exit_code == 0, result.output
    return sim.calls.records


# --- the coverage proofs --------------------------------------------------------------------------------


def test_check_policy_allows_every_call_of_check_and_nothing_more(
    sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], tmp_path: Path
) -> None:
    records, _ = check_scenarios(sim_aws, sim_eks_cluster, tmp_path)
    assert_covers_exactly(printed_policy("check"), records, set())


def test_enable_scanning_policy_allows_activation_rules_durations_and_restore(sim_aws: SimAWS, tmp_path: Path) -> None:
    records = enable_scanning_scenarios(sim_aws, tmp_path)
    assert_covers_exactly(printed_policy("enable-scanning"), records, CHECKED_BY_AWS["enable-scanning"])


def test_status_policy_is_read_only_and_exact(sim_aws: SimAWS) -> None:
    records = status_scenarios(sim_aws)
    policy = printed_policy("status")
    assert_covers_exactly(policy, records, set())
    assert not any(a.split(":")[1].startswith(("Put", "Enable", "Update", "Create")) for a in policy_actions(policy))


def test_all_is_every_commands_policy_together(
    sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], tmp_path: Path
) -> None:
    records = enable_scanning_scenarios(sim_aws, tmp_path) + status_scenarios(sim_aws)
    records += check_scenarios(sim_aws, sim_eks_cluster, tmp_path)[0]
    combined = printed_policy("all")
    assert_covers_exactly(combined, records, CHECKED_BY_AWS["enable-scanning"])
    sids = [statement["Sid"] for statement in combined["Statement"]]
    assert len(sids) == len(set(sids))  # an action in two commands is granted once


def test_the_documented_exceptions_are_exactly_the_ones_in_the_module() -> None:
    assert iam.implicit_actions(["enable-scanning"]) == frozenset(CHECKED_BY_AWS["enable-scanning"])
    assert iam.implicit_actions(["check", "status"]) == frozenset()
    assert frozenset(NEEDS_NO_PERMISSION) == iam.NEEDS_NO_PERMISSION


def test_notifications_need_publish_on_their_topic_and_nothing_else(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_account(sim_aws)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="ecrwatch-alerts")["TopicArn"]
    monkeypatch.setitem(PUBLISHED_TO, "sns:Publish", topic)
    sim_aws.calls.clear()
    result = check("--notify-sns", topic, "--no-eks")
    assert result.exit_code == 0, result.output
    assert sim_aws.calls.count("sns", "Publish") >= 1
    policy = printed_policy("check", "--sns-topic", topic)
    assert_allows_every_call(policy, sim_aws.calls.records)
    (statement,) = [s for s in policy["Statement"] if "sns:Publish" in s["Action"]]
    assert (statement["Action"], statement["Resource"]) == (["sns:Publish"], topic)
    assert {r.service for r in sim_aws.calls.records if r.operation == "Publish"} == {"sns"}
    # ... and without --sns-topic the policy rightly refuses the notification.
    (publish,) = [r for r in sim_aws.calls.records if r.operation == "Publish"][:1]
    assert not allows(printed_policy("check"), publish)


# --- the documents themselves -----------------------------------------------------------------------------


def test_the_policy_is_valid_iam_json_with_scoped_resources_where_iam_can_scope() -> None:
    result = ecrwatch("iam-policy", "--command", "all", "--partition", "aws-cn")
    assert result.exit_code == 0
    policy = json.loads(result.stdout)
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert statement["Sid"].isalnum() and statement["Effect"] == "Allow"
        assert statement["Action"] == sorted(statement["Action"]) and statement["Action"]
    by_action = {a: s for s in policy["Statement"] for a in s["Action"]}
    assert by_action["ecr:BatchGetImage"]["Resource"] == "arn:aws-cn:ecr:*:*:repository/*"
    role = by_action["iam:CreateServiceLinkedRole"]
    assert role["Resource"].endswith(
        ":role/aws-service-role/inspector2.amazonaws.com/AWSServiceRoleForAmazonInspector2"
    )
    assert role["Condition"] == {"StringEquals": {"iam:AWSServiceName": "inspector2.amazonaws.com"}}
    # Notes for a person go to stderr, the document alone to stdout.
    assert "sts:GetCallerIdentity" in result.stderr and "note:" not in result.stdout


def test_the_default_is_checks_read_only_policy() -> None:
    result = ecrwatch("iam-policy")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == printed_policy("check")
    assert "ecr:PutRegistryScanningConfiguration" not in result.stdout


def test_sns_topics_add_publish_on_exactly_those_topics() -> None:
    topics = ("arn:aws:sns:us-east-1:123456789012:ecrwatch-alerts", "arn:aws:sns:eu-west-1:123456789012:sec")
    result = ecrwatch("iam-policy", "--sns-topic", topics[0], "--sns-topic", topics[1])
    assert result.exit_code == 0, result.output
    (publish,) = [s for s in json.loads(result.stdout)["Statement"] if "sns:Publish" in s["Action"]]
    assert publish["Action"] == ["sns:Publish"] and publish["Resource"] == sorted(topics)


# --- Kubernetes -------------------------------------------------------------------------------------------


def rbac_request(method: str, path: str, query: dict[str, str]) -> tuple[str, str, str] | None:
    """(apiGroup, resource, verb) of a Kubernetes API request; None for discovery and /version, which every
    authenticated user may read."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    assert method == "GET"
    verb = "watch" if query.get("watch") in ("true", "1") else ("get" if len(rest) > 1 else "list")
    return group, rest[0], verb


def test_the_cluster_role_covers_every_kubernetes_request_of_check_and_nothing_more(
    sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], tmp_path: Path
) -> None:
    _, kube = check_scenarios(sim_aws, sim_eks_cluster, tmp_path)
    result = ecrwatch("iam-policy", "--kubernetes")
    assert result.exit_code == 0, result.output
    role, binding = list(yaml.safe_load_all(result.stdout))
    assert role["kind"] == "ClusterRole" and binding["roleRef"]["name"] == role["metadata"]["name"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert all(verb in ("get", "list", "watch") for _, _, verb in granted)  # read-only
    needed = {r for r in (rbac_request(q.method, q.path, dict(q.query)) for q in kube.requests) if r is not None}
    assert needed, "check read the cluster"
    assert needed <= granted
    # Every resource granted is read; `get` rides along with `list` as the view role has it.
    assert {(g, r) for g, r, _ in granted} == {(g, r) for g, r, _ in needed}
    # How an EKS cluster grants it: an access entry with the AWS-managed view policy.
    assert "aws eks associate-access-policy" in result.stdout
    assert "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy" in result.stdout


@pytest.mark.parametrize("args", [("--command", "status"), ("--sns-topic", "arn:aws:sns:us-east-1:123456789012:t")])
def test_kubernetes_with_options_it_does_not_take_is_refused(args: tuple[str, ...]) -> None:
    result = ecrwatch("iam-policy", "--kubernetes", *args)
    assert result.exit_code == 2
    assert "--kubernetes" in result.stderr and result.stdout == ""
