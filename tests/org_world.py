"""Helpers for tests with several simulated accounts: roles to enter them, and credentials acting in them."""

from __future__ import annotations

import boto3
import pytest
from moto.iam.models import iam_backends

from ecrwatch.sim.accounts import create_role, trust_policy
from ecrwatch.sim.server import ACCOUNT_ID

ROLE = "ecrwatch-reader"
_OPERATOR = "test-operator"  # the tests' own way into an account, to seed it through its APIs


def deploy_role(account: str, *, name: str = ROLE, external_id: str | None = None, path: str = "/") -> str:
    """The member role ecrwatch enters `account` with, trusting the default (hub) account."""
    return create_role(account, name, trust_policy(ACCOUNT_ID, external_id), path=path)


def _credentials(account: str, region: str) -> dict[str, str]:
    roles = iam_backends[account]["aws"].roles.values()
    arn = next((r.arn for r in roles if r.name == _OPERATOR), None) or deploy_role(account, name=_OPERATOR)
    answer = boto3.client("sts", region_name=region).assume_role(RoleArn=arn, RoleSessionName="tests")
    return {
        "aws_access_key_id": answer["Credentials"]["AccessKeyId"],
        "aws_secret_access_key": answer["Credentials"]["SecretAccessKey"],
        "aws_session_token": answer["Credentials"]["SessionToken"],
    }


def session_in(account: str, region: str = "us-east-1") -> boto3.Session:
    """A boto3 session acting in `account` (a role assumed in it), for seeding that account."""
    return boto3.Session(region_name=region, **_credentials(account, region))


def act_in(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    """Point boto3's environment at credentials acting in `account`."""
    for name, value in _credentials(account, "us-east-1").items():
        monkeypatch.setenv(name.upper(), value)
