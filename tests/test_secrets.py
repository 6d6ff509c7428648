"""No credential in any output: the failure scenarios run with -vv, and everything they print (stdout,
stderr, the report file, every log record of ecrwatch's loggers) is searched for the AWS secret key, a session
token, EKS bearer tokens and request signatures. Once more in a real process, where nothing is captured for
us. And TLS is always verified: no code turns verification off, no option offers it.

The Kubernetes credentials (kubeconfig tokens, client keys, exec plugins) have their own scan beside the
Kubernetes tests (tests/test_check_kubernetes.py); here an EKS cluster that refuses its token stands in.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from ecrwatch import options as ecrwatch_options
from ecrwatch.cli import main
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.server import SimAWS
from hardening_world import (
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    Account,
    add_eks_cluster,
    closed_port,
    ecrwatch,
    seed_account,
    wait_for_calls,
    zero_backoff,
)

REPO = Path(__file__).resolve().parents[1]
# Whole values, and pieces of them (a truncated secret is still a leak).
SECRETS = (
    SECRET_ACCESS_KEY,
    SECRET_ACCESS_KEY[:12],
    SECRET_ACCESS_KEY[-12:],
    SESSION_TOKEN,
    SESSION_TOKEN[:16],
    "k8s-aws-v1.",  # an EKS token's prefix: any token at all
    "Bearer ",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "aws4_request",  # a SigV4 credential scope: a signed request or presigned URL was printed
)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@dataclass
class Captured:
    records: list[logging.LogRecord] = field(default_factory=list)

    def text(self) -> str:
        handler = logging.Handler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        return "\n".join(handler.format(record) for record in self.records)


class _Keep(logging.Handler):
    def __init__(self, into: Captured) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.records.append(record)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """Every record ecrwatch's loggers emit, beside the handler the CLI sets up for stderr."""
    into = Captured()
    keep = _Keep(into)
    logger = logging.getLogger("ecrwatch")
    monkeypatch.setattr(logger, "handlers", [])  # the CLI then adds its own stderr handler for this run
    real = ecrwatch_options.configure_logging

    def configure(verbose: int, quiet: bool) -> None:
        real(verbose, quiet)
        if keep not in logger.handlers:
            logger.addHandler(keep)

    monkeypatch.setattr(ecrwatch_options, "configure_logging", configure)
    return into


@pytest.fixture
def world(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> Account:
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    zero_backoff(monkeypatch)
    return seed_account(sim_aws)


Setup = Callable[[SimAWS, pytest.MonkeyPatch, Callable[..., SimKube], Account], None]


def _throttled_cluster(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("ecs", "ListTasks", error="ThrottlingException", when=lambda r: "batch" in str(r.json()))


def _server_errors(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("inspector2", "ListFindings", error="InternalServerException", status=500)
    sim.faults.add("ecr", "BatchGetImage", error="ServerException", status=503)


def _read_timeout(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("ecs", "DescribeTasks", latency=0.6)


def _expired_at_sts(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("sts", "GetCallerIdentity", error="ExpiredToken", status=403)


def _expired_mid_run(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("inspector2", "ListFindings", error="ExpiredTokenException", status=403)


def _denied(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("ecs", "ListTasks", error="AccessDeniedException", status=400)
    sim.faults.add("inspector2", "ListCoverage", error="AccessDeniedException", status=403)


def _expired_at_ecr(sim: SimAWS, *_: Any) -> None:
    sim.faults.add("ecr", None, error="ExpiredTokenException", status=400)


def _refused(sim: SimAWS, monkeypatch: pytest.MonkeyPatch, *_: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")


def _eks_refuses_the_token(sim: SimAWS, _m: pytest.MonkeyPatch, make: Callable[..., SimKube], account: Account) -> None:
    add_eks_cluster(make, account)
    make(REGION, "unmapped", known_key=False)  # 401 for the EKS token ecrwatch presents


# name, fault, command, exit status, whether the run gets far enough to log progress at -vv
SCENARIOS: list[tuple[str, Setup, tuple[str, ...], int, bool]] = [
    ("throttled-cluster", _throttled_cluster, ("check",), 3, True),
    ("server-errors", _server_errors, ("check",), 3, True),
    ("read-timeout", _read_timeout, ("check", "--read-timeout", "0.2"), 3, True),
    ("expired-at-sts", _expired_at_sts, ("check",), 2, False),
    ("expired-mid-run", _expired_mid_run, ("check",), 2, True),
    ("access-denied", _denied, ("check",), 3, True),
    ("connection-refused", _refused, ("check",), 3, True),  # a warning: the report is empty, and why
    ("eks-401", _eks_refuses_the_token, ("check",), 3, True),
    ("status-denied", _denied, ("status",), 3, False),
    ("status-expired", _expired_at_ecr, ("status",), 2, False),
    ("enable-scanning-refused", _refused, ("enable-scanning", "--yes"), 3, False),
    ("enable-scanning-expired", _expired_at_ecr, ("enable-scanning", "--yes"), 2, False),
]


# A report in both formats where there is one (check's incomplete runs); errors that stop a run print the same.
RUNS = [
    pytest.param(*scenario, output_format, id=f"{scenario[0]}-{output_format}")
    for scenario in SCENARIOS
    for output_format in (("json", "table") if scenario[2][0] == "check" and scenario[3] == 3 else ("json",))
]


@pytest.mark.parametrize(("name", "setup", "command", "status", "logs", "output_format"), RUNS)
def test_no_secret_in_any_output_or_log_record_at_debug_verbosity(
    world: Account,
    sim_aws: SimAWS,
    sim_eks_cluster: Callable[..., SimKube],
    monkeypatch: pytest.MonkeyPatch,
    captured: Captured,
    tmp_path: Path,
    name: str,
    setup: Setup,
    command: tuple[str, ...],
    status: int,
    logs: bool,
    output_format: str,
) -> None:
    setup(sim_aws, monkeypatch, sim_eks_cluster, world)
    args = [*command, "--region", REGION, "-vv", "--max-attempts", "2"]
    report = tmp_path / "report.out"
    if command[0] == "check":
        args += ["--format", output_format, "--output", str(report)]
    elif command[0] == "status":
        args += ["--format", output_format]
    result = ecrwatch(*args)
    if name == "read-timeout":
        wait_for_calls(sim_aws, "ecs", "DescribeTasks", 4)  # two clusters, two attempts: answered late
    assert result.exit_code == status, result.output
    assert logging.getLogger("ecrwatch").getEffectiveLevel() == logging.DEBUG  # -vv took effect
    assert bool(captured.records) == logs, "the scan sees -vv's log lines where a run makes them"
    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "log records": captured.text(),
        "report file": report.read_text() if report.exists() else "",
        "exception": repr(result.exception),
    }
    found = {where: leaks(text) for where, text in texts.items() if leaks(text)}
    assert found == {}


def test_a_real_process_prints_no_secret_at_debug_verbosity(
    world: Account, sim_aws: SimAWS, sim_eks_cluster: Callable[..., SimKube], tmp_path: Path
) -> None:
    """Nothing between ecrwatch and the terminal here: the process's own stdout and stderr, tracebacks,
    warnings and third-party log lines included."""
    _eks_refuses_the_token(sim_aws, pytest.MonkeyPatch(), sim_eks_cluster, world)
    sim_aws.faults.add("ecs", "ListTasks", error="ThrottlingException", when=lambda r: "batch" in str(r.json()))
    environment = dict(os.environ)
    command = [sys.executable, "-m", "ecrwatch", "check", "--region", REGION, "-vv", "--max-attempts", "1"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert "DEBUG" in done.stderr or "INFO" in done.stderr  # the verbose lines were there to be searched
    assert leaks(done.stdout) == [] and leaks(done.stderr) == []
    assert "Traceback" not in done.stderr

    sim_aws.faults.clear()
    sim_aws.faults.add("sts", "GetCallerIdentity", error="ExpiredToken", status=403)
    expired = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert expired.returncode == 2
    assert "ExpiredToken" in expired.stderr and "AWS_SESSION_TOKEN" in expired.stderr  # the name, never the value
    assert leaks(expired.stdout + expired.stderr) == []


# --- TLS is always verified -------------------------------------------------------------------------------

# Each turns certificate or host verification off somewhere (requests/botocore, ssl, urllib3, the
# kubernetes client, a kubeconfig). Built from pieces so that this file does not match itself.
TURNS_TLS_OFF = [
    r"verify\s*=\s*False",
    r"CERT_" + r"NONE",
    r"insecure_skip_" + r"tls_verify",
    r"verify_ssl\s*=\s*False",
    r"check_hostname\s*=\s*False",
    r"_create_unverified" + r"_context",
    r"disable_warnings\(",
    r"assert_hostname\s*=\s*False",
    r"insecure-skip-" + r"tls-verify\W+true",
    r"--no-verify" + r"-ssl",
]
# Negative tests may spell a way to turn verification off, to prove ecrwatch refuses it: (file, pattern) -> why.
# Add one here, with why, rather than weakening a pattern.
ALLOWED: dict[tuple[str, str], str] = {
    ("tests/test_inventory_kube.py", TURNS_TLS_OFF[8]): "a kubeconfig asking for it, to see ecrwatch refuse it",
}


def test_no_code_turns_tls_verification_off() -> None:
    files = [p for folder in ("src", "tests", "bench", ".ci") for p in (REPO / folder).rglob("*") if p.is_file()]
    files = [
        p
        for p in files
        if p.suffix in (".py", ".sh", ".toml", ".cfg", ".yaml", ".yml", ".json", "")
        and ".mypy_cache" not in p.parts
        and "__pycache__" not in p.parts
    ]
    assert any(p.name == "aws.py" for p in files)  # the scan sees the code base
    offenders = []
    for path in files:
        relative = str(path.relative_to(REPO))
        text = path.read_text(errors="replace")
        offenders += [
            f"{relative}: {pattern}"
            for pattern in TURNS_TLS_OFF
            if re.search(pattern, text) and (relative, pattern) not in ALLOWED
        ]
    assert offenders == []


def test_no_option_offers_to_turn_tls_verification_off() -> None:
    names = [
        opt
        for command in main.commands.values()
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    ]
    assert "--region" in names
    assert [n for n in names if re.search(r"insecure|no-verify|skip-tls|verify-ssl|no-tls|unverified", n)] == []
