"""The report for a person, rendered with rich: a summary, exposures grouped by image with the workloads that
run it, the unscanned images, the errors. The only module that imports rich's tables.

The platform images of one multi-arch image are shown together under the name its users know
(repository:tag), one row per vulnerability with the platforms it was found in: the same CVE in the amd64
and the arm64 image is one problem, not two. The JSON report keeps one images[] entry per scanned digest.

Readable at 80 columns: every column folds rather than truncates (a reference or ARN wraps, it is never cut
off with an ellipsis); only digests are shortened here, and only here (JSON and CSV carry them whole).
Colour is the console's decision: nothing here forces a terminal. Every value from the report is put in a
Text (never parsed as markup) with control characters made visible, since image names, titles and error
messages can carry anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ecrwatch.correlate import exposure_sort_key as exposure_order
from ecrwatch.models import (
    Exposure,
    ImageEntry,
    ImageInfo,
    MatchedWorkload,
    Package,
    Report,
    ResolvedExposure,
    ScanStatus,
    SuppressedExposure,
    UnscannedEntry,
    Workload,
    severity_rank,
)
from ecrwatch.report.labels import DIGEST, short_digest, task_id, workload_label
from ecrwatch.triage.risk import is_exploitable, risk_sort_key
from ecrwatch.triage.teams import narrowed

__all__ = ["SEVERITY_STYLES", "render_table", "short_digest", "workload_label"]

SEVERITY_STYLES: dict[str, str] = {
    "CRITICAL": "bold red",
    "HIGH": "red",
    "MEDIUM": "yellow",
    "LOW": "blue",
    "INFORMATIONAL": "dim",
    "UNTRIAGED": "magenta",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class _Glyphs:
    arrow: str
    ellipsis: str
    dash: str
    dot: str


_UNICODE = _Glyphs("→", "…", "—", "·")
_ASCII = _Glyphs("->", "...", "-", "|")


def _glyphs(console: Console) -> _Glyphs:
    return _UNICODE if console.encoding.lower().startswith("utf") else _ASCII


def _visible_control(match: re.Match[str]) -> str:
    char = match.group()
    return " " if char in "\n\t\r" else f"\\x{ord(char):02x}"


def _text(value: str | None, style: str = "") -> Text:
    """Untrusted text as a Text: no markup, no emoji codes, no escape sequences reaching the terminal."""
    return Text(_CONTROL.sub(_visible_control, value or ""), style=style)


def _lines(lines: Iterable[str], style: str = "") -> Text:
    """Several untrusted values, one a line (each sanitised on its own: a newline inside one is not kept)."""
    return Text("\n", style=style).join(_text(line) for line in lines)


def _short_reference(reference: str, g: _Glyphs) -> str:
    return DIGEST.sub(lambda m: short_digest(m.group(), g.ellipsis), reference)


def _severity(severity: str) -> Text:
    return _text(severity, SEVERITY_STYLES.get(severity, ""))


def _table(*columns: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False, header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


# --- summary -------------------------------------------------------------------------------------------


def _severity_counts(by_severity: dict[str, int]) -> Text:
    parts = [(s, n) for s, n in by_severity.items() if n] if by_severity else []
    parts.sort(key=lambda item: severity_rank(item[0]))
    if not parts:
        return Text("none")
    out = Text()
    for i, (severity, count) in enumerate(parts):
        if i:
            out.append("  ")
        out.append_text(_severity(severity))
        out.append(f" {count}")
    return out


def _summary_panel(report: Report, g: _Glyphs) -> Panel:
    s = report.summary
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Running containers", str(s.running_containers))
    grid.add_row("Running images", str(s.running_images))
    grid.add_row("Vulnerable images", Text(str(s.vulnerable_running_images), style="bold" if s.exposures else ""))
    exposures = Text(f"{s.exposures}")
    if s.exposures:
        exposures.append("  ")
        exposures.append_text(_severity_counts(s.by_severity))
    grid.add_row("Exposures", exposures)
    if any(e.new is not None for e in report.exposures) or report.resolved is not None:
        grid.add_row("New", str(sum(1 for e in report.exposures if e.new)))
    if report.resolved is not None:
        grid.add_row("Resolved", str(len(report.resolved)))
    if report.suppressed is not None:
        grid.add_row("Suppressed", str(len(report.suppressed)))
    grid.add_row(
        "Unscanned images",
        Text(str(s.unscanned_running_images), style="yellow" if s.unscanned_running_images else ""),
    )
    if s.not_monitored_running_images:
        grid.add_row("Not monitored", Text(str(s.not_monitored_running_images), style="yellow"))
    grid.add_row("Errors", Text(str(len(report.errors)), style="bold red" if report.errors else ""))

    scope = report.scope
    unread = sum(1 for c in scope.clusters if not c.ok)
    clusters = f"{len(scope.clusters)} cluster{'s' if len(scope.clusters) != 1 else ''}"
    if unread:
        clusters += f" ({unread} not read)"
    where = [clusters]
    if scope.regions:
        where.append(", ".join(scope.regions))
    if scope.accounts:
        where.append("account " + ", ".join(scope.accounts))
    grid.add_row("Scope", _text(f" {g.dot} ".join(where)))
    filters = scope.filters
    chosen = []
    if filters.min_severity:
        chosen.append(f"min severity {filters.min_severity}")
    if filters.fixable_only:
        chosen.append("fixable only")
    if filters.fail_on:
        chosen.append(f"fail on {filters.fail_on}")
    if chosen:
        grid.add_row("Filters", _text(f" {g.dot} ".join(chosen)))
    return Panel(
        grid,
        title=Text("ecrwatch check", style="bold"),
        subtitle=_text(report.generated_at),
        box=box.ROUNDED,
        expand=False,
    )


# --- workloads -----------------------------------------------------------------------------------------


def _group_key(m: MatchedWorkload) -> tuple[object, ...] | None:
    """Containers of one controller (a Deployment's pods, a service's tasks) are one row: at scale, thousands
    of identical rows would hide the image's other workloads. Bare pods and standalone tasks are their own."""
    w = m.workload
    if w.owner is None and w.service is None:
        return None
    return (
        w.platform,
        w.account,
        w.region,
        w.cluster,
        w.namespace,
        w.owner,
        w.service,
        w.container,
        w.container_type,
        m.matched_via,
    )


def _workload_rows(
    workloads: Sequence[MatchedWorkload], platforms: Mapping[Workload, str] | None = None
) -> list[list[MatchedWorkload]]:
    groups: dict[object, list[MatchedWorkload]] = {}
    for i, m in enumerate(workloads):
        key = _group_key(m)
        if key is not None and platforms is not None:
            key = (*key, platforms.get(m.workload))  # a service's tasks on two platforms are two rows
        groups.setdefault(key if key is not None else ("single", i), []).append(m)
    return list(groups.values())


def _workloads_table(
    workloads: Sequence[MatchedWorkload], g: _Glyphs, platforms: Mapping[Workload, str] | None = None
) -> Table:
    """One row per controller (or bare pod, standalone task); with `platforms`, a column saying which
    platform image of a multi-arch image each runs."""
    table = _table("Cluster", "Workload", "Container", "Via", *(["Platform"] if platforms is not None else []))
    for group in _workload_rows(workloads, platforms):
        first = group[0]
        w = first.workload
        where = _lines([f"{w.platform} {w.cluster}"])
        if w.region and w.platform != "kubernetes":
            where.append("\n")
            where.append_text(_text(w.region, "dim"))
        if _SEVERAL_ACCOUNTS.get() and w.account:  # a cluster name alone does not say which account
            where.append("\n")
            where.append_text(_text(f"account {w.account}", "dim"))
        if w.platform == "ecs":
            lines = [f"service {w.service}"] if w.service else []
            if len(group) == 1:
                lines.append(f"task {task_id(w.task_arn)}")
            else:
                lines.append(f"{len(group)} tasks")
        else:
            ns = f"{w.namespace}/" if w.namespace else ""
            if w.owner is not None:
                lines = [f"{ns}{w.owner.kind} {w.owner.name}"]
                lines.append(f"pod {w.pod}" if len(group) == 1 else f"{len(group)} pods")
            else:
                lines = [f"{ns}{w.pod or '?'}"]
        container = _text(w.container)
        if w.container_type != "app":
            container.append_text(_text(f" ({w.container_type})", "dim"))
        cells = [where, _lines(lines), container, _text(first.matched_via or g.dash)]
        if platforms is not None:
            cells.append(_text(platforms.get(w) or g.dash))
        table.add_row(*cells)
    return table


# --- exposures -----------------------------------------------------------------------------------------


def _image_key(image: ImageInfo) -> tuple[str | None, str | None, str, str | None]:
    return (image.registry, image.region, image.repository, image.digest)


def _percent(value: float | None, g: _Glyphs) -> str:
    if value is None:
        return g.dash
    return "<0.1%" if 0 < value < 0.001 else f"{value:.1%}"


def _score(value: float | None, g: _Glyphs) -> str:
    return g.dash if value is None else f"{value:.1f}"


def _package_line(p: Package, fix_available: str | None, g: _Glyphs) -> str:
    installed = f"{p.name} {p.version}" if p.version else p.name
    if p.fixed_in:
        return f"{installed} {g.arrow} {p.fixed_in}"
    return f"{installed} (no fix)" if fix_available in (None, "NO") else installed


def _risk_marks(exposure: Exposure) -> Text:
    """KEV: in CISA's Known Exploited Vulnerabilities catalogue; exploit: Inspector knows a public exploit;
    fails: meets a --fail-on condition."""
    marks = Text()
    if exposure.kev is not None:
        marks.append(" KEV", style="bold red")
    elif is_exploitable(exposure):
        marks.append(" exploit", style="red")
    if exposure.fails_run:
        marks.append(" fails", style="bold")
    return marks


def _findings_table(exposures: Iterable[Exposure], g: _Glyphs) -> Table:
    table = _table("Severity", "Vulnerability", f"Package {g.arrow} fixed", "EPSS", "Score")
    for exposure in exposures:
        f = exposure.finding
        packages = [_package_line(p, f.fix_available, g) for p in f.packages] or [g.dash]
        vulnerability = _text(f.vulnerability_id)
        if exposure.new:
            vulnerability.append_text(_text(" new", "bold"))
        vulnerability.append_text(_risk_marks(exposure))
        table.add_row(
            _severity(f.severity),
            vulnerability,
            _lines(packages),
            _text(_percent(f.epss_score, g)),
            _text(_score(f.inspector_score, g)),
        )
    return table


def _image_lines(image: ImageInfo, g: _Glyphs) -> Text:
    out = _text(_short_reference(image.reference, g), "bold")
    facts = []
    if image.platform:
        facts.append(image.platform)
    if image.registry:
        facts.append(f"account {image.registry}")
    if image.region:
        facts.append(image.region)
    if image.tags:
        facts.append("tags " + ", ".join(image.tags))
    if facts:
        out.append("\n")
        out.append_text(_text(f" {g.dot} ".join(facts), "dim"))
    return out


# What to do about an image Inspector no longer monitors, by Inspector's reason.
_RESCAN_ADVICE = (
    "a task that has run longer than the pull rescan duration does this: raise it "
    "(ecrwatch enable-scanning --pull-rescan-duration 180d) or use the LAST_IN_USE_AT pull date rescan mode"
)


def _continuous_advice(image: ImageInfo) -> str:
    region = f" --region {image.region}" if image.region else ""
    return f"add the repository to the continuous rule: ecrwatch enable-scanning{region} --filter {image.repository}"


def _not_monitored_text(status: ScanStatus, image: ImageInfo) -> str:
    """Why Inspector's findings on this image are not current, and what to do."""
    reason = status.reason
    since = f" (last scanned {status.last_scanned_at[:10]})" if status.last_scanned_at else ""  # the day is enough
    if reason == "SCAN_FREQUENCY_SCAN_ON_PUSH":
        said = f"scanned once at push{since}, never since: vulnerabilities published later are not found"
        return f"{said}; {_continuous_advice(image)}"
    if reason == "SCAN_ELIGIBILITY_EXPIRED":
        said = f"Inspector's rescan duration lapsed{since}: its findings will be closed with no fix"
        return f"{said}; {_RESCAN_ADVICE}"
    if reason == "IMAGE_ARCHIVED":
        return f"archived in ECR{since}: Inspector no longer scans it and will close its findings with no fix"
    if reason == "PENDING_DISABLE":
        return (
            f"Inspector's ECR scanning is being turned off{since}: its findings will be deleted (see ecrwatch status)"
        )
    if reason == "SCAN_FREQUENCY_MANUAL":
        return f"its repository is not scanned by Inspector{since}; {_continuous_advice(image)}"
    if reason == "RESOURCE_TERMINATED":
        gone = "deleted from ECR while it still runs (an ECR lifecycle policy?)"
        return f"{gone}{since}: Inspector is removing its findings"
    if reason is None:
        return "Inspector's coverage record carries no scan status: whether it still monitors this image is unknown"
    return f"Inspector scan status {reason} ({status.status}){since}: Inspector does not monitor this image"


def _scan_status_line(status: ScanStatus | None, image: ImageInfo) -> Text | None:
    if status is None or status.monitored:
        return None
    line = _text("Not monitored by Inspector: ", "bold yellow")
    line.append_text(_text(_not_monitored_text(status, image), "yellow"))
    return line


def _image_block(
    image: ImageInfo,
    max_severity: str,
    exposures: Sequence[Exposure],
    workloads: Sequence[MatchedWorkload],
    g: _Glyphs,
    scan_status: ScanStatus | None = None,
) -> RenderableType:
    heading = _severity(max_severity)
    heading.append(f" {g.dot} {len(exposures)} exposure{'s' if len(exposures) != 1 else ''}", style="")
    parts: list[RenderableType] = [heading, _image_lines(image, g)]
    lapsed = _scan_status_line(scan_status, image)
    if lapsed is not None:
        parts.append(lapsed)
    count = len(workloads)
    parts.append(Text(f"Running in {count} container{'s' if count != 1 else ''}:" if count else "Running in:"))
    if workloads:
        parts.append(_workloads_table(workloads, g))
    else:
        parts.append(Text("  no workload recorded for this image (see the JSON report)", style="yellow"))
    parts.append(Text(f"Findings ({len(exposures)}):"))
    parts.append(_findings_table(exposures, g))
    return Group(*parts)


def _index_of(entry: ImageEntry) -> str | None:
    """What the workloads of a platform image run, where it is a multi-arch image they know by another name:
    the index digest (matched via index) or the tag (matched via tag). None for an image run by its own digest."""
    names = sorted(
        f"tag:{m.workload.image.tag or 'latest'}" if m.matched_via == "tag" else f"index:{m.workload.reported_digest}"
        for m in entry.workloads
        if m.matched_via in ("index", "tag")
    )
    return names[0] if names else None


def _platform_groups(entries: Sequence[ImageEntry]) -> list[list[ImageEntry]]:
    """The platform images of one multi-arch image together, in the order the report lists them (its worst
    first); any other image alone."""
    groups: dict[object, list[ImageEntry]] = {}
    for i, entry in enumerate(entries):
        index = _index_of(entry)
        image = entry.image
        key = (image.registry, image.region, image.repository, index) if index else ("alone", i)
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


def _known_as(entries: Sequence[ImageEntry], g: _Glyphs) -> Text:
    """A multi-arch image as its users know it: repository:tag, and the index digest they run."""
    first = entries[0].image
    workloads = [m.workload for e in entries for m in e.workloads]
    tags = sorted({w.image.tag for w in workloads if w.image.tag} | {t for e in entries for t in e.image.tags})
    indexes = sorted({d for w in workloads if (d := w.reported_digest)})
    host = first.reference.split("/", 1)[0]
    name = f"{host}/{first.repository}" + (f":{', '.join(tags)}" if tags else "")
    out = _text(name, "bold")
    facts = [f"multi-arch index {short_digest(d, g.ellipsis)}" for d in indexes]
    facts.append(f"{len(entries)} platform images with findings")
    if first.registry:
        facts.append(f"account {first.registry}")
    if first.region:
        facts.append(first.region)
    out.append("\n")
    out.append_text(_text(f" {g.dot} ".join(facts), "dim"))
    return out


def _platform_name(image: ImageInfo) -> str:
    return image.platform or short_digest(image.digest or image.reference)


def _architecture_name(image: ImageInfo) -> str:
    """A platform in a column: `arm64` for linux/arm64 (Inspector scans Linux images), anything else whole."""
    name = _platform_name(image)
    return name.removeprefix("linux/") if image.platform else name


def _merged_findings_table(found: Sequence[tuple[ImageEntry, Sequence[Exposure]]], g: _Glyphs) -> Table:
    """One row per vulnerability, with the platform images it was found in: the same CVE in the amd64 and
    the arm64 image is one problem to fix, not two."""
    rows: dict[str, list[tuple[ImageInfo, Exposure]]] = {}
    for entry, exposures in found:
        for exposure in exposures:
            rows.setdefault(exposure.finding.vulnerability_id, []).append((entry.image, exposure))
    ordered = sorted(rows.values(), key=lambda row: min(exposure_order(e) for _, e in row))
    table = _table("Severity", "Vulnerability", f"Package {g.arrow} fixed", "EPSS", "Score", "Platforms")
    for row in ordered:
        worst = min((e for _, e in row), key=exposure_order)
        f = worst.finding
        packages = list(
            dict.fromkeys(_package_line(p, e.finding.fix_available, g) for _, e in row for p in e.finding.packages)
        )
        vulnerability = _text(f.vulnerability_id)
        if any(e.new for _, e in row):
            vulnerability.append_text(_text(" new", "bold"))
        vulnerability.append_text(_risk_marks(worst))
        table.add_row(
            _severity(f.severity),
            vulnerability,
            _lines(packages or [g.dash]),
            _text(_percent(f.epss_score, g)),
            _text(_score(f.inspector_score, g)),
            _lines(dict.fromkeys(_architecture_name(image) for image, _ in row)),
        )
    return table


def _index_block(found: Sequence[tuple[ImageEntry, Sequence[Exposure]]], g: _Glyphs) -> RenderableType:
    entries = [entry for entry, _ in found]
    worst = min((entry.max_severity for entry in entries), key=severity_rank)
    vulnerabilities = len({e.finding.vulnerability_id for _, exposures in found for e in exposures})
    heading = _severity(worst)
    heading.append(f" {g.dot} {vulnerabilities} vulnerabilit{'ies' if vulnerabilities != 1 else 'y'}", style="")
    parts: list[RenderableType] = [heading, _known_as(entries, g), Text("Platform images:")]
    for entry, exposures in found:
        line = _text(f"  {_platform_name(entry.image)}: ")
        line.append_text(_text(short_digest(entry.image.digest, g.ellipsis) if entry.image.digest else g.dash))
        line.append_text(_text(f" ({len(exposures)} exposure{'s' if len(exposures) != 1 else ''})", "dim"))
        parts.append(line)
        lapsed = _scan_status_line(entry.scan_status, entry.image)
        if lapsed is not None:
            parts.append(lapsed)
    platforms: dict[Workload, str] = {}
    workloads: dict[Workload, MatchedWorkload] = {}
    for entry in entries:
        for m in entry.workloads:
            workloads.setdefault(m.workload, m)
            name = _architecture_name(entry.image)
            platforms[m.workload] = f"{platforms[m.workload]}, {name}" if m.workload in platforms else name
    count = len(workloads)
    parts.append(Text(f"Running in {count} container{'s' if count != 1 else ''}:"))
    parts.append(_workloads_table(list(workloads.values()), g, platforms))
    parts.append(Text(f"Findings ({vulnerabilities}):"))
    parts.append(_merged_findings_table(found, g))
    return Group(*parts)


def _exposure_blocks(report: Report, g: _Glyphs, sort: str) -> list[RenderableType]:
    exposures: Sequence[Exposure] = report.exposures
    if sort == "risk":
        exposures = sorted(exposures, key=risk_sort_key)
    by_key: dict[tuple[str | None, str | None, str, str | None], list[Exposure]] = {}
    for exposure in exposures:
        by_key.setdefault(_image_key(exposure.image), []).append(exposure)
    blocks: list[RenderableType] = []
    entries: list[ImageEntry] = list(report.images)
    if sort == "risk":  # images in the order of their riskiest exposure
        rank = {key: i for i, key in enumerate(by_key)}
        entries.sort(key=lambda e: rank.get(_image_key(e.image), len(rank)))
    for group in _platform_groups(entries):
        reported = [(entry, by_key.pop(_image_key(entry.image), [])) for entry in group]
        reported = [(entry, found) for entry, found in reported if found]
        if len(reported) > 1:
            blocks.append(_index_block(reported, g))
            continue
        for entry, found in reported:
            blocks.append(_image_block(entry.image, entry.max_severity, found, entry.workloads, g, entry.scan_status))
    # Exposures whose image has no images[] entry are still shown, never dropped.
    for found in by_key.values():
        worst = min((e.finding.severity for e in found), key=severity_rank)
        blocks.append(_image_block(found[0].image, worst, found, (), g))
    return blocks


# --- unscanned and errors ------------------------------------------------------------------------------


def _unscanned_advice(entry: UnscannedEntry) -> str | None:
    if entry.reason == "not_monitored":
        return _continuous_advice(entry.image)
    if entry.reason == "scan_expired":
        return "Inspector stopped scanning it: " + _RESCAN_ADVICE
    return None


def _unscanned_block(entry: UnscannedEntry, g: _Glyphs) -> RenderableType:
    reason = _text(entry.reason, "yellow")
    if entry.detail:
        reason.append_text(_text(f": {entry.detail}"))
    parts: list[RenderableType] = [_image_lines(entry.image, g), reason]
    advice = _unscanned_advice(entry)
    if advice:
        parts.append(_text(f"To do: {advice}", "yellow"))
    parts.append(_workloads_table(entry.workloads, g))
    return Group(*parts)


_RESOLVED_REASONS = {
    "no_longer_running": "no longer running",
    "finding_closed": "finding closed",
    "filtered": "filtered out",
    "no_longer_monitored": "no longer monitored by Inspector (not a fix)",
}


def _resolved_table(resolved: Sequence[ResolvedExposure], g: _Glyphs) -> Table:
    table = _table("Severity", "Vulnerability", "Image", "Workloads", "Why")
    for r in resolved:
        lines = list(dict.fromkeys(f"{workload_label(w)} ({w.container})" for w in r.workloads))
        table.add_row(
            _severity(r.severity),
            _text(r.vulnerability_id),
            _text(_short_reference(r.image.reference, g)),
            _lines(lines or [g.dash]),
            _text(_RESOLVED_REASONS.get(r.reason or "", "no longer reported")),
        )
    return table


def _suppressed_lines(suppressed: Sequence[SuppressedExposure], g: _Glyphs) -> Group:
    """One entry a line, its rule on the next: a rule's FILE:LINE is long, and must read whole."""
    lines: list[RenderableType] = []
    for s in suppressed:
        rule = s.rule
        head = _severity(s.exposure.finding.severity)
        head.append_text(_text(f" {s.exposure.finding.vulnerability_id} {g.dot} "))
        head.append_text(_text(_short_reference(s.exposure.image.reference, g), "dim"))
        why = _text(f"  {rule.source}: {rule.reason}")
        if rule.expires:
            why.append_text(_text(f" (until {rule.expires})", "dim"))
        if rule.vex_status:
            said = f"VEX {rule.vex_status}" + (f", {rule.justification}" if rule.justification else "")
            why.append_text(_text(f" ({said})", "dim"))
        lines += [head, why]
    return Group(*lines)


def _errors_table(report: Report, g: _Glyphs) -> Table:
    table = _table("Source", "Code", "Message")
    for error in report.errors:
        source = _text(error.source)
        if error.account and not error.source.endswith(error.account):  # account:ID already names it
            source.append_text(_text(f"\naccount {error.account}", "dim"))
        table.add_row(source, _text(error.code or g.dash), _text(error.message))
    return table


def _heading(console: Console, title: str, style: str = "bold") -> None:
    console.print()
    console.rule(Text(title, style=style), align="left")


# Whether the report being rendered covers several accounts: each workload's account is then shown.
_SEVERAL_ACCOUNTS: ContextVar[bool] = ContextVar("several_accounts", default=False)


def _of_team(team: str | None) -> Callable[[Workload], bool]:
    return lambda workload: workload.team == team


def render_table(report: Report, console: Console, *, sort: str = "severity", group_by: str = "image") -> None:
    """Print the report for a person on `console` (its width, its terminal detection, its colours). `sort`
    "severity" keeps the report's order; "risk" puts KEV first, then EPSS, then severity. `group_by` "team"
    gives each team (workload.team) its own section."""
    token = _SEVERAL_ACCOUNTS.set(len(report.scope.accounts) > 1)
    try:
        _render(report, console, sort, group_by)
    finally:
        _SEVERAL_ACCOUNTS.reset(token)


def _render(report: Report, console: Console, sort: str, group_by: str) -> None:
    g = _glyphs(console)
    console.print(_summary_panel(report, g))

    if report.exposures and group_by == "team":
        # One section a team (an image several teams run is in each of their sections), nobody's last.
        names = sorted({m.workload.team for e in report.images for m in e.workloads}, key=lambda t: (t is None, t))
        for team in names:
            part = narrowed(report, _of_team(team))
            title = f"team {team}" if team is not None else "no team (no --owner-label found)"
            _heading(console, f"Exposures of {title} ({len(part.exposures)})")
            for block in _exposure_blocks(part, g, sort):
                console.print()
                console.print(block)
    elif report.exposures:
        _heading(console, f"Exposures by image ({len(report.exposures)})")
        for block in _exposure_blocks(report, g, sort):
            console.print()
            console.print(block)
    else:
        message = "No running container has an exposure"
        filters = report.scope.filters
        if filters.min_severity or filters.fixable_only:
            message += " that passes the filters"
        console.print()
        console.print(Text(message + ".", style="bold green"))

    if report.unscanned:
        _heading(console, f"Unscanned running images ({len(report.unscanned)}): not known to be safe", "bold yellow")
        for entry in report.unscanned:
            console.print()
            console.print(_unscanned_block(entry, g))

    if report.resolved:
        _heading(console, f"Resolved since the previous run ({len(report.resolved)})", "bold green")
        console.print(_resolved_table(report.resolved, g))

    if report.suppressed:
        _heading(console, f"Suppressed: risk accepted ({len(report.suppressed)})", "bold")
        console.print(_suppressed_lines(report.suppressed, g))
    for rule in report.expired_rules or ():
        console.print(
            _text(f"Expired rule {rule.source} ({rule.vulnerability}, {rule.expires}) no longer applies", "yellow")
        )

    if report.errors:
        _heading(console, f"Errors ({len(report.errors)}): the report is incomplete", "bold red")
        console.print(_errors_table(report, g))
    elif not report.exposures and not report.unscanned:
        console.print(Text("Every running image was scanned, and every source in scope was read."))
