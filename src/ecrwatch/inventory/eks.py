"""EKS clusters of the selected regions, and kubeconfig contexts, read as Kubernetes clusters.

EKS discovery per region: ListClusters (paged, 100 a page) or the clusters named, then DescribeCluster for
each (endpoint, certificate authority, status). A `--eks-cluster` NAME is looked for in every selected
region and is an error only where no region has it (source: the first region); an ARN is read in its own
region, selected or not. Each ACTIVE or UPDATING cluster is read with kube.py, authenticated by an EKS token
made from the AWS credentials (eks_token.py) and verified against the cluster's own CA, held in memory:
nothing is written, no kubeconfig needed.

Kubeconfig contexts (kubeconfig.py) are read beside them; a context whose API server is an EKS cluster
discovered in this run is that cluster, read once, as `eks`. Discovery, describes and cluster reads share
one bounded thread pool; a CredentialsError stops the run (exit 2), any other failure stays with its
cluster or region.
"""

from __future__ import annotations

import base64
import binascii
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ecrwatch.aws import Aws, calling_in
from ecrwatch.eks_token import EksTokenSource
from ecrwatch.errors import AwsCallError, UsageError
from ecrwatch.inventory.kube import AccessHints, ClusterInfo, KubeTarget, Timeouts, import_client, read_cluster
from ecrwatch.inventory.selection import EKS_CLUSTER, ClusterSelector, RegionPlan, parse_selector, plan_regions
from ecrwatch.models import ClusterScope, Inventory, SourceError, Workload

if TYPE_CHECKING:
    from kubernetes.client import Configuration
    from mypy_boto3_eks.type_defs import ClusterTypeDef

    from ecrwatch.inventory.kubeconfig import KubeconfigPlan, KubeContext

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
LIST_PAGE = 100  # ListClusters maxResults ceiling
READABLE_STATUSES = frozenset({"ACTIVE", "UPDATING"})  # the others have no API server to ask, or not for long
_NOT_FOUND = "ResourceNotFoundException"
_NOT_ACTIVE = "ClusterNotActive"


EKS_ACCESS = (
    "get/list on pods, replicasets (apps) and jobs (batch) in all namespaces: associate the AmazonEKSViewPolicy "
    "access policy (cluster scope) with an access entry for ecrwatch's IAM principal, or map it in the aws-auth "
    "ConfigMap to a group bound to such a ClusterRole"
)


def parse_eks_selector(text: str) -> ClusterSelector:
    """An `--eks-cluster` value: a cluster name or ARN; anything else is a UsageError (exit 2)."""
    return parse_selector(text, EKS_CLUSTER)


def endpoint_key(url: str) -> tuple[str, str, int, str]:
    """An API server address compared as a client connects to it: scheme, host (any case), port, path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")


@dataclass(frozen=True)
class KubernetesPlan:
    """What the Kubernetes sources of a check read, checked before any call."""

    regions: tuple[str, ...]
    eks: bool
    selectors: tuple[ClusterSelector, ...] = ()
    kubeconfig: KubeconfigPlan | None = None


def plan_kubernetes(
    regions: Sequence[str],
    *,
    eks: bool,
    eks_clusters: Sequence[str] = (),
    kubeconfig: str | None = None,
    kube_contexts: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> KubernetesPlan | None:
    """The plan, or None when there is nothing to read. Raises UsageError for a bad selector, an unreadable
    kubeconfig or a context that does not exist."""
    if eks_clusters and not eks:
        raise UsageError("--eks-cluster cannot be combined with --no-eks", "drop one of them")
    selectors = tuple(parse_eks_selector(text) for text in dict.fromkeys(eks_clusters))
    contexts = None
    if kubeconfig is not None or kube_contexts:
        from ecrwatch.inventory.kubeconfig import load_kubeconfig  # the kubernetes client's loader (see kube.py)

        contexts = load_kubeconfig(kubeconfig, kube_contexts, environ=environ)
    if not eks and contexts is None:
        return None
    return KubernetesPlan(tuple(regions), eks, selectors, contexts)


# --- EKS discovery (API calls) ------------------------------------------------------------------------


@dataclass(frozen=True)
class EksCluster:
    region: str
    name: str
    arn: str
    endpoint: str
    ca_pem: str = field(repr=False)
    account: str | None = None
    public_endpoint: bool | None = None

    @property
    def source(self) -> str:
        return f"eks:{self.region}/{self.name}"


@dataclass
class _Described:
    region: str
    name: str
    selector: ClusterSelector | None  # None: found by listing the region
    cluster: ClusterTypeDef | None = None
    error: AwsCallError | None = None

    @property
    def not_found(self) -> bool:
        if self.error is not None:
            return self.error.code == _NOT_FOUND
        # An ARN names one account's cluster: the same name in our account is not it.
        return self.cluster is None or (
            self.selector is not None and self.selector.is_arn and self.cluster.get("arn") != self.selector.text
        )


@dataclass
class Discovery:
    clusters: list[EksCluster] = field(default_factory=list)
    scopes: list[ClusterScope] = field(default_factory=list)  # in scope, but could not be described or read
    errors: list[SourceError] = field(default_factory=list)


def _list_names(aws: Aws, region: str) -> tuple[list[str], SourceError | None]:
    names: list[str] = []
    try:
        with calling_in(aws, "eks", "ListClusters", region):
            for page in (
                aws.eks(region).get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": LIST_PAGE})
            ):
                names.extend(page.get("clusters", []))
    except AwsCallError as exc:
        # The clusters listed before the failure are still read.
        return names, SourceError(f"eks:{region}", _hinted(exc), exc.code)
    return names, None


def _describe(aws: Aws, region: str, name: str, selector: ClusterSelector | None) -> _Described:
    described = _Described(region, name, selector)
    try:
        with calling_in(aws, "eks", "DescribeCluster", region):
            described.cluster = aws.eks(region).describe_cluster(name=name)["cluster"]
    except AwsCallError as exc:
        described.error = exc
    return described


def _hinted(exc: AwsCallError) -> str:
    return f"{exc.message}; hint: {exc.hint}" if exc.hint else exc.message


def _to_cluster(described: _Described) -> EksCluster | SourceError:
    """The cluster to read, or why it cannot be read."""
    cluster = described.cluster
    assert cluster is not None
    source = f"eks:{described.region}/{described.name}"
    arn = cluster.get("arn", "")
    endpoint = cluster.get("endpoint")
    ca_data = cluster.get("certificateAuthority", {}).get("data")
    status = cluster.get("status", "")
    if status not in READABLE_STATUSES:
        message = f"EKS cluster {described.name} in {described.region} is {status}: it has no API server to read"
        return SourceError(source, message, _NOT_ACTIVE)
    if not endpoint or not endpoint.lower().startswith("https://"):
        return SourceError(source, f"EKS cluster {described.name} has no https API endpoint", "NoEndpoint")
    try:
        ca_pem = base64.b64decode(ca_data or "", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        ca_pem = ""
    if "BEGIN CERTIFICATE" not in ca_pem:
        # Without the CA the API server cannot be verified, and ecrwatch never reads an unverified one.
        return SourceError(source, f"EKS cluster {described.name} reports no certificate authority", "NoCertificate")
    vpc = cluster.get("resourcesVpcConfig", {})
    account = arn.split(":")[4] if arn.count(":") >= 5 else None
    public = vpc.get("endpointPublicAccess") if "endpointPublicAccess" in vpc else None
    return EksCluster(described.region, described.name, arn, endpoint, ca_pem, account, public)


def discover_eks(
    aws: Aws, pool: ThreadPoolExecutor, regions: Sequence[str], selectors: Sequence[ClusterSelector]
) -> Discovery:
    """The EKS clusters to read, and what kept others from being read, in region and listing order."""
    plans = plan_regions(regions, selectors)
    listings = {plan.region: pool.submit(_list_names, aws, plan.region) for plan in plans if plan.every_cluster}
    found = Discovery()
    pending: list[Future[_Described]] = []
    for plan in plans:
        if plan.every_cluster:
            names, error = listings[plan.region].result()
            if error is not None:
                found.errors.append(error)
            pending.extend(pool.submit(_describe, aws, plan.region, name, None) for name in names)
        else:
            by_name = {name: ClusterSelector(name, name) for name in plan.names}
            pending.extend(pool.submit(_describe, aws, plan.region, n, s) for n, s in by_name.items())
            pending.extend(pool.submit(_describe, aws, plan.region, s.name, s) for s in plan.arns)
    described = [future.result() for future in pending]
    seen: set[str] = set()
    for item in described:
        source = f"eks:{item.region}/{item.name}"
        named = item.selector is not None
        if item.not_found:
            if item.selector is not None and item.selector.is_arn:
                found.errors.append(SourceError(source, f"EKS cluster {item.selector.text} was not found", _NOT_FOUND))
            elif not named:
                log.info("%s: deleted since it was listed", source)
            continue
        if item.error is not None:
            arn = item.selector.text if item.selector is not None and item.selector.is_arn else None
            found.errors.append(SourceError(source, _hinted(item.error), item.error.code))
            found.scopes.append(ClusterScope("eks", item.name, arn, item.region, ok=False))
            continue
        result = _to_cluster(item)
        if isinstance(result, SourceError):
            if named or result.code != _NOT_ACTIVE:
                found.errors.append(result)
                found.scopes.append(ClusterScope("eks", item.name, (item.cluster or {}).get("arn"), item.region, False))
            else:
                log.info("%s: skipped (%s)", source, result.message)
            continue
        if result.arn not in seen:  # a name and its ARN both given: read once
            seen.add(result.arn)
            found.clusters.append(result)
    found.errors.extend(_names_not_found(plans, described))
    return found


def _names_not_found(plans: Sequence[RegionPlan], described: Sequence[_Described]) -> list[SourceError]:
    """A name is an error only where every region asked answered that it has no such cluster."""
    errors = []
    names = dict.fromkeys(name for plan in plans for name in plan.names)
    for name in names:
        asked = [d for d in described if d.selector is not None and not d.selector.is_arn and d.name == name]
        if asked and all(d.error is not None and d.error.code == _NOT_FOUND for d in asked):
            regions = ", ".join(d.region for d in asked)
            errors.append(
                SourceError(
                    f"eks:{asked[0].region}/{name}", f"EKS cluster {name!r} was not found in {regions}", _NOT_FOUND
                )
            )
    return errors


# --- targets ------------------------------------------------------------------------------------------


def eks_target(aws: Aws, cluster: EksCluster, *, clock: Callable[[], float] = time.monotonic) -> KubeTarget:
    """Read an EKS cluster with a token renewed before it expires, verified against the cluster's CA."""

    def connect() -> Configuration:
        from kubernetes.client import Configuration

        tokens = EksTokenSource(aws, cluster.region, cluster.name, clock=clock)
        config = Configuration(host=cluster.endpoint)
        config.ca_cert_data = cluster.ca_pem  # in memory: no CA file to write or clean up
        config.api_key = {"BearerToken": "Bearer " + tokens.token()}

        def renew(current: Configuration) -> None:  # called before every request
            current.api_key["BearerToken"] = "Bearer " + tokens.token()

        config.refresh_api_key_hook = renew  # type: ignore[assignment]  # typed None, takes a callable
        return config

    if cluster.public_endpoint is False:
        unreachable = (
            "the cluster's endpoint is private (endpointPublicAccess false): run ecrwatch from a network that "
            "reaches its VPC"
        )
    else:
        unreachable = (
            f"check that {cluster.endpoint} is reachable from here (publicAccessCidrs, a firewall or proxy, or a "
            "private endpoint)"
        )
    hints = AccessHints(
        unauthorized=f"the cluster does not accept ecrwatch's IAM identity; it needs {EKS_ACCESS}",
        forbidden=f"ecrwatch's IAM identity is mapped but may not read; it needs {EKS_ACCESS}",
        unreachable=unreachable,
        tls="the API server's certificate does not verify against the cluster's CA from DescribeCluster "
        "(a TLS-intercepting proxy on the way?)",
    )
    info = ClusterInfo("eks", cluster.name, cluster.source, cluster.region, cluster.account, cluster.arn)
    return KubeTarget(info, cluster.endpoint, connect, hints)


def context_target(plan: KubeconfigPlan, context: KubeContext, temp_dir: str) -> KubeTarget:
    """Read a kubeconfig context with the credentials the official loader makes from it."""
    name = context.name
    hints = AccessHints(
        unauthorized=f"the credentials of context {name} were refused: refresh them (expired token, exec plugin "
        f"login?) and try `kubectl --context {name} get pods -A`",
        forbidden=f"bind the user of context {name} to a ClusterRole with get/list on pods, replicasets (apps) and "
        "jobs (batch) in all namespaces (the built-in `view` ClusterRole has them)",
        unreachable=f"check the server address of context {name} and the network path to it (VPN, proxy)",
        tls=f"the server's certificate does not verify against the CA of context {name}: check "
        "certificate-authority(-data) in the kubeconfig",
    )
    info = ClusterInfo("kubernetes", name, f"kube-context:{name}")
    server = _display(context.server)
    return KubeTarget(info, server, lambda: plan.configuration(context, temp_dir), hints)


def _display(server: str) -> str:
    scheme, sep, rest = server.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


# --- everything together ------------------------------------------------------------------------------


def _read_and_tell(
    target: KubeTarget,
    timeouts: Timeouts,
    place: Callable[[], AbstractContextManager[None]],
    on_workloads: Callable[[Sequence[Workload]], None] | None,
    owner_labels: Sequence[str] = (),
) -> Inventory:
    inventory = read_cluster(target, timeouts=timeouts, place=place, owner_labels=owner_labels)
    if on_workloads is not None:
        on_workloads(inventory.workloads)
    return inventory


def collect_kubernetes(
    aws: Aws,
    plan: KubernetesPlan,
    *,
    workers: int = DEFAULT_WORKERS,
    clock: Callable[[], float] = time.monotonic,
    timeouts: Timeouts | None = None,
    on_workloads: Callable[[Sequence[Workload]], None] | None = None,
    owner_labels: Sequence[str] = (),
) -> Inventory:
    """Every EKS cluster of the plan and every kubeconfig context, each read once, concurrently.
    `on_workloads` hears of each cluster's running containers as soon as that cluster is read."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    timeouts = timeouts or Timeouts(aws.settings.connect_timeout, aws.settings.read_timeout)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
    # Inline certificates and keys of kubeconfig contexts live here while the clusters are read.
    temp = tempfile.TemporaryDirectory(prefix="ecrwatch-kube-") if plan.kubeconfig else None
    try:
        found = discover_eks(aws, pool, plan.regions, plan.selectors) if plan.eks else Discovery()
        targets = [eks_target(aws, cluster, clock=clock) for cluster in found.clusters]
        if plan.kubeconfig is not None and temp is not None:
            eks_endpoints = {endpoint_key(cluster.endpoint): cluster for cluster in found.clusters}
            for context in plan.kubeconfig.contexts:
                same = eks_endpoints.get(endpoint_key(context.server))
                if same is not None:
                    log.info("kube-context %s is EKS cluster %s: read once, as eks", context.name, same.source)
                    continue
                targets.append(context_target(plan.kubeconfig, context, temp.name))
        if targets:
            import_client()  # here, before the reading threads start (see import_client)
        futures = [
            pool.submit(_read_and_tell, target, timeouts, aws.in_flight.place, on_workloads, owner_labels)
            for target in targets
        ]
        inventory = Inventory(clusters=tuple(found.scopes), errors=tuple(found.errors))
        for future in futures:
            inventory = inventory + future.result()
        return inventory
    finally:
        # On an exception (CredentialsError above all) do not start what is still queued.
        pool.shutdown(wait=True, cancel_futures=True)
        if temp is not None:
            temp.cleanup()
