"""What the user asked triage to do in one run: the fail conditions, whether to ask for KEV data."""

from __future__ import annotations

from dataclasses import dataclass, field

from ecrwatch.triage.fail import FailConditions


@dataclass(frozen=True)
class TriagePolicy:
    fail: FailConditions = field(default_factory=FailConditions)
    kev: bool = True  # ask Inspector for CISA KEV data (--no-kev: kev stays null)
