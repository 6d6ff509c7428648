"""Failure isolation across accounts, end to end through the CLI: a registry account or Inspector's delegated
administrator that refuses ecrwatch part-way through a run (a region it has not opted into answers as if the
credentials were unknown; a role without ecr or inspector2 permissions answers AccessDenied) is that
account's error, exit 3, its images never clean; only the caller's own credentials refused end a run with
exit 2."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.credentials
import pytest
from click.testing import CliRunner

from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.accounts import SimOrganization
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import ROLE, deploy_role
from test_check_org import CVE, REGION, REGISTRY, TEAM_A, TEAM_B, Org, build_org, check, eks_cluster_in, report_of

ADMIN = "555555555555"  # Inspector's delegated administrator
# What AWS answers in a region an account has not opted into: the credentials are unknown there.
UNKNOWN_THERE = {
    "error": "UnrecognizedClientException",
    "status": 403,
    "message": "The security token included in the request is invalid.",
}
DENIED = {"error": "AccessDeniedException", "status": 403, "message": "User is not authorized to perform this action"}


@pytest.fixture
def org(sim_aws: SimAWS) -> Org:
    return build_org(sim_aws)


def in_account(account: str) -> Any:
    return lambda request: request.account == account


def accounts_args() -> list[str]:
    return ["--account", TEAM_A, "--account", TEAM_B, "--role-name", ROLE]


def workload_accounts(report: dict[str, Any]) -> set[str]:
    """The accounts of every workload the report names, reported or unscanned."""
    entries = [*report["images"], *report["unscanned"]]
    return {w["account"] for entry in entries for w in entry["workloads"]}


@pytest.mark.parametrize("fault", [UNKNOWN_THERE, DENIED], ids=["credentials-unknown", "access-denied"])
def test_a_registry_whose_ecr_refuses_is_its_error_and_the_run_goes_on(org: Org, fault: dict[str, Any]) -> None:
    org.sim.faults.add("ecr", "BatchGetImage", when=in_account(REGISTRY), **fault)
    result = check(*accounts_args())
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        (f"ecr:{REGION}", fault["error"], REGISTRY)
    ]
    # The running digest is known: Inspector still answers for it, and both accounts' workloads are reported.
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]
    assert workload_accounts(report) == {TEAM_A, TEAM_B}
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {TEAM_A: True, TEAM_B: True}


def test_an_image_named_by_tag_alone_in_a_refusing_registry_is_digest_unknown_naming_the_registry(org: Org) -> None:
    image = f"{ecr_registry_host(REGISTRY, REGION)}/team/api:v1"
    ecs = org.sim.extension(EcsSim)
    ecs.add_task(REGION, "prod", account=TEAM_A, family="pulling", containers=[EcsContainerSeed("api", image)])
    org.sim.faults.add("ecr", "BatchGetImage", when=in_account(REGISTRY), **UNKNOWN_THERE)
    result = check(*accounts_args())
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    [unknown] = [u for u in report["unscanned"] if u["reason"] == "digest_unknown"]
    assert f"registry {REGISTRY}" in unknown["detail"] and "UnrecognizedClientException" in unknown["detail"]
    assert {w["account"] for w in unknown["workloads"]} == {TEAM_A}
    # The containers that report their digest are still matched with its finding.
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]


@pytest.mark.parametrize("fault", [UNKNOWN_THERE, DENIED], ids=["credentials-unknown", "access-denied"])
def test_a_registry_whose_inspector_refuses_leaves_its_images_unscanned(org: Org, fault: dict[str, Any]) -> None:
    org.sim.faults.add("inspector2", when=in_account(REGISTRY), **fault)
    result = check(*accounts_args())
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert {(e["source"], e["code"], e["account"]) for e in report["errors"]} == {
        (f"inspector2:{REGION}", fault["error"], REGISTRY)
    }
    assert report["exposures"] == [] and report["images"] == []
    [unscanned] = report["unscanned"]
    assert unscanned["reason"] == "not_covered"
    assert REGISTRY in unscanned["detail"] and "Inspector could not be read" in unscanned["detail"]
    assert {w["account"] for w in unscanned["workloads"]} == {TEAM_A, TEAM_B}


@pytest.mark.parametrize("fault", [UNKNOWN_THERE, DENIED], ids=["credentials-unknown", "access-denied"])
def test_the_delegated_administrator_refusing_is_its_error(org: Org, fault: dict[str, Any]) -> None:
    deploy_role(ADMIN)
    org.sim.extension(Inspector2Sim).set_delegated_admin(REGION, ADMIN, members=[REGISTRY, TEAM_A, TEAM_B])
    org.sim.faults.add("inspector2", when=in_account(ADMIN), **fault)
    result = check(*accounts_args(), "--inspector-account", ADMIN)
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert {(e["source"], e["code"], e["account"]) for e in report["errors"]} == {
        (f"inspector2:{REGION}", fault["error"], ADMIN)
    }
    [unscanned] = report["unscanned"]
    assert unscanned["reason"] == "not_covered"
    assert "Inspector could not be read" in unscanned["detail"]
    assert {w["account"] for w in unscanned["workloads"]} == {TEAM_A, TEAM_B}
    assert report["scope"]["accounts"] == [TEAM_A, TEAM_B]  # the administrator is asked, not reported on


def test_a_delegated_administrator_that_cannot_be_entered_is_an_error_never_the_callers_inspector(org: Org) -> None:
    org.sim.extension(Inspector2Sim).set_delegated_admin(REGION, ADMIN, members=[REGISTRY, TEAM_A, TEAM_B])
    # No role in ADMIN: its Inspector cannot be asked, and the caller's own knows nothing of the members.
    result = check(*accounts_args(), "--inspector-account", ADMIN)
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        (f"account:{ADMIN}", "AccessDenied", ADMIN)
    ]
    [unscanned] = report["unscanned"]
    assert unscanned["reason"] == "not_covered"
    assert f"account {ADMIN}" in unscanned["detail"]
    inspector_accounts = {r.account for r in org.sim.calls.select("inspector2")}
    assert ACCOUNT_ID not in inspector_accounts


def test_kev_data_refused_by_the_registrys_inspector_is_its_error(org: Org) -> None:
    org.sim.faults.add("inspector2", "BatchGetFindingDetails", when=in_account(REGISTRY), **UNKNOWN_THERE)
    result = check(*accounts_args())
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        (f"inspector2:{REGION}", "UnrecognizedClientException", REGISTRY)
    ]
    [exposure] = report["exposures"]
    assert exposure["vulnerability_id"] == CVE and exposure["kev"] is None


def test_an_eks_region_an_account_has_not_opted_into_is_that_regions_error(org: Org) -> None:
    org.sim.faults.add("eks", "ListClusters", region="eu-west-1", when=in_account(TEAM_B), **UNKNOWN_THERE)
    args = ["check", "--region", REGION, "--region", "eu-west-1", "--format", "json", *accounts_args()]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        ("eks:eu-west-1", "UnrecognizedClientException", TEAM_B)
    ]
    assert workload_accounts(report) == {TEAM_A, TEAM_B}  # both accounts' ECS tasks, EKS elsewhere read


def test_a_role_session_that_cannot_be_renewed_for_an_eks_token_is_that_clusters_error(
    org: Org, sim_kube_factory: Callable[..., SimKube], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Late in a long run a role's session nears its end and botocore renews it (AssumeRole again) before the
    # next use. Here every use renews (the refresh windows exceed the session's hour), and once both of TEAM_A's
    # clusters are described, TEAM_A's next renewal is refused, once: the EKS token of one of its clusters
    # cannot be signed. That cluster is the one error; TEAM_A's other cluster and TEAM_B are read in full (the
    # refusal ended TEAM_A's whole EKS job, both clusters, before tokens were signed through `calling_in`).
    for name in ("_advisory_refresh_timeout", "_mandatory_refresh_timeout"):
        monkeypatch.setattr(botocore.credentials.RefreshableCredentials, name, 2 * 3600)
    monkeypatch.setattr(botocore.credentials.CachedCredentialFetcher, "DEFAULT_EXPIRY_WINDOW_SECONDS", 2 * 3600)
    eks_cluster_in(org, TEAM_A, sim_kube_factory, name="shop", namespace="web")
    eks_cluster_in(org, TEAM_A, sim_kube_factory, name="pay", namespace="payments")
    eks_cluster_in(org, TEAM_B, sim_kube_factory)
    refused: list[bool] = []

    def team_a_renewal_once(request: Any) -> bool:
        described = sum(r.account == TEAM_A for r in org.sim.calls.select("eks", "DescribeCluster")) == 2
        if refused or not (described and f"%3A{TEAM_A}%3Arole" in request.body.decode()):
            return False
        refused.append(True)
        return True

    org.sim.faults.add("sts", "AssumeRole", when=team_a_renewal_once, error="ExpiredToken", status=400,
                       message="The security token included in the request is expired")  # fmt: skip
    result = CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", "--no-ecs", *accounts_args()])
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    [error] = report["errors"]
    platform, _, where = error["source"].partition(":")
    failed = where.rsplit("/", 1)[-1]
    assert (platform, error["code"], error["account"]) == ("eks", "ExpiredToken", TEAM_A)
    assert f"account {TEAM_A} refused the credentials of role {ROLE}" in error["message"]
    clusters = {(c["account"], c["name"]): c["ok"] for c in report["scope"]["clusters"]}
    assert clusters == {(TEAM_A, "shop"): failed != "shop", (TEAM_A, "pay"): failed != "pay", (TEAM_B, "shop"): True}
    read = {"shop": "web", "pay": "payments"}[{"shop": "pay", "pay": "shop"}[failed]]
    [image] = report["images"]
    assert {(w["account"], w["namespace"]) for w in image["workloads"]} == {(TEAM_A, read), (TEAM_B, "web")}
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {TEAM_A: False, TEAM_B: True}
    assert refused  # the scene did happen


def test_the_callers_own_credentials_refused_still_end_the_run_with_exit_2(org: Org) -> None:
    # A single-account run: the caller's own registry and Inspector are the ones that refuse.
    org.sim.faults.add("inspector2", when=in_account(ACCOUNT_ID), **UNKNOWN_THERE)
    image = f"{ecr_registry_host(ACCOUNT_ID, REGION)}/own:v1"
    container = EcsContainerSeed("own", image, digest="sha256:" + "a" * 64)
    org.sim.extension(EcsSim).add_task(REGION, "prod", containers=[container])
    result = check()
    assert result.exit_code == 2
    assert "UnrecognizedClientException" in result.stderr


def test_workers_bound_the_requests_in_flight_over_all_accounts_together(org: Org) -> None:
    organisation = SimOrganization()  # the caller's account manages it
    members = [organisation.add_account(f"team-{n}") for n in range(8)]
    for account in members:
        deploy_role(account)
        for cluster in ("prod", "batch", "web"):  # an account's clusters are read side by side too
            org.run_in(account, cluster=cluster, family=f"api-{account}")
    org.sim.faults.add("*", latency=0.05)  # every answer takes a while: requests overlap as far as allowed
    org.sim.concurrency.reset()
    # Three accounts' jobs at once, each reading its three clusters at once, and the findings lookup beside
    # them: without one bound over them all, nine requests and more would overlap.
    bounded = check("--org", "--role-name", ROLE, "--workers", "3")
    assert bounded.exit_code == 0, bounded.stderr
    everyone = {ACCOUNT_ID, *members}
    assert set(report_of(bounded)["scope"]["accounts"]) == everyone
    assert workload_accounts(report_of(bounded)) == everyone
    assert org.sim.concurrency.peak <= 3
    # The same run with room for more does overlap more than 3 requests: the bound above is what held it.
    org.sim.concurrency.reset()
    wide = check("--org", "--role-name", ROLE, "--workers", "16")
    assert wide.exit_code == 0, wide.stderr
    assert workload_accounts(report_of(wide)) == everyone
    assert org.sim.concurrency.peak > 3


def ecs_calls(org: Org, account: str, operation: str) -> int:
    return sum(1 for r in org.sim.calls.select("ecs", operation) if r.account == account)


def test_one_accounts_ecs_throttled_through_the_retries_is_its_error_and_the_others_are_reported(org: Org) -> None:
    org.sim.faults.add("ecs", when=in_account(TEAM_B), error="ThrottlingException", message="Rate exceeded")
    result = check("--account", ACCOUNT_ID, *accounts_args(), "--max-attempts", "2")
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        (f"ecs:{REGION}", "ThrottlingException", TEAM_B)
    ]
    assert workload_accounts(report) == {ACCOUNT_ID, TEAM_A}
    assert [e["vulnerability_id"] for e in report["exposures"]] == [CVE]
    details = {d["account"]: d["ok"] for d in report["scope"]["account_details"]}
    assert details == {ACCOUNT_ID: True, TEAM_A: True, TEAM_B: False}
    # botocore retried TEAM_B's throttled call (2 attempts); the other accounts' calls were answered first time.
    assert ecs_calls(org, TEAM_B, "ListClusters") == 2
    assert ecs_calls(org, TEAM_A, "ListClusters") == ecs_calls(org, ACCOUNT_ID, "ListClusters") == 1


def test_one_accounts_ecs_throttled_once_completes_after_a_retry(org: Org) -> None:
    org.sim.faults.add("ecs", "ListClusters", when=in_account(TEAM_B), error="ThrottlingException", times=1)
    result = check("--account", ACCOUNT_ID, *accounts_args(), "--max-attempts", "2")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["errors"] == []
    assert workload_accounts(report) == {ACCOUNT_ID, TEAM_A, TEAM_B}
    assert ecs_calls(org, TEAM_B, "ListClusters") == 2


def test_an_administrator_that_is_also_selected_and_cannot_be_entered_is_one_error(org: Org) -> None:
    org.sim.extension(Inspector2Sim).set_delegated_admin(REGION, ADMIN, members=[REGISTRY, TEAM_A, ADMIN])
    result = check("--account", TEAM_A, "--account", ADMIN, "--role-name", ROLE, "--inspector-account", ADMIN)
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    assert [(e["source"], e["code"], e["account"]) for e in report["errors"]] == [
        (f"account:{ADMIN}", "AccessDenied", ADMIN)
    ]
    assert {d["account"]: d["ok"] for d in report["scope"]["account_details"]} == {TEAM_A: True, ADMIN: False}
