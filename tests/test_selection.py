"""Cluster selectors shared by --ecs-cluster and --eks-cluster: one syntax, each service's own name rule."""

from __future__ import annotations

import pytest

from ecrwatch.errors import UsageError
from ecrwatch.inventory.selection import ECS_CLUSTER, EKS_CLUSTER, ClusterSelector, parse_selector


@pytest.mark.parametrize("syntax", [ECS_CLUSTER, EKS_CLUSTER])
@pytest.mark.parametrize("region", ["us-east-1", "eusc-de-east-1", "cn-north-1", "us-gov-west-1"])
def test_an_arn_names_its_region_in_every_partition(syntax: object, region: str) -> None:
    assert isinstance(syntax, type(ECS_CLUSTER))
    partition = {"cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}.get(region, "aws")
    text = f"arn:{partition}:{syntax.service}:{region}:123456789012:cluster/prod-1"
    assert parse_selector(text, syntax) == ClusterSelector(text, "prod-1", region)


def test_each_service_keeps_its_own_name_rule() -> None:
    assert parse_selector("_jobs", ECS_CLUSTER).name == "_jobs"
    with pytest.raises(UsageError) as caught:
        parse_selector("_jobs", EKS_CLUSTER)  # EKS names start with a letter or digit
    assert "--eks-cluster '_jobs'" in caught.value.message
    with pytest.raises(UsageError) as caught:
        parse_selector("arn:aws:eks:us-east-1:123456789012:cluster/x", ECS_CLUSTER)
    assert "not an ECS cluster ARN" in caught.value.message
