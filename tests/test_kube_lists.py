"""List pages decoded into only what the readers use (inventory/kube_lists.py): on random pages of the
simulator's objects, disturbed with nulls, values of other types and members no model declares, a page is
either read exactly as the whole page would be read (the same workloads, owners, architectures, teams and
errors) or, where it does not have the API's types, refused with the place that does not fit; the readers
never stop on what a page holds (one odd pod used to end the whole run with a TypeError)."""

from __future__ import annotations

import datetime
import random
import re
import sys
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
from ecrwatch.inventory.kube_lists import METADATA_ONLY, NODES, PODS, InvalidPage, ListDecoder, NotAList, Page
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


def _odd(value: Any, rng: random.Random, rate: float, odd_share: float) -> Any:
    """At `rate`, something else in place of `value`: a value of another type (`odd_share` of those times),
    else null."""
    if rng.random() < rate:
        return rng.choice(_ODD_VALUES) if rng.random() < odd_share else None
    return _disturbed(value, rng, rate, odd_share)


def _disturbed(value: Any, rng: random.Random, rate: float, odd_share: float = 0.1) -> Any:
    """`value` with nulls (which the API allows for any optional member), values of other types, and members no
    model declares: what a server of another version, or a broken one, could send."""
    if isinstance(value, dict):
        out = {key: _odd(v, rng, rate, odd_share) for key, v in value.items()}
        if rng.random() < rate:  # a string: inside a map (labels) an unknown key is one more entry
            out[f"x-unknown-{rng.randint(0, 9)}"] = rng.choice(_ODD_VALUES) if rng.random() < odd_share else "text"
        return out
    if isinstance(value, list):
        return [_odd(v, rng, rate, odd_share) for v in value]
    return value


def _page(items: list[Any], rng: random.Random, rate: float, odd_share: float) -> bytes:
    document = {
        "kind": "List",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "9", "continue": "next"},
        "items": items,
    }
    return orjson.dumps(_disturbed(document, rng, rate, odd_share))


KINDS = ("replicasets", "jobs", "nodes", "namespaces", "pods")
SHAPED = {
    "replicasets": METADATA_ONLY,
    "jobs": METADATA_ONLY,
    "nodes": NODES,
    "namespaces": METADATA_ONLY,
    "pods": PODS,
}


def _shaped(pages: dict[str, bytes]) -> dict[str, Page]:
    return {kind: SHAPED[kind].page(pages[kind]) for kind in KINDS}


def _whole(pages: dict[str, bytes], leaving_out: dict[str, set[int]] | None = None) -> dict[str, Page]:
    """The pages decoded whole (every member kept, nothing checked), less the items at `leaving_out`'s places:
    what the shapes are held to."""
    decoded = {}
    for kind in KINDS:
        document = orjson.loads(pages[kind])
        if not isinstance(document.get("items"), list):
            raise NotAList
        out = (leaving_out or {}).get(kind, set())
        items = [item for n, item in enumerate(document["items"]) if isinstance(item, dict) and n not in out]
        decoded[kind] = Page(items, (document.get("metadata") or {}).get("continue") or None)
    return decoded


def _read(decoded: dict[str, Page]) -> tuple[list[Workload], list[SourceError], list[str | None]]:
    """The workloads and errors `read_cluster` makes of these pages, and each page's continue token."""
    owners, nodes, namespaces, cache = OwnerIndex(), NodeArchitectures(), NamespaceLabels(), ImageCache()
    owners.add("ReplicaSet", decoded["replicasets"].items)
    owners.add("Job", decoded["jobs"].items)
    nodes.add(decoded["nodes"].items)
    namespaces.add(decoded["namespaces"].items)
    workloads: list[Workload] = []
    errors: list[SourceError] = []
    for pod in decoded["pods"].items:
        if is_running(pod):
            found, bad = pod_workloads(pod, INFO, owners, cache, nodes, TEAM_LABELS, namespaces)
            workloads += found
            errors += bad
    return workloads, errors, [decoded[kind].token for kind in KINDS]


def _random_pages(seed: int, rate: float, odd_share: float = 0.1) -> dict[str, bytes]:
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
        "replicasets": _page(replicasets, rng, rate, odd_share),
        "jobs": _page(jobs, rng, rate, odd_share),
        "nodes": _page(nodes, rng, rate, odd_share),
        "namespaces": _page(namespaces, rng, rate, odd_share),
        "pods": _page(pods, rng, rate, odd_share),
    }


@pytest.mark.parametrize("rate", [0.0, 0.002, 0.01, 0.05])
@pytest.mark.parametrize("seed", range(25))
def test_pages_with_nulls_and_unknown_members_are_read_as_whole_pages_would_be(seed: int, rate: float) -> None:
    pages = _random_pages(seed, rate, odd_share=0.0)
    try:
        shaped = _shaped(pages)
    except NotAList:  # a page's `items` itself made null: the whole page is no list either
        with pytest.raises(NotAList):
            _whole(pages)
        return
    assert all(page.refused == () for page in shaped.values())  # nulls are allowed wherever a member is optional
    workloads, errors, tokens = _read(shaped)
    assert (workloads, errors, tokens) == _read(_whole(pages))
    if rate == 0.0:  # nothing disturbed: containers found, every ReplicaSet and Job resolved to its controller
        assert workloads
        assert {w.owner.kind for w in workloads if w.owner} <= {"Deployment", "CronJob", "DaemonSet"}


_JSON_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "array", dict: "object", type(None): "null"}


def _values_at(document: Any, place: str) -> list[Any]:
    """The values at a place as msgspec names it (`.metadata.labels[...]`, `[...]`: any map value)."""
    values = [document]
    for member, index, any_value in re.findall(r"\.(\w+)|\[(\d+)\]|\[(\.\.\.)\]", place):
        if member:
            values = [v[member] for v in values if isinstance(v, dict) and member in v]
        elif index:
            values = [v[int(index)] for v in values if isinstance(v, list) and int(index) < len(v)]
        else:
            assert any_value
            values = [item for v in values if isinstance(v, dict) for item in v.values()]
    return values


def _holds(told: str, document: Any) -> bool:
    """Whether the place msgspec names (none: the document itself) holds a value of the type it names, and
    that type is not one the shape allows."""
    words = re.fullmatch(r"Expected `(.+)`, got `(\w+)`(?: - at `\$(.*)`)?", told)
    assert words is not None, told
    allowed, got, place = words.groups()
    return got not in allowed.split(" | ") and got in {_JSON_TYPES[type(v)] for v in _values_at(document, place or "")}


_LEFT_OUT = re.compile(r"item (\d+)(?: \(([^)]*)\))?: (.*)")


@pytest.mark.parametrize("rate", [0.001, 0.002, 0.01])
@pytest.mark.parametrize("seed", range(25))
def test_an_object_of_other_types_is_left_out_saying_where_and_the_rest_read_as_whole_pages_would_be(
    seed: int, rate: float
) -> None:
    pages = _random_pages(seed, rate, odd_share=0.5)
    try:
        shaped = _shaped(pages)
    except InvalidPage as refused:  # the list's own metadata did not fit
        told = str(refused).removesuffix(" (the list's metadata)")
        assert told != str(refused)
        assert any(_holds(told, orjson.loads(body).get("metadata")) for body in pages.values())
        return
    except NotAList:  # a page's `items` itself replaced: no list at all
        assert any(not isinstance(orjson.loads(body).get("items"), list) for body in pages.values())
        return
    leaving_out: dict[str, set[int]] = {}
    for kind, page in shaped.items():
        items = orjson.loads(pages[kind])["items"]
        for line in page.refused:
            told = _LEFT_OUT.fullmatch(line)
            assert told is not None, line
            index = int(told.group(1))
            assert _holds(told.group(3), items[index])
            leaving_out.setdefault(kind, set()).add(index)
    assert _read(shaped) == _read(_whole(pages, leaving_out))


def test_disturbed_pages_have_objects_left_out_and_sometimes_none() -> None:
    """The test above meets both outcomes (else it would prove less than it says)."""
    with_refusals = without = 0
    for seed in range(25):
        try:
            shaped = _shaped(_random_pages(seed, 0.002, odd_share=0.5))
        except (InvalidPage, NotAList):
            continue
        if any(page.refused for page in shaped.values()):
            with_refusals += 1
        else:
            without += 1
    assert with_refusals >= 3 and without >= 3


def test_a_pod_keeps_only_what_the_readers_use() -> None:
    """The point of the shapes: a page's bulk (managedFields, volumes, tolerations, conditions) is never built."""
    page = PODS.page(_random_pages(1, 0.0)["pods"])
    assert page.token == "next"
    pod = page.items[0]
    assert set(pod) == {"metadata", "spec", "status"}
    assert "managedFields" not in pod["metadata"] and "uid" not in pod["metadata"]
    assert set(pod["spec"]) <= {"nodeName", "containers", "initContainers", "ephemeralContainers"}
    assert set(pod["spec"]["containers"][0]) <= {"name", "image", "restartPolicy"}
    assert set(pod["status"]) <= {"phase", "containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}


def test_a_null_among_the_items_is_skipped_and_a_pod_of_other_types_left_out_and_told() -> None:
    pod = _pod(random.Random(3), 0)
    page = PODS.page(orjson.dumps({"items": [None, pod], "metadata": {"continue": ""}}))
    assert [item["metadata"]["name"] for item in page.items] == ["pod-0"]
    assert (page.token, page.refused) == (None, ())
    odd = dict(_pod(random.Random(4), 1), spec={"containers": 7})
    after = _pod(random.Random(5), 2)
    page = PODS.page(orjson.dumps({"items": [pod, odd, after], "metadata": {"continue": "next"}}))
    assert [item["metadata"]["name"] for item in page.items] == ["pod-0", "pod-2"]
    assert "managedFields" not in page.items[0]["metadata"]  # still only what the readers use
    assert page.token == "next"
    assert page.refused == ("item 1 (ns-1/pod-1): Expected `array | null`, got `int` - at `$.spec.containers`",)


def test_a_list_whose_own_metadata_does_not_fit_is_refused_whole() -> None:
    pod = _pod(random.Random(3), 0)
    with pytest.raises(InvalidPage) as refused:
        PODS.page(orjson.dumps({"items": [pod], "metadata": {"continue": 7}}))
    assert str(refused.value) == "Expected `str | null`, got `int` - at `$.continue` (the list's metadata)"


@pytest.mark.parametrize("decoder", [PODS, NODES, METADATA_ONLY])
def test_what_is_not_json_or_not_a_list_is_told_apart(decoder: ListDecoder) -> None:
    with pytest.raises(ValueError) as not_json:
        decoder.page(b'{"items": [')
    assert not isinstance(not_json.value, NotAList)
    for body in (b"[]", b'{"items": {}}', b'{"kind": "Status"}', b"null"):
        with pytest.raises(NotAList):
            decoder.page(body)


@pytest.mark.parametrize("decoder", [PODS, NODES, METADATA_ONLY])
def test_a_page_nested_deeper_than_any_object_is_not_json_to_the_reader(decoder: ListDecoder) -> None:
    # In a member no shape names (a broken server's or a proxy's answer): msgspec runs out of Python's stack
    # there. The reader makes a ValueError that cluster's InvalidResponse error; a RecursionError ended the run.
    depth = sys.getrecursionlimit() + 1000
    deep = b'{"a":' * depth + b"1" + b"}" * depth
    body = b'{"items": [{"metadata": {"name": "p", "managedFields": [' + deep + b"]}}]}"
    with pytest.raises(ValueError) as refused:
        decoder.page(body)
    assert type(refused.value) is ValueError  # neither NotAList nor InvalidPage: what the reader calls not JSON
    assert str(refused.value) == "nested too deeply"


def test_replicasets_as_a_partial_object_metadata_list_give_the_owners_their_whole_list_gives() -> None:
    """The owner lists are asked metadata-only; a server that does not know that form sends the list itself."""
    app = [KubeContainerSeed("app", f"{ECR}/shop/web:1.4")]
    replicasets = [
        build_workload("ReplicaSet", "shop", f"web-{n}", containers=app, owner=("Deployment", "web"), created=CREATED)
        for n in range(3)
    ]
    whole = {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {"continue": "next"}, "items": replicasets}
    partial = {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "7", "continue": "next"},
        "items": [
            {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": r["metadata"]}
            for r in replicasets
        ],
    }
    assert METADATA_ONLY.accept == "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    assert (PODS.accept, NODES.accept) == ("application/json", "application/json")
    from_partial, from_whole = METADATA_ONLY.page(orjson.dumps(partial)), METADATA_ONLY.page(orjson.dumps(whole))
    assert from_partial == from_whole
    owners = OwnerIndex()
    owners.add("ReplicaSet", from_partial.items)
    assert owners.top("shop", ("ReplicaSet", "web-2", "apps")) == owners.owner("Deployment", "web")
