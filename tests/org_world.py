"""Helpers for tests with several simulated accounts: roles to enter them, and credentials acting in them."""

from __future__ import annotations

import boto3
import pytest

from ecrwatch.sim import accounts
from ecrwatch.sim.accounts import create_role, trust_policy
from ecrwatch.sim.server import ACCOUNT_ID

ROLE = "ecrwatch-reader"


def deploy_role(account: str, *, name: str = ROLE, external_id: str | None = None, path: str = "/") -> str:
    """The member role ecrwatch enters `account` with, trusting the default (hub) account."""
    return create_role(account, name, trust_policy(ACCOUNT_ID, external_id), path=path)


def session_in(account: str, region: str = "us-east-1") -> boto3.Session:
    """A boto3 session acting in `account` (a role of the tests' own assumed in it), for seeding that account."""
    session: boto3.Session = accounts.session_in(account, region, operator_role="test-operator")
    return session


def act_in(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    """Point boto3's environment at credentials acting in `account`."""
    frozen = session_in(account).get_credentials().get_frozen_credentials()  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", frozen.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", frozen.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", frozen.token or "")
