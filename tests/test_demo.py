"""`ecrwatch demo`: the real commands against the simulated account, offline, with what a user would see."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from click.testing import CliRunner
from rich.console import Console

from ecrwatch.cli import main
from ecrwatch.demo import SEEDS, DemoStep, run_demo


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
    # multi-arch log agent; the CronJob's init container, reporting only a config id, is matched through its tag.
    assert "shop/Deployment storefront" in check and "service web" in check
    assert "kube-system/DaemonSet log-agent" in check and "CVE-2024-45337" in check
    assert "jobs/CronJob nightly-payouts" in check and "fetch-config" in check
    assert "2 clusters" in check
    assert "--filter 'Shop/*'" in result.stderr  # the refused filter, named
    assert dict(os.environ) == before  # the environment is put back


def test_a_step_that_does_not_behave_as_shown_fails_the_demo() -> None:
    console = Console(file=io.StringIO(), width=200)
    status = run_demo(
        main,
        steps=[DemoStep("status is meant to succeed here", ("status",), expect=3)], seeds=SEEDS, console=console
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
