"""The ignore file (`--ignore-file`, `ECRWATCH_IGNORE_FILE`): risk accepted for a while, with a reason, reviewed
in git. Layout (DESIGN.md, "Triage"):

    rules:
      - vulnerability: CVE-2024-6387        # required
        namespace: payments                 # optional narrowing, all must match
        reason: "sshd is not started"       # required
        expires: 2027-01-31                 # optional; from that day on the rule no longer applies

Read with PyYAML's composer, which keeps each node's line, so that every rule is named `FILE:LINE` in the
report and in every error. Anything doubtful is exit 2 before any AWS call: a rule that suppresses more than
its author meant is worse than no rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ecrwatch.errors import UsageError
from ecrwatch.models import Finding, Workload

if TYPE_CHECKING:
    import yaml  # type: ignore[import-untyped]

# What a rule may narrow by, beside the vulnerability it names (all given must match).
NARROWING = ("package", "repository", "digest", "account", "cluster", "namespace", "workload", "container")
RULE_KEYS = ("vulnerability", *NARROWING, "reason", "expires")
_WORKLOAD_KEYS = ("account", "cluster", "namespace", "workload", "container")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_HINT = "see the ignore file layout in the README's Triage section"


class IgnoreFileError(UsageError):
    """The ignore file cannot be used as written (exit 2, nothing read from AWS)."""


@dataclass(frozen=True)
class IgnoreRule:
    source: str  # FILE:LINE of the rule
    vulnerability: str
    reason: str
    expires: date | None = None
    package: str | None = None
    repository: str | None = None
    digest: str | None = None
    account: str | None = None
    cluster: str | None = None
    namespace: str | None = None
    workload: str | None = None
    container: str | None = None

    def expired(self, today: date) -> bool:
        """From the expiry day on, the rule no longer applies."""
        return self.expires is not None and today >= self.expires

    def applies_to(self, finding: Finding) -> bool:
        """Whether the rule names this finding (vulnerability, package, repository): the workloads that run
        its image are then each asked `covers`."""
        if finding.vulnerability_id.upper() != self.vulnerability.upper():
            return False
        if self.package is not None and all(p.name != self.package for p in finding.packages):
            return False
        return self.repository is None or finding.image.repository == self.repository

    def covers(self, finding: Finding, workload: Workload | None) -> bool:
        """Whether the rule sets this finding aside for this workload (None: no workload is known, and only
        a rule that narrows by no workload property covers it)."""
        running = workload.running_digest if workload is not None else None  # an index digest, maybe
        if self.digest is not None and self.digest not in (finding.image.digest, running):
            return False
        if workload is None:
            return all(
                getattr(self, key) is None for key in ("account", "cluster", "namespace", "workload", "container")
            )
        if self.account is not None and (workload.account or finding.image.account) != self.account:
            return False
        if self.cluster is not None and workload.cluster != self.cluster:
            return False
        if self.namespace is not None and workload.namespace != self.namespace:
            return False
        if self.container is not None and workload.container != self.container:
            return False
        return self.workload is None or self.workload in workload_names(workload)


def workload_names(workload: Workload) -> set[str]:
    """The names a rule's `workload` may give a workload: its ECS service, the ECS task group's name (a
    standalone or scheduled task's family), its Kubernetes owner (`api` or `Deployment/api`), or its pod."""
    names: set[str] = set()
    if workload.service:
        names.add(workload.service)
    if workload.task_group:
        names.add(workload.task_group.split(":", 1)[-1])
    if workload.owner is not None:
        names.update({workload.owner.name, f"{workload.owner.kind}/{workload.owner.name}"})
    if workload.pod:
        names.add(workload.pod)
    return names


def load_ignore_file(path: str) -> tuple[IgnoreRule, ...]:
    """Every rule of the file, expired ones included (they are reported); exit 2 on anything doubtful."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IgnoreFileError(f"ignore file {path} could not be read: {exc}", _HINT) from None
    return parse_ignore_text(text, path)


def parse_ignore_text(text: str, name: str) -> tuple[IgnoreRule, ...]:
    # PyYAML's composer keeps each node's line (rules are named FILE:LINE). Imported here: a check without an
    # ignore file does not pay its 20 ms.
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise IgnoreFileError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})", _HINT) from None
    if root is None:
        raise IgnoreFileError(f"{name}: the ignore file is empty; it needs a `rules:` list", _HINT)
    if not isinstance(root, yaml.MappingNode):
        raise IgnoreFileError(f"{name}:{root.start_mark.line + 1}: expected a mapping with a `rules:` list", _HINT)
    rules_node = None
    for key, value in root.value:
        if _scalar(key) != "rules":
            raise IgnoreFileError(
                f"{name}:{key.start_mark.line + 1}: unknown key {_scalar(key)!r}; only `rules`", _HINT
            )
        rules_node = value
    if rules_node is None:
        raise IgnoreFileError(f"{name}: no `rules:` list", _HINT)
    if isinstance(rules_node, yaml.ScalarNode) and rules_node.tag.endswith(":null"):
        return ()
    if not isinstance(rules_node, yaml.SequenceNode):
        raise IgnoreFileError(f"{name}:{rules_node.start_mark.line + 1}: `rules` must be a list of rules", _HINT)
    return tuple(_rule(node, name) for node in rules_node.value)


def _scalar(node: yaml.Node) -> str:
    import yaml

    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.id}>"


def _rule(node: yaml.Node, name: str) -> IgnoreRule:
    import yaml

    source = f"{name}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        raise IgnoreFileError(
            f"{source}: a rule is a mapping (vulnerability, reason, ...), not {_scalar(node)!r}", _HINT
        )
    values: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = _scalar(key_node)
        at = f"{name}:{key_node.start_mark.line + 1}"
        if key not in RULE_KEYS:
            raise IgnoreFileError(f"{at}: unknown key {key!r}; a rule takes {', '.join(RULE_KEYS)}", _HINT)
        if key in values:
            raise IgnoreFileError(f"{at}: {key!r} is given twice in one rule", _HINT)
        if not isinstance(value_node, yaml.ScalarNode) or value_node.tag.endswith(":null") or not value_node.value:
            raise IgnoreFileError(f"{at}: {key!r} needs one value (text)", _HINT)
        values[key] = str(value_node.value).strip()
    if not values.get("vulnerability"):
        raise IgnoreFileError(
            f"{source}: the rule names no vulnerability (`vulnerability: CVE-...` is required)", _HINT
        )
    if not values.get("reason"):
        raise IgnoreFileError(f"{source}: the rule for {values['vulnerability']} has no `reason`", _HINT)
    if "*" in values["vulnerability"]:
        raise IgnoreFileError(f"{source}: `vulnerability` names one vulnerability id, not a pattern", _HINT)
    if "digest" in values and not _DIGEST.match(values["digest"]):
        raise IgnoreFileError(f"{source}: digest {values['digest']!r} is not sha256: and 64 hex digits", _HINT)
    if "account" in values and not _ACCOUNT.match(values["account"]):
        raise IgnoreFileError(f"{source}: account {values['account']!r} is not a 12-digit AWS account id", _HINT)
    return IgnoreRule(
        source=source,
        vulnerability=values["vulnerability"],
        reason=values["reason"],
        expires=_date(values.get("expires"), source),
        **{key: values.get(key) for key in NARROWING},
    )


def _date(text: str | None, source: str) -> date | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError("not YYYY-MM-DD")
        return date.fromisoformat(text)
    except ValueError:
        raise IgnoreFileError(
            f"{source}: expires {text!r} is not a date (YYYY-MM-DD, e.g. 2027-01-31)", _HINT
        ) from None
