"""Helpers for tests with several simulated accounts: roles to enter them, and credentials acting in them."""

from __future__ import annotations

import boto3
import pytest

from ecrwatch.sim.accounts import create_role, trust_policy
from ecrwatch.sim.server import ACCOUNT_ID

ROLE = "ecrwatch-reader"


def deploy_role(account: str, *, name: str = ROLE, external_id: str | None = None, path: str = "/") -> str:
    """The member role ecrwatch enters `account` with, trusting the default (hub) account."""
    return create_role(account, name, trust_policy(ACCOUNT_ID, external_id), path=path)


def act_in(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    """Point boto3's environment at credentials acting in `account` (a role assumed in it)."""
    arn = deploy_role(account, name="test-operator")
    credentials = boto3.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
