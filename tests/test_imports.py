"""Start-up: each command loads only what it uses (issue 14).

The kubernetes client takes about a second to import and boto3 a few tenths: `--help`, `iam-policy` and a
command's own `--help` load neither; `status`, `enable-scanning` and `check --no-eks` load boto3 but never
the kubernetes client; the Lambda handler's module loads without it. Each command runs in a fresh process
(`python -m ecrwatch` as a user runs it), then the modules it loaded are read from that process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.accounts import IssuedSecrets
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import KubeContainerSeed, SimKube
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import ROLE, deploy_role

REGION = "us-east-1"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
HEAVY = ("boto3", "botocore", "kubernetes", "rich")

# Runs the command line (`ecrwatch ARGS...`, as `ecrwatch.entry` does but for its os._exit), then writes its
# exit status and the top-level packages it loaded to the file named first.
_PROBE = """
import json, sys
out = sys.argv.pop(1)
sys.argv[0] = "ecrwatch"
status = 0
try:
    from ecrwatch.cli import main
    main()
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
with open(out, "w") as handle:
    json.dump({"status": status, "modules": sorted(sys.modules)}, handle)
"""


def run_command(tmp_path: Path, *args: str) -> tuple[int, set[str], subprocess.CompletedProcess[str]]:
    """(exit status, top-level packages loaded, the process) of `ecrwatch ARGS` in a fresh process."""
    status, modules, process = run_command_modules(tmp_path, *args)
    return status, {name.partition(".")[0] for name in modules}, process


def run_command_modules(tmp_path: Path, *args: str) -> tuple[int, set[str], subprocess.CompletedProcess[str]]:
    """(exit status, every module loaded, the process) of `ecrwatch ARGS` in a fresh process."""
    out = tmp_path / "loaded.json"
    process = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), process.stderr
    loaded: dict[str, Any] = json.loads(out.read_text())
    return int(loaded["status"]), set(loaded["modules"]), process


def heavy(packages: set[str]) -> list[str]:
    return sorted(set(HEAVY) & packages)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("--help",), "enable-scanning"),
        (("check", "--help"), "--fail-on"),
        (("check", "--no-eks", "--help"), "--no-eks"),
        (("status", "--help"), "coverage"),
        (("enable-scanning", "--help"), "--dry-run"),
        (("iam-policy",), "inspector2:ListFindings"),
        (("iam-policy", "--command", "all"), "ecr:PutRegistryScanningConfiguration"),
        (("iam-policy", "--kubernetes"), "ClusterRole"),
    ],
)
def test_help_and_iam_policy_load_no_aws_kubernetes_or_rich(tmp_path: Path, args: tuple[str, ...], shown: str) -> None:
    status, packages, process = run_command(tmp_path, *args)
    assert status == 0, process.stderr
    assert shown in process.stdout
    assert heavy(packages) == []


def test_an_option_error_is_reported_before_boto3_is_loaded(tmp_path: Path) -> None:
    status, packages, process = run_command(tmp_path, "check", "--region", "not a region")
    assert status == 2
    assert "'not a region' is not an AWS region name" in process.stderr
    assert "boto3" not in packages and "kubernetes" not in packages


def test_a_usage_error_of_ours_is_shown_without_a_traceback(tmp_path: Path) -> None:
    # EcrwatchGroup renders it (with rich, loaded for the message only).
    status, _packages, process = run_command(tmp_path, "iam-policy", "--kubernetes", "--command", "status")
    assert status == 2
    assert "error: --kubernetes prints the Kubernetes access of `check`" in process.stderr
    assert "Traceback" not in process.stderr


def test_status_and_enable_scanning_load_boto3_but_not_the_kubernetes_client(tmp_path: Path, sim_aws: SimAWS) -> None:
    status, packages, process = run_command(tmp_path, "status", "--region", REGION)
    assert status == 0, process.stderr
    assert "Inspector scanning for ECR" in process.stdout
    assert "boto3" in packages and "kubernetes" not in packages

    status, packages, process = run_command(tmp_path, "enable-scanning", "--region", REGION, "--dry-run")
    assert status == 0, process.stderr
    assert "nothing was written" in process.stderr + process.stdout
    assert "boto3" in packages and "kubernetes" not in packages


def vulnerable_image(sim_aws: SimAWS) -> str:
    """`team/api:v1` in the caller's registry, with a HIGH finding; its digest."""
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="team/api")
    digest = push_image(ecr, "team/api", "v1")
    sim_aws.extension(Inspector2Sim).add_finding(
        REGION, repository="team/api", digest=digest, vulnerability_id="CVE-2024-0001", severity="HIGH"
    )
    return digest


@pytest.fixture
def running(sim_aws: SimAWS, sim_eks_cluster: Any) -> str:
    """One vulnerable image run by an ECS task and by a Deployment in each of four EKS clusters; its digest."""
    digest = vulnerable_image(sim_aws)
    ecs = sim_aws.extension(EcsSim)
    ecs.add_cluster(REGION, "prod")
    ecs.add_task(REGION, "prod", service="api", containers=[EcsContainerSeed("api", f"{HOST}/team/api:v1", digest)])
    # Several clusters: they are read side by side, and the first import of the kubernetes client must not
    # happen in several threads at once (its modules deadlocked on the import locks when it did).
    for n in range(4):
        kube = sim_eks_cluster(REGION, f"kprod-{n}")
        kube.run_deployment(
            "shop", "api", [KubeContainerSeed("api", f"{HOST}/team/api:v1", image_id=f"{HOST}/team/api@{digest}")]
        )
    return digest


def _platforms(tmp_path: Path, *args: str) -> tuple[set[str], set[str]]:
    """(platforms whose workloads the report names, top-level packages loaded) of a `check` to a file."""
    report_path = tmp_path / "report.json"
    status, packages, process = run_command(
        tmp_path, "check", "--region", REGION, "--format", "json", "--output", str(report_path), *args
    )
    assert status == 0, process.stderr
    report = json.loads(report_path.read_text())
    return {w["platform"] for entry in report["images"] for w in entry["workloads"]}, packages


def test_check_loads_the_kubernetes_client_only_when_it_reads_a_cluster(tmp_path: Path, running: str) -> None:
    platforms, packages = _platforms(tmp_path, "--no-eks")
    assert platforms == {"ecs"}
    assert "boto3" in packages and "kubernetes" not in packages
    assert "rich" not in packages  # a JSON report draws nothing (quiet: no progress on a terminal either)
    assert "yaml" not in packages  # read only for an ignore file

    platforms, packages = _platforms(tmp_path)  # the EKS cluster is read: the client is loaded for it
    assert platforms == {"ecs", "eks"}
    assert "kubernetes" in packages


def test_reading_a_cluster_loads_none_of_the_kubernetes_clients_generated_api_classes(
    tmp_path: Path, running: str
) -> None:
    # Importing CoreV1Api, AppsV1Api and BatchV1Api builds hundreds of pydantic models (about a second of CPU
    # per run); the lists are read through the ApiClient alone.
    report_path = tmp_path / "report.json"
    status, modules, process = run_command_modules(
        tmp_path, "check", "--region", REGION, "--format", "json", "--output", str(report_path)
    )
    assert status == 0, process.stderr
    report = json.loads(report_path.read_text())
    assert {w["platform"] for entry in report["images"] for w in entry["workloads"]} == {"ecs", "eks"}
    assert "kubernetes.client.api_client" in modules
    generated = ("kubernetes.client.api.", "kubernetes.client.models.")
    assert sorted(name for name in modules if name.startswith(generated)) == []


def test_clusters_in_several_accounts_are_read_in_one_process(
    tmp_path: Path, sim_aws: SimAWS, sim_kube_factory: Callable[..., SimKube]
) -> None:
    # Each account's inventory job starts its cluster reads from its own thread, and the first of them imports
    # the kubernetes client: two first imports at once failed the run (ImportError: cannot import name
    # 'ApiClient', exit 1) about one run in two.
    digest = vulnerable_image(sim_aws)
    members = ("111111111111", "333333333333", "555555555555")
    for account in members:
        deploy_role(account)
        kube = sim_kube_factory(eks_cluster_name="shop", tokens=(), sts_endpoints=[sim_aws.endpoint_url])
        kube.aws_secret_keys = IssuedSecrets()  # type: ignore[assignment]  # keys STS issues during the run
        sim_aws.extension(EksSim).add_cluster(REGION, "shop", endpoint=kube.url, ca_pem=kube.ca_pem, account=account)
        kube.run_deployment(
            "shop", "api", [KubeContainerSeed("api", f"{HOST}/team/api:v1", image_id=f"{HOST}/team/api@{digest}")]
        )
    report_path = tmp_path / "report.json"
    accounts = [arg for account in members for arg in ("--account", account)]
    status, _, process = run_command(
        tmp_path, "check", "--region", REGION, "--format", "json", "--output", str(report_path), "--no-ecs",
        *accounts, "--role-name", ROLE,
    )  # fmt: skip
    assert status == 0, process.stderr
    report = json.loads(report_path.read_text())
    assert {(w["platform"], w["account"]) for e in report["images"] for w in e["workloads"]} == {
        ("eks", account) for account in members
    }


def test_the_lambda_handler_module_loads_without_the_kubernetes_client() -> None:
    probe = "import sys, ecrwatch.aws_lambda; print(sorted({m.partition('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'kubernetes'" not in out
    assert "'ecrwatch'" in out
