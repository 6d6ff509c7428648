"""The simulated API server's content negotiation: metadata-only answers (PartialObjectMetadataList) when the
Accept header asks for them, the object itself otherwise, 406 when nothing asked for is served, and the old
server that ignores `as=`.

Expectations from the Kubernetes API: a client asks `Accept: application/json;as=PartialObjectMetadataList;
g=meta.k8s.io;v=v1` (client-go's metadata client adds `,application/json` for servers that do not know it);
the answer is a `PartialObjectMetadataList` (apiVersion meta.k8s.io/v1, list metadata as any list's) whose
items are `{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": <the whole
ObjectMeta>}`; a failed negotiation is a Status with reason NotAcceptable, code 406.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from ecrwatch.sim.kube import KubeContainerSeed, SimKube

METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_OR_FULL = f"{METADATA},application/json"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop/web:1.4"


@pytest.fixture
def kube() -> Iterator[SimKube]:
    with SimKube() as sim:
        yield sim


class Client:
    """Raw HTTPS GETs with a chosen Accept header, TLS verified against the simulator's CA."""

    def __init__(self, kube: SimKube, tmp_path: Path) -> None:
        self.kube = kube
        self.http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=kube.write_ca(tmp_path))

    def get(self, path: str, accept: str | None, **query: str) -> tuple[int, str, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.kube.token}"}
        if accept is not None:
            headers["Accept"] = accept
        url = self.kube.url + path + (f"?{urlencode(query)}" if query else "")
        response = self.http.request("GET", url, headers=headers)
        return response.status, response.headers["Content-Type"], json.loads(response.data)


@pytest.fixture
def client(kube: SimKube, tmp_path: Path) -> Client:
    return Client(kube, tmp_path)


def seed(kube: SimKube) -> None:
    """Two Deployments' ReplicaSets (a pod template each) and a CronJob's Job."""
    app = [KubeContainerSeed("app", IMAGE)]
    kube.run_deployment("shop", "web", app)
    kube.run_deployment("shop", "api", app)
    kube.run_cronjob("batch", "nightly", app)
    kube.clear_requests()


def test_a_list_asked_metadata_only_is_a_partial_object_metadata_list(kube: SimKube, client: Client) -> None:
    seed(kube)
    status, content_type, full = client.get("/apis/apps/v1/replicasets", "application/json")
    assert (status, content_type, full["kind"]) == (200, "application/json", "ReplicaSetList")
    status, content_type, partial = client.get("/apis/apps/v1/replicasets", METADATA)
    assert (status, content_type) == (200, METADATA)
    assert (partial["kind"], partial["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    assert partial["metadata"]["resourceVersion"] == full["metadata"]["resourceVersion"]
    # Each item: the object's whole metadata (owner references and labels included), and nothing else.
    assert partial["items"] == [
        {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]}
        for item in full["items"]
    ]
    assert [item["metadata"]["ownerReferences"][0]["kind"] for item in partial["items"]] == ["Deployment"] * 2
    # The log says what was asked and answered, and how much less was sent.
    plain, meta = kube.requests
    assert (plain.accept, plain.content_type, meta.accept, meta.content_type) == (
        "application/json",
        "application/json",
        METADATA,
        METADATA,
    )
    assert 0 < meta.size < plain.size / 2


def test_metadata_lists_page_and_select_as_any_list(kube: SimKube, client: Client) -> None:
    for index in range(5):
        kube.add_namespace(f"team-{index}", labels={"team": "blue" if index % 2 else "red"})
    names: list[str] = []
    token: str | None = None
    remaining: list[int | None] = []
    while True:
        query = {"limit": "2", **({"continue": token} if token else {})}
        status, _, page = client.get("/api/v1/namespaces", METADATA, **query)
        assert status == 200 and page["kind"] == "PartialObjectMetadataList"
        names += [item["metadata"]["name"] for item in page["items"]]
        remaining.append(page["metadata"].get("remainingItemCount"))
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"team-{index}" for index in range(5)]
    assert remaining == [3, 1, None]
    _, _, blue = client.get("/api/v1/namespaces", METADATA, labelSelector="team=blue")
    assert [(i["metadata"]["name"], i["metadata"]["labels"]["team"]) for i in blue["items"]] == [
        ("team-1", "blue"),
        ("team-3", "blue"),
    ]
    _, _, one = client.get("/api/v1/namespaces", METADATA, fieldSelector="metadata.name=team-4")
    assert [i["metadata"]["name"] for i in one["items"]] == ["team-4"]


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "application/json",
        "*/*",
        "application/*",
        # A conversion the API server does not know is passed over for the next acceptable type.
        "application/json;as=PartialObjectMetadataList;g=example.com;v=v1,application/json",
        "text/html,application/json",
        # The highest q wins, whatever the order.
        f"{METADATA};q=0.5,application/json",
    ],
)
def test_anything_but_a_metadata_conversion_first_gets_the_list_itself(
    kube: SimKube, client: Client, accept: str | None
) -> None:
    seed(kube)
    status, content_type, body = client.get("/apis/batch/v1/jobs", accept)
    assert (status, content_type, body["kind"], body["apiVersion"]) == (200, "application/json", "JobList", "batch/v1")
    [job] = body["items"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


@pytest.mark.parametrize(
    "accept",
    [METADATA_OR_FULL, f"application/json;q=0.9,{METADATA}", "*/*;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"],
)
def test_the_metadata_conversion_wins_when_it_is_the_first_acceptable_type(
    kube: SimKube, client: Client, accept: str
) -> None:
    seed(kube)
    status, content_type, body = client.get("/apis/batch/v1/jobs", accept)
    assert (status, content_type, body["kind"]) == (200, METADATA, "PartialObjectMetadataList")
    assert [set(item) for item in body["items"]] == [{"kind", "apiVersion", "metadata"}]
    assert body["items"][0]["metadata"]["ownerReferences"][0]["name"] == "nightly"


def test_v1beta1_metadata_is_typed_in_v1beta1(kube: SimKube, client: Client) -> None:
    seed(kube)
    beta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1"
    status, content_type, body = client.get("/apis/batch/v1/jobs", beta)
    assert (status, content_type, body["apiVersion"]) == (200, beta, "meta.k8s.io/v1beta1")
    assert body["items"][0]["apiVersion"] == "meta.k8s.io/v1beta1"


@pytest.mark.parametrize(
    "accept",
    [
        "text/plain",
        f"{METADATA};q=0",
        "application/json;as=PartialObjectMetadataList",  # no group and version: no conversion the server knows
        "application/json;as=PartialObjectMetadataList;g=example.com;v=v1",
    ],
)
def test_nothing_acceptable_is_406_not_acceptable(kube: SimKube, client: Client, accept: str) -> None:
    seed(kube)
    status, _, body = client.get("/apis/apps/v1/replicasets", accept)
    assert status == 406
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotAcceptable", 406)
    assert body["message"] == "only the following media types are accepted: application/json"
    assert [(r.status, r.accept) for r in kube.requests] == [(406, accept)]


def test_a_single_object_conversion_must_fit_what_is_asked(kube: SimKube, client: Client) -> None:
    seed(kube)
    one = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    status, _, body = client.get("/apis/apps/v1/replicasets", one)
    assert (status, body["reason"]) == (406, "NotAcceptable")
    assert body["message"] == (
        "you requested PartialObjectMetadata, but the requested object is a list (*v1.ReplicaSetList)"
    )
    status, content_type, body = client.get("/apis/batch/v1/cronjobs", one)
    assert status == 406
    status, content_type, body = client.get("/apis/batch/v1/namespaces/batch/cronjobs/nightly", one)
    assert (status, content_type) == (200, one)
    assert (body["kind"], body["metadata"]["name"], "spec" in body) == ("PartialObjectMetadata", "nightly", False)
    status, _, body = client.get("/apis/batch/v1/namespaces/batch/cronjobs/nightly", METADATA)
    assert (status, body["reason"]) == (406, "NotAcceptable")
    assert body["message"].endswith("but the requested object is not a list (*v1.CronJob)")


def test_an_old_server_ignores_the_conversion_and_answers_the_list_itself(kube: SimKube, client: Client) -> None:
    seed(kube)
    kube.partial_metadata = False
    for accept in (METADATA_OR_FULL, METADATA):
        status, content_type, body = client.get("/apis/apps/v1/replicasets", accept)
        assert (status, content_type, body["kind"]) == (200, "application/json", "ReplicaSetList")
        assert all("template" in item["spec"] for item in body["items"])
    kube.reset()
    seed(kube)
    assert client.get("/apis/apps/v1/replicasets", METADATA)[2]["kind"] == "PartialObjectMetadataList"


def test_a_replaced_object_lists_its_new_metadata(kube: SimKube, client: Client) -> None:
    kube.add_namespace("shop", labels={"team": "red"})
    assert client.get("/api/v1/namespaces", METADATA)[2]["items"][0]["metadata"]["labels"]["team"] == "red"
    kube.add_namespace("shop", labels={"team": "blue"})
    assert client.get("/api/v1/namespaces", METADATA)[2]["items"][0]["metadata"]["labels"]["team"] == "blue"
