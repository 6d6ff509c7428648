"""The layering DESIGN.md asks for: pure modules load without the AWS client module (or boto3)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ecrwatch.regions import REGION_PATTERN, partition_for

PURE_MODULES = (
    "ecrwatch.regions",
    "ecrwatch.images",
    "ecrwatch.scanning",
    "ecrwatch.iam",
    "ecrwatch.inventory.selection",
    "ecrwatch.report.scanning",
)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_does_not_load_the_client_module(module: str) -> None:
    # A fresh interpreter: this test process has long since imported everything.
    probe = f"import sys, {module}; print(sorted(m for m in ('boto3', 'ecrwatch.aws') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-central-2", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_for_region(region: str, partition: str) -> None:
    assert partition_for(region) == partition


@pytest.mark.parametrize("name", ["us-east-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1", "ap-southeast-5"])
def test_region_pattern_accepts_region_names(name: str) -> None:
    assert re.fullmatch(REGION_PATTERN, name)


@pytest.mark.parametrize("name", ["us-east", "US-EAST-1", "useast1", "us-east-1a", "-us-east-1"])
def test_region_pattern_rejects_other_strings(name: str) -> None:
    assert not re.fullmatch(REGION_PATTERN, name)
