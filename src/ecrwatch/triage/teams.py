"""A report seen by one team: the workloads it owns (workload.team, from --owner-label), and the exposures and
unscanned images they run. Pure. Used to route notifications (`--notify-webhook team=NAME:URL`): each team
hears of its own exposures; the plain targets hear of the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ecrwatch.models import SEVERITIES, ImageInfo, MatchedWorkload, Report, Workload, severity_rank

_Key = tuple[str | None, str | None, str, str | None]


def _key(image: ImageInfo) -> _Key:
    return (image.registry, image.region, image.repository, image.digest)


def narrowed(report: Report, keep: Callable[[Workload], bool]) -> Report:
    """The report for the workloads `keep` accepts: images, exposures and unscanned images they run, with
    their counts; errors are kept whole (an incomplete read concerns every team)."""

    def kept(workloads: tuple[MatchedWorkload, ...]) -> tuple[MatchedWorkload, ...]:
        return tuple(m for m in workloads if keep(m.workload))

    images = {_key(e.image): replace(e, workloads=kept(e.workloads)) for e in report.images}
    images = {k: e for k, e in images.items() if e.workloads}
    exposures = tuple(
        replace(e, workload_count=len(images[_key(e.image)].workloads))
        for e in report.exposures
        if _key(e.image) in images
    )
    unscanned = tuple(u for u in (replace(u, workloads=kept(u.workloads)) for u in report.unscanned) if u.workloads)
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for exposure in exposures:
        severity = exposure.finding.severity
        by_severity[severity if severity in by_severity else SEVERITIES[-1]] += 1
    found: dict[_Key, list[str]] = {}
    for exposure in exposures:
        found.setdefault(_key(exposure.image), []).append(exposure.finding.severity)
    entries = tuple(
        replace(e, exposures=len(found[k]), max_severity=min(found[k], key=severity_rank))
        for k, e in images.items()
        if k in found
    )
    summary = replace(  # the run's container and image counts stay the run's
        report.summary,
        exposures=len(exposures),
        by_severity=by_severity,
        vulnerable_running_images=len(entries),
        unscanned_running_images=len(unscanned),
    )
    return replace(report, summary=summary, images=entries, exposures=exposures, unscanned=unscanned)


def for_team(report: Report, team: str) -> Report:
    return narrowed(report, lambda w: w.team == team)


def for_no_team_of(report: Report, teams: frozenset[str]) -> Report:
    """What no routed team owns: workloads with no team, or a team nobody routes."""
    return narrowed(report, lambda w: w.team not in teams)
