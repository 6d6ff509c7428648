"""`ecrwatch check` end to end on Kubernetes: the real CLI, EKS clusters discovered in the simulated account
and reached with EKS tokens, kubeconfig contexts, the report a user reads, and no credential in any of it."""

from __future__ import annotations

import base64
import json
import logging
import os
import pty
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.inspector2 import Inspector2Sim
from ecrwatch.sim.kube import KubeContainerSeed, SimKube, exec_plugin_user, write_kubeconfig
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-west-2"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
CONFIG_ID = "sha256:" + "c" * 64
BUSYBOX = "docker.io/library/busybox@sha256:" + "b" * 64


@dataclass
class World:
    sim: SimAWS
    prod: SimKube
    api: str
    web_index: str
    web_amd: str
    job: str


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--format", "json", *args])


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    valid_report(report)
    return report


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def entry(report: dict[str, Any], digest: str) -> dict[str, Any]:
    (found,) = [e for e in report["images"] if e["image"]["digest"] == digest]
    return found


def run_job_pod(cluster: SimKube, world: World, name: str = "bare") -> None:
    """A pod of no controller in `cluster`'s default namespace, running team/job by its digest."""
    image_id = f"{HOST}/team/job@{world.job}"
    cluster.add_pod("default", name, containers=[KubeContainerSeed("c", f"{HOST}/team/job:v3", image_id=image_id)])


@pytest.fixture
def world(sim_aws: SimAWS, sim_eks_cluster: Any) -> World:
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("team/api", "team/web", "team/job"):
        ecr.create_repository(repositoryName=repo)
    api = push_image(ecr, "team/api", "v1")
    web = push_index(ecr, "team/web", "v2")
    job = push_image(ecr, "team/job", "v3")
    inspector = sim_aws.extension(Inspector2Sim)
    inspector.add_finding(
        REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0001", severity="CRITICAL"
    )
    inspector.add_finding(REGION, repository="team/api", digest=api, vulnerability_id="CVE-2024-0002", severity="HIGH")
    amd = web.platforms["linux/amd64"]
    inspector.add_finding(
        REGION, repository="team/web", digest=amd, vulnerability_id="CVE-2024-1000", severity="MEDIUM"
    )
    inspector.set_coverage(REGION, repository="team/web", digest=web.platforms["linux/arm64"])  # scanned, clean
    inspector.add_finding(REGION, repository="team/job", digest=job, vulnerability_id="CVE-2024-2000", severity="LOW")

    prod = sim_eks_cluster(REGION, "prod")
    prod.run_deployment(
        "shop",
        "api",
        [KubeContainerSeed("api", f"{HOST}/team/api:v1", image_id=f"docker-pullable://{HOST}/team/api@{api}")],
    )
    prod.run_cronjob(
        "batch",
        "nightly",
        [KubeContainerSeed("job", f"{HOST}/team/job:v3", image_id=CONFIG_ID)],  # a config id: matched by tag
        init_containers=[KubeContainerSeed("wait", "busybox:1.36", image_id=BUSYBOX)],
    )
    prod.run_daemonset(
        "kube-system",
        "agent",
        [KubeContainerSeed("agent", f"{HOST}/team/web:v2", image_id=f"{HOST}/team/web@{web.digest}")],
    )
    return World(sim_aws, prod, api, web.digest, amd, job)


def test_pods_of_an_eks_cluster_are_joined_with_their_findings(world: World) -> None:
    result = run("--no-ecs")
    report = report_of(result)
    assert result.exit_code == 0, result.stderr
    api = entry(report, world.api)["workloads"]
    assert len(api) == 2
    assert {(w["platform"], w["cluster"], w["region"], w["account"], w["namespace"]) for w in api} == {
        ("eks", "prod", REGION, ACCOUNT_ID, "shop")
    }
    assert {(w["owner"]["kind"], w["owner"]["name"], w["matched_via"], w["running_digest"]) for w in api} == {
        ("Deployment", "api", "digest", world.api)
    }
    (agent,) = entry(report, world.web_amd)["workloads"]
    assert (agent["owner"], agent["matched_via"], agent["running_digest"]) == (
        {"kind": "DaemonSet", "name": "agent"},
        "index",
        world.web_index,
    )
    (job,) = entry(report, world.job)["workloads"]
    assert (job["owner"], job["matched_via"], job["running_digest"], job["container_type"]) == (
        {"kind": "CronJob", "name": "nightly"},
        "tag",
        None,
        "app",
    )
    (busybox,) = report["unscanned"]
    assert busybox["reason"] == "not_ecr"
    assert [(w["container"], w["container_type"]) for w in busybox["workloads"]] == [("wait", "init")]
    assert report["summary"]["running_containers"] == 5  # 2 api replicas, the job and its init container, the agent
    assert [e["vulnerability_id"] for e in report["exposures"]] == [
        "CVE-2024-0001",
        "CVE-2024-0002",
        "CVE-2024-1000",
        "CVE-2024-2000",
    ]
    assert report["scope"]["clusters"] == [
        {
            "platform": "eks",
            "name": "prod",
            "arn": f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/prod",
            "region": REGION,
            "ok": True,
        }
    ]


def test_a_refusing_and_an_unreachable_cluster_beside_a_healthy_one_exit_3(world: World, sim_eks_cluster: Any) -> None:
    sim_eks_cluster(REGION, "unmapped", known_key=False)
    sim_eks_cluster(REGION, "gone", endpoint=f"https://127.0.0.1:{closed_port()}")
    result = run("--no-ecs", "--fail-on", "CRITICAL")
    report = report_of(result)
    assert result.exit_code == 3  # incomplete beats exposures
    errors = {e["source"]: e for e in report["errors"]}
    assert {source: e["code"] for source, e in errors.items()} == {
        f"eks:{REGION}/unmapped": "401",
        f"eks:{REGION}/gone": "ConnectionRefused",
    }
    assert "AmazonEKSViewPolicy" in errors[f"eks:{REGION}/unmapped"]["message"]
    assert {c["name"]: c["ok"] for c in report["scope"]["clusters"]} == {"prod": True, "unmapped": False, "gone": False}
    # The healthy cluster's results are complete.
    assert len(entry(report, world.api)["workloads"]) == 2
    assert report["summary"]["running_containers"] == 5
    assert report["summary"]["exposures"] == 4


def test_a_cluster_that_trusts_another_sts_endpoint_refuses_the_token_and_is_that_clusters_error(
    world: World, sim_eks_cluster: Any
) -> None:
    # ecrwatch presigns for the STS endpoint boto3 uses (here the simulator, plain http on loopback). A cluster
    # that trusts only AWS's https STS hosts, or another endpoint, refuses that token as aws-iam-authenticator
    # does: 401, and the run says so while the healthy cluster is still read.
    aws_only = sim_eks_cluster(REGION, "aws-only", trusted_sts=())
    elsewhere = sim_eks_cluster(REGION, "elsewhere", trusted_sts=("https://sts.internal.example.com",))
    result = run("--no-ecs")
    report = report_of(result)
    assert result.exit_code == 3
    assert {e["source"]: e["code"] for e in report["errors"]} == {
        f"eks:{REGION}/aws-only": "401",
        f"eks:{REGION}/elsewhere": "401",
    }
    assert {c["name"]: c["ok"] for c in report["scope"]["clusters"]} == {
        "prod": True,
        "aws-only": False,
        "elsewhere": False,
    }
    assert len(entry(report, world.api)["workloads"]) == 2
    for kube in (aws_only, elsewhere):
        assert {(r.status, r.auth_error) for r in kube.requests} == {(401, "wrong-scheme")}


def test_kubeconfig_contexts_with_a_token_and_a_client_certificate(
    world: World, sim_kube: SimKube, tmp_path: Path
) -> None:
    sim_kube.run_statefulset(
        "data", "db", [KubeContainerSeed("db", f"{HOST}/team/api:v1", image_id=f"{HOST}/team/api@{world.api}")]
    )
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("dev-token"),
            sim_kube.kubeconfig_entry("dev-cert", client_cert=sim_kube.issue_client_cert("ecrwatch", ["viewers"])),
        ],
    )
    result = run(
        "--no-ecs", "--no-eks", "--kubeconfig", str(path), "--kube-context", "dev-token", "--kube-context", "dev-cert"
    )
    report = report_of(result)
    assert result.exit_code == 0, result.stderr
    workloads = entry(report, world.api)["workloads"]
    assert sorted((w["platform"], w["cluster"], w["region"], w["owner"]["kind"]) for w in workloads) == [
        ("kubernetes", "dev-cert", None, "StatefulSet"),
        ("kubernetes", "dev-token", None, "StatefulSet"),
    ]
    assert {(c["platform"], c["name"], c["ok"]) for c in report["scope"]["clusters"]} == {
        ("kubernetes", "dev-token", True),
        ("kubernetes", "dev-cert", True),
    }
    assert world.prod.requests == []  # --no-eks: the EKS cluster was not read
    assert {r.auth for r in sim_kube.requests} == {"token", "client-cert"}


def test_a_pod_not_as_the_api_describes_it_is_left_out_and_told_and_the_rest_is_read(
    world: World, sim_kube: SimKube, tmp_path: Path
) -> None:
    # A proxy's or a broken server's answer: a pod whose containers are a number. It used to end the whole
    # run (a TypeError, exit 1). Now that pod alone is left out, told as an error of its cluster, which is
    # marked not read whole; the pods beside it on the page, and EKS, are read.
    run_job_pod(sim_kube, world, "fine")
    sim_kube.add_object(
        {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "odd", "namespace": "default"},
            "spec": {"containers": 7},
            "status": {"phase": "Running"},
        }
    )
    run_job_pod(sim_kube, world, "zz-after")
    path = sim_kube.kubeconfig(tmp_path / "config", "dev")
    result = run("--no-ecs", "--kubeconfig", str(path), "--kube-context", "dev")
    assert result.exit_code == 3, result.stderr
    report = report_of(result)
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == ("kube-context:dev", "InvalidResponse")
    assert error["message"] == (
        "the answer listing pods holds an object not as the API sends it, left out: "
        "item 1 (default/odd): Expected `array | null`, got `int` - at `$.spec.containers`"
    )
    assert {(c["name"], c["ok"]) for c in report["scope"]["clusters"]} == {("prod", True), ("dev", False)}
    assert {w["pod"] for w in entry(report, world.job)["workloads"] if w["cluster"] == "dev"} == {"fine", "zz-after"}
    assert {w["cluster"] for w in entry(report, world.api)["workloads"]} == {"prod"}


def test_contexts_sharing_a_ca_are_all_read_when_loaded_side_by_side(
    world: World, sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four contexts of one cluster share its CA data, and their exec plugins wait for one another: the four
    # are loaded at the same time. The client's own temp files (remembered process-wide by content, named
    # before they are filled) are slowed here as a busy machine slows them: a context handed such a file
    # while it is still empty fails TLS verification (it did, now and then, in CI). Each load must use files
    # of its own, complete before the loader sees them.
    from kubernetes.config import kube_config

    write = kube_config._create_temp_file_with_content

    def slow_write(content: Any, temp_file_path: Any = None, force_recreate: bool = False) -> str:
        key = str(content)
        if force_recreate or key not in kube_config._temp_files:
            fd, name = tempfile.mkstemp(dir=temp_file_path)
            os.close(fd)
            kube_config._temp_files[key] = name  # named first, as the client does ...
            time.sleep(0.2)  # ... and filled later
            Path(name).write_bytes(content.encode() if isinstance(content, str) else content)
            return name
        return str(write(content, temp_file_path, force_recreate))

    monkeypatch.setattr(kube_config, "_create_temp_file_with_content", slow_write)
    monkeypatch.setattr(kube_config, "_temp_files", {})
    run_job_pod(sim_kube, world)
    names = ["a", "b", "c", "d"]
    markers = tmp_path / "markers"
    markers.mkdir()
    sim_kube.tokens.add("shared-exec-token")
    entries = [
        sim_kube.kubeconfig_entry(
            name, user=waiting_exec_user("shared-exec-token", markers, name, [n for n in names if n != name])
        )
        for name in names
    ]
    assert len({e.ca_pem for e in entries}) == 1  # one CA, the same inline data in every context
    path = write_kubeconfig(tmp_path / "config", entries)
    args = ("--kubeconfig", str(path), *(f"--kube-context={name}" for name in names))
    result = run("--no-ecs", "--no-eks", "--workers", "4", *args)
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert report["errors"] == []
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == set(names)
    assert kube_config._temp_files == {}  # nothing went through the client's process-wide files


def waiting_exec_user(token: str, markers: Path, me: str, others: list[str]) -> dict[str, Any]:
    """An exec plugin that leaves a marker, then prints its credential only once every other plugin has left
    its own (within 10 s; else it fails): it succeeds only while the others run at the same time."""
    user = exec_plugin_user(token)
    wait = (
        "import os, sys, time\n"
        f"open({str(markers / me)!r}, 'w').close()\n"
        "deadline = time.monotonic() + 10\n"
        f"while not all(os.path.exists(os.path.join({str(markers)!r}, o)) for o in {others!r}):\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(9)\n"
        "    time.sleep(0.01)\n"
    )
    user["exec"]["args"] = ["-c", wait + user["exec"]["args"][1]]
    return user


def test_exec_plugins_of_several_contexts_run_side_by_side(world: World, sim_kube: SimKube, tmp_path: Path) -> None:
    # Each plugin waits for the other's marker: in series the first would wait in vain and fail. Nothing is
    # timed: the order of the markers proves the plugins ran side by side.
    run_job_pod(sim_kube, world)
    markers = tmp_path / "markers"
    markers.mkdir()
    sim_kube.tokens.update({"token-of-a", "token-of-b"})
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("a", user=waiting_exec_user("token-of-a", markers, "a", ["b"])),
            sim_kube.kubeconfig_entry("b", user=waiting_exec_user("token-of-b", markers, "b", ["a"])),
        ],
    )
    result = run(
        "--no-ecs", "--no-eks", "--workers", "2", "--kubeconfig", str(path), "--kube-context=a", "--kube-context=b"
    )
    report = report_of(result)
    assert report["errors"] == []
    assert result.exit_code == 0, result.stderr
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == {"a", "b"}
    assert sorted(p.name for p in markers.iterdir()) == ["a", "b"]


def run_at_terminal(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    """`ecrwatch check` in a process of its own whose stdin, stdout and stderr are a terminal (a pty), as a
    user runs it: its exit status, what it wrote to the terminal, and its JSON report (written to a file)."""
    out = tmp_path / "report.json"
    main_end, terminal = pty.openpty()
    argv = [sys.executable, "-m", "ecrwatch", "check", "--region", REGION, "--format", "json", "--output", str(out)]
    process = subprocess.Popen([*argv, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=dict(os.environ))
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(main_end, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_end)
    status = process.wait(timeout=120)
    report = json.loads(out.read_text()) if out.exists() else {}
    return status, shown.decode(errors="replace"), report


def turn_logging_user(token: str, log: Path, me: str, other: str, mode: str | None) -> dict[str, Any]:
    """An exec plugin that logs its start, waits up to a second for the other plugin to start (logging the
    overlap if it does), then logs its end and prints its credential."""
    user = exec_plugin_user(token)
    if mode is None:
        del user["exec"]["interactiveMode"]  # as `aws eks update-kubeconfig` writes it (v1beta1: optional)
    else:
        user["exec"]["interactiveMode"] = mode
    script = (
        "import time\n"
        f"log = {str(log)!r}\n"
        f"open(log, 'a').write('start {me}\\n')\n"
        "deadline = time.monotonic() + 1\n"
        "while time.monotonic() < deadline:\n"
        f"    if 'start {other}' in open(log).read() and 'end {other}' not in open(log).read():\n"
        f"        open(log, 'a').write('overlap {me}\\n')\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        f"open(log, 'a').write('end {me}\\n')\n"
    )
    user["exec"]["args"] = ["-c", script + user["exec"]["args"][1]]
    return user


def test_at_a_terminal_exec_plugins_that_may_prompt_take_turns(world: World, sim_kube: SimKube, tmp_path: Path) -> None:
    # The client gives a plugin the terminal when ecrwatch runs at one: two prompting at once would mix their
    # questions and split the user's answers. Each plugin waits a second for the other: never met, by turns.
    run_job_pod(sim_kube, world)
    log = tmp_path / "plugins.log"
    sim_kube.tokens.update({"token-of-a", "token-of-b"})
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("a", user=turn_logging_user("token-of-a", log, "a", "b", None)),
            sim_kube.kubeconfig_entry("b", user=turn_logging_user("token-of-b", log, "b", "a", None)),
        ],
    )
    args = ("--no-ecs", "--no-eks", "--workers", "2", "--kubeconfig", str(path), "--kube-context=a", "--kube-context=b")
    status, shown, report = run_at_terminal(tmp_path, *args)
    assert status == 0, shown
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == {"a", "b"}
    lines = log.read_text().split()
    first, second = lines[1], lines[5]  # whichever the pool started first
    assert {first, second} == {"a", "b"}
    assert lines == ["start", first, "end", first, "start", second, "end", second]  # never an overlap


def test_at_a_terminal_exec_plugins_that_never_prompt_still_run_side_by_side(
    world: World, sim_kube: SimKube, tmp_path: Path
) -> None:
    run_job_pod(sim_kube, world)
    markers = tmp_path / "markers"
    markers.mkdir()
    sim_kube.tokens.update({"token-of-a", "token-of-b"})
    users = [waiting_exec_user(f"token-of-{me}", markers, me, [other]) for me, other in (("a", "b"), ("b", "a"))]
    assert all(user["exec"]["interactiveMode"] == "Never" for user in users)
    path = write_kubeconfig(
        tmp_path / "config",
        [sim_kube.kubeconfig_entry(name, user=user) for name, user in zip("ab", users, strict=True)],
    )
    args = ("--no-ecs", "--no-eks", "--workers", "2", "--kubeconfig", str(path), "--kube-context=a", "--kube-context=b")
    status, shown, report = run_at_terminal(tmp_path, *args)
    assert status == 0, shown
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == {"a", "b"}


def test_at_a_terminal_a_failing_exec_plugin_is_its_contexts_error(
    world: World, sim_kube: SimKube, tmp_path: Path
) -> None:
    # At a terminal the plugin's stderr goes to the terminal, where the user reads it; the client then
    # stumbled on the message it no longer had (a traceback, exit 1). Now: that context's error, the other read.
    run_job_pod(sim_kube, world)
    sim_kube.tokens.add("token-of-b")
    failing = exec_plugin_user("never-used")
    failing["exec"]["args"] = ["-c", "import sys; sys.stderr.write('the SSO session has expired\\n'); sys.exit(255)"]
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("a", user=failing),
            sim_kube.kubeconfig_entry("b", user=exec_plugin_user("token-of-b")),
        ],
    )
    args = ("--no-ecs", "--no-eks", "--kubeconfig", str(path), "--kube-context=a", "--kube-context=b")
    status, shown, report = run_at_terminal(tmp_path, *args)
    assert status == 3, shown
    assert "Traceback" not in shown
    assert "the SSO session has expired" in shown  # the plugin's own words, on the user's terminal
    (error,) = report["errors"]
    assert (error["source"], error["code"]) == ("kube-context:a", "ExecPluginFailed")
    assert "exec credential plugin of kubeconfig context 'a' failed" in error["message"]
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == {"b"}


def test_certificates_named_by_path_resolve_from_the_kubeconfig_that_names_them(
    world: World, sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KUBECONFIG merges two files in two directories: one defines the cluster (its CA by a relative path) and
    # the contexts, the other the user (certificate and key by relative paths). As kubectl does, each path is
    # read from the directory of the file that names it; beside them, a context with everything inline.
    run_job_pod(sim_kube, world)
    cert = sim_kube.issue_client_cert("filed-user", ["viewers"])
    inline_cert = sim_kube.issue_client_cert("inline-user", ["viewers"])
    clusters, users = tmp_path / "clusters", tmp_path / "users"
    (clusters / "pki").mkdir(parents=True)
    (users / "pki").mkdir(parents=True)
    (clusters / "pki" / "ca.crt").write_bytes(sim_kube.ca.cert_pem)
    (users / "pki" / "me.crt").write_bytes(cert.cert_pem)
    (users / "pki" / "me.key").write_bytes(cert.key_pem)
    first = write_kubeconfig(clusters / "config", [sim_kube.kubeconfig_entry("inline", client_cert=inline_cert)])
    document = json.loads(first.read_text())
    document["clusters"].append(
        {"name": "filed", "cluster": {"server": sim_kube.url, "certificate-authority": "pki/ca.crt"}}
    )
    document["contexts"].append({"name": "filed", "context": {"cluster": "filed", "user": "filed-user"}})
    first.write_text(json.dumps(document))
    second = users / "config"
    second.write_text(
        json.dumps(
            {
                "users": [
                    {"name": "filed-user", "user": {"client-certificate": "pki/me.crt", "client-key": "pki/me.key"}}
                ]
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    result = run("--no-ecs", "--no-eks", "--kube-context", "filed", "--kube-context", "inline")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert {w["cluster"] for w in entry(report, world.job)["workloads"]} == {"filed", "inline"}
    assert {(r.auth, r.user) for r in sim_kube.requests} == {
        ("client-cert", "filed-user"),
        ("client-cert", "inline-user"),
    }


def test_an_exec_plugin_may_answer_with_a_client_certificate(world: World, sim_kube: SimKube, tmp_path: Path) -> None:
    run_job_pod(sim_kube, world)
    cert = sim_kube.issue_client_cert("plugin-user", ["viewers"])
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"clientCertificateData": cert.cert_pem.decode(), "clientKeyData": cert.key_pem.decode()},
    }
    user = exec_plugin_user("unused")
    user["exec"]["args"] = ["-c", f"print({json.dumps(json.dumps(credential))})"]
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("plugin", user=user)])
    result = run("--no-ecs", "--no-eks", "--kubeconfig", str(path), "--kube-context", "plugin")
    assert result.exit_code == 0, result.stderr
    (workload,) = entry(report_of(result), world.job)["workloads"]
    assert workload["cluster"] == "plugin"
    assert {(r.auth, r.user) for r in sim_kube.requests} == {("client-cert", "plugin-user")}


def test_inline_certificate_data_that_is_not_base64_is_exit_2(world: World, sim_kube: SimKube, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("broken")])
    document = json.loads(path.read_text())
    document["users"][0]["user"] = {"client-certificate-data": "not-base64-SECRET", "client-key-data": "eA=="}
    path.write_text(json.dumps(document))
    result = run("--no-ecs", "--no-eks", "--kubeconfig", str(path), "--kube-context", "broken")
    assert result.exit_code == 2
    assert "client-certificate-data of user 'broken-user' is not base64" in result.stderr
    assert "SECRET" not in result.stderr + result.stdout
    assert sim_kube.requests == []


def test_kube_context_alone_reads_the_files_in_kubeconfig(
    world: World, sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_job_pod(sim_kube, world)
    path = write_kubeconfig(tmp_path / "config", [sim_kube.kubeconfig_entry("home")])
    monkeypatch.setenv("KUBECONFIG", str(path))
    report = report_of(run("--no-ecs", "--no-eks", "--kube-context", "home"))
    (workload,) = entry(report, world.job)["workloads"]
    assert (workload["cluster"], workload["pod"], workload["owner"]) == ("home", "bare", None)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kubeconfig", "{tmp}/missing"], "does not exist"),
        (["--kubeconfig", "{config}", "--kube-context", "nope"], "context 'nope' is not in kubeconfig"),
        (["--eks-cluster", "not a name"], "is not a valid EKS cluster name"),
        (["--no-eks", "--eks-cluster", "prod"], "--no-eks"),
    ],
)
def test_what_must_be_fixed_first_is_exit_2_before_any_cluster_is_read(
    world: World, sim_kube: SimKube, tmp_path: Path, args: list[str], says: str
) -> None:
    config = sim_kube.kubeconfig(tmp_path / "config", "real")
    filled = [a.format(tmp=tmp_path, config=config) for a in args]
    result = run(*filled)
    assert result.exit_code == 2
    assert says in result.stderr
    assert world.prod.requests == [] and sim_kube.requests == []
    assert world.sim.calls.count("eks") == 0 and world.sim.calls.count("ecs") == 0


def test_no_token_key_or_kubeconfig_secret_reaches_any_output(
    world: World, sim_eks_cluster: Any, sim_kube: SimKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_eks_cluster(REGION, "unmapped", known_key=False)
    forbidden = sim_eks_cluster(REGION, "viewless")
    forbidden.forbid = True
    sim_kube.add_pod("default", "bare", containers=[KubeContainerSeed("c", "nginx:1.27", image_id=BUSYBOX)])
    static_token = "static-token-SECRET-7f3a"
    exec_token = "exec-token-SECRET-91bc"
    sim_kube.tokens.update({static_token, exec_token})
    client_cert = sim_kube.issue_client_cert("ecrwatch")
    path = write_kubeconfig(
        tmp_path / "config",
        [
            sim_kube.kubeconfig_entry("token", token=static_token),
            sim_kube.kubeconfig_entry("revoked", token="revoked-token-SECRET-0d2e"),
            sim_kube.kubeconfig_entry("cert", client_cert=client_cert),
            sim_kube.kubeconfig_entry("exec", user=exec_plugin_user(exec_token)),
        ],
    )
    # Inline keys and certificates go to a temporary directory for the run: here, to see it emptied.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # A handler made now writes to this run's stderr (the CLI adds one only where there is none).
    monkeypatch.setattr(logging.getLogger("ecrwatch"), "handlers", [])
    args = ["--kubeconfig", str(path)] + [f"--kube-context={c}" for c in ("token", "revoked", "cert", "exec")]
    json_run = CliRunner().invoke(main, ["check", "--region", REGION, "-vv", "--format", "json", *args])
    table_run = CliRunner().invoke(main, ["check", "--region", REGION, "-vv", "--format", "table", *args])
    assert json_run.exit_code == table_run.exit_code == 3
    report = report_of(json_run)
    # The errors in full on failure: once, under a load of ~5 on two cores, a third code appeared (unseen since).
    assert {e["code"] for e in report["errors"]} == {"401", "403"}, report["errors"]
    assert "kube-context:revoked" in {e["source"] for e in report["errors"]}
    assert "DEBUG" in json_run.stderr  # -vv logging reached this capture: the scan below means something

    key_body = "".join(client_cert.key_pem.decode().splitlines()[1:-1])
    environ = world.sim.environ()
    secrets = {
        static_token,
        exec_token,
        "revoked-token-SECRET-0d2e",
        key_body[:40],
        key_body[-40:],
        base64.b64encode(client_cert.key_pem).decode()[:40],
        environ["AWS_SECRET_ACCESS_KEY"],
        "k8s-aws-v1.",
        "X-Amz-Signature",
        "Bearer ",
    }
    for name, text in (
        ("json stdout", json_run.stdout),
        ("json stderr", json_run.stderr),
        ("table stdout", table_run.stdout),
        ("table stderr", table_run.stderr),
    ):
        found = [s for s in secrets if s in text]
        assert not found, f"{name} shows {found}"
        assert not re.search(r"X-Amz-Credential|aws4_request", text), name
    # ... and the temporary files that held the client key while the clusters were read are gone.
    assert list(scratch.iterdir()) == []


# The Accept header the Kubernetes API documents for metadata-only lists, with client-go's fallback to the list
# itself; and the Content-Type a server that knows the form answers it with.
METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_ANSWER = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def owners_and_teams(report: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
    """(namespace, owner kind, owner name, team) of every Kubernetes workload in the report."""
    return {
        (w["namespace"], w["owner"]["kind"], w["owner"]["name"], w["team"])
        for entry in [*report["images"], *report["unscanned"]]
        for w in entry["workloads"]
    }


def test_owners_and_namespaces_are_read_metadata_only_and_an_old_server_gives_the_same_report(world: World) -> None:
    world.prod.add_namespace("shop", labels={"team": "storefront"})
    world.prod.add_namespace("batch", labels={"team": "data"})
    world.prod.clear_requests()
    result = run("--no-ecs", "--owner-label", "team")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    assert owners_and_teams(report) == {
        ("shop", "Deployment", "api", "storefront"),  # through its ReplicaSet's metadata
        ("batch", "CronJob", "nightly", "data"),  # through its Job's
        ("kube-system", "DaemonSet", "agent", None),
    }
    asked = {(r.path, r.accept, r.content_type) for r in world.prod.requests}
    assert asked == {
        ("/apis/apps/v1/replicasets", METADATA_ACCEPT, METADATA_ANSWER),
        ("/apis/batch/v1/jobs", METADATA_ACCEPT, METADATA_ANSWER),
        ("/api/v1/namespaces", METADATA_ACCEPT, METADATA_ANSWER),
        # Pods and nodes are read whole (a node's status.nodeInfo is read, a pod's spec and status).
        ("/api/v1/nodes", "application/json", "application/json"),
        ("/api/v1/pods", "application/json", "application/json"),
    }
    owner_lists = ("/apis/apps/v1/replicasets", "/apis/batch/v1/jobs", "/api/v1/namespaces")
    with_templates = ("/apis/apps/v1/replicasets", "/apis/batch/v1/jobs")
    partial_bytes = sum(r.size for r in world.prod.requests if r.path in with_templates)

    # A server that ignores the metadata form answers the lists themselves: the same report.
    world.prod.partial_metadata = False
    world.prod.clear_requests()
    old = run("--no-ecs", "--owner-label", "team")
    assert old.exit_code == 0, old.stderr
    old_report = report_of(old)
    for part in ("images", "unscanned", "exposures", "summary", "scope", "errors"):
        assert old_report[part] == report[part], part
    answered = {(r.path, r.accept, r.content_type) for r in world.prod.requests if r.path in owner_lists}
    assert answered == {(path, METADATA_ACCEPT, "application/json") for path in owner_lists}
    full_bytes = sum(r.size for r in world.prod.requests if r.path in with_templates)
    assert partial_bytes < full_bytes / 2  # the ReplicaSets' and Jobs' pod templates were not sent
