"""Shared fixtures: one simulated AWS endpoint per test process, reset before each test that uses it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import settings

from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import SimAWS
from ecrwatch.sim.world import build_sim_aws

# The team's shared folder sits beside the repository (../shared); a clone elsewhere falls back on the copy of
# its schema kept in tests/data, which tests/test_schema_copy.py keeps identical to the original.
# No per-example deadline: speed is measured by bench/, never asserted, and a loaded CI machine (or 2 cores
# running the suite in parallel) made parsers miss hypothesis's 200 ms now and then.
settings.register_profile("ecrwatch", deadline=None)
settings.load_profile("ecrwatch")

SHARED_ORIGINAL = Path(__file__).resolve().parents[2] / "shared"
SHARED_COPY = Path(__file__).resolve().parent / "data" / "shared"
SHARED = SHARED_ORIGINAL if (SHARED_ORIGINAL / "schema" / "check-report.v1.json").is_file() else SHARED_COPY
SCHEMA: dict[str, Any] = json.loads((SHARED / "schema" / "check-report.v1.json").read_text())
REPORT_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def valid_report(document: Any) -> dict[str, Any]:
    """The document, once the report schema (formats included) has accepted it."""
    REPORT_VALIDATOR.validate(document)
    return dict(document)


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


@pytest.fixture
def sim_kube_factory() -> Iterator[Callable[..., SimKube]]:
    """Start simulated Kubernetes API servers over HTTPS (SimKube's keyword arguments); all stop after the test."""
    started: list[SimKube] = []

    def start(**options: Any) -> SimKube:
        kube = SimKube(**options).start()
        started.append(kube)
        return kube

    yield start
    for kube in started:
        kube.stop()


@pytest.fixture
def sim_kube(sim_kube_factory: Callable[..., SimKube]) -> SimKube:
    """A simulated Kubernetes API server that accepts its static token (`.token`) and client certificates."""
    return sim_kube_factory()


@pytest.fixture
def sim_eks_cluster(sim_aws: SimAWS, sim_kube_factory: Callable[..., SimKube]) -> Callable[..., SimKube]:
    """Register an EKS cluster in the simulated account whose API server is a new SimKube that accepts EKS
    tokens signed with the simulated account's credentials: `sim_eks_cluster("us-east-1", "prod")`.
    `known_key=False` makes a cluster that refuses them (401); `trusted_sts` names the STS origins it trusts
    besides AWS's own https endpoints (default: the simulated endpoint, where ecrwatch's tokens point);
    other keywords go to `EksSim.add_cluster`."""

    def make(
        region: str, name: str, *, known_key: bool = True, trusted_sts: Sequence[str] | None = None, **cluster: Any
    ) -> SimKube:
        environ = sim_aws.environ()
        secrets = {environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]} if known_key else {}
        # Like EKS, the cluster trusts tokens presigned for STS; here STS is the simulated endpoint.
        trusted = (sim_aws.endpoint_url,) if trusted_sts is None else tuple(trusted_sts)
        kube = sim_kube_factory(eks_cluster_name=name, aws_secret_keys=secrets, tokens=(), sts_endpoints=trusted)
        cluster.setdefault("endpoint", kube.url)
        cluster.setdefault("ca_pem", kube.ca_pem)
        sim_aws.extension(EksSim).add_cluster(region, name, **cluster)
        return kube

    return make
