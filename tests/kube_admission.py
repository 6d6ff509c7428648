"""What a Kubernetes API server (and, for a pod, the kubelet) would refuse in a manifest, for the deployment kit's
tests: `refusals(document)` is empty for an object a cluster accepts.

Two layers, as a cluster has them:
- Shape: the official client's models (generated from Kubernetes' OpenAPI document), validated strictly: an
  unknown or misspelt field, a wrong type or a missing required field is refused, as `kubectl apply`'s
  server-side field validation refuses it. Only the (apiVersion, kind) pairs served today are known; a removed
  version (batch/v1beta1 CronJob) is refused.
- The API server's own validation, which no schema carries, for what the kit uses: object names, label and
  annotation keys and values, a CronJob's name length, schedule and concurrency policy, a Job pod's restart
  policy, container and volume names, mounts of volumes that exist, environment variable names, quantities,
  PVC access modes, RBAC subjects; and the kubelet's refusal to run a container as root under runAsNonRoot.
Rules and limits from the Kubernetes documentation ("Object Names and IDs", "Labels and Selectors",
"CronJob", "Jobs", "Resource Management for Pods and Containers").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pydantic
from kubernetes import client

# (apiVersion, kind) -> the client's model, and whether the object lives in a namespace.
SERVED: dict[tuple[str, str], tuple[type[Any], bool]] = {
    ("v1", "Namespace"): (client.V1Namespace, False),
    ("v1", "ServiceAccount"): (client.V1ServiceAccount, True),
    ("v1", "ConfigMap"): (client.V1ConfigMap, True),
    ("v1", "Secret"): (client.V1Secret, True),
    ("v1", "PersistentVolumeClaim"): (client.V1PersistentVolumeClaim, True),
    ("batch/v1", "CronJob"): (client.V1CronJob, True),
    ("batch/v1", "Job"): (client.V1Job, True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): (client.V1ClusterRole, False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (client.V1ClusterRoleBinding, False),
    ("rbac.authorization.k8s.io/v1", "Role"): (client.V1Role, True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (client.V1RoleBinding, True),
}

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)(([eE][+-]?\d+)|[munkMGTPE]|[KMGTPE]i)?")
CRON_FIELD = re.compile(r"[\d*?/,\-A-Za-z]+")
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
CRONJOB_NAME_MAX = 52  # the controller appends 11 characters to make each Job's name, itself at most 63
ACCESS_MODES = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}
CONCURRENCY_POLICIES = {"Allow", "Forbid", "Replace"}
JOB_RESTART_POLICIES = {"OnFailure", "Never"}
RBAC_SUBJECT_KINDS = {"ServiceAccount", "User", "Group"}


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and DNS_LABEL.fullmatch(value) is not None


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and DNS_SUBDOMAIN.fullmatch(value) is not None


def is_qualified_name(key: str) -> bool:
    """A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of at most 63."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not is_dns_subdomain(prefix):
        return False
    return len(name) <= 63 and QUALIFIED_NAME.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and QUALIFIED_NAME.fullmatch(value) is not None)


def is_schedule(schedule: str) -> bool:
    if schedule.startswith("@"):
        return schedule in CRON_MACROS
    fields = schedule.split()
    return len(fields) == 5 and all(CRON_FIELD.fullmatch(f) for f in fields)


def refusals(document: Any) -> list[str]:
    """Why a cluster would refuse this object; empty when it would accept it."""
    if not isinstance(document, dict):
        return [f"not an object: {document!r}"]
    key = (document.get("apiVersion"), document.get("kind"))
    if key not in SERVED:
        return [f"no such resource is served: apiVersion {key[0]!r}, kind {key[1]!r}"]
    model, namespaced = SERVED[key]  # type: ignore[index]
    try:
        model.model_validate(document, strict=True, by_alias=True, by_name=False)
    except pydantic.ValidationError as invalid:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()]
    return list(_server_rules(document, namespaced))


def _server_rules(document: dict[str, Any], namespaced: bool) -> Iterable[str]:
    kind = document["kind"]
    metadata = document.get("metadata") or {}
    name = metadata.get("name", "")
    if kind.startswith(("Cluster", "Role")):
        # RBAC names are path segments.
        if not name or name in (".", "..") or "/" in name or "%" in name:
            yield f"metadata.name: {name!r} is not a valid path segment name"
    elif kind == "Namespace":
        if not is_dns_label(name):
            yield f"metadata.name: {name!r} is not a DNS-1123 label"
    elif not is_dns_subdomain(name):
        yield f"metadata.name: {name!r} is not a DNS-1123 subdomain"
    if namespaced and "namespace" in metadata and not is_dns_label(metadata["namespace"]):
        yield f"metadata.namespace: {metadata['namespace']!r} is not a DNS-1123 label"
    if not namespaced and "namespace" in metadata:
        yield f"metadata.namespace: a {kind} is not namespaced"
    yield from _metadata_rules("metadata", metadata)
    if kind == "CronJob":
        yield from _cronjob_rules(document)
    if kind == "Job":
        yield from _pod_template_rules("spec.template", document["spec"]["template"], job=True)
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        for index, subject in enumerate(document.get("subjects") or []):
            where = f"subjects[{index}]"
            if subject["kind"] not in RBAC_SUBJECT_KINDS:
                yield f"{where}.kind: {subject['kind']!r} is not one of {sorted(RBAC_SUBJECT_KINDS)}"
            if subject["kind"] == "ServiceAccount" and not subject.get("namespace"):
                yield f"{where}.namespace: required for a ServiceAccount"
    if kind == "PersistentVolumeClaim":
        spec = document.get("spec") or {}
        modes = spec.get("accessModes") or []
        if not modes or not set(modes) <= ACCESS_MODES:
            yield f"spec.accessModes: {modes!r} must be some of {sorted(ACCESS_MODES)}"
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None or not QUANTITY.fullmatch(storage):
            yield f"spec.resources.requests.storage: {storage!r} is required and must be a quantity"


def _metadata_rules(where: str, metadata: dict[str, Any]) -> Iterable[str]:
    for label, value in (metadata.get("labels") or {}).items():
        if not is_qualified_name(label):
            yield f"{where}.labels: {label!r} is not a valid label key"
        if not is_label_value(value):
            yield f"{where}.labels[{label}]: {value!r} is not a valid label value"
    annotations = metadata.get("annotations") or {}
    for annotation in annotations:
        if not is_qualified_name(annotation):
            yield f"{where}.annotations: {annotation!r} is not a valid annotation key"
    if sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
        yield f"{where}.annotations: more than 256 KiB"


def _cronjob_rules(document: dict[str, Any]) -> Iterable[str]:
    name = document["metadata"].get("name", "")
    if len(name) > CRONJOB_NAME_MAX:
        yield f"metadata.name: {name!r} is longer than {CRONJOB_NAME_MAX} characters"
    spec = document["spec"]
    if not is_schedule(spec["schedule"]):
        yield f"spec.schedule: {spec['schedule']!r} is not a cron schedule"
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in CONCURRENCY_POLICIES:
        yield f"spec.concurrencyPolicy: {policy!r} is not one of {sorted(CONCURRENCY_POLICIES)}"
    job = spec["jobTemplate"]
    yield from _metadata_rules("spec.jobTemplate.metadata", job.get("metadata") or {})
    yield from _pod_template_rules("spec.jobTemplate.spec.template", job["spec"]["template"], job=True)


def _pod_template_rules(where: str, template: dict[str, Any], job: bool) -> Iterable[str]:
    yield from _metadata_rules(f"{where}.metadata", template.get("metadata") or {})
    pod = template["spec"]
    if job and pod.get("restartPolicy") not in JOB_RESTART_POLICIES:
        yield f"{where}.spec.restartPolicy: a Job's pods need one of {sorted(JOB_RESTART_POLICIES)}"
    account = pod.get("serviceAccountName")
    if account is not None and not is_dns_subdomain(account):
        yield f"{where}.spec.serviceAccountName: {account!r} is not a DNS-1123 subdomain"
    volumes = [v["name"] for v in pod.get("volumes") or []]
    for volume in volumes:
        if not is_dns_label(volume):
            yield f"{where}.spec.volumes: {volume!r} is not a DNS-1123 label"
    if len(set(volumes)) != len(volumes):
        yield f"{where}.spec.volumes: duplicate names"
    pod_context = pod.get("securityContext") or {}
    containers = [*(pod.get("initContainers") or []), *pod["containers"]]
    names = [c["name"] for c in containers]
    if len(set(names)) != len(names):
        yield f"{where}.spec.containers: duplicate names"
    for container in containers:
        at = f"{where}.spec.containers[{container['name']}]"
        if not is_dns_label(container["name"]):
            yield f"{at}.name: {container['name']!r} is not a DNS-1123 label"
        if not container.get("image"):
            yield f"{at}.image: required"
        for env in container.get("env") or []:
            if not ENV_NAME.fullmatch(env["name"]):
                yield f"{at}.env: {env['name']!r} is not a valid environment variable name"
        mounts = container.get("volumeMounts") or []
        for mount in mounts:
            if mount["name"] not in volumes:
                yield f"{at}.volumeMounts: {mount['name']!r} is not a volume of the pod"
        paths = [m["mountPath"] for m in mounts]
        if len(set(paths)) != len(paths):
            yield f"{at}.volumeMounts: a mountPath is used twice"
        for section, quantities in (container.get("resources") or {}).items():
            if section in ("requests", "limits"):
                for resource, amount in quantities.items():
                    if not QUANTITY.fullmatch(amount):
                        yield f"{at}.resources.{section}.{resource}: {amount!r} is not a quantity"
        context = {**pod_context, **(container.get("securityContext") or {})}
        if context.get("runAsNonRoot") and context.get("runAsUser") == 0:
            yield f"{at}: runAsNonRoot with runAsUser 0 (the kubelet refuses to start it)"
