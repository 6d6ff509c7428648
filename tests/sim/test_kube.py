"""The simulated Kubernetes API, read through the official `kubernetes` client over verified HTTPS.

What the client sees here is what ecrwatch's Kubernetes inventory will see: if the simulator answered
something a real API server would not, the inventory's tests would prove nothing.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import kubernetes
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from ecrwatch.sim.certs import CertificateAuthority
from ecrwatch.sim.kube import DEFAULT_TOKEN, KubeContainerSeed, SimKube, exec_plugin_user, write_kubeconfig
from ecrwatch.sim.server import SimAWS

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop/web"
CLUSTER = "prod-eks"


@pytest.fixture
def kube() -> Iterator[SimKube]:
    with SimKube() as sim:
        yield sim


def api_client(kube: SimKube, tmp_path: Path, token: str | None = DEFAULT_TOKEN, ca_pem: bytes | None = None) -> Any:
    """A client configured as ecrwatch configures one: host, bearer token, TLS verified against a CA file."""
    config = kubernetes.client.Configuration(host=kube.url)
    if token is not None:
        config.api_key = {"authorization": token}
        config.api_key_prefix = {"authorization": "Bearer"}
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca_pem or kube.ca_pem)
    config.ssl_ca_cert = str(ca_file)
    return kubernetes.client.ApiClient(config)


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def web(image_id: str = f"docker-pullable://{REPO}@{DIGEST}") -> KubeContainerSeed:
    return KubeContainerSeed("web", f"{REPO}:1.4", image_id=image_id)


def seed_pods(kube: SimKube, namespaces: dict[str, int]) -> set[tuple[str, str]]:
    pods = set()
    for namespace, count in namespaces.items():
        for index in range(count):
            kube.add_pod(namespace, f"pod-{index:03d}", containers=[web()])
            pods.add((namespace, f"pod-{index:03d}"))
    return pods


# --- lists and paging ---


def test_all_namespaces_in_pages_lists_every_pod_exactly_once(kube: SimKube, tmp_path: Path) -> None:
    # "a" and "a-b" sort differently as tuples and as etcd keys: paging must not care.
    expected = seed_pods(kube, {"a": 6, "a-b": 5, "shop": 7, "kube-system": 4})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    seen: list[tuple[str, str]] = []
    token: str | None = None
    pages = []
    while True:
        page = core.list_pod_for_all_namespaces(limit=5, _continue=token)
        pages.append(page)
        seen += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected) == 22
    assert [len(p.items) for p in pages] == [5, 5, 5, 5, 2]
    # Every page reports what is left, and the snapshot's resource version, as the API server does.
    assert [p.metadata.remaining_item_count for p in pages] == [17, 12, 7, 2, None]
    assert len({p.metadata.resource_version for p in pages}) == 1
    assert kube.limits("/api/v1/pods") == [5, 5, 5, 5, 5]
    assert [bool(r.query.get("continue")) for r in kube.requests] == [False, True, True, True, True]


def test_a_page_exactly_full_at_the_end_has_no_continue(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 4})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    page = core.list_pod_for_all_namespaces(limit=4)
    assert len(page.items) == 4
    assert page.metadata._continue is None and page.metadata.remaining_item_count is None


def test_namespaced_lists_hold_only_that_namespace_in_pages(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 7, "shop-2": 3, "shopping": 2})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    first = core.list_namespaced_pod("shop", limit=4)
    rest = core.list_namespaced_pod("shop", limit=4, _continue=first.metadata._continue)
    names = [p.metadata.name for p in first.items + rest.items]
    assert names == [f"pod-{i:03d}" for i in range(7)]
    assert {p.metadata.namespace for p in first.items + rest.items} == {"shop"}
    assert rest.metadata._continue is None
    assert core.list_namespaced_pod("nowhere").items == []
    assert kube.request_count("/api/v1/namespaces/shop/pods") == 2


def test_a_big_listing_pages_through_thousands_of_pods(kube: SimKube, tmp_path: Path) -> None:
    kube.populate(1_200, namespaces=7, pods_per_deployment=40)
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    names, token = set(), None
    while True:
        page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
        names |= {(p.metadata.namespace, p.metadata.name) for p in page.items}
        token = page.metadata._continue
        if not token:
            break
    assert len(names) == 1_200 == kube.count("pods")
    assert kube.limits("/api/v1/pods") == [500, 500, 500]


def test_field_selector_keeps_running_and_pending_pods_and_pages_without_counts(kube: SimKube, tmp_path: Path) -> None:
    for index, phase in enumerate(["Running", "Succeeded", "Pending", "Failed", "Running", "Succeeded"]):
        kube.add_pod("shop", f"p{index}", containers=[web()], phase=phase)  # type: ignore[arg-type]
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    selector = "status.phase!=Succeeded,status.phase!=Failed"
    seen, token, pages = [], None, 0
    while True:
        page = core.list_pod_for_all_namespaces(field_selector=selector, limit=2, _continue=token)
        pages += 1
        assert page.metadata.remaining_item_count is None  # unknown under a selector, as on a real server
        seen += [(p.metadata.name, p.status.phase) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert sorted(seen) == [("p0", "Running"), ("p2", "Pending"), ("p4", "Running")]
    assert pages == 2
    running_on_node = core.list_namespaced_pod("shop", field_selector="status.phase=Running,metadata.name=p4")
    assert [p.metadata.name for p in running_on_node.items] == ["p4"]


def test_a_field_the_api_server_does_not_index_is_refused_not_ignored(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 2})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(field_selector="spec.containers.image=nginx")
    assert caught.value.status == 400
    status = status_of(caught.value)
    assert status["kind"] == "Status" and status["reason"] == "BadRequest"
    assert "field label not supported: spec.containers.image" in status["message"]
    with pytest.raises(ApiException) as caught:
        kubernetes.client.AppsV1Api(api_client(kube, tmp_path)).list_replica_set_for_all_namespaces(
            field_selector="status.phase=Running"
        )
    assert caught.value.status == 400


def test_label_selectors_select_and_bad_ones_are_refused(kube: SimKube, tmp_path: Path) -> None:
    kube.run_deployment("shop", "web", [web()], replicas=2)
    kube.run_deployment("shop", "api", [web()], replicas=1)
    kube.add_pod("shop", "bare", containers=[web()])
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))

    def names(selector: str) -> list[str]:
        return sorted(p.metadata.name for p in core.list_namespaced_pod("shop", label_selector=selector).items)

    assert len(names("app=web")) == 2
    assert len(names("app in (web,api)")) == 3
    assert names("!app") == ["bare"]
    assert len(names("app!=web")) == 2  # api's pod and the bare pod, which has no app label
    with pytest.raises(ApiException) as caught:
        names("app in web")
    assert caught.value.status == 400


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_a_jobs_pod_restarts_as_its_job_template_says(kube: SimKube, tmp_path: Path, policy: str) -> None:
    (pod_name,) = kube.run_cronjob("batch", "nightly", [web()], restart_policy=policy)
    batch = kubernetes.client.BatchV1Api(api_client(kube, tmp_path))
    (job,) = batch.list_job_for_all_namespaces().items
    (cronjob,) = batch.list_namespaced_cron_job("batch").items
    pod = kubernetes.client.CoreV1Api(api_client(kube, tmp_path)).read_namespaced_pod(pod_name, "batch")
    assert job.spec.template.spec.restart_policy == policy
    assert cronjob.spec.job_template.spec.template.spec.restart_policy == policy
    assert pod.spec.restart_policy == policy


def test_a_job_cannot_restart_always(kube: SimKube) -> None:
    # The API server refuses a Job whose template says Always (only Never and OnFailure are valid there).
    with pytest.raises(ValueError, match="Never or OnFailure"):
        kube.run_cronjob("batch", "nightly", [web()], restart_policy="Always")


def test_replicasets_jobs_and_their_owners_chain_by_uid(kube: SimKube, tmp_path: Path) -> None:
    web_pods = kube.run_deployment("shop", "web", [web()], replicas=2)
    (job_pod,) = kube.run_cronjob("batch", "nightly", [web()])
    ds_pods = kube.run_daemonset("kube-system", "agent", [web()], nodes=["node-a", "node-b"])
    (db_pod,) = kube.run_statefulset("db", "pg", [web()])
    client = api_client(kube, tmp_path)
    core = kubernetes.client.CoreV1Api(client)
    apps = kubernetes.client.AppsV1Api(client)
    batch = kubernetes.client.BatchV1Api(client)
    pods = {p.metadata.name: p for p in core.list_pod_for_all_namespaces().items}
    replicasets = {r.metadata.name: r for r in apps.list_replica_set_for_all_namespaces().items}
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment("shop").items}
    jobs = {j.metadata.name: j for j in batch.list_job_for_all_namespaces().items}
    cronjobs = {c.metadata.name: c for c in batch.list_namespaced_cron_job("batch").items}

    def controller(obj: Any) -> Any:
        (ref,) = [r for r in obj.metadata.owner_references if r.controller]
        return ref

    rs_ref = controller(pods[web_pods[0]])
    assert rs_ref.kind == "ReplicaSet" and rs_ref.api_version == "apps/v1"
    assert rs_ref.uid == replicasets[rs_ref.name].metadata.uid
    deploy_ref = controller(replicasets[rs_ref.name])
    assert (deploy_ref.kind, deploy_ref.name) == ("Deployment", "web")
    assert deploy_ref.uid == deployments["web"].metadata.uid
    job_ref = controller(pods[job_pod])
    assert job_ref.kind == "Job" and job_ref.uid == jobs[job_ref.name].metadata.uid
    cron_ref = controller(jobs[job_ref.name])
    assert (cron_ref.kind, cron_ref.api_version) == ("CronJob", "batch/v1")
    assert cron_ref.uid == cronjobs["nightly"].metadata.uid
    assert {controller(pods[p]).kind for p in ds_pods} == {"DaemonSet"}
    assert {pods[p].spec.node_name for p in ds_pods} == {"node-a", "node-b"}
    assert controller(pods[db_pod]).name == "pg" and db_pod == "pg-0"
    assert [d.metadata.name for d in apps.list_daemon_set_for_all_namespaces().items] == ["agent"]
    assert [s.metadata.name for s in apps.list_stateful_set_for_all_namespaces().items] == ["pg"]
    assert kube.add_pod("x", "bare", containers=[web()])["metadata"].get("ownerReferences") is None


def test_an_owner_of_a_kind_it_does_not_know_needs_its_api_version(kube: SimKube, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="apiVersion"):
        kube.add_pod("shop", "p", containers=[web()], owner=("Rollout", "web"))
    kube.add_pod("shop", "p", containers=[web()], owner=("Rollout", "web", "argoproj.io/v1alpha1"))
    pod = kubernetes.client.CoreV1Api(api_client(kube, tmp_path)).read_namespaced_pod("p", "shop")
    assert pod.metadata.owner_references[0].api_version == "argoproj.io/v1alpha1"
    assert pod.kind == "Pod" and pod.api_version == "v1"


# --- what a pod says about its containers ---


def test_pod_lists_deserialise_strictly_with_every_container_type_and_image_id_form(
    kube: SimKube, tmp_path: Path
) -> None:
    kube.add_pod(
        "shop",
        "full",
        containers=[
            web(),
            KubeContainerSeed("bare-id", "nginx:1.27", image_id=OTHER_DIGEST),
            KubeContainerSeed("repo-digest", f"{REPO}@{DIGEST}", image_id=f"{REPO}@{DIGEST}"),
        ],
        init_containers=[
            KubeContainerSeed("migrate", f"{REPO}:migrate", image_id=f"{REPO}@{OTHER_DIGEST}"),
            KubeContainerSeed(
                "mesh", "envoy:1.30", image_id=f"docker.io/library/envoy@{DIGEST}", restart_policy="Always"
            ),
        ],
        ephemeral_containers=[KubeContainerSeed("debug", "busybox:1.36", image_id="", target_container="web")],
        owner=("ReplicaSet", "web-7d9f"),
    )
    kube.add_pod("shop", "unscheduled", containers=[web("")], phase="Pending", node_name=None)
    kube.add_pod("shop", "pulling", containers=[web("")], phase="Pending")
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    raw = core.list_namespaced_pod("shop", _preload_content=False)
    text = raw.data.decode()
    assert all("kind" not in item for item in json.loads(text)["items"])  # list items carry no type, as on the wire
    pods = {
        p.metadata.name: p
        for p in kubernetes.client.ApiClient().deserialize(text, "V1PodList", "application/json").items
    }

    full = pods["full"]
    statuses = {s.name: s for s in full.status.container_statuses}
    assert statuses["web"].image_id == f"docker-pullable://{REPO}@{DIGEST}"
    assert statuses["bare-id"].image_id == OTHER_DIGEST
    assert statuses["repo-digest"].image_id == f"{REPO}@{DIGEST}"
    assert all(s.state.running is not None and s.ready for s in statuses.values())
    assert [c.name for c in full.spec.init_containers] == ["migrate", "mesh"]
    assert [c.restart_policy for c in full.spec.init_containers] == [None, "Always"]
    init = {s.name: s for s in full.status.init_container_statuses}
    assert init["migrate"].state.terminated.reason == "Completed" and init["migrate"].image_id.endswith(OTHER_DIGEST)
    assert init["mesh"].state.running is not None  # a sidecar keeps running
    (ephemeral,) = full.status.ephemeral_container_statuses
    assert (ephemeral.name, ephemeral.image_id, ephemeral.state.waiting.reason) == ("debug", "", "ContainerCreating")
    assert full.spec.ephemeral_containers[0].target_container_name == "web"

    assert pods["unscheduled"].status.container_statuses is None
    assert pods["unscheduled"].status.conditions[0].reason == "Unschedulable"
    (pulling,) = pods["pulling"].status.container_statuses
    assert (pulling.image_id, pulling.ready, pulling.state.waiting.reason) == ("", False, "ContainerCreating")


def test_finished_pods_report_terminated_containers(kube: SimKube, tmp_path: Path) -> None:
    kube.add_pod("b", "ok", containers=[web()], phase="Succeeded")
    kube.add_pod("b", "bad", containers=[web()], phase="Failed")
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    pods = {p.metadata.name: p for p in core.list_namespaced_pod("b").items}
    assert pods["ok"].status.container_statuses[0].state.terminated.exit_code == 0
    assert pods["bad"].status.container_statuses[0].state.terminated.reason == "Error"


def test_every_list_kind_deserialises_strictly_from_the_raw_json(kube: SimKube, tmp_path: Path) -> None:
    kube.run_deployment("shop", "web", [web()], init_containers=[web()])
    kube.run_cronjob("batch", "nightly", [web()], init_containers=[web()])
    kube.run_daemonset("kube-system", "agent", [web()])
    kube.run_statefulset("db", "pg", [web()])
    kube.add_node("ip-10-0-2-9.us-west-2.compute.internal", architecture="arm64")
    client = api_client(kube, tmp_path)
    lists = {
        "V1PodList": "/api/v1/pods",
        "V1NamespaceList": "/api/v1/namespaces",
        "V1NodeList": "/api/v1/nodes",
        "V1ReplicaSetList": "/apis/apps/v1/replicasets",
        "V1DeploymentList": "/apis/apps/v1/deployments",
        "V1DaemonSetList": "/apis/apps/v1/daemonsets",
        "V1StatefulSetList": "/apis/apps/v1/statefulsets",
        "V1JobList": "/apis/batch/v1/jobs",
        "V1CronJobList": "/apis/batch/v1/cronjobs",
    }
    for model, path in lists.items():
        response = client.call_api("GET", kube.url + path, header_params={"Authorization": f"Bearer {kube.token}"})
        response.read()
        parsed = kubernetes.client.ApiClient().deserialize(response.data.decode(), model, "application/json")
        assert parsed.items, path
        assert parsed.kind == model[2:]


# --- continue tokens ---


def test_an_expired_continue_token_answers_410_with_a_status(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 6})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    first = core.list_pod_for_all_namespaces(limit=2)
    kube.expire_continue_tokens()
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 410
    status = status_of(caught.value)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Expired", 410)
    assert "too old to display a consistent list" in status["message"]
    # The 410 carries a token to go on inconsistently, as the API server's does; a new listing works.
    rest = core.list_pod_for_all_namespaces(limit=10, _continue=status["metadata"]["continue"])
    assert [p.metadata.name for p in rest.items] == [f"pod-{i:03d}" for i in range(2, 6)]
    restarted = core.list_pod_for_all_namespaces(limit=2)
    again = core.list_pod_for_all_namespaces(limit=2, _continue=restarted.metadata._continue)
    assert [p.metadata.name for p in again.items] == ["pod-002", "pod-003"]


def test_the_next_continue_can_be_made_to_expire_once(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 5})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    kube.expire_next_continues(1)
    first = core.list_pod_for_all_namespaces(limit=2)  # a first page carries no token: unaffected
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 410
    second = core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in second.items] == ["pod-002", "pod-003"]
    assert kube.request_count("/api/v1/pods", status=410) == 1


def test_a_garbled_continue_token_is_a_bad_request(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 2})
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=1, _continue="not-a-token")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"].startswith("continue key is not valid")


# --- authentication and authorisation ---


def test_a_missing_or_unknown_token_is_401_and_never_logged(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 1})
    for token in (None, "not-the-token"):
        with pytest.raises(ApiException) as caught:
            kubernetes.client.CoreV1Api(api_client(kube, tmp_path, token=token)).list_pod_for_all_namespaces()
        assert caught.value.status == 401
        assert status_of(caught.value) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
    assert [(r.auth, r.auth_error, r.status) for r in kube.requests] == [
        ("none", None, 401),
        ("token", "unknown-token", 401),
    ]
    kubernetes.client.CoreV1Api(api_client(kube, tmp_path)).list_pod_for_all_namespaces()
    assert kube.requests[-1].auth == "token" and kube.requests[-1].status == 200
    assert "not-the-token" not in repr(kube.requests) and DEFAULT_TOKEN not in repr(kube.requests)


def test_forbid_answers_403_naming_the_resource_but_version_stays_public(kube: SimKube, tmp_path: Path) -> None:
    kube.forbid = True
    client = api_client(kube, tmp_path)
    with pytest.raises(ApiException) as caught:
        kubernetes.client.AppsV1Api(client).list_namespaced_replica_set("shop")
    assert caught.value.status == 403
    status = status_of(caught.value)
    assert status["reason"] == "Forbidden" and status["details"] == {"kind": "replicasets", "group": "apps"}
    assert 'cannot list resource "replicasets" in API group "apps" in the namespace "shop"' in status["message"]
    assert kubernetes.client.VersionApi(client).get_code().git_version == "v1.31.4"
    assert kubernetes.client.AppsV1Api(client).get_api_resources().group_version == "apps/v1"  # system:discovery


def test_nodes_are_listed_in_pages_with_the_labels_their_kubelet_sets(kube: SimKube, tmp_path: Path) -> None:
    names = {f"ip-10-0-{i}-{i + 10}.us-west-2.compute.internal": "arm64" if i % 2 else "amd64" for i in range(5)}
    for name, architecture in names.items():
        kube.add_node(name, architecture=architecture)
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    seen: dict[str, str] = {}
    token: str | None = None
    pages = 0
    while True:
        page = core.list_node(limit=2, _continue=token)
        pages += 1
        assert len(page.items) <= 2
        for node in page.items:
            assert node.metadata.name not in seen
            assert node.status.node_info.architecture == node.metadata.labels["kubernetes.io/arch"]
            assert node.metadata.labels["kubernetes.io/os"] == "linux"
            assert node.metadata.labels["kubernetes.io/hostname"] == node.metadata.name
            seen[node.metadata.name] = node.metadata.labels["kubernetes.io/arch"]
        token = page.metadata._continue
        if not token:
            break
    assert (seen, pages) == (names, 3)
    assert kube.limits("/api/v1/nodes") == [2, 2, 2]
    one = core.read_node("ip-10-0-1-11.us-west-2.compute.internal")
    assert one.status.node_info.architecture == "arm64"
    assert [a.address for a in one.status.addresses if a.type == "InternalIP"] == ["10.0.1.11"]
    assert {c.type: c.status for c in one.status.conditions}["Ready"] == "True"


def test_a_resource_rbac_does_not_grant_is_refused_alone(kube: SimKube, tmp_path: Path) -> None:
    kube.add_node("ip-10-0-1-17.us-west-2.compute.internal")
    kube.add_pod("shop", "web-1", containers=[web()])
    kube.denied.add("nodes")
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    with pytest.raises(ApiException) as caught:
        core.list_node()
    assert caught.value.status == 403
    status = status_of(caught.value)
    assert status["reason"] == "Forbidden" and status["details"] == {"kind": "nodes"}
    assert 'User "sim-admin" cannot list resource "nodes" in API group "" at the cluster scope' in status["message"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces().items] == ["web-1"]  # pods still granted
    kube.reset()
    assert kube.denied == set()


def test_a_client_with_the_wrong_ca_refuses_the_server(kube: SimKube, tmp_path: Path) -> None:
    other = CertificateAuthority.create("somebody-else")
    client = api_client(kube, tmp_path, ca_pem=other.cert_pem)
    client.configuration.retries = 0
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces()
    assert isinstance(caught.value.reason, urllib3.exceptions.SSLError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.reason)
    for _ in range(100):  # the server notices the aborted handshake in its own thread, a moment later
        if kube.tls_failures:
            break
        time.sleep(0.05)
    assert kube.requests == [] and kube.tls_failures >= 1


def test_a_client_certificate_from_the_ca_authenticates_through_a_kubeconfig(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 1})
    path = kube.kubeconfig(tmp_path / "config", "cert-ctx", client_cert=kube.issue_client_cert("alice", ["dev"]))
    client = kubernetes.config.new_client_from_config(config_file=str(path), context="cert-ctx", persist_config=False)
    pods = kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces()
    assert [p.metadata.name for p in pods.items] == ["pod-000"]
    assert (kube.requests[-1].auth, kube.requests[-1].user) == ("client-cert", "alice")


def test_a_client_certificate_from_another_ca_is_refused(kube: SimKube, tmp_path: Path) -> None:
    stranger = CertificateAuthority.create("stranger").issue_client("mallory")
    path = kube.kubeconfig(tmp_path / "config", client_cert=stranger)
    client = kubernetes.config.new_client_from_config(config_file=str(path), persist_config=False)
    client.configuration.retries = 0
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces()
    assert kube.requests == []


def test_kubeconfig_contexts_with_a_token_and_an_exec_plugin(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 2})
    kube.tokens.add("exec-issued-token")
    path = write_kubeconfig(
        tmp_path / "config",
        [
            kube.kubeconfig_entry("token-ctx", namespace="shop"),
            kube.kubeconfig_entry("exec-ctx", user=exec_plugin_user("exec-issued-token")),
            kube.kubeconfig_entry("bad-ctx", token="revoked"),
        ],
        current_context="token-ctx",
    )
    contexts, current = kubernetes.config.list_kube_config_contexts(config_file=str(path))
    assert current["name"] == "token-ctx" and {c["name"] for c in contexts} == {"token-ctx", "exec-ctx", "bad-ctx"}
    for context in ("token-ctx", "exec-ctx"):
        client = kubernetes.config.new_client_from_config(config_file=str(path), context=context, persist_config=False)
        assert len(kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces().items) == 2
    bad = kubernetes.config.new_client_from_config(config_file=str(path), context="bad-ctx", persist_config=False)
    with pytest.raises(ApiException) as caught:
        kubernetes.client.CoreV1Api(bad).list_pod_for_all_namespaces()
    assert caught.value.status == 401
    assert [r.auth for r in kube.requests] == ["token", "token", "token"]
    assert [r.status for r in kube.requests] == [200, 200, 401]
    assert "exec-issued-token" not in repr(kube.requests)


# --- EKS tokens ---


def eks_token(cluster: str, *, region: str = "us-west-2", expires: int = 60) -> str:
    """A token as `aws eks get-token` makes it: botocore presigns STS GetCallerIdentity with x-k8s-aws-id signed."""
    sts = boto3.client("sts", region_name=region)

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=expires, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.fixture
def eks(sim_aws: SimAWS) -> Iterator[SimKube]:
    environ = sim_aws.environ()
    secrets = {environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]}
    with SimKube(
        eks_cluster_name=CLUSTER, aws_secret_keys=secrets, tokens=(), sts_endpoints=(sim_aws.endpoint_url,)
    ) as sim:
        seed_pods(sim, {"shop": 3})
        yield sim


def list_with(kube: SimKube, tmp_path: Path, token: str) -> int:
    """The HTTP status a pod listing with this bearer token gets."""
    try:
        kubernetes.client.CoreV1Api(api_client(kube, tmp_path, token=token)).list_pod_for_all_namespaces()
    except ApiException as error:
        return int(error.status)
    return 200


def test_an_eks_token_signed_for_this_cluster_is_accepted(eks: SimKube, tmp_path: Path) -> None:
    token = eks_token(CLUSTER)
    assert list_with(eks, tmp_path, token) == 200
    request = eks.requests[-1]
    url = base64.urlsafe_b64decode(token[len("k8s-aws-v1.") :] + "==").decode()
    assert (request.auth, request.token_date) == ("eks", parse_qs(urlsplit(url).query)["X-Amz-Date"][0])
    assert request.user == eks.eks_username
    assert token not in repr(eks.requests) and "X-Amz-Signature" not in repr(eks.requests)


def test_an_eks_token_for_another_cluster_or_tampered_or_too_long_is_refused(eks: SimKube, tmp_path: Path) -> None:
    assert list_with(eks, tmp_path, eks_token("staging-eks")) == 401
    good = base64.urlsafe_b64decode(eks_token(CLUSTER)[len("k8s-aws-v1.") :] + "==").decode()
    signature = parse_qs(urlsplit(good).query)["X-Amz-Signature"][0]
    forged = good.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert (
        list_with(eks, tmp_path, "k8s-aws-v1." + base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")) == 401
    )
    assert list_with(eks, tmp_path, eks_token(CLUSTER, expires=900)) == 401
    assert list_with(eks, tmp_path, "k8s-aws-v1.bm90IGEgdXJs") == 401
    assert list_with(eks, tmp_path, DEFAULT_TOKEN) == 401  # an EKS cluster made without static tokens
    assert [r.auth_error for r in eks.requests] == [
        "bad-signature",
        "bad-signature",
        "malformed",
        "malformed",
        "unknown-token",
    ]


def test_an_eks_token_expires_after_15_minutes_and_a_renewed_one_works(
    eks: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = eks_token(CLUSTER)
    real_now = datetime.datetime.now(datetime.UTC)
    eks.clock = lambda: real_now + datetime.timedelta(minutes=14)
    assert list_with(eks, tmp_path, token) == 200
    later = real_now + datetime.timedelta(minutes=16)
    eks.clock = lambda: later
    assert list_with(eks, tmp_path, token) == 401
    assert eks.requests[-1].auth_error == "expired"
    # A client that signs a new token at that later time gets in again.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: later.replace(tzinfo=None))
    renewed = eks_token(CLUSTER)
    assert list_with(eks, tmp_path, renewed) == 200
    dates = [r.token_date for r in eks.requests]
    assert dates[0] == dates[1] != dates[2] and dates[2] == later.strftime("%Y%m%dT%H%M%SZ")


def test_an_eks_token_is_refused_by_a_cluster_that_is_not_eks(kube: SimKube, tmp_path: Path, sim_aws: SimAWS) -> None:
    assert list_with(kube, tmp_path, eks_token(CLUSTER)) == 401
    assert kube.requests[-1].auth_error == "not-an-eks-cluster"


# --- faults, latency and discovery ---


def test_a_path_can_fail_with_a_status_a_given_number_of_times(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 1})
    kube.fail("/apis/apps/v1/*", 503, times=1)
    client = api_client(kube, tmp_path)
    apps = kubernetes.client.AppsV1Api(client)
    with pytest.raises(ApiException) as caught:
        apps.list_replica_set_for_all_namespaces()
    assert caught.value.status == 503 and status_of(caught.value)["reason"] == "ServiceUnavailable"
    assert apps.list_replica_set_for_all_namespaces().items == []
    assert len(kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces().items) == 1
    assert kube.request_count("/apis/apps/v1/replicasets") == 2
    assert kube.request_count("/apis/apps/v1/replicasets", status=503) == 1


def test_a_stalled_response_trips_the_clients_read_timeout(kube: SimKube, tmp_path: Path) -> None:
    seed_pods(kube, {"shop": 4})
    kube.stall("/api/v1/pods", after_items=1, times=1)
    client = api_client(kube, tmp_path)
    client.configuration.retries = 0
    core = kubernetes.client.CoreV1Api(client)
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)) as caught:
        core.list_pod_for_all_namespaces(_request_timeout=(2, 0.3))
    assert "timed out" in str(caught.value).lower()
    assert kube.requests[-1].stalled
    assert len(core.list_pod_for_all_namespaces(_request_timeout=(2, 5)).items) == 4


def test_latency_is_added_to_every_request(kube: SimKube, tmp_path: Path) -> None:
    kube.latency = 0.5
    client = api_client(kube, tmp_path)
    client.configuration.retries = 0
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
        kubernetes.client.VersionApi(client).get_code(_request_timeout=(2, 0.1))
    kube.latency = 0.0
    assert kubernetes.client.VersionApi(client).get_code().major == "1"


def test_version_discovery_and_single_objects(kube: SimKube, tmp_path: Path) -> None:
    (pod,) = kube.run_deployment("shop", "web", [web()], replicas=1)
    client = api_client(kube, tmp_path)
    core = kubernetes.client.CoreV1Api(client)
    assert core.get_api_resources().group_version == "v1"
    assert {r.name for r in core.get_api_resources().resources} >= {"pods", "namespaces"}
    groups = kubernetes.client.ApisApi(client).get_api_versions().groups
    assert {g.name for g in groups} == {"apps", "batch"}
    apps_resources = kubernetes.client.AppsV1Api(client).get_api_resources()
    assert {r.name for r in apps_resources.resources} == {"replicasets", "deployments", "daemonsets", "statefulsets"}
    assert kubernetes.client.CoreApi(client).get_api_versions().versions == ["v1"]
    assert core.read_namespaced_pod(pod, "shop").metadata.name == pod
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("gone", "shop")
    assert caught.value.status == 404
    assert status_of(caught.value)["details"] == {"name": "gone", "kind": "pods"}
    version = kubernetes.client.VersionApi(client).get_code()
    assert (version.major, version.minor, version.git_version) == ("1", "31", "v1.31.4")


def test_stop_ends_a_stalled_response_and_frees_the_port(tmp_path: Path) -> None:
    kube = SimKube().start()
    kube.stall("/version*")
    client = api_client(kube, tmp_path)
    client.configuration.retries = 0
    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
        kubernetes.client.VersionApi(client).get_code(_request_timeout=(2, 0.2))
    kube.stop()  # returns without waiting for the stalled client to give up
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        kubernetes.client.VersionApi(client).get_code(_request_timeout=(1, 1))


def test_seeded_objects_can_be_read_replaced_deleted_and_reset(kube: SimKube, tmp_path: Path) -> None:
    kube.add_pod("shop", "p", containers=[web()])
    pod = kube.get("Pod", "shop", "p")
    assert pod is not None and (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
    first_version = int(pod["metadata"]["resourceVersion"])
    pod["status"]["phase"] = "Succeeded"
    kube.add_object(pod)
    replaced = kube.get("pods", "shop", "p")
    assert replaced is not None and replaced["status"]["phase"] == "Succeeded"
    assert int(replaced["metadata"]["resourceVersion"]) > first_version
    assert replaced["metadata"]["uid"] == pod["metadata"]["uid"]
    assert kube.count("pods") == 1 and kube.count("namespaces") == 1  # the namespace came with its first object
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    assert core.list_namespaced_pod("shop", field_selector="status.phase=Succeeded").items[0].metadata.name == "p"
    assert kube.delete("Pod", "shop", "p") and not kube.delete("Pod", "shop", "p")
    assert core.list_pod_for_all_namespaces().items == []
    kube.forbid, kube.latency = True, 0.2
    kube.reset()
    assert kube.count("namespaces") == 0 and kube.requests == []
    assert core.list_namespace().items == []  # no longer forbidden


def test_a_namespace_is_listed_with_its_labels_and_the_pods_of_a_deployment_with_theirs(
    kube: SimKube, tmp_path: Path
) -> None:
    kube.add_namespace("shop", labels={"team": "storefront"})
    kube.run_deployment("shop", "api", [web()], replicas=1, pod_labels={"team": "checkout"})
    kube.run_deployment("misc", "tool", [web()], replicas=1)  # its namespace made on the way, unlabelled
    core = kubernetes.client.CoreV1Api(api_client(kube, tmp_path))
    labels = {ns.metadata.name: ns.metadata.labels for ns in core.list_namespace().items}
    assert labels["shop"] == {"team": "storefront", "kubernetes.io/metadata.name": "shop"}
    assert labels["misc"] == {"kubernetes.io/metadata.name": "misc"}
    (pod,) = core.list_namespaced_pod("shop").items
    assert pod.metadata.labels["team"] == "checkout" and pod.metadata.labels["app"] == "api"
    assert "pod-template-hash" in pod.metadata.labels
