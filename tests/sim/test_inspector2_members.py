"""The simulated Inspector2's delegated administrator and its members, through boto3 as a caller sees them:
the administrator activates its members (Enable with accountIds) and sets their ECR rescan durations
(UpdateConfiguration with accountId); a member may not deactivate itself (403, AWS's own message), may not
update the configuration (botocore's model: member accounts cannot call it), and activates itself only where
its organisation allows it; a standalone account does all of this itself; writing a member's registry ENHANCED
switches that member's Inspector, never another account's."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import session_in

REGION = "us-east-1"
ADMIN, MEMBER, STANDALONE = "222222222222", "111111111111", "333333333333"


@pytest.fixture
def inspector(sim_aws: SimAWS) -> Inspector2Sim:
    sim = sim_aws.extension(Inspector2Sim)
    sim.enable_after_polls = sim.disable_after_polls = 0
    sim.set_delegated_admin(REGION, ADMIN, [MEMBER])
    sim.set_account_status(REGION, account=MEMBER)  # an associated member, nothing active yet
    return sim


def refused(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    error, meta = caught.value.response["Error"], caught.value.response["ResponseMetadata"]
    return error["Code"], meta["HTTPStatusCode"], error["Message"]


def test_the_administrator_activates_its_member(inspector: Inspector2Sim) -> None:
    admin = session_in(ADMIN, REGION).client("inspector2")
    answer = admin.enable(accountIds=[MEMBER], resourceTypes=["ECR"])
    assert [a["accountId"] for a in answer["accounts"]] == [MEMBER] and "failedAccounts" not in answer
    assert inspector.ecr_status(REGION, MEMBER) == "ENABLED"
    status = admin.batch_get_account_status(accountIds=[MEMBER])["accounts"][0]
    assert status["resourceState"]["ecr"]["status"] == "ENABLED"


def test_a_member_may_not_activate_itself_unless_allowed(inspector: Inspector2Sim) -> None:
    member = session_in(MEMBER, REGION).client("inspector2")
    with pytest.raises(ClientError) as caught:
        member.enable(resourceTypes=["ECR"])
    assert refused(caught) == (
        "AccessDeniedException",
        403,
        f"Member account {MEMBER} is not authorized to enable itself.",
    )
    assert inspector.ecr_status(REGION, MEMBER) == "DISABLED"
    inspector.allow_member_self_enable(REGION, MEMBER)
    member.enable(resourceTypes=["ECR"])
    assert inspector.ecr_status(REGION, MEMBER) == "ENABLED"


def test_a_member_may_never_deactivate_itself(inspector: Inspector2Sim) -> None:
    inspector.set_account_status(REGION, account=MEMBER, ecr="ENABLED")
    member = session_in(MEMBER, REGION).client("inspector2")
    with pytest.raises(ClientError) as caught:
        member.disable(resourceTypes=["ECR"])
    assert refused(caught) == (
        "AccessDeniedException",
        403,
        f"Member account {MEMBER} is not authorized to disable itself.",
    )
    assert inspector.ecr_status(REGION, MEMBER) == "ENABLED"


def test_only_the_administrator_sets_a_members_rescan_durations(inspector: Inspector2Sim) -> None:
    member = session_in(MEMBER, REGION).client("inspector2")
    with pytest.raises(ClientError) as caught:
        member.update_configuration(ecrConfiguration={"rescanDuration": "DAYS_90"})
    assert refused(caught)[:2] == ("AccessDeniedException", 403)
    stranger = session_in(STANDALONE, REGION).client("inspector2")
    with pytest.raises(ClientError) as caught:
        stranger.update_configuration(accountId=MEMBER, ecrConfiguration={"rescanDuration": "DAYS_90"})
    assert refused(caught)[:2] == ("AccessDeniedException", 403)
    admin = session_in(ADMIN, REGION).client("inspector2")
    admin.update_configuration(accountId=MEMBER, ecrConfiguration={"rescanDuration": "DAYS_90"})
    state = member.get_configuration()["ecrConfiguration"]["rescanDurationState"]
    assert state["rescanDuration"] == "DAYS_90"


def test_a_standalone_account_activates_deactivates_and_configures_itself(inspector: Inspector2Sim) -> None:
    own = session_in(STANDALONE, REGION).client("inspector2")
    own.enable(resourceTypes=["ECR"])
    assert inspector.ecr_status(REGION, STANDALONE) == "ENABLED"
    own.update_configuration(ecrConfiguration={"rescanDuration": "DAYS_30"})
    own.disable(resourceTypes=["ECR"])
    assert inspector.ecr_status(REGION, STANDALONE) == "DISABLED"


def test_a_members_enhanced_registry_switches_its_own_inspector_only(inspector: Inspector2Sim) -> None:
    inspector.allow_member_self_enable(REGION, MEMBER)
    ecr = session_in(MEMBER, REGION).client("ecr")
    ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=[])
    session_in(MEMBER, REGION).client("inspector2").batch_get_account_status()  # the activation completes
    assert inspector.ecr_status(REGION, MEMBER) == "ENABLED"
    assert inspector.ecr_status(REGION, ACCOUNT_ID) == "DISABLED"
    assert inspector.ecr_status(REGION, ADMIN) == "DISABLED"


def permissions(account: str, **params: str) -> set[tuple[str, str]]:
    client = session_in(account, REGION).client("inspector2")
    pages = client.get_paginator("list_account_permissions").paginate(PaginationConfig={"PageSize": 2}, **params)
    return {(p["service"], p["operation"]) for page in pages for p in page["permissions"]}


def test_list_account_permissions_says_what_a_member_may_do_itself(inspector: Inspector2Sim) -> None:
    every = {"ENABLE_SCANNING", "DISABLE_SCANNING", "ENABLE_REPOSITORY", "DISABLE_REPOSITORY"}
    assert permissions(STANDALONE, service="ECR") == {("ECR", op) for op in every}
    assert permissions(ADMIN, service="ECR") == {("ECR", op) for op in every}
    assert permissions(MEMBER) == set()
    inspector.allow_member_self_enable(REGION, MEMBER)
    assert permissions(MEMBER, service="ECR") == {("ECR", "ENABLE_SCANNING")}
