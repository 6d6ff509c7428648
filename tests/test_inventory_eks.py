"""EKS discovery against the simulated account, and each cluster read through its simulated API server with
an EKS token made from the AWS credentials, TLS verified with the CA DescribeCluster gives."""

from __future__ import annotations

import datetime
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import botocore.auth
import pytest

from ecrwatch.aws import Aws
from ecrwatch.errors import UsageError
from ecrwatch.inventory.eks import (
    ClusterSelector,
    RegionPlan,
    collect_kubernetes,
    endpoint_key,
    parse_eks_selector,
    plan_kubernetes,
    plan_regions,
)
from ecrwatch.inventory.kube import Timeouts
from ecrwatch.models import ClusterScope, Inventory, Owner
from ecrwatch.sim.certs import CertificateAuthority
from ecrwatch.sim.kube import KubeconfigEntry, KubeContainerSeed, SimKube, write_kubeconfig
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-west-2"
OTHER = "eu-central-1"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/shop/web"
DIGEST = "sha256:" + "e" * 64
FAST = Timeouts(connect=2.0, read=2.0)

MakeCluster = Callable[..., SimKube]


def app(name: str = "web") -> list[KubeContainerSeed]:
    return [KubeContainerSeed(name, f"{IMAGE}:1.0", image_id=f"{IMAGE}@{DIGEST}")]


def collect(regions: tuple[str, ...] = (REGION,), clusters: tuple[str, ...] = (), **options: object) -> Inventory:
    plan = plan_kubernetes(regions, eks=True, eks_clusters=clusters, **options)  # type: ignore[arg-type]
    assert plan is not None
    return collect_kubernetes(Aws(), plan, workers=4, timeouts=FAST)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_cluster_of_every_region_is_read_with_an_eks_token(sim_aws: SimAWS, sim_eks_cluster: MakeCluster) -> None:
    prod = sim_eks_cluster(REGION, "prod")
    prod.run_deployment("shop", "web", app(), replicas=2)
    staging = sim_eks_cluster(REGION, "staging")
    staging.run_daemonset("kube-system", "agent", app("agent"))
    eu = sim_eks_cluster(OTHER, "eu")
    eu.add_pod("default", "bare", containers=app("bare"))

    inventory = collect((REGION, OTHER))
    assert inventory.errors == ()
    assert set(inventory.clusters) == {
        ClusterScope("eks", "prod", f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/prod", REGION, True),
        ClusterScope("eks", "staging", f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/staging", REGION, True),
        ClusterScope("eks", "eu", f"arn:aws:eks:{OTHER}:{ACCOUNT_ID}:cluster/eu", OTHER, True),
    }
    seen = {(w.cluster, w.region, w.account, w.platform, w.owner) for w in inventory.workloads}
    assert seen == {
        ("prod", REGION, ACCOUNT_ID, "eks", Owner("Deployment", "web")),
        ("staging", REGION, ACCOUNT_ID, "eks", Owner("DaemonSet", "agent")),
        ("eu", OTHER, ACCOUNT_ID, "eks", None),
    }
    assert all(w.running_digest == DIGEST for w in inventory.workloads) and len(inventory.workloads) == 4
    for kube in (prod, staging, eu):  # every request carried an EKS token the server accepted
        assert {(r.auth, r.user, r.status) for r in kube.requests} == {("eks", kube.eks_username, 200)}
    assert sim_aws.calls.count("eks", "ListClusters") == 2
    assert sim_aws.calls.count("eks", "DescribeCluster") == 3


def test_a_name_is_looked_for_in_every_region_and_an_error_only_where_none_has_it(
    sim_aws: SimAWS, sim_eks_cluster: MakeCluster
) -> None:
    sim_eks_cluster(OTHER, "prod").run_deployment("shop", "web", app(), replicas=1)
    sim_eks_cluster(REGION, "ignored")
    inventory = collect((REGION, OTHER), ("prod", "ghost"))
    assert {w.cluster for w in inventory.workloads} == {"prod"}
    [error] = inventory.errors
    assert (error.source, error.code) == (f"eks:{REGION}/ghost", "ResourceNotFoundException")
    assert REGION in error.message and OTHER in error.message
    assert sim_aws.calls.count("eks", "ListClusters") == 0  # named clusters are described, not searched for


def test_an_arn_is_read_in_its_own_region_and_only_for_its_account(
    sim_aws: SimAWS, sim_eks_cluster: MakeCluster
) -> None:
    sim_eks_cluster(OTHER, "prod").run_deployment("shop", "web", app(), replicas=1)
    ours = f"arn:aws:eks:{OTHER}:{ACCOUNT_ID}:cluster/prod"
    theirs = f"arn:aws:eks:{OTHER}:210987654321:cluster/prod"
    inventory = collect((REGION,), (ours, "prod", theirs))  # the name too: it is in OTHER, which is not selected
    assert [s.arn for s in inventory.clusters] == [ours]  # the ARN and the same cluster by name: read once
    assert {w.region for w in inventory.workloads} == {OTHER}
    codes = {(e.source, e.code) for e in inventory.errors}
    assert codes == {
        (f"eks:{OTHER}/prod", "ResourceNotFoundException"),  # the other account's ARN
        (f"eks:{REGION}/prod", "ResourceNotFoundException"),  # the name, in the selected region
    }


def test_clusters_without_an_api_server_yet_are_skipped_unless_named(sim_eks_cluster: MakeCluster) -> None:
    sim_eks_cluster(REGION, "new", status="CREATING")
    sim_eks_cluster(REGION, "prod").add_pod("shop", "web", containers=app())
    everything = collect()
    assert everything.errors == () and [s.name for s in everything.clusters] == ["prod"]
    named = collect((REGION,), ("new",))
    [error] = named.errors
    assert (error.source, error.code) == (f"eks:{REGION}/new", "ClusterNotActive")
    assert "CREATING" in error.message
    assert [(s.name, s.ok) for s in named.clusters] == [("new", False)]


def test_a_failed_describe_or_listing_stays_with_its_cluster_or_region(
    sim_aws: SimAWS, sim_eks_cluster: MakeCluster
) -> None:
    sim_eks_cluster(REGION, "locked")
    sim_eks_cluster(REGION, "prod").add_pod("shop", "web", containers=app())
    sim_eks_cluster(OTHER, "eu")
    sim_aws.faults.add(
        "eks",
        "DescribeCluster",
        when=lambda request: request.path_params.get("name") == "locked",
        error="AccessDeniedException",
        status=403,
        message="not allowed",
    )
    sim_aws.faults.add("eks", "ListClusters", region=OTHER, error="AccessDeniedException", status=403)
    inventory = collect((REGION, OTHER))
    assert {w.cluster for w in inventory.workloads} == {"prod"}
    assert {(e.source, e.code) for e in inventory.errors} == {
        (f"eks:{REGION}/locked", "AccessDeniedException"),
        (f"eks:{OTHER}", "AccessDeniedException"),
    }
    assert {(s.name, s.ok) for s in inventory.clusters} == {("locked", False), ("prod", True)}
    denied = next(e for e in inventory.errors if e.source.endswith("/locked"))
    assert "eks:DescribeCluster" in denied.message


def test_a_cluster_that_does_not_map_the_identity_says_what_access_it_needs(sim_eks_cluster: MakeCluster) -> None:
    sim_eks_cluster(REGION, "unmapped", known_key=False)
    forbidden = sim_eks_cluster(REGION, "viewless")
    forbidden.forbid = True
    inventory = collect()
    errors = {e.source: e for e in inventory.errors}
    unmapped = errors[f"eks:{REGION}/unmapped"]
    assert unmapped.code == "401"
    assert "access entry" in unmapped.message and "AmazonEKSViewPolicy" in unmapped.message
    assert "aws-auth" in unmapped.message
    viewless = [e for e in inventory.errors if e.source == f"eks:{REGION}/viewless"]
    assert {e.code for e in viewless} == {"403"}
    assert all(forbidden.eks_username in e.message and "ClusterRole" in e.message for e in viewless)
    assert not any(s.ok for s in inventory.clusters)
    assert not any("k8s-aws-v1" in e.message or "X-Amz-Signature" in e.message for e in inventory.errors)


def test_the_ca_from_describe_cluster_is_what_verifies_the_server(sim_eks_cluster: MakeCluster) -> None:
    kube = sim_eks_cluster(REGION, "intercepted", ca_pem=CertificateAuthority.create("proxy").cert_pem)
    [error] = collect().errors
    assert (error.source, error.code) == (f"eks:{REGION}/intercepted", "TLSError")
    assert "certificate" in error.message
    assert kube.requests == []


def test_an_endpoint_that_cannot_be_reached_is_that_clusters_error(sim_eks_cluster: MakeCluster) -> None:
    sim_eks_cluster(REGION, "gone", endpoint=f"https://127.0.0.1:{closed_port()}")
    sim_eks_cluster(REGION, "prod").add_pod("shop", "web", containers=app())
    inventory = collect()
    [error] = inventory.errors
    assert (error.source, error.code) == (f"eks:{REGION}/gone", "ConnectionRefused")
    assert "reachable" in error.message
    assert [w.cluster for w in inventory.workloads] == ["prod"]


def test_a_token_is_renewed_when_a_listing_runs_long(
    sim_eks_cluster: MakeCluster, sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = sim_eks_cluster(REGION, "big")
    kube.populate(1200)
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    def elapsed() -> datetime.timedelta:  # eight minutes pass with every page of pods served
        return datetime.timedelta(minutes=8) * kube.request_count("/api/v1/pods")

    # One clock for ecrwatch's renewal, botocore's signing and the API server's 15-minute check.
    kube.clock = lambda: start + elapsed()
    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: (start + elapsed()).replace(tzinfo=None)
    )
    plan = plan_kubernetes((REGION,), eks=True)
    assert plan is not None
    inventory = collect_kubernetes(Aws(), plan, workers=2, timeouts=FAST, clock=lambda: elapsed().total_seconds())
    assert inventory.errors == () and len(inventory.workloads) == 1200
    pages = [r for r in kube.requests if r.path == "/api/v1/pods"]
    assert [r.status for r in pages] == [200, 200, 200]
    first, last = (datetime.datetime.strptime(p.token_date or "", "%Y%m%dT%H%M%SZ") for p in (pages[0], pages[-1]))
    # The last page came 16 minutes in: the first token would have been refused; a renewed one was sent.
    assert last - first == datetime.timedelta(minutes=16)
    assert pages[1].token_date == pages[0].token_date  # not renewed before it had to be


def test_a_context_on_an_eks_endpoint_is_read_once_as_eks(
    sim_eks_cluster: MakeCluster,
    sim_kube: SimKube,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    eks = sim_eks_cluster(REGION, "prod")
    eks.add_pod("shop", "web", containers=app())
    sim_kube.add_pod("other", "web", containers=app())
    path = write_kubeconfig(
        tmp_path / "config",
        [
            # The cluster's endpoint, written with a trailing slash: still the same API server.
            KubeconfigEntry("arn-context", eks.url + "/", eks.ca_pem, {"token": "unused"}),
            sim_kube.kubeconfig_entry("elsewhere"),
        ],
    )
    monkeypatch.setattr(logging.getLogger("ecrwatch"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="ecrwatch.inventory.eks"):
        inventory = collect(kubeconfig=str(path), kube_contexts=["arn-context", "elsewhere"])
    assert sorted((w.platform, w.cluster, w.namespace) for w in inventory.workloads) == [
        ("eks", "prod", "shop"),
        ("kubernetes", "elsewhere", "other"),
    ]
    assert [(s.platform, s.name) for s in inventory.clusters] == [("eks", "prod"), ("kubernetes", "elsewhere")]
    assert {r.auth for r in eks.requests} == {"eks"}  # the context's own credentials were never used
    assert "kube-context arn-context is EKS cluster eks:us-west-2/prod" in caplog.text


def test_endpoints_compare_as_a_client_connects() -> None:
    key = endpoint_key("https://ABC.gr7.us-west-2.eks.amazonaws.com")
    assert key == endpoint_key("https://abc.gr7.us-west-2.eks.amazonaws.com:443/")
    assert key != endpoint_key("https://abc.gr7.us-west-2.eks.amazonaws.com:8443")


def test_selectors_and_plans_are_checked_before_any_call() -> None:
    arn = parse_eks_selector("arn:aws:eks:eu-west-1:123456789012:cluster/prod")
    assert (arn.name, arn.region) == ("prod", "eu-west-1")
    for bad in ("arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "-leading-dash", "x" * 101, "has space"):
        with pytest.raises(UsageError):
            parse_eks_selector(bad)
    with pytest.raises(UsageError, match="--no-eks"):
        plan_kubernetes((REGION,), eks=False, eks_clusters=("prod",))
    assert plan_kubernetes((REGION,), eks=False) is None
    assert plan_regions((REGION, OTHER), [ClusterSelector("prod", "prod"), arn]) == (
        RegionPlan(REGION, False, ("prod",)),
        RegionPlan(OTHER, False, ("prod",)),
        RegionPlan("eu-west-1", False, (), (arn,)),
    )
