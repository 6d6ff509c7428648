"""A small, faithful Kubernetes API server over HTTPS, for `ecrwatch demo`, the tests and the benchmarks.

`SimKube` listens on 127.0.0.1 (ephemeral port) with a certificate from its own CA and serves real Kubernetes
JSON that the official `kubernetes` client and `kubectl` read as they would a real cluster's:

- `/version`, discovery (`/api`, `/apis`, `/api/v1`, `/apis/{apps,batch}/v1`);
- lists, cluster-wide and namespaced, and GETs of single objects, for pods, namespaces, nodes, replicasets,
  deployments, daemonsets, statefulsets, jobs and cronjobs, with `limit` / `continue`
  (`metadata.continue`, `metadata.resourceVersion`, `remainingItemCount`), `fieldSelector` and
  `labelSelector` (a selector the API server would refuse gets 400, never silence), 410 Expired for a
  continue token older than the last compaction;
- authentication by bearer token (static tokens, and for an EKS cluster `k8s-aws-v1.` tokens whose presigned
  STS URL signs `x-k8s-aws-id: <cluster name>`) or by a TLS client certificate from the CA; 401/403 as
  `Status` objects.

Tests seed it (`add_pod`, `add_node`, `run_deployment`, ...), switch behaviour (`forbid`, `denied`, `latency`,
`fail`, `stall`, `expire_next_continues`, `clock`) and read its request log (`requests`, `request_count`,
`limits`), which records how each caller authenticated but never a credential, and the Accept header each
asked with: resource requests are answered as content negotiation picks (kube_negotiation.py), the object
itself or, for `as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`, its metadata alone; `partial_metadata =
False` makes it a server that ignores `as=` and always answers the object itself.

    with SimKube() as kube:
        kube.run_deployment("shop", "web", [KubeContainerSeed("app", IMAGE, image_id=f"{REPO}@{DIGEST}")])
        config = kubernetes.client.Configuration(host=kube.url, api_key={"authorization": kube.token},
                                                 api_key_prefix={"authorization": "Bearer"})
        config.ssl_ca_cert = kube.write_ca(tmp_path)
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import json
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ecrwatch.sim.certs import CertificateAuthority, IssuedCert
from ecrwatch.sim.connections import CountingHTTPServer
from ecrwatch.sim.kube_auth import TOKEN_PREFIX, TokenRejected, verify_eks_token
from ecrwatch.sim.kube_negotiation import Representation, conversion_error, negotiate
from ecrwatch.sim.kube_nodes import build_node
from ecrwatch.sim.kube_objects import (
    DEFAULT_NODE,
    JsonDict,
    KubeContainerSeed,
    Owner,
    PodPhase,
    build_namespace,
    build_pod,
    build_workload,
    name_suffix,
    object_uid,
)
from ecrwatch.sim.kube_store import (
    RESOURCE_TYPES,
    ApiError,
    KubeStore,
    ListPage,
    ResourceType,
    resource_type,
    status_body,
)

__all__ = [
    "DEFAULT_NODE",
    "DEFAULT_TOKEN",
    "KubeContainerSeed",
    "KubeRequest",
    "KubeconfigEntry",
    "SimKube",
    "exec_plugin_user",
    "write_kubeconfig",
]

DEFAULT_TOKEN = "sim-kube-admin-token"  # a test credential of the simulator, accepted by default
_PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz"})
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_GROUPS = {"apps": "v1", "batch": "v1"}
_CLUSTER_PATH = re.compile(r"^/api/v1/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?/?$")
_NAMESPACED_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?/?$")
_GROUP_CLUSTER_PATH = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?/?$"
)
_GROUP_NAMESPACED_PATH = re.compile(
    r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?/?$"
)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class KubeRequest:
    """One request the server answered. Credentials are never recorded: only how the caller authenticated.

    `auth` is "none", "token" (a static bearer token), "eks" (a `k8s-aws-v1.` token), "client-cert" or
    "other" (an Authorization header that is not a bearer token). `auth_error` says why a credential was
    refused ("expired", "bad-signature", "unknown-token", ...). `token_date` is an EKS token's X-Amz-Date,
    so a test can see that a client renewed its token.
    """

    method: str
    path: str
    query: Mapping[str, str]
    auth: str
    user: str | None
    status: int
    auth_error: str | None = None
    token_date: str | None = None
    stalled: bool = False
    accept: str | None = None  # the Accept header asked (None: none sent)
    content_type: str | None = None  # of the answer
    size: int = 0  # bytes of the answer's body (all of them, even when the answer stalled part way)


@dataclass
class _Fault:
    pattern: str
    status: int | None  # None: stall instead of failing
    times: int | None
    message: str | None = None
    stall_after_items: int = 0
    applied: int = 0

    def matches(self, path: str) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        return fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class _Auth:
    kind: str
    user: str | None
    error: str | None = None
    token_date: str | None = None


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    item_ends: list[int] | None = None  # byte offsets where each list item ends, for stalls

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> _Response:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def error(cls, error: ApiError) -> _Response:
        response = cls.json(error.status(), error.code)
        if error.code == 429:
            response.headers["Retry-After"] = "1"
        return response


@dataclass(frozen=True)
class KubeconfigEntry:
    """One context of a kubeconfig file: a cluster (server, CA) and a user stanza."""

    context: str
    server: str
    ca_pem: bytes | None
    user: JsonDict
    namespace: str | None = None
    tls_server_name: str | None = None


def write_kubeconfig(path: str | Path, entries: Sequence[KubeconfigEntry], current_context: str | None = None) -> Path:
    """Write a kubeconfig with these contexts (each with its own cluster and user). Returns the path.

    The file is JSON, which is valid YAML and what every kubeconfig loader reads.
    """
    clusters, users, contexts = [], [], []
    for entry in entries:
        cluster: JsonDict = {"server": entry.server}
        if entry.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(entry.ca_pem).decode()
        if entry.tls_server_name is not None:
            cluster["tls-server-name"] = entry.tls_server_name
        clusters.append({"name": f"{entry.context}-cluster", "cluster": cluster})
        users.append({"name": f"{entry.context}-user", "user": entry.user})
        context: JsonDict = {"cluster": f"{entry.context}-cluster", "user": f"{entry.context}-user"}
        if entry.namespace is not None:
            context["namespace"] = entry.namespace
        contexts.append({"name": entry.context, "context": context})
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": current_context or (entries[0].context if entries else ""),
    }
    target = Path(path)
    target.write_text(json.dumps(document, indent=2) + "\n")
    target.chmod(0o600)
    return target


def exec_plugin_user(token: str, *, expiration: datetime.datetime | None = None) -> JsonDict:
    """A kubeconfig user whose exec plugin (this Python, no other program) prints an ExecCredential."""
    status: JsonDict = {"token": token}
    if expiration is not None:
        status["expirationTimestamp"] = expiration.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": status}
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
            "interactiveMode": "Never",
            "provideClusterInfo": False,
        }
    }


class _Server(CountingHTTPServer):
    allow_reuse_address = False

    def __init__(self, sim: SimKube, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sim = sim
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread, so a slow or refusing client never blocks accept().
        request.settimeout(10)
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs add 40 ms to each.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.sim._note_tls_failure()
            return
        self.connection_opened(tls)
        try:
            _Handler(tls, client_address, self)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass  # the client went away: nothing to answer
        finally:
            self.connection_closed(tls)
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect
    timeout = 30
    server: _Server

    def do_GET(self) -> None:
        self._skip_body()
        self.server.sim._handle(self)

    def _skip_body(self) -> None:
        """Read past a request's body (nothing here uses one), so that the connection's next request is
        read from its start; one whose end cannot be found cheaply (chunked) ends the connection instead."""
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or not length.isdigit():
            self.close_connection = True
        elif int(length):
            self.rfile.read(int(length))

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the demo and the tests; `SimKube.requests` has them


class SimKube:
    """The simulated Kubernetes API server. Use as a context manager or `start()` / `stop()`.

    `tokens`: static bearer tokens accepted (default: `DEFAULT_TOKEN`, also at `.token`).
    `eks_cluster_name`: makes this an EKS cluster that accepts `k8s-aws-v1.` tokens signed for that name by
    an access key in `aws_secret_keys` (access key id -> secret key), presigned for AWS's STS endpoints
    (https) or one of the `sts_endpoints` origins (the simulated AWS endpoint it trusts, e.g. its http URL);
    `eks_username` is who such a caller is (EKS maps the IAM principal to a user name through its access entry).
    `ca`: the CA to serve under (default: a new one). `clock`: the server's idea of now (EKS token expiry).
    `client_cert_auth`: accept TLS client certificates issued by the CA (user = CN, groups = O).
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        eks_cluster_name: str | None = None,
        aws_secret_keys: Mapping[str, str] | None = None,
        sts_endpoints: Collection[str] = (),
        ca: CertificateAuthority | None = None,
        clock: Callable[[], datetime.datetime] = _utcnow,
        client_cert_auth: bool = True,
        git_version: str | None = None,
        eks_username: str = "arn:aws:iam::123456789012:user/ecrwatch",
    ) -> None:
        self.tokens: set[str] = set(tokens)
        self.eks_cluster_name = eks_cluster_name
        self.aws_secret_keys: dict[str, str] = dict(aws_secret_keys or {})
        self.sts_endpoints = tuple(sts_endpoints)
        self.eks_username = eks_username
        self.ca = ca or CertificateAuthority.create("ecrwatch-sim-kube-ca")
        self._server_cert = self.ca.issue_server()
        self.clock = clock
        self._initial_clock = clock
        self.client_cert_auth = client_cert_auth
        self.git_version = git_version or ("v1.31.4-eks-2d5f260" if eks_cluster_name else "v1.31.4")
        # Switches tests flip at any time.
        self.forbid = False  # 403 for every resource request of an authenticated caller
        # Resources (plural names: "nodes") the caller's RBAC does not grant: 403 for those alone.
        self.denied: set[str] = set()
        self.latency = 0.0  # seconds added to every request
        # False: an old API server that ignores the `as=` conversion of an Accept header (the object itself).
        self.partial_metadata = True
        self.store = KubeStore(lambda: self.clock())
        self._faults: list[_Fault] = []
        self._log: list[KubeRequest] = []
        self._lock = threading.Lock()
        self._tls_failures = 0
        self._release = threading.Event()
        self._server: _Server | None = None

    # --- lifecycle ---

    def start(self) -> SimKube:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="sim-kube-") as directory:
            # ssl loads a key only from a file: it lives there for the duration of this call.
            cert_file, key_file = Path(directory, "server.crt"), Path(directory, "server.key")
            cert_file.write_bytes(self._server_cert.cert_pem)
            key_file.write_bytes(self._server_cert.key_pem)
            context.load_cert_chain(cert_file, key_file)
        if self.client_cert_auth:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=self.ca.cert_pem.decode())
        self._release.clear()
        self._server = _Server(self, context)
        self._server.serve_in_thread("sim-kube", poll_interval=0.05)
        return self

    def stop(self) -> None:
        self._release.set()  # let stalled responses end
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> SimKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every object, fault, switch and logged request (the CA, tokens and port stay)."""
        self.store.clear()
        self.clear_faults()
        self.clear_requests()
        self.forbid = False
        self.denied.clear()
        self.latency = 0.0
        self.partial_metadata = True
        self.clock = self._initial_clock

    @property
    def url(self) -> str:
        """`https://127.0.0.1:PORT`, the API server's address."""
        assert self._server is not None, "start() the simulated API server first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start(): a client that keeps its connection adds one."""
        assert self._server is not None, "start() the simulated API server first"
        return self._server.connections_accepted

    @property
    def token(self) -> str:
        """A static token this server accepts (the first one given)."""
        return next(iter(sorted(self.tokens))) if self.tokens else ""

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    @property
    def ca_data(self) -> str:
        """The CA as base64 of its PEM: kubeconfig's certificate-authority-data, EKS's certificateAuthority.data."""
        return base64.b64encode(self.ca.cert_pem).decode()

    def write_ca(self, directory: str | Path, name: str = "sim-kube-ca.crt") -> str:
        """Write the CA's PEM into `directory`; returns the path (for `Configuration.ssl_ca_cert`)."""
        path = Path(directory, name)
        path.write_bytes(self.ca.cert_pem)
        return str(path)

    def issue_client_cert(self, user: str, groups: Sequence[str] = ()) -> IssuedCert:
        """A client certificate this server accepts for `user` (in `groups`)."""
        return self.ca.issue_client(user, groups)

    # --- kubeconfig ---

    def kubeconfig_entry(
        self,
        context: str = "sim",
        *,
        token: str | None = None,
        client_cert: IssuedCert | None = None,
        user: JsonDict | None = None,
        ca_pem: bytes | None = None,
        namespace: str | None = None,
    ) -> KubeconfigEntry:
        """A context for this server. Authenticate with `token` (default: `.token`), a `client_cert`, or a
        ready user stanza (`exec_plugin_user(...)`). `ca_pem` replaces the server's CA (for TLS-mismatch tests).
        """
        if user is None:
            if client_cert is not None:
                user = {
                    "client-certificate-data": base64.b64encode(client_cert.cert_pem).decode(),
                    "client-key-data": base64.b64encode(client_cert.key_pem).decode(),
                }
            else:
                user = {"token": token if token is not None else self.token}
        return KubeconfigEntry(context, self.url, ca_pem or self.ca.cert_pem, user, namespace)

    def kubeconfig(self, path: str | Path, context: str = "sim", **options: Any) -> Path:
        """Write a kubeconfig with one context for this server (options as `kubeconfig_entry`)."""
        return write_kubeconfig(path, [self.kubeconfig_entry(context, **options)], context)

    # --- seeding ---

    def add_object(self, obj: Mapping[str, Any]) -> JsonDict:
        """Store a raw object (with `kind`, and metadata.name/namespace); returns it as stored."""
        return self.store.put(resource_type(str(obj["kind"])), obj)

    def get(self, kind: str, namespace: str | None, name: str) -> JsonDict | None:
        """An object as `GET` returns it (with kind and apiVersion), or None."""
        rtype = resource_type(kind)
        data = self.store.get_bytes(rtype, namespace, name)
        if data is None:
            return None
        return {"kind": rtype.kind, "apiVersion": rtype.api_version, **json.loads(data)}

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        return self.store.delete(resource_type(kind), namespace, name)

    def count(self, kind: str, namespace: str | None = None) -> int:
        """How many objects of this kind the cluster holds (in one namespace, or all)."""
        return self.store.count(resource_type(kind), namespace)

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        containers: Sequence[KubeContainerSeed],
        init_containers: Sequence[KubeContainerSeed] = (),
        ephemeral_containers: Sequence[KubeContainerSeed] = (),
        phase: PodPhase = "Running",
        owner: Owner | None = None,
        node_name: str | None = DEFAULT_NODE,
        labels: Mapping[str, str] | None = None,
        created: datetime.datetime | None = None,
        restart_policy: str = "Always",
    ) -> JsonDict:
        """Add a pod whose status matches its containers (see `build_pod`). `owner` is (kind, name) of its
        controller, e.g. ("ReplicaSet", "web-7d9f"); `node_name=None` leaves it unscheduled (Pending);
        `restart_policy` is its spec's (a Job's pods carry their template's: Never or OnFailure)."""
        pod = build_pod(
            namespace,
            name,
            containers=containers,
            init_containers=init_containers,
            ephemeral_containers=ephemeral_containers,
            phase=phase,
            owner=owner,
            node_name=node_name,
            labels=labels,
            created=created or self._created(),
            restart_policy=restart_policy,
        )
        return self.store.put(resource_type("Pod"), pod)

    def add_namespace(
        self, name: str, *, labels: Mapping[str, str] | None = None, created: datetime.datetime | None = None
    ) -> JsonDict:
        """A namespace with `labels` beside the kubernetes.io/metadata.name label the API server always sets
        (a namespace a pod names is otherwise created without labels of its own)."""
        namespace = build_namespace(name, created or self._created())
        namespace["metadata"]["labels"] = {**(labels or {}), **namespace["metadata"]["labels"]}
        return self.store.put(resource_type("Namespace"), namespace)

    def add_node(
        self,
        name: str,
        *,
        architecture: str = "amd64",
        operating_system: str = "linux",
        labels: Mapping[str, str] | None = None,
        created: datetime.datetime | None = None,
    ) -> JsonDict:
        """Register a Ready node labelled `kubernetes.io/arch=ARCHITECTURE` (as its kubelet would); pods name
        it in `node_name`."""
        node = build_node(
            name,
            architecture=architecture,
            operating_system=operating_system,
            labels=labels,
            created=created or self._created(),
            kubelet_version=self.git_version,
        )
        return self.store.put(resource_type("Node"), node)

    def _add_workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        containers: Sequence[KubeContainerSeed],
        owner: Owner | None,
        **options: Any,
    ) -> JsonDict:
        if not containers:
            containers = [KubeContainerSeed("main", "public.ecr.aws/docker/library/nginx:1.27")]
        obj = build_workload(
            kind, namespace, name, containers=containers, owner=owner, created=self._created(), **options
        )
        return self.store.put(resource_type(kind), obj)

    def add_replicaset(
        self,
        namespace: str,
        name: str,
        *,
        owner: Owner | None = None,
        containers: Sequence[KubeContainerSeed] = (),
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
    ) -> JsonDict:
        """Add a ReplicaSet, e.g. owned by ("Deployment", "web"). `containers` fill its pod template."""
        return self._add_workload("ReplicaSet", namespace, name, containers, owner, replicas=replicas, labels=labels)

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        containers: Sequence[KubeContainerSeed] = (),
        replicas: int = 1,
        labels: Mapping[str, str] | None = None,
    ) -> JsonDict:
        return self._add_workload("Deployment", namespace, name, containers, None, replicas=replicas, labels=labels)

    def add_daemonset(
        self, namespace: str, name: str, *, containers: Sequence[KubeContainerSeed] = (), replicas: int = 1
    ) -> JsonDict:
        return self._add_workload("DaemonSet", namespace, name, containers, None, replicas=replicas)

    def add_statefulset(
        self, namespace: str, name: str, *, containers: Sequence[KubeContainerSeed] = (), replicas: int = 1
    ) -> JsonDict:
        return self._add_workload("StatefulSet", namespace, name, containers, None, replicas=replicas)

    def add_job(
        self,
        namespace: str,
        name: str,
        *,
        owner: Owner | None = None,
        containers: Sequence[KubeContainerSeed] = (),
        init_containers: Sequence[KubeContainerSeed] = (),
        restart_policy: str = "Never",
    ) -> JsonDict:
        """Add a Job, e.g. owned by ("CronJob", "nightly"); `restart_policy` is its pod template's."""
        return self._add_workload(
            "Job",
            namespace,
            name,
            containers,
            owner,
            init_containers=init_containers,
            job_restart_policy=restart_policy,
        )

    def add_cronjob(
        self,
        namespace: str,
        name: str,
        *,
        containers: Sequence[KubeContainerSeed] = (),
        init_containers: Sequence[KubeContainerSeed] = (),
        schedule: str = "0 3 * * *",
        restart_policy: str = "Never",
    ) -> JsonDict:
        return self._add_workload(
            "CronJob",
            namespace,
            name,
            containers,
            None,
            init_containers=init_containers,
            schedule=schedule,
            job_restart_policy=restart_policy,
        )

    # Whole workloads, owner chain included, named as their controllers name them.

    def run_deployment(
        self,
        namespace: str,
        name: str,
        containers: Sequence[KubeContainerSeed],
        *,
        replicas: int = 2,
        init_containers: Sequence[KubeContainerSeed] = (),
        phase: PodPhase = "Running",
        created: datetime.datetime | None = None,
        node_name: str = DEFAULT_NODE,
        pod_labels: Mapping[str, str] | None = None,
    ) -> list[str]:
        """A Deployment, its ReplicaSet `NAME-<hash>` and `replicas` pods `NAME-<hash>-<suffix>`, scheduled on
        `node_name`, the pods labelled as the template is (`app`, `pod-template-hash`, and `pod_labels`).
        Returns pod names."""
        template_hash = name_suffix(f"{namespace}/{name}", 10)
        labels = {**(pod_labels or {}), "app": name, "pod-template-hash": template_hash}
        self.add_deployment(namespace, name, containers=containers, replicas=replicas, labels={"app": name})
        replicaset = f"{name}-{template_hash}"
        self.add_replicaset(
            namespace, replicaset, owner=("Deployment", name), containers=containers, replicas=replicas, labels=labels
        )
        return self._run_pods(
            namespace,
            [f"{replicaset}-{name_suffix(f'{namespace}/{replicaset}/{i}')}" for i in range(replicas)],
            containers,
            init_containers,
            ("ReplicaSet", replicaset),
            labels,
            phase,
            created,
            node_name=node_name,
        )

    def run_daemonset(
        self,
        namespace: str,
        name: str,
        containers: Sequence[KubeContainerSeed],
        *,
        nodes: Sequence[str] = (DEFAULT_NODE,),
        init_containers: Sequence[KubeContainerSeed] = (),
    ) -> list[str]:
        """A DaemonSet and one pod per node, owned by the DaemonSet itself. Returns pod names."""
        self.add_daemonset(namespace, name, containers=containers, replicas=len(nodes))
        names = []
        for node in nodes:
            pod = f"{name}-{name_suffix(f'{namespace}/{name}/{node}')}"
            self.add_pod(
                namespace,
                pod,
                containers=containers,
                init_containers=init_containers,
                owner=("DaemonSet", name),
                node_name=node,
                labels={"app": name},
            )
            names.append(pod)
        return names

    def run_statefulset(
        self, namespace: str, name: str, containers: Sequence[KubeContainerSeed], *, replicas: int = 1
    ) -> list[str]:
        """A StatefulSet and its pods `NAME-0` ... Returns pod names."""
        self.add_statefulset(namespace, name, containers=containers, replicas=replicas)
        pods = [f"{name}-{i}" for i in range(replicas)]
        return self._run_pods(namespace, pods, containers, (), ("StatefulSet", name), {"app": name}, "Running")

    def run_cronjob(
        self,
        namespace: str,
        name: str,
        containers: Sequence[KubeContainerSeed],
        *,
        init_containers: Sequence[KubeContainerSeed] = (),
        phase: PodPhase = "Running",
        restart_policy: str = "Never",
    ) -> list[str]:
        """A CronJob, a Job `NAME-<scheduled minute>` it started and that Job's pod. Returns the pod name.
        `restart_policy` (Never or OnFailure) is the job template's, and so the pod's."""
        self.add_cronjob(
            namespace, name, containers=containers, init_containers=init_containers, restart_policy=restart_policy
        )
        job = f"{name}-{int(self.clock().timestamp()) // 60}"
        self.add_job(
            namespace,
            job,
            owner=("CronJob", name),
            containers=containers,
            init_containers=init_containers,
            restart_policy=restart_policy,
        )
        uid = object_uid("Job", namespace, job)
        labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": job, "job-name": job}
        pod = f"{job}-{name_suffix(f'{namespace}/{job}')}"
        return self._run_pods(
            namespace, [pod], containers, init_containers, ("Job", job), labels, phase, restart_policy=restart_policy
        )

    def _run_pods(
        self,
        namespace: str,
        names: Sequence[str],
        containers: Sequence[KubeContainerSeed],
        init_containers: Sequence[KubeContainerSeed],
        owner: Owner,
        labels: Mapping[str, str],
        phase: PodPhase,
        created: datetime.datetime | None = None,
        restart_policy: str = "Always",
        node_name: str = DEFAULT_NODE,
    ) -> list[str]:
        created = created or self._created()
        for pod in names:
            self.add_pod(
                namespace,
                pod,
                containers=containers,
                init_containers=init_containers,
                owner=owner,
                labels=labels,
                phase=phase,
                created=created,
                restart_policy=restart_policy,
                node_name=node_name,
            )
        return list(names)

    def populate(
        self,
        pods: int,
        *,
        namespaces: int = 10,
        pods_per_deployment: int = 10,
        images: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Bulk-seed `pods` running pods in Deployments spread over `namespaces` namespaces (`ns-000`...).

        `images` are (image, imageID) pairs used in turn, one per Deployment; by default synthetic ECR
        images, each with its own digest.
        """
        deployments = -(-pods // pods_per_deployment)
        made, created = 0, self._created()
        for index in range(deployments):
            if images:
                image, image_id = images[index % len(images)]
            else:
                repo = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/team/svc-{index:05d}"
                digest = "sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, repo).hex * 2
                image, image_id = f"{repo}:v1", f"{repo}@{digest}"
            count = min(pods_per_deployment, pods - made)
            self.run_deployment(
                f"ns-{index % namespaces:03d}",
                f"svc-{index:05d}",
                [KubeContainerSeed("app", image, image_id=image_id)],
                replicas=count,
                created=created,
            )
            made += count

    def _created(self) -> datetime.datetime:
        return self.clock() - datetime.timedelta(hours=1)

    # --- switches and faults ---

    def fail(self, path: str, status: int, *, times: int | None = None, message: str | None = None) -> None:
        """Answer requests whose path matches `path` (an fnmatch pattern: `/api/v1/*`) with `status` and a
        Status body; `times` None means every time. Checked after authentication."""
        with self._lock:
            self._faults.append(_Fault(path, status, times, message))

    def stall(self, path: str = "*", *, after_items: int = 0, times: int | None = None) -> None:
        """Send the headers and the start of the body (a list's first `after_items` items; half of any other
        body), then stop sending until the server stops: for read-timeout tests."""
        with self._lock:
            self._faults.append(_Fault(path, None, times, stall_after_items=after_items))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def expire_continue_tokens(self) -> None:
        """Every continue token handed out so far answers 410 Expired from now on (as after a compaction)."""
        self.store.expire_continue_tokens()

    def expire_next_continues(self, times: int = 1) -> None:
        """The next `times` list requests carrying a continue token answer 410 Expired."""
        self.store.expire_next_continues(times)

    @property
    def tls_failures(self) -> int:
        """Connections whose TLS handshake failed (a client that refused the certificate, for one)."""
        with self._lock:
            return self._tls_failures

    def _note_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1

    # --- the request log ---

    @property
    def requests(self) -> list[KubeRequest]:
        with self._lock:
            return list(self._log)

    def request_count(self, path: str | None = None, *, status: int | None = None) -> int:
        """Requests to `path` (an fnmatch pattern; None: all), optionally only those answered with `status`."""
        return sum(
            1
            for r in self.requests
            if (path is None or fnmatch.fnmatchcase(r.path, path)) and (status is None or r.status == status)
        )

    def limits(self, path: str) -> list[int | None]:
        """The `limit` each request to `path` asked for, in order (None where it asked for none)."""
        return [
            int(r.query["limit"]) if r.query.get("limit", "").isdigit() else None
            for r in self.requests
            if fnmatch.fnmatchcase(r.path, path)
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
            self._tls_failures = 0

    # --- serving ---

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path or "/"
        query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        if self.latency:
            time.sleep(self.latency)
        auth = self._authenticate(handler)
        stall: _Fault | None = None
        if auth.error is not None or (auth.kind == "none" and path not in _PUBLIC_PATHS):
            response = _Response.json(status_body(401, "Unauthorized", "Unauthorized"), 401)
        elif handler.command != "GET":
            response = _Response.error(
                ApiError(405, "MethodNotAllowed", "the simulated API server only serves GET requests")
            )
        elif self._refused(path):
            response = _Response.error(self._forbidden(path, auth.user))
        else:
            fault = self._take_fault(path)
            if fault is not None and fault.status is not None:
                message = fault.message or f"injected by the simulator (HTTP {fault.status})"
                response = _Response.error(ApiError(fault.status, _REASONS.get(fault.status, "Unknown"), message))
            else:
                stall = fault
                try:
                    response = self._route(path, query, handler.headers.get("Accept"))
                except ApiError as error:
                    response = _Response.error(error)
        with self._lock:
            self._log.append(
                KubeRequest(
                    handler.command,
                    path,
                    query,
                    auth.kind,
                    auth.user,
                    response.status,
                    auth.error,
                    auth.token_date,
                    stall is not None,
                    handler.headers.get("Accept"),
                    response.headers.get("Content-Type", "application/json"),
                    len(response.body),
                )
            )
        self._send(handler, response, stall)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.applied += 1
                    return fault
        return None

    def _send(self, handler: _Handler, response: _Response, stall: _Fault | None) -> None:
        handler.send_response(response.status)
        if "Content-Type" not in response.headers:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Cache-Control", "no-cache, private")
        handler.send_header("Audit-Id", str(uuid.uuid4()))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if stall is None:
            handler.wfile.write(response.body)
            return
        if response.item_ends is not None:
            ends = response.item_ends
            cut = ends[min(stall.stall_after_items, len(ends) - 1)]
        else:
            cut = len(response.body) // 2
        handler.wfile.write(response.body[:cut])
        handler.wfile.flush()
        self._release.wait()
        handler.close_connection = True

    def _authenticate(self, handler: _Handler) -> _Auth:
        if self.client_cert_auth:
            peer = handler.connection.getpeercert()
            if peer:
                subject = {key: value for rdn in peer.get("subject", ()) for key, value in rdn}
                return _Auth("client-cert", str(subject.get("commonName", "")))
        header = handler.headers.get("Authorization")
        if header is None:
            return _Auth("none", None)
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return _Auth("other", None, "not-a-bearer-token")
        if credential.startswith(TOKEN_PREFIX):
            if self.eks_cluster_name is None:
                return _Auth("eks", None, "not-an-eks-cluster")
            try:
                info = verify_eks_token(
                    credential,
                    cluster_name=self.eks_cluster_name,
                    secret_keys=self.aws_secret_keys,
                    now=self.clock(),
                    sts_endpoints=self.sts_endpoints,
                )
            except TokenRejected as rejected:
                return _Auth("eks", None, rejected.reason, rejected.amz_date)
            return _Auth("eks", self.eks_username, token_date=info.amz_date)
        if credential in self.tokens:
            return _Auth("token", "sim-admin")
        return _Auth("token", None, "unknown-token")

    def _refused(self, path: str) -> bool:
        """Whether RBAC refuses the path: everything under `forbid`, the `denied` resources otherwise. Discovery
        stays open to every authenticated user (system:discovery), as on a real cluster."""
        if path in _PUBLIC_PATHS or self._discovery(path) is not None:
            return False
        if self.forbid:
            return True
        target = self._parse_resource_path(path)
        return target is not None and target[0].plural in self.denied

    def _forbidden(self, path: str, user: str | None) -> ApiError:
        target = self._parse_resource_path(path)
        who = user or "system:anonymous"
        if target is None:
            message = f'forbidden: User "{who}" cannot get path "{path}"'
            return ApiError(403, "Forbidden", message, details={})
        rtype, namespace, name = target
        verb = "get" if name else "list"
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{rtype.plural} is forbidden: User "{who}" cannot {verb} resource "{rtype.plural}" '
            f'in API group "{rtype.group}" {scope}'
        )
        details: JsonDict = {"kind": rtype.plural}
        if rtype.group:
            details["group"] = rtype.group
        if name:
            details["name"] = name
        return ApiError(403, "Forbidden", message, details=details)

    # --- routing ---

    def _parse_resource_path(self, path: str) -> tuple[ResourceType, str | None, str | None] | None:
        """(resource type, namespace, name) of a resource path, or None for any other path."""
        groups: dict[str, str | None]
        for pattern in (_NAMESPACED_PATH, _CLUSTER_PATH):
            match = pattern.match(path)
            if match:
                groups = {"group": "", "version": "v1", **match.groupdict()}
                break
        else:
            for pattern in (_GROUP_NAMESPACED_PATH, _GROUP_CLUSTER_PATH):
                match = pattern.match(path)
                if match:
                    groups = dict(match.groupdict())
                    break
            else:
                return None
        for rtype in RESOURCE_TYPES:
            if (rtype.plural, rtype.group, rtype.version) == (groups["plural"], groups["group"], groups["version"]):
                namespace = groups.get("ns")
                if namespace is not None and not rtype.namespaced:
                    return None
                return rtype, namespace, groups.get("name")
        return None

    def _route(self, path: str, query: Mapping[str, str], accept: str | None) -> _Response:
        if path in ("/version", "/version/"):
            return _Response.json(self._version())
        if path in ("/healthz", "/livez", "/readyz"):
            return _Response(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})
        discovery = self._discovery(path)
        if discovery is not None:
            return _Response.json(discovery)
        target = self._parse_resource_path(path)
        if target is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", details={})
        rtype, namespace, name = target
        # As the API server: the Accept header is negotiated first, its conversion applied after the read.
        representation = negotiate(accept, partial_metadata=self.partial_metadata)
        if name is not None:
            return self._get_one(rtype, namespace, name, representation)
        if rtype.namespaced is False and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", details={})
        return self._list(rtype, namespace, query, representation)

    def _get_one(
        self, rtype: ResourceType, namespace: str | None, name: str, representation: Representation
    ) -> _Response:
        if rtype.namespaced and namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", details={})
        data = self.store.get_bytes(rtype, namespace, name, metadata_only=representation.kind is not None)
        if data is None:
            details: JsonDict = {"name": name, "kind": rtype.plural}
            if rtype.group:
                details["group"] = rtype.group
            raise ApiError(404, "NotFound", f'{rtype.plural} "{name}" not found', details=details)
        wrong = conversion_error(representation, rtype, is_list=False)
        if wrong is not None:
            raise wrong
        if representation.kind is not None:
            partial = f'{{"kind":"PartialObjectMetadata","apiVersion":"{representation.api_version}","metadata":'
            return _Response(200, partial.encode() + data + b"}", {"Content-Type": representation.content_type})
        head = f'{{"kind":"{rtype.kind}","apiVersion":"{rtype.api_version}",'.encode()
        return _Response(200, head + data[1:])

    def _list(
        self, rtype: ResourceType, namespace: str | None, query: Mapping[str, str], representation: Representation
    ) -> _Response:
        if query.get("watch", "").lower() in ("true", "1"):
            raise ApiError(400, "BadRequest", "the simulated API server does not serve watches")
        limit: int | None = None
        if query.get("limit"):
            try:
                limit = int(query["limit"])
            except ValueError:
                raise ApiError(400, "BadRequest", f'limit: invalid value "{query["limit"]}"') from None
            limit = limit if limit > 0 else None
        continue_token = query.get("continue") or None
        if continue_token and query.get("resourceVersion"):
            raise ApiError(400, "BadRequest", "specifying resource version is not allowed when using continue")
        page = self.store.list_page(
            rtype,
            namespace,
            limit=limit,
            continue_token=continue_token,
            field_selector=query.get("fieldSelector", ""),
            label_selector=query.get("labelSelector", ""),
            metadata_only=representation.kind is not None,
        )
        wrong = conversion_error(representation, rtype, is_list=True)
        if wrong is not None:
            raise wrong
        return self._list_response(rtype, page, representation)

    @staticmethod
    def _list_response(rtype: ResourceType, page: ListPage, representation: Representation) -> _Response:
        metadata: JsonDict = {"resourceVersion": page.resource_version}
        if page.continue_token is not None:
            metadata["continue"] = page.continue_token
        if page.remaining_item_count is not None:
            metadata["remainingItemCount"] = page.remaining_item_count
        items = page.items
        if representation.kind is None:
            kind, api_version = rtype.list_kind, rtype.api_version
        else:  # each item the object's metadata alone, typed as the API server types it
            kind, api_version = representation.kind, representation.api_version
            item_head = f'{{"kind":"PartialObjectMetadata","apiVersion":"{api_version}","metadata":'.encode()
            items = [item_head + item + b"}" for item in items]
        head = json.dumps({"kind": kind, "apiVersion": api_version, "metadata": metadata}, separators=(",", ":"))
        prefix = (head[:-1] + ',"items":[').encode()
        ends, offset = [len(prefix)], len(prefix)
        for index, item in enumerate(items):
            offset += len(item) + (1 if index else 0)
            ends.append(offset)
        headers = {"Content-Type": representation.content_type}
        return _Response(200, prefix + b",".join(items) + b"]}", headers, item_ends=ends)

    def _version(self) -> JsonDict:
        match = re.match(r"v(\d+)\.(\d+)", self.git_version)
        major, minor = (match.group(1), match.group(2)) if match else ("1", "31")
        return {
            "major": major,
            "minor": minor + ("+" if "-eks-" in self.git_version else ""),
            "gitVersion": self.git_version,
            "gitCommit": "5c5fa2ab2d0e3ce1a6bc1ae7bd3dfa2f4e94cd36",
            "gitTreeState": "clean",
            "buildDate": "2024-12-10T18:41:31Z",
            "goVersion": "go1.22.9",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def _discovery(self, path: str) -> JsonDict | None:
        path = path.rstrip("/") or "/"
        if path == "/api":
            assert self._server is not None
            address = f"127.0.0.1:{self._server.server_address[1]}"
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
            }
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g) for g in _GROUPS]}
        for group in _GROUPS:
            if path == f"/apis/{group}":
                return {"kind": "APIGroup", "apiVersion": "v1", **self._group(group)}
        for group, version in (("", "v1"), *_GROUPS.items()):
            if path == (f"/apis/{group}/{version}" if group else f"/api/{version}"):
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [self._api_resource(r) for r in RESOURCE_TYPES if r.group == group],
                }
        return None

    @staticmethod
    def _group(name: str) -> JsonDict:
        version = {"groupVersion": f"{name}/{_GROUPS[name]}", "version": _GROUPS[name]}
        return {"name": name, "versions": [version], "preferredVersion": version}

    @staticmethod
    def _api_resource(rtype: ResourceType) -> JsonDict:
        resource: JsonDict = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": ["get", "list"],
        }
        if rtype.short_names:
            resource["shortNames"] = list(rtype.short_names)
        if rtype.kind != "Namespace":
            resource["categories"] = ["all"]
        return resource
