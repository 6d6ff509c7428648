"""Kubernetes list pages decoded into only what ecrwatch reads of them, checked against the API's types (pure).

A page of 500 pods is ~1.2 MB of JSON (more on real clusters, where managedFields, env and volumes fill it),
and ecrwatch reads a dozen fields of each pod. Decoding the whole page built every one of those objects only
to drop them: at organisation scale (90 MB of pods) that was a tenth of a run's CPU. msgspec decodes a page
into the shapes below, skipping every member they do not name, in about 40% of the time.

The shapes give each member the type the Kubernetes API documents for it (strings, maps of strings, lists of
objects; null allowed, as for any optional member). An object that does not fit is not what an API server
sends (a proxy's or a broken server's answer): the page is then read item by item, and that object is left
out and told (`Page.refused`: "item 3 (default/odd): Expected `array | null`, got `int` - at
`$.spec.containers`"), an error of that cluster; the cluster's other objects are read. A list whose own
metadata does not fit is refused whole (`InvalidPage`). Before, one such pod stopped the whole run with a
TypeError. Members a shape does not name are never looked at, whatever they hold.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

import msgspec
import orjson

# TypedDict: msgspec makes plain dicts (what the readers take), and skips the members a shape does not name.
# The functional form where a member's name is a Python keyword (`continue`).


class _OwnerReference(TypedDict, total=False):
    apiVersion: str | None
    kind: str | None
    name: str | None
    controller: bool | None


class _Metadata(TypedDict, total=False):
    name: str | None
    namespace: str | None
    labels: dict[str, str | None] | None
    ownerReferences: list[_OwnerReference | None] | None


class _Container(TypedDict, total=False):
    name: str | None
    image: str | None
    restartPolicy: str | None


class _ContainerStatus(TypedDict, total=False):
    name: str | None
    imageID: str | None


class _PodSpec(TypedDict, total=False):
    nodeName: str | None
    containers: list[_Container | None] | None
    initContainers: list[_Container | None] | None
    ephemeralContainers: list[_Container | None] | None


class _PodStatus(TypedDict, total=False):
    phase: str | None
    containerStatuses: list[_ContainerStatus | None] | None
    initContainerStatuses: list[_ContainerStatus | None] | None
    ephemeralContainerStatuses: list[_ContainerStatus | None] | None


class _Pod(TypedDict, total=False):
    metadata: _Metadata | None
    spec: _PodSpec | None
    status: _PodStatus | None


class _NodeInfo(TypedDict, total=False):
    architecture: str | None


class _NodeStatus(TypedDict, total=False):
    nodeInfo: _NodeInfo | None


class _Node(TypedDict, total=False):
    metadata: _Metadata | None
    status: _NodeStatus | None


class _Named(TypedDict, total=False):
    """ReplicaSets, Jobs, Namespaces: their metadata only (a ReplicaSet's or Job's pod template is not read,
    nor, from a server that knows the conversion, sent), from a list of the objects or a PartialObjectMetadataList."""

    metadata: _Metadata | None


_ListMetadata = TypedDict("_ListMetadata", {"continue": str | None}, total=False)


class _PodList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Pod | None] | None


class _NodeList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Node | None] | None


class _NamedList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Named | None] | None


class NotAList(ValueError):
    """JSON, but not a Kubernetes list (an object with `items`, a list)."""


class InvalidPage(ValueError):
    """A list whose own members (its metadata) do not have the types the Kubernetes API gives them; the message
    says where."""


class Page(NamedTuple):
    items: list[dict[str, Any]]  # the items that fit their shape (nulls left out)
    token: str | None  # the continue token, if any
    # An item that does not fit, one line each: its place, name and what did not fit. Left out, never guessed.
    refused: tuple[str, ...] = ()


JSON = "application/json"
# The API server (1.15+) answers this with a PartialObjectMetadataList: each item its metadata alone, without
# the pod template that makes up most of a ReplicaSet or Job. The trailing JSON lets a server that does not
# know the conversion answer the list itself, which decodes into the same shape.
PARTIAL_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class ListDecoder:
    """Decodes one kind of list page into its shape; `accept` is the Accept header its list is asked with."""

    def __init__(self, shape: Any, item_shape: Any, accept: str = JSON) -> None:
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(shape)
        self._item_shape = item_shape
        self.accept = accept

    def page(self, body: bytes) -> Page:
        """The page's items, its continue token, and the items that do not fit their shape (left out, each
        told). ValueError when the body is not JSON (or is nested too deeply to decode), NotAList when it is
        JSON but no list, InvalidPage when the list's own metadata does not fit."""
        try:
            document = self._decoder.decode(body)
        except msgspec.ValidationError as exc:
            try:
                whole = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise ValueError(str(exc)) from None
            return self._item_by_item(whole, str(exc))
        except msgspec.DecodeError as exc:  # not JSON at all
            raise ValueError(str(exc)) from None
        except RecursionError:  # nested past Python's stack (~1,000 deep; orjson stopped at 1,024 as not JSON)
            raise ValueError("nested too deeply") from None
        if not isinstance(document, dict) or not isinstance(document.get("items"), list):
            raise NotAList
        metadata = document.get("metadata") or {}
        token = metadata.get("continue") if isinstance(metadata, dict) else None
        items = [item for item in document["items"] if isinstance(item, dict)]
        return Page(items, token if isinstance(token, str) and token else None)

    def _item_by_item(self, whole: Any, problem: str) -> Page:
        """A page that does not fit as a whole, read item by item: one odd object (a proxy's, a broken
        controller's) is left out and told, and the cluster's other objects, on this page and the next, are
        still read. Only when the list itself does not fit is the page refused."""
        if not isinstance(whole, dict) or not isinstance(whole.get("items"), list):
            raise NotAList
        try:
            metadata = msgspec.convert(whole.get("metadata"), _ListMetadata | None)
        except msgspec.ValidationError as exc:
            raise InvalidPage(f"{exc} (the list's metadata)") from None
        items: list[dict[str, Any]] = []
        refused: list[str] = []
        for index, item in enumerate(whole["items"]):
            if item is None:
                continue
            try:
                items.append(msgspec.convert(item, self._item_shape))
            except msgspec.ValidationError as exc:  # the types and the place, never a value
                refused.append(f"item {index}{_named(item)}: {exc}")
        if not refused:  # what did not fit is neither an item nor the list's metadata
            raise InvalidPage(problem)
        token = (metadata or {}).get("continue")
        return Page(items, token or None, tuple(refused))


def _named(item: Any) -> str:
    """The object's namespace and name as ' (NAMESPACE/NAME)' where its metadata has them, else nothing."""
    metadata = item.get("metadata") if isinstance(item, dict) else None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        return ""
    namespace = metadata.get("namespace")
    return f" ({namespace}/{metadata['name']})" if isinstance(namespace, str) else f" ({metadata['name']})"


PODS = ListDecoder(_PodList, _Pod)
NODES = ListDecoder(_NodeList, _Node)
METADATA_ONLY = ListDecoder(_NamedList, _Named, PARTIAL_METADATA_LIST)
