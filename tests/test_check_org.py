"""`ecrwatch check` across accounts, end to end through the CLI against a simulated organisation: a registry
account holding the images and their findings, workload accounts running them, accounts that cannot be
entered, Organizations' accounts and OUs, Inspector's delegated administrator."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.accounts import IssuedSecrets, SimOrganization
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.kube_objects import KubeContainerSeed
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import ROLE, deploy_role, session_in

REGION = "us-east-1"
REGISTRY, TEAM_A, TEAM_B, NO_ROLE = "222222222222", "111111111111", "333333333333", "444444444444"
CVE = "CVE-2024-4242"


@dataclass
class Org:
    sim: SimAWS
    digest: str  # the registry's image, with a HIGH finding, run in every workload account

    def run_in(self, account: str, cluster: str = "prod", family: str = "api") -> None:
        """A task of `family` in `account`'s ECS cluster `cluster`, running the registry's image."""
        ecs = self.sim.extension(EcsSim)
        with contextlib.suppress(ValueError):  # already there
            ecs.add_cluster(REGION, cluster, account=account)
        image = f"{ecr_registry_host(REGISTRY, REGION)}/team/api:v1"
        container = EcsContainerSeed("api", image, digest=self.digest)
        ecs.add_task(REGION, cluster, account=account, family=family, containers=[container])


@pytest.fixture
def org(sim_aws: SimAWS) -> Org:
    return build_org(sim_aws)


def build_org(sim_aws: SimAWS) -> Org:
    """The registry account's image and finding, the member role in the registry and two workload accounts,
    and a task running the image in the caller's account and in each workload account."""
    ecr = session_in(REGISTRY).client("ecr")
    ecr.create_repository(repositoryName="team/api")
    digest = push_image(ecr, "team/api", "v1")
    sim_aws.extension(Inspector2Sim).add_finding(
        REGION, repository="team/api", digest=digest, vulnerability_id=CVE, severity="HIGH", account=REGISTRY
    )
    for account in (REGISTRY, TEAM_A, TEAM_B):
        deploy_role(account)
    world = Org(sim_aws, digest)
    for account in (ACCOUNT_ID, TEAM_A, TEAM_B):
        world.run_in(account, family=f"api-{account}")
    sim_aws.calls.clear()
    return world


def check(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", "--no-eks", *args], env=env)


def report_of(result: Result) -> dict[str, Any]:
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return valid_report(report)


def assumed_roles(sim: SimAWS) -> list[str]:
    return sorted(str(r.params) for r in sim.calls.select("sts", "AssumeRole"))


def role_arns(sim: SimAWS) -> set[str]:
    """The role ARNs AssumeRole was called with (query-protocol bodies are not in the call log's params)."""
    return {p for p in assumed_roles(sim)}


def test_clusters_of_the_same_name_in_two_accounts_are_kept_apart(org: Org) -> None:
    result = check("--account", ACCOUNT_ID, "--account", TEAM_A, "--account", TEAM_B, "--role-name", ROLE)
    report = report_of(result)
    assert result.exit_code == 0, result.stderr
    scope = report["scope"]
    assert scope["accounts"] == [TEAM_A, ACCOUNT_ID, TEAM_B]
    assert scope["account_details"] == [
        {"account": TEAM_A, "name": None, "ok": True},
        {"account": ACCOUNT_ID, "name": None, "ok": True},
        {"account": TEAM_B, "name": None, "ok": True},
    ]
    clusters = {(c["name"], c["account"], c["arn"]) for c in scope["clusters"]}
    assert clusters == {("prod", a, f"arn:aws:ecs:{REGION}:{a}:cluster/prod") for a in (ACCOUNT_ID, TEAM_A, TEAM_B)}
    [image] = report["images"]
    assert image["image"]["registry"] == REGISTRY
    workloads = {(w["account"], w["cluster"], w["task_arn"].split(":")[4]) for w in image["workloads"]}
    assert workloads == {(a, "prod", a) for a in (ACCOUNT_ID, TEAM_A, TEAM_B)}
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]
    assert report["errors"] == []


def test_the_callers_own_account_is_read_without_assume_role(org: Org) -> None:
    result = check("--account", ACCOUNT_ID, "--account", TEAM_A, "--role-name", ROLE)
    assert result.exit_code == 0, result.stderr
    assumed = org.sim.calls.count("sts", "AssumeRole")
    # The workload account and the registry its image comes from: one AssumeRole each, none for the caller.
    assert assumed == 2
    assert report_of(result)["scope"]["accounts"] == [TEAM_A, ACCOUNT_ID]


def test_each_account_is_read_as_soon_as_it_is_entered_not_after_every_account_is(org: Org) -> None:
    # TEAM_B's AssumeRole is slow: TEAM_A is read meanwhile, rather than every account waiting for the slowest.
    org.sim.faults.add("sts", "AssumeRole", latency=1.5, when=lambda request: TEAM_B.encode() in request.body)
    result = check("--account", TEAM_A, "--account", TEAM_B, "--role-name", ROLE, "--workers", "4")
    assert result.exit_code == 0, result.stderr
    records = org.sim.calls.records
    [slow] = [r for r in records if r.operation == "AssumeRole" and TEAM_B in str(r.params)]
    team_a_read = [r.answered_at for r in records if r.service == "ecs" and r.account == TEAM_A]
    assert team_a_read and max(team_a_read) < slow.answered_at
    [image] = report_of(result)["images"]
    assert {w["account"] for w in image["workloads"]} == {TEAM_A, TEAM_B}  # and the slow one is read in full


def test_one_account_without_the_role_is_an_error_and_the_others_complete(org: Org) -> None:
    org.run_in(NO_ROLE, family="api-lost")
    result = check("--account", TEAM_A, "--account", NO_ROLE, "--role-name", ROLE)
    assert result.exit_code == 3
    report = report_of(result)
    [error] = report["errors"]
    assert (error["source"], error["account"], error["code"]) == (f"account:{NO_ROLE}", NO_ROLE, "AccessDenied")
    assert f"arn:aws:iam::{NO_ROLE}:role/{ROLE}" in error["message"]
    details = {d["account"]: d["ok"] for d in report["scope"]["account_details"]}
    assert details == {TEAM_A: True, NO_ROLE: False}
    [image] = report["images"]
    assert {w["account"] for w in image["workloads"]} == {TEAM_A}
    assert f"account {NO_ROLE}" in result.stderr


def test_a_wrong_external_id_is_refused_and_never_printed(org: Org) -> None:
    deploy_role(NO_ROLE, external_id="the-right-external-id")
    secret = "wrong-external-id-42"
    result = check("--account", NO_ROLE, "--role-name", ROLE, "-vv", env={"ECRWATCH_EXTERNAL_ID": secret})
    assert result.exit_code == 3
    report = report_of(result)
    assert [(e["source"], e["code"]) for e in report["errors"]] == [(f"account:{NO_ROLE}", "AccessDenied")]
    assert secret not in result.stdout and secret not in result.stderr
    right = check("--account", NO_ROLE, "--role-name", ROLE, "--external-id", "the-right-external-id", "-vv")
    assert right.exit_code == 0, right.stderr
    assert "the-right-external-id" not in right.stdout + right.stderr


def test_another_account_without_role_name_is_exit_2_after_the_identity_alone(org: Org) -> None:
    result = check("--account", TEAM_A)
    assert result.exit_code == 2
    assert "--role-name" in result.stderr
    assert [f"{r.service}:{r.operation}" for r in org.sim.calls.records] == ["sts:GetCallerIdentity"]


def test_malformed_account_options_are_exit_2_before_any_call(org: Org) -> None:
    bad = (["--account", "12345"], ["--ou", "team"], ["--exclude-account", TEAM_A], ["--org", "--role-name", "a b"])
    for args in bad:
        result = check(*args)
        assert result.exit_code == 2, args
        assert args[0] in result.stderr or "--role-name" in result.stderr
    assert org.sim.calls.records == []


def test_an_unentered_registry_leaves_its_images_unscanned_with_the_reason(org: Org, sim_aws: SimAWS) -> None:
    # The registry's role is gone: nothing in it can be read, and its image is never called clean.
    from moto.iam.models import iam_backends

    iam_backends[REGISTRY]["aws"].delete_role(ROLE)
    result = check("--account", TEAM_A, "--role-name", ROLE)
    report = report_of(result)
    assert result.exit_code == 0, result.stderr  # a registry that was not selected is no error
    assert report["images"] == [] and report["errors"] == []
    [unscanned] = report["unscanned"]
    assert unscanned["reason"] in ("not_covered", "digest_unknown")
    assert f"account {REGISTRY} could not be entered (AccessDenied)" in unscanned["detail"]


def test_organisation_with_an_ou_filter_reads_the_ous_accounts_recursively(sim_aws: SimAWS, org: Org) -> None:
    organisation = SimOrganization()
    workloads = organisation.add_ou("workloads")
    nested = organisation.add_ou("payments", parent=workloads)
    inside = organisation.add_account("shop", parent=workloads)
    deeper = organisation.add_account("payments-prod", parent=nested)
    organisation.add_account("sandbox")  # at the root: not under the OU
    suspended = organisation.add_account("old", parent=workloads, suspended=True)
    for account in (inside, deeper, suspended):
        deploy_role(account)
        org.run_in(account, family=f"api-{account}")
    result = check("--ou", workloads, "--role-name", ROLE)
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["scope"]["accounts"] == sorted([inside, deeper])
    names = {d["account"]: d["name"] for d in report["scope"]["account_details"]}
    assert names == {inside: "shop", deeper: "payments-prod"}
    [image] = report["images"]
    assert {w["account"] for w in image["workloads"]} == {inside, deeper}
    # --org reads every active account; --exclude-account leaves one out.
    everything = report_of(check("--org", "--exclude-account", deeper, "--role-name", ROLE))
    assert inside in everything["scope"]["accounts"] and ACCOUNT_ID in everything["scope"]["accounts"]
    assert deeper not in everything["scope"]["accounts"] and suspended not in everything["scope"]["accounts"]


def test_with_a_role_the_organisation_is_listed_while_the_callers_identity_is_asked(sim_aws: SimAWS, org: Org) -> None:
    # A role given: nothing waits on the identity to ask Organizations, so its pages are not a chain after it.
    organisation = SimOrganization()
    member = organisation.add_account("shop")
    deploy_role(member)
    org.run_in(member, family="api-shop")
    org.sim.faults.add("sts", "GetCallerIdentity", latency=0.5)
    result = check("--org", "--role-name", ROLE)
    assert result.exit_code == 0, result.stderr
    records = org.sim.calls.records
    [identity] = [r for r in records if r.operation == "GetCallerIdentity"]
    listed = [r.answered_at for r in records if r.operation == "ListAccounts"]
    assert listed and max(listed) < identity.answered_at
    assert member in report_of(result)["scope"]["accounts"]


def test_without_a_role_nothing_but_the_identity_is_asked_before_the_usage_error(org: Org) -> None:
    result = check("--org")
    assert result.exit_code == 2
    assert "--role-name" in result.stderr
    assert [r.operation for r in org.sim.calls.records] == ["GetCallerIdentity"]


def test_organizations_refusing_is_an_error_and_the_named_accounts_are_still_read(org: Org) -> None:
    org.sim.faults.add("organizations", "ListAccounts", error="AccessDeniedException", message="no access")
    result = check("--org", "--account", TEAM_A, "--role-name", ROLE)
    assert result.exit_code == 3
    report = report_of(result)
    assert [(e["source"], e["code"]) for e in report["errors"]] == [("organizations", "AccessDeniedException")]
    assert report["scope"]["accounts"] == [TEAM_A]
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]


def test_the_delegated_administrator_answers_for_its_members_images(org: Org) -> None:
    security = "555555555555"
    deploy_role(security)
    org.sim.extension(Inspector2Sim).set_delegated_admin(REGION, security, members=[REGISTRY, TEAM_A])
    # The registry's own Inspector is never asked: even without its role the findings come from the admin.
    from moto.iam.models import iam_backends

    iam_backends[REGISTRY]["aws"].delete_role(ROLE)
    result = check("--account", TEAM_A, "--role-name", ROLE, "--inspector-account", security)
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]
    assert report["scope"]["accounts"] == [TEAM_A]  # the administrator is asked, not reported on


def test_without_account_options_the_report_is_the_single_account_one(org: Org) -> None:
    result = check()
    report = report_of(result)
    assert report["scope"]["accounts"] == [ACCOUNT_ID]
    assert "account_details" not in report["scope"]
    assert all("account" not in c for c in report["scope"]["clusters"])
    assert org.sim.calls.count("sts", "AssumeRole") == 0
    assert boto3.client("sts", region_name=REGION).get_caller_identity()["Account"] == ACCOUNT_ID


def test_the_table_lists_the_accounts_and_names_each_workloads_account(org: Org) -> None:
    org.run_in(NO_ROLE, family="api-lost")
    args = ["check", "--region", REGION, "--no-eks", "--format", "table", "--account", TEAM_A, "--account", TEAM_B]
    result = CliRunner().invoke(main, [*args, "--account", NO_ROLE, "--role-name", ROLE], env={"COLUMNS": "200"})
    assert result.exit_code == 3
    text = result.stdout
    assert f"account {TEAM_A}, {TEAM_B}, {NO_ROLE}" in text
    assert f"account {TEAM_A}" in text.split("Running in")[1] and f"account {TEAM_B}" in text.split("Running in")[1]
    assert f"account:{NO_ROLE}" in text.split("Errors (1)")[1]


def test_a_state_file_of_a_single_account_run_stays_valid_across_accounts(org: Org, tmp_path: Path) -> None:
    # An image of the caller's own registry, run in its own cluster: what a single-account run sees.
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="own")
    digest = push_image(ecr, "own", "v1")
    org.sim.extension(Inspector2Sim).add_finding(REGION, repository="own", digest=digest, vulnerability_id="CVE-1",
                                                 severity="LOW")  # fmt: skip
    image = f"{ecr_registry_host(ACCOUNT_ID, REGION)}/own:v1"
    org.sim.extension(EcsSim).add_task(REGION, "prod", containers=[EcsContainerSeed("own", image, digest=digest)])
    state = str(tmp_path / "state.json")
    first = report_of(check("--state", state))
    assert [(e["vulnerability_id"], e["new"]) for e in first["exposures"]] == [("CVE-1", True)]
    again = check("--state", state, "--account", ACCOUNT_ID, "--account", TEAM_A, "--role-name", ROLE)
    assert again.exit_code == 0, again.stderr
    second = report_of(again)
    new = {e["vulnerability_id"]: e["new"] for e in second["exposures"]}
    assert new == {"CVE-1": False, CVE: True}  # the single-account run's exposure is known
    assert second["resolved"] == []
    only_new = report_of(check("--state", state, "--new-only", "--account", ACCOUNT_ID, "--role-name", ROLE))
    assert only_new["exposures"] == []  # both known by now


def test_a_cluster_name_is_an_error_only_where_no_account_has_it(org: Org) -> None:
    org.run_in(TEAM_B, cluster="payments", family="pay")
    accounts = ["--account", TEAM_A, "--account", TEAM_B, "--role-name", ROLE]
    found = check(*accounts, "--ecs-cluster", "payments")
    assert found.exit_code == 0, found.stderr
    report = report_of(found)
    assert report["errors"] == []
    assert [(c["name"], c["account"]) for c in report["scope"]["clusters"]] == [("payments", TEAM_B)]
    missing = check(*accounts, "--ecs-cluster", "ghost")
    assert missing.exit_code == 3
    assert [(e["source"], e["code"]) for e in report_of(missing)["errors"]] == [
        (f"ecs:{REGION}/ghost", "ClusterNotFoundException")
    ]


def eks_cluster_in(
    org: Org, account: str, kube_factory: Callable[..., SimKube], name: str = "shop", namespace: str = "web"
) -> SimKube:
    """An EKS cluster `name` in `account` accepting tokens signed with the role credentials STS issues, its
    deployment in `namespace` running the registry's image."""
    kube = kube_factory(eks_cluster_name=name, tokens=(), sts_endpoints=[org.sim.endpoint_url])
    kube.aws_secret_keys = IssuedSecrets()  # type: ignore[assignment]  # keys STS issues during the run
    org.sim.extension(EksSim).add_cluster(REGION, name, endpoint=kube.url, ca_pem=kube.ca_pem, account=account)
    image = f"{ecr_registry_host(REGISTRY, REGION)}/team/api:v1"
    seed = KubeContainerSeed("api", image, image_id=f"{image.split(':')[0]}@{org.digest}")
    kube.run_deployment(namespace, "api", [seed])
    return kube


def test_an_eks_cluster_in_a_member_account_is_read_with_that_accounts_token(
    org: Org, sim_kube_factory: Callable[..., SimKube]
) -> None:
    eks_cluster_in(org, TEAM_A, sim_kube_factory)
    result = CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", "--account", TEAM_A,
                                       "--role-name", ROLE, "--no-ecs"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    [cluster] = report["scope"]["clusters"]
    assert (cluster["platform"], cluster["name"], cluster["account"], cluster["ok"]) == ("eks", "shop", TEAM_A, True)
    [image_entry] = report["images"]
    assert {(w["platform"], w["account"], w["namespace"]) for w in image_entry["workloads"]} == {("eks", TEAM_A, "web")}


def test_a_region_an_account_has_not_opted_into_is_that_accounts_error_not_the_runs(org: Org) -> None:
    # AWS answers a region an account has not enabled as if the credentials were unknown there.
    org.sim.faults.add("ecs", "ListClusters", region="eu-west-1", error="UnrecognizedClientException", status=403,
                       message="The security token included in the request is invalid",
                       when=lambda request: request.account == TEAM_B)  # fmt: skip
    accounts = ["--account", TEAM_A, "--account", TEAM_B, "--role-name", ROLE]
    result = check("--region", "eu-west-1", *accounts)  # us-east-1 and eu-west-1
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    [error] = report["errors"]
    assert (error["source"], error["code"]) == ("ecs:eu-west-1", "UnrecognizedClientException")
    assert error["account"] == TEAM_B
    assert f"account {TEAM_B}" in error["message"]
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {TEAM_A: True, TEAM_B: False}
    # The region that answered is read in both accounts: TEAM_B's us-east-1 cluster is reported.
    [image] = report["images"]
    assert {(w["account"], w["region"]) for w in image["workloads"]} == {(TEAM_A, REGION), (TEAM_B, REGION)}
    assert {(c["account"], c["region"]) for c in report["scope"]["clusters"]} == {(TEAM_A, REGION), (TEAM_B, REGION)}


def test_a_cluster_arn_of_an_account_not_selected_is_an_error(org: Org) -> None:
    arn = f"arn:aws:ecs:{REGION}:{TEAM_B}:cluster/prod"
    result = check("--account", TEAM_A, "--role-name", ROLE, "--ecs-cluster", arn)
    assert result.exit_code == 3
    report = report_of(result)
    [error] = report["errors"]
    assert (error["source"], error["account"]) == (f"ecs:{REGION}/prod", TEAM_B)
    assert "not among the selected accounts" in error["message"]
    assert report["scope"]["clusters"] == []  # TEAM_A's own prod was not asked for


def test_a_selected_account_no_source_reads_is_still_entered_and_its_refusal_is_its_error(org: Org) -> None:
    # Only TEAM_B's cluster is asked for (and no EKS): NO_ROLE has nothing to read, but it was selected, so
    # the report says whether it could be entered, and it cannot.
    arn = f"arn:aws:ecs:{REGION}:{TEAM_B}:cluster/prod"
    result = check("--account", TEAM_B, "--account", NO_ROLE, "--role-name", ROLE, "--ecs-cluster", arn)
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["account"], e["code"]) for e in report["errors"]] == [
        (f"account:{NO_ROLE}", NO_ROLE, "AccessDenied")
    ]
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {TEAM_B: True, NO_ROLE: False}
    assert {(c["account"], c["name"]) for c in report["scope"]["clusters"]} == {(TEAM_B, "prod")}
