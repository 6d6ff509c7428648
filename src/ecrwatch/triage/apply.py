"""Risk acceptance applied to a report: exposures an ignore rule or a VEX statement sets aside move to
`suppressed`, out of `exposures` (and so out of the fail conditions and the notifications).

An exposure is one finding on one scanned image; the workloads are per image. A rule narrowed to workloads
(account, cluster, namespace, workload, container, or an index digest) covers the finding only in the
workloads it matches. The exposure is set aside when every workload that runs its image is covered (by any
rule or statement); where some are and some are not, it stays reported, whole, for the workloads nobody
accepted the risk for: a rule written for one namespace never hides the image's exposure in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from ecrwatch.models import (
    SEVERITIES,
    ExpiredRule,
    Exposure,
    Finding,
    ImageEntry,
    ImageInfo,
    Report,
    SuppressedExposure,
    SuppressionRule,
    Workload,
    severity_rank,
)
from ecrwatch.triage.rules import IgnoreRule
from ecrwatch.triage.vex import VexStatements


@dataclass(frozen=True)
class Acceptance:
    """The ignore file's rules and the VEX documents' statements given for a run."""

    rules: tuple[IgnoreRule, ...] = ()
    vex: VexStatements | None = None
    given: bool = False  # an ignore file or VEX document was given (even one with no rules): say what it did


def expired_rules(rules: Sequence[IgnoreRule], today: date) -> tuple[ExpiredRule, ...]:
    return tuple(
        ExpiredRule(r.source, r.reason, r.expires.isoformat(), r.vulnerability)
        for r in rules
        if r.expires is not None and r.expired(today)
    )


class _Judge:
    def __init__(self, acceptance: Acceptance, today: date) -> None:
        self._rules: dict[str, list[IgnoreRule]] = {}
        for rule in acceptance.rules:
            if not rule.expired(today):
                self._rules.setdefault(rule.vulnerability.upper(), []).append(rule)
        self._vex = acceptance.vex

    def candidates(self, finding: Finding) -> list[IgnoreRule] | None:
        """The rules that may set this finding aside; None where neither a rule nor a statement speaks of it."""
        rules = [r for r in self._rules.get(finding.vulnerability_id.upper(), ()) if r.applies_to(finding)]
        if rules or (self._vex is not None and self._vex.speaks_of(finding)):
            return rules
        return None

    def rule_for(
        self, finding: Finding, rules: Sequence[IgnoreRule], workload: Workload | None
    ) -> SuppressionRule | None:
        for rule in rules:
            if rule.covers(finding, workload):
                expires = rule.expires.isoformat() if rule.expires else None
                return SuppressionRule(rule.source, rule.reason, expires)
        statement = self._vex.holding(finding, workload) if self._vex is not None else None
        if statement is None:
            return None
        return SuppressionRule(
            statement.source, statement.reason, None, vex_status=statement.status, justification=statement.justification
        )


def _key(image: ImageInfo) -> tuple[str | None, str | None, str, str | None]:
    return (image.registry, image.region, image.repository, image.digest)


def accept_risks(report: Report, acceptance: Acceptance, today: date) -> Report:
    """The report with the exposures `acceptance` covers in every workload moved to `suppressed`, and the
    expired rules listed. Without an ignore file or VEX document, the report as it was."""
    if not acceptance.given:
        return report
    judge = _Judge(acceptance, today)
    workloads = {_key(entry.image): [m.workload for m in entry.workloads] for entry in report.images}
    kept: list[Exposure] = []
    suppressed: list[SuppressedExposure] = []
    for exposure in report.exposures:
        finding = exposure.finding
        rules = judge.candidates(finding)
        verdict = None
        if rules is not None:
            running: Sequence[Workload | None] = workloads.get(_key(exposure.image)) or [None]
            verdicts = [judge.rule_for(finding, rules, w) for w in running]
            if all(v is not None for v in verdicts):
                verdict = verdicts[0]
        if verdict is None:
            kept.append(exposure)
        else:
            suppressed.append(SuppressedExposure(exposure, verdict))
    return _with_exposures(report, kept, tuple(suppressed), expired_rules(acceptance.rules, today))


def _running(entries: Sequence[ImageEntry]) -> set[str]:
    """The running images of these entries, by the digest that runs (an index, for a multi-arch image)."""
    return {m.workload.running_digest or entry.image.digest or "" for entry in entries for m in entry.workloads}


def _with_exposures(
    report: Report, kept: list[Exposure], suppressed: tuple[SuppressedExposure, ...], expired: tuple[ExpiredRule, ...]
) -> Report:
    """The report's images, counts and summary for the exposures that are left."""
    by_image: dict[tuple[str | None, str | None, str, str | None], list[Exposure]] = {}
    for exposure in kept:
        by_image.setdefault(_key(exposure.image), []).append(exposure)
    images: list[ImageEntry] = []
    for entry in report.images:
        left = by_image.get(_key(entry.image))
        if left:  # an image whose every exposure was set aside is no longer a vulnerable image
            worst = min((e.finding.severity for e in left), key=severity_rank)
            images.append(replace(entry, exposures=len(left), max_severity=worst))
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for exposure in kept:
        severity = exposure.finding.severity
        by_severity[severity if severity in by_severity else SEVERITIES[-1]] += 1
    # The running images that are no longer vulnerable: those only the dropped entries ran.
    dropped = len(_running(report.images)) - len(_running(images))
    summary = replace(
        report.summary,
        exposures=len(kept),
        by_severity=by_severity,
        vulnerable_running_images=max(0, report.summary.vulnerable_running_images - dropped),
        suppressed=len(suppressed),
    )
    return replace(
        report,
        summary=summary,
        images=tuple(images),
        exposures=tuple(kept),
        suppressed=suppressed,
        expired_rules=expired,
    )
