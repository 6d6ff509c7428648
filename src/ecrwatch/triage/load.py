"""Reading the risk-acceptance files a run was given, before any AWS call: a bad one is exit 2 with nothing
read. Expired ignore rules are said on stderr here, once, as well as listed in the report."""

from __future__ import annotations

import logging
from datetime import date

from ecrwatch.triage.apply import Acceptance, expired_rules
from ecrwatch.triage.rules import load_ignore_file
from ecrwatch.triage.vex import load_vex

log = logging.getLogger(__name__)


def load_acceptance(ignore_file: str | None, vex_files: tuple[str, ...], *, today: date) -> Acceptance:
    rules = load_ignore_file(ignore_file) if ignore_file else ()
    vex = load_vex(vex_files) if vex_files else None
    for rule in expired_rules(rules, today):
        log.warning(
            "ignore rule %s for %s expired on %s and no longer applies (%s): renew or remove it",
            rule.source,
            rule.vulnerability,
            rule.expires,
            rule.reason,
        )
    if ignore_file and not rules:
        log.warning("ignore file %s has no rules", ignore_file)
    return Acceptance(rules, vex, given=bool(ignore_file or vex_files))
