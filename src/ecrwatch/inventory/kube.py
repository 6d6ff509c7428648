"""Running containers of one Kubernetes cluster, read through the official `kubernetes` client.

Per cluster: one paged list of ReplicaSets and one of Jobs (all namespaces) to resolve owners
(ReplicaSet -> Deployment, Job -> CronJob), asked metadata-only as the namespaces are (their pod templates
are never sent, save by a server too old to know that form: kube_lists.PARTIAL_METADATA_LIST), one of the
nodes for the CPU architecture each pod runs on (the node's `kubernetes.io/arch` label), then one paged list
of the pods that are not finished (`fieldSelector status.phase!=Succeeded,status.phase!=Failed`, checked
again here). Every container, init container (a `sidecar` when its restartPolicy is Always) and ephemeral
container becomes a Workload; its `running_digest` is the manifest digest in the matching status's
`imageID`, else the digest in the spec's image, else None. Never a GET per pod.

Lists go in pages of `PAGE_LIMIT` with `continue`; a continue token that expired (410) restarts that
listing once. Pages are fetched with `_preload_content=False` and decoded here into only the fields used
(kube_lists.py): a page is all that is held at once, never the client's model objects for 50,000 pods.

A cluster that cannot be reached or refuses becomes a SourceError (code: the HTTP status, or the kind of
failure) with a hint, and a ClusterScope with ok False; what was read before a failure is kept. Messages
are built here from the status and the failure's kind: never from the client's exception text, whose
headers and body can echo what was sent. TLS is always verified.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.util.retry import Retry

from ecrwatch import __version__
from ecrwatch.errors import AwsCallError
from ecrwatch.images import ImageReferenceError, parse_image_id, parse_image_reference
from ecrwatch.inventory.kube_lists import METADATA_ONLY, NODES, PODS, InvalidPage, ListDecoder, NotAList, Page
from ecrwatch.models import ClusterScope, ContainerType, ImageRef, Inventory, Owner, Platform, SourceError, Workload
from ecrwatch.owners import team_of

# The kubernetes package takes 0.3 s of CPU to import (its __init__ loads its config, watch, stream and other
# modules), its generated API classes a second more (hundreds of pydantic models: never imported, see
# _Reader._get): it is imported where a cluster is read, so commands and runs that read none never pay it.
if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration
    from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

PAGE_LIMIT = 500  # what kubectl asks for
RUNNING_PODS = "status.phase!=Succeeded,status.phase!=Failed"
_FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# (spec list, status list, container type) for each kind of container a pod has.
_CONTAINER_GROUPS: tuple[tuple[str, str, ContainerType], ...] = (
    ("containers", "containerStatuses", "app"),
    ("initContainers", "initContainerStatuses", "init"),
    ("ephemeralContainers", "ephemeralContainerStatuses", "ephemeral"),
)
# Controllers whose own controller is looked up in the lists read first: (kind, API group).
_RESOLVED_KINDS = frozenset({("ReplicaSet", "apps"), ("Job", "batch")})
# The label the kubelet sets on its node to the node's CPU architecture, as Go names it (amd64, arm64): the
# name an image index gives its platform images.
ARCH_LABEL = "kubernetes.io/arch"
NODES_FORBIDDEN_HINT = (
    "grant get/list on nodes (cluster-scoped) to ecrwatch's user or group: the ClusterRole `ecrwatch iam-policy "
    "--kubernetes` prints has it. Until then the pods' architectures are unknown and each is charged with every "
    "platform image of a multi-arch image"
)
# Connection attempts are retried, reads once (an idempotent GET on a stale pooled connection), TLS failures
# and statuses never here; the client's client-go mode honours Retry-After on 429 and 5xx, up to `total`.
_RETRIES = Retry(total=3, connect=2, read=1, status=0, redirect=0, other=0)


class ClusterUnavailable(Exception):
    """No request can be made to the cluster (e.g. no credential could be made): its error, not the run's."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ClusterInfo:
    """How a cluster is named in the report: `source` is eks:REGION/NAME or kube-context:NAME."""

    platform: Platform
    name: str
    source: str
    region: str | None = None
    account: str | None = None
    arn: str | None = None

    def scope(self, ok: bool) -> ClusterScope:
        return ClusterScope(platform=self.platform, name=self.name, arn=self.arn, region=self.region, ok=ok)


@dataclass(frozen=True)
class AccessHints:
    """What to tell the user for each way a cluster can refuse or be out of reach."""

    unauthorized: str
    forbidden: str
    unreachable: str
    tls: str


@dataclass(frozen=True)
class KubeTarget:
    """One cluster to read: its names, its API server (for messages), and how to make a client
    Configuration for it (which may mint a token or run an exec plugin, so it runs in the reading thread)."""

    info: ClusterInfo
    server: str
    connect: Callable[[], Configuration] = field(repr=False, compare=False)
    hints: AccessHints = field(repr=False, compare=False)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


# --- owners (pure) ------------------------------------------------------------------------------------

ControllerRef = tuple[str, str, str]  # kind, name, API group ("" for the core group)


def controller_ref(metadata: Mapping[str, Any]) -> ControllerRef | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in metadata.get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            kind, name = ref.get("kind"), ref.get("name")
            if isinstance(kind, str) and isinstance(name, str) and kind and name:
                api_version = ref.get("apiVersion")
                group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
                return kind, name, group
    return None


class OwnerIndex:
    """ReplicaSets' and Jobs' own controllers, from their list pages, to name a pod's top controller."""

    def __init__(self) -> None:
        self._parents: dict[tuple[str, str, str], Owner] = {}  # (kind, namespace, name) -> its controller
        self._owners: dict[tuple[str, str], Owner] = {}  # one Owner object per (kind, name), shared

    def owner(self, kind: str, name: str) -> Owner:
        key = (kind, name)
        found = self._owners.get(key)
        if found is None:
            found = self._owners[key] = Owner(sys.intern(kind), sys.intern(name))
        return found

    def add(self, kind: str, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            metadata = item.get("metadata") or {}
            namespace, name = metadata.get("namespace"), metadata.get("name")
            ref = controller_ref(metadata)
            if ref is not None and isinstance(namespace, str) and isinstance(name, str):
                self._parents[(kind, namespace, name)] = self.owner(ref[0], ref[1])

    def forget(self, kind: str) -> None:
        for key in [k for k in self._parents if k[0] == kind]:
            del self._parents[key]

    def top(self, namespace: str, ref: ControllerRef | None) -> Owner | None:
        """ReplicaSet -> its Deployment (or whatever controls it), Job -> its CronJob; any other controller
        as the reference names it; None for a bare pod."""
        if ref is None:
            return None
        kind, name, group = ref
        if (kind, group) in _RESOLVED_KINDS:
            parent = self._parents.get((kind, namespace, name))
            if parent is not None:
                return parent
        return self.owner(kind, name)


class NodeArchitectures:
    """Each node's CPU architecture, from the node list's pages: the architecture its pods run on."""

    def __init__(self) -> None:
        self._by_node: dict[str, str] = {}

    def add(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            metadata = item.get("metadata") or {}
            name, labels = metadata.get("name"), metadata.get("labels") or {}
            architecture = labels.get(ARCH_LABEL) if isinstance(labels, dict) else None
            if not isinstance(architecture, str) or not architecture:
                # A label removed or never set (a kubelet that does not manage it): what the kubelet reports.
                info = (item.get("status") or {}).get("nodeInfo") or {}
                architecture = info.get("architecture") if isinstance(info, dict) else None
            if isinstance(name, str) and isinstance(architecture, str) and architecture:
                self._by_node[name] = sys.intern(architecture)

    def forget(self) -> None:
        self._by_node.clear()

    def of(self, node: object) -> str | None:
        """The architecture of the node a pod names in `spec.nodeName`; None for an unscheduled pod, or a node
        the list did not have (or could not be read)."""
        return self._by_node.get(node) if isinstance(node, str) else None


class NamespaceLabels:
    """Each namespace's labels, from the namespace list's pages: where a pod's owner is named when the pod
    itself does not say (`--owner-label`)."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, Any]] = {}

    def add(self, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            metadata = item.get("metadata") or {}
            name, labels = metadata.get("name"), metadata.get("labels")
            if isinstance(name, str) and isinstance(labels, dict):
                self._by_name[name] = labels

    def forget(self) -> None:
        self._by_name.clear()

    def of(self, namespace: str) -> Mapping[str, Any] | None:
        return self._by_name.get(namespace)


# --- pods -> workloads (pure) -------------------------------------------------------------------------


class ImageCache:
    """Parsed references and imageIDs: replicas name the same images, so each string is parsed once and
    the workloads share one ImageRef and one string."""

    def __init__(self) -> None:
        self._refs: dict[str, tuple[str, ImageRef] | ImageReferenceError] = {}
        self._ids: dict[str, str | None] = {}

    def reference(self, text: str) -> tuple[str, ImageRef]:
        found = self._refs.get(text)
        if found is None:
            try:
                found = (sys.intern(text), parse_image_reference(text))
            except ImageReferenceError as exc:
                found = exc
            self._refs[text] = found
        if isinstance(found, ImageReferenceError):
            raise found
        return found

    def image_id_digest(self, text: str) -> str | None:
        if text not in self._ids:
            try:
                digest = parse_image_id(text)
            except ImageReferenceError:
                log.debug("imageID %r is not a form ecrwatch knows; using the spec's image", text)
                digest = None
            self._ids[text] = sys.intern(digest) if digest else None
        return self._ids[text]


def is_running(pod: Mapping[str, Any]) -> bool:
    """Pending or Running (or Unknown): anything not finished."""
    status = pod.get("status") or {}
    return status.get("phase") not in _FINISHED_PHASES


def pod_workloads(
    pod: Mapping[str, Any],
    cluster: ClusterInfo,
    owners: OwnerIndex,
    cache: ImageCache,
    nodes: NodeArchitectures | None = None,
    owner_labels: Sequence[str] = (),
    namespaces: NamespaceLabels | None = None,
) -> tuple[list[Workload], list[SourceError]]:
    """One Workload per container of every type, on the architecture of the pod's node where `nodes` knows
    it; a container whose image cannot be parsed is an error (it runs, but nothing can be said about it),
    never silently dropped."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    namespace = sys.intern(str(metadata.get("namespace") or ""))
    name = str(metadata.get("name") or "")
    owner = owners.top(namespace, controller_ref(metadata))
    architecture = nodes.of(spec.get("nodeName")) if nodes is not None else None
    team = None
    if owner_labels:  # the pod's own label, else its namespace's
        labels = metadata.get("labels") if isinstance(metadata.get("labels"), dict) else None
        team = team_of(owner_labels, labels, namespaces.of(namespace) if namespaces is not None else None)
    workloads: list[Workload] = []
    errors: list[SourceError] = []
    for spec_key, status_key, group_type in _CONTAINER_GROUPS:
        image_ids = {
            entry.get("name"): entry.get("imageID") or ""
            for entry in status.get(status_key) or ()
            if isinstance(entry, dict)
        }
        for container in spec.get(spec_key) or ():
            if not isinstance(container, dict):
                continue
            container_name = sys.intern(str(container.get("name") or ""))
            container_type: ContainerType = group_type
            if group_type == "init" and container.get("restartPolicy") == "Always":
                container_type = "sidecar"
            try:
                reference, image = cache.reference(str(container.get("image") or ""))
            except ImageReferenceError as exc:
                errors.append(
                    SourceError(
                        source=cluster.source,
                        message=f"pod {namespace}/{name} container {container_name!r}: {exc}",
                        code="InvalidImageReference",
                    )
                )
                continue
            image_id = image_ids.get(container_name, "")
            digest = cache.image_id_digest(image_id) if isinstance(image_id, str) and image_id else None
            workloads.append(
                Workload(
                    platform=cluster.platform,
                    cluster=cluster.name,
                    container=container_name,
                    image_reference=reference,
                    image=image,
                    running_digest=digest or image.digest,
                    account=cluster.account,
                    region=cluster.region,
                    container_type=container_type,
                    namespace=namespace,
                    pod=name,
                    owner=owner,
                    architecture=architecture,
                    team=team,
                )
            )
    return workloads, errors


# --- reading (API calls) ------------------------------------------------------------------------------


class _ListFailed(Exception):
    def __init__(self, error: SourceError, fatal: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.fatal = fatal  # the cluster cannot be read at all: stop asking it


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message}; hint: {hint}" if hint else message


def _status_detail(exc: ApiException) -> tuple[str, str | None]:
    """(reason, user) from the Status the API server answered: the reason word, and for a 403 the user the
    server says it saw. Nothing else of the body is used."""
    reason = str(exc.reason or "").strip() or "error"
    user = None
    try:
        body = json.loads(exc.body) if isinstance(exc.body, str | bytes) and exc.body else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("reason"), str) and re.fullmatch(r"[A-Za-z]{1,40}", body["reason"]):
            reason = body["reason"]
        message = body.get("message")
        match = re.search(r'User "([^"]{1,200})"', message) if isinstance(message, str) else None
        user = match.group(1) if match else None
    return reason, user


def _transport_code(exc: BaseException) -> str:
    """The kind of a transport failure, as `errors[].code`."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None else exc
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLSError"
    if isinstance(reason, urllib3.exceptions.ProxyError):
        return "ProxyError"
    # NewConnectionError is a ConnectTimeoutError to urllib3: ask for the narrower kinds first.
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "NameResolution"
    if isinstance(reason, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "ConnectionRefused" if "refused" in str(reason).lower() else "ConnectionFailed"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "ConnectTimeout"
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError):
        return "ReadTimeout"
    return "ConnectionError"


_TRANSPORT_WORDS = {
    "TLSError": "the TLS handshake failed (the server's certificate did not verify, or it refused ours)",
    "ProxyError": "the proxy refused the connection",
    "ConnectTimeout": "the connection timed out",
    "ReadTimeout": "the server stopped answering (read timeout)",
    "NameResolution": "its name did not resolve",
    "ConnectionRefused": "the connection was refused",
    "ConnectionFailed": "the connection failed",
    "ConnectionError": "the connection broke",
}


class _Reader:
    def __init__(
        self,
        client: ApiClient,
        target: KubeTarget,
        timeouts: Timeouts,
        place: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._client = client
        self._place = place
        self._target = target
        self._timeout = (timeouts.connect, timeouts.read)
        self.refused: dict[str, SourceError] = {}  # objects left out, one error each (see read_list)

    def read_list(
        self,
        path: str,
        what: str,
        decoder: ListDecoder,
        on_page: Callable[[list[dict[str, Any]]], None],
        on_restart: Callable[[], None],
        **params: str,
    ) -> None:
        """Every page of the list at `path` (query `params` as the API names them), decoded by `decoder`; an
        expired continue token (410) starts the list over, once. Objects not as the API describes them are
        left out and kept in `refused`."""
        token: str | None = None
        restarted = False
        pages = 0
        while True:
            try:
                items, token, refused = self._page(path, what, decoder, token, params)
            except _ListFailed as failure:
                if failure.error.code == "410" and token is not None and not restarted:
                    log.info("%s: the %s listing expired after %d page(s); listing again", self._source, what, pages)
                    restarted, token, pages = True, None, 0
                    on_restart()
                    continue
                raise
            pages += 1
            log.debug("%s: %s page %d, %d item(s)", self._source, what, pages, len(items))
            for line in refused:  # met again at the same place after a restart (410): told once
                message = f"the answer listing {what} holds an object not as the API sends it, left out: {line}"
                self.refused.setdefault(message, SourceError(self._source, message, "InvalidResponse"))
            on_page(items)
            if not token:
                return

    @property
    def _source(self) -> str:
        return self._target.info.source

    def _page(self, path: str, what: str, decoder: ListDecoder, token: str | None, params: Mapping[str, str]) -> Page:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException

        try:
            with self._place():  # a place among the run's requests in flight, until the answer is in
                query = {"limit": str(PAGE_LIMIT), **params, **({"continue": token} if token else {})}
                response = self._get(path, query, decoder.accept)
                try:
                    body = response.data
                finally:
                    response.release_conn()
            return decoder.page(body)
        except NotAList:  # before ValueError, which it is
            raise self._failure("InvalidResponse", f"the answer listing {what} is not a list", None, False) from None
        except InvalidPage as exc:  # so is this
            message = f"the answer listing {what} is not what the Kubernetes API sends: {exc}"
            raise self._failure("InvalidResponse", message, None, False) from None
        except ApiException as exc:
            raise self._http_failure(exc, what) if exc.status else self._transport_failure(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._transport_failure(exc, what) from None
        except ValueError:
            raise self._failure("InvalidResponse", f"the answer listing {what} is not JSON", None, False) from None
        except AwsCallError as exc:  # the EKS token could not be made (CredentialsError is not caught: exit 2)
            raise self._failure(exc.code or "TokenError", exc.message, exc.hint, True) from None
        except ConfigException:  # a kubeconfig credential could not be renewed
            message = f"the credentials for {self._target.server} could not be renewed listing {what}"
            raise self._failure("KubeconfigError", message, self._target.hints.unauthorized, True) from None

    def _get(self, path: str, query: Mapping[str, str], accept: str) -> Any:
        """The undecoded answer (a urllib3 response) to a GET of `path`, as the client's generated list methods
        make it with `_preload_content=False`: its authentication (a token refreshed if due), headers, retries
        and timeouts, a non-2xx status raised as an ApiException. The generated API classes are not used:
        importing CoreV1Api, AppsV1Api and BatchV1Api builds hundreds of pydantic models, 0.8-1 s of CPU
        per process, for lists whose JSON is decoded here anyway."""
        from kubernetes.client.exceptions import ApiException

        client = self._client
        method, url, headers, body, post_params = client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=list(query.items()),
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        answer = client.call_api(method, url, headers, body, post_params, _request_timeout=self._timeout)
        if not 200 <= answer.status <= 299:
            answer.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=answer, body=None, data=None)
        return answer.response

    def _failure(self, code: str, message: str, hint: str | None, fatal: bool) -> _ListFailed:
        return _ListFailed(SourceError(self._source, _with_hint(message, hint), code), fatal)

    def _http_failure(self, exc: ApiException, what: str) -> _ListFailed:
        status = int(exc.status)
        reason, user = _status_detail(exc)
        server, hints = self._target.server, self._target.hints
        if status == 401:
            message = f"{server} refused ecrwatch's credentials listing {what} (401 {reason})"
            return self._failure("401", message, hints.unauthorized, True)
        if status == 403:
            who = f" as {user}" if user else ""
            if what == "nodes":  # cluster-scoped, and asked for another reason than the rest
                message = f"{server} does not allow listing nodes{who} (403 {reason})"
                return self._failure("403", message, NODES_FORBIDDEN_HINT, False)
            message = f"{server} does not allow listing {what} in all namespaces{who} (403 {reason})"
            return self._failure("403", message, hints.forbidden, False)
        if status == 410:
            message = f"the listing of {what} expired before it could finish, twice (410 {reason})"
            return self._failure("410", message, "run again; the cluster compacts its history quickly", False)
        return self._failure(str(status), f"{server} answered {status} {reason} listing {what}", None, False)

    def _transport_failure(self, exc: BaseException, what: str) -> _ListFailed:
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException):  # the client turns an SSLError it sees into a status-0 ApiException
            code = "TLSError" if str(exc.reason or "").startswith("SSLError") else "ConnectionError"
        else:
            code = _transport_code(exc)
        hints = self._target.hints
        hint = hints.tls if code == "TLSError" else hints.unreachable
        message = f"{self._target.server} could not be read listing {what}: {_TRANSPORT_WORDS[code]}"
        return self._failure(code, message, hint, True)


_CLIENT_IMPORT = threading.Lock()


def import_client() -> None:
    """Import what the cluster reads use of the kubernetes package, in the calling thread. Called before the
    clusters are read side by side: imported for the first time from several threads at once, the package's
    modules (which import each other, some lazily) deadlock on the import locks (`_DeadlockError`) or are
    seen half-initialised (ImportError: cannot import name 'ApiClient'). Across accounts each account's job
    calls this from its own thread: the lock makes the first import the only one, the others wait for it."""
    with _CLIENT_IMPORT:
        from kubernetes.client import ApiClient, Configuration  # noqa: F401
        from kubernetes.client.exceptions import ApiException  # noqa: F401
        from kubernetes.config.config_exception import ConfigException  # noqa: F401


def harden(config: Configuration) -> Configuration:
    """Bounded retries and client-go's Retry-After handling; a configuration that skips TLS verification
    is refused (kubeconfig checks already refuse one; this is the last line)."""
    if not config.verify_ssl:
        raise ClusterUnavailable(
            "TLSVerificationOff", "TLS verification is off for this cluster", "ecrwatch verifies TLS"
        )
    config.retries = _RETRIES
    config.client_go_retries = True
    return config


def read_cluster(
    target: KubeTarget,
    *,
    timeouts: Timeouts | None = None,
    place: Callable[[], AbstractContextManager[None]] = nullcontext,
    owner_labels: Sequence[str] = (),
) -> Inventory:
    """Every running container of one cluster, with owners resolved (and teams, from the pods' or their
    namespaces' `owner_labels`); its failures as errors."""
    info = target.info
    try:
        config = harden(target.connect())
    except ClusterUnavailable as exc:
        return Inventory(
            clusters=(info.scope(False),),
            errors=(SourceError(info.source, _with_hint(exc.message, exc.hint), exc.code),),
        )
    except AwsCallError as exc:
        message = _with_hint(exc.message, exc.hint)
        return Inventory(clusters=(info.scope(False),), errors=(SourceError(info.source, message, exc.code),))
    from kubernetes.client import ApiClient

    client = ApiClient(config)
    client.user_agent = f"ecrwatch/{__version__}"
    reader = _Reader(client, target, timeouts or Timeouts(), place)
    workloads: list[Workload] = []
    errors: list[SourceError] = []
    failures: list[SourceError] = []
    owners = OwnerIndex()
    nodes = NodeArchitectures()
    namespaces = NamespaceLabels()
    cache = ImageCache()

    def add_pods(items: list[dict[str, Any]]) -> None:
        for pod in items:
            if is_running(pod):
                found, bad = pod_workloads(pod, info, owners, cache, nodes, owner_labels, namespaces)
                workloads.extend(found)
                errors.extend(bad)

    def restart_pods() -> None:
        workloads.clear()
        errors.clear()

    def read_supporting(
        path: str, what: str, decoder: ListDecoder, add: Any, forget: Any, lost: str | None = None
    ) -> None:
        """A list the pods are read without: its failure is an error of the cluster, and `lost` says on stderr
        what the report lacks for it; only a cluster that cannot be read at all stops here."""
        try:
            reader.read_list(path, what, decoder, add, forget)
        except _ListFailed as failure:
            if lost:
                log.warning("%s: %s could not be listed; %s", info.source, what, lost)
            failures.append(failure.error)
            if failure.fatal:
                raise

    log.info("%s: reading %s", info.source, target.server)
    try:
        # Without these lists pods are still read; their owners stop at the ReplicaSet or Job.
        read_supporting(
            "/apis/apps/v1/replicasets",
            "replicasets",
            METADATA_ONLY,
            partial(owners.add, "ReplicaSet"),
            partial(owners.forget, "ReplicaSet"),
        )
        read_supporting(
            "/apis/batch/v1/jobs", "jobs", METADATA_ONLY, partial(owners.add, "Job"), partial(owners.forget, "Job")
        )
        # Without nodes pods are still read, on an unknown architecture: every platform image of an index
        # applies to them. An error all the same: the ClusterRole ecrwatch prints grants nodes, and a
        # permission that is missing must be seen, not only make the report say more than is true.
        read_supporting("/api/v1/nodes", "nodes", NODES, nodes.add, nodes.forget, "the pods' architectures are unknown")
        if owner_labels:  # one namespace list per cluster, only when a team is asked for
            # Pods are still read, their teams from their own labels only: an error all the same, since a
            # team left unknown moves exposures out of every `--team` report.
            read_supporting(
                "/api/v1/namespaces",
                "namespaces",
                METADATA_ONLY,
                namespaces.add,
                namespaces.forget,
                "teams come from pod labels only",
            )
        reader.read_list("/api/v1/pods", "pods", PODS, add_pods, restart_pods, fieldSelector=RUNNING_PODS)
    except _ListFailed as failure:
        if failure.error not in failures:
            failures.append(failure.error)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    failures += reader.refused.values()  # an object left out: the cluster was not read whole
    ok = not failures
    log.info("%s: %d running container(s)%s", info.source, len(workloads), "" if ok else " (incomplete)")
    return Inventory(tuple(workloads), (info.scope(ok),), tuple(failures) + tuple(errors))
