"""Pods of one cluster through the official `kubernetes` client over verified HTTPS, against the simulated
API server: every imageID form, every container type, every owner chain, paging, expired continue tokens,
clusters that refuse or cannot be reached; and kubeconfig contexts (token, client certificate, exec plugin)
checked before any cluster is read."""

from __future__ import annotations

import base64
import json
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes.client import Configuration
from kubernetes.config.exec_provider import ExecProvider
from kubernetes.config.kube_config import ConfigNode

from ecrwatch.errors import UsageError
from ecrwatch.inventory import kube_loader
from ecrwatch.inventory.kube import (
    AccessHints,
    ClusterInfo,
    KubeTarget,
    Timeouts,
    is_running,
    read_cluster,
)
from ecrwatch.inventory.kubeconfig import load_kubeconfig
from ecrwatch.models import Inventory, Owner, Workload
from ecrwatch.sim.certs import CertificateAuthority
from ecrwatch.sim.kube import KubeContainerSeed, SimKube, exec_plugin_user, write_kubeconfig

ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
REPO = f"{ECR}/shop/web"
D1, D2, D3, D4, D5 = ("sha256:" + c * 64 for c in "12345")
CONFIG_ID = "sha256:" + "c" * 64
HINTS = AccessHints("HINT-401", "HINT-403", "HINT-UNREACHABLE", "HINT-TLS")
FAST = Timeouts(connect=2.0, read=2.0)


def target(
    kube: SimKube, *, token: str | None = None, ca_pem: bytes | None = None, url: str | None = None
) -> KubeTarget:
    """A cluster reached with a bearer token, TLS verified against `ca_pem` (default: the server's CA)."""

    def connect() -> Configuration:
        config = Configuration(host=url or kube.url)
        config.ca_cert_data = (ca_pem or kube.ca_pem).decode()
        config.api_key = {"BearerToken": f"Bearer {token or kube.token}"}
        return config

    return KubeTarget(ClusterInfo("kubernetes", "sim", "kube-context:sim"), url or kube.url, connect, HINTS)


def read(kube: SimKube, **options: object) -> Inventory:
    return read_cluster(target(kube, **options), timeouts=FAST)  # type: ignore[arg-type]


def by_container(inventory: Inventory) -> dict[str, Workload]:
    return {w.container: w for w in inventory.workloads}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- what runs --------------------------------------------------------------------------------------


def test_every_image_id_form_gives_the_digest_that_runs(sim_kube: SimKube) -> None:
    sim_kube.add_pod(
        "shop",
        "web-1",
        containers=[
            KubeContainerSeed("pullable", f"{REPO}:1.4", image_id=f"docker-pullable://{REPO}@{D1}"),
            KubeContainerSeed("plain", f"{REPO}:1.4", image_id=f"{REPO}@{D2}"),
            KubeContainerSeed("config-id", f"{REPO}:1.4", image_id=CONFIG_ID),
            KubeContainerSeed("config-id-spec-digest", f"{REPO}@{D3}", image_id=CONFIG_ID),
            KubeContainerSeed("docker-config-id", f"{REPO}:1.4", image_id=f"docker://{CONFIG_ID}"),
            KubeContainerSeed("mirror", f"{REPO}:1.4", image_id=f"mirror.example.com/shop/web@{D4}"),
        ],
    )
    sim_kube.add_pod(
        "shop",
        "starting",
        node_name=None,  # not scheduled: Pending, no statuses at all
        phase="Pending",
        containers=[
            KubeContainerSeed("pending-tag", f"{REPO}:1.5"),
            KubeContainerSeed("pending-digest", f"{REPO}:1.5@{D5}"),
        ],
    )
    inventory = read(sim_kube)
    assert inventory.errors == () and inventory.clusters[0].ok
    got = {w.container: w.running_digest for w in inventory.workloads}
    assert got == {
        "pullable": D1,
        "plain": D2,
        "config-id": None,  # a config id is not a manifest digest: the tag is resolved later
        "config-id-spec-digest": D3,
        "docker-config-id": None,
        "mirror": D4,  # what runs, even pulled through a mirror
        "pending-tag": None,
        "pending-digest": D5,
    }
    mirror = by_container(inventory)["mirror"]
    assert mirror.image_reference == f"{REPO}:1.4"  # as the spec names it
    assert (mirror.image.ecr_account, mirror.image.repository, mirror.image.tag) == ("123456789012", "shop/web", "1.4")


def test_every_container_type_counts(sim_kube: SimKube) -> None:
    sim_kube.add_pod(
        "shop",
        "web-1",
        init_containers=[
            KubeContainerSeed("migrate", f"{REPO}:migrate", image_id=f"{REPO}@{D1}"),  # ran and finished
            KubeContainerSeed(
                "proxy", f"{ECR}/mesh/envoy:1.31", image_id=f"{ECR}/mesh/envoy@{D2}", restart_policy="Always"
            ),
        ],
        containers=[KubeContainerSeed("web", f"{REPO}:1.4", image_id=f"{REPO}@{D3}")],
        ephemeral_containers=[
            KubeContainerSeed(
                "debugger", "busybox:1.36", image_id=f"docker.io/library/busybox@{D4}", target_container="web"
            )
        ],
    )
    inventory = read(sim_kube)
    types = {w.container: (w.container_type, w.running_digest) for w in inventory.workloads}
    assert types == {
        "migrate": ("init", D1),
        "proxy": ("sidecar", D2),
        "web": ("app", D3),
        "debugger": ("ephemeral", D4),
    }
    debugger = by_container(inventory)["debugger"]
    assert debugger.image.registry == "docker.io" and debugger.image.repository == "library/busybox"
    assert {(w.namespace, w.pod, w.platform, w.cluster) for w in inventory.workloads} == {
        ("shop", "web-1", "kubernetes", "sim")
    }


def test_finished_pods_are_left_out_and_starting_ones_kept(sim_kube: SimKube) -> None:
    app = [KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")]
    sim_kube.add_pod("shop", "done", containers=app, phase="Succeeded")
    sim_kube.add_pod("shop", "crashed", containers=app, phase="Failed")
    sim_kube.add_pod("shop", "running", containers=app)
    sim_kube.add_pod("shop", "pending", containers=app, phase="Pending", node_name=None)
    inventory = read(sim_kube)
    assert sorted(w.pod or "" for w in inventory.workloads) == ["pending", "running"]
    pod_lists = [r for r in sim_kube.requests if r.path == "/api/v1/pods"]
    assert pod_lists[0].query["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"


def test_the_phase_is_checked_again_on_what_the_server_sends() -> None:
    assert [is_running({"status": {"phase": p}}) for p in ("Pending", "Running", "Unknown", "Succeeded", "Failed")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_an_image_that_cannot_be_parsed_is_an_error_and_the_rest_is_read(sim_kube: SimKube) -> None:
    sim_kube.add_pod(
        "shop",
        "odd",
        containers=[
            KubeContainerSeed("bad", "Shop/Web:1", image_id=""),
            KubeContainerSeed("good", f"{REPO}:1.4", image_id=f"{REPO}@{D1}"),
        ],
    )
    inventory = read(sim_kube)
    assert [w.container for w in inventory.workloads] == ["good"]
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:sim", "InvalidImageReference")
    assert "shop/odd" in error.message and "'bad'" in error.message
    assert inventory.clusters[0].ok  # the cluster was read: nothing is missing but what cannot be named


# --- owners -------------------------------------------------------------------------------------------


# The ReplicaSets and Jobs are asked metadata-only (the Kubernetes API's PartialObjectMetadataList), with the list
# itself as the fallback a server that does not know that form answers; owners resolve the same from either.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@pytest.mark.parametrize(
    ("partial_metadata", "owner_lists_answered"),
    [(True, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"), (False, "application/json")],
    ids=["metadata-only", "old-server"],
)
def test_each_owner_chain_is_resolved_with_one_list_per_kind(
    sim_kube: SimKube, partial_metadata: bool, owner_lists_answered: str
) -> None:
    sim_kube.partial_metadata = partial_metadata
    app = [KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")]
    [web] = sim_kube.run_deployment("shop", "web", app, replicas=1)
    [nightly] = sim_kube.run_cronjob("batch", "nightly", app)
    [db] = sim_kube.run_statefulset("shop", "db", app)
    [agent] = sim_kube.run_daemonset("kube-system", "agent", app)
    sim_kube.add_pod("shop", "bare", containers=app)
    sim_kube.add_replicaset("shop", "orphan-rs")
    sim_kube.add_pod("shop", "orphan-rs-x1", containers=app, owner=("ReplicaSet", "orphan-rs"))
    sim_kube.add_job("batch", "one-off")
    sim_kube.add_pod("batch", "one-off-x1", containers=app, owner=("Job", "one-off"))
    sim_kube.add_replicaset("shop", "canary-5f9", owner=("Rollout", "canary", "argoproj.io/v1alpha1"))
    sim_kube.add_pod("shop", "canary-5f9-x1", containers=app, owner=("ReplicaSet", "canary-5f9"))
    sim_kube.add_pod("shop", "custom-x1", containers=app, owner=("Widget", "w", "example.com/v1"))
    sim_kube.add_pod("shop", "gone-rs-x1", containers=app, owner=("ReplicaSet", "deleted-meanwhile"))
    sim_kube.clear_requests()

    inventory = read(sim_kube)
    owners = {w.pod: w.owner for w in inventory.workloads}
    assert owners == {
        web: Owner("Deployment", "web"),
        nightly: Owner("CronJob", "nightly"),
        db: Owner("StatefulSet", "db"),
        agent: Owner("DaemonSet", "agent"),
        "bare": None,
        "orphan-rs-x1": Owner("ReplicaSet", "orphan-rs"),
        "one-off-x1": Owner("Job", "one-off"),
        "canary-5f9-x1": Owner("Rollout", "canary"),  # as the ReplicaSet's reference names it
        "custom-x1": Owner("Widget", "w"),
        "gone-rs-x1": Owner("ReplicaSet", "deleted-meanwhile"),
    }
    # One list of ReplicaSets, one of Jobs, one of pods; never a GET of a single object.
    assert [(r.path, r.accept, r.content_type) for r in sim_kube.requests] == [
        ("/apis/apps/v1/replicasets", METADATA_ACCEPT, owner_lists_answered),
        ("/apis/batch/v1/jobs", METADATA_ACCEPT, owner_lists_answered),
        ("/api/v1/nodes", "application/json", "application/json"),
        ("/api/v1/pods", "application/json", "application/json"),
    ]


# --- paging -------------------------------------------------------------------------------------------


def test_lists_are_read_in_pages_of_500_and_every_pod_is_there_once(sim_kube: SimKube) -> None:
    sim_kube.populate(1100, pods_per_deployment=2)  # 550 Deployments, 550 ReplicaSets
    inventory = read(sim_kube)
    assert sim_kube.limits("/api/v1/pods") == [500, 500, 500]
    assert sim_kube.limits("/apis/apps/v1/replicasets") == [500, 500]
    # Metadata-only pages continue as any list's.
    assert {r.content_type for r in sim_kube.requests if r.path == "/apis/apps/v1/replicasets"} == {
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    }
    pods = [(w.namespace, w.pod) for w in inventory.workloads]
    assert len(pods) == len(set(pods)) == 1100
    # Owners resolve across the ReplicaSet pages: every pod names its Deployment.
    assert {w.owner.kind for w in inventory.workloads if w.owner} == {"Deployment"}
    assert all(w.owner is not None and w.pod and w.pod.startswith(w.owner.name) for w in inventory.workloads)
    continued = [r.query.get("continue") for r in sim_kube.requests if r.path == "/api/v1/pods"]
    assert continued[0] is None and all(continued[1:])


def test_an_expired_continue_token_restarts_the_listing_once(sim_kube: SimKube) -> None:
    sim_kube.populate(1200)
    sim_kube.expire_next_continues(1)
    inventory = read(sim_kube)
    assert inventory.errors == () and inventory.clusters[0].ok
    pods = [(w.namespace, w.pod) for w in inventory.workloads]
    assert len(pods) == len(set(pods)) == 1200  # nothing twice after the restart
    statuses = [(bool(r.query.get("continue")), r.status) for r in sim_kube.requests if r.path == "/api/v1/pods"]
    assert statuses == [(False, 200), (True, 410), (False, 200), (True, 200), (True, 200)]


def test_a_listing_that_expires_twice_is_an_error(sim_kube: SimKube) -> None:
    sim_kube.populate(1200)
    sim_kube.expire_next_continues(2)
    inventory = read(sim_kube)
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:sim", "410")
    assert not inventory.clusters[0].ok


def test_a_throttled_request_is_retried_after_the_servers_retry_after(sim_kube: SimKube) -> None:
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")])
    sim_kube.fail("/api/v1/pods", 429, times=1)
    inventory = read(sim_kube)
    assert inventory.errors == () and len(inventory.workloads) == 1
    assert [r.status for r in sim_kube.requests if r.path == "/api/v1/pods"] == [429, 200]


# --- clusters that refuse or cannot be reached --------------------------------------------------------


def assert_failed(inventory: Inventory, code: str, hint: str) -> str:
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:sim", code)
    assert hint in error.message
    assert inventory.workloads == () and not inventory.clusters[0].ok
    return error.message


def test_a_refused_token_is_a_401_with_its_hint_and_never_the_token(sim_kube: SimKube) -> None:
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4")])
    message = assert_failed(read(sim_kube, token="revoked-secret-token"), "401", "HINT-401")
    assert "revoked-secret-token" not in message and "Bearer" not in message
    assert len(sim_kube.requests) == 1  # a cluster that refuses is not asked again


def test_a_forbidden_listing_is_a_403_naming_the_user(sim_kube: SimKube, tmp_path: Path) -> None:
    sim_kube.forbid = True
    path = sim_kube.kubeconfig(tmp_path / "config", "cert", client_cert=sim_kube.issue_client_cert("alice"))
    plan = load_kubeconfig(str(path), [])
    [context] = plan.contexts
    config_target = KubeTarget(
        ClusterInfo("kubernetes", "sim", "kube-context:sim"),
        sim_kube.url,
        lambda: plan.configuration(context, str(tmp_path / "tmp")),
        HINTS,
    )
    inventory = read_cluster(config_target, timeouts=FAST)
    codes = [(e.code, "as alice" in e.message, "HINT-403" in e.message) for e in inventory.errors]
    # replicasets, jobs, nodes, pods: each refused, each said; nodes with their own hint (a cluster-wide grant)
    assert codes == [("403", True, True), ("403", True, True), ("403", True, False), ("403", True, True)]
    assert "grant get/list on nodes" in inventory.errors[2].message
    assert not inventory.clusters[0].ok


def test_an_unreachable_server_is_an_error_with_its_hint(sim_kube: SimKube) -> None:
    message = assert_failed(
        read(sim_kube, url=f"https://127.0.0.1:{closed_port()}"), "ConnectionRefused", "HINT-UNREACHABLE"
    )
    assert "connection was refused" in message


def test_a_server_the_ca_does_not_vouch_for_is_a_tls_error(sim_kube: SimKube) -> None:
    stranger = CertificateAuthority.create("somebody-else")
    assert_failed(read(sim_kube, ca_pem=stranger.cert_pem), "TLSError", "HINT-TLS")
    assert sim_kube.requests == []  # nothing was sent to a server that could not be verified


def test_a_server_that_stops_answering_trips_the_read_timeout(sim_kube: SimKube) -> None:
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4")])
    sim_kube.stall("/apis/apps/v1/replicasets")
    inventory = read_cluster(target(sim_kube), timeouts=Timeouts(connect=2.0, read=0.3))
    assert_failed(inventory, "ReadTimeout", "HINT-UNREACHABLE")


def test_a_server_error_on_pods_keeps_the_status_as_the_code(sim_kube: SimKube) -> None:
    sim_kube.fail("/api/v1/pods", 503)
    [error] = read(sim_kube).errors
    assert error.code == "503" and "503" in error.message


def test_owner_lists_that_fail_leave_owners_at_the_replicaset(sim_kube: SimKube) -> None:
    [pod] = sim_kube.run_deployment("shop", "web", [KubeContainerSeed("app", f"{REPO}:1.4")], replicas=1)
    sim_kube.fail("/apis/apps/v1/replicasets", 500)
    inventory = read(sim_kube)
    [workload] = inventory.workloads
    assert workload.pod == pod and workload.owner is not None and workload.owner.kind == "ReplicaSet"
    assert [e.code for e in inventory.errors] == ["500"]
    assert not inventory.clusters[0].ok  # owners are incomplete: the run says so


# --- the architecture each pod runs on -----------------------------------------------------------------

GRAVITON = "ip-10-0-2-20.us-west-2.compute.internal"
INTEL = "ip-10-0-3-30.us-west-2.compute.internal"


def test_each_pod_runs_on_the_architecture_its_node_is_labelled_with(sim_kube: SimKube) -> None:
    sim_kube.add_node(GRAVITON, architecture="arm64")
    sim_kube.add_node(INTEL, architecture="amd64")
    app = [KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")]
    sim_kube.run_deployment("shop", "arm", app, replicas=2, node_name=GRAVITON)
    sim_kube.run_deployment("shop", "intel", app, replicas=1, node_name=INTEL)
    sim_kube.add_pod("shop", "elsewhere", containers=app, node_name="ip-10-0-9-99.us-west-2.compute.internal")
    sim_kube.add_pod("shop", "unscheduled", containers=app, node_name=None, phase="Pending")
    inventory = read(sim_kube)
    assert inventory.errors == () and inventory.clusters[0].ok
    by_owner = sorted(((w.owner.name if w.owner else w.pod), w.architecture) for w in inventory.workloads)
    assert by_owner == [
        ("arm", "arm64"),
        ("arm", "arm64"),
        ("elsewhere", None),  # a node the list did not have (gone, or added since): unknown, not guessed
        ("intel", "amd64"),
        ("unscheduled", None),
    ]
    assert sim_kube.request_count("/api/v1/nodes") == 1  # one list per cluster, never a GET per node


def test_a_node_without_the_label_is_known_by_the_architecture_its_kubelet_reports(sim_kube: SimKube) -> None:
    node = sim_kube.add_node(GRAVITON, architecture="arm64")
    del node["metadata"]["labels"]["kubernetes.io/arch"]
    sim_kube.add_object({"kind": "Node", **node})
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4")], node_name=GRAVITON)
    [workload] = read(sim_kube).workloads
    assert workload.architecture == "arm64"


def test_an_expired_node_listing_restarts_and_forgets_nothing_it_needs(sim_kube: SimKube) -> None:
    for index in range(501):
        sim_kube.add_node(f"ip-10-1-{index // 250}-{index % 250}.us-west-2.compute.internal", architecture="arm64")
    last = "ip-10-1-2-0.us-west-2.compute.internal"
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4")], node_name=last)
    sim_kube.expire_next_continues(1)
    inventory = read(sim_kube)
    assert inventory.errors == () and [w.architecture for w in inventory.workloads] == ["arm64"]
    statuses = [(bool(r.query.get("continue")), r.status) for r in sim_kube.requests if r.path == "/api/v1/nodes"]
    assert statuses == [(False, 200), (True, 410), (False, 200), (True, 200)]


def test_nodes_are_listed_in_pages_of_500(sim_kube: SimKube) -> None:
    for index in range(501):
        sim_kube.add_node(f"ip-10-1-{index // 250}-{index % 250}.us-west-2.compute.internal", architecture="arm64")
    last = "ip-10-1-2-0.us-west-2.compute.internal"
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4")], node_name=last)
    [workload] = read(sim_kube).workloads
    assert sim_kube.limits("/api/v1/nodes") == [500, 500]
    assert workload.architecture == "arm64"  # its node is on the second page


def test_nodes_rbac_does_not_grant_are_an_error_and_the_pods_are_kept_on_an_unknown_architecture(
    sim_kube: SimKube,
) -> None:
    sim_kube.add_node(GRAVITON, architecture="arm64")
    sim_kube.run_deployment("shop", "web", [KubeContainerSeed("app", f"{REPO}:1.4")], replicas=2, node_name=GRAVITON)
    sim_kube.denied.add("nodes")
    inventory = read(sim_kube)
    assert [(w.owner.name if w.owner else None, w.architecture) for w in inventory.workloads] == [("web", None)] * 2
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:sim", "403")
    assert "does not allow listing nodes" in error.message
    assert "`ecrwatch iam-policy --kubernetes`" in error.message and "architectures are unknown" in error.message
    assert not inventory.clusters[0].ok  # a grant the printed ClusterRole has is missing: the run says so


# --- kubeconfig contexts ------------------------------------------------------------------------------


def read_context(path: Path, name: str | None, tmp_path: Path) -> Inventory:
    plan = load_kubeconfig(str(path), [name] if name else [])
    [context] = plan.contexts
    info = ClusterInfo("kubernetes", context.name, f"kube-context:{context.name}")
    reach = KubeTarget(info, context.server, lambda: plan.configuration(context, str(tmp_path / "t")), HINTS)
    return read_cluster(reach, timeouts=FAST)


def test_contexts_with_a_token_a_client_certificate_and_an_exec_plugin(sim_kube: SimKube, tmp_path: Path) -> None:
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")])
    sim_kube.tokens.add("exec-issued-token")
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("token-ctx"),
            sim_kube.kubeconfig_entry("cert-ctx", client_cert=sim_kube.issue_client_cert("alice", ["viewers"])),
            sim_kube.kubeconfig_entry("exec-ctx", user=exec_plugin_user("exec-issued-token")),
        ],
        current_context="cert-ctx",
    )
    before = path.read_bytes()
    for name in ("token-ctx", None, "exec-ctx"):  # None: the file's current context
        inventory = read_context(path, name, tmp_path)
        assert [w.running_digest for w in inventory.workloads] == [D1] and inventory.errors == ()
    assert [(r.auth, r.user) for r in sim_kube.requests if r.path == "/api/v1/pods"] == [
        ("token", "sim-admin"),
        ("client-cert", "alice"),
        ("token", "sim-admin"),
    ]
    assert path.read_bytes() == before  # the kubeconfig is never written


def test_a_failing_exec_plugin_is_that_contexts_error(sim_kube: SimKube, tmp_path: Path) -> None:
    failing = exec_plugin_user("unused")
    failing["exec"]["args"] = ["-c", "import sys; sys.stderr.write('SECRET-ish plugin text'); sys.exit(7)"]
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("exec-ctx", user=failing)])
    inventory = read_context(path, "exec-ctx", tmp_path)
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:exec-ctx", "ExecPluginFailed")
    assert "status 7" in error.message and "SECRET-ish" not in error.message
    assert sim_kube.requests == [] and not inventory.clusters[0].ok


def test_an_exec_step_the_client_fails_in_unforeseen_is_that_contexts_error(
    sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The exec step is the client's code: whatever it raises that ecrwatch did not foresee is one context's
    # error, named by its type only (its text could quote the plugin's output), never the end of the run.
    def broken(_provider: object, previous_response: object = None) -> object:
        raise RuntimeError("text that could quote a credential")

    monkeypatch.setattr(ExecProvider, "run", broken)
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("exec-ctx", user=exec_plugin_user("t"))])
    inventory = read_context(path, "exec-ctx", tmp_path)
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:exec-ctx", "ExecPluginFailed")
    assert error.message.startswith(
        "the exec credential plugin of kubeconfig context 'exec-ctx' failed inside the kubernetes client (RuntimeError)"
    )
    assert "credential" not in error.message.split("(RuntimeError)")[1]
    assert sim_kube.requests == [] and not inventory.clusters[0].ok


@pytest.mark.parametrize(
    ("at_terminal", "mode", "takes_turns"),
    [
        (True, None, True),  # as `aws eks update-kubeconfig` writes it (v1beta1: optional, IfAvailable)
        (True, "IfAvailable", True),
        (True, "Always", True),
        (True, "Never", False),
        (False, None, False),  # cron, CI, Lambda: the client gives no plugin the terminal
        (False, "Always", False),
    ],
)
def test_only_plugins_given_the_terminal_that_may_prompt_take_turns(
    monkeypatch: pytest.MonkeyPatch, at_terminal: bool, mode: str | None, takes_turns: bool
) -> None:
    monkeypatch.setattr(kube_loader, "_at_terminal", lambda: at_terminal)
    plugin = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws"}
    if mode is not None:
        plugin["interactiveMode"] = mode
    assert kube_loader.may_prompt(ConfigNode("exec", plugin)) is takes_turns


def test_a_missing_exec_command_is_that_contexts_error(sim_kube: SimKube, tmp_path: Path) -> None:
    absent = exec_plugin_user("unused")
    absent["exec"]["command"] = str(tmp_path / "no-such-plugin")
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("exec-ctx", user=absent)])
    [error] = read_context(path, "exec-ctx", tmp_path).errors
    assert (error.source, error.code) == ("kube-context:exec-ctx", "ExecPluginFailed")
    assert "could not be run (No such file or directory)" in error.message
    assert sim_kube.requests == []


@pytest.mark.parametrize("expiration", ["tomorrow", 1767225600])
def test_an_exec_credential_whose_expiration_is_not_rfc_3339_still_gives_its_token(
    sim_kube: SimKube, tmp_path: Path, expiration: object
) -> None:
    # The token is used as it is (there is no time to renew it at); a number used to make the client's parser
    # raise an AttributeError that ended the whole run.
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")])
    sim_kube.tokens.add("exec-issued-token")
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "exec-issued-token", "expirationTimestamp": expiration},
    }
    plugin = exec_plugin_user("unused")
    plugin["exec"]["args"] = ["-c", f"print({json.dumps(json.dumps(credential))})"]
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("exec-ctx", user=plugin)])
    inventory = read_context(path, "exec-ctx", tmp_path)
    assert [w.running_digest for w in inventory.workloads] == [D1] and inventory.errors == ()


@pytest.mark.parametrize("malformed", ["an argument that is a number", "a cluster extension without a name"])
def test_kubeconfig_entries_the_client_cannot_start_a_plugin_with_are_that_contexts_error(
    sim_kube: SimKube, tmp_path: Path, malformed: str
) -> None:
    # YAML reads `- 3600` as a number, which the client cannot start a process with (it was told as an
    # unreadable expirationTimestamp); an extension without a name stops the client handing the plugin its
    # cluster (kubectl reads it; the KeyError ended the whole run). Each is its context's error.
    plugin = exec_plugin_user("unused")
    if malformed == "an argument that is a number":
        plugin["exec"]["args"] = ["-c", "print()", "--duration", 3600]
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("exec-ctx", user=plugin)])
    if malformed == "a cluster extension without a name":
        document = json.loads(path.read_text())
        document["clusters"][0]["cluster"]["extensions"] = [{"extension": {"audience": "sim"}}]
        document["users"][0]["user"]["exec"]["provideClusterInfo"] = True
        path.write_text(json.dumps(document))
    [error] = read_context(path, "exec-ctx", tmp_path).errors
    assert (error.source, error.code) == ("kube-context:exec-ctx", "ExecPluginFailed")
    assert error.message.startswith(
        "the exec credential plugin of kubeconfig context 'exec-ctx' could not be run (the kubeconfig entries "
        "it is given are malformed); hint: "
    )
    assert sim_kube.requests == []


def test_inline_certificates_and_keys_become_private_files_in_the_run_directory(
    sim_kube: SimKube, tmp_path: Path
) -> None:
    cert = sim_kube.issue_client_cert("alice", ["viewers"])
    path = write_kubeconfig(
        tmp_path / "config",
        [sim_kube.kubeconfig_entry("one", client_cert=cert), sim_kube.kubeconfig_entry("two", client_cert=cert)],
    )
    # base64 as `base64` prints it by default, in lines of 76: the line breaks are not part of the data.
    text = path.read_text()
    data = base64.b64encode(sim_kube.ca.cert_pem).decode()
    wrapped = "\\n".join(data[i : i + 76] for i in range(0, len(data), 76))  # a JSON string's escaped line break
    assert data in text and len(data) > 76
    text = text.replace(data, wrapped, 1)
    path.write_text(text)
    plan = load_kubeconfig(str(path), ["one", "two"])
    run_dir = tmp_path / "run"
    for context in plan.contexts:
        config = plan.configuration(context, str(run_dir))
        expected = {
            config.ssl_ca_cert: sim_kube.ca.cert_pem,
            config.cert_file: cert.cert_pem,
            config.key_file: cert.key_pem,
        }
        for name, content in expected.items():
            written = Path(name)
            assert written.parent == run_dir and written.read_bytes() == content
            assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert path.read_text() == text  # the kubeconfig is never written


def test_an_expired_oidc_token_is_refreshed_against_the_issuer_with_its_inline_ca(
    sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The issuer (here the simulated API server itself) is asked for its discovery document over TLS verified
    # with idp-certificate-authority-data; it refuses (401), so the loader keeps the token it has.
    from kubernetes.config import kube_config

    monkeypatch.setattr(kube_config, "_temp_files", {})

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = part({"exp": 1_000_000_000, "sub": "oidc-user", "x": "y"})  # expired in 2001
    assert len(claims) % 4 in (2, 3)  # the loader refuses a JWT whose padding would be 3 or 4 characters
    id_token = f"{part({'alg': 'none'})}.{claims}.sig"
    sim_kube.tokens.add(id_token)
    sim_kube.add_pod("shop", "web", containers=[KubeContainerSeed("app", f"{REPO}:1.4", image_id=f"{REPO}@{D1}")])
    user = {
        "auth-provider": {
            "name": "oidc",
            "config": {
                "idp-issuer-url": sim_kube.url,
                "idp-certificate-authority-data": base64.b64encode(sim_kube.ca.cert_pem).decode(),
                "client-id": "ecrwatch",
                "client-secret": "unused",
                "refresh-token": "unused",
                "id-token": id_token,
            },
        }
    }
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("oidc-ctx", user=user)])
    inventory = read_context(path, "oidc-ctx", tmp_path)
    assert [w.running_digest for w in inventory.workloads] == [D1] and inventory.errors == ()
    assert [(r.path, r.status) for r in sim_kube.requests][:1] == [("/.well-known/openid-configuration", 401)]
    assert sim_kube.tls_failures == 0
    assert kube_config._temp_files == {}  # the CA went to this run's files, not the client's


def write_raw(tmp_path: Path, text: str) -> str:
    path = tmp_path / "raw-config"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("make", "names", "says"),
    [
        (lambda tmp, kube: str(tmp / "nope"), [], "does not exist"),
        (lambda tmp, kube: str(tmp), [], "is a directory"),
        (lambda tmp, kube: write_raw(tmp, "clusters: [\n  token: abc-secret\n"), [], "not valid YAML at line"),
        (lambda tmp, kube: write_raw(tmp, "- just\n- a list\n"), [], "not a kubeconfig"),
        (lambda tmp, kube: str(kube.kubeconfig(tmp / "c", "sim")), ["other"], "context 'other' is not in"),
        (lambda tmp, kube: write_raw(tmp, "apiVersion: v1\nkind: Config\n"), [], "has no current context"),
    ],
)
def test_a_kubeconfig_or_context_that_cannot_be_read_is_a_usage_error(
    sim_kube: SimKube, tmp_path: Path, make: Callable[[Path, SimKube], str], names: list[str], says: str
) -> None:
    with pytest.raises(UsageError) as refused:
        load_kubeconfig(make(tmp_path, sim_kube), names)
    assert says in refused.value.message
    assert "abc-secret" not in str(refused.value)
    assert sim_kube.requests == []


def test_a_missing_context_lists_the_ones_there_are(sim_kube: SimKube, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "c", [sim_kube.kubeconfig_entry("a"), sim_kube.kubeconfig_entry("b")])
    with pytest.raises(UsageError) as refused:
        load_kubeconfig(str(path), ["c"])
    assert refused.value.hint == "choose one of: a, b"


def test_contexts_that_would_not_be_verified_or_lack_files_are_refused(sim_kube: SimKube, tmp_path: Path) -> None:
    insecure = sim_kube.kubeconfig_entry("insecure")
    plain = sim_kube.kubeconfig_entry("plain")
    missing = sim_kube.kubeconfig_entry("missing", user={"client-certificate": "nope.crt", "client-key": "nope.key"})
    path = write_kubeconfig(tmp_path / "c", [insecure, plain, missing])
    text = path.read_text()
    path.write_text(
        text.replace(f'"server": "{sim_kube.url}"', f'"server": "{sim_kube.url}", "insecure-skip-tls-verify": true', 1)
    )
    with pytest.raises(UsageError, match="turns TLS verification off"):
        load_kubeconfig(str(path), ["insecure"])
    http = write_kubeconfig(tmp_path / "h", [sim_kube.kubeconfig_entry("plain")])
    http.write_text(http.read_text().replace("https://", "http://"))
    with pytest.raises(UsageError, match="not an https:// address"):
        load_kubeconfig(str(http), ["plain"])
    with pytest.raises(UsageError, match=r"client-certificate .*nope.crt does not exist"):
        load_kubeconfig(str(path), ["missing"])


def test_kube_context_alone_follows_kubeconfig_then_the_home_directory(sim_kube: SimKube, tmp_path: Path) -> None:
    first = write_kubeconfig(tmp_path / "first", [sim_kube.kubeconfig_entry("shared", token="first-wins")])
    second = write_kubeconfig(
        tmp_path / "second", [sim_kube.kubeconfig_entry("shared", token="x"), sim_kube.kubeconfig_entry("only-2")]
    )
    listed = f"{tmp_path / 'absent'}:{first}:{second}"
    plan = load_kubeconfig(None, ["shared", "only-2"], environ={"KUBECONFIG": listed})
    assert [(c.name, Path(c.file).name) for c in plan.contexts] == [("shared", "first"), ("only-2", "second")]
    with pytest.raises(UsageError, match="KUBECONFIG is not set"):
        load_kubeconfig(None, ["shared"], environ={"HOME": str(tmp_path / "empty-home")})


def test_a_token_file_gone_after_the_check_is_that_contexts_error(sim_kube: SimKube, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sim_kube.token)
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("ctx", user={"tokenFile": "token"})])
    plan = load_kubeconfig(str(path), ["ctx"])  # a relative tokenFile: found beside the kubeconfig
    assert plan.contexts[0].auth == "token-file"
    token_file.unlink()
    [context] = plan.contexts
    reach = KubeTarget(
        ClusterInfo("kubernetes", "ctx", "kube-context:ctx"),
        context.server,
        lambda: plan.configuration(context, str(tmp_path / "t")),
        HINTS,
    )
    inventory = read_cluster(reach, timeouts=FAST)
    [error] = inventory.errors
    assert (error.source, error.code) == ("kube-context:ctx", "KubeconfigError")
    assert sim_kube.requests == [] and not inventory.clusters[0].ok
