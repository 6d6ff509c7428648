"""The state between unattended runs (`check --state PATH`): which exposures were seen, so that a run can say
which of its exposures are new and which of the last run's are gone.

An exposure in the state is keyed by (finding ARN, scanned digest, workload identity). The workload identity
is what a person calls the workload, and is stable across the churn of tasks and pods:

- ECS: platform/account/region/cluster/service/NAME/container for a service's task: every deployment
  replaces the tasks (new task ARNs), and a new task running the same digest is not a new exposure. A
  standalone task is named by its group (group/family:NAME/container unless RunTask was given another):
  the next run of a scheduled task, an EventBridge rule's or a cron job's, is the same workload, not a new
  one to alert about again. Only a task that reports no group stands for itself (its task id).
- Kubernetes: platform/account/region/cluster/namespace/OwnerKind/owner/container, the owner being the top
  controller (a Deployment, not its ReplicaSet; a CronJob, not its Jobs), so rollouts and rescheduling do
  not make a new workload; a bare pod stands for itself (namespace/Pod/name).

So two tasks of one service make one key, and a service moving to a fixed digest resolves its key while
another service still running the old digest keeps its own.

Each exposure keeps enough to be listed in `resolved` later (vulnerability, severity, the image, the last
seen container of each workload) and the source each workload came from (`ecs:REGION/CLUSTER`,
`eks:REGION/CLUSTER`, `kube-context:NAME`), so that a run that could not read a source (or Inspector in
the image's region) leaves that source's exposures as they were: an incomplete run never turns into good
news. See `diff_state` for the rules.

The file: JSON, `"format": "ecrwatch-state/1"`, written atomically (temporary file, fsync, rename, fsync of
the folder) while holding a lock file beside it (`PATH.lock`, fcntl.flock). A file that is not JSON, is
another program's, or is damaged is refused with an error naming it (exit 2) and never overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from ecrwatch.check import CheckRequest, CheckRun
from ecrwatch.correlate import ecr_key, is_reported, platforms_run, scan_status
from ecrwatch.errors import EcrwatchError, UsageError
from ecrwatch.images import ImageReferenceError, parse_image_reference
from ecrwatch.models import (
    SEVERITIES,
    ContainerType,
    Coverage,
    EcrImageKey,
    Exposure,
    Filters,
    Finding,
    ImageInfo,
    Owner,
    Platform,
    Report,
    ResolvedExposure,
    ResolvedImage,
    ResolvedReason,
    ScannedImage,
    Workload,
    severity_rank,
)
from ecrwatch.output import write_atomically
from ecrwatch.report.json import image_to_dict, workload_to_dict

__all__ = [
    "FORMAT",
    "RunScope",
    "SeenExposure",
    "SeenImage",
    "SeenWorkload",
    "State",
    "StateBusyError",
    "StateDiff",
    "StateFileError",
    "StateLock",
    "check_state_path",
    "diff_state",
    "load_state",
    "mark_report",
    "only_new",
    "parse_state",
    "render_state",
    "workload_identity",
    "workload_source",
    "write_state",
]

FORMAT = "ecrwatch-state/1"
_FORMAT_PREFIX = "ecrwatch-state/"
_PLATFORMS: frozenset[str] = frozenset(get_args(Platform))
_CONTAINER_TYPES: dict[str, ContainerType] = {t: t for t in get_args(ContainerType)}


class StateFileError(UsageError):
    """A state file that cannot be used (exit 2); it is left as it is."""


class StateBusyError(EcrwatchError):
    """Another run held the state file's lock for longer than we could wait (exit 3)."""


# --- identities --------------------------------------------------------------------------------------------


def workload_identity(workload: Workload) -> str:
    """The stable name of the workload a container belongs to (see the module's docstring)."""
    w = workload
    parts = [w.platform, w.account or "-", w.region or "-", w.cluster]
    if w.platform == "ecs":
        if w.service:
            parts += ["service", w.service]
        elif w.task_group:
            parts += ["group", w.task_group]
        else:
            parts += ["task", (w.task_arn or "-").rsplit("/", 1)[-1]]
    else:
        namespace = w.namespace or "-"
        parts += [namespace, w.owner.kind, w.owner.name] if w.owner else [namespace, "Pod", w.pod or "-"]
    parts.append(w.container)
    return "/".join(parts)


def workload_source(workload: Workload) -> str:
    """The source a workload was read from, spelled as `errors[].source` spells it."""
    if workload.platform == "kubernetes":
        return f"kube-context:{workload.cluster}"
    return f"{workload.platform}:{workload.region}/{workload.cluster}"


def _scanned(image: ImageInfo) -> ScannedImage | None:
    if image.registry and image.region and image.digest:
        return ScannedImage(image.registry, image.region, image.repository, image.digest)
    return None


# --- the state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenWorkload:
    source: str
    workload: Workload  # the last container seen of this workload running the image


@dataclass(frozen=True)
class SeenImage:
    image: ImageInfo
    workloads: Mapping[str, SeenWorkload]  # by workload identity


@dataclass(frozen=True)
class SeenExposure:
    finding_arn: str
    image: ScannedImage
    vulnerability_id: str
    severity: str
    fix_available: str | None
    first_seen: str
    workloads: frozenset[str]  # identities

    def as_finding(self) -> Finding:
        """Enough of the finding to ask whether the current filters would report it."""
        return Finding(
            self.finding_arn,
            self.vulnerability_id,
            self.severity,
            "ACTIVE",
            self.image,
            fix_available=self.fix_available,
        )


ExposureKey = tuple[str, ScannedImage]  # (finding ARN, scanned digest)
_Verdict = Literal["no_longer_running", "filtered", "finding_closed", "no_longer_monitored", "carry"] | None


@dataclass(frozen=True)
class State:
    images: Mapping[ScannedImage, SeenImage] = field(default_factory=dict)
    exposures: Mapping[ExposureKey, SeenExposure] = field(default_factory=dict)
    written_at: str | None = None


# --- the file ----------------------------------------------------------------------------------------------


def check_state_path(path: Path) -> None:
    """Fail before any work (exit 2) when the state file could not be read or written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--state {path} is a directory", "name a file for ecrwatch to keep its state in")
    if not parent.is_dir():
        raise UsageError(f"--state {path}: folder {parent} does not exist", "create the folder or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--state {path}: folder {parent} is not writable", "choose a path you may write to")


def load_state(path: Path) -> State | None:
    """The state in `path`; None when there is no file yet (a first run: everything is new)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"state file {path} could not be read: {exc}", _HINT) from None
    return parse_state(text, str(path))


_HINT = "move the file aside (ecrwatch never overwrites it) or pass another --state path; a missing file starts afresh"


def parse_state(text: str, name: str) -> State:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"state file {name} is not valid JSON ({exc})", _HINT) from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), str):
        raise StateFileError(f'state file {name} is not an ecrwatch state file (it has no "format")', _HINT)
    found = data["format"]
    if found != FORMAT:
        if found.startswith(_FORMAT_PREFIX):
            raise StateFileError(
                f"state file {name} has format {found!r}, which this ecrwatch does not read (it reads {FORMAT!r})",
                "run the ecrwatch version that wrote it, or pass another --state path",
            )
        raise StateFileError(f"state file {name} is not an ecrwatch state file (format {found!r})", _HINT)
    try:
        return _read_state(data)
    except _Damaged as exc:
        raise StateFileError(f"state file {name} is damaged: {exc}", _HINT) from None


class _Damaged(Exception):
    pass


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
    if not isinstance(obj, dict):
        raise _Damaged(f"{where} is not an object")
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise _Damaged(f"{where}.{key} is missing or not a {getattr(kind, '__name__', 'value')}")
    return value


def _read_image(raw: Any, where: str) -> tuple[ScannedImage, ImageInfo]:
    tags = _get(raw, "tags", list, where, optional=True) or []
    if not all(isinstance(t, str) for t in tags):
        raise _Damaged(f"{where}.tags holds something other than text")
    info = ImageInfo(
        reference=_get(raw, "reference", str, where),
        repository=_get(raw, "repository", str, where),
        digest=_get(raw, "digest", str, where),
        registry=_get(raw, "registry", str, where),
        region=_get(raw, "region", str, where),
        tags=tuple(tags),
        platform=_get(raw, "platform", str, where, optional=True),
    )
    return ScannedImage(info.registry or "", info.region or "", info.repository, info.digest or ""), info


def _read_workload(raw: Any, where: str) -> Workload:
    def text(key: str) -> str | None:
        value: str | None = _get(raw, key, str, where, optional=True)
        return value

    platform = _get(raw, "platform", str, where)
    container_type = _CONTAINER_TYPES.get(text("container_type") or "app")
    if platform not in _PLATFORMS or container_type is None:
        raise _Damaged(f"{where} has platform {platform!r}, container type {text('container_type')!r}")
    reference = _get(raw, "image_reference", str, where)
    try:
        image = parse_image_reference(reference)
    except ImageReferenceError as exc:
        raise _Damaged(f"{where}.image_reference: {exc}") from None
    owner_raw = _get(raw, "owner", dict, where, optional=True)
    owner = Owner(_get(owner_raw, "kind", str, where), _get(owner_raw, "name", str, where)) if owner_raw else None
    return Workload(
        platform=platform,
        cluster=_get(raw, "cluster", str, where),
        container=_get(raw, "container", str, where),
        image_reference=reference,
        image=image,
        running_digest=text("running_digest"),
        account=text("account"),
        region=text("region"),
        container_type=container_type,
        task_arn=text("task_arn"),
        service=text("service"),
        launch_type=text("launch_type"),
        task_group=text("task_group"),
        namespace=text("namespace"),
        pod=text("pod"),
        owner=owner,
    )


def _workload_record(workload: Workload) -> dict[str, Any]:
    """A workload as the report writes it, and its ECS task group (state only: the report's schema has none)."""
    record = workload_to_dict(workload)
    if workload.task_group is not None:
        record["task_group"] = workload.task_group
    return record


def _read_state(data: dict[str, Any]) -> State:
    images: dict[ScannedImage, SeenImage] = {}
    by_reference: dict[str, ScannedImage] = {}
    for i, raw in enumerate(_get(data, "images", list, "the file")):
        where = f"images[{i}]"
        scanned, info = _read_image(_get(raw, "image", dict, where), f"{where}.image")
        workloads: dict[str, SeenWorkload] = {}
        for j, seen in enumerate(_get(raw, "workloads", list, where)):
            at = f"{where}.workloads[{j}]"
            workloads[_get(seen, "id", str, at)] = SeenWorkload(
                _get(seen, "source", str, at), _read_workload(_get(seen, "workload", dict, at), f"{at}.workload")
            )
        images[scanned] = SeenImage(info, workloads)
        by_reference[info.reference] = scanned

    exposures: dict[ExposureKey, SeenExposure] = {}
    for i, raw in enumerate(_get(data, "exposures", list, "the file")):
        where = f"exposures[{i}]"
        scanned_ref = by_reference.get(_get(raw, "image", str, where))
        if scanned_ref is None:
            raise _Damaged(f"{where}.image names no image of the file")
        ids = _get(raw, "workloads", list, where)
        unknown = [w for w in ids if not isinstance(w, str) or w not in images[scanned_ref].workloads]
        if unknown:
            raise _Damaged(f"{where}.workloads names workloads its image does not list: {unknown[:3]}")
        arn = _get(raw, "finding_arn", str, where)
        exposures[(arn, scanned_ref)] = SeenExposure(
            finding_arn=arn,
            image=scanned_ref,
            vulnerability_id=_get(raw, "vulnerability_id", str, where),
            severity=_get(raw, "severity", str, where),
            fix_available=_get(raw, "fix_available", str, where, optional=True),
            first_seen=_get(raw, "first_seen", str, where),
            workloads=frozenset(ids),
        )
    return State(images, exposures, _get(data, "written_at", str, "the file", optional=True))


def render_state(state: State, *, written_at: str, tool_version: str) -> str:
    """The state as the file holds it: sorted, so that an unchanged state makes the same bytes."""
    used: dict[ScannedImage, set[str]] = {}
    for exposure in state.exposures.values():
        used.setdefault(exposure.image, set()).update(exposure.workloads)
    images = []
    for scanned in sorted(used, key=lambda s: state.images[s].image.reference):
        seen = state.images[scanned]
        images.append(
            {
                "image": image_to_dict(seen.image),
                "workloads": [
                    {
                        "id": wid,
                        "source": seen.workloads[wid].source,
                        "workload": _workload_record(seen.workloads[wid].workload),
                    }
                    for wid in sorted(used[scanned])
                ],
            }
        )
    exposures = [
        {
            "finding_arn": e.finding_arn,
            "image": state.images[e.image].image.reference,
            "vulnerability_id": e.vulnerability_id,
            "severity": e.severity,
            "fix_available": e.fix_available,
            "first_seen": e.first_seen,
            "workloads": sorted(e.workloads),
        }
        for e in sorted(state.exposures.values(), key=lambda e: (e.finding_arn, state.images[e.image].image.reference))
    ]
    document = {
        "format": FORMAT,
        "written_at": written_at,
        "tool_version": tool_version,
        "images": images,
        "exposures": exposures,
    }
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def write_state(path: Path, state: State, *, written_at: str, tool_version: str) -> None:
    """Atomically replace the state file (raises OSError); the folder is synced so the rename survives a crash."""
    write_atomically(path, render_state(state, written_at=written_at, tool_version=tool_version))
    folder = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class StateLock:
    """An exclusive lock on `PATH.lock` beside the state file, waited for at most `wait` seconds.

    flock locks belong to the open file, so they are released when the process ends, however it ends; the
    lock file itself is never removed (removing it would let two runs lock two different files)."""

    def __init__(self, path: Path, wait: float, *, poll: float = 0.1) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._state = path
        self._wait = wait
        self._poll = poll
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UsageError(f"the lock file {self.path} could not be opened: {exc.strerror}") from None
        deadline = time.monotonic() + self._wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise UsageError(f"the lock file {self.path} could not be locked: {exc.strerror}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.close(fd)
                raise StateBusyError(
                    f"another ecrwatch run is using the state file {self._state}: its lock {self.path} was held "
                    f"for the {self._wait:g} s this run waits; nothing was read or written",
                    "runs overlap: space the schedule out, or raise --state-wait",
                )
            time.sleep(min(self._poll, remaining))
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


# --- what this run could judge -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunScope:
    """What a run read, so that the diff judges only exposures it has evidence about.

    `read`: cluster sources read completely. `unread`: sources named by an error, a cluster's or a whole
    region's (`ecs:us-east-1`). `listed`: `PLATFORM:REGION` whose every cluster was listed (a cluster of
    that region missing from the run is gone). `inspector_unread`: regions whose Inspector failed.
    `findings`: in event mode, the only finding ARNs the run looked at (None: all).
    """

    read: frozenset[str]
    unread: frozenset[str]
    listed: frozenset[str]
    inspector_unread: frozenset[str]
    filters: Filters
    findings: frozenset[str] | None = None

    @classmethod
    def of(cls, report: Report, request: CheckRequest) -> RunScope:
        errors = {e.source for e in report.errors}
        unread = errors | {_cluster_source(c.platform, c.region, c.name) for c in report.scope.clusters if not c.ok}
        read = {_cluster_source(c.platform, c.region, c.name) for c in report.scope.clusters if c.ok} - unread
        listed: set[str] = set()
        for platform, on, named in (
            ("ecs", request.ecs, request.ecs_clusters),
            ("eks", request.eks, request.eks_clusters),
        ):
            if on and not named:
                listed.update(f"{platform}:{region}" for region in request.regions)
        inspector = {s.split(":", 1)[1] for s in errors if s.startswith("inspector2:")}
        events = frozenset(f.finding_arn for f in request.event_findings) if request.event_findings else None
        return cls(frozenset(read), frozenset(unread), frozenset(listed), frozenset(inspector), request.filters, events)

    def judges(self, source: str) -> bool:
        """Whether this run read `source` (or knows that it is gone)."""
        region_wide = source.split("/", 1)[0]
        if source in self.unread or region_wide in self.unread:
            return False
        return source in self.read or (region_wide in self.listed and not source.startswith("kube-context:"))

    @property
    def filters_hide(self) -> bool:
        """Whether the filters can hide an ACTIVE finding (then its absence does not prove it closed)."""
        f = self.filters
        return bool(f.fixable_only or (f.min_severity and f.min_severity.upper() != SEVERITIES[-1]))


def _cluster_source(platform: str, region: str | None, name: str) -> str:
    return f"kube-context:{name}" if platform == "kubernetes" else f"{platform}:{region}/{name}"


@dataclass
class _Running:
    """The scanned digests a workload runs now, and whether that is all of them (False where some container's
    digest could not be determined: then the workload may still run anything)."""

    digests: set[ScannedImage] = field(default_factory=set)
    complete: bool = True


def _running(workloads: Iterable[Workload], resolved: Mapping[EcrImageKey, ResolvedImage]) -> dict[str, _Running]:
    out: dict[str, _Running] = {}
    for workload in workloads:
        wid = workload_identity(workload)
        key = ecr_key(workload)
        if key is None:
            out.setdefault(wid, _Running())
            continue
        image = resolved.get(key)
        # Of an index, only the platform image the workload runs, as the join charges it (its architecture).
        scanned = [c.digest for c in platforms_run(image.scanned_digests, workload.architecture)] if image else []
        known = image is not None and image.kind in ("manifest", "index")
        if not known and key.digest:
            scanned.append(key.digest)  # matched as itself, as the join does
        now = out.setdefault(wid, _Running())
        now.digests.update(ScannedImage(key.account, key.region, key.repository, d) for d in scanned)
        now.complete = now.complete and known
    return out


# --- the diff ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateDiff:
    state: State  # what to write
    new: frozenset[ExposureKey]  # reported exposures with a workload the previous state did not have
    resolved: tuple[ResolvedExposure, ...]


def diff_state(previous: State | None, run: CheckRun, scope: RunScope, *, now: str) -> StateDiff:
    """Compare a run with the previous state.

    A previous exposure (finding, digest, workload) the run does not report is judged only where the run has
    evidence: the workload's source was read (or its cluster is gone from a full listing), in event mode the
    finding is the event's, and where the workload still runs the digest, Inspector was read in the image's
    region. Judged, it is resolved: `no_longer_running` (the workload runs no container of that digest),
    `filtered` (the current filters would hide it), `no_longer_monitored` (it runs the digest and Inspector's
    coverage says Inspector no longer monitors it: the finding went with the monitoring, not with a fix),
    `finding_closed` (it runs the digest, Inspector still monitors it, was asked for its ACTIVE findings and
    this is not one) or None (the filters could have hidden it, or Inspector has no coverage record or scan
    status for the digest any more, so the run cannot tell). Not judged, it is carried into the new state as it
    was and not listed.
    """
    previous = previous or State()
    report = run.report
    entries = {_scanned(e.image): e for e in report.images}
    images: dict[ScannedImage, SeenImage] = {}
    exposures: dict[ExposureKey, SeenExposure] = {}
    new: set[ExposureKey] = set()
    for exposure in report.exposures:
        key: ExposureKey = (exposure.finding.finding_arn, exposure.finding.image)
        entry = entries.get(exposure.finding.image)
        if entry is None:
            continue
        seen = images.get(key[1])
        if seen is None:
            workloads = {
                workload_identity(m.workload): SeenWorkload(workload_source(m.workload), m.workload)
                for m in entry.workloads
            }
            seen = images[key[1]] = SeenImage(entry.image, workloads)
        before = previous.exposures.get(key)
        if before is None or not before.workloads >= seen.workloads.keys():
            new.add(key)
        exposures[key] = _seen(exposure, frozenset(seen.workloads), before.first_seen if before else now)

    running = _running(run.inventory.workloads, run.resolved)
    # An exposure set aside by an ignore rule or VEX statement is still there, only not reported: never
    # resolved, and kept as it was, so that it is not new again when the rule expires.
    accepted = {(s.exposure.finding.finding_arn, s.exposure.finding.image) for s in report.suppressed or ()}
    gone: dict[tuple[ExposureKey, ResolvedReason | None], list[str]] = {}
    for key, before in previous.exposures.items():
        now_seen = exposures.get(key)
        for wid in before.workloads - (now_seen.workloads if now_seen else frozenset()):
            source = previous.images[key[1]].workloads[wid].source
            if key in accepted:
                _carry(previous, key, wid, exposures, images)
                continue
            verdict = _judge(before, source, running.get(wid), scope, run.coverage.get(key[1]))
            if verdict == "carry":
                _carry(previous, key, wid, exposures, images)
            else:
                gone.setdefault((key, verdict), []).append(wid)

    resolved = [
        ResolvedExposure(
            finding_arn=key[0],
            vulnerability_id=previous.exposures[key].vulnerability_id,
            severity=previous.exposures[key].severity,
            image=previous.images[key[1]].image,
            workloads=tuple(previous.images[key[1]].workloads[w].workload for w in sorted(wids)),
            reason=reason,
        )
        for (key, reason), wids in gone.items()
    ]
    resolved.sort(key=lambda r: (severity_rank(r.severity), r.vulnerability_id, r.image.reference, r.finding_arn))
    return StateDiff(State(images, exposures, now), frozenset(new), tuple(resolved))


def _seen(exposure: Exposure, workloads: frozenset[str], first_seen: str) -> SeenExposure:
    f = exposure.finding
    return SeenExposure(f.finding_arn, f.image, f.vulnerability_id, f.severity, f.fix_available, first_seen, workloads)


def _judge(
    before: SeenExposure, source: str, running: _Running | None, scope: RunScope, coverage: Coverage | None
) -> _Verdict:
    if scope.findings is not None and before.finding_arn not in scope.findings:
        return "carry"  # event mode looked at another finding only
    if not scope.judges(source):
        return "carry"
    if running is None or before.image not in running.digests:
        return "no_longer_running" if running is None or running.complete else "carry"
    if before.image.region in scope.inspector_unread:
        return "carry"
    if scope.findings is not None or not is_reported(before.as_finding(), scope.filters):
        return "filtered"  # in event mode the finding is ACTIVE: only the filters can hide it
    if scope.filters_hide or coverage is None or coverage.status_reason is None:
        return None  # hidden by the filters, or Inspector no longer says how it watches the image
    if not scan_status(coverage).monitored or coverage.status_reason == _REVIVING:
        return "no_longer_monitored"
    return "finding_closed"


# Inspector is resuming the monitoring of an image whose scan eligibility had expired: a finding that went
# away meanwhile went with the lapse, not with a fix (the revival scan has not run yet).
_REVIVING = "PENDING_REVIVAL_SCAN"


def _carry(
    previous: State,
    key: ExposureKey,
    wid: str,
    exposures: dict[ExposureKey, SeenExposure],
    images: dict[ScannedImage, SeenImage],
) -> None:
    before = previous.exposures[key]
    current = exposures.get(key)
    exposures[key] = replace(current or before, workloads=(current.workloads if current else frozenset()) | {wid})
    seen = images.get(key[1])
    old = previous.images[key[1]]
    workloads = dict(seen.workloads) if seen else {}
    workloads.setdefault(wid, old.workloads[wid])
    images[key[1]] = SeenImage(seen.image if seen else old.image, workloads)


# --- the report with what the state says --------------------------------------------------------------------


def mark_report(report: Report, diff: StateDiff) -> Report:
    """Every exposure with its `new` flag, and the resolved ones."""
    exposures = tuple(replace(e, new=(e.finding.finding_arn, e.finding.image) in diff.new) for e in report.exposures)
    return replace(report, exposures=exposures, resolved=diff.resolved)


def only_new(report: Report, resolved: Mapping[EcrImageKey, ResolvedImage]) -> Report:
    """`--new-only`: the report of the new exposures only; images[] and the summary follow (running and
    unscanned counts stay: they are about what runs, not about what is reported)."""
    kept = [e for e in report.exposures if e.new]
    by_image: dict[ImageInfo, list[Exposure]] = {}
    for exposure in kept:
        by_image.setdefault(exposure.image, []).append(exposure)
    entries = tuple(
        replace(e, exposures=len(mine), max_severity=min((x.finding.severity for x in mine), key=severity_rank))
        for e in report.images
        if (mine := by_image.get(e.image))
    )
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for exposure in kept:
        severity = exposure.finding.severity
        by_severity[severity if severity in by_severity else SEVERITIES[-1]] += 1
    # Counted as the join counts running images: by the digest that runs (the reported one, or the tag's).
    vulnerable = {_running_identity(m.workload, resolved) for e in entries for m in e.workloads}
    summary = replace(
        report.summary, exposures=len(kept), by_severity=by_severity, vulnerable_running_images=len(vulnerable)
    )
    return replace(report, images=entries, exposures=tuple(kept), summary=summary)


def _running_identity(workload: Workload, resolved: Mapping[EcrImageKey, ResolvedImage]) -> str:
    key = ecr_key(workload)
    image = resolved.get(key) if key else None
    return (key.digest if key else None) or (image.digest if image else None) or workload.image.canonical
