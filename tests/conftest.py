"""Shared fixtures: one simulated AWS endpoint per test process, reset before each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ecrwatch.sim.server import SimAWS
from ecrwatch.sim.world import build_sim_aws

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def _sim_aws_server() -> Iterator[SimAWS]:
    with build_sim_aws() as sim:
        yield sim


@pytest.fixture
def sim_aws(_sim_aws_server: SimAWS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimAWS:
    """The simulated AWS account, empty, with boto3's environment pointed at it (and nowhere else)."""
    _sim_aws_server.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    # No real AWS configuration from the machine running the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in _sim_aws_server.environ().items():
        monkeypatch.setenv(name, value)
    return _sim_aws_server
