"""Fail conditions: which reported exposures make a run exit 1 (DESIGN.md, "Triage")."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ecrwatch.models import Exposure, Report, severity_rank
from ecrwatch.triage.risk import is_exploitable


@dataclass(frozen=True)
class FailConditions:
    """Any one met makes an exposure fail the run: --fail-on SEV, --fail-on-kev, --fail-on-exploitable
    (an exploit is known, or the vulnerability is in CISA's KEV catalogue), --fail-on-epss P (EPSS >= P)."""

    severity: str | None = None
    kev: bool = False
    exploitable: bool = False
    epss: float | None = None

    def met_by(self, exposure: Exposure) -> bool:
        finding = exposure.finding
        in_kev = exposure.kev is not None
        if self.severity and severity_rank(finding.severity) <= severity_rank(self.severity):
            return True
        if self.kev and in_kev:
            return True
        if self.exploitable and is_exploitable(exposure):
            return True
        return self.epss is not None and finding.epss_score is not None and finding.epss_score >= self.epss


def mark_failing(report: Report, conditions: FailConditions) -> Report:
    """The report with each exposure's `fails_run` set; suppressed exposures never fail a run."""
    # Replaced only where `fails_run` changes (most runs have no fail condition, L has 20,000 exposures).
    exposures = tuple(
        e if (fails := conditions.met_by(e)) == e.fails_run else replace(e, fails_run=fails) for e in report.exposures
    )
    return replace(report, exposures=exposures)
