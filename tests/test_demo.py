"""`ecrwatch demo`: the real commands against the simulated account, offline, with what a user would see."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import boto3
import kubernetes
from click.testing import CliRunner
from rich.console import Console

from ecrwatch.aws import Aws
from ecrwatch.cli import main
from ecrwatch.demo import SEEDS, DemoContext, DemoStep, run_demo, seed_eks, seed_registry
from ecrwatch.eks_token import make_token
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS


def test_the_demo_runs_every_step_and_prints_what_a_user_would_see() -> None:
    before = dict(os.environ)
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    captions = [
        "1. Before: basic scanning",
        "2. A filter ECR would refuse",
        "3. The plan, without writing anything",
        "4. Apply: back up first",
        "5. The same command again",
        "6. After",
        "7. The way back",
    ]
    positions = [out.index(caption) for caption in captions]
    assert positions == sorted(positions)
    assert "$ ecrwatch enable-scanning --dry-run" in out
    assert "--poll-interval" not in out  # the demo's speed-up is not what a user would type

    before_status, plan, apply, again, after, back = (
        out[positions[0] : positions[1]],
        out[positions[2] : positions[3]],
        out[positions[3] : positions[4]],
        out[positions[4] : positions[5]],
        out[positions[5] : positions[6]],
        out[positions[6] :],
    )
    assert "Inspector scanning for ECR  DISABLED" in before_status
    assert "on-push rule: shop/*, platform/*" in before_status
    assert "Scan type                   BASIC -> ENHANCED" in plan and "+ *" in plan
    assert "nothing was written" in plan
    assert "Applied:" in apply and "(ecr:PutRegistryScanningConfiguration)" in apply
    assert "no change" in again and "Applied:" not in again
    assert "Inspector scanning for ECR  ENABLED" in after
    assert "on-push rule: shop/*, platform/*" in after and "continuous rule: *" in after  # the customer's rule kept
    assert "ACTIVE / SUCCESSFUL" in after
    assert "ENABLED -> DISABLED (DEACTIVATED by writing BASIC: its ECR findings are deleted" in back
    assert "--allow-deactivation" in back and "(exit status 2)" in back
    assert "Demo finished" in out
    check = out[out.index("8. Which findings are live") :]
    assert "CVE-2024-6387" in check and "CVE-2024-2961" in check
    assert "CVE-2022-3602" not in check  # a finding on an image that no longer runs is not an exposure
    assert "service web" in check and "index" in check  # the multi-arch image, matched through its index
    assert "not_ecr" in check and "scan_pending" in check and "scan_unsupported" in check
    assert "9. From cron" in check and "(exit status 1)" in check
    # One report across ECS and EKS: a Deployment and the ECS service share the web image; a DaemonSet runs the
    # multi-arch log agent; the CronJob's Job runs the payouts worker with an init container.
    assert "shop/Deployment storefront" in check and "service web" in check
    assert "kube-system/DaemonSet log-agent" in check and "CVE-2024-45337" in check
    assert "jobs/CronJob nightly-payouts" in check and "fetch-config" in check
    assert "2 clusters" in check
    # Two running images Inspector no longer watches, each with what to do about it: the ledger service has
    # run on one digest longer than the pull rescan duration (its finding is still shown, and will be closed
    # with no fix), and the nightly export's repository in the data team's registry is scanned on push only.
    words = " ".join(check[: check.index("9. From cron")].split())
    assert "Not monitored 2" in words
    assert "shop/ledger" in words and "CVE-2023-38545" in words
    assert "Not monitored by Inspector: Inspector's rescan duration lapsed (last scanned " in words
    assert "raise it (ecrwatch enable-scanning --pull-rescan-duration 180d) or use the LAST_IN_USE_AT" in words
    assert "not_monitored: Inspector scan status SCAN_FREQUENCY_SCAN_ON_PUSH" in words
    assert "To do: add the repository to the continuous rule: ecrwatch enable-scanning --region eu-west-1" in words
    assert "--filter data/nightly-export" in words
    # Findings charged to the platform that runs: the web index's arm64-only CVE is the Graviton ECS service's,
    # and the storefront pods on an amd64 node are charged only with what the amd64 image has.
    web_block = check[check.index("shop/web:1.4.2") : check.index("platform/base-python")]
    rows = {line.split()[2]: line.split()[-1] for line in web_block.splitlines() if line.startswith(("ecs ", "eks "))}
    assert rows == {"service": "arm64", "shop/Deployment": "amd64"}
    arm_only = next(line for line in web_block.splitlines() if "CVE-2024-5535" in line)
    assert arm_only.split()[-1] == "arm64" and "amd64" not in arm_only
    # Triage: the KEV-listed vulnerability first and marked, the accepted risk set aside with its rule, and
    # the run failing on KEV alone.
    triage = out[out.index("10. Triage") :]
    assert "--sort risk --ignore-file" in triage and "(exit status 1)" in triage
    order = [w for line in triage.splitlines() for w in line.split() if w.startswith("CVE-")]
    assert order[0] == "CVE-2023-44487"
    kev_row = " ".join(triage[triage.index("CVE-2023-44487") :].split()[:3])
    assert "KEV" in kev_row and "fails" in kev_row
    words = " ".join(triage.split())
    assert "Suppressed 1" in words and "Suppressed: risk accepted (1)" in words
    accepted = words[words.index("Suppressed: risk accepted (1)") :]
    assert "CVE-2023-4016" in accepted and "ps is never run" in accepted
    assert "ignore.yaml:2" in accepted.replace(" ", "")
    assert "CVE-2023-4016" not in words[: words.index("Suppressed: risk accepted")]  # not among the exposures
    assert "--filter 'Shop/*'" in result.stderr  # the refused filter, named
    # The organisation: one report over two workload accounts (a cluster named prod in each, told apart by
    # account), the registry account's finding, and the account whose role is missing as the one error.
    org = out[out.index("11. An organisation") :]
    assert org.count("ecs prod") == 2 and "account 311111111111" in org and "account 322222222222" in org
    assert "CVE-2024-3094" in org and "Errors (1)" in org and "account:333333333333" in org
    assert "(exit status 3)" in org
    assert dict(os.environ) == before  # the environment is put back


def test_a_step_that_does_not_behave_as_shown_fails_the_demo() -> None:
    console = Console(file=io.StringIO(), width=200)
    status = run_demo(
        main, steps=[DemoStep("status is meant to succeed here", ("status",), expect=3)], seeds=SEEDS, console=console
    )
    assert status == 3
    assert "step 1 exited 0; it was meant to exit 3" in console.file.getvalue()  # type: ignore[attr-defined]


def test_the_demo_needs_no_test_tooling() -> None:
    code = (
        "import sys\n"
        "import ecrwatch.cli, ecrwatch.demo\n"
        "bad = sorted(m for m in ('pytest', 'hypothesis', 'jsonschema') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""


def test_the_demos_eks_pods_look_like_eks_1_31s(sim_aws: SimAWS, tmp_path: Path) -> None:
    """Read through the official client as `kubectl get pods -o json` would: containerd's imageID forms (no
    dockershim `docker-pullable://`, no bare config id for an image pulled from ECR), containerd container
    ids, and a Job's pod restarting as its Job's template says (a Job may only say Never or OnFailure)."""
    with ExitStack() as stack:
        ctx = DemoContext(sim_aws, tmp_path, stack)
        seed_registry(ctx)
        seed_eks(ctx)
        cluster = boto3.client("eks", region_name=ctx.region).describe_cluster(name="shop-eks")["cluster"]
        config = kubernetes.client.Configuration(host=cluster["endpoint"])
        config.api_key = {"authorization": make_token(Aws(), ctx.region, "shop-eks")}
        config.api_key_prefix = {"authorization": "Bearer"}
        (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
        config.ssl_ca_cert = str(tmp_path / "ca.crt")
        client = kubernetes.client.ApiClient(config)
        pods = client.sanitize_for_serialization(kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces())
        jobs = client.sanitize_for_serialization(kubernetes.client.BatchV1Api(client).list_job_for_all_namespaces())

    statuses = [s for p in pods["items"] for s in p["status"].get("initContainerStatuses", [])]
    statuses += [s for p in pods["items"] for s in p["status"]["containerStatuses"]]
    assert len(statuses) == 3 + 2 + 2  # storefront replicas, the job's init and main container, the agents
    containerd_image_id = re.compile(
        rf"{ACCOUNT_ID}\.dkr\.ecr\.{ctx.region}\.amazonaws\.com/[a-z0-9/._-]+@sha256:[0-9a-f]{{64}}"
    )
    assert [s["imageID"] for s in statuses if not containerd_image_id.fullmatch(s["imageID"])] == []
    assert {s["containerID"].split("://")[0] for s in statuses} == {"containerd"}

    (job,) = jobs["items"]
    (job_pod,) = [p for p in pods["items"] if p["metadata"]["ownerReferences"][0]["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job_pod["spec"]["restartPolicy"] == "OnFailure"
    others = {p["spec"]["restartPolicy"] for p in pods["items"] if p is not job_pod}
    assert others == {"Always"}  # Deployment and DaemonSet pods
