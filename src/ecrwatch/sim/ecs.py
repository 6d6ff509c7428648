"""Simulated Amazon ECS cluster and task reads, served in place of moto's.

moto's tasks carry no `imageDigest`, model only the first container, do not paginate and drift to STOPPED
on each describe. This store answers ListClusters, DescribeClusters, ListTasks and DescribeTasks with the
shapes, limits and errors of botocore's ECS model (ecs/2014-11-13): pages of at most 100, opaque tokens,
`failures` with reason MISSING, InvalidParameterException past 100 tasks, ClusterNotFoundException. Its
state changes only when a test seeds or stops something.

Paging is O(page): each cluster keeps, per desired status and filter value, a list of task sequence numbers
in creation order, and a token is the last sequence number served; a page is a bisect and a slice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

MAX_RESULTS = 100  # ListClusters / ListTasks page size limit, DescribeClusters / DescribeTasks batch limit
DESIRED_STATUSES = frozenset({"RUNNING", "PENDING", "STOPPED"})
LAUNCH_TYPES = frozenset({"EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"})
# The values of the `ecs.cpu-architecture` attribute ECS sets on a task (and on a container instance).
CPU_ARCHITECTURES = frozenset({"x86_64", "arm64"})
# The lifecycle states ECS reports in a task's or container's lastStatus.
LAST_STATUSES = frozenset(
    {
        "PROVISIONING",
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    }
)


@dataclass(frozen=True)
class EcsContainerSeed:
    """One container of a seeded task. `digest` None is a container whose image the agent has not resolved
    yet (still pulling): DescribeTasks then omits `imageDigest`, as ECS does."""

    name: str
    image: str
    digest: str | None = None
    last_status: str = "RUNNING"


DEFAULT_CONTAINERS = (EcsContainerSeed("app", "public.ecr.aws/docker/library/nginx:1.27"),)


@dataclass(frozen=True)
class EcsTaskSeed:
    """Everything `add_task` takes, for the bulk path (`add_tasks`)."""

    containers: Sequence[EcsContainerSeed] = DEFAULT_CONTAINERS
    service: str | None = None
    family: str = "app"
    revision: int = 1
    launch_type: str = "FARGATE"
    desired_status: str = "RUNNING"
    last_status: str = "RUNNING"
    started_by: str | None = None  # a service task defaults to its deployment id, as ECS sets it
    availability_zone: str | None = None  # default: the region's "a" zone
    tags: Mapping[str, str] = field(default_factory=dict)
    # The task's `ecs.cpu-architecture` attribute; None: DescribeTasks answers without `attributes`.
    cpu_architecture: str | None = "x86_64"


class _Task:
    __slots__ = ("created_at", "desired", "last", "seed", "seq", "started_by", "stopped_at", "task_id")

    def __init__(self, seq: int, task_id: str, seed: EcsTaskSeed, started_by: str | None, now: float) -> None:
        self.seq = seq
        self.task_id = task_id
        self.seed = seed
        self.desired = seed.desired_status
        self.last = seed.last_status
        self.started_by = started_by
        self.created_at = now
        self.stopped_at: float | None = now if seed.desired_status == "STOPPED" else None

    def index_keys(self) -> tuple[tuple[str, ...], ...]:
        """The ListTasks queries this task answers, one sorted list each (see module docstring)."""
        keys: list[tuple[str, ...]] = [
            (self.desired,),
            (self.desired, "family", self.seed.family),
            (self.desired, "launchType", self.seed.launch_type),
        ]
        if self.seed.service is not None:
            keys.append((self.desired, "serviceName", self.seed.service))
        if self.started_by is not None:
            keys.append((self.desired, "startedBy", self.started_by))
        return tuple(keys)


class _Cluster:
    def __init__(self, region: str, account: str, name: str, now: float) -> None:
        self.region = region
        self.account = account
        self.name = name
        self.arn = f"arn:aws:ecs:{region}:{account}:cluster/{name}"
        self.created_at = now
        self.tasks: dict[str, _Task] = {}  # by task id
        self.by_seq: dict[int, _Task] = {}
        self.index: dict[tuple[str, ...], list[int]] = {}
        self.last_status_counts: Counter[str] = Counter()
        self.running_services: Counter[str] = Counter()  # service -> tasks desired RUNNING

    def count(self, task: _Task, delta: int) -> None:
        self.last_status_counts[task.last] += delta
        if task.desired == "RUNNING" and task.seed.service is not None:
            self.running_services[task.seed.service] += delta

    def task_arn(self, task_id: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:task/{self.name}/{task_id}"

    def insert(self, task: _Task) -> None:
        self.tasks[task.task_id] = task
        self.by_seq[task.seq] = task
        self.count(task, 1)
        for key in task.index_keys():
            self.index.setdefault(key, []).append(task.seq)  # seq only grows: the lists stay sorted

    def unindex(self, task: _Task) -> None:
        for key in task.index_keys():
            seqs = self.index[key]
            del seqs[bisect_left(seqs, task.seq)]


class EcsSim:
    """ECS ListClusters / DescribeClusters / ListTasks / DescribeTasks from a store tests seed directly."""

    service = "ecs"
    operations = frozenset({"ListClusters", "DescribeClusters", "ListTasks", "DescribeTasks"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (account, region) -> name -> cluster, in creation order: each account sees only its own.
        self._clusters: dict[tuple[str, str], dict[str, _Cluster]] = {}
        self._cluster_order: dict[tuple[str, str], list[_Cluster]] = {}
        self._seq = 0

    # --- seeding ---

    def reset(self) -> None:
        with self._lock:
            self._clusters.clear()
            self._cluster_order.clear()
            self._seq = 0

    def add_cluster(self, region: str, name: str, account: str = ACCOUNT_ID) -> str:
        """Create an ACTIVE cluster; returns its ARN."""
        with self._lock:
            clusters = self._clusters.setdefault((account, region), {})
            if name in clusters:
                raise ValueError(f"ECS cluster {name!r} already exists in {region} ({account})")
            cluster = _Cluster(region, account, name, time.time())
            clusters[name] = cluster
            self._cluster_order.setdefault((account, region), []).append(cluster)
            return cluster.arn

    def add_task(
        self,
        region: str,
        cluster: str,
        *,
        containers: Sequence[EcsContainerSeed] | None = None,
        service: str | None = None,
        family: str = "app",
        revision: int = 1,
        launch_type: str = "FARGATE",
        desired_status: str = "RUNNING",
        last_status: str = "RUNNING",
        started_by: str | None = None,
        availability_zone: str | None = None,
        tags: Mapping[str, str] | None = None,
        cpu_architecture: str | None = "x86_64",
        account: str | None = None,
    ) -> str:
        """Start one task in `cluster` (name or ARN; a name is the default account's unless `account`);
        returns its ARN."""
        seed = EcsTaskSeed(
            containers=tuple(containers) if containers is not None else DEFAULT_CONTAINERS,
            service=service,
            family=family,
            revision=revision,
            launch_type=launch_type,
            desired_status=desired_status,
            last_status=last_status,
            started_by=started_by,
            availability_zone=availability_zone,
            tags=dict(tags or {}),
            cpu_architecture=cpu_architecture,
        )
        return self.add_tasks(region, cluster, [seed], account=account)[0]

    def add_tasks(
        self, region: str, cluster: str, seeds: Iterable[EcsTaskSeed], *, account: str | None = None
    ) -> list[str]:
        """The bulk path: many tasks under one lock, nothing rendered until described. Returns their ARNs."""
        now = time.time()
        arns: list[str] = []
        with self._lock:
            target = self._find_cluster(_owner(cluster, account), region, cluster)
            if target is None:
                raise ValueError(f"no ECS cluster {cluster!r} in {region}: add_cluster first")
            for seed in seeds:
                _check_seed(seed)
                self._seq += 1
                task_id = uuid.uuid4().hex
                started_by = seed.started_by
                if started_by is None and seed.service is not None:
                    started_by = _deployment_id(target.arn, seed.service)
                task = _Task(self._seq, task_id, seed, started_by, now)
                target.insert(task)
                arns.append(target.task_arn(task_id))
        return arns

    def stop_task(self, region: str, cluster: str, task_arn: str) -> None:
        """Set the task's desired and last status to STOPPED (and its containers', when described)."""
        with self._lock:
            target = self._find_cluster(_owner(task_arn, None), region, cluster)
            task = target.tasks.get(_task_id(task_arn)) if target else None
            if target is None or task is None:
                raise ValueError(f"no task {task_arn!r} in ECS cluster {cluster!r} ({region})")
            if task.desired == "STOPPED" and task.last == "STOPPED":
                return
            target.unindex(task)
            target.count(task, -1)
            task.desired = task.last = "STOPPED"
            task.stopped_at = time.time()
            target.count(task, 1)
            # Re-enter the STOPPED lists at the task's own position: seq order is kept.
            for key in task.index_keys():
                seqs = target.index.setdefault(key, [])
                seqs.insert(bisect_left(seqs, task.seq), task.seq)

    # --- serving ---

    def handle(self, request: SimRequest) -> SimResponse:
        params = request.json()
        with self._lock:
            where = (request.account, request.region)
            if request.operation == "ListClusters":
                return SimResponse.json(self._list_clusters(where, params))
            if request.operation == "DescribeClusters":
                return SimResponse.json(self._describe_clusters(where, params))
            if request.operation == "ListTasks":
                return SimResponse.json(self._list_tasks(where, params))
            if request.operation == "DescribeTasks":
                return SimResponse.json(self._describe_tasks(where, params))
        raise SimError("InvalidAction", f"{request.operation} is not simulated here", 400)

    def _list_clusters(self, where: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
        limit = _max_results(params)
        account, region = where
        clusters = self._cluster_order.get(where, [])
        start = _decode_token(params.get("nextToken"), ("clusters", account, region))
        page = clusters[start : start + limit]
        result: dict[str, Any] = {"clusterArns": [c.arn for c in page]}
        if start + limit < len(clusters):
            result["nextToken"] = _encode_token(("clusters", account, region), start + limit)
        return result

    def _describe_clusters(self, where: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
        account, region = where
        names = params.get("clusters") or ["default"]
        if len(names) > MAX_RESULTS:
            raise SimError("InvalidParameterException", f"clusters can have at most {MAX_RESULTS} items.")
        include = set(params.get("include") or ())
        clusters: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for name in names:
            cluster = self._find_cluster(account, region, name)
            if cluster is None:
                failures.append({"arn": _cluster_arn_of(account, region, name), "reason": "MISSING"})
            else:
                clusters.append(_render_cluster(cluster, include))
        return {"clusters": clusters, "failures": failures}

    def _list_tasks(self, where: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
        limit = _max_results(params)
        cluster = self._cluster_or_raise(where, params.get("cluster"))
        desired = params.get("desiredStatus") or "RUNNING"
        if desired not in DESIRED_STATUSES:
            raise SimError("InvalidParameterException", f"desiredStatus must be one of {sorted(DESIRED_STATUSES)}.")
        for unsupported in ("containerInstance", "daemonName"):
            if params.get(unsupported):
                raise SimError("InvalidParameterException", f"{unsupported} is not supported by the simulator.")
        filters = {k: params[k] for k in ("startedBy", "serviceName", "family", "launchType") if params.get(k)}
        if "startedBy" in filters and len(filters) > 1:
            raise SimError("InvalidParameterException", "startedBy must be the only filter when it is given.")
        if "launchType" in filters and filters["launchType"] not in LAUNCH_TYPES:
            raise SimError("InvalidParameterException", f"launchType must be one of {sorted(LAUNCH_TYPES)}.")
        # The first filter present picks the index to page through; any others are checked per task.
        primary = next(iter(filters.items()), None)
        key: tuple[str, ...] = (desired,) if primary is None else (desired, primary[0], primary[1])
        rest = {k: v for k, v in filters.items() if primary is None or k != primary[0]}
        token_scope = (cluster.arn, *key, *sorted(f"{k}={v}" for k, v in rest.items()))
        after = _decode_token(params.get("nextToken"), token_scope)
        seqs = cluster.index.get(key, [])
        pos = bisect_right(seqs, after)
        arns: list[str] = []
        while pos < len(seqs) and len(arns) < limit:
            task = cluster.by_seq[seqs[pos]]
            pos += 1
            if all(_task_filter_value(task, k) == v for k, v in rest.items()):
                arns.append(cluster.task_arn(task.task_id))
        result: dict[str, Any] = {"taskArns": arns}
        if pos < len(seqs):
            # With extra filters the next page may turn out empty; the API allows that ("fewer than maxResults").
            result["nextToken"] = _encode_token(token_scope, seqs[pos - 1])
        return result

    def _describe_tasks(self, where: tuple[str, str], params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("tasks")
        if not wanted:
            raise SimError("InvalidParameterException", "Tasks cannot be empty.")
        if len(wanted) > MAX_RESULTS:
            raise SimError("InvalidParameterException", f"Tasks cannot have more than {MAX_RESULTS} items.")
        cluster = self._cluster_or_raise(where, params.get("cluster"))
        with_tags = "TAGS" in (params.get("include") or ())
        tasks: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for ref in wanted:
            task = cluster.tasks.get(_task_id(ref)) if _task_in_cluster(ref, cluster) else None
            if task is None:
                arn = ref if ref.startswith("arn:") else cluster.task_arn(ref)
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                tasks.append(_render_task(cluster, task, with_tags))
        return {"tasks": tasks, "failures": failures}

    # --- lookup ---

    def _find_cluster(self, account: str, region: str, ref: str | None) -> _Cluster | None:
        """A cluster by short name or ARN; an ARN from another region or account is not found here."""
        ref = ref or "default"
        clusters = self._clusters.get((account, region), {})
        if ref.startswith("arn:"):
            name = ref.rsplit("/", 1)[-1] if ":cluster/" in ref else ""
            cluster = clusters.get(name)
            return cluster if cluster is not None and cluster.arn == ref else None
        return clusters.get(ref)

    def _cluster_or_raise(self, where: tuple[str, str], ref: str | None) -> _Cluster:
        cluster = self._find_cluster(*where, ref)
        if cluster is None:
            raise SimError("ClusterNotFoundException", "Cluster not found.")
        return cluster


# --- rendering: built on demand, so that seeding 20,000 tasks renders nothing --------------------------


def _render_cluster(cluster: _Cluster, include: set[str]) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "clusterArn": cluster.arn,
        "clusterName": cluster.name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": cluster.last_status_counts["RUNNING"],
        "pendingTasksCount": sum(cluster.last_status_counts[s] for s in ("PROVISIONING", "PENDING", "ACTIVATING")),
        "activeServicesCount": sum(1 for n in cluster.running_services.values() if n > 0),
        "statistics": [],
        "tags": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }
    if "SETTINGS" in include:
        rendered["settings"] = [{"name": "containerInsights", "value": "disabled"}]
    return rendered


def _render_task(cluster: _Cluster, task: _Task, with_tags: bool) -> dict[str, Any]:
    seed = task.seed
    arn = cluster.task_arn(task.task_id)
    fargate = seed.launch_type == "FARGATE"
    eni_id = "eni-" + _hex(task.task_id, "eni", 17)
    attachment_id = str(uuid.UUID(_hex(task.task_id, "attachment", 32)))
    private_ip = _private_ip(task.task_id)
    stopped = task.last == "STOPPED"
    containers = []
    for index, container in enumerate(seed.containers):
        last = "STOPPED" if stopped else container.last_status
        rendered: dict[str, Any] = {
            "containerArn": (
                f"arn:aws:ecs:{cluster.region}:{cluster.account}:container/{cluster.name}/{task.task_id}/"
                + str(uuid.UUID(_hex(task.task_id, f"container/{index}", 32)))
            ),
            "taskArn": arn,
            "name": container.name,
            "image": container.image,
            "lastStatus": last,
            "networkBindings": [],
            "networkInterfaces": (
                [{"attachmentId": attachment_id, "privateIpv4Address": private_ip}] if fargate else []
            ),
            "healthStatus": "UNKNOWN",
            "cpu": "0",
        }
        if container.digest is not None:
            rendered["imageDigest"] = container.digest
        if last not in ("PENDING", "PROVISIONING"):  # a container that has not started has no runtime id yet
            rendered["runtimeId"] = (
                f"{task.task_id}-{int(_hex(task.task_id, f'runtime/{index}', 8), 16) % 10**10:010d}"
                if fargate
                else _hex(task.task_id, f"runtime/{index}", 64)
            )
        if last == "STOPPED":
            rendered["exitCode"] = 0
        containers.append(rendered)
    rendered_task: dict[str, Any] = {
        "attachments": [],
        "availabilityZone": seed.availability_zone or f"{cluster.region}a",
        "clusterArn": cluster.arn,
        "connectivity": "CONNECTED",
        "connectivityAt": task.created_at,
        "containers": containers,
        "cpu": "256",
        "memory": "512",
        "createdAt": task.created_at,
        "desiredStatus": task.desired,
        "enableExecuteCommand": False,
        "group": f"service:{seed.service}" if seed.service is not None else f"family:{seed.family}",
        "healthStatus": "UNKNOWN",
        "lastStatus": task.last,
        "launchType": seed.launch_type,
        "overrides": {
            "containerOverrides": [{"name": c.name} for c in seed.containers],
            "inferenceAcceleratorOverrides": [],
        },
        "taskArn": arn,
        "taskDefinitionArn": (
            f"arn:aws:ecs:{cluster.region}:{cluster.account}:task-definition/{seed.family}:{seed.revision}"
        ),
        "version": 4 if stopped else 3,
    }
    if seed.cpu_architecture is not None:
        rendered_task["attributes"] = [{"name": "ecs.cpu-architecture", "value": seed.cpu_architecture}]
    if task.started_by is not None:
        rendered_task["startedBy"] = task.started_by
    if task.last in ("RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
        rendered_task["pullStartedAt"] = task.created_at
        rendered_task["pullStoppedAt"] = task.created_at
        rendered_task["startedAt"] = task.created_at
    if task.stopped_at is not None:
        rendered_task["stopCode"] = "UserInitiated"
        rendered_task["stoppedReason"] = "Task stopped by user"
        rendered_task["stoppingAt"] = task.stopped_at
        rendered_task["executionStoppedAt"] = task.stopped_at
        if stopped:
            rendered_task["stoppedAt"] = task.stopped_at
    if fargate:
        rendered_task["platformVersion"] = "1.4.0"
        rendered_task["platformFamily"] = "Linux"
        rendered_task["ephemeralStorage"] = {"sizeInGiB": 20}
        rendered_task["attachments"] = [
            {
                "id": attachment_id,
                "type": "ElasticNetworkInterface",
                "status": "DELETED" if stopped else "ATTACHED",
                "details": [
                    {"name": "subnetId", "value": "subnet-0a1b2c3d4e5f67890"},
                    {"name": "networkInterfaceId", "value": eni_id},
                    {"name": "macAddress", "value": _mac(task.task_id)},
                    {"name": "privateIPv4Address", "value": private_ip},
                ],
            }
        ]
    elif seed.launch_type in ("EC2", "EXTERNAL", "MANAGED_INSTANCES"):
        rendered_task["containerInstanceArn"] = (
            f"arn:aws:ecs:{cluster.region}:{cluster.account}:container-instance/{cluster.name}/"
            + _hex(cluster.name, "instance", 32)
        )
    if with_tags:
        rendered_task["tags"] = [{"key": k, "value": v} for k, v in seed.tags.items()]
    return rendered_task


# --- helpers --------------------------------------------------------------------------------------------


def _check_seed(seed: EcsTaskSeed) -> None:
    if seed.desired_status not in ("RUNNING", "STOPPED"):
        raise ValueError(f"desired_status {seed.desired_status!r}: ECS only ever sets RUNNING or STOPPED")
    if seed.launch_type not in LAUNCH_TYPES:
        raise ValueError(f"launch_type {seed.launch_type!r} is not one of {sorted(LAUNCH_TYPES)}")
    for status in (seed.last_status, *(c.last_status for c in seed.containers)):
        if status not in LAST_STATUSES:
            raise ValueError(f"last status {status!r} is not one of {sorted(LAST_STATUSES)}")
    if not seed.containers:
        raise ValueError("a task has at least one container")
    if seed.cpu_architecture is not None and seed.cpu_architecture not in CPU_ARCHITECTURES:
        raise ValueError(f"cpu_architecture {seed.cpu_architecture!r} is not one of {sorted(CPU_ARCHITECTURES)}")


def _task_filter_value(task: _Task, name: str) -> str | None:
    if name == "serviceName":
        return task.seed.service
    if name == "family":
        return task.seed.family
    if name == "launchType":
        return task.seed.launch_type
    return task.started_by


def _task_id(ref: str) -> str:
    """The id in a task ARN (`task/CLUSTER/ID`, or the older `task/ID`), or the id itself."""
    return ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref


def _task_in_cluster(ref: str, cluster: _Cluster) -> bool:
    if not ref.startswith("arn:"):
        return True
    prefix = f"arn:aws:ecs:{cluster.region}:{cluster.account}:task/"
    rest = ref[len(prefix) :] if ref.startswith(prefix) else None
    return rest is not None and (rest.count("/") == 0 or rest.split("/", 1)[0] == cluster.name)


def _owner(ref: str, account: str | None) -> str:
    """The account a seeding call means: the one its ARN names, else the one given, else the default."""
    parts = ref.split(":")
    if ref.startswith("arn:") and len(parts) > 4 and parts[4]:
        return parts[4]
    return account or ACCOUNT_ID


def _cluster_arn_of(account: str, region: str, ref: str) -> str:
    return ref if ref.startswith("arn:") else f"arn:aws:ecs:{region}:{account}:cluster/{ref}"


def _max_results(params: dict[str, Any]) -> int:
    value = params.get("maxResults")
    if value is None:
        return MAX_RESULTS
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_RESULTS:
        raise SimError("InvalidParameterException", f"maxResults must be between 1 and {MAX_RESULTS}.")
    return value


def _scope_hash(scope: tuple[str, ...]) -> str:
    return hashlib.sha256("\0".join(scope).encode()).hexdigest()[:16]


def _encode_token(scope: tuple[str, ...], position: int) -> str:
    # Not JSON inside: botocore's paginator takes a base64 JSON object for a token of its own making.
    return base64.urlsafe_b64encode(f"ecs1:{_scope_hash(scope)}:{position}".encode()).decode()


def _decode_token(token: Any, scope: tuple[str, ...]) -> int:
    """The position a token carries (0 without one); a token from another query, or none of ours, is refused."""
    if token is None:
        return 0
    try:
        version, scope_hash, position = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if version != "ecs1" or scope_hash != _scope_hash(scope) or not position.isdigit():
            raise ValueError(token)
        return int(position)
    except (ValueError, TypeError, AttributeError, binascii.Error):
        raise SimError("InvalidParameterException", "Invalid nextToken.") from None


def _deployment_id(cluster_arn: str, service: str) -> str:
    return f"ecs-svc/{int(_hex(cluster_arn, service, 16), 16) % 10**19:019d}"


def _hex(seed: str, purpose: str, length: int) -> str:
    """Stable pseudo-random hex derived from a task id, so that repeated describes agree."""
    return hashlib.sha256(f"{seed}/{purpose}".encode()).hexdigest()[:length]


def _private_ip(task_id: str) -> str:
    digest = hashlib.sha256(task_id.encode()).digest()
    return f"10.0.{digest[0]}.{max(digest[1], 4)}"


def _mac(task_id: str) -> str:
    digest = hashlib.sha256(f"{task_id}/mac".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))
