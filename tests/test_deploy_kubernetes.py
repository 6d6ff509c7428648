"""Every Kubernetes manifest of the deployment kit (deploy/), and the ClusterRole `iam-policy --kubernetes`
prints, is one a cluster accepts: strictly valid against the official client's models (Kubernetes' OpenAPI
document) and the API server's own rules (tests/kube_admission.py). A broken copy is refused, so these tests
can fail. The organisation CronJob keeps its secrets out of its arguments and runs as the hub role."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from click.testing import CliRunner

from ecrwatch.cli import check as check_command
from ecrwatch.cli import main
from kube_admission import refusals

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ORG_CRONJOB = DEPLOY / "kubernetes" / "cronjob-org.yaml"


def kubernetes_files() -> list[Path]:
    """Every YAML file of the kit but the CloudFormation templates (which hold no Kubernetes object)."""
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    return [p for p in files if "AWSTemplateFormatVersion" not in p.read_text()]


def file_refusals(path: Path) -> list[str]:
    """What a cluster would refuse in this file: `kubectl apply -f FILE`, object by object."""
    problems = []
    for index, document in enumerate(yaml.safe_load_all(path.read_text())):
        if document is not None:
            problems.extend(f"{path.name} #{index}: {problem}" for problem in refusals(document))
    return problems


def test_the_kit_has_both_cronjobs() -> None:
    names = {p.name for p in kubernetes_files()}
    assert {"cronjob.yaml", "cronjob-org.yaml"} <= names


@pytest.mark.parametrize("path", kubernetes_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_a_cluster_accepts_every_kubernetes_manifest_of_the_kit(path: Path) -> None:
    assert file_refusals(path) == []


def test_a_cluster_accepts_what_iam_policy_kubernetes_prints() -> None:
    result = CliRunner().invoke(main, ["iam-policy", "--kubernetes"])
    assert result.exit_code == 0, result.output
    documents = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    assert [d["kind"] for d in documents] == ["ClusterRole", "ClusterRoleBinding"]
    assert [refusals(d) for d in documents] == [[], []]


# --- a broken manifest fails ------------------------------------------------------------------------------------


def test_a_broken_copy_of_a_kit_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "cronjob-org.yaml"
    broken.write_text(ORG_CRONJOB.read_text().replace("readOnlyRootFilesystem:", "readOnlyRootFileSystem:"))
    problems = file_refusals(broken)
    assert len(problems) == 1
    assert "readOnlyRootFileSystem" in problems[0] and "Extra inputs are not permitted" in problems[0]


def _cronjob() -> dict[str, Any]:
    (cronjob,) = [d for d in yaml.safe_load_all(ORG_CRONJOB.read_text()) if d["kind"] == "CronJob"]
    return dict(cronjob)


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is None:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return change


POD = "spec.jobTemplate.spec.template.spec"
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "removed API version": (_set("apiVersion", "batch/v1beta1"), "no such resource is served"),
    "unknown field": (_set(f"{POD}.containers.0.securityContext.runAsUSER", 10001), "Extra inputs"),
    "wrong type": (_set(f"{POD}.securityContext.runAsUser", "10001"), "valid integer"),
    "missing required field": (_set("spec.schedule", None), "Field required"),
    "container without a name": (_set(f"{POD}.containers.0.name", None), "Field required"),
    "name not a DNS subdomain": (_set("metadata.name", "ecrwatch_org"), "DNS-1123 subdomain"),
    "CronJob name too long": (_set("metadata.name", "e" * 53), "longer than 52"),
    "bad schedule": (_set("spec.schedule", "every 30 minutes"), "not a cron schedule"),
    "bad concurrency policy": (_set("spec.concurrencyPolicy", "Never"), "concurrencyPolicy"),
    "Job pod restarting Always": (_set(f"{POD}.restartPolicy", "Always"), "restartPolicy"),
    "mount of a missing volume": (_set(f"{POD}.containers.0.volumeMounts.0.name", "nope"), "not a volume"),
    "bad label value": (_set("metadata.labels.team", "platform security"), "label value"),
    "bad annotation key": (_set("metadata.annotations", {"bad key": "x"}), "annotation key"),
    "bad quantity": (_set(f"{POD}.containers.0.resources.requests.cpu", "lots"), "not a quantity"),
    "bad env name": (_set(f"{POD}.containers.0.env.0.name", "EXTERNAL ID"), "environment variable"),
    "root under runAsNonRoot": (_set(f"{POD}.securityContext.runAsUser", 0), "runAsNonRoot"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_cronjob_a_cluster_would_refuse_is_refused(case: str) -> None:
    change, expected = BROKEN[case]
    cronjob = copy.deepcopy(_cronjob())
    change(cronjob)
    problems = refusals(cronjob)
    assert problems, case
    assert any(expected in problem for problem in problems), problems


# --- the organisation CronJob -----------------------------------------------------------------------------------


def test_the_org_cronjob_runs_as_the_hub_role_and_keeps_its_secrets_out_of_its_arguments() -> None:
    documents = {d["kind"]: d for d in yaml.safe_load_all(ORG_CRONJOB.read_text())}
    account = documents["ServiceAccount"]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", role)
    pod = _pod(documents["CronJob"])
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    (container,) = pod["containers"]
    assert "--external-id" not in container["args"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert set(secrets) == {"ECRWATCH_EXTERNAL_ID", "ECRWATCH_NOTIFY_WEBHOOKS"}
    assert "optional" not in secrets["ECRWATCH_EXTERNAL_ID"]  # without it no member account can be entered
    assert not any(e.get("value") for e in container["env"])


def test_the_org_cronjobs_arguments_are_check_options_for_the_whole_organisation() -> None:
    documents = {d["kind"]: d for d in yaml.safe_load_all(ORG_CRONJOB.read_text())}
    (container,) = _pod(documents["CronJob"])["containers"]
    command, *args = container["args"]
    assert command == "check"
    params = check_command.make_context("check", list(args)).params
    assert params["org"] and params["role_name"] == "ecrwatch-reader"
    assert params["external_id"] is None  # from ECRWATCH_EXTERNAL_ID, the Secret
    assert re.fullmatch(r"\d{12}", params["inspector_account"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(params["state_path"]).parent == Path(mounts["state"]) == Path(params["output"]).parent
    assert params["new_only"] and params["log_format"] == "json" and params["output_format"] == "json"
    assert params["kubeconfig"] is None and not params["kube_contexts"]  # EKS through the member roles only
