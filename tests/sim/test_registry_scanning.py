"""The registry's scan type and Inspector's ECR scanning are one switch in the simulator, as AWS documents it
(Inspector user guide: "Activating a scan type", "Deactivating a scan type", "Amazon Inspector integration with
Amazon ECR"). Everything is driven and read through boto3, as a user would."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest

from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import SimAWS

REGION = "eu-west-1"
OTHER_REGION = "us-east-1"
DIGEST = "sha256:" + hashlib.sha256(b"app").hexdigest()


def rule(frequency: str, *filters: str) -> dict[str, Any]:
    return {"scanFrequency": frequency, "repositoryFilters": [{"filter": f, "filterType": "WILDCARD"} for f in filters]}


def ecr(region: str = REGION) -> Any:
    return boto3.client("ecr", region_name=region)


def inspector2(region: str = REGION) -> Any:
    return boto3.client("inspector2", region_name=region)


def registry(region: str = REGION) -> dict[str, Any]:
    config: dict[str, Any] = ecr(region).get_registry_scanning_configuration()["scanningConfiguration"]
    return config


def ecr_status(region: str = REGION) -> str:
    """One BatchGetAccountStatus poll (which is also what lets a transition in progress advance)."""
    account = inspector2(region).batch_get_account_status()["accounts"][0]
    return str(account["resourceState"]["ecr"]["status"])


def ecr_records(region: str = REGION) -> tuple[int, int]:
    """How many ECR image findings and coverage records Inspector lists."""
    image = {"resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}]}
    findings = inspector2(region).list_findings(filterCriteria={"resourceType": image["resourceType"]})["findings"]
    coverage = inspector2(region).list_coverage(filterCriteria=image)["coveredResources"]
    return len(findings), len(coverage)


@pytest.fixture
def store(sim_aws: SimAWS) -> Inspector2Sim:
    return sim_aws.extension(Inspector2Sim)


def test_activating_inspector_for_ecr_makes_a_basic_registry_enhanced_once_enabled(store: Inspector2Sim) -> None:
    ecr().put_registry_scanning_configuration(
        scanType="BASIC", rules=[rule("SCAN_ON_PUSH", "shop/*"), rule("MANUAL", "old")]
    )
    inspector2().enable(resourceTypes=["ECR"])
    assert registry()["scanType"] == "BASIC"  # in transition: the registry has not switched yet
    assert ecr_status() == "ENABLING"  # this poll completes the activation
    assert ecr_status() == "ENABLED"
    # ENHANCED keeps the rules it allows; it has no MANUAL frequency.
    assert registry() == {"scanType": "ENHANCED", "rules": [rule("SCAN_ON_PUSH", "shop/*")]}
    assert registry(OTHER_REGION)["scanType"] == "BASIC"  # each region is its own registry


def test_writing_enhanced_in_ecr_activates_inspector_for_ecr(store: Inspector2Sim) -> None:
    written = [rule("CONTINUOUS_SCAN", "*")]
    ecr().put_registry_scanning_configuration(scanType="ENHANCED", rules=written)
    assert ecr_status() == "ENABLING"
    assert ecr_status() == "ENABLED"
    assert registry() == {"scanType": "ENHANCED", "rules": written}
    assert ecr_status(OTHER_REGION) == "DISABLED"


def test_writing_basic_in_ecr_deactivates_inspector_and_deletes_its_ecr_findings(store: Inspector2Sim) -> None:
    ecr().put_registry_scanning_configuration(scanType="ENHANCED", rules=[rule("CONTINUOUS_SCAN", "*")])
    store.set_account_status(REGION, ecr="ENABLED")
    store.add_finding(REGION, repository="app", digest=DIGEST, vulnerability_id="CVE-2024-0001", severity="HIGH")
    assert ecr_records() == (1, 1)

    written = [rule("SCAN_ON_PUSH", "shop/*")]
    ecr().put_registry_scanning_configuration(scanType="BASIC", rules=written)
    assert ecr_status() == "DISABLING"
    assert ecr_status() == "DISABLED"
    assert ecr_records() == (0, 0)
    assert registry() == {"scanType": "BASIC", "rules": written}  # what was written, not reset by the switch


def test_deactivating_inspector_for_ecr_makes_the_registry_basic(store: Inspector2Sim) -> None:
    ecr().put_registry_scanning_configuration(scanType="ENHANCED", rules=[rule("CONTINUOUS_SCAN", "prod-*")])
    store.set_account_status(REGION, ecr="ENABLED")
    inspector2().disable(resourceTypes=["ECR"])
    assert registry()["scanType"] == "ENHANCED"  # until the deactivation completes
    assert ecr_status() == "DISABLING"
    assert ecr_status() == "DISABLED"
    assert registry() == {"scanType": "BASIC", "rules": []}


def test_writing_basic_where_inspector_is_off_changes_nothing_in_inspector(store: Inspector2Sim) -> None:
    ecr().put_registry_scanning_configuration(scanType="BASIC", rules=[rule("SCAN_ON_PUSH", "*")])
    assert ecr_status() == "DISABLED"
    assert registry() == {"scanType": "BASIC", "rules": [rule("SCAN_ON_PUSH", "*")]}


def test_immediate_transitions_still_keep_what_was_written(store: Inspector2Sim) -> None:
    store.enable_after_polls = store.disable_after_polls = 0
    ecr().put_registry_scanning_configuration(scanType="ENHANCED", rules=[rule("SCAN_ON_PUSH", "a")])
    assert store.ecr_status(REGION) == "ENABLED"
    assert registry() == {"scanType": "ENHANCED", "rules": [rule("SCAN_ON_PUSH", "a")]}
    ecr().put_registry_scanning_configuration(scanType="BASIC", rules=[rule("SCAN_ON_PUSH", "b")])
    assert store.ecr_status(REGION) == "DISABLED"
    assert registry() == {"scanType": "BASIC", "rules": [rule("SCAN_ON_PUSH", "b")]}


def test_seeding_sets_one_side_alone_to_reproduce_a_transition(store: Inspector2Sim) -> None:
    store.set_account_status(REGION, ecr="ENABLED")
    assert registry()["scanType"] == "BASIC"
    assert ecr_status() == "ENABLED"
