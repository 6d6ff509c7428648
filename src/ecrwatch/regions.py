"""AWS region names and partitions, pure: no client, no call (pure modules need the pattern without boto3)."""

from __future__ import annotations

# A region name in any partition: us-east-1, cn-north-1, us-gov-west-1, and eusc-de-east-1 (four letters).
REGION_PATTERN = r"[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}"


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"
