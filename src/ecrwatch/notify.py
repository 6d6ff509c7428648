"""Notifications of a run: JSON to webhooks (`--notify-webhook`) and messages to SNS topics (`--notify-sns`).

A notification is sent only when the run reports something (after --new-only and the filters) or is
incomplete. Its body is `{"text", "part", "exposures", "images", "errors"}`: `text` a short summary that
chat tools such as Slack show as is (Slack's control characters escaped), the rest the report's own schema
form, each exposure with the images[] entry of its image. A body larger than the target takes (SNS: 256 KiB)
is split into parts numbered "i/n", each self-contained: every exposure in a part comes with its image's
entry and all the workloads that run it (only an image with more workloads than fit in one part has them
spread over several parts, each part repeating the image).

Webhook URLs are secrets (a Slack incoming-webhook URL is its own credential): they are shown as
`https://host/…` in every message and log line, path and query hidden. https is required, except plain
http to a loopback address. Redirects are not followed. A delivery that fails after a few tries is returned
as an `errors` entry (`notify:webhook`, `sns:REGION`); it never raises.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ecrwatch import __version__
from ecrwatch.aws import Aws, calling
from ecrwatch.errors import EcrwatchError, UsageError
from ecrwatch.models import SEVERITIES, Exposure, ImageEntry, ImageInfo, Report, SourceError
from ecrwatch.regions import REGION_PATTERN
from ecrwatch.report.json import error_to_dict, exposure_to_dict, image_entry_to_dict
from ecrwatch.report.labels import short_digest, workload_label
from ecrwatch.triage.teams import for_no_team_of, for_team

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

__all__ = [
    "SNS_MESSAGE_LIMIT",
    "WEBHOOK_BODY_LIMIT",
    "Notifications",
    "SnsTopic",
    "Webhook",
    "notify",
    "payload_parts",
    "redact_url",
    "should_notify",
    "slack_escape",
    "summary_text",
]

log = logging.getLogger(__name__)

# SNS takes messages up to 256 KiB (262,144 bytes); the subject and some headroom come off that.
SNS_MESSAGE_LIMIT = 256 * 1024 - 1024
# Webhook receivers refuse large bodies (and chat tools show only so much): split well before they would.
WEBHOOK_BODY_LIMIT = 1024 * 1024
SNS_SUBJECT_LIMIT = 100
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0)  # between the tries of a webhook delivery
TOP_EXPOSURES = 5  # listed one a line in the text
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TOPIC_ARN = re.compile(rf"^arn:aws(?:-[a-z]+)*:sns:(?P<region>{REGION_PATTERN}):\d{{12}}:[A-Za-z0-9_.-]{{1,256}}$")


# --- targets -----------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """scheme://host[:port] and an ellipsis for anything after it: never the path, query or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    hidden = "/…" if parts.path not in ("", "/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{hidden}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Webhook:
    url: str
    team: str | None = None  # `team=NAME:URL`: only that team's exposures go to it

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    @classmethod
    def parse(cls, url: str) -> Webhook:
        """A webhook URL, or `team=NAME:URL`, checked before any call (exit 2); the message shows it
        redacted."""
        if url.strip().startswith("team="):
            team, separator, rest = url.strip()[len("team=") :].partition(":")
            if not separator or not team.strip() or not rest.strip():
                raise UsageError(
                    f"--notify-webhook {redact_url(url)}: a team's webhook is team=NAME:URL",
                    "e.g. --notify-webhook team=payments:https://hooks.example.com/...",
                )
            return replace(cls.parse(rest), team=team.strip())
        parts = urlsplit(url.strip())
        shown = redact_url(url)
        if any(c.isspace() for c in url.strip()) or not parts.hostname:
            raise UsageError(f"--notify-webhook {shown} is not a URL", "give the full https:// URL of the webhook")
        if parts.scheme == "http" and _is_loopback(parts.hostname):
            return cls(url.strip())
        if parts.scheme != "https":
            raise UsageError(
                f"--notify-webhook {shown}: only https webhooks are allowed (plain http only to a loopback address)",
                "use the webhook's https:// URL",
            )
        return cls(url.strip())


@dataclass(frozen=True)
class SnsTopic:
    arn: str
    region: str

    @classmethod
    def parse(cls, arn: str) -> SnsTopic:
        match = _TOPIC_ARN.match(arn.strip())
        if match is None:
            raise UsageError(
                f"--notify-sns {arn!r} is not an SNS topic ARN",
                "give an ARN like arn:aws:sns:us-east-1:123456789012:ecrwatch-alerts",
            )
        return cls(arn.strip(), match.group("region"))


@dataclass(frozen=True)
class Notifications:
    webhooks: tuple[Webhook, ...] = ()
    topics: tuple[SnsTopic, ...] = ()
    timeout: float = 10.0  # seconds, each webhook request

    @classmethod
    def parse(cls, webhooks: Iterable[str] = (), topics: Iterable[str] = (), timeout: float = 10.0) -> Notifications:
        return cls(
            tuple(dict.fromkeys(Webhook.parse(u) for u in webhooks)),
            tuple(dict.fromkeys(SnsTopic.parse(t) for t in topics)),
            timeout,
        )

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.topics)


# --- what is said ------------------------------------------------------------------------------------------


def should_notify(report: Report) -> bool:
    """Whether the run has something to say: an exposure it reports, or an incomplete read."""
    return bool(report.exposures or report.errors)


def slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (links, mentions): escaped, the text shows as is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_text(report: Report) -> str:
    """A few lines for a person: how many exposures of which severities, the worst ones with where they run,
    and what could not be read."""
    count = len(report.exposures)
    all_new = count > 0 and all(e.new for e in report.exposures)
    lines: list[str] = []
    if count:
        severities = ", ".join(f"{n} {s}" for s in SEVERITIES if (n := report.summary.by_severity.get(s, 0)))
        images = len(report.images)
        lines.append(
            f"ecrwatch: {count} {'new ' if all_new else ''}exposure{'s' if count != 1 else ''} "
            f"in running containers ({severities}), {images} image{'s' if images != 1 else ''}"
            + (f", account {', '.join(report.scope.accounts)}" if report.scope.accounts else "")
        )
        entries = {e.image: e for e in report.images}
        for exposure in report.exposures[:TOP_EXPOSURES]:
            lines.append(_exposure_line(exposure, entries.get(exposure.image), mark_new=not all_new))
        if count > TOP_EXPOSURES:
            lines.append(f"... and {count - TOP_EXPOSURES} more")
    else:
        lines.append("ecrwatch: no exposure to report")
    lapsed = report.summary.not_monitored_running_images
    if lapsed:
        lines.append(
            f"Not monitored: Inspector no longer rescans {lapsed} running image{'s' if lapsed != 1 else ''}: "
            "new vulnerabilities in them go unreported (see scan_status and unscanned in the report)"
        )
    if report.errors:
        shown = "; ".join(f"{e.source} ({e.code})" if e.code else e.source for e in report.errors[:3])
        more = f" and {len(report.errors) - 3} more" if len(report.errors) > 3 else ""
        lines.append(f"Incomplete: {len(report.errors)} source(s) could not be read: {shown}{more}")
    return "\n".join(lines)


def _image_name(image: ImageInfo) -> str:
    return f"{image.repository}@{short_digest(image.digest, '...')}" if image.digest else image.reference


def _exposure_line(exposure: Exposure, entry: ImageEntry | None, *, mark_new: bool) -> str:
    f = exposure.finding
    where = list(dict.fromkeys(workload_label(m.workload) for m in entry.workloads)) if entry else []
    shown = ", ".join(where[:2]) + (f" and {len(where) - 2} more" if len(where) > 2 else "")
    new = " (new)" if mark_new and exposure.new else ""
    return f"- {f.severity} {f.vulnerability_id}{new} in {_image_name(exposure.image)}: {shown or 'see images'}"


def _size(value: Any) -> int:
    return len(_dumps(value).encode("utf-8"))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def payload_parts(report: Report, text: str, limit: int) -> list[dict[str, Any]]:
    """The report's exposures, their images' entries and its errors, in bodies of at most `limit` bytes of
    compact JSON (one item larger than that on its own goes alone, and the target may refuse it)."""
    errors = [error_to_dict(e) for e in report.errors]
    envelope = {
        "text": f"{text} (part 99999/99999)",
        "part": "99999/99999",
        "exposures": [],
        "images": [],
        "errors": errors,
    }
    packer = _Packer(limit - _size(envelope))
    entries = {e.image: e for e in report.images}
    groups: dict[ImageInfo, list[Exposure]] = {}
    for exposure in report.exposures:
        groups.setdefault(exposure.image, []).append(exposure)
    for image, group in groups.items():
        entry = entries.get(image)
        packer.add_image(
            image.reference, image_entry_to_dict(entry) if entry else None, [exposure_to_dict(e) for e in group]
        )
    parts = packer.finish()
    total = len(parts)
    return [
        {
            "text": text if total == 1 else f"{text} (part {number}/{total})",
            "part": f"{number}/{total}",
            "exposures": exposures,
            "images": images,
            "errors": errors,
        }
        for number, (exposures, images) in enumerate(parts, 1)
    ]


class _Packer:
    """Fills parts up to a byte budget, one image at a time: its exposures with its entry and every one of its
    workloads where they fit in a part, so that a part names all that runs what it reports. Where they do not
    all fit together, the exposures are spread over parts that each repeat the entry with every workload; only
    an image whose workloads alone overflow a part has them spread, each part carrying as many as fit."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._parts: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        self._exposures: list[dict[str, Any]] = []
        self._images: dict[str, dict[str, Any]] = {}  # by image reference
        self._used = 0
        self._items = 0  # exposures and workloads placed in this part, beyond the images' first workloads

    def _next_part(self) -> None:
        if self._exposures or self._images:
            self._parts.append((self._exposures, list(self._images.values())))
        self._exposures, self._images, self._used, self._items = [], {}, 0, 0

    def _fits(self, size: int, *, alone: bool) -> bool:
        return alone or self._used + size + 1 <= self._budget

    def _put(
        self,
        reference: str,
        header: dict[str, Any],
        workloads: list[dict[str, Any]],
        exposures: list[dict[str, Any]],
        size: int,
    ) -> None:
        """The image with these workloads and exposures, in this part (the caller made room)."""
        self._images[reference] = {**header, "workloads": list(workloads)}
        self._exposures.extend(exposures)
        self._used += size
        self._items += len(exposures) + len(workloads) - 1

    def add_image(self, reference: str, entry: dict[str, Any] | None, exposures: list[dict[str, Any]]) -> None:
        workloads = list(entry["workloads"]) if entry else []
        if entry is None or not workloads:
            self._add_spread(reference, entry, exposures)
            return
        header = {**entry, "workloads": []}
        # Sizes with the comma that joins each to the one before it.
        entry_size = _size(header) + 1 + sum(_size(w) + 1 for w in workloads)
        exposure_sizes = [_size(x) + 1 for x in exposures]
        whole = entry_size + sum(exposure_sizes)
        if self._used + whole <= self._budget:
            self._put(reference, header, workloads, exposures, whole)
            return
        if whole <= self._budget:
            self._next_part()
            self._put(reference, header, workloads, exposures, whole)
            return
        if entry_size + max(exposure_sizes, default=0) > self._budget:
            self._add_spread(reference, entry, exposures)  # the workloads alone overflow a part
            return
        # The exposures over as many parts as they need, each with the whole entry.
        batch: list[dict[str, Any]] = []
        used = entry_size
        room = self._budget - self._used
        for exposure, size in zip(exposures, exposure_sizes, strict=True):
            if used + size > room:
                if batch:
                    self._put(reference, header, workloads, batch, used)
                self._next_part()
                batch, used, room = [], entry_size, self._budget
            batch.append(exposure)
            used += size
        self._put(reference, header, workloads, batch, used)

    def _add_spread(self, reference: str, entry: dict[str, Any] | None, exposures: list[dict[str, Any]]) -> None:
        """An image whose workloads cannot all go with its exposures: it enters a part with one workload at
        least (its next one, or its first again), so that every exposure in a part has its image's entry there."""
        workloads = list(entry["workloads"]) if entry else []
        header = {**entry, "workloads": []} if entry and workloads else None
        # Exposures first, so that a part holds exposures with their image rather than workloads alone.
        pending = [(x, True) for x in exposures] + [(w, False) for w in workloads[1:]]
        while pending:
            if header is not None and reference not in self._images:
                item, is_exposure = pending[0]
                first = workloads[0] if is_exposure else item
                size = _size(header) + _size(first) + 1
                # Room for the image and the exposure it comes in for, or a new part.
                if not self._fits(size + (_size(item) + 1 if is_exposure else 0), alone=not self._images):
                    self._next_part()
                self._images[reference] = {**header, "workloads": [first]}
                self._used += size + 1
                if not is_exposure:
                    pending.pop(0)
                continue
            item, is_exposure = pending[0]
            size = _size(item)
            # An exposure that does not fit even beside its image alone goes alone; a workload goes on.
            if not self._fits(size, alone=is_exposure and self._items == 0):
                self._next_part()
                continue
            pending.pop(0)
            if is_exposure:
                self._exposures.append(item)
            else:
                self._images[reference]["workloads"].append(item)
            self._used += size + 1
            self._items += 1

    def finish(self) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        self._next_part()
        return self._parts or [([], [])]


# --- delivery ----------------------------------------------------------------------------------------------


def notify(
    aws: Aws | None,
    report: Report,
    targets: Notifications,
    *,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> tuple[SourceError, ...]:
    """Send the report to every target; what could not be delivered comes back as errors entries."""
    if not targets or not should_notify(report):
        return ()
    errors: list[SourceError] = []
    routed = frozenset(w.team for w in targets.webhooks if w.team is not None)
    # Each team's webhook hears of its own workloads' exposures; the plain ones of the rest (all of it when no
    # team is routed). A report with nothing for a target is not sent to it.
    seen: dict[str | None, Report] = {None: for_no_team_of(report, routed) if routed else report}
    for team in sorted(routed):
        seen[team] = for_team(report, team)
    for webhook in targets.webhooks:
        part = seen[webhook.team]
        if not should_notify(part):
            continue
        for body in payload_parts(part, slack_escape(summary_text(part)), WEBHOOK_BODY_LIMIT):
            failure = _post(webhook, _dumps(body).encode("utf-8"), targets.timeout, retry_delays)
            if failure is not None:
                errors.append(failure)
                break
    rest = seen[None]  # SNS topics are plain targets too
    for topic in targets.topics if should_notify(rest) else ():
        failure = _publish(aws, topic, rest, summary_text(rest))
        if failure is not None:
            errors.append(failure)
    return tuple(errors)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a webhook that redirects is answered as an error, never followed with the body


def _post(webhook: Webhook, body: bytes, timeout: float, retry_delays: Sequence[float]) -> SourceError | None:
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"ecrwatch/{__version__}"},
    )
    opener = urllib.request.build_opener(_NoRedirect())
    delays = list(retry_delays)
    while True:
        retry, problem, code = False, "", None
        try:
            with opener.open(request, timeout=timeout) as answer:
                answer.read()
            log.info("notified webhook %s (%d bytes)", webhook.shown, len(body))
            return None
        except urllib.error.HTTPError as exc:
            code = str(exc.code)
            problem, retry = f"answered HTTP {exc.code}", exc.code in _RETRY_STATUSES
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            problem, retry = f"could not be reached ({_clean(str(reason), webhook.url)})", True
            code = type(reason).__name__ if isinstance(reason, BaseException) else None
        if not (retry and delays):
            message = f"webhook {webhook.shown} {problem}; the notification was not delivered"
            log.warning("%s", message)
            return SourceError("notify:webhook", message, code)
        time.sleep(delays.pop(0))


def _clean(text: str, url: str) -> str:
    """A message about a URL, with the URL's secret parts taken out wherever they appear."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if secret and secret != "/":
            text = text.replace(secret, "…")
    return text


def _publish(aws: Aws | None, topic: SnsTopic, report: Report, text: str) -> SourceError | None:
    source = f"sns:{topic.region}"
    if aws is None:
        return SourceError(source, f"SNS topic {topic.arn} was not notified: no AWS session")
    bodies = payload_parts(report, text, SNS_MESSAGE_LIMIT)
    client: SNSClient = aws.client("sns", topic.region)
    for body in bodies:
        request: dict[str, Any] = {
            "TopicArn": topic.arn,
            "Message": _dumps(body),
            "Subject": _subject(report, body["part"], len(bodies)),
        }
        if topic.arn.endswith(".fifo"):  # FIFO topics want a group (one: the parts stay in order) and a dedup id
            request["MessageGroupId"] = "ecrwatch"
            request["MessageDeduplicationId"] = hashlib.sha256(request["Message"].encode()).hexdigest()
        try:
            with calling("sns", "Publish", topic.region):
                client.publish(**request)
        except EcrwatchError as exc:
            message = f"SNS topic {topic.arn}: part {body['part']} was not published: {exc.message}"
            log.warning("%s", message)
            return SourceError(source, message, getattr(exc, "code", None))
    log.info("published %d message(s) to %s", len(bodies), topic.arn)
    return None


def _subject(report: Report, part: str, total: int) -> str:
    """SNS subjects: ASCII, no line breaks, at most 100 characters."""
    count = len(report.exposures)
    subject = f"ecrwatch: {count} exposure{'s' if count != 1 else ''}"
    if report.errors:
        subject += ", incomplete run"
    if total > 1:
        subject += f" (part {part})"
    return subject[:SNS_SUBJECT_LIMIT]
