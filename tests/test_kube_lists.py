"""List pages decoded into only what the readers use (inventory/kube_lists.py) give the readers exactly what
the whole page gives them: the same workloads, owners, architectures, teams and errors, on random pages of
the simulator's objects, disturbed with nulls, values of other types and members no model declares."""

from __future__ import annotations

import datetime
import random
from typing import Any

import orjson
import pytest

from ecrwatch.inventory.kube import (
    ClusterInfo,
    ImageCache,
    NamespaceLabels,
    NodeArchitectures,
    OwnerIndex,
    is_running,
    pod_workloads,
)
from ecrwatch.inventory.kube_lists import METADATA_ONLY, NODES, PODS, WHOLE, ListDecoder, NotAList
from ecrwatch.models import SourceError, Workload
from ecrwatch.sim.kube import KubeContainerSeed
from ecrwatch.sim.kube_nodes import build_node
from ecrwatch.sim.kube_objects import build_namespace, build_pod, build_workload

CREATED = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
INFO = ClusterInfo("eks", "prod", "eks:us-west-2/prod", "us-west-2", "123456789012")
TEAM_LABELS = ("team", "owner")
NODE_NAMES = [f"ip-10-0-0-{n}.us-west-2.compute.internal" for n in range(4)]


def _image(rng: random.Random) -> tuple[str, str]:
    """A reference as a spec names it, and an imageID as a kubelet reports it (sometimes none, or odd)."""
    digest = "sha256:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))
    repository = f"{ECR}/team-{rng.randint(0, 3)}/svc-{rng.randint(0, 5)}"
    reference = rng.choice([f"{repository}:v{rng.randint(1, 3)}", f"{repository}@{digest}", "nginx", "bad ref!"])
    image_id = rng.choice([f"{repository}@{digest}", f"docker-pullable://{repository}@{digest}", "", "odd"])
    return reference, image_id


def _containers(rng: random.Random, prefix: str, count: int, **extra: Any) -> list[KubeContainerSeed]:
    made = []
    for n in range(count):
        reference, image_id = _image(rng)
        made.append(KubeContainerSeed(f"{prefix}{n}", reference, image_id, **extra))
    return made


def _pod(rng: random.Random, n: int) -> dict[str, Any]:
    owner = rng.choice(
        [("ReplicaSet", f"web-{n % 3}-abc12"), ("Job", f"nightly-{n % 3}"), ("DaemonSet", "agent"), None]
    )
    labels = rng.choice([None, {"app": "web"}, {"team": f"t{n % 3}"}, {"owner": "ops", "team": ""}])
    pod = build_pod(
        f"ns-{n % 3}",
        f"pod-{n}",
        containers=_containers(rng, "app", rng.randint(1, 3)),
        init_containers=_containers(rng, "init", rng.randint(0, 2), restart_policy=rng.choice([None, "Always"])),
        ephemeral_containers=_containers(rng, "debug", rng.choice([0, 0, 1])),
        phase=rng.choice(["Running", "Running", "Pending", "Succeeded", "Failed"]),
        owner=owner,
        node_name=rng.choice([*NODE_NAMES, None]),
        labels=labels,
        created=CREATED,
    )
    # What real API servers add and ecrwatch never reads: the bulk of a real pod.
    pod["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:status": {"f:phase": {}}}}]
    pod["spec"]["volumes"] = [{"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]
    return pod


_ODD_VALUES: list[Any] = [7, 1.5, True, "text", [], {}, [None], {"unknown": 1}]


def _odd(value: Any, rng: random.Random, rate: float) -> Any:
    """At `rate`, null in place of `value`; at a tenth of it, a value of another type."""
    roll = rng.random()
    if roll < rate / 10:
        return rng.choice(_ODD_VALUES)
    if roll < rate:
        return None
    return _disturbed(value, rng, rate)


def _disturbed(value: Any, rng: random.Random, rate: float) -> Any:
    """`value` with nulls (which the readers take as absent), values of other types (some of which stop them)
    and members no model declares: what a server of another version, or a broken one, could send."""
    if isinstance(value, dict):
        out = {key: _odd(v, rng, rate) for key, v in value.items()}
        if rng.random() < rate:
            out[f"x-unknown-{rng.randint(0, 9)}"] = rng.choice(_ODD_VALUES)
        return out
    if isinstance(value, list):
        return [_odd(v, rng, rate) for v in value]
    return value


def _page(items: list[Any], rng: random.Random, rate: float) -> bytes:
    document = {
        "kind": "List",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "next"},
        "items": items,
    }
    return orjson.dumps(_disturbed(document, rng, rate))


def _what_the_readers_make(
    decoder_of: dict[str, ListDecoder], pages: dict[str, bytes]
) -> tuple[list[Workload], list[SourceError], list[str | None]]:
    """The workloads and errors `read_cluster` makes of these pages, and each page's continue token."""
    owners, nodes, namespaces, cache = OwnerIndex(), NodeArchitectures(), NamespaceLabels(), ImageCache()
    tokens: list[str | None] = []

    def items(kind: str) -> list[dict[str, Any]]:
        found, token = decoder_of[kind].page(pages[kind])
        tokens.append(token)
        return found

    owners.add("ReplicaSet", items("replicasets"))
    owners.add("Job", items("jobs"))
    nodes.add(items("nodes"))
    namespaces.add(items("namespaces"))
    workloads: list[Workload] = []
    errors: list[SourceError] = []
    for pod in items("pods"):
        if is_running(pod):
            found, bad = pod_workloads(pod, INFO, owners, cache, nodes, TEAM_LABELS, namespaces)
            workloads += found
            errors += bad
    return workloads, errors, tokens


def _outcome(decoder_of: dict[str, ListDecoder], pages: dict[str, bytes]) -> Any:
    """What the readers make, or the error they stop with (some values of other types stop them: alike)."""
    try:
        return _what_the_readers_make(decoder_of, pages)
    except (AttributeError, TypeError, ValueError) as exc:  # compared, not hidden: both must stop alike
        return repr(exc)


SHAPED = {
    "replicasets": METADATA_ONLY,
    "jobs": METADATA_ONLY,
    "nodes": NODES,
    "namespaces": METADATA_ONLY,
    "pods": PODS,
}
WHOLE_PAGES = dict.fromkeys(SHAPED, WHOLE)


def _random_pages(seed: int, rate: float) -> dict[str, bytes]:
    rng = random.Random(seed)
    app = [KubeContainerSeed("app", f"{ECR}/web:v1")]
    replicasets = [
        build_workload(
            "ReplicaSet",
            f"ns-{n % 3}",
            f"web-{n}-abc12",
            containers=app,
            owner=("Deployment", f"web-{n}"),
            created=CREATED,
        )
        for n in range(4)
    ]
    jobs = [
        build_workload(
            "Job", f"ns-{n % 3}", f"nightly-{n}", containers=app, owner=("CronJob", "nightly"), created=CREATED
        )
        for n in range(3)
    ]
    architectures = ["amd64", "arm64"]
    nodes = [build_node(name, architecture=rng.choice(architectures), created=CREATED) for name in NODE_NAMES]
    for node in nodes[:2]:  # the label gone: the kubelet's nodeInfo says
        del node["metadata"]["labels"]["kubernetes.io/arch"]
    namespaces = [build_namespace(f"ns-{n}", CREATED) for n in range(3)]
    namespaces[1]["metadata"]["labels"]["team"] = "platform"
    pods = [_pod(rng, n) for n in range(rng.randint(5, 40))]
    return {
        "replicasets": _page(replicasets, rng, rate),
        "jobs": _page(jobs, rng, rate),
        "nodes": _page(nodes, rng, rate),
        "namespaces": _page(namespaces, rng, rate),
        "pods": _page(pods, rng, rate),
    }


@pytest.mark.parametrize("rate", [0.0, 0.002, 0.01, 0.05])
@pytest.mark.parametrize("seed", range(25))
def test_pages_decoded_into_their_shapes_make_what_whole_pages_make(seed: int, rate: float) -> None:
    pages = _random_pages(seed, rate)
    shaped = _outcome(SHAPED, pages)
    assert shaped == _outcome(WHOLE_PAGES, pages)
    if rate == 0.0:  # nothing disturbed: containers found, every ReplicaSet and Job resolved to its controller
        workloads = shaped[0]
        assert workloads
        assert {w.owner.kind for w in workloads if w.owner} <= {"Deployment", "CronJob", "DaemonSet"}


def test_a_pod_keeps_only_what_the_readers_use() -> None:
    """The point of the shapes: a page's bulk (managedFields, volumes, tolerations, conditions) is never built."""
    pods, token = PODS.page(_random_pages(1, 0.0)["pods"])
    assert token == "next"
    pod = pods[0]
    assert set(pod) == {"metadata", "spec", "status"}
    assert "managedFields" not in pod["metadata"] and "uid" not in pod["metadata"]
    assert set(pod["spec"]) <= {"nodeName", "containers", "initContainers", "ephemeralContainers"}
    assert set(pod["spec"]["containers"][0]) <= {"name", "image", "restartPolicy"}
    assert set(pod["status"]) <= {"phase", "containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}


def test_a_page_of_another_structure_is_read_whole() -> None:
    """A null among the items and a container list that is a string do not fit the pod shape: the page is read
    as it came, its objects kept, as the readers always took it."""
    pod = _pod(random.Random(3), 0)
    odd = dict(_pod(random.Random(4), 1), spec={"containers": "not a list"})
    items, token = PODS.page(orjson.dumps({"items": [None, pod, odd], "metadata": {"continue": ""}}))
    assert [item["metadata"]["name"] for item in items] == ["pod-0", "pod-1"]
    assert "managedFields" in items[0]["metadata"]  # decoded whole
    assert token is None


@pytest.mark.parametrize("decoder", [PODS, NODES, METADATA_ONLY])
def test_what_is_not_json_or_not_a_list_is_told_apart(decoder: ListDecoder) -> None:
    with pytest.raises(ValueError) as not_json:
        decoder.page(b'{"items": [')
    assert not isinstance(not_json.value, NotAList)
    for body in (b"[]", b'{"items": {}}', b'{"kind": "Status"}', b"null"):
        with pytest.raises(NotAList):
            decoder.page(body)
