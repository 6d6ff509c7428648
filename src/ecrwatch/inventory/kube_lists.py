"""Kubernetes list pages decoded into only what ecrwatch reads of them (pure: no API calls).

A page of 500 pods is ~1.2 MB of JSON (more on real clusters, where managedFields, env and volumes fill it),
and ecrwatch reads a dozen fields of each pod. Decoding the whole page built every one of those objects only
to drop them: at organisation scale (90 MB of pods) that was a tenth of a run's CPU. msgspec decodes a page
into the shapes below, skipping every member they do not name, in about 40% of the time.

The shapes describe the structure the readers walk (objects and lists) and leave every leaf `Any`: a value
of an unexpected type reaches the readers as it came, and they judge it as before. A page whose structure
does not fit a shape (a null among the items, a list where an object belongs) is decoded whole instead, so
what the readers see of any page is what they saw when every page was decoded whole.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec
import orjson

# TypedDict: msgspec makes plain dicts (what the readers take), and skips the members a shape does not name.
# The functional form where a member's name is a Python keyword (`continue`).


class _OwnerReference(TypedDict, total=False):
    apiVersion: Any
    kind: Any
    name: Any
    controller: Any


class _Metadata(TypedDict, total=False):
    name: Any
    namespace: Any
    labels: Any
    ownerReferences: list[_OwnerReference] | None


class _Container(TypedDict, total=False):
    name: Any
    image: Any
    restartPolicy: Any


class _ContainerStatus(TypedDict, total=False):
    name: Any
    imageID: Any


class _PodSpec(TypedDict, total=False):
    nodeName: Any
    containers: list[_Container] | None
    initContainers: list[_Container] | None
    ephemeralContainers: list[_Container] | None


class _PodStatus(TypedDict, total=False):
    phase: Any
    containerStatuses: list[_ContainerStatus] | None
    initContainerStatuses: list[_ContainerStatus] | None
    ephemeralContainerStatuses: list[_ContainerStatus] | None


class _Pod(TypedDict, total=False):
    metadata: _Metadata | None
    spec: _PodSpec | None
    status: _PodStatus | None


class _NodeStatus(TypedDict, total=False):
    nodeInfo: Any


class _Node(TypedDict, total=False):
    metadata: _Metadata | None
    status: _NodeStatus | None


class _Named(TypedDict, total=False):
    """ReplicaSets, Jobs, Namespaces: their metadata only (a ReplicaSet's or Job's pod template is not read)."""

    metadata: _Metadata | None


_ListMetadata = TypedDict("_ListMetadata", {"continue": Any}, total=False)


class _PodList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Pod] | None


class _NodeList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Node] | None


class _NamedList(TypedDict, total=False):
    metadata: _ListMetadata | None
    items: list[_Named] | None


class NotAList(ValueError):
    """JSON, but not a Kubernetes list (an object with `items`, a list)."""


class ListDecoder:
    """Decodes one kind of list page: into its shape, or whole when the page does not fit it."""

    def __init__(self, shape: Any) -> None:
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(shape)

    def page(self, body: bytes) -> tuple[list[dict[str, Any]], str | None]:
        """The page's items (those that are objects) and its continue token, if any. ValueError when the body
        is not JSON, NotAList when it is JSON but no list."""
        try:
            document = self._decoder.decode(body)
        except msgspec.ValidationError:
            document = orjson.loads(body)  # JSON, of another structure: the readers judge it whole
        except msgspec.DecodeError as exc:  # not JSON at all
            raise ValueError(str(exc)) from None
        if not isinstance(document, dict) or not isinstance(document.get("items"), list):
            raise NotAList
        metadata = document.get("metadata") or {}
        token = metadata.get("continue") if isinstance(metadata, dict) else None
        items = [item for item in document["items"] if isinstance(item, dict)]
        return items, token if isinstance(token, str) and token else None


PODS = ListDecoder(_PodList)
NODES = ListDecoder(_NodeList)
METADATA_ONLY = ListDecoder(_NamedList)
WHOLE = ListDecoder(Any)  # every member kept: what the shapes are measured against
