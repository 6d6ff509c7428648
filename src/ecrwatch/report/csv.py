"""The CSV report: one row per exposure x workload that runs it, for spreadsheets.

An exposure is joined to the images[] entry of its scanned digest (the report lists workloads once per
image, not once per exposure); an exposure with no entry still gets one row, with the workload columns
empty, so that nothing is dropped. RFC 4180 quoting (csv module, CRLF line ends: write the text to a file
opened with newline=""). Values that came from images and findings are untrusted: a cell a spreadsheet
would read as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from ecrwatch.models import Exposure, ImageEntry, ImageInfo, MatchedWorkload, Report, Workload

__all__ = ["COLUMNS", "csv_cell", "render_csv"]

COLUMNS: tuple[str, ...] = (
    "severity",
    "vulnerability_id",
    "title",
    "package",
    "installed_version",
    "fixed_version",
    "fix_available",
    "exploit_available",
    "epss_score",
    "inspector_score",
    "repository",
    "digest",
    "image",
    "image_platform",
    "image_tags",
    "image_registry",
    "image_region",
    "workload_platform",
    "account",
    "region",
    "cluster",
    "namespace",
    "pod",
    "owner",
    "service",
    "task_arn",
    "launch_type",
    "container",
    "container_type",
    "architecture",
    "team",
    "workload_image",
    "running_digest",
    "matched_via",
    "workload_count",
    "new",
    "first_observed_at",
    "last_observed_at",
    "finding_arn",
)

# What Excel, LibreOffice and Google Sheets take as the start of a formula (OWASP's list: = + - @, tab, CR).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ImageKey = tuple[str | None, str | None, str, str | None]


def csv_cell(value: str | None) -> str:
    """Text for one cell: empty for None, an apostrophe before anything a spreadsheet would evaluate."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _bool(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


def _image_key(image: ImageInfo) -> _ImageKey:
    return (image.registry, image.region, image.repository, image.digest)


def _workload_cells(matched: MatchedWorkload | None) -> list[str]:
    if matched is None:
        return [""] * 16
    w: Workload = matched.workload
    return [
        csv_cell(w.platform),
        csv_cell(w.account),
        csv_cell(w.region),
        csv_cell(w.cluster),
        csv_cell(w.namespace),
        csv_cell(w.pod),
        csv_cell(f"{w.owner.kind}/{w.owner.name}" if w.owner else None),
        csv_cell(w.service),
        csv_cell(w.task_arn),
        csv_cell(w.launch_type),
        csv_cell(w.container),
        csv_cell(w.container_type),
        csv_cell(w.architecture),
        csv_cell(w.team),
        csv_cell(w.image_reference),
        csv_cell(w.running_digest),
    ]


def _rows(exposure: Exposure, workloads: Sequence[MatchedWorkload]) -> Iterable[list[str]]:
    f = exposure.finding
    image = exposure.image
    packages = f.packages
    head = [
        csv_cell(f.severity),
        csv_cell(f.vulnerability_id),
        csv_cell(f.title),
        # one finding can name several packages: the three columns list them in the same order
        csv_cell("; ".join(p.name for p in packages)),
        csv_cell("; ".join(p.version or "" for p in packages)),
        csv_cell("; ".join(p.fixed_in or "" for p in packages)),
        csv_cell(f.fix_available),
        csv_cell(f.exploit_available),
        _number(f.epss_score),
        _number(f.inspector_score),
        csv_cell(image.repository),
        csv_cell(image.digest),
        csv_cell(image.reference),
        csv_cell(image.platform),
        csv_cell(" ".join(image.tags)),
        csv_cell(image.registry),
        csv_cell(image.region),
    ]
    tail = [
        str(exposure.workload_count),
        _bool(exposure.new),
        csv_cell(f.first_observed_at),
        csv_cell(f.last_observed_at),
        csv_cell(f.finding_arn),
    ]
    rows: Sequence[MatchedWorkload | None] = workloads or [None]
    for matched in rows:
        via = [csv_cell(matched.matched_via)] if matched else [""]
        yield head + _workload_cells(matched) + via + tail


def render_csv(report: Report) -> str:
    by_image: dict[_ImageKey, ImageEntry] = {}
    by_digest: dict[str | None, list[ImageEntry]] = {}
    for entry in report.images:
        by_image.setdefault(_image_key(entry.image), entry)
        by_digest.setdefault(entry.image.digest, []).append(entry)

    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: minimal quoting, "" for a quote, CRLF
    writer.writerow(COLUMNS)
    for exposure in report.exposures:
        exact = by_image.get(_image_key(exposure.image))
        entries = [exact] if exact else by_digest.get(exposure.image.digest, [])
        workloads = [m for entry in entries for m in entry.workloads]
        writer.writerows(_rows(exposure, workloads))
    return out.getvalue()
