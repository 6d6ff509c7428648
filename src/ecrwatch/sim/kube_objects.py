"""Realistic Kubernetes objects as the API server sends them (plain JSON dicts), for the simulated cluster.

Each builder returns the object a real cluster would hold for what it was told: a pod with its spec and a
status whose `containerStatuses` / `initContainerStatuses` / `ephemeralContainerStatuses` match the spec, the
conditions and IPs the kubelet fills in, owner references with `controller: true` and the owner's uid. uids
are derived from kind, namespace and name, so a reference made before its owner exists still matches it.
Builders are pure: the store assigns resourceVersion.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

JsonDict = dict[str, Any]
ContainerState = Literal["running", "waiting", "terminated"]
PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]

DEFAULT_NODE = "ip-10-0-1-17.us-west-2.compute.internal"

# apiVersion of the kinds an owner reference names; any other kind needs an explicit apiVersion.
OWNER_API_VERSIONS = {
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "DaemonSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "Node": "v1",
    "ReplicationController": "v1",
}

JOB_RESTART_POLICIES = ("Never", "OnFailure")  # the only values a Job's pod template may hold

# Kubernetes' own alphabet for generated name suffixes (no vowels, no look-alike digits).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_UID_SEED = "ecrwatch-sim-kube"


@dataclass(frozen=True)
class KubeContainerSeed:
    """One container of a pod, as a seed: what the spec names and what the kubelet reports.

    `image_id` is `containerStatuses[].imageID` exactly as the runtime reports it:
    `docker-pullable://repo@sha256:...`, `repo@sha256:...`, a bare `sha256:...` config id, or "" for a
    container that has not started (its status is then `waiting`).
    `restart_policy="Always"` on an init container makes it a sidecar (it keeps running).
    `state` overrides the state derived from the pod's phase and the container type.
    `status_image` is `containerStatuses[].image` where the runtime reports a different name than the spec.
    `target_container` is an ephemeral container's `targetContainerName`.
    """

    name: str
    image: str
    image_id: str = ""
    restart_policy: str | None = None
    state: ContainerState | None = None
    status_image: str | None = None
    target_container: str | None = None
    ready: bool | None = None
    restart_count: int = 0


Owner = tuple[str, str] | tuple[str, str, str]
"""An owner reference as a seed: (kind, name) for the kinds in OWNER_API_VERSIONS, or (kind, name, apiVersion)."""


@functools.lru_cache(maxsize=4096)  # bulk seeding stamps thousands of objects with the same few moments
def timestamp(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes metav1.Time."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_uid(kind: str, namespace: str | None, name: str) -> str:
    """The uid the simulated cluster gives an object: stable, so owner references can be made first.

    Shaped as the random (version 4) uids the API server assigns.
    """
    h = hashlib.md5(f"{_UID_SEED}/{kind}/{namespace or ''}/{name}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def name_suffix(seed: str, length: int = 5) -> str:
    """A generated-name suffix (as `generateName` and pod-template-hash make), derived from `seed`."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_SUFFIX_ALPHABET))
        chars.append(_SUFFIX_ALPHABET[index])
    return "".join(chars)


def owner_reference(owner: Owner, namespace: str | None) -> JsonDict:
    """A controller owner reference (`controller: true`) with the owner's uid in the simulated cluster."""
    kind, name = owner[0], owner[1]
    api_version = owner[2] if len(owner) == 3 else OWNER_API_VERSIONS.get(kind)
    if api_version is None:
        raise ValueError(f"no apiVersion known for owner kind {kind!r}: pass (kind, name, apiVersion)")
    # A Node owns mirror pods across namespaces: its uid does not depend on the pod's namespace.
    owner_namespace = None if kind == "Node" else namespace
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": object_uid(kind, owner_namespace, name),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(
    kind: str,
    namespace: str | None,
    name: str,
    created: str,
    labels: Mapping[str, str] | None,
    owner: Owner | None,
    annotations: Mapping[str, str] | None = None,
) -> JsonDict:
    meta: JsonDict = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["uid"] = object_uid(kind, namespace, name)
    meta["creationTimestamp"] = created
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner, namespace)]
    return meta


def container_spec(seed: KubeContainerSeed, *, ephemeral: bool = False) -> JsonDict:
    """The spec entry of a container (or of an ephemeral container), with the defaults the API server adds."""
    spec: JsonDict = {
        "name": seed.name,
        "image": seed.image,
        "imagePullPolicy": "Always" if seed.image.endswith(":latest") or ":" not in seed.image else "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if seed.restart_policy is not None:
        spec["restartPolicy"] = seed.restart_policy
    if ephemeral:
        spec["stdin"] = True
        spec["tty"] = True
        if seed.target_container is not None:
            spec["targetContainerName"] = seed.target_container
    return spec


def _container_id(pod_key: str, container: str) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_key}/{container}".encode()).hexdigest()


def _derived_state(seed: KubeContainerSeed, role: str, phase: str) -> ContainerState:
    if seed.state is not None:
        return seed.state
    if not seed.image_id:
        return "waiting"
    if phase in ("Succeeded", "Failed"):
        return "terminated"
    if role == "init":  # a plain init container has run to completion before the pod's containers start
        return "terminated"
    return "running"


def container_status(
    seed: KubeContainerSeed, *, role: str, phase: str, pod_key: str, started: str, main_waiting_reason: str
) -> JsonDict:
    """`containerStatuses[]` entry matching the seed. `role` is "container", "init", "sidecar" or "ephemeral"."""
    state = _derived_state(seed, role, phase)
    status: JsonDict = {
        "name": seed.name,
        "image": seed.status_image or seed.image,
        "imageID": seed.image_id,
    }
    if state == "running":
        status["containerID"] = _container_id(pod_key, seed.name)
        status["state"] = {"running": {"startedAt": started}}
        ready = role != "ephemeral"
    elif state == "terminated":
        status["containerID"] = _container_id(pod_key, seed.name)
        failed = phase == "Failed" and role != "init"
        status["state"] = {
            "terminated": {
                "exitCode": 1 if failed else 0,
                "reason": "Error" if failed else "Completed",
                "startedAt": started,
                "finishedAt": started,
                "containerID": status["containerID"],
            }
        }
        ready = role == "init" and not failed
    else:
        reason = "PodInitializing" if role == "container" and main_waiting_reason else "ContainerCreating"
        status["state"] = {"waiting": {"reason": reason}}
        ready = False
    status["ready"] = seed.ready if seed.ready is not None else ready
    status["restartCount"] = seed.restart_count
    if role != "ephemeral":
        status["started"] = state == "running"
    return status


def _pod_ip(seed: str) -> str:
    n = zlib.crc32(seed.encode())
    return f"10.{(n >> 16) & 0xFF}.{(n >> 8) & 0xFF}.{max(n & 0xFF, 2)}"


def _conditions(phase: str, scheduled: bool, initialized: bool, ready: bool, when: str) -> list[JsonDict]:
    def condition(kind: str, ok: bool, reason: str | None = None) -> JsonDict:
        entry: JsonDict = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
        entry["lastTransitionTime"] = when
        if reason is not None and not ok:
            entry["reason"] = reason
        return entry

    if not scheduled:
        unschedulable = condition("PodScheduled", False, "Unschedulable")
        unschedulable["message"] = "0/3 nodes are available: 3 Insufficient cpu."
        return [unschedulable]
    not_ready_reason = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    return [
        condition("PodReadyToStartContainers", phase in ("Running", "Pending")),
        condition("Initialized", initialized, "ContainersNotInitialized"),
        condition("Ready", ready, not_ready_reason),
        condition("ContainersReady", ready, not_ready_reason),
        condition("PodScheduled", True),
    ]


def build_pod(
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
    created: datetime.datetime,
    restart_policy: str = "Always",
    service_account: str = "default",
) -> JsonDict:
    """A pod as `GET /api/v1/namespaces/NS/pods/NAME` shows it (without kind/apiVersion, as list items come).

    A pod with `node_name=None` has not been scheduled: it is Pending and has no container statuses.
    """
    if not containers:
        raise ValueError("a pod has at least one container")
    when = timestamp(created)
    started = timestamp(created + datetime.timedelta(seconds=4))
    pod_key = f"{namespace}/{name}"
    spec: JsonDict = {}
    if init_containers:
        spec["initContainers"] = [container_spec(c) for c in init_containers]
    spec["containers"] = [container_spec(c) for c in containers]
    if ephemeral_containers:
        spec["ephemeralContainers"] = [container_spec(c, ephemeral=True) for c in ephemeral_containers]
    spec.update(
        {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": service_account,
            "serviceAccount": service_account,
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        }
    )
    if node_name is not None:
        spec["nodeName"] = node_name
    status: JsonDict = {"phase": phase}
    scheduled = node_name is not None
    if scheduled:
        host_ip = _pod_ip(node_name or "")
        pod_ip = _pod_ip(pod_key)
        init_statuses = [
            container_status(
                c,
                role="sidecar" if c.restart_policy == "Always" else "init",
                phase=phase,
                pod_key=pod_key,
                started=started,
                main_waiting_reason="",
            )
            for c in init_containers
        ]
        initialized = all(
            s["state"].get("terminated", {}).get("exitCode") == 0 or "running" in s["state"] for s in init_statuses
        )
        statuses = [
            container_status(
                c,
                role="container",
                phase=phase,
                pod_key=pod_key,
                started=started,
                main_waiting_reason="" if initialized else "PodInitializing",
            )
            for c in containers
        ]
        ready = phase == "Running" and all(s["ready"] for s in statuses)
        status["conditions"] = _conditions(phase, True, initialized, ready, when)
        status.update(
            {
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}],
                "startTime": when,
            }
        )
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        status["containerStatuses"] = statuses
        if ephemeral_containers:
            status["ephemeralContainerStatuses"] = [
                container_status(
                    c, role="ephemeral", phase=phase, pod_key=pod_key, started=started, main_waiting_reason=""
                )
                for c in ephemeral_containers
            ]
    else:
        status["conditions"] = _conditions(phase, False, False, False, when)
    status["qosClass"] = "BestEffort"
    return {
        "metadata": _metadata("Pod", namespace, name, when, labels, owner),
        "spec": spec,
        "status": status,
    }


def pod_template(
    labels: Mapping[str, str],
    containers: Sequence[KubeContainerSeed],
    init_containers: Sequence[KubeContainerSeed] = (),
    restart_policy: str = "Always",
) -> JsonDict:
    """A `spec.template` (PodTemplateSpec) for a controller."""
    spec: JsonDict = {}
    if init_containers:
        spec["initContainers"] = [container_spec(c) for c in init_containers]
    spec["containers"] = [container_spec(c) for c in containers]
    spec.update(
        {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        }
    )
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def build_workload(
    kind: str,
    namespace: str,
    name: str,
    *,
    containers: Sequence[KubeContainerSeed],
    init_containers: Sequence[KubeContainerSeed] = (),
    owner: Owner | None = None,
    replicas: int = 1,
    labels: Mapping[str, str] | None = None,
    created: datetime.datetime,
    schedule: str = "0 3 * * *",
    job_restart_policy: str = "Never",
) -> JsonDict:
    """A Deployment, ReplicaSet, DaemonSet, StatefulSet, Job or CronJob with a spec and a plausible status.

    `labels` are the pods' labels, used for the selector and the template; default `app: NAME`.
    `job_restart_policy` is a Job's (or a CronJob's job template's) pod restartPolicy: the API server
    accepts only Never and OnFailure there.
    """
    if job_restart_policy not in JOB_RESTART_POLICIES:
        raise ValueError(f"a Job's pods restart Never or OnFailure, not {job_restart_policy!r}")
    when = timestamp(created)
    pod_labels = dict(labels) if labels else {"app": name}
    meta_labels = pod_labels
    selector = {"matchLabels": dict(pod_labels)}
    annotations: dict[str, str] | None = None
    spec: JsonDict
    status: JsonDict
    if kind == "Deployment":
        annotations = {"deployment.kubernetes.io/revision": "1"}
        spec = {
            "replicas": replicas,
            "selector": selector,
            "template": pod_template(pod_labels, containers, init_containers),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        }
        status = {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif kind == "ReplicaSet":
        if owner is not None and owner[0] == "Deployment":
            annotations = {"deployment.kubernetes.io/revision": "1"}
        spec = {
            "replicas": replicas,
            "selector": selector,
            "template": pod_template(pod_labels, containers, init_containers),
        }
        status = {
            "replicas": replicas,
            "fullyLabeledReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 1,
        }
    elif kind == "DaemonSet":
        spec = {
            "selector": selector,
            "template": pod_template(pod_labels, containers, init_containers),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10,
        }
        status = {
            "currentNumberScheduled": replicas,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": replicas,
            "numberReady": replicas,
            "observedGeneration": 1,
            "updatedNumberScheduled": replicas,
            "numberAvailable": replicas,
        }
    elif kind == "StatefulSet":
        spec = {
            "replicas": replicas,
            "selector": selector,
            "template": pod_template(pod_labels, containers, init_containers),
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
        }
        status = {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        }
    elif kind == "Job":
        uid = object_uid("Job", namespace, name)
        job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name}
        job_labels.update({"controller-uid": uid, "job-name": name})
        pod_labels = {**job_labels, **pod_labels}
        spec = {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "manualSelector": False,
            "template": pod_template(pod_labels, containers, init_containers, restart_policy=job_restart_policy),
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
        }
        status = {"startTime": when, "active": replicas, "ready": replicas, "terminating": 0}
        meta_labels = job_labels
    elif kind == "CronJob":
        spec = {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "jobTemplate": {
                "metadata": {},
                "spec": {
                    "backoffLimit": 6,
                    "template": pod_template(
                        pod_labels, containers, init_containers, restart_policy=job_restart_policy
                    ),
                },
            },
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
        }
        status = {"lastScheduleTime": when}
    else:
        raise ValueError(f"not a workload kind the simulator builds: {kind!r}")
    metadata = _metadata(kind, namespace, name, when, meta_labels, owner, annotations)
    metadata["generation"] = 1
    return {"metadata": metadata, "spec": spec, "status": status}


def build_namespace(name: str, created: datetime.datetime) -> JsonDict:
    """A Namespace, Active, with the label the API server sets on every namespace."""
    return {
        "metadata": _metadata("Namespace", None, name, timestamp(created), {"kubernetes.io/metadata.name": name}, None),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
