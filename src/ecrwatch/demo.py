"""`ecrwatch demo`: the real commands against a simulated AWS account, offline.

The simulated account runs in-process on 127.0.0.1 (`ecrwatch.sim`); boto3 is pointed at it through its
own environment variables for the duration of the demo, and every command runs through the same click
entry point, over HTTP, exactly as a user's would. The demo is a list of seeds (functions that set up the
account) and a list of steps (a caption and the command line a user would type): later features append
their own seeds and steps.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import click
from rich.console import Console
from rich.text import Text

from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim
from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.inspector2 import Inspector2Sim, Package, VulnerabilityIntel
from ecrwatch.sim.kube import SimKube
from ecrwatch.sim.kube_objects import KubeContainerSeed
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from ecrwatch.sim.world import build_sim_aws

REGION = "us-east-1"


@dataclass
class DemoContext:
    sim: SimAWS
    workdir: Path
    stack: ExitStack = field(default_factory=ExitStack)  # servers a seed starts, stopped when the demo ends
    region: str = REGION
    # (repository, manifest digest, tags) of every single-platform image pushed: what Inspector scans
    images: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]


Seed = Callable[[DemoContext], None]


@dataclass(frozen=True)
class DemoStep:
    caption: str
    args: tuple[str, ...]  # after `ecrwatch`; `{workdir}` is replaced by the demo's scratch directory
    expect: int = 0  # the exit status this step is meant to show
    hidden_args: tuple[str, ...] = ()  # demo speed-ups, not shown on the command line
    before: Seed | None = None  # something that happens in the world before the command runs


# --- seeds --------------------------------------------------------------------------------------------


def seed_registry(ctx: DemoContext) -> None:
    """A small shop's registry: a few repositories with images (one multi-arch), and the customer's own
    basic scan-on-push rule that enable-scanning must keep."""
    ecr = ctx.client("ecr")
    for repository in ("shop/web", "shop/api", "shop/payments-worker", "platform/base-python", "legacy/reports"):
        ecr.create_repository(repositoryName=repository)
    web = push_index(ecr, "shop/web", "1.4.2")
    ctx.images.extend(("shop/web", digest, ()) for digest in web.platforms.values())
    for repository, tag in (
        ("shop/api", "2.0.0"),
        ("shop/api", "2.0.1"),
        ("shop/payments-worker", "0.9.3"),
        ("platform/base-python", "3.12"),
        ("legacy/reports", "2019.11"),
    ):
        ctx.images.append((repository, push_image(ecr, repository, tag), (tag,)))
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [
                    {"filter": "shop/*", "filterType": "WILDCARD"},
                    {"filter": "platform/*", "filterType": "WILDCARD"},
                ],
            }
        ],
    )


def seed_inspector(ctx: DemoContext) -> None:
    """Inspector not yet activated; activation takes a couple of status polls, as on AWS."""
    inspector = ctx.sim.extension(Inspector2Sim)
    inspector.set_account_status(ctx.region, ecr="DISABLED")
    inspector.enable_after_polls = 2


def tag_digest(ctx: DemoContext, repository: str, tag: str) -> str:
    """The digest a tag points at, as ECR says."""
    images = ctx.client("ecr").batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])["images"]
    return str(images[0]["imageId"]["imageDigest"])


def seed_ecs(ctx: DemoContext) -> None:
    """The shop's ECS cluster: services on a digest, on a multi-arch index, a standalone task named by tag
    only, and a sidecar from Docker Hub that no ECR scan will ever cover."""
    by_repo = {repository: digest for repository, digest, _tags in ctx.images}
    index = {"1.4.2": tag_digest(ctx, "shop/web", "1.4.2")}
    api = next(d for r, d, t in ctx.images if r == "shop/api" and t == ("2.0.1",))
    host = f"{ACCOUNT_ID}.dkr.ecr.{ctx.region}.amazonaws.com"
    ecs = ctx.sim.extension(EcsSim)
    ecs.add_cluster(ctx.region, "shop-prod")
    for _ in range(2):  # on Graviton: the arm64 platform image of the web index is the one that runs
        ecs.add_task(
            ctx.region,
            "shop-prod",
            service="web",
            containers=[EcsContainerSeed("web", f"{host}/shop/web:1.4.2", index["1.4.2"])],
            cpu_architecture="arm64",
        )
    ecs.add_task(
        ctx.region,
        "shop-prod",
        service="api",
        containers=[
            EcsContainerSeed("api", f"{host}/shop/api:2.0.1", api),
            EcsContainerSeed("datadog-agent", "datadog/agent:7.52.0", "sha256:" + "7" * 64),
        ],
    )
    ecs.add_task(
        ctx.region,
        "shop-prod",
        service="payments-worker",
        containers=[EcsContainerSeed("worker", f"{host}/shop/payments-worker:0.9.3", by_repo["shop/payments-worker"])],
    )
    # A nightly report task whose agent has not reported a digest yet: matched through its tag.
    ecs.add_task(
        ctx.region,
        "shop-prod",
        family="legacy-reports",
        launch_type="EC2",
        containers=[EcsContainerSeed("reports", f"{host}/legacy/reports:2019.11")],
    )


def seed_eks(ctx: DemoContext) -> None:
    """The shop's EKS cluster, a Kubernetes API of its own that accepts EKS tokens signed with the account's
    credentials: a Deployment on the web index, a nightly CronJob (its Job's pod restarts OnFailure, as the
    job template says) with an init container, and a log agent DaemonSet on a multi-arch image across two
    nodes. Pods look as EKS 1.31 shows them: containerd reports `imageID` as `REGISTRY/REPO@sha256:...`."""
    ecr = ctx.client("ecr")
    ecr.create_repository(repositoryName="platform/log-agent")
    agent = push_index(ecr, "platform/log-agent", "2.1.0")
    ctx.images.extend(("platform/log-agent", digest, ()) for digest in agent.platforms.values())
    web_index = tag_digest(ctx, "shop/web", "1.4.2")
    worker = next(d for r, d, _t in ctx.images if r == "shop/payments-worker")
    base = next(d for r, d, _t in ctx.images if r == "platform/base-python")

    environ = ctx.sim.environ()
    kube = ctx.stack.enter_context(
        SimKube(
            eks_cluster_name="shop-eks",
            aws_secret_keys={environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]},
            tokens=(),
            sts_endpoints=(ctx.sim.endpoint_url,),
        )
    )
    ctx.sim.extension(EksSim).add_cluster(ctx.region, "shop-eks", endpoint=kube.url, ca_pem=kube.ca_pem)
    host = f"{ACCOUNT_ID}.dkr.ecr.{ctx.region}.amazonaws.com"
    intel, graviton = "ip-10-0-1-17.ec2.internal", "ip-10-0-2-41.ec2.internal"
    kube.add_node(intel, architecture="amd64")
    kube.add_node(graviton, architecture="arm64")
    kube.run_deployment(
        "shop",
        "storefront",
        [KubeContainerSeed("web", f"{host}/shop/web:1.4.2", f"{host}/shop/web@{web_index}")],
        replicas=3,
        node_name=intel,
    )
    kube.run_cronjob(
        "jobs",
        "nightly-payouts",
        [KubeContainerSeed("payouts", f"{host}/shop/payments-worker:0.9.3", f"{host}/shop/payments-worker@{worker}")],
        init_containers=[
            KubeContainerSeed(
                "fetch-config", f"{host}/platform/base-python:3.12", f"{host}/platform/base-python@{base}"
            ),
        ],
        restart_policy="OnFailure",
    )
    kube.run_daemonset(
        "kube-system",
        "log-agent",
        [KubeContainerSeed("agent", f"{host}/platform/log-agent:2.1.0", f"{host}/platform/log-agent@{agent.digest}")],
        nodes=(intel, graviton),
    )


SEEDS: list[Seed] = [seed_registry, seed_inspector, seed_ecs, seed_eks]

EXPORT_REGION = "eu-west-1"  # the data team's registry, where their own scan-on-push rule applies


def seed_monitoring_gaps(ctx: DemoContext) -> None:
    """Two images Inspector does not watch any more, though they run: the ledger service, up for months on one
    digest (longer than the pull rescan duration), and a nightly export task pulling from the data team's
    registry in another region, whose repository is scanned on push only."""
    ecr = ctx.client("ecr")
    ecr.create_repository(repositoryName="shop/ledger")
    ledger = push_image(ecr, "shop/ledger", "3.2.0")
    export_ecr = boto3.client("ecr", region_name=EXPORT_REGION)
    export_ecr.create_repository(repositoryName="data/nightly-export")
    export = push_image(export_ecr, "data/nightly-export", "1.0.0")
    ecs = ctx.sim.extension(EcsSim)
    host = f"{ACCOUNT_ID}.dkr.ecr.{ctx.region}.amazonaws.com"
    export_host = f"{ACCOUNT_ID}.dkr.ecr.{EXPORT_REGION}.amazonaws.com"
    ecs.add_task(
        ctx.region,
        "shop-prod",
        service="ledger",
        containers=[EcsContainerSeed("ledger", f"{host}/shop/ledger:3.2.0", ledger)],
    )
    ecs.add_task(
        ctx.region,
        "shop-prod",
        family="nightly-export",
        containers=[EcsContainerSeed("export", f"{export_host}/data/nightly-export:1.0.0", export)],
    )


SEEDS.append(seed_monitoring_gaps)


def inspector_stops_watching(ctx: DemoContext) -> None:
    """The ledger's last scan was 100 days ago: its scan eligibility expired, and its finding, still open, will
    be closed with no fix. The export image was scanned once, at push, and found clean then."""
    inspector = ctx.sim.extension(Inspector2Sim)
    ledger = tag_digest(ctx, "shop/ledger", "3.2.0")
    now = datetime.now(UTC)
    inspector.add_finding(
        ctx.region,
        repository="shop/ledger",
        digest=ledger,
        tags=("3.2.0",),
        vulnerability_id="CVE-2023-38545",
        severity="HIGH",
        title="CVE-2023-38545 - curl",
        packages=[Package("curl", "7.88.1-10", "7.88.1-10+deb12u4")],
        epss=0.26,
    )
    inspector.set_coverage(
        ctx.region,
        repository="shop/ledger",
        digest=ledger,
        tags=("3.2.0",),
        status_code="INACTIVE",
        reason="SCAN_ELIGIBILITY_EXPIRED",
        last_scanned_at=now - timedelta(days=100),
    )
    export_ecr = boto3.client("ecr", region_name=EXPORT_REGION)
    images = export_ecr.batch_get_image(repositoryName="data/nightly-export", imageIds=[{"imageTag": "1.0.0"}])
    inspector.set_coverage(
        EXPORT_REGION,
        repository="data/nightly-export",
        digest=str(images["images"][0]["imageId"]["imageDigest"]),
        tags=("1.0.0",),
        status_code="ACTIVE",
        reason="SCAN_FREQUENCY_SCAN_ON_PUSH",
        scan_frequency="SCAN_ON_PUSH",
        last_scanned_at=now - timedelta(days=40),
    )


def inspector_finds_vulnerabilities(ctx: DemoContext) -> None:
    """Findings on running images (the api's digest, both platforms of the web index, one of them in its
    arm64 image alone) and on an image that no longer runs (api 2.0.0): only the first are live exposures."""
    inspector = ctx.sim.extension(Inspector2Sim)
    api = {t: d for r, d, t in ctx.images if r == "shop/api"}
    web = [d for r, d, _t in ctx.images if r == "shop/web"]
    add = inspector.add_finding
    add(
        ctx.region,
        repository="shop/api",
        digest=api[("2.0.1",)],
        tags=("2.0.1",),
        vulnerability_id="CVE-2024-6387",
        severity="CRITICAL",
        packages=[Package("openssh-server", "1:9.2p1-2", "1:9.2p1-2+deb12u3")],
        title="CVE-2024-6387 - openssh",
        epss=0.83,
        exploit_available="YES",
    )
    add(
        ctx.region,
        repository="shop/api",
        digest=api[("2.0.1",)],
        tags=("2.0.1",),
        vulnerability_id="CVE-2023-44487",
        severity="HIGH",
        packages=[Package("golang.org/x/net", "0.7.0", "0.17.0", "GOMOD")],
        title="CVE-2023-44487 - golang.org/x/net",
        epss=0.94,
    )
    # HTTP/2 Rapid Reset is in CISA's Known Exploited Vulnerabilities catalogue (added 10 October 2023):
    # Inspector's BatchGetFindingDetails says so, and the report marks it KEV.
    inspector.set_vulnerability_intel(
        "CVE-2023-44487",
        VulnerabilityIntel(
            kev_added=datetime(2023, 10, 10, tzinfo=UTC),
            kev_due=datetime(2023, 10, 31, tzinfo=UTC),
            kev_action="Apply mitigations per vendor instructions or discontinue use of the product if mitigations "
            "are unavailable.",
        ),
    )
    add(
        ctx.region,
        repository="shop/api",
        digest=api[("2.0.0",)],
        tags=("2.0.0",),
        vulnerability_id="CVE-2022-3602",
        severity="HIGH",
        packages=[Package("openssl", "3.0.2-0ubuntu1", "3.0.2-0ubuntu1.7")],
        title="CVE-2022-3602 - openssl",
    )
    base = next(d for r, d, _t in ctx.images if r == "platform/base-python")
    add(
        ctx.region,
        repository="platform/base-python",
        digest=base,
        tags=("3.12",),
        vulnerability_id="CVE-2023-4016",
        severity="LOW",
        title="CVE-2023-4016 - procps",
        packages=[Package("procps", "2:4.0.2-3", "2:4.0.2-3+deb12u1")],
    )
    agent = [d for r, d, _t in ctx.images if r == "platform/log-agent"]
    for digest, arch in zip(agent, ("amd64", "arm64"), strict=True):
        add(
            ctx.region,
            repository="platform/log-agent",
            digest=digest,
            tags=("2.1.0",),
            vulnerability_id="CVE-2024-45337",
            severity="CRITICAL",
            title="CVE-2024-45337 - golang.org/x/crypto",
            architecture=arch,
            epss=0.41,
            packages=[Package("golang.org/x/crypto", "0.30.0", "0.31.0", "GOMOD")],
        )
    for digest, arch in zip(web, ("amd64", "arm64"), strict=True):
        add(
            ctx.region,
            repository="shop/web",
            digest=digest,
            vulnerability_id="CVE-2024-2961",
            packages=[Package("libc6", "2.36-9", "2.36-9+deb12u7")],
            severity="MEDIUM",
            title="CVE-2024-2961 - glibc",
            architecture=arch,
            fix_available="YES",
        )
    # The arm64 build pinned an older OpenSSL: its finding is charged to what runs on arm64 (the Graviton ECS
    # service), not to the storefront pods on amd64 nodes.
    add(
        ctx.region,
        repository="shop/web",
        digest=web[1],
        vulnerability_id="CVE-2024-5535",
        packages=[Package("libssl3", "3.0.11-1~deb12u1", "3.0.15-1~deb12u1")],
        severity="MEDIUM",
        title="CVE-2024-5535 - openssl",
        architecture="arm64",
        fix_available="YES",
    )
    inspector_stops_watching(ctx)


def a_team_accepts_a_risk(ctx: DemoContext) -> None:
    """The platform team's ignore file: a procps flaw in the Python base image is accepted for 90 days, with
    the reason."""
    expires = (datetime.now(UTC).date() + timedelta(days=90)).isoformat()
    (ctx.workdir / "ignore.yaml").write_text(
        f"""rules:
  - vulnerability: CVE-2023-4016
    repository: platform/base-python
    package: procps
    reason: "ps is never run: the job is one Python process and the image has no shell access"
    expires: {expires}
""",
        encoding="utf-8",
    )


def inspector_scans_the_registry(ctx: DemoContext) -> None:
    """What Inspector does in the minutes after activation: a coverage record for every image, most
    scanned, one still pending, and one it cannot scan (an old base OS)."""
    inspector = ctx.sim.extension(Inspector2Sim)
    for repository, digest, tags in ctx.images:
        reason = {"legacy/reports": "UNSUPPORTED_OS", "shop/payments-worker": "PENDING_INITIAL_SCAN"}.get(
            repository, "SUCCESSFUL"
        )
        code = "INACTIVE" if reason == "UNSUPPORTED_OS" else "ACTIVE"
        inspector.set_coverage(
            ctx.region, repository=repository, digest=digest, tags=tags, status_code=code, reason=reason
        )


# --- steps --------------------------------------------------------------------------------------------

_FAST_POLL = ("--poll-interval", "0.2")

STEPS: list[DemoStep] = [
    DemoStep("Before: basic scanning with the team's own scan-on-push rule, Inspector not activated", ("status",)),
    DemoStep(
        "A filter ECR would refuse is refused before any AWS call (exit 2, nothing written)",
        ("enable-scanning", "--filter", "Shop/*", "--dry-run"),
        expect=2,
    ),
    DemoStep("The plan, without writing anything", ("enable-scanning", "--dry-run")),
    DemoStep(
        "Apply: back up first, activate Inspector, wait, then merge continuous scanning into the existing rules",
        ("enable-scanning", "--yes", "--backup", "{workdir}/scanning-backup.json"),
        hidden_args=_FAST_POLL,
    ),
    DemoStep("The same command again: nothing to change, nothing written", ("enable-scanning", "--yes")),
    DemoStep(
        "After (once Inspector has had a few minutes): enhanced scanning, both rules kept, images covered",
        ("status",),
        before=inspector_scans_the_registry,
    ),
    DemoStep(
        "The way back, if it were needed (dry run): the backup's registry is BASIC, and on AWS setting BASIC "
        "deactivates Inspector's ECR scanning and deletes its findings, so it is refused without "
        "--allow-deactivation (exit 2, nothing written)",
        ("enable-scanning", "--restore", "{workdir}/scanning-backup.json", "--dry-run"),
        expect=2,
    ),
    DemoStep(
        "Which findings are live right now? ECS tasks and EKS pods joined with Inspector findings, in one report",
        ("check", "--format", "table"),
        before=inspector_finds_vulnerabilities,
    ),
    DemoStep(
        "From cron: only HIGH and above, exit 1 because a CRITICAL runs; the JSON report goes to a file",
        (
            "check",
            "--min-severity",
            "HIGH",
            "--fail-on",
            "CRITICAL",
            "--format",
            "json",
            "--output",
            "{workdir}/report.json",
        ),
        expect=1,
    ),
    DemoStep(
        "Triage: what attackers use first (KEV, then EPSS), one risk accepted for 90 days in a reviewed ignore "
        "file, and exit 1 only for a vulnerability in CISA's KEV catalogue",
        ("check", "--format", "table", "--sort", "risk", "--ignore-file", "{workdir}/ignore.yaml", "--fail-on-kev"),
        before=a_team_accepts_a_risk,
        expect=1,
    ),
]

# --- an organisation ----------------------------------------------------------------------------------

ORG_REGISTRY, ORG_SHOP, ORG_PAYMENTS, ORG_LOST = "210987654321", "311111111111", "322222222222", "333333333333"
ORG_ROLE = "ecrwatch-reader"


def seed_organisation(ctx: DemoContext) -> None:
    """Three more accounts: a registry account holding the platform's API image (and its finding), two
    workload accounts each running it in an ECS cluster named prod, and one account whose ecrwatch role was
    never deployed. The demo's own account is the hub ecrwatch runs in."""
    from ecrwatch.sim.accounts import create_role, session_in, trust_policy

    ecr = session_in(ORG_REGISTRY, ctx.region).client("ecr")
    ecr.create_repository(repositoryName="platform/api")
    digest = push_image(ecr, "platform/api", "2.0.1")
    ctx.sim.extension(Inspector2Sim).add_finding(
        ctx.region,
        repository="platform/api",
        digest=digest,
        tags=("2.0.1",),
        vulnerability_id="CVE-2024-3094",
        severity="CRITICAL",
        title="CVE-2024-3094 - xz-utils",
        packages=[Package("xz-utils", "5.6.0-0.2", "5.6.1+really5.4.5-1")],
        account=ORG_REGISTRY,
    )
    image = f"{ORG_REGISTRY}.dkr.ecr.{ctx.region}.amazonaws.com/platform/api:2.0.1"
    ecs = ctx.sim.extension(EcsSim)
    for account in (ORG_SHOP, ORG_PAYMENTS, ORG_LOST):
        ecs.add_cluster(ctx.region, "prod", account=account)
        ecs.add_task(ctx.region, "prod", account=account, service="api",
                     containers=[EcsContainerSeed("api", image, digest)])  # fmt: skip
    for account in (ORG_REGISTRY, ORG_SHOP, ORG_PAYMENTS):  # not ORG_LOST: its role is missing
        create_role(account, ORG_ROLE, trust_policy(ACCOUNT_ID))


STEPS.append(
    DemoStep(
        "An organisation: two workload accounts with a cluster named prod each, images from a registry account, "
        "and one account whose role is missing: one report, one error (exit 3)",
        (
            "check",
            "--account",
            ORG_SHOP,
            "--account",
            ORG_PAYMENTS,
            "--account",
            ORG_LOST,
            "--role-name",
            ORG_ROLE,
            "--no-eks",
            "--format",
            "table",
        ),
        expect=3,
        before=seed_organisation,
    )
)

# --- running ------------------------------------------------------------------------------------------


@contextmanager
def simulated_environment(sim: SimAWS, workdir: Path) -> Iterator[None]:
    """boto3's environment pointed at the simulator, and nowhere else, for the duration; restored after."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(sim.environ())
    # No profile, credentials file or instance role of the machine running the demo takes part.
    os.environ["AWS_CONFIG_FILE"] = str(workdir / "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "aws-credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[name]
        os.environ.update(saved)


def _invoke(entry_point: click.Command, args: Sequence[str]) -> int:
    """Run one ecrwatch command line in-process through click, as the console script would."""
    try:
        result = entry_point.main(args=list(args), prog_name="ecrwatch", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0


def run_demo(
    entry_point: click.Command,
    steps: Sequence[DemoStep] | None = None,
    seeds: Sequence[Seed] | None = None,
    console: Console | None = None,
) -> int:
    """Seed the simulated account, run each step through `entry_point` (ecrwatch's click group, handed over
    by the `demo` command so this module need not import the CLI), and return 0 when every step behaved as
    it is meant to."""
    console = console or Console(highlight=False, soft_wrap=True)
    with (
        tempfile.TemporaryDirectory(prefix="ecrwatch-demo-") as tmp,
        build_sim_aws() as sim,
        ExitStack() as stack,
    ):
        sim.reset()  # moto's backends are process-wide: start from an empty account
        ctx = DemoContext(sim, Path(tmp), stack)
        with simulated_environment(sim, ctx.workdir):
            console.print(
                Text(
                    f"ecrwatch demo: a simulated AWS account ({sim.endpoint_url}, region {ctx.region}); "
                    "nothing leaves this machine.",
                    style="bold",
                )
            )
            for seed in SEEDS if seeds is None else seeds:
                seed(ctx)
            for number, step in enumerate(STEPS if steps is None else steps, 1):
                if step.before is not None:
                    step.before(ctx)
                args = [arg.format(workdir=ctx.workdir) for arg in step.args]
                console.print()
                console.print(Text(f"── {number}. {step.caption}", style="bold cyan"))
                console.print(Text(f"$ ecrwatch {shlex.join(args)}", style="bold"))
                status = _invoke(entry_point, [*args, *step.hidden_args])
                console.print(Text(f"(exit status {status})", style="dim"))
                if status != step.expect:
                    console.print(
                        Text(f"demo: step {number} exited {status}; it was meant to exit {step.expect}", style="red")
                    )
                    return 3
    console.print()
    console.print(Text("Demo finished: every step behaved as shown.", style="bold green"))
    return 0
