"""Risk acceptance, end to end through `check` against the simulated account and an EKS cluster: the ignore
file (`--ignore-file`, ECRWATCH_IGNORE_FILE) and OpenVEX documents (`--vex`) move exposures to `suppressed`,
out of `exposures` and of `--fail-on`; narrowing, expiry, and what a bad file does (exit 2, nothing read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from conftest import valid_report
from ecrwatch.cli import main
from ecrwatch.images import ecr_registry_host
from ecrwatch.sim.inspector2 import Inspector2Sim, Package
from ecrwatch.sim.kube import KubeContainerSeed
from ecrwatch.sim.seed import push_image
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-west-2"
HOST = ecr_registry_host(ACCOUNT_ID, REGION)
TODAY = datetime.now(UTC).date()
LATER = (TODAY + timedelta(days=30)).isoformat()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


@dataclass
class World:
    sim: SimAWS
    api: str
    web: str
    folder: Path

    def file(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return str(path)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["check", "--region", REGION, "--no-ecs", "--no-kev", *args], env=env)


def report_of(result: Result) -> dict[str, Any]:
    return valid_report(json.loads(result.stdout))


def reported(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["vulnerability_id"], e["image"]["repository"]) for e in report["exposures"])


def suppressed(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (s["exposure"]["vulnerability_id"], s["exposure"]["image"]["repository"], s["rule"]["source"])
        for s in report["suppressed"]
    )


@pytest.fixture
def world(sim_aws: SimAWS, sim_eks_cluster: Any, tmp_path: Path) -> World:
    ecr = boto3.client("ecr", region_name=REGION)
    for repo in ("shop/api", "shop/web"):
        ecr.create_repository(repositoryName=repo)
    api = push_image(ecr, "shop/api", "v1")
    web = push_image(ecr, "shop/web", "v1")
    add = sim_aws.extension(Inspector2Sim).add_finding
    ssh = [Package("openssh-server", "1:9.2p1-2", "1:9.2p1-2+deb12u3")]
    add(REGION, repository="shop/api", digest=api, vulnerability_id="CVE-2024-6387", severity="HIGH", packages=ssh)
    add(REGION, repository="shop/api", digest=api, vulnerability_id="CVE-2024-0001", severity="LOW")
    add(REGION, repository="shop/web", digest=web, vulnerability_id="CVE-2024-6387", severity="HIGH", packages=ssh)
    cluster = sim_eks_cluster(REGION, "prod")
    api_image = KubeContainerSeed("api", f"{HOST}/shop/api:v1", image_id=f"{HOST}/shop/api@{api}")
    cluster.run_deployment("shop", "api", [api_image])
    cluster.run_deployment("payments", "api", [api_image])
    cluster.run_deployment(
        "shop", "web", [KubeContainerSeed("web", f"{HOST}/shop/web:v1", image_id=f"{HOST}/shop/web@{web}")]
    )
    return World(sim_aws, api, web, tmp_path)


def test_without_rules_nothing_is_suppressed_and_the_report_has_no_suppressed_list(world: World) -> None:
    result = run("--format", "json", "--fail-on", "HIGH")
    assert result.exit_code == 1
    report = report_of(result)
    assert len(report["exposures"]) == 3
    assert "suppressed" not in report and "suppressed" not in report["summary"]


def test_a_rule_moves_its_exposures_to_suppressed_out_of_fail_on_with_its_file_and_line(world: World) -> None:
    ignore = world.file(
        "ignore.yaml",
        f"""# accepted risks, reviewed in git
rules:
  - vulnerability: CVE-2024-6387
    reason: "not reachable: sshd is not started in these images"
    expires: {LATER}
""",
    )
    result = run("--format", "json", "--fail-on", "HIGH", "--ignore-file", ignore)
    assert result.exit_code == 0, result.output
    report = report_of(result)
    assert reported(report) == [("CVE-2024-0001", "shop/api")]
    assert suppressed(report) == [
        ("CVE-2024-6387", "shop/api", f"{ignore}:3"),
        ("CVE-2024-6387", "shop/web", f"{ignore}:3"),
    ]
    rule = report["suppressed"][0]["rule"]
    assert rule == {
        "source": f"{ignore}:3",
        "reason": "not reachable: sshd is not started in these images",
        "expires": LATER,
        "vex_status": None,
        "justification": None,
    }
    summary = report["summary"]
    assert (summary["exposures"], summary["suppressed"], summary["by_severity"]["HIGH"]) == (1, 2, 0)
    # shop/web has nothing left to report: it is no longer a vulnerable image
    assert [i["image"]["repository"] for i in report["images"]] == ["shop/api"]
    assert summary["vulnerable_running_images"] == 1
    assert report["expired_rules"] == []


@pytest.mark.parametrize(
    ("narrowing", "left"),
    [
        ("repository: shop/web", [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api")]),
        ("package: openssh-server", [("CVE-2024-0001", "shop/api")]),
        (
            "package: openssl",
            [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api"), ("CVE-2024-6387", "shop/web")],
        ),
        ("workload: Deployment/web", [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api")]),
        ("cluster: prod", [("CVE-2024-0001", "shop/api")]),
        (
            "cluster: staging",
            [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api"), ("CVE-2024-6387", "shop/web")],
        ),
        ("container: web", [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api")]),
        (f"account: {ACCOUNT_ID}", [("CVE-2024-0001", "shop/api")]),
    ],
)
def test_every_narrowing_must_match(world: World, narrowing: str, left: list[tuple[str, str]]) -> None:
    ignore = world.file(
        "ignore.yaml", f"rules:\n  - vulnerability: CVE-2024-6387\n    {narrowing}\n    reason: accepted\n"
    )
    result = run("--format", "json", "--ignore-file", ignore)
    assert result.exit_code == 0, result.output
    assert reported(report_of(result)) == left


def test_a_digest_narrowing_names_the_image(world: World) -> None:
    ignore = world.file(
        "ignore.yaml", f"rules:\n  - vulnerability: CVE-2024-6387\n    digest: {world.web}\n    reason: ok\n"
    )
    report = report_of(run("--format", "json", "--ignore-file", ignore))
    assert reported(report) == [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/api")]


def test_a_rule_for_some_of_an_images_workloads_leaves_the_exposure_reported_for_the_others(world: World) -> None:
    # shop/api runs in namespaces shop and payments: accepting the risk in payments says nothing about shop.
    ignore = world.file(
        "ignore.yaml", "rules:\n  - vulnerability: CVE-2024-6387\n    namespace: payments\n    reason: ok\n"
    )
    report = report_of(run("--format", "json", "--ignore-file", ignore))
    assert reported(report) == [
        ("CVE-2024-0001", "shop/api"),
        ("CVE-2024-6387", "shop/api"),
        ("CVE-2024-6387", "shop/web"),
    ]
    api = next(i for i in report["images"] if i["image"]["repository"] == "shop/api")
    assert {w["namespace"] for w in api["workloads"]} == {"payments", "shop"}
    assert report["suppressed"] == []


def test_rules_that_together_cover_every_workload_suppress_the_exposure(world: World) -> None:
    ignore = world.file(
        "ignore.yaml",
        """rules:
  - vulnerability: CVE-2024-6387
    namespace: payments
    reason: payments runs it without sshd
  - vulnerability: cve-2024-6387
    workload: api
    namespace: shop
    reason: so does the shop
""",
    )
    report = report_of(run("--format", "json", "--ignore-file", ignore))
    assert reported(report) == [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/web")]
    assert suppressed(report) == [("CVE-2024-6387", "shop/api", f"{ignore}:2")]


@pytest.mark.parametrize("expires", [YESTERDAY, TODAY.isoformat()])
def test_an_expired_rule_stops_applying_is_listed_and_said_on_stderr(world: World, expires: str) -> None:
    ignore = world.file(
        "ignore.yaml",
        f"rules:\n  - vulnerability: CVE-2024-6387\n    reason: until the fix ships\n    expires: {expires}\n",
    )
    result = run("--format", "json", "--fail-on", "HIGH", "--ignore-file", ignore)
    assert result.exit_code == 1
    report = report_of(result)
    assert len(report["exposures"]) == 3 and report["suppressed"] == []
    assert report["expired_rules"] == [
        {"source": f"{ignore}:2", "reason": "until the fix ships", "expires": expires, "vulnerability": "CVE-2024-6387"}
    ]
    assert f"ignore rule {ignore}:2 for CVE-2024-6387 expired on {expires}" in result.stderr


def test_the_ignore_file_can_come_from_the_environment(world: World) -> None:
    ignore = world.file("ignore.yaml", "rules:\n  - vulnerability: CVE-2024-0001\n    reason: low and unreachable\n")
    report = report_of(run("--format", "json", env={"ECRWATCH_IGNORE_FILE": ignore}))
    assert suppressed(report) == [("CVE-2024-0001", "shop/api", f"{ignore}:2")]


def test_the_table_has_a_short_suppressed_section(world: World) -> None:
    ignore = world.file(
        "ignore.yaml", f"rules:\n  - vulnerability: CVE-2024-0001\n    reason: low risk\n    expires: {LATER}\n"
    )
    result = run("--format", "table", "--ignore-file", ignore)
    assert result.exit_code == 0
    section = result.stdout[result.stdout.index("Suppressed: risk accepted (1)") :]
    assert "CVE-2024-0001" in section and "low risk" in section and f"until {LATER}" in section
    assert "ignore.yaml:2" in "".join(section.split())


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("rules:\n  - vulnerability: CVE-1\n    reason: x\n    severity: LOW\n", ":4: unknown key 'severity'"),
        ("rules:\n  - vulnerability: CVE-1\n", ":2: the rule for CVE-1 has no `reason`"),
        ("rules:\n  - reason: everything is fine\n", ":2: the rule names no vulnerability"),
        ("rules:\n  - {}\n", ":2: the rule names no vulnerability"),
        (
            "rules:\n  - vulnerability: CVE-1\n    reason: x\n    expires: 2027-13-01\n",
            ":2: expires '2027-13-01' is not a date",
        ),
        (
            "rules:\n  - vulnerability: CVE-1\n    reason: x\n    expires: next week\n",
            ":2: expires 'next week' is not a date",
        ),
        ("rules:\n  - vulnerability: CVE-1\n    reason:\n", ":3: 'reason' needs one value"),
        ("rules:\n  - vulnerability: CVE-*\n    reason: x\n", ":2: `vulnerability` names one vulnerability id"),
        ("rules:\n  - vulnerability: CVE-1\n    reason: x\n    digest: abc\n", ":2: digest 'abc' is not sha256:"),
        ("ignore:\n  - vulnerability: CVE-1\n", ":1: unknown key 'ignore'"),
        ("rules: [\n", ":2: not valid YAML"),
        ("", ": the ignore file is empty"),
    ],
)
def test_a_bad_ignore_file_is_exit_2_naming_the_line_before_any_aws_call(world: World, text: str, says: str) -> None:
    ignore = world.file("ignore.yaml", text)
    world.sim.calls.clear()
    result = run("--format", "json", "--ignore-file", ignore)
    assert result.exit_code == 2, result.output
    assert f"{ignore}{says}" in " ".join(result.stderr.split())
    assert result.stdout == ""
    assert world.sim.calls.records == []


def test_a_missing_ignore_file_is_exit_2(world: World) -> None:
    result = run("--ignore-file", str(world.folder / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml could not be read" in result.stderr


# --- OpenVEX ---


def vex_document(statements: list[dict[str, Any]], timestamp: str = "2026-01-08T18:02:03.647787998-06:00") -> str:
    """An OpenVEX document laid out as the spec's examples are."""
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
            "author": "Shop Platform Team <platform@example.com>",
            "role": "Document Creator",
            "timestamp": timestamp,
            "version": 1,
            "statements": statements,
        },
        indent=2,
    )


def oci_purl(world: World, digest: str, repository: str = "shop/api") -> str:
    return f"pkg:oci/{repository.rsplit('/', 1)[-1]}@{digest.replace(':', '%3A')}?repository_url={HOST}/{repository}"


def statement(products: list[dict[str, Any]], status: str = "not_affected", **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"vulnerability": {"name": "CVE-2024-6387"}, "products": products, "status": status}
    if status == "not_affected" and "justification" not in more and "impact_statement" not in more:
        out["justification"] = "vulnerable_code_not_in_execute_path"
    out.update(more)
    return out


def test_a_not_affected_statement_for_the_running_digest_suppresses_it_with_its_justification(world: World) -> None:
    doc = world.file(
        "api.openvex.json",
        vex_document(
            [
                statement(
                    [{"@id": oci_purl(world, world.api)}],
                    justification="vulnerable_code_not_in_execute_path",
                    impact_statement="sshd is never started: the entrypoint is the API server",
                )
            ]
        ),
    )
    result = run("--format", "json", "--fail-on", "HIGH", "--vex", doc)
    assert result.exit_code == 1  # shop/web still has it: the statement names shop/api's digest only
    report = report_of(result)
    assert reported(report) == [("CVE-2024-0001", "shop/api"), ("CVE-2024-6387", "shop/web")]
    (entry,) = report["suppressed"]
    assert entry["exposure"]["image"]["digest"] == world.api
    assert entry["rule"] == {
        "source": f"{doc}#statements/0",
        "reason": "sshd is never started: the entrypoint is the API server",
        "expires": None,
        "vex_status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }


def test_fixed_suppresses_and_a_product_naming_the_repository_covers_its_digests(world: World) -> None:
    product = {"@id": f"pkg:oci/web?repository_url={HOST}/shop/web"}
    doc = world.file("web.json", vex_document([statement([product], status="fixed")]))
    report = report_of(run("--format", "json", "--vex", doc))
    assert [(s["exposure"]["image"]["repository"], s["rule"]["vex_status"]) for s in report["suppressed"]] == [
        ("shop/web", "fixed")
    ]


@pytest.mark.parametrize("status", ["affected", "under_investigation"])
def test_affected_and_under_investigation_suppress_nothing(world: World, status: str) -> None:
    more = {"action_statement": "upgrade openssh"} if status == "affected" else {}
    doc = world.file("vex.json", vex_document([statement([{"@id": oci_purl(world, world.api)}], status, **more)]))
    report = report_of(run("--format", "json", "--vex", doc))
    assert len(report["exposures"]) == 3 and report["suppressed"] == []


def test_the_latest_statement_holds_a_later_affected_undoes_an_earlier_not_affected(world: World) -> None:
    product = [{"@id": oci_purl(world, world.api)}]
    doc = world.file(
        "vex.json",
        vex_document(
            [
                statement(product, timestamp="2026-01-08T18:02:03-06:00"),
                statement(product, "affected", action_statement="upgrade openssh", timestamp="2026-02-01T00:00:00Z"),
            ],
            timestamp="2026-02-01T00:00:00Z",
        ),
    )
    report = report_of(run("--format", "json", "--vex", doc))
    assert report["suppressed"] == []
    # and the other way round, across two documents: the later document's not_affected holds
    first = world.file("a.json", vex_document([statement(product, "under_investigation")], "2026-01-01T00:00:00Z"))
    second = world.file("b.json", vex_document([statement(product)], "2026-03-01T00:00:00Z"))
    report = report_of(run("--format", "json", "--vex", first, "--vex", second))
    assert [s["rule"]["source"] for s in report["suppressed"]] == [f"{second}#statements/0"]


def test_a_statement_names_the_vulnerability_by_an_alias_and_the_image_by_its_hash(world: World) -> None:
    product = {"@id": "https://example.com/images/api", "hashes": {"sha-256": world.api.removeprefix("sha256:")}}
    doc = world.file(
        "vex.json",
        vex_document(
            [
                statement(
                    [product],
                    vulnerability={"name": "GHSA-xxxx-yyyy-zzzz", "aliases": ["CVE-2024-6387"]},
                    justification="vulnerable_code_not_present",
                )
            ]
        ),
    )
    report = report_of(run("--format", "json", "--vex", doc))
    assert [s["exposure"]["image"]["repository"] for s in report["suppressed"]] == ["shop/api"]


def test_a_statement_about_another_subcomponent_leaves_the_finding_alone(world: World) -> None:
    product = {"@id": oci_purl(world, world.api), "subcomponents": [{"@id": "pkg:deb/debian/openssl@3.0.11"}]}
    doc = world.file("vex.json", vex_document([statement([product])]))
    assert report_of(run("--format", "json", "--vex", doc))["suppressed"] == []
    product["subcomponents"] = [{"@id": "pkg:deb/debian/openssh-server@1:9.2p1-2"}]
    doc = world.file("vex.json", vex_document([statement([product])]))
    assert len(report_of(run("--format", "json", "--vex", doc))["suppressed"]) == 1


def test_the_same_repository_name_in_another_registry_is_another_image(world: World) -> None:
    other = ecr_registry_host("210987654321", REGION)
    doc = world.file("vex.json", vex_document([statement([{"@id": f"pkg:oci/api?repository_url={other}/shop/api"}])]))
    assert report_of(run("--format", "json", "--vex", doc))["suppressed"] == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "is not JSON"),
        (json.dumps({"statements": []}), "@context None is not OpenVEX's"),
        (vex_document([statement([{"@id": "pkg:oci/api"}], "maybe")]), "status 'maybe' is not one of"),
        (vex_document([statement([{"@id": "pkg:oci/api"}], justification="trust_me")]), "justification 'trust_me'"),
        (
            vex_document([{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "x"}], "status": "not_affected"}]),
            "a not_affected statement needs a justification or an impact_statement",
        ),
        (vex_document([statement([])]), "the statement names no products"),
        (vex_document([statement([{"@id": "pkg:oci/api"}])], timestamp="yesterday"), "is not an RFC 3339 time"),
    ],
)
def test_an_invalid_vex_document_is_exit_2_naming_the_file_before_any_aws_call(
    world: World, text: str, says: str
) -> None:
    doc = world.file("bad.openvex.json", text)
    world.sim.calls.clear()
    result = run("--format", "json", "--vex", doc)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert doc in message and says in message
    assert result.stdout == "" and world.sim.calls.records == []


def test_with_state_an_accepted_risk_is_not_resolved_and_not_new_when_its_rule_goes(world: World) -> None:
    state = str(world.folder / "state.json")
    ignore = world.file("ignore.yaml", "rules:\n  - vulnerability: CVE-2024-0001\n    reason: low and unreachable\n")
    first = report_of(run("--format", "json", "--state", state))
    assert [e["new"] for e in first["exposures"]] == [True, True, True]
    accepted = report_of(run("--format", "json", "--state", state, "--ignore-file", ignore))
    assert [s["exposure"]["vulnerability_id"] for s in accepted["suppressed"]] == ["CVE-2024-0001"]
    assert accepted["resolved"] == []  # set aside, not fixed
    again = report_of(run("--format", "json", "--state", state))
    back = next(e for e in again["exposures"] if e["vulnerability_id"] == "CVE-2024-0001")
    assert back["new"] is False and again["resolved"] == []
