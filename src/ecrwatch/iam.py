"""The least-privilege documents `ecrwatch iam-policy` prints: pure data and rendering, no I/O.

Each command's IAM actions are listed once here, with the reason it needs them. Resources are "*" where the
action has no resource-level permissions (the ECS and EKS list calls, the Inspector2 and ECR registry-level
calls) or where scoping would name every resource anyway (ListTasks / DescribeTasks on any cluster);
ecr:BatchGetImage is scoped to repositories and iam:CreateServiceLinkedRole to Inspector's own role.
`tests/test_iam_policy.py` runs every command against the simulated services and proves that each AWS
operation called is allowed here and that nothing here goes unused, apart from the `Grant.only_when` actions.

sts:GetCallerIdentity (the account id, and the presigned request inside an EKS token) is in no policy: AWS
allows it to every principal, whatever the policies say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.errors import UsageError
from ecrwatch.regions import REGION_PATTERN

POLICY_VERSION = "2012-10-17"
COMMANDS = ("check", "enable-scanning", "status")
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# Called by ecrwatch, allowed to everyone by AWS: never a policy line.
NEEDS_NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})

INSPECTOR_ROLE = "aws-service-role/inspector2.amazonaws.com/AWSServiceRoleForAmazonInspector2"
EKS_VIEW_POLICY = "AmazonEKSViewPolicy"
CLUSTER_ROLE = "ecrwatch-reader"
KUBERNETES_GROUP = "ecrwatch-readers"


@dataclass(frozen=True)
class Grant:
    """One IAM action a command needs. `resource` may name `{partition}`; `only_when` says when a command needs
    the action only sometimes. `implicit` marks an action AWS checks inside another call (ecrwatch never calls
    it, so no call log shows it)."""

    action: str
    why: str
    resource: str = "*"
    only_when: str | None = None
    implicit: bool = False
    condition: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Statement:
    sid: str
    grants: tuple[Grant, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(g.action for g in self.grants)


@dataclass(frozen=True)
class KubernetesRule:
    api_group: str  # "" is the core group
    resources: tuple[str, ...]
    verbs: tuple[str, ...] = ("get", "list")


ECS = Statement(
    "ReadRunningEcsTasks",
    (
        Grant("ecs:ListClusters", "find the clusters of each region"),
        Grant("ecs:DescribeClusters", "look up the clusters named with --ecs-cluster", only_when="with --ecs-cluster"),
        Grant("ecs:ListTasks", "list each cluster's RUNNING tasks"),
        Grant("ecs:DescribeTasks", "read every container's image and digest"),
    ),
)
EKS = Statement(
    "ReadEksClusters",
    (
        Grant("eks:ListClusters", "find the EKS clusters of each region"),
        Grant("eks:DescribeCluster", "read each cluster's API endpoint and CA"),
    ),
)
ECR_IMAGES = Statement(
    "ResolveImagesInEcr",
    (
        Grant(
            "ecr:BatchGetImage",
            "tell a multi-arch index from an image, and a tag's digest",
            resource="arn:{partition}:ecr:*:*:repository/*",
        ),
    ),
)
INSPECTOR_FINDINGS = Statement(
    "ReadInspectorFindings",
    (
        Grant("inspector2:ListFindings", "the ACTIVE findings of the running digests"),
        Grant(
            "inspector2:ListCoverage",
            "scanned and clean or never scanned, and whether Inspector still monitors each running image",
        ),
        Grant("inspector2:BatchGetFindingDetails", "CISA KEV data of the reported vulnerabilities (not with --no-kev)"),
    ),
)
SCANNING_READ = Statement(
    "ReadScanningConfiguration",
    (
        Grant("ecr:GetRegistryScanningConfiguration", "the registry's scan type and rules"),
        Grant("inspector2:BatchGetAccountStatus", "whether Inspector scans ECR in the account"),
        Grant("inspector2:GetConfiguration", "the ECR rescan durations"),
    ),
)
STATUS_COVERAGE = Statement(
    "ReadInspectorCoverage",
    (Grant("inspector2:ListCoverage", "how much of the registry Inspector covers, by scan status"),),
)
SCANNING_WRITE = Statement(
    "WriteScanningConfiguration",
    (
        Grant(
            "ecr:PutRegistryScanningConfiguration",
            "write the merged rules",
            only_when="when the rules change (not with --dry-run, nor when nothing changes)",
        ),
        Grant(
            "inspector2:Enable",
            "activate Inspector scanning for ECR",
            only_when="where Inspector is not yet active for ECR",
        ),
        Grant(
            "inspector2:UpdateConfiguration",
            "set the rescan durations",
            only_when="when the rescan durations change (--rescan-duration, --pull-rescan-duration, --restore)",
        ),
        Grant(
            "inspector2:Disable",
            "ECR deactivates Inspector's ECR scanning on the caller's behalf when a registry is set back to BASIC",
            only_when="with --restore --allow-deactivation of a BASIC backup: ECR calls it inside "
            "ecr:PutRegistryScanningConfiguration",
            implicit=True,
        ),
        Grant(
            "inspector2:ListAccountPermissions",
            "ECR checks it on the caller's behalf when the registry is set to ENHANCED",
            only_when="when a registry becomes ENHANCED: ECR checks it inside ecr:PutRegistryScanningConfiguration",
            implicit=True,
        ),
    ),
)
SERVICE_LINKED_ROLE = Statement(
    "CreateInspectorServiceLinkedRole",
    (
        Grant(
            "iam:CreateServiceLinkedRole",
            "the role Inspector creates on its first activation in the account",
            resource="arn:{partition}:iam::*:role/" + INSPECTOR_ROLE,
            only_when="on Inspector's first activation in the account: AWS calls it inside inspector2:Enable",
            implicit=True,
            condition={"StringEquals": {"iam:AWSServiceName": "inspector2.amazonaws.com"}},
        ),
    ),
)

POLICIES: Mapping[str, tuple[Statement, ...]] = {
    "check": (ECS, EKS, ECR_IMAGES, INSPECTOR_FINDINGS),
    "enable-scanning": (SCANNING_READ, SCANNING_WRITE, SERVICE_LINKED_ROLE),
    "status": (SCANNING_READ, STATUS_COVERAGE),
}

# What ecrwatch reads from a Kubernetes API: pods cluster-wide, the nodes they run on (for each pod's CPU
# architecture), the namespaces (with --owner-label, their labels name owning teams), and the owners it
# follows (ReplicaSet -> Deployment, Job -> CronJob) with list calls.
KUBERNETES_RULES = (
    KubernetesRule("", ("pods",)),
    KubernetesRule("", ("nodes",)),
    KubernetesRule("", ("namespaces",)),  # with --owner-label: a namespace's labels name its team
    KubernetesRule("apps", ("replicasets",)),
    KubernetesRule("batch", ("jobs",)),
)


@dataclass(frozen=True)
class PolicyRequest:
    commands: tuple[str, ...] = COMMANDS
    partition: str = "aws"
    sns_topics: tuple[str, ...] = field(default_factory=tuple)


def commands_for(choice: str) -> tuple[str, ...]:
    """`--command` value to the commands it stands for ("all" is every command)."""
    if choice == "all":
        return COMMANDS
    if choice not in COMMANDS:
        raise ValueError(f"unknown command {choice!r}; expected one of {', '.join((*COMMANDS, 'all'))}")
    return (choice,)


def statements(commands: Iterable[str]) -> tuple[Statement, ...]:
    """The statements of these commands, each Sid once, an action in the first statement that grants it."""
    merged: dict[str, list[Grant]] = {}
    granted: set[str] = set()
    for command in commands:
        for statement in POLICIES[command]:
            grants = merged.setdefault(statement.sid, [])
            for grant in statement.grants:
                if grant.action not in granted:
                    granted.add(grant.action)
                    grants.append(grant)
    return tuple(Statement(sid, tuple(grants)) for sid, grants in merged.items() if grants)


_SNS_TOPIC = re.compile(
    rf"arn:(?P<partition>aws[a-z-]*):sns:{REGION_PATTERN}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}(?:\.fifo)?"
)


def check_sns_topics(topics: Sequence[str], partition: str) -> tuple[str, ...]:
    """--sns-topic values: topic ARNs of the partition (a wildcard grants too much), else a UsageError."""
    for topic in topics:
        match = _SNS_TOPIC.fullmatch(topic)
        if match is None:
            raise UsageError(
                f"--sns-topic {topic!r} is not an SNS topic ARN",
                f"give the topic's ARN, like arn:{partition}:sns:us-east-1:123456789012:ecrwatch-alerts",
            )
        if match.group("partition") != partition:
            raise UsageError(
                f"--sns-topic {topic!r} is in partition {match.group('partition')}, not {partition}",
                "pass --partition to match the topic",
            )
    return tuple(dict.fromkeys(topics))


def sns_statement(topics: Sequence[str]) -> Statement:
    grants = tuple(Grant("sns:Publish", "notify about exposures", resource=topic) for topic in topics)
    return Statement("PublishNotifications", grants)


def policy_document(request: PolicyRequest, extra: Sequence[Statement] = ()) -> dict[str, Any]:
    """The IAM policy (JSON-ready dict) for the commands asked for (and `extra` statements)."""
    chosen = list(statements(request.commands))
    if request.sns_topics:
        chosen.append(sns_statement(request.sns_topics))
    chosen.extend(extra)
    rendered: list[dict[str, Any]] = []
    for statement in chosen:
        # One IAM statement per (actions, condition); the resources of each such group are listed together.
        by_resource: dict[str, dict[str, Any]] = {}
        for grant in statement.grants:
            resource = grant.resource.format(partition=request.partition)
            key = json.dumps([resource, grant.condition], sort_keys=True)
            entry = by_resource.setdefault(key, {"actions": set(), "resource": resource, "condition": grant.condition})
            entry["actions"].add(grant.action)
        groups: dict[str, dict[str, Any]] = {}
        for entry in by_resource.values():
            key = json.dumps([sorted(entry["actions"]), entry["condition"]], sort_keys=True)
            group = groups.setdefault(key, {**entry, "resources": []})
            group["resources"].append(entry["resource"])
        for index, group in enumerate(groups.values()):
            resources = sorted(group["resources"])
            body: dict[str, Any] = {
                "Sid": statement.sid if index == 0 else f"{statement.sid}{index + 1}",
                "Effect": "Allow",
                "Action": sorted(group["actions"]),
                "Resource": resources[0] if len(resources) == 1 else resources,
            }
            if group["condition"]:
                body["Condition"] = {op: dict(values) for op, values in group["condition"].items()}
            rendered.append(body)
    return {"Version": POLICY_VERSION, "Statement": rendered}


def render_policy(request: PolicyRequest) -> str:
    return json.dumps(policy_document(request), indent=2) + "\n"


def allowed_actions(commands: Iterable[str]) -> frozenset[str]:
    return frozenset(g.action for s in statements(commands) for g in s.grants)


def conditional_actions(commands: Iterable[str]) -> dict[str, str]:
    """Actions a command needs only sometimes, with when."""
    return {g.action: g.only_when for s in statements(commands) for g in s.grants if g.only_when}


def implicit_actions(commands: Iterable[str]) -> frozenset[str]:
    """Actions AWS checks inside another call: allowed, never called by ecrwatch itself."""
    return frozenset(g.action for s in statements(commands) for g in s.grants if g.implicit)


def notes(commands: Iterable[str]) -> list[str]:
    """What a person should know about the policy, for stderr."""
    commands = tuple(commands)
    lines = ["sts:GetCallerIdentity is not listed: AWS allows it to every principal."]
    lines.extend(f"{action}: only {when}." for action, when in conditional_actions(commands).items())
    if "check" in commands:
        lines.append(
            "check --notify-sns needs sns:Publish on its topics: add --sns-topic ARN (and, for a topic encrypted "
            "with a customer managed key, kms:GenerateDataKey and kms:Decrypt on that key)."
        )
        lines.append("check reads Kubernetes too: `ecrwatch iam-policy --kubernetes` prints the access it needs there.")
    return lines


# --- organisations -------------------------------------------------------------------------------------------

DEFAULT_MEMBER_ROLE = "ecrwatch-reader"
# Placeholders in the trust policy: the hub's account (when not given) and the external id (never printed).
HUB_PLACEHOLDER = "HUB_ACCOUNT_ID"
EXTERNAL_ID_PLACEHOLDER = "EXTERNAL_ID"

ORGANIZATIONS = Statement(
    "ListOrganisationAccounts",
    (
        Grant("organizations:ListAccounts", "the ACTIVE accounts of the organisation", only_when="with --org"),
        Grant("organizations:ListAccountsForParent", "the accounts under an OU", only_when="with --ou"),
        Grant(
            "organizations:ListOrganizationalUnitsForParent",
            "the OUs under an OU, recursively",
            only_when="with --ou",
        ),
    ),
)


def enter_accounts_statement(role_name: str) -> Statement:
    """sts:AssumeRole on the member role, in any account: the selected ones and the registries they use."""
    return Statement(
        "EnterMemberAccounts",
        (
            Grant(
                "sts:AssumeRole",
                "enter each selected account, and each registry account a running image names",
                resource="arn:{partition}:iam::*:role/" + role_name.strip("/"),
            ),
        ),
    )


@dataclass(frozen=True)
class OrgPolicyRequest:
    """What `iam-policy --org` prints: the hub's policy, the member role's permissions and trust policy."""

    commands: tuple[str, ...] = ("check",)
    partition: str = "aws"
    role_name: str = DEFAULT_MEMBER_ROLE  # a path may prefix it: security/ecrwatch-reader
    hub_account: str | None = None
    external_id: bool = True  # the trust policy asks for an external id (its value is never printed)
    sns_topics: tuple[str, ...] = field(default_factory=tuple)


def trust_policy(request: OrgPolicyRequest) -> dict[str, Any]:
    """The member role's trust policy: the hub account may assume it, with the external id where one is used."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{request.partition}:iam::{request.hub_account or HUB_PLACEHOLDER}:root"},
        "Action": "sts:AssumeRole",
    }
    if request.external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}


# What Inspector's delegated administrator does for its members in `enable-scanning --inspector-account`,
# through the member role deployed in its account (that role's own enable-scanning permissions include these;
# a separately managed administrator role needs them too).
ADMINISTER_MEMBERS = Statement(
    "AdministerInspectorMembers",
    (
        Grant("inspector2:Enable", "activate ECR scanning for its members (accountIds, 100 a call)"),
        Grant("inspector2:BatchGetAccountStatus", "wait until each member's ECR scanning is ENABLED"),
        Grant(
            "inspector2:UpdateConfiguration",
            "set a member's ECR rescan durations (accountId): members cannot call it",
            only_when="when the rescan durations change (--rescan-duration, --pull-rescan-duration, --restore)",
        ),
    ),
)


def org_documents(request: OrgPolicyRequest) -> dict[str, Any]:
    """The documents of a multi-account deployment, JSON-ready: the hub's policy, the member role, and with
    enable-scanning what Inspector's delegated administrator does for its members."""
    commands = PolicyRequest(request.commands, request.partition, request.sns_topics)
    hub_extra = [enter_accounts_statement(request.role_name)]
    if any(command in ("check", "status", "enable-scanning") for command in request.commands):
        hub_extra.insert(0, ORGANIZATIONS)
    path, _, name = request.role_name.strip("/").rpartition("/")
    documents: dict[str, Any] = {
        "hub_policy": policy_document(commands, hub_extra),
        "member_role": {
            "role_name": name,
            "path": f"/{path}/" if path else "/",
            "permissions_policy": policy_document(PolicyRequest(request.commands, request.partition)),
            "trust_policy": trust_policy(request),
        },
    }
    if "enable-scanning" in request.commands:
        documents["delegated_administrator"] = {
            "account": "the account named with --inspector-account (entered with the member role)",
            "permissions_policy": policy_document(PolicyRequest((), request.partition), [ADMINISTER_MEMBERS]),
        }
    return documents


def render_org(request: OrgPolicyRequest) -> str:
    return json.dumps(org_documents(request), indent=2) + "\n"


def org_notes(request: OrgPolicyRequest) -> list[str]:
    lines = [
        "hub_policy: attach it to the identity ecrwatch runs as (it reads its own account with it too).",
        f"member_role: deploy the role {request.role_name} in every account to read, with its permissions_policy "
        "and trust_policy.",
    ]
    if request.hub_account is None:
        lines.append(f"trust_policy: replace {HUB_PLACEHOLDER} with the hub's account id (or pass --hub-account).")
    if request.external_id:
        lines.append(
            f"trust_policy: replace {EXTERNAL_ID_PLACEHOLDER} with your external id, the value of --external-id "
            "or ECRWATCH_EXTERNAL_ID (ecrwatch never prints it); --no-external-id leaves the condition out."
        )
    lines.extend(f"{g.action}: only {g.only_when}." for g in ORGANIZATIONS.grants)
    if "enable-scanning" in request.commands:
        lines.append(
            "delegated_administrator: with enable-scanning --inspector-account ID, Inspector's delegated "
            "administrator activates its members and sets their rescan durations (a member may not deactivate "
            "itself nor update the configuration); the member role in its account allows this already."
        )
    return lines


# --- Kubernetes --------------------------------------------------------------------------------------------


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_ROLE, "labels": {"app.kubernetes.io/name": "ecrwatch"}},
        "rules": [
            {"apiGroups": [rule.api_group], "resources": list(rule.resources), "verbs": list(rule.verbs)}
            for rule in KUBERNETES_RULES
        ],
    }


def cluster_role_binding() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": CLUSTER_ROLE, "labels": {"app.kubernetes.io/name": "ecrwatch"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": KUBERNETES_GROUP}],
    }


def eks_access_commands(partition: str = "aws") -> list[str]:
    """The EKS access entry for the IAM role ecrwatch runs as, with the AWS-managed view policy."""
    policy_arn = f"arn:{partition}:eks::aws:cluster-access-policy/{EKS_VIEW_POLICY}"
    return [
        "aws eks create-access-entry --cluster-name CLUSTER --principal-arn ROLE_ARN --type STANDARD",
        "aws eks associate-access-policy --cluster-name CLUSTER --principal-arn ROLE_ARN \\",
        f"    --policy-arn {policy_arn} --access-scope type=cluster",
    ]


def render_kubernetes(partition: str = "aws") -> str:
    """The ClusterRole and its binding (for `kubectl apply -f -`), preceded by how an EKS cluster grants
    access to the IAM role ecrwatch runs as."""
    header = [
        "# Read-only access for ecrwatch: pods, nodes, namespaces, replicasets and jobs, get and list, cluster-wide.",
        "#",
        f"# EKS, with access entries: the AWS-managed {EKS_VIEW_POLICY} (read-only, no Secrets) covers pods,",
        "# replicasets and jobs:",
        *(f"#   {line}" for line in eks_access_commands(partition)),
        "# Nodes are cluster-scoped: where that policy does not grant them, give the access entry the group below",
        f"# too (--kubernetes-groups {KUBERNETES_GROUP}); without nodes each pod's CPU architecture is unknown, and",
        "# every platform image of a multi-arch image is charged to it (check reports the missing grant).",
        f"# Or, narrower: an access entry with --kubernetes-groups {KUBERNETES_GROUP} and no access policy,",
        "# plus the ClusterRole and ClusterRoleBinding below.",
        "#",
        f"# Any other cluster (a --kube-context): bind the user or group of that context to {CLUSTER_ROLE}.",
    ]
    import yaml  # type: ignore[import-untyped]  # only this output needs it: the JSON policies start without it

    documents: str = yaml.safe_dump_all([cluster_role(), cluster_role_binding()], sort_keys=False, explicit_start=True)
    return "\n".join(header) + "\n" + documents
