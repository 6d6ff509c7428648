"""Registry scanning, the pure part: filter validation, the merge/replace plan, the diff, the backup document.

No AWS calls here (those are in `registry.py`). The one rule everything follows: ECR's
PutRegistryScanningConfiguration replaces the whole rule set, so a plan always starts from what the registry
holds now and keeps every rule and filter it does not mean to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecrwatch.errors import UsageError
from ecrwatch.regions import REGION_PATTERN

BASIC = "BASIC"
ENHANCED = "ENHANCED"
SCAN_TYPES = (BASIC, ENHANCED)

CONTINUOUS = "CONTINUOUS_SCAN"
ON_PUSH = "SCAN_ON_PUSH"
MANUAL = "MANUAL"
SCAN_FREQUENCIES = (CONTINUOUS, ON_PUSH, MANUAL)
# Enhanced scanning knows only these two; MANUAL exists for basic scanning.
ENHANCED_FREQUENCIES = (CONTINUOUS, ON_PUSH)

FILTER_TYPE = "WILDCARD"  # the only ScanningRepositoryFilterType there is

# botocore's ScanningRepositoryFilterValue: min 1, max 255, this pattern. ScanningRepositoryFilterList max 100,
# RegistryScanningRuleList max 2.
FILTER_PATTERN = re.compile(r"^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$")
MAX_FILTER_LENGTH = 255
MAX_RULES = 2
MAX_FILTERS_PER_RULE = 100

FREQUENCY_OPTIONS: Mapping[str, str] = {"continuous": CONTINUOUS, "on-push": ON_PUSH}
RESCAN_DURATION_OPTIONS: Mapping[str, str] = {
    "14d": "DAYS_14",
    "30d": "DAYS_30",
    "60d": "DAYS_60",
    "90d": "DAYS_90",
    "180d": "DAYS_180",
    "lifetime": "LIFETIME",
}
PULL_RESCAN_DURATION_OPTIONS: Mapping[str, str] = {k: v for k, v in RESCAN_DURATION_OPTIONS.items() if k != "lifetime"}

# Inspector2 enums (botocore's Status, EcrRescanDuration, EcrPullDateRescanDuration, EcrPullDateRescanMode).
ENABLED = "ENABLED"
ENABLING = "ENABLING"
DISABLING = "DISABLING"
DISABLED = "DISABLED"
INSPECTOR_STATUSES = (ENABLING, ENABLED, DISABLING, DISABLED, "SUSPENDING", "SUSPENDED")

# The option that lets a plan write BASIC where Inspector scans ECR (a deactivation: its findings are deleted).
ALLOW_DEACTIVATION = "--allow-deactivation"
RESCAN_DURATIONS = ("LIFETIME", "DAYS_30", "DAYS_180", "DAYS_14", "DAYS_60", "DAYS_90", "DAYS_3", "DAYS_7")
PULL_RESCAN_DURATIONS = ("DAYS_14", "DAYS_30", "DAYS_60", "DAYS_90", "DAYS_180", "DAYS_3", "DAYS_7")
PULL_RESCAN_MODES = ("LAST_PULL_DATE", "LAST_IN_USE_AT")

BACKUP_FORMAT = "ecrwatch-scanning-backup/1"

_RULE_NAMES = {CONTINUOUS: "continuous", ON_PUSH: "on-push", MANUAL: "manual"}
_REGION = re.compile(f"^{REGION_PATTERN}$")


def rule_name(frequency: str) -> str:
    """How a person calls a rule: `the continuous rule (CONTINUOUS_SCAN)`."""
    return f"the {_RULE_NAMES.get(frequency, frequency.lower())} rule ({frequency})"


# --- the configuration as read ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanRule:
    frequency: str  # CONTINUOUS_SCAN | SCAN_ON_PUSH | MANUAL
    filters: tuple[str, ...]  # WILDCARD patterns, in the registry's order


@dataclass(frozen=True)
class RegistryScanning:
    """ECR's registry scanning configuration of one region."""

    scan_type: str  # BASIC | ENHANCED
    rules: tuple[ScanRule, ...]

    def rule(self, frequency: str) -> ScanRule | None:
        return next((r for r in self.rules if r.frequency == frequency), None)

    def normalized(self) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
        """Order-free form for comparison: ECR may hand back rules and filters in another order than written."""
        merged: dict[str, set[str]] = {}
        for rule in self.rules:
            merged.setdefault(rule.frequency, set()).update(rule.filters)
        return self.scan_type, tuple(sorted((f, tuple(sorted(p))) for f, p in merged.items()))

    def same_as(self, other: RegistryScanning) -> bool:
        return self.normalized() == other.normalized()


@dataclass(frozen=True)
class RescanSettings:
    """Inspector's ECR re-scan durations (values are the API's own: DAYS_30, LIFETIME, LAST_PULL_DATE)."""

    rescan_duration: str | None = None
    pull_date_rescan_duration: str | None = None
    pull_date_rescan_mode: str | None = None


@dataclass(frozen=True)
class InspectorEcr:
    status: str  # Inspector2 Status of the ECR resource type: ENABLED, DISABLED, ENABLING, ...
    rescan: RescanSettings = field(default_factory=RescanSettings)

    @property
    def active_or_activating(self) -> bool:
        return self.status in (ENABLED, ENABLING)


@dataclass(frozen=True)
class RegionState:
    region: str
    registry: RegistryScanning
    inspector: InspectorEcr


@dataclass(frozen=True)
class ScanSwitch:
    """How the registry's scan type and Inspector's ECR status agree. On AWS they are one switch (activating
    Inspector's ECR scanning makes the registry ENHANCED, deactivating it makes it BASIC), so they disagree only
    in transition or when something is wrong; `state` is a stable code for scripts, `detail` says it for a
    person (None when they agree)."""

    state: str  # on | off | activating | deactivating | enhanced_without_inspector | inspector_without_enhanced
    detail: str | None

    @property
    def consistent(self) -> bool:
        return self.state in ("on", "off")


def scan_switch(state: RegionState) -> ScanSwitch:
    scan_type, status = state.registry.scan_type, state.inspector.status
    if status == ENABLING:
        return ScanSwitch(
            "activating",
            f"Inspector is activating ECR scanning; the registry ({scan_type}) is ENHANCED once it is ENABLED",
        )
    if status == DISABLING:
        return ScanSwitch(
            "deactivating",
            f"Inspector is deactivating ECR scanning: its ECR findings are being deleted, and the registry "
            f"({scan_type}) becomes BASIC",
        )
    if scan_type == ENHANCED and status != ENABLED:
        return ScanSwitch(
            "enhanced_without_inspector",
            f"the registry is ENHANCED but Inspector scanning for ECR is {status}: neither Inspector nor ECR's "
            "basic scanner scans its images; `ecrwatch enable-scanning` activates Inspector",
        )
    if scan_type == BASIC and status == ENABLED:
        return ScanSwitch(
            "inspector_without_enhanced",
            "Inspector scanning for ECR is ENABLED but the registry is BASIC: ECR's basic scanner scans, not "
            "Inspector; `ecrwatch enable-scanning` makes the registry ENHANCED",
        )
    return ScanSwitch("on" if scan_type == ENHANCED else "off", None)


# --- what the user asked for ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EnableRequest:
    frequency: str  # CONTINUOUS_SCAN | SCAN_ON_PUSH
    filters: tuple[str, ...]
    rescan_duration: str | None = None  # EcrRescanDuration value
    pull_date_rescan_duration: str | None = None  # EcrPullDateRescanDuration value
    replace: bool = False


def filter_problem(pattern: str) -> str | None:
    """Why ECR would refuse this repository filter, or None when it is valid."""
    if not pattern:
        return "it is empty"
    if len(pattern) > MAX_FILTER_LENGTH:
        return f"it is {len(pattern)} characters long; the limit is {MAX_FILTER_LENGTH}"
    if FILTER_PATTERN.match(pattern):
        return None
    if any(c.isupper() for c in pattern):
        return "it has upper-case letters (repository names and filters are lower case)"
    bad = sorted({c for c in pattern if not re.match(r"[._\-/a-z0-9*]", c)})
    if bad:
        return "it has characters a filter cannot have: " + " ".join(repr(c) for c in bad)
    if pattern[0] in "._-/":
        return f"it starts with {pattern[0]!r}; it must start with a letter, a digit or *"
    if pattern[-1] in "._-/":
        return f"it ends with {pattern[-1]!r}; it must end with a letter, a digit or *"
    return "it has two separators (. _ - /) in a row"


FILTER_SYNTAX = (
    "a filter is 1-255 characters: lower-case letters, digits and *, with single . _ - / between them, "
    "starting and ending with a letter, a digit or * (e.g. '*', 'prod-*', 'team/*')"
)


def validate_filters(patterns: Sequence[str], frequency: str) -> tuple[str, ...]:
    """The user's filters, de-duplicated in order; a UsageError naming every bad one and the rule otherwise."""
    problems = [f"--filter {p!r} for {rule_name(frequency)}: {why}" for p in patterns if (why := filter_problem(p))]
    if problems:
        raise UsageError("invalid repository filter:\n  " + "\n  ".join(problems), FILTER_SYNTAX)
    unique = tuple(dict.fromkeys(patterns))
    if len(unique) > MAX_FILTERS_PER_RULE:
        raise UsageError(
            f"{len(unique)} filters for {rule_name(frequency)}; ECR allows at most {MAX_FILTERS_PER_RULE} a rule",
            "use wildcards ('team-*') to cover several repositories with one filter",
        )
    return unique


def enable_request(
    frequency: str | None,
    filters: Sequence[str],
    rescan_duration: str | None = None,
    pull_rescan_duration: str | None = None,
    replace: bool = False,
) -> EnableRequest:
    """Validate the command-line values (option spellings: continuous, 30d, lifetime) into a request; the
    defaults are continuous scanning for `*`."""
    scan_frequency = FREQUENCY_OPTIONS[frequency or "continuous"]
    return EnableRequest(
        frequency=scan_frequency,
        filters=validate_filters(filters or ("*",), scan_frequency),
        rescan_duration=RESCAN_DURATION_OPTIONS[rescan_duration] if rescan_duration else None,
        pull_date_rescan_duration=PULL_RESCAN_DURATION_OPTIONS[pull_rescan_duration] if pull_rescan_duration else None,
        replace=replace,
    )


# --- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionPlan:
    """What to write in one region, and what a person should know about it."""

    region: str
    before: RegionState
    registry: RegistryScanning  # the configuration after the change
    rescan: RescanSettings | None  # Inspector ecrConfiguration to write; None: leave as is
    activate_inspector: bool  # call inspector2:Enable for ECR
    wait_for_inspector: bool  # wait until ECR shows ENABLED (also when it is already ENABLING)
    notes: tuple[str, ...] = ()
    leave_inspector_enabled: bool = False  # restore: the backup had it off; it is left on (see the notes)
    # The write makes the registry BASIC where Inspector scans ECR: on AWS that deactivates Inspector's ECR
    # scanning and deletes its ECR findings. Applied only when the user allowed it (ALLOW_DEACTIVATION).
    deactivate_inspector: bool = False
    deactivation_allowed: bool = False

    @property
    def registry_changed(self) -> bool:
        return not self.registry.same_as(self.before.registry)

    @property
    def changed(self) -> bool:
        return self.registry_changed or self.rescan is not None or self.wait_for_inspector


def _check_limits(registry: RegistryScanning, region: str) -> None:
    """The merged result must fit ECR's limits; checked before any write."""
    if len(registry.rules) > MAX_RULES:
        raise UsageError(
            f"{region}: the merged configuration would have {len(registry.rules)} rules; ECR allows {MAX_RULES}",
            "use --replace to replace the rule set, or remove a rule first",
        )
    for rule in registry.rules:
        if len(rule.filters) > MAX_FILTERS_PER_RULE:
            raise UsageError(
                f"{region}: {rule_name(rule.frequency)} would have {len(rule.filters)} filters (the registry's and "
                f"yours together); ECR allows {MAX_FILTERS_PER_RULE} a rule",
                "use wildcards to cover several repositories with one filter, or --replace",
            )


def _merge_rules(existing: Sequence[ScanRule], frequency: str, filters: Sequence[str]) -> tuple[ScanRule, ...]:
    """Existing rules kept as they are; new filters appended to the first rule of `frequency` (or a new rule)."""
    rules = list(existing)
    for index, rule in enumerate(rules):
        if rule.frequency == frequency:
            added = tuple(p for p in filters if p not in rule.filters)
            rules[index] = ScanRule(frequency, rule.filters + added)
            return tuple(rules)
    return (*rules, ScanRule(frequency, tuple(filters)))


def _enhanced_notes(before: RegistryScanning, after: RegistryScanning, dropped_manual: Sequence[ScanRule]) -> list[str]:
    notes: list[str] = []
    if before.scan_type == BASIC:
        on_push = before.rule(ON_PUSH)
        notes.append(
            "BASIC -> ENHANCED: ECR's basic scanner stops and Amazon Inspector scans instead (billed by Inspector). "
            "A repository that matches no rule is no longer scanned at all (under BASIC it could be scanned by hand)."
        )
        if on_push and on_push.filters and after.rule(ON_PUSH) is not None:
            notes.append(
                f"the existing scan-on-push rule ({len(on_push.filters)} filter(s)) is kept; under ENHANCED it means "
                "one Inspector scan at push and no re-scans when new vulnerabilities are published."
            )
    for rule in dropped_manual:
        notes.append(
            f"{rule_name(MANUAL)} with filter(s) {', '.join(rule.filters) or '(none)'} is dropped: ENHANCED has no "
            "manual frequency (repositories no rule matches are simply not scanned)."
        )
    continuous, on_push_after = after.rule(CONTINUOUS), after.rule(ON_PUSH)
    if continuous and "*" in continuous.filters and on_push_after and on_push_after.filters:
        notes.append(
            "the continuous filter '*' matches every repository and ECR applies continuous over on-push where both "
            "match, so the on-push filters have no effect while '*' is there; they are kept, not deleted."
        )
    return notes


def plan_enable(state: RegionState, request: EnableRequest) -> RegionPlan:
    before = state.registry
    notes: list[str] = []
    dropped_manual: list[ScanRule] = []
    if request.replace:
        rules: tuple[ScanRule, ...] = (ScanRule(request.frequency, request.filters),)
        if any(d.removed for d in rule_diffs(before, RegistryScanning(ENHANCED, rules))):
            notes.append("--replace: the rule set is replaced as a whole; the filters marked '-' are removed.")
    else:
        kept = [r for r in before.rules if r.frequency in ENHANCED_FREQUENCIES]
        dropped_manual = [r for r in before.rules if r.frequency not in ENHANCED_FREQUENCIES]
        rules = _merge_rules(kept, request.frequency, request.filters)
    after = RegistryScanning(ENHANCED, rules)
    _check_limits(after, state.region)
    notes.extend(_enhanced_notes(before, after, dropped_manual))
    plain = [p for p in request.filters if "*" not in p]
    if plain:
        notes.append(
            "a filter without * matches every repository whose name contains it: " + ", ".join(repr(p) for p in plain)
        )
    return RegionPlan(
        region=state.region,
        before=state,
        registry=after,
        rescan=_rescan_change(state, request.rescan_duration, request.pull_date_rescan_duration),
        activate_inspector=not state.inspector.active_or_activating,
        wait_for_inspector=state.inspector.status != ENABLED,
        notes=tuple(notes),
    )


def _rescan_change(state: RegionState, rescan: str | None, pull: str | None) -> RescanSettings | None:
    """The ecrConfiguration to write, or None when nothing was asked or it is already so.

    UpdateConfiguration requires rescanDuration, so a request that sets only the pull duration carries the
    current push duration along; the pull mode is kept as it is."""
    if rescan is None and pull is None:
        return None
    current = state.inspector.rescan
    wanted = RescanSettings(
        rescan_duration=rescan or current.rescan_duration,
        pull_date_rescan_duration=pull or current.pull_date_rescan_duration,
        pull_date_rescan_mode=current.pull_date_rescan_mode,
    )
    if wanted == current:
        return None
    if wanted.rescan_duration is None:
        raise UsageError(
            f"{state.region}: Inspector reports no push-date rescan duration, and UpdateConfiguration needs one",
            "pass --rescan-duration as well as --pull-rescan-duration",
        )
    return wanted


def plan_restore(state: RegionState, saved: RegionState, *, allow_deactivation: bool = False) -> RegionPlan:
    """Put back the backup's rules exactly (a BASIC registry stays BASIC) and its rescan durations.

    The registry's scan type and Inspector's ECR scanning are one switch on AWS, so the backup's scan type
    decides Inspector's side: ENHANCED is restored with Inspector active (activated and waited for where it is
    not), BASIC without it. Writing BASIC where Inspector scans ECR deactivates it and deletes its ECR findings:
    such a plan is marked `deactivate_inspector`, and is applied only with `allow_deactivation`."""
    region = state.region
    notes: list[str] = []
    current = state.inspector
    wanted = saved.inspector.rescan
    rescan: RescanSettings | None = None
    if wanted.rescan_duration is not None:
        merged = RescanSettings(
            wanted.rescan_duration,
            wanted.pull_date_rescan_duration or current.rescan.pull_date_rescan_duration,
            wanted.pull_date_rescan_mode or current.rescan.pull_date_rescan_mode,
        )
        rescan = merged if merged != current.rescan else None
    writes_rules = not saved.registry.same_as(state.registry)
    activate = wait = leave_enabled = deactivate = False
    if saved.registry.scan_type == ENHANCED:
        activate = not current.active_or_activating
        wait = current.status != ENABLED
        if not saved.inspector.active_or_activating:
            leave_enabled = not activate
            notes.append(
                f"the backup has an ENHANCED registry beside Inspector for ECR {saved.inspector.status} (AWS shows "
                "that only in transition); ENHANCED is Inspector's scanning, so Inspector is left on (or activated). "
                f"To deactivate it yourself (its ECR findings are deleted): {disable_command(region)}"
            )
    else:
        deactivate = writes_rules and current.active_or_activating
        if saved.inspector.active_or_activating:
            notes.append(
                f"the backup has Inspector for ECR {saved.inspector.status} beside a BASIC registry (AWS shows that "
                "only in transition); the BASIC registry is restored, so Inspector is not activated."
            )
        if deactivate:
            notes.append(
                f"{state.registry.scan_type} -> BASIC deactivates Amazon Inspector's ECR scanning in {region}: on AWS "
                "the registry's scan type and Inspector's ECR scanning are one switch. Inspector deletes its ECR "
                "findings and coverage for this account and region, and activating it again rescans every image "
                "from scratch. Export the findings first if you need them (aws inspector2 create-findings-report)."
            )
            notes.append(
                f"allowed by {ALLOW_DEACTIVATION}"
                if allow_deactivation
                else f"refused: ecrwatch deactivates Inspector only when asked to, with {ALLOW_DEACTIVATION}"
            )
        elif current.active_or_activating:
            leave_enabled = True
            notes.append(
                f"the backup had Inspector for ECR {saved.inspector.status}; it stays {current.status}: the registry "
                "is already as the backup has it, and ecrwatch does not deactivate Inspector on its own (that "
                f"deletes its ECR findings). To do it yourself: {disable_command(region)}"
            )
    return RegionPlan(
        region=region,
        before=state,
        registry=saved.registry,
        rescan=rescan,
        activate_inspector=activate,
        wait_for_inspector=wait,
        notes=tuple(notes),
        leave_inspector_enabled=leave_enabled,
        deactivate_inspector=deactivate,
        deactivation_allowed=deactivate and allow_deactivation,
    )


def refuse_unallowed_deactivations(plans: Sequence[RegionPlan]) -> None:
    """UsageError (exit 2) naming the flag when a plan would deactivate Inspector's ECR scanning unasked."""
    refused = [p.region for p in plans if p.deactivate_inspector and not p.deactivation_allowed]
    if refused:
        raise UsageError(
            f"this would set the registry of {', '.join(refused)} to BASIC, which deactivates Amazon Inspector's ECR "
            "scanning there and deletes its ECR findings; nothing was written",
            f"pass {ALLOW_DEACTIVATION} to do it anyway (export the findings first if you need them), or restore a "
            "backup whose registry is ENHANCED",
        )


def disable_command(region: str) -> str:
    return f"aws inspector2 disable --resource-types ECR --region {region}"


# --- the diff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDiff:
    frequency: str
    kept: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def status(self) -> str:
        """new, removed, changed or unchanged."""
        if not self.kept and not self.removed:
            return "new"
        if not self.kept and not self.added:
            return "removed"
        return "changed" if self.added or self.removed else "unchanged"


def rule_diffs(before: RegistryScanning, after: RegistryScanning) -> tuple[RuleDiff, ...]:
    """One entry per frequency present before or after, in the order continuous, on-push, manual."""
    diffs = []
    for frequency in SCAN_FREQUENCIES:
        old = [p for r in before.rules if r.frequency == frequency for p in r.filters]
        new = [p for r in after.rules if r.frequency == frequency for p in r.filters]
        if before.rule(frequency) is None and after.rule(frequency) is None:
            continue
        diffs.append(
            RuleDiff(
                frequency,
                kept=tuple(dict.fromkeys(p for p in new if p in old)),
                added=tuple(dict.fromkeys(p for p in new if p not in old)),
                removed=tuple(dict.fromkeys(p for p in old if p not in new)),
            )
        )
    return tuple(diffs)


# --- the API's shapes <-> ours (the dicts stay in this module and registry.py) ------------------------


class ConfigurationShapeError(ValueError):
    """A configuration shape ecrwatch does not understand: it refuses to rewrite what it cannot keep."""


def registry_from_api(config: Mapping[str, Any]) -> RegistryScanning:
    """RegistryScanningConfiguration (as GetRegistryScanningConfiguration returns it) -> RegistryScanning."""
    scan_type = config.get("scanType") or BASIC  # no configuration defined means BASIC
    if scan_type not in SCAN_TYPES:
        raise ConfigurationShapeError(f"unknown scanType {scan_type!r}")
    rules = []
    for rule in config.get("rules") or ():
        frequency = rule.get("scanFrequency")
        if frequency not in SCAN_FREQUENCIES:
            raise ConfigurationShapeError(f"unknown scanFrequency {frequency!r}")
        patterns = []
        for repo_filter in rule.get("repositoryFilters") or ():
            if repo_filter.get("filterType", FILTER_TYPE) != FILTER_TYPE:
                raise ConfigurationShapeError(f"unknown filterType {repo_filter.get('filterType')!r}")
            patterns.append(str(repo_filter["filter"]))
        rules.append(ScanRule(str(frequency), tuple(patterns)))
    return RegistryScanning(str(scan_type), tuple(rules))


def registry_to_api(registry: RegistryScanning) -> dict[str, Any]:
    """The PutRegistryScanningConfiguration parameters (and the backup's `registry_scanning`)."""
    return {
        "scanType": registry.scan_type,
        "rules": [
            {
                "scanFrequency": rule.frequency,
                "repositoryFilters": [{"filter": p, "filterType": FILTER_TYPE} for p in rule.filters],
            }
            for rule in registry.rules
        ],
    }


def rescan_to_api(rescan: RescanSettings) -> dict[str, str]:
    """UpdateConfiguration's ecrConfiguration: only the fields that have a value."""
    out = {"rescanDuration": rescan.rescan_duration or ""}
    if rescan.pull_date_rescan_duration:
        out["pullDateRescanDuration"] = rescan.pull_date_rescan_duration
    if rescan.pull_date_rescan_mode:
        out["pullDateRescanMode"] = rescan.pull_date_rescan_mode
    return out


def inspector_to_document(inspector: InspectorEcr) -> dict[str, str | None]:
    return {
        "status": inspector.status,
        "rescanDuration": inspector.rescan.rescan_duration,
        "pullDateRescanDuration": inspector.rescan.pull_date_rescan_duration,
        "pullDateRescanMode": inspector.rescan.pull_date_rescan_mode,
    }


# --- the backup document ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    taken_at: str
    account: str | None
    regions: tuple[RegionState, ...]
    source: str = ""  # the file it was read from, for messages

    def region(self, name: str) -> RegionState | None:
        return next((r for r in self.regions if r.region == name), None)


def build_backup(
    states: Iterable[RegionState], account: str | None, taken_at: datetime | None = None
) -> dict[str, Any]:
    """The `--backup` JSON document (DESIGN.md's format), values as the APIs give them."""
    when = (taken_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "format": BACKUP_FORMAT,
        "taken_at": when,
        "account": account,
        "regions": {
            state.region: {
                "registry_scanning": registry_to_api(state.registry),
                "inspector_ecr": inspector_to_document(state.inspector),
            }
            for state in states
        },
    }


class BackupError(UsageError):
    """A --restore file that is not a backup ecrwatch can restore (exit 2, nothing called)."""


def _enum(value: Any, allowed: Sequence[str], where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise BackupError(f"{where} is {value!r}; expected one of {', '.join(allowed)}")
    return value


def _region_from_document(region: str, body: Any, source: str) -> RegionState:
    where = f"{source}: regions.{region}"
    if not _REGION.match(region):
        raise BackupError(f"{source}: {region!r} is not an AWS region name")
    if not isinstance(body, dict):
        raise BackupError(f"{where} must be an object")
    registry = body.get("registry_scanning")
    if not isinstance(registry, dict):
        raise BackupError(f"{where}.registry_scanning is missing")
    scan_type = _enum(registry.get("scanType"), SCAN_TYPES, f"{where}.registry_scanning.scanType")
    rules_doc = registry.get("rules")
    if not isinstance(rules_doc, list) or len(rules_doc) > MAX_RULES:
        raise BackupError(f"{where}.registry_scanning.rules must be a list of at most {MAX_RULES} rules")
    allowed_frequencies = SCAN_FREQUENCIES if scan_type == BASIC else ENHANCED_FREQUENCIES
    rules = []
    for index, rule in enumerate(rules_doc):
        rule_where = f"{where}.registry_scanning.rules[{index}]"
        if not isinstance(rule, dict):
            raise BackupError(f"{rule_where} must be an object")
        frequency = _enum(rule.get("scanFrequency"), allowed_frequencies, f"{rule_where}.scanFrequency")
        assert frequency is not None
        filters_doc = rule.get("repositoryFilters")
        if not isinstance(filters_doc, list) or len(filters_doc) > MAX_FILTERS_PER_RULE:
            raise BackupError(f"{rule_where}.repositoryFilters must be a list of at most {MAX_FILTERS_PER_RULE}")
        patterns: list[str] = []
        for f_index, item in enumerate(filters_doc):
            f_where = f"{rule_where}.repositoryFilters[{f_index}]"
            if not isinstance(item, dict) or item.get("filterType") != FILTER_TYPE:
                raise BackupError(f"{f_where} must be {{'filter': ..., 'filterType': '{FILTER_TYPE}'}}")
            pattern = item.get("filter")
            if not isinstance(pattern, str):
                raise BackupError(f"{f_where}.filter must be a string")
            why = filter_problem(pattern)
            if why:
                raise BackupError(f"{f_where}.filter {pattern!r} is not a valid ECR filter: {why}")
            patterns.append(pattern)
        rules.append(ScanRule(frequency, tuple(patterns)))
    inspector = body.get("inspector_ecr")
    if not isinstance(inspector, dict):
        raise BackupError(f"{where}.inspector_ecr is missing")
    i_where = f"{where}.inspector_ecr"
    status = _enum(inspector.get("status"), INSPECTOR_STATUSES, f"{i_where}.status")
    assert status is not None and scan_type is not None
    rescan = RescanSettings(
        _enum(inspector.get("rescanDuration"), RESCAN_DURATIONS, f"{i_where}.rescanDuration", optional=True),
        _enum(
            inspector.get("pullDateRescanDuration"),
            PULL_RESCAN_DURATIONS,
            f"{i_where}.pullDateRescanDuration",
            optional=True,
        ),
        _enum(inspector.get("pullDateRescanMode"), PULL_RESCAN_MODES, f"{i_where}.pullDateRescanMode", optional=True),
    )
    return RegionState(region, RegistryScanning(scan_type, tuple(rules)), InspectorEcr(status, rescan))


# The checks both backup formats make (/1 here, /2 in scanning_org), one place for each field's message.


def require_format(document: Any, source: str, *formats: str) -> None:
    """BackupError unless the document's `format` is one of `formats` (the message names them all)."""
    found = document.get("format") if isinstance(document, dict) else None
    if found not in formats:
        raise BackupError(
            f"{source}: format is {found!r}; expected {' or '.join(repr(name) for name in formats)}",
            "pass a file written by `ecrwatch enable-scanning --backup FILE`",
        )


def require_taken_at(document: Mapping[str, Any], source: str) -> str:
    taken_at = document.get("taken_at")
    if not isinstance(taken_at, str):
        raise BackupError(f"{source}: taken_at is missing")
    return taken_at


def require_account_id(value: Any, where: str) -> str:
    """`value` if it is a 12-digit account id; `where` names the field in the message."""
    if not (isinstance(value, str) and re.fullmatch(r"\d{12}", value)):
        raise BackupError(f"{where} {value!r} is not a 12-digit AWS account id")
    return value


def regions_from_document(regions: Any, where: str, source: str) -> tuple[RegionState, ...]:
    """A backup's `regions` object (a /1 file's, or one account's in a /2 file), every region validated
    completely: `where` names the object in messages, `source` begins each region's messages."""
    if not isinstance(regions, dict) or not regions:
        raise BackupError(f"{where} is missing or empty")
    return tuple(_region_from_document(str(name), body, source) for name, body in regions.items())


def parse_backup(document: Any, source: str) -> Backup:
    """Validate a backup document completely (before any call); BackupError says what is wrong and where."""
    if not isinstance(document, dict):
        raise BackupError(f"{source} is not an ecrwatch scanning backup (expected a JSON object)")
    require_format(document, source, BACKUP_FORMAT)
    account = document.get("account")
    if account is not None:
        require_account_id(account, f"{source}: account")
    taken_at = require_taken_at(document, source)
    states = regions_from_document(document.get("regions"), f"{source}: regions", source)
    return Backup(taken_at, account, states, source)


def select_backup_regions(backup: Backup, regions: Sequence[str]) -> Backup:
    """The backup narrowed to the regions to restore: all of them, or those named with --region (each must
    be in the file)."""
    if not regions:
        return backup
    missing = [r for r in regions if backup.region(r) is None]
    if missing:
        raise BackupError(
            f"{backup.source} has no configuration for {', '.join(missing)}",
            f"it has {', '.join(r.region for r in backup.regions)}; pass one of those with --region, or none",
        )
    return Backup(
        backup.taken_at, backup.account, tuple(s for s in backup.regions if s.region in regions), backup.source
    )


# --- the writes a plan makes, in order ----------------------------------------------------------------

ACTIVATE = "inspector2:Enable"
WAIT = "inspector2:BatchGetAccountStatus"
PUT_RULES = "ecr:PutRegistryScanningConfiguration"
SET_RESCAN = "inspector2:UpdateConfiguration"


@dataclass(frozen=True)
class Step:
    region: str
    action: str  # the IAM action / API operation it takes
    description: str
    until: str = ENABLED  # WAIT: the Inspector ECR status waited for

    def __str__(self) -> str:
        return f"{self.region}: {self.description} ({self.action})"


def _rules_summary(registry: RegistryScanning) -> str:
    parts = [f"{_RULE_NAMES.get(r.frequency, r.frequency)}: {len(r.filters)} filter(s)" for r in registry.rules]
    return f"{registry.scan_type}" + (f", {', '.join(parts)}" if parts else ", no rules")


def _rescan_summary(rescan: RescanSettings) -> str:
    parts = [f"push {rescan.rescan_duration}"]
    if rescan.pull_date_rescan_duration:
        parts.append(f"pull {rescan.pull_date_rescan_duration}")
    if rescan.pull_date_rescan_mode:
        parts.append(f"mode {rescan.pull_date_rescan_mode}")
    return ", ".join(parts)


def planned_steps(plan: RegionPlan) -> tuple[Step, ...]:
    """The writes, in the order they are made: Inspector first (the rules only take effect once it is on,
    and a failed activation then leaves the registry untouched), then the rules, then the durations
    (UpdateConfiguration needs Inspector active). A deactivation sets the durations first, while Inspector is
    still on, then writes BASIC (which deactivates it) and waits until it is DISABLED."""
    if plan.deactivate_inspector:
        return _deactivation_steps(plan)
    steps = []
    if plan.activate_inspector:
        steps.append(Step(plan.region, ACTIVATE, "activate Amazon Inspector scanning for ECR"))
    if plan.wait_for_inspector:
        steps.append(Step(plan.region, WAIT, "wait until Inspector scanning for ECR is ENABLED"))
    if plan.registry_changed:
        steps.append(
            Step(plan.region, PUT_RULES, f"write the registry scanning configuration ({_rules_summary(plan.registry)})")
        )
    if plan.rescan is not None:
        steps.append(Step(plan.region, SET_RESCAN, f"set the ECR rescan durations ({_rescan_summary(plan.rescan)})"))
    return tuple(steps)


def _deactivation_steps(plan: RegionPlan) -> tuple[Step, ...]:
    steps = []
    if plan.rescan is not None:
        steps.append(Step(plan.region, SET_RESCAN, f"set the ECR rescan durations ({_rescan_summary(plan.rescan)})"))
    steps.append(
        Step(
            plan.region,
            PUT_RULES,
            f"write the registry scanning configuration ({_rules_summary(plan.registry)}): this deactivates "
            "Inspector's ECR scanning",
        )
    )
    steps.append(
        Step(
            plan.region,
            WAIT,
            "wait until Inspector scanning for ECR is DISABLED (its ECR findings and coverage are deleted)",
            until=DISABLED,
        )
    )
    return tuple(steps)
