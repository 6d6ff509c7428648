"""What the user asked triage to do in one run: the fail conditions, whether to ask for KEV data, the risks
accepted (ignore file, VEX)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ecrwatch.triage.apply import Acceptance
from ecrwatch.triage.fail import FailConditions


@dataclass(frozen=True)
class TriagePolicy:
    fail: FailConditions = field(default_factory=FailConditions)
    kev: bool = True  # ask Inspector for CISA KEV data (--no-kev: kev stays null)
    acceptance: Acceptance = field(default_factory=Acceptance)  # --ignore-file, --vex
    today: date | None = None  # the day ignore rules expire against (None: today, UTC)
    owner_labels: tuple[str, ...] = ()  # --owner-label: the labels and tags that name a workload's team
    team: str | None = None  # --team: the report (and its exit status) narrowed to this team's workloads
