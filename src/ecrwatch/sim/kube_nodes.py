"""Nodes as an EKS managed node group's kubelet registers them (plain JSON dicts), for the simulated cluster.

A node's labels are what ecrwatch reads: `kubernetes.io/arch` (Go's GOARCH: amd64, arm64, ...) and
`kubernetes.io/os`, which the kubelet sets on itself, beside the beta aliases and the instance type and
topology labels the cloud provider adds. Its status carries the same architecture in `nodeInfo`, as a
kubelet reports it. Pure: the store assigns resourceVersion.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping

from ecrwatch.sim.kube_objects import JsonDict, object_uid, timestamp

ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
# What the kubelet reports, by architecture: the instance type is only for realism (Graviton for arm64).
_INSTANCE_TYPES = {"amd64": "m6i.large", "arm64": "m7g.large"}
_KERNEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def node_ip(name: str) -> str:
    """An EC2 node's private IP, from its `ip-A-B-C-D.REGION.compute.internal` name where it has that form."""
    head = name.split(".", 1)[0]
    parts = head.split("-")[1:]
    if head.startswith("ip-") and len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return ".".join(parts)
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.0.{digest[0]}.{max(digest[1], 2)}"


def build_node(
    name: str,
    *,
    architecture: str,
    created: datetime.datetime,
    operating_system: str = "linux",
    region: str = "us-west-2",
    zone: str | None = None,
    nodegroup: str = "default",
    kubelet_version: str = "v1.31.4-eks-2d5f260",
    labels: Mapping[str, str] | None = None,
) -> JsonDict:
    """A Ready node of an EKS managed node group. `labels` are added to (or override) the kubelet's own."""
    zone = zone or f"{region}a"
    instance_type = _INSTANCE_TYPES.get(architecture, "m6i.large")
    all_labels = {
        "beta.kubernetes.io/arch": architecture,
        "beta.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/os": operating_system,
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": nodegroup,
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "k8s.io/cloud-provider-aws": _hex(f"cloud/{region}", 32),
        ARCH_LABEL: architecture,
        "kubernetes.io/hostname": name,
        OS_LABEL: operating_system,
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
        **dict(labels or {}),
    }
    when = timestamp(created)
    address = node_ip(name)
    instance = "i-0" + _hex(f"instance/{name}", 16)
    condition_words = (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    )
    return {
        "metadata": {
            "name": name,
            "uid": object_uid("Node", None, name),
            "creationTimestamp": when,
            "labels": all_labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": address,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"providerID": f"aws:///{zone}/{instance}"},
        "status": {
            "capacity": {"cpu": "2", "ephemeral-storage": "20959212Ki", "memory": "7824616Ki", "pods": "29"},
            "allocatable": {"cpu": "1930m", "ephemeral-storage": "18242267924", "memory": "7134440Ki", "pods": "29"},
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "lastHeartbeatTime": when,
                    "lastTransitionTime": when,
                    "reason": reason,
                    "message": message,
                }
                for kind, status, reason, message in condition_words
            ],
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "InternalDNS", "address": name},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _hex(f"machine/{name}", 32),
                "systemUUID": "ec2" + object_uid("SystemUUID", None, name)[3:],  # EC2 instances' start with ec2
                "bootID": object_uid("Boot", None, name),
                "kernelVersion": f"6.1.119-129.201.amzn2023.{_KERNEL_ARCH.get(architecture, architecture)}",
                "osImage": "Amazon Linux 2023.6.20241212",
                "containerRuntimeVersion": "containerd://1.7.23",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": operating_system,
                "architecture": architecture,
            },
        },
    }
