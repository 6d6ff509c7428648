"""Which clusters a check reads (pure): `--ecs-cluster` / `--eks-cluster` values, checked before any call,
and how they spread over the selected regions.

A selector is a name or an ARN. A name is looked for in every selected region (and is an error only where
no region has it: the inventory modules decide that); an ARN is read in its own region, selected or not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ecrwatch.errors import UsageError
from ecrwatch.regions import REGION_PATTERN


@dataclass(frozen=True)
class SelectorSyntax:
    """What one service accepts as a cluster name, and the option that takes it."""

    option: str  # --ecs-cluster
    service: str  # the ARN's service: ecs
    label: str  # ECS
    name_pattern: str
    name_rule: str  # the rule in words, for the message

    @cached_property
    def name(self) -> re.Pattern[str]:
        return re.compile(self.name_pattern)

    @cached_property
    def arn(self) -> re.Pattern[str]:
        return re.compile(
            rf"arn:aws[a-z-]*:{self.service}:(?P<region>{REGION_PATTERN}):\d{{12}}:cluster/(?P<name>{self.name_pattern})"
        )


ECS_CLUSTER = SelectorSyntax(
    "--ecs-cluster",
    "ecs",
    "ECS",
    r"[A-Za-z0-9_-]{1,255}",
    "cluster names are 1-255 letters, digits, hyphens and underscores",
)
EKS_CLUSTER = SelectorSyntax(
    "--eks-cluster",
    "eks",
    "EKS",
    r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}",  # EKS's own pattern and length
    "cluster names are 1-100 letters, digits, hyphens and underscores, starting with a letter or digit",
)


@dataclass(frozen=True)
class ClusterSelector:
    """One cluster option value: a name, or an ARN (then `region` is its region)."""

    text: str
    name: str
    region: str | None = None

    @property
    def is_arn(self) -> bool:
        return self.region is not None


def parse_selector(text: str, syntax: SelectorSyntax) -> ClusterSelector:
    """A cluster name or ARN, checked before any call; anything else is a UsageError (exit 2)."""
    arn = syntax.arn.fullmatch(text)
    if arn is not None:
        return ClusterSelector(text, arn.group("name"), arn.group("region"))
    if text.startswith("arn:"):
        raise UsageError(
            f"{syntax.option} {text!r} is not an {syntax.label} cluster ARN",
            f"give a cluster name, or an ARN like arn:aws:{syntax.service}:us-east-1:123456789012:cluster/NAME",
        )
    if syntax.name.fullmatch(text) is None:
        raise UsageError(f"{syntax.option} {text!r} is not a valid {syntax.label} cluster name", syntax.name_rule)
    return ClusterSelector(text, text)


@dataclass(frozen=True)
class RegionPlan:
    """What to read in one region: every cluster, or the names and ARNs given."""

    region: str
    every_cluster: bool
    names: tuple[str, ...] = ()
    arns: tuple[ClusterSelector, ...] = ()


def plan_regions(regions: Sequence[str], selectors: Sequence[ClusterSelector]) -> tuple[RegionPlan, ...]:
    """Selected regions in order (each with every name and its own ARNs), then the regions that only an ARN
    names. Without selectors: every cluster of each selected region."""
    if not selectors:
        return tuple(RegionPlan(region, every_cluster=True) for region in dict.fromkeys(regions))
    names = tuple(dict.fromkeys(s.name for s in selectors if not s.is_arn))
    plans = []
    for region in dict.fromkeys([*regions, *(s.region for s in selectors if s.region is not None)]):
        arns = tuple({s.text: s for s in selectors if s.region == region}.values())
        selected = region in regions
        if arns or (selected and names):
            plans.append(RegionPlan(region, False, names if selected else (), arns))
    return tuple(plans)
