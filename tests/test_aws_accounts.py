"""Entering other accounts: the caller's own account is read without AssumeRole; another is entered with the
role once a run, its clients act in it; a refusal (no role, untrusted, wrong external id) is remembered and
never shows the external id."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ecrwatch.aws import AccountUnavailable, Aws, AwsSettings, RoleSettings
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import deploy_role

REGION = "us-east-1"
MEMBER, OTHER = "111111111111", "222222222222"
READER = RoleSettings("ecrwatch-reader")


def hub(role: RoleSettings | None = READER) -> Aws:
    aws = Aws(AwsSettings(max_attempts=2), role=role)
    aws.check_credentials()
    aws.identity(REGION)
    return aws


def test_the_callers_own_account_is_read_with_the_callers_credentials(sim_aws: SimAWS) -> None:
    aws = hub()
    assert aws.account(ACCOUNT_ID) is aws
    assert aws.identity(REGION).partition == "aws"
    assert sim_aws.calls.count("sts", "AssumeRole") == 0


def test_another_account_is_entered_once_and_its_clients_act_in_it(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER)
    aws = hub()
    with ThreadPoolExecutor(4) as pool:
        views = list(pool.map(lambda _: aws.account(MEMBER), range(8)))
    assert all(view is views[0] for view in views)
    assert views[0].sts(REGION).get_caller_identity()["Account"] == MEMBER
    assert views[0].acting_account == MEMBER
    [assumed] = list(sim_aws.calls.select("sts", "AssumeRole"))
    assert assumed.status == 200
    # The view's clients share the run's bound on requests in flight.
    assert views[0].in_flight is aws.in_flight


def test_a_role_path_is_part_of_the_role_arn(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER, name="reader", path="/security/")
    view = hub(RoleSettings("security/reader")).account(MEMBER)
    assert view.sts(REGION).get_caller_identity()["Arn"].startswith(f"arn:aws:sts::{MEMBER}:assumed-role/reader/")


def test_a_missing_role_is_refused_once_and_remembered(sim_aws: SimAWS) -> None:
    aws = hub()
    for _ in range(3):
        with pytest.raises(AccountUnavailable) as caught:
            aws.account(OTHER)
        assert caught.value.code == "AccessDenied"
        assert caught.value.account == OTHER
        assert f"arn:aws:iam::{OTHER}:role/ecrwatch-reader" in caught.value.message
    assert sim_aws.calls.count("sts", "AssumeRole") == 1
    assert aws.entry_failure(OTHER) is not None
    # A registry in that account is read with the caller's own clients instead.
    assert aws.reader(OTHER) is aws


def test_a_wrong_external_id_is_refused_and_never_shown(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER, external_id="the-right-one")
    with pytest.raises(AccountUnavailable) as caught:
        hub(RoleSettings("ecrwatch-reader", "s3cr3t-wrong-id")).account(MEMBER)
    assert caught.value.code == "AccessDenied"
    assert "s3cr3t-wrong-id" not in str(caught.value) and "the-right-one" not in str(caught.value)
    assert "s3cr3t-wrong-id" not in repr(RoleSettings("ecrwatch-reader", "s3cr3t-wrong-id"))
    right = hub(RoleSettings("ecrwatch-reader", "the-right-one")).account(MEMBER)
    assert right.sts(REGION).get_caller_identity()["Account"] == MEMBER


def test_without_a_role_another_account_is_not_entered_and_nothing_is_called(sim_aws: SimAWS) -> None:
    aws = hub(role=None)
    with pytest.raises(AccountUnavailable) as caught:
        aws.account(MEMBER)
    assert "--role-name" in caught.value.message
    assert sim_aws.calls.count("sts", "AssumeRole") == 0


def test_expiring_credentials_are_refreshed_by_botocore_with_a_new_assume_role(sim_aws: SimAWS) -> None:
    deploy_role(MEMBER)
    view = hub().account(MEMBER)
    assert view.sts(REGION).get_caller_identity()["Account"] == MEMBER
    credentials = view._core.get_credentials()
    assert credentials is not None and credentials.method == "assume-role"
    # The session is about to end (as after an hour of a long run): botocore refreshes before the next call.
    before = credentials.get_frozen_credentials().access_key
    fetcher = credentials._refresh_using.__self__  # type: ignore[attr-defined]
    fetcher._cache.clear()
    credentials._expiry_time = credentials._time_fetcher()  # type: ignore[attr-defined]
    assert view.ecs(REGION).list_clusters()["clusterArns"] == []
    assert sim_aws.calls.count("sts", "AssumeRole") == 2
    assert credentials.get_frozen_credentials().access_key != before
    assert [r.account for r in sim_aws.calls.select("ecs", "ListClusters")] == [MEMBER]
