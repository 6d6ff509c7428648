"""Simulated Amazon EKS cluster discovery, served in place of moto's.

moto's EKS clusters point at random hosts nobody answers. Here a cluster's `endpoint` and
`certificateAuthority.data` are what the test seeds, usually our simulated Kubernetes API and its CA, so
that ecrwatch can go from `DescribeCluster` to listing pods exactly as with a real cluster. Shapes, limits
and errors follow botocore's EKS model (eks/2017-11-01): ListClusters pages of 1..100 with an opaque token,
DescribeCluster's ResourceNotFoundException (404, with `clusterName`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

MAX_RESULTS = 100
CLUSTER_STATUSES = frozenset({"CREATING", "ACTIVE", "DELETING", "FAILED", "UPDATING", "PENDING"})


@dataclass(frozen=True)
class _EksCluster:
    region: str
    account: str
    name: str
    endpoint: str
    ca_pem: bytes
    version: str
    status: str
    platform_version: str
    authentication_mode: str
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:eks:{self.region}:{self.account}:cluster/{self.name}"


class EksSim:
    """EKS ListClusters / DescribeCluster from a store tests seed directly."""

    service = "eks"
    operations = frozenset({"ListClusters", "DescribeCluster"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (account, region) -> name -> cluster, in creation order: each account sees only its own.
        self._clusters: dict[tuple[str, str], dict[str, _EksCluster]] = {}

    def reset(self) -> None:
        with self._lock:
            self._clusters.clear()

    def add_cluster(
        self,
        region: str,
        name: str,
        *,
        endpoint: str,
        ca_pem: bytes,
        version: str = "1.31",
        status: str = "ACTIVE",
        account: str = ACCOUNT_ID,
        platform_version: str = "eks.12",
        authentication_mode: str = "API_AND_CONFIG_MAP",
        tags: dict[str, str] | None = None,
    ) -> str:
        """Register a cluster whose API server is `endpoint` (an https URL) signed by `ca_pem`; returns its ARN."""
        if status not in CLUSTER_STATUSES:
            raise ValueError(f"status {status!r} is not one of {sorted(CLUSTER_STATUSES)}")
        if not endpoint.startswith("https://"):
            raise ValueError(f"endpoint {endpoint!r}: EKS API servers are https URLs")
        if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise ValueError("ca_pem must be a PEM certificate (bytes)")
        cluster = _EksCluster(
            region,
            account,
            name,
            endpoint,
            ca_pem,
            version,
            status,
            platform_version,
            authentication_mode,
            time.time(),
            dict(tags or {}),
        )
        with self._lock:
            clusters = self._clusters.setdefault((account, region), {})
            if name in clusters:
                raise ValueError(f"EKS cluster {name!r} already exists in {region} ({account})")
            clusters[name] = cluster
        return cluster.arn

    def handle(self, request: SimRequest) -> SimResponse:
        with self._lock:
            if request.operation == "ListClusters":
                return SimResponse.json(self._list_clusters(request.account, request.region, request.query))
            if request.operation == "DescribeCluster":
                name = request.path_params.get("name", "")
                cluster = self._clusters.get((request.account, request.region), {}).get(name)
                if cluster is None:
                    return _not_found(name)
                return SimResponse.json({"cluster": _render(cluster)})
        raise SimError("InvalidAction", f"{request.operation} is not simulated here", 400)

    def _list_clusters(self, account: str, region: str, query: dict[str, list[str]]) -> dict[str, Any]:
        raw = query.get("maxResults", [None])[0]
        try:
            limit = MAX_RESULTS if raw is None else int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_RESULTS:
            raise SimError("InvalidParameterException", f"maxResults must be between 1 and {MAX_RESULTS}.")
        for include in query.get("include", []):
            if include != "all":
                raise SimError("InvalidParameterException", "include must be 'all' (lower case).")
        names = list(self._clusters.get((account, region), {}))  # connected (external) clusters: none are simulated
        start = _decode_token(query.get("nextToken", [None])[0], region)
        result: dict[str, Any] = {"clusters": names[start : start + limit]}
        if start + limit < len(names):
            result["nextToken"] = _encode_token(region, start + limit)
        return result


def _render(cluster: _EksCluster) -> dict[str, Any]:
    oidc_id = hashlib.sha256(cluster.arn.encode()).hexdigest()[:32].upper()
    return {
        "name": cluster.name,
        "arn": cluster.arn,
        "createdAt": cluster.created_at,
        "version": cluster.version,
        "endpoint": cluster.endpoint,
        "roleArn": f"arn:aws:iam::{cluster.account}:role/{cluster.name}-cluster-role",
        "resourcesVpcConfig": {
            "subnetIds": ["subnet-0a1b2c3d4e5f67890", "subnet-0f9e8d7c6b5a43210"],
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-0123456789abcdef0",
            "vpcId": "vpc-0123456789abcdef0",
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        "logging": {
            "clusterLogging": [
                {"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": False}
            ]
        },
        "identity": {"oidc": {"issuer": f"https://oidc.eks.{cluster.region}.amazonaws.com/id/{oidc_id}"}},
        "status": cluster.status,
        "certificateAuthority": {"data": base64.b64encode(cluster.ca_pem).decode()},
        "platformVersion": cluster.platform_version,
        "tags": dict(cluster.tags),
        "health": {"issues": []},
        "accessConfig": {"authenticationMode": cluster.authentication_mode},
        "upgradePolicy": {"supportType": "STANDARD"},
    }


def _not_found(name: str) -> SimResponse:
    """ResourceNotFoundException as the model gives it: 404, with the cluster's name as a modeled field."""
    code = "ResourceNotFoundException"
    payload = {"clusterName": name, "message": f"No cluster found for name: {name}."}
    return SimResponse(
        404, json.dumps(payload).encode(), {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    )


def _encode_token(region: str, position: int) -> str:
    # Not JSON inside: botocore's paginator takes a base64 JSON object for a token of its own making.
    return base64.urlsafe_b64encode(f"eks1:{region}:{position}".encode()).decode()


def _decode_token(token: str | None, region: str) -> int:
    if token is None:
        return 0
    try:
        version, token_region, position = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version != "eks1" or token_region != region or not position.isdigit():
            raise ValueError(token)
        return int(position)
    except (ValueError, TypeError, binascii.Error):
        raise SimError("InvalidParameterException", "The nextToken is not valid.") from None
