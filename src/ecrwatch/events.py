"""Event mode: one EventBridge "Inspector2 Finding" event -> the findings to check against what runs.

Pure: no I/O, no AWS calls. The event is the source of the finding (Inspector may not list a finding that was
just created yet), so the findings stage is skipped and the pipeline looks only at the event's images.

The event is the one AWS documents (source `aws.inspector2`, detail-type `Inspector2 Finding`, `detail` an
Inspector2 Finding), with what the documented examples show that the API does not:

- `detail.resources[].region` and `.partition` may be "N/A" (the ECR user guide's example): the region then
  comes from the resource's ARN (`arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME/sha256:...`, any
  partition), else from the event's own `region`.
- timestamps are text in several forms ("Wed Sep 04 16:55:38.411 UTC 2024", "Dec 3, 2021, 6:02:30 PM",
  RFC 3339); one that cannot be read is left unknown, not an error.

Every resource of the event is read. Resources that are not ECR container images are skipped; an event with
none, or for a finding that is not ACTIVE (CLOSED, SUPPRESSED), has nothing to check and says why. Anything
else that does not fit is an EventError naming the problem (exit 2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ecrwatch.correlate import ecr_key, platforms_run
from ecrwatch.errors import UsageError
from ecrwatch.findings import parse_finding
from ecrwatch.images import is_digest
from ecrwatch.models import EcrImageKey, Finding, Inventory, ResolvedImage, ScannedImage, Workload
from ecrwatch.regions import REGION_PATTERN

__all__ = [
    "ECR_IMAGE",
    "EVENT_DETAIL_TYPE",
    "EVENT_SOURCE",
    "EventError",
    "EventFindings",
    "EventScope",
    "parse_event",
    "parse_event_text",
    "parse_event_time",
]

EVENT_SOURCE = "aws.inspector2"
EVENT_DETAIL_TYPE = "Inspector2 Finding"
ECR_IMAGE = "AWS_ECR_CONTAINER_IMAGE"

_REGION = re.compile(f"^{REGION_PATTERN}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_IMAGE_ARN = re.compile(
    rf"^arn:(?P<partition>aws(?:-[a-z]+)*):ecr:(?P<region>{REGION_PATTERN}):(?P<account>\d{{12}}):"
    r"repository/(?P<repository>.+)/(?P<digest>sha256:[0-9a-f]{64})$"
)
_TIME_FIELDS = ("firstObservedAt", "lastObservedAt", "updatedAt")
# The text forms of timestamps in Inspector's documented events, all UTC.
_TIME_FORMATS = ("%a %b %d %H:%M:%S.%f UTC %Y", "%a %b %d %H:%M:%S UTC %Y", "%b %d, %Y, %I:%M:%S %p")


class EventError(UsageError):
    """An event ecrwatch cannot read (exit 2); the message names the event and the problem."""


@dataclass(frozen=True)
class EventFindings:
    """What an event asks to check: its finding, once per ECR image resource. `ignored` says why there is
    nothing to check (then `findings` is empty)."""

    finding_arn: str
    status: str
    findings: tuple[Finding, ...]
    ignored: str | None = None
    skipped_types: tuple[str, ...] = ()  # resource types that are not ECR images


def parse_event_time(value: Any) -> datetime | None:
    """An event timestamp in any documented form, as an aware UTC datetime; None where it cannot be read."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def parse_event_text(text: str, name: str) -> EventFindings:
    """An event as JSON text (a file's or stdin's content); `name` says where it came from, for messages."""
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise EventError(
            f"{name} is not JSON: {exc}", "pass one EventBridge event, as the Lambda or `aws events` sees it"
        ) from None
    return parse_event(event, name)


def parse_event(event: Any, name: str = "the event") -> EventFindings:
    """An EventBridge event, already decoded (a Lambda's `event`)."""
    if not isinstance(event, dict):
        raise EventError(f"{name} is not a JSON object", "pass one EventBridge event object")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != EVENT_SOURCE or detail_type != EVENT_DETAIL_TYPE:
        raise EventError(
            f"{name} is not an Amazon Inspector finding event (source {source!r}, detail-type {detail_type!r})",
            f"ecrwatch reads events with source {EVENT_SOURCE!r} and detail-type {EVENT_DETAIL_TYPE!r}; "
            "check the EventBridge rule's pattern",
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise EventError(f"{name} has no `detail` object (the finding)")
    arn, status = detail.get("findingArn"), detail.get("status")
    if not isinstance(arn, str) or not arn:
        raise EventError(f"{name}: detail.findingArn is missing")
    if not isinstance(status, str) or not status:
        raise EventError(f"{name}: detail.status of finding {arn} is missing")
    resources = detail.get("resources")
    if not isinstance(resources, list) or not resources:
        raise EventError(f"{name}: finding {arn} lists no resources (detail.resources)")

    images: list[tuple[dict[str, Any], ScannedImage]] = []
    skipped: list[str] = []
    for index, resource in enumerate(resources, 1):
        if not isinstance(resource, dict):
            raise EventError(f"{name}: detail.resources[{index}] of finding {arn} is not an object")
        if resource.get("type") != ECR_IMAGE:
            skipped.append(str(resource.get("type")))
            continue
        images.append(_ecr_resource(resource, event, f"{name}: detail.resources[{index}] of finding {arn}"))

    kinds = ", ".join(dict.fromkeys(skipped))
    if status != "ACTIVE":
        return EventFindings(arn, status, (), f"finding {arn} is {status}: only ACTIVE findings are checked")
    if not images:
        return EventFindings(
            arn, status, (), f"finding {arn} is about {kinds}, not an Amazon ECR container image", tuple(skipped)
        )
    findings = tuple(_finding(detail, resource, image, name) for resource, image in images)
    return EventFindings(arn, status, findings, None, tuple(skipped))


def _ecr_resource(resource: dict[str, Any], event: dict[str, Any], where: str) -> tuple[dict[str, Any], ScannedImage]:
    container = resource.get("details")
    details = container.get("awsEcrContainerImage") if isinstance(container, dict) else None
    if not isinstance(details, dict):
        details = {}
    arn = _IMAGE_ARN.match(str(resource.get("id") or ""))
    digest = details.get("imageHash") or (arn.group("digest") if arn else None)
    repository = details.get("repositoryName") or (arn.group("repository") if arn else None)
    account = details.get("registry") or (arn.group("account") if arn else None)
    # The resource's own region, else its ARN's, else the event's: the documented examples show "N/A".
    candidates = (resource.get("region"), arn.group("region") if arn else None, event.get("region"))
    region = next((r for r in candidates if _is_region(r)), None)
    if not isinstance(digest, str) or not is_digest(digest):
        raise EventError(f"{where}: imageHash {digest!r} is not a sha256 digest")
    if not isinstance(repository, str) or not repository:
        raise EventError(f"{where}: the repository name is missing (awsEcrContainerImage.repositoryName)")
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise EventError(f"{where}: registry {account!r} is not an AWS account id")
    if region is None:
        raise EventError(f"{where}: no region in the resource, its ARN or the event")
    normalised = dict(details, imageHash=digest, repositoryName=repository, registry=account)
    return {**resource, "region": region, "details": {"awsEcrContainerImage": normalised}}, ScannedImage(
        account, str(region), repository, digest
    )


def _is_region(value: Any) -> bool:
    return isinstance(value, str) and _REGION.match(value) is not None


def _finding(detail: dict[str, Any], resource: dict[str, Any], image: ScannedImage, name: str) -> Finding:
    raw: dict[str, Any] = dict(detail, resources=[resource])
    for key in _TIME_FIELDS:
        raw[key] = parse_event_time(detail.get(key))
    try:
        finding = parse_finding(raw)
    except (AttributeError, TypeError, ValueError) as exc:
        raise EventError(f"{name}: finding {detail.get('findingArn')} is malformed ({exc})") from None
    if finding is None or finding.image != image:  # cannot happen with the normalised resource; be sure
        raise EventError(f"{name}: finding {detail.get('findingArn')} names no readable ECR image")
    return finding


# --- restricting a run to the event's images -----------------------------------------------------------


@dataclass(frozen=True)
class EventScope:
    """The scanned images an event is about. A run in event mode resolves only their repositories' images
    and keeps only the workloads that run one of them (or whose digest cannot be told: they might)."""

    images: frozenset[ScannedImage]
    repositories: frozenset[tuple[str, str, str]]  # (account, region, repository)

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> EventScope:
        images = frozenset(f.image for f in findings)
        return cls(images, frozenset((i.account, i.region, i.repository) for i in images))

    def wants(self, key: EcrImageKey) -> bool:
        """Whether an image key is in one of the event's repositories (so worth asking ECR about)."""
        return (key.account, key.region, key.repository) in self.repositories

    def restrict(
        self, inventory: Inventory, resolved: Mapping[EcrImageKey, ResolvedImage]
    ) -> tuple[Inventory, dict[EcrImageKey, ResolvedImage]]:
        """The workloads that run one of the event's images, and what ECR said about their images, an index
        narrowed to the event's platform images (its other platforms are not this event's business). The
        clusters and errors stay whole: they say what was read."""
        kept: dict[EcrImageKey, ResolvedImage] = {}
        for key, image in resolved.items():
            narrowed = self._narrow(key, image)
            if narrowed is not None:
                kept[key] = narrowed
        workloads = tuple(
            w
            for w in inventory.workloads
            if (k := ecr_key(w)) is not None and k in kept and self._runs_ours(w, resolved[k], kept[k])
        )
        return replace(inventory, workloads=workloads), kept

    @staticmethod
    def _runs_ours(workload: Workload, image: ResolvedImage, narrowed: ResolvedImage) -> bool:
        """Whether the workload runs one of the event's platform images of an index: judged on the whole index,
        as the join judges it (an amd64 task does not run the event's arm64 image; one of unknown
        architecture may)."""
        if image.kind != "index":
            return True
        ours = {child.digest for child in narrowed.children}
        return any(child.digest in ours for child in platforms_run(image.children, workload.architecture))

    def _narrow(self, key: EcrImageKey, image: ResolvedImage) -> ResolvedImage | None:
        def ours(digest: str | None) -> bool:
            return digest is not None and ScannedImage(key.account, key.region, key.repository, digest) in self.images

        if not self.wants(key) or image.kind == "missing":
            return None
        if image.kind == "index":
            children = tuple(c for c in image.children if ours(c.digest))
            return replace(image, children=children) if children else None
        if image.kind == "manifest":
            return image if ours(image.digest) else None
        # ECR could not be asked: the digest the workload reports, if any, is matched as itself.
        return image if image.digest is None or ours(image.digest) else None
