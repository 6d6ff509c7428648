"""The seeded account the hardening tests share (faults, secrets, read-only proof, IAM coverage), and small
helpers to run `ecrwatch` against it.

us-east-1: ECS clusters `prod` (the api image, CRITICAL + HIGH findings; a clean image) and `batch` (the worker
image, reached by tag only, one LOW finding). eu-west-1: ECS cluster `edge` running an image of eu-west-1's
registry with a HIGH finding. Inspector has coverage for the clean image.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import KubeContainerSeed, SimKube
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"
OTHER = "eu-west-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
# The simulated account's credentials (SimAWS.environ) and a recognisable session token for secret scans.
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FAKE-SESSION-TOKEN-9f3c1e7a-do-not-print-me"


@dataclass(frozen=True)
class Account:
    api: str  # runs in prod by digest: CRITICAL CVE-2024-0001, HIGH CVE-2024-0002
    clean: str  # runs in prod, scanned, no finding
    worker: str  # runs in batch by tag only: LOW CVE-2024-2000
    edge: str  # eu-west-1's registry, runs in eu-west-1's edge cluster: HIGH CVE-2024-3000


def seed_account(sim: SimAWS) -> Account:
    """Seed the account through ECR's own API and our extensions, then forget the seeding calls."""
    ecr = boto3.client("ecr", region_name=REGION)
    for repository in ("team/api", "team/clean", "team/worker"):
        ecr.create_repository(repositoryName=repository)
    api, clean, worker = (push_image(ecr, repo, "v1") for repo in ("team/api", "team/clean", "team/worker"))
    ecr_eu = boto3.client("ecr", region_name=OTHER)
    ecr_eu.create_repository(repositoryName="team/edge")
    edge = push_image(ecr_eu, "team/edge", "v1")

    inspector = sim.extension(Inspector2Sim)
    add = inspector.add_finding
    add(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0001", severity="CRITICAL", epss=0.9)
    add(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0002", severity="HIGH")
    add(REGION, repository="team/worker", digest=worker, vulnerability_id="CVE-2024-2000", severity="LOW")
    add(OTHER, repository="team/edge", digest=edge, vulnerability_id="CVE-2024-3000", severity="HIGH")
    inspector.set_coverage(REGION, repository="team/clean", digest=clean)

    ecs = sim.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    ecs.add_cluster(REGION, "batch")
    ecs.add_cluster(OTHER, "edge")
    ecs.add_task(REGION, "prod", service="api", containers=[EcsContainerSeed("api", f"{HOST}/team/api:v1", api)])
    ecs.add_task(REGION, "prod", service="clean", containers=[EcsContainerSeed("c", f"{HOST}/team/clean:v1", clean)])
    ecs.add_task(REGION, "batch", family="worker", containers=[EcsContainerSeed("worker", f"{HOST}/team/worker:v1")])
    edge_uri = f"{ecr_registry_host(ACCOUNT_ID, OTHER)}/team/edge:v1"
    ecs.add_task(OTHER, "edge", service="edge", containers=[EcsContainerSeed("edge", edge_uri, edge)])
    sim.calls.clear()
    return Account(api, clean, worker, edge)


def add_eks_cluster(make_cluster: Callable[..., SimKube], account: Account, name: str = "shop") -> SimKube:
    """An EKS cluster in REGION (the `sim_eks_cluster` fixture makes it) running the api image by digest in a
    Deployment and the worker image by tag (a bare config id) in a CronJob's Job."""
    kube = make_cluster(REGION, name)
    api_id = f"docker-pullable://{HOST}/team/api@{account.api}"
    kube.run_deployment("shop", "api", [KubeContainerSeed("api", f"{HOST}/team/api:v1", image_id=api_id)])
    config_id = "sha256:" + "c" * 64
    kube.run_cronjob("batch", "nightly", [KubeContainerSeed("job", f"{HOST}/team/worker:v1", image_id=config_id)])
    return kube


def ecrwatch(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def check(*args: str) -> Result:
    """`ecrwatch check` over both regions of the seeded account, as JSON."""
    return ecrwatch("check", "--region", REGION, "--region", OTHER, "--format", "json", *args)


def report_of(result: Result) -> dict[str, Any]:
    """The JSON report on stdout, validated against the published schema."""
    report: dict[str, Any] = json.loads(result.stdout)
    valid_report(report)
    return report


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "generated_at"}


def zero_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard mode still decides what to retry and how often; only its sleeps become zero, so
    a burst of throttling costs no wall time in the tests."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_calls(sim: SimAWS, service: str, operation: str, count: int, timeout: float = 10.0) -> None:
    """Wait until the simulator has answered `count` such requests: a request the client gave up on (read
    timeout) is answered later, and must not land in the next test's call log."""
    deadline = time.monotonic() + timeout
    while sim.calls.count(service, operation) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulator answered fewer than {count} {service}:{operation} requests")
        time.sleep(0.02)


def no_traceback(result: Result) -> None:
    """The command ended with an exit status, not an exception, and printed no traceback."""
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert "Traceback" not in result.output
