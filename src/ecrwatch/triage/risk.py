"""`--sort risk`: what attackers use first. KEV-listed vulnerabilities, then EPSS (the likelihood of
exploitation in the next 30 days, highest first, missing last), then severity; the default order breaks ties."""

from __future__ import annotations

from ecrwatch.correlate import exposure_sort_key
from ecrwatch.models import Exposure, severity_rank


def risk_sort_key(exposure: Exposure) -> tuple[object, ...]:
    epss = exposure.finding.epss_score
    return (
        0 if exposure.kev is not None else 1,
        -epss if epss is not None and epss == epss else float("inf"),  # NaN (epss != epss) is missing
        severity_rank(exposure.finding.severity),
        exposure_sort_key(exposure),
    )


def is_exploitable(exposure: Exposure) -> bool:
    """An exploit is known (Inspector's exploitAvailable), or the vulnerability is in CISA's KEV catalogue."""
    return exposure.kev is not None or (exposure.finding.exploit_available or "").upper() == "YES"
