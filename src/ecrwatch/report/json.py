"""The JSON report: exactly ../shared/schema/check-report.v1.json, schema_version "1".

Every object is built in one fixed key order, so two runs over the same data produce the same bytes. The
per-part converters are public: notifications and event payloads reuse them so that an exposure or a
workload reads the same wherever it appears.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

from ecrwatch.models import (
    SEVERITIES,
    ClusterScope,
    ExpiredRule,
    Exposure,
    Filters,
    ImageEntry,
    ImageInfo,
    Kev,
    MatchedWorkload,
    Package,
    Report,
    ResolvedExposure,
    ScanStatus,
    Scope,
    SourceError,
    Summary,
    SuppressedExposure,
    UnscannedEntry,
    Workload,
)

SCHEMA_VERSION = "1"

__all__ = [
    "SCHEMA_VERSION",
    "error_to_dict",
    "expired_rule_to_dict",
    "exposure_to_dict",
    "image_entry_to_dict",
    "image_to_dict",
    "iter_json",
    "matched_workload_to_dict",
    "render_json",
    "report_to_dict",
    "resolved_to_dict",
    "scan_status_to_dict",
    "scope_to_dict",
    "summary_to_dict",
    "suppressed_to_dict",
    "unscanned_to_dict",
    "workload_to_dict",
]


class _TinyFloat(float):
    """A float below 1e-4 in magnitude (an EPSS score can be): orjson writes 5e-5 as 0.00005 and 5e-6 as 5e-6,
    where Python writes 5e-05 and 5e-06. orjson does not encode a float subclass itself: it hands it to
    `_as_python_writes`. Everywhere else it is the float it holds."""


def _number(value: float | None) -> float | None:
    # NaN and infinity are not JSON: a score that is not a number is unknown.
    if value is None or not math.isfinite(value):
        return None
    return _TinyFloat(value) if 0 < abs(value) < 1e-4 else value


def image_to_dict(image: ImageInfo) -> dict[str, Any]:
    return {
        "reference": image.reference,
        "registry": image.registry,
        "region": image.region,
        "repository": image.repository,
        "digest": image.digest,
        "tags": list(image.tags),
        "platform": image.platform,
    }


def workload_to_dict(workload: Workload) -> dict[str, Any]:
    """Every field of the schema's workload, null where it does not apply (ECS fields on a pod and back)."""
    return {
        "platform": workload.platform,
        "account": workload.account,
        "region": workload.region,
        "cluster": workload.cluster,
        "container": workload.container,
        "container_type": workload.container_type,
        "task_arn": workload.task_arn,
        "service": workload.service,
        "launch_type": workload.launch_type,
        "namespace": workload.namespace,
        "pod": workload.pod,
        "owner": {"kind": workload.owner.kind, "name": workload.owner.name} if workload.owner else None,
        "image_reference": workload.image_reference,
        "running_digest": workload.running_digest,
        "architecture": workload.architecture,
        "team": workload.team,
    }


def matched_workload_to_dict(matched: MatchedWorkload) -> dict[str, Any]:
    """A workload with how it was tied to the image; matched_via is left out where unknown (the schema
    allows only digest, index or tag)."""
    out = workload_to_dict(matched.workload)
    if matched.matched_via is not None:
        out["matched_via"] = matched.matched_via
    return out


def _package_to_dict(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "fixed_in": package.fixed_in,
        "package_manager": package.package_manager,
    }


def _kev_to_dict(kev: Kev | None) -> dict[str, Any] | None:
    if kev is None:
        return None
    return {"date_added": kev.date_added, "due_date": kev.due_date, "action": kev.action}


def exposure_to_dict(exposure: Exposure) -> dict[str, Any]:
    finding = exposure.finding
    out: dict[str, Any] = {
        "vulnerability_id": finding.vulnerability_id,
        "title": finding.title,
        "severity": finding.severity,
        "finding_arn": finding.finding_arn,
        "status": finding.status,
        "inspector_score": _number(finding.inspector_score),
        "epss_score": _number(finding.epss_score),
        "fix_available": finding.fix_available,
        "exploit_available": finding.exploit_available,
        "last_known_exploit_at": finding.last_known_exploit_at,
        "kev": _kev_to_dict(exposure.kev),
        "packages": [_package_to_dict(p) for p in finding.packages],
        "first_observed_at": finding.first_observed_at,
        "last_observed_at": finding.last_observed_at,
        "image": image_to_dict(exposure.image),
        "workload_count": exposure.workload_count,
        "fails_run": exposure.fails_run,
    }
    if exposure.new is not None:  # only a run with a previous state knows what is new
        out["new"] = exposure.new
    return out


def scan_status_to_dict(status: ScanStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "status": status.status,
        "reason": status.reason,
        "last_scanned_at": status.last_scanned_at,
        "monitored": status.monitored,
    }


def image_entry_to_dict(entry: ImageEntry) -> dict[str, Any]:
    return {
        "image": image_to_dict(entry.image),
        "workloads": [matched_workload_to_dict(m) for m in entry.workloads],
        "exposures": entry.exposures,
        "max_severity": entry.max_severity,
        "scan_status": scan_status_to_dict(entry.scan_status),
    }


def unscanned_to_dict(entry: UnscannedEntry) -> dict[str, Any]:
    return {
        "image": image_to_dict(entry.image),
        "reason": entry.reason,
        "detail": entry.detail,
        "workloads": [matched_workload_to_dict(m) for m in entry.workloads],
    }


def resolved_to_dict(resolved: ResolvedExposure) -> dict[str, Any]:
    return {
        "vulnerability_id": resolved.vulnerability_id,
        "finding_arn": resolved.finding_arn,
        "severity": resolved.severity,
        "image": image_to_dict(resolved.image),
        "workloads": [workload_to_dict(w) for w in resolved.workloads],
        "reason": resolved.reason,
    }


def suppressed_to_dict(suppressed: SuppressedExposure) -> dict[str, Any]:
    rule = suppressed.rule
    return {
        "exposure": exposure_to_dict(suppressed.exposure),
        "rule": {
            "source": rule.source,
            "reason": rule.reason,
            "expires": rule.expires,
            "vex_status": rule.vex_status,
            "justification": rule.justification,
        },
    }


def expired_rule_to_dict(rule: ExpiredRule) -> dict[str, Any]:
    return {"source": rule.source, "reason": rule.reason, "expires": rule.expires, "vulnerability": rule.vulnerability}


def error_to_dict(error: SourceError) -> dict[str, Any]:
    out: dict[str, Any] = {"source": error.source, "code": error.code, "message": error.message}
    if error.account is not None:  # several accounts were read
        out["account"] = error.account
    return out


def _cluster_to_dict(cluster: ClusterScope) -> dict[str, Any]:
    out: dict[str, Any] = {
        "platform": cluster.platform,
        "name": cluster.name,
        "arn": cluster.arn,
        "region": cluster.region,
        "ok": cluster.ok,
    }
    if cluster.account is not None:  # several accounts were read
        out["account"] = cluster.account
    return out


def _filters_to_dict(filters: Filters) -> dict[str, Any]:
    return {
        "min_severity": filters.min_severity,
        "fixable_only": filters.fixable_only,
        "fail_on": filters.fail_on,
    }


def scope_to_dict(scope: Scope) -> dict[str, Any]:
    out: dict[str, Any] = {
        "accounts": list(scope.accounts),
        "regions": list(scope.regions),
        "clusters": [_cluster_to_dict(c) for c in scope.clusters],
        "filters": _filters_to_dict(scope.filters),
    }
    if scope.account_details is not None:  # accounts were selected
        out["account_details"] = [{"account": d.account, "name": d.name, "ok": d.ok} for d in scope.account_details]
    return out


def summary_to_dict(summary: Summary) -> dict[str, Any]:
    # Every severity present, zero included, highest first; a label outside the six is kept after them.
    by_severity = {severity: summary.by_severity.get(severity, 0) for severity in SEVERITIES}
    by_severity.update({k: v for k, v in summary.by_severity.items() if k not in by_severity})
    out: dict[str, Any] = {
        "running_containers": summary.running_containers,
        "running_images": summary.running_images,
        "vulnerable_running_images": summary.vulnerable_running_images,
        "exposures": summary.exposures,
        "by_severity": by_severity,
        "unscanned_running_images": summary.unscanned_running_images,
        "not_monitored_running_images": summary.not_monitored_running_images,
    }
    if summary.suppressed is not None:  # only where an ignore file or VEX document was given
        out["suppressed"] = summary.suppressed
    return out


def report_to_dict(report: Report) -> dict[str, Any]:
    out = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": report.generated_at,
        "tool_version": report.tool_version,
        "scope": scope_to_dict(report.scope),
        "summary": summary_to_dict(report.summary),
        "images": [image_entry_to_dict(e) for e in report.images],
        "exposures": [exposure_to_dict(e) for e in report.exposures],
        "unscanned": [unscanned_to_dict(e) for e in report.unscanned],
        "errors": [error_to_dict(e) for e in report.errors],
    }
    if report.resolved is not None:  # only a run with a previous state knows what is gone
        out["resolved"] = [resolved_to_dict(r) for r in report.resolved]
    if report.suppressed is not None:  # only where an ignore file or VEX document was given
        out["suppressed"] = [suppressed_to_dict(s) for s in report.suppressed]
    if report.expired_rules is not None:
        out["expired_rules"] = [expired_rule_to_dict(r) for r in report.expired_rules]
    return out


def render_json(report: Report) -> str:
    """The report as JSON text: 2-space indent, a trailing newline, ASCII only (non-ASCII characters are
    escaped, so the bytes are valid whatever the encoding of the file or pipe they go to)."""
    return "".join(iter_json(report))


def _encoded(value: Any, level: int) -> str:
    """`json.dumps(value, indent=2, allow_nan=False)` nested `level` deep, in 60% of its time (the standard
    library encodes indented JSON in pure Python, by generators; an organisation's report is 80 MB)."""
    out: list[str] = []
    _encode(value, "  " * level, out)
    return "".join(out)


# orjson encodes what the standard library does in a sixth of the time (the 80 MB report took a second and a
# half of CPU), to the same bytes but for the cases handed back to `_encoded` (see `_encoded_fast`).
_FAST_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _as_python_writes(value: Any) -> Any:
    if isinstance(value, float):  # a _TinyFloat
        return orjson.Fragment(float.__repr__(value).encode())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoded_fast(value: Any, level: int) -> str:
    """`_encoded(value, level)`, by orjson where it writes the same bytes. Not where the text would not be
    ASCII or holds DEL (which json.dumps escapes and orjson does not), nor for what orjson refuses (an
    integer beyond 64 bits, a value of another type, NaN among them being caught by `_number` first): those
    are encoded by `_encoded`, which also raises the standard library's errors. Floats reach the report
    through `_number`, which marks those orjson would write otherwise."""
    try:
        data = orjson.dumps(value, default=_as_python_writes, option=_FAST_OPTIONS)
    except orjson.JSONEncodeError:
        return _encoded(value, level)
    if not data.isascii() or b"\x7f" in data:
        return _encoded(value, level)
    text = data.decode("ascii")
    return text.replace("\n", "\n" + "  " * level) if level else text


def _encode(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        separator = "{\n" + inner
        for key, item in value.items():
            out.append(separator + encode_basestring_ascii(key) + ": ")
            _encode(item, inner, out)
            separator = ",\n" + inner
        out.append("\n" + indent + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        separator = "[\n" + inner
        for item in value:
            out.append(separator)
            _encode(item, inner, out)
            separator = ",\n" + inner
        out.append("\n" + indent + "]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def iter_json(report: Report) -> Iterator[str]:
    """`render_json`'s text in pieces, each list item converted and encoded as it is written: an organisation's
    report (tens of thousands of exposures, 80 MB of text) is never held whole, as objects or as text."""
    parts: list[tuple[str, Any]] = [
        ("schema_version", SCHEMA_VERSION),
        ("generated_at", report.generated_at),
        ("tool_version", report.tool_version),
        ("scope", scope_to_dict(report.scope)),
        ("summary", summary_to_dict(report.summary)),
        ("images", (image_entry_to_dict, report.images)),
        ("exposures", (exposure_to_dict, report.exposures)),
        ("unscanned", (unscanned_to_dict, report.unscanned)),
        ("errors", (error_to_dict, report.errors)),
    ]
    if report.resolved is not None:  # only a run with a previous state knows what is gone
        parts.append(("resolved", (resolved_to_dict, report.resolved)))
    if report.suppressed is not None:  # only where an ignore file or VEX document was given
        parts.append(("suppressed", (suppressed_to_dict, report.suppressed)))
    if report.expired_rules is not None:
        parts.append(("expired_rules", (expired_rule_to_dict, report.expired_rules)))
    yield "{"
    for index, (key, value) in enumerate(parts):
        yield ("," if index else "") + "\n  " + json.dumps(key) + ": "
        if not isinstance(value, tuple):
            yield _encoded_fast(value, 1)
        elif not value[1]:
            yield "[]"
        else:
            convert, items = value
            for position, item in enumerate(items):
                yield ("," if position else "[") + "\n    " + _encoded_fast(convert(item), 2)
            yield "\n  ]"
    yield "\n}\n"
