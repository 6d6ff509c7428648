"""The simulated cluster's object store and list semantics: paging, selectors, resource versions.

Objects are kept as compact JSON (the bytes the API sends for a list item), with the few fields selectors
need beside them: about 3 KB a realistic pod (50,000 pods: ~150 MB), and a page is a join of bytes.
Keys sort as etcd's do (`namespace/name`), which is the order the API lists in.

Paging follows the API server: `limit` caps the items of a page; `metadata.continue` is set when more keys
remain (so with a selector the last page can be empty); `remainingItemCount` only without selectors; the
continue token is base64url JSON `{"v": "meta.k8s.io/v1", "rv": RV, "start": KEY + "\\0"}`, where an `rv`
older than the last compaction answers 410 Expired (with an inconsistent-continue token, rv -1, in the Status).
One simplification: pages after the first read the current store, not a snapshot at the list's RV.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.sim.kube_objects import JsonDict, build_namespace, object_uid, timestamp

_CONTINUE_VERSION = "meta.k8s.io/v1"
_INCONSISTENT_RV = -1  # a continue token that resumes at the latest RV (handed out with 410 Expired)

EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
    "the results. Continuing with the provided token results in an inconsistent list - objects that were "
    "created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


@dataclass(frozen=True)
class ResourceType:
    """A resource the simulated API serves: its names, where it lives, and the fields it can be selected by."""

    kind: str
    plural: str
    singular: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # fieldSelector labels besides metadata.name and metadata.namespace

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def selectable(self) -> tuple[str, ...]:
        return ("metadata.name", "metadata.namespace", *self.fields)

    def gvr(self) -> str:
        """How the API server names the resource in messages: `/v1, Resource=pods`, `apps/v1, Resource=...`."""
        return f"{self.group}/{self.version}, Resource={self.plural}"


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "Pod",
        "pods",
        "pod",
        "",
        "v1",
        True,
        ("po",),
        (
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ResourceType("Namespace", "namespaces", "namespace", "", "v1", False, ("ns",), ("status.phase",)),
    ResourceType("Node", "nodes", "node", "", "v1", False, ("no",), ("spec.unschedulable",)),
    ResourceType("ReplicaSet", "replicasets", "replicaset", "apps", "v1", True, ("rs",), ("status.replicas",)),
    ResourceType("Deployment", "deployments", "deployment", "apps", "v1", True, ("deploy",)),
    ResourceType("DaemonSet", "daemonsets", "daemonset", "apps", "v1", True, ("ds",)),
    ResourceType("StatefulSet", "statefulsets", "statefulset", "apps", "v1", True, ("sts",)),
    ResourceType("Job", "jobs", "job", "batch", "v1", True, (), ("status.successful",)),
    ResourceType("CronJob", "cronjobs", "cronjob", "batch", "v1", True, ("cj",)),
)


def resource_type(name: str) -> ResourceType:
    """The resource named by kind (`Pod`), plural (`pods`), singular or short name (`po`)."""
    lowered = name.lower()
    for rtype in RESOURCE_TYPES:
        if lowered in (rtype.kind.lower(), rtype.plural, rtype.singular, *rtype.short_names):
            return rtype
    raise KeyError(f"the simulated API does not serve {name!r}")


class ApiError(Exception):
    """An API error, answered as a `Status` object with this code and reason."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JsonDict | None = None,
        continue_token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.continue_token = continue_token

    def status(self) -> JsonDict:
        return status_body(self.code, self.reason, self.message, self.details, self.continue_token)


def status_body(
    code: int, reason: str, message: str, details: JsonDict | None = None, continue_token: str | None = None
) -> JsonDict:
    """A `Status` (kind Status, apiVersion v1) as the API server sends with every error."""
    metadata: JsonDict = {}
    if continue_token is not None:
        metadata["continue"] = continue_token
    body: JsonDict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata,
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# --- selectors ---

Requirement = Callable[[Mapping[str, str]], bool]
FieldRequirement = Callable[[tuple[str, ...]], bool]  # over the values of ResourceType.selectable, in order
_FIELD_TERM = re.compile(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$")
_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_LABEL_EXISTS = re.compile(rf"^(!?)\s*({_LABEL_KEY})$")
_LABEL_EQUALS = re.compile(rf"^({_LABEL_KEY})\s*(==|=|!=)\s*({_LABEL_VALUE})$")
_LABEL_SET = re.compile(rf"^({_LABEL_KEY})\s+(in|notin)\s+\(([^()]*)\)$")


def _compare(index: int, op: str, value: str) -> FieldRequirement:
    if op == "!=":
        return lambda fields: fields[index] != value
    return lambda fields: fields[index] == value


def parse_field_selector(selector: str, rtype: ResourceType, label_selector: str = "") -> list[FieldRequirement]:
    """The requirements of a fieldSelector, or 400 as the API server answers for a field it does not index."""
    requirements: list[FieldRequirement] = []
    for term in filter(None, (t.strip() for t in selector.split(","))):
        match = _FIELD_TERM.match(term)
        if match is None:
            raise _bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        key, op, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if key not in rtype.selectable:
            raise _bad_request(
                f'Unable to find "{rtype.gvr()}" that match label selector "{label_selector}", '
                f'field selector "{selector}": field label not supported: {key}'
            )
        requirements.append(_compare(rtype.selectable.index(key), op, value))
    return requirements


def _split_terms(selector: str) -> Iterator[str]:
    depth, start = 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield selector[start:index].strip()
            start = index + 1
    yield selector[start:].strip()


def _label_exists(key: str, *, negate: bool) -> Requirement:
    return lambda labels: (key in labels) != negate


def _label_in(key: str, values: set[str], *, negate: bool) -> Requirement:
    # As the API server: `k!=v` and `k notin (...)` also match objects without the label.
    return lambda labels: (labels.get(key) in values) != negate


def parse_label_selector(selector: str) -> list[Requirement]:
    """Equality (`=`, `==`, `!=`), set (`in`, `notin`) and existence (`k`, `!k`) requirements, ANDed."""
    requirements: list[Requirement] = []
    if not selector.strip():
        return requirements
    for term in _split_terms(selector):
        if (match := _LABEL_EXISTS.match(term)) is not None:
            requirements.append(_label_exists(match.group(2), negate=bool(match.group(1))))
        elif (match := _LABEL_EQUALS.match(term)) is not None:
            requirements.append(_label_in(match.group(1), {match.group(4)}, negate=match.group(3) == "!="))
        elif (match := _LABEL_SET.match(term)) is not None:
            values = {v.strip() for v in match.group(4).split(",") if v.strip()}
            requirements.append(_label_in(match.group(1), values, negate=match.group(3) == "notin"))
        else:
            raise _bad_request(f"unable to parse requirement: {term!r} in label selector {selector!r}")
    return requirements


# --- continue tokens ---


def encode_continue(resource_version: int, start_key: str) -> str:
    """The API server's continue token: base64url (unpadded) JSON with the list's RV and the next key."""
    payload = {"v": _CONTINUE_VERSION, "rv": resource_version, "start": start_key + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(resource version, start key) of a continue token, or 400 as the API server answers a bad one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad_request(f"continue key is not valid: {exc}") from None
    if not isinstance(payload, dict) or payload.get("v") != _CONTINUE_VERSION:
        raise _bad_request("continue key is not valid: server does not recognize this encoded key version")
    rv, start = payload.get("rv"), payload.get("start")
    if not isinstance(rv, int) or (rv <= 0 and rv != _INCONSISTENT_RV):
        raise _bad_request(
            f"continue key is not valid: incorrect encoded start resourceVersion (version {_CONTINUE_VERSION})"
        )
    if not isinstance(start, str) or not start:
        raise _bad_request("continue key is not valid: encoded start key empty")
    return rv, start


# --- the store ---


@dataclass(frozen=True)
class ListPage:
    """One page of a list, ready to serialise: item JSON bytes and the list metadata."""

    items: list[bytes]
    resource_version: str
    continue_token: str | None
    remaining_item_count: int | None


@dataclass(slots=True)
class _Entry:
    data: bytes
    fields: tuple[str, ...]
    labels: dict[str, str]
    metadata: bytes | None = None  # the object's metadata alone, made when first asked for (most never are)

    def metadata_bytes(self) -> bytes:
        if self.metadata is None:
            self.metadata = _ENCODER.encode(json.loads(self.data)["metadata"]).encode()
        return self.metadata


@dataclass
class _Collection:
    entries: dict[str, _Entry] = field(default_factory=dict)
    sorted_keys: list[str] | None = None  # rebuilt lazily after writes: bulk seeding stays linear

    def ordered(self) -> list[str]:
        if self.sorted_keys is None:
            self.sorted_keys = sorted(self.entries)
        return self.sorted_keys


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)  # the check costs 2/3 of the time


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


class KubeStore:
    """Every object of the simulated cluster, by resource type and key. Thread-safe."""

    def __init__(self, clock: Callable[[], datetime.datetime]) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._rv = 1
        self._compacted_rv = 0
        self._expire_next = 0
        self._collections: dict[str, _Collection] = {rtype.plural: _Collection() for rtype in RESOURCE_TYPES}

    @staticmethod
    def key(rtype: ResourceType, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if rtype.namespaced else name

    # --- writes ---

    def put(self, rtype: ResourceType, obj: Mapping[str, Any]) -> JsonDict:
        """Store `obj` (replacing any object with its key) with a new resourceVersion; returns what is stored.

        uid and creationTimestamp are filled in where missing; kind/apiVersion are dropped (list items
        carry none). A namespaced object's namespace is created if it does not exist yet.
        """
        metadata = dict(obj.get("metadata") or {})
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name:
            raise ValueError("an object needs metadata.name")
        if rtype.namespaced != isinstance(namespace, str) or namespace == "":
            raise ValueError(f"{rtype.kind} {name!r}: metadata.namespace must be set exactly for namespaced kinds")
        stored = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        with self._lock:
            if namespace is not None and namespace not in self._collections["namespaces"].entries:
                self.put(resource_type("Namespace"), build_namespace(namespace, self._clock()))
            self._rv += 1
            if "uid" not in metadata:
                metadata["uid"] = object_uid(rtype.kind, namespace, name)
            if "creationTimestamp" not in metadata:
                metadata["creationTimestamp"] = timestamp(self._clock())
            metadata["resourceVersion"] = str(self._rv)
            stored["metadata"] = metadata
            fields = tuple(_field_value(stored, path) for path in rtype.selectable)
            labels = dict(metadata.get("labels") or {})
            entry = _Entry(_ENCODER.encode(stored).encode(), fields, labels)
            collection = self._collections[rtype.plural]
            key = self.key(rtype, namespace, name)
            if key not in collection.entries:
                collection.sorted_keys = None
            collection.entries[key] = entry
        return stored

    def delete(self, rtype: ResourceType, namespace: str | None, name: str) -> bool:
        with self._lock:
            collection = self._collections[rtype.plural]
            entry = collection.entries.pop(self.key(rtype, namespace, name), None)
            if entry is None:
                return False
            collection.sorted_keys = None
            self._rv += 1
            return True

    def clear(self) -> None:
        with self._lock:
            for collection in self._collections.values():
                collection.entries.clear()
                collection.sorted_keys = None
            self._rv += 1

    # --- reads ---

    def get_bytes(
        self, rtype: ResourceType, namespace: str | None, name: str, *, metadata_only: bool = False
    ) -> bytes | None:
        """The object's JSON, or with `metadata_only` its `metadata` member's alone."""
        with self._lock:
            entry = self._collections[rtype.plural].entries.get(self.key(rtype, namespace, name))
            if entry is None:
                return None
            return entry.metadata_bytes() if metadata_only else entry.data

    def count(self, rtype: ResourceType, namespace: str | None = None) -> int:
        with self._lock:
            entries = self._collections[rtype.plural].entries
            if namespace is None:
                return len(entries)
            return sum(1 for key in entries if key.startswith(f"{namespace}/"))

    def all_bytes(self, rtype: ResourceType) -> list[bytes]:
        with self._lock:
            collection = self._collections[rtype.plural]
            return [collection.entries[key].data for key in collection.ordered()]

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    # --- continue-token expiry ---

    def expire_continue_tokens(self) -> None:
        """Compact: every continue token handed out so far answers 410 Expired from now on."""
        with self._lock:
            self._rv += 1
            self._compacted_rv = self._rv

    def expire_next_continues(self, times: int = 1) -> None:
        """The next `times` requests that carry a continue token answer 410 Expired (as after a compaction)."""
        with self._lock:
            self._expire_next += times

    # --- listing ---

    def list_page(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
        field_selector: str = "",
        label_selector: str = "",
        metadata_only: bool = False,
    ) -> ListPage:
        """One page of a list, as the API server computes it from etcd; with `metadata_only` each item is its
        `metadata` member's JSON alone (for a PartialObjectMetadataList)."""
        requirements = parse_field_selector(field_selector, rtype, label_selector)
        label_requirements = parse_label_selector(label_selector)
        filtered = bool(requirements or label_requirements)
        prefix = f"{namespace}/" if namespace is not None and rtype.namespaced else ""
        with self._lock:
            list_rv = self._rv
            start = prefix
            if continue_token:
                token_rv, start_key = decode_continue(continue_token)
                if self._expire_next > 0 or (token_rv != _INCONSISTENT_RV and token_rv < self._compacted_rv):
                    self._expire_next = max(0, self._expire_next - 1)
                    raise ApiError(
                        410,
                        "Expired",
                        EXPIRED_CONTINUE_MESSAGE,
                        continue_token=encode_continue(_INCONSISTENT_RV, start_key[:-1]),
                    )
                if token_rv != _INCONSISTENT_RV:
                    list_rv = token_rv
                start = prefix + start_key
            collection = self._collections[rtype.plural]
            keys = collection.ordered()
            index = bisect.bisect_left(keys, start)
            # Namespace names are DNS labels, so every key of the namespace sorts before prefix[:-1] + "0".
            end = bisect.bisect_left(keys, prefix[:-1] + "0") if prefix else len(keys)
            items: list[bytes] = []
            while index < end and (limit is None or len(items) < limit):
                entry = collection.entries[keys[index]]
                index += 1
                if all(req(entry.fields) for req in requirements) and all(
                    req(entry.labels) for req in label_requirements
                ):
                    items.append(entry.metadata_bytes() if metadata_only else entry.data)
            more = index < end
            next_token = remaining = None
            if more:
                next_token = encode_continue(list_rv, keys[index - 1][len(prefix) :])
                remaining = None if filtered else end - index
        return ListPage(items, str(list_rv), next_token, remaining)
