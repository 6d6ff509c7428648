"""ECS inventory against the simulated ECS: every RUNNING task's every container, paging and batching by
the call log, cluster selection by name and ARN across regions, and failures kept to the cluster or region
they belong to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from ecrwatch.aws import Aws, AwsSettings
from ecrwatch.errors import CredentialsError, UsageError
from ecrwatch.inventory.ecs import (
    ClusterSelector,
    RegionPlan,
    collect_ecs,
    collect_ecs_regions,
    parse_cluster_selector,
    plan_regions,
    task_workloads,
)
from ecrwatch.models import Workload
from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim, EcsTaskSeed
from ecrwatch.sim.protocol import SimRequest
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS
from org_world import act_in

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
ECR = f"{ACCOUNT_ID}.dkr.ecr.{EAST}.amazonaws.com"


@pytest.fixture
def store(sim_aws: SimAWS) -> EcsSim:
    return sim_aws.extension(EcsSim)


def aws(max_attempts: int = 3) -> Aws:
    return Aws(AwsSettings(max_attempts=max_attempts))


def for_cluster(arn: str) -> Callable[[SimRequest], bool]:
    return lambda request: request.json().get("cluster") == arn


# --- reading --------------------------------------------------------------------------------------------


def test_every_container_of_every_running_task_in_every_cluster(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    store.add_cluster(EAST, "batch")
    api = store.add_task(
        EAST,
        "web",
        service="api",
        containers=[
            EcsContainerSeed("app", f"{ECR}/team/api:1.4", DIGEST_A),
            EcsContainerSeed("envoy", f"{ECR}/mesh/envoy@{DIGEST_B}"),  # digest only in the reference
            EcsContainerSeed("log-router", "amazon/aws-for-fluent-bit:2.32", last_status="PENDING"),
        ],
    )
    job = store.add_task(
        EAST, "batch", family="nightly", launch_type="EC2", containers=[EcsContainerSeed("job", "busybox")]
    )
    inventory = collect_ecs(aws(), EAST)
    assert inventory.errors == () and inventory.not_found == ()
    assert [(c.name, c.region, c.ok) for c in inventory.clusters] == [("web", EAST, True), ("batch", EAST, True)]
    by_container = {w.container: w for w in inventory.workloads}
    assert list(by_container) == ["app", "envoy", "log-router", "job"]
    app, envoy, router, nightly = by_container.values()
    assert (app.platform, app.cluster, app.region, app.account) == ("ecs", "web", EAST, ACCOUNT_ID)
    assert (app.task_arn, app.service, app.launch_type, app.container_type) == (api, "api", "FARGATE", "app")
    assert app.image_reference == f"{ECR}/team/api:1.4"
    assert (app.image.ecr_account, app.image.repository, app.image.tag) == (ACCOUNT_ID, "team/api", "1.4")
    assert app.running_digest == DIGEST_A
    assert envoy.running_digest == DIGEST_B
    assert router.running_digest is None  # still pulling: nothing reported, nothing invented
    assert router.image.registry == "docker.io" and router.image.repository == "amazon/aws-for-fluent-bit"
    assert (nightly.task_arn, nightly.service, nightly.launch_type) == (job, None, "EC2")


def test_each_container_runs_on_its_task_s_cpu_architecture(store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    two = [EcsContainerSeed("app", f"{ECR}/team/api:1.4", DIGEST_A), EcsContainerSeed("envoy", f"{ECR}/mesh/envoy:1")]
    store.add_task(EAST, "web", service="graviton", containers=two, cpu_architecture="arm64")
    store.add_task(EAST, "web", service="intel", cpu_architecture="x86_64")
    store.add_task(EAST, "web", service="unsaid", cpu_architecture=None)
    inventory = collect_ecs(aws(), EAST)
    assert inventory.errors == ()
    # ECS says x86_64 where an image index says amd64: the workload speaks the index's language.
    assert sorted((w.service, w.container, w.architecture) for w in inventory.workloads) == [
        ("graviton", "app", "arm64"),
        ("graviton", "envoy", "arm64"),
        ("intel", "app", "amd64"),
        ("unsaid", "app", None),
    ]


def test_stopped_tasks_are_not_running_containers(store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    keep = store.add_task(EAST, "web")
    stopped = store.add_task(EAST, "web")
    store.stop_task(EAST, "web", stopped)
    store.add_tasks(EAST, "web", [EcsTaskSeed(desired_status="STOPPED", last_status="STOPPED")])
    assert [w.task_arn for w in collect_ecs(aws(), EAST).workloads] == [keep]


def test_more_than_100_tasks_are_listed_in_pages_and_described_in_hundreds(sim_aws: SimAWS, store: EcsSim) -> None:
    cluster = store.add_cluster(EAST, "big")
    store.add_cluster(EAST, "small")
    seeds = [
        EcsTaskSeed(containers=(EcsContainerSeed("a", "nginx"), EcsContainerSeed("b", "redis"))) for _ in range(250)
    ]
    arns = store.add_tasks(EAST, "big", seeds)
    small = store.add_task(EAST, "small")
    inventory = collect_ecs(aws(), EAST, workers=3)
    assert Counter(w.task_arn for w in inventory.workloads) == {**dict.fromkeys(arns, 2), small: 1}
    listed = [c for c in sim_aws.calls.select("ecs", "ListTasks") if c.params["cluster"] == cluster]
    assert [c.params.get("maxResults") for c in listed] == [100, 100, 100]
    assert all(c.params["desiredStatus"] == "RUNNING" for c in listed)
    described = [
        c.params["tasks"] for c in sim_aws.calls.select("ecs", "DescribeTasks") if c.params["cluster"] == cluster
    ]
    assert [len(batch) for batch in described] == [100, 100, 50]
    assert [arn for batch in described for arn in batch] == arns


def test_each_page_of_tasks_is_told_as_soon_as_it_is_read(sim_aws: SimAWS, store: EcsSim) -> None:
    # check asks Inspector about what runs while the rest of the inventory is still being read.
    store.add_cluster(EAST, "big")
    seeds = [EcsTaskSeed(containers=(EcsContainerSeed("a", "nginx"), EcsContainerSeed("b", "redis")))] * 250
    store.add_tasks(EAST, "big", seeds)
    told: list[tuple[int, int]] = []  # (containers told, DescribeTasks calls made by then)

    def hear(workloads: Sequence[Workload]) -> None:
        told.append((len(workloads), sim_aws.calls.count("ecs", "DescribeTasks")))

    inventory = collect_ecs_regions(aws(), [EAST], workers=2, on_workloads=hear)
    assert told == [(200, 1), (200, 2), (100, 3)]
    assert sum(n for n, _ in told) == len(inventory.workloads) == 500


def test_the_account_comes_from_the_task_arn(store: EcsSim, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_cluster(EAST, "shared", account="210987654321")
    store.add_task(EAST, "shared", account="210987654321")
    act_in(monkeypatch, "210987654321")
    [workload] = collect_ecs(aws(), EAST).workloads
    assert workload.account == "210987654321"


def test_a_region_without_clusters_is_empty_not_an_error(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    store.add_task(EAST, "web")
    inventory = collect_ecs(aws(), WEST)
    assert (inventory.workloads, inventory.clusters, inventory.errors, inventory.not_found) == ((), (), (), ())
    assert sim_aws.calls.count("ecs", "ListClusters", WEST) == 1


# --- selecting clusters ---------------------------------------------------------------------------------


def test_named_clusters_by_name_and_arn_read_once(sim_aws: SimAWS, store: EcsSim) -> None:
    web = store.add_cluster(EAST, "web")
    store.add_cluster(EAST, "other")
    task = store.add_task(EAST, "web")
    store.add_task(EAST, "other")
    inventory = collect_ecs(aws(), EAST, ["web", web])
    assert [w.task_arn for w in inventory.workloads] == [task]
    assert [c.arn for c in inventory.clusters] == [web]
    assert sim_aws.calls.count("ecs", "ListClusters") == 0
    assert sim_aws.calls.count("ecs", "ListTasks") == 1


def test_a_name_missing_here_is_reported_for_the_caller_to_decide(store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    inventory = collect_ecs(aws(), EAST, ["web", "gone"])
    assert inventory.not_found == ("gone",)
    assert inventory.errors == ()


def test_across_regions_a_name_is_an_error_only_where_no_region_has_it(store: EcsSim) -> None:
    store.add_cluster(WEST, "web")
    store.add_task(WEST, "web")
    inventory = collect_ecs_regions(aws(), [EAST, WEST], ["web", "gone"])
    assert [(w.cluster, w.region) for w in inventory.workloads] == [("web", WEST)]
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{EAST}/gone", "ClusterNotFoundException")]
    assert "us-east-1, us-west-2" in inventory.errors[0].message


def test_an_arn_is_read_in_its_own_region_selected_or_not(sim_aws: SimAWS, store: EcsSim) -> None:
    eu = store.add_cluster(EU, "web")
    store.add_cluster(EAST, "web")
    eu_task = store.add_task(EU, "web")
    store.add_task(EAST, "web")
    inventory = collect_ecs_regions(aws(), [EAST, WEST], [eu])
    assert [(w.task_arn, w.region) for w in inventory.workloads] == [(eu_task, EU)]
    assert {c.region for c in sim_aws.calls.records} == {EU}  # nothing asked of the selected regions
    missing = eu.replace(":cluster/web", ":cluster/nope")
    inventory = collect_ecs_regions(aws(), [EAST], [missing])
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{EU}/nope", "ClusterNotFoundException")]


def test_malformed_selectors_are_usage_errors_before_any_call(sim_aws: SimAWS) -> None:
    for bad in ("arn:aws:ecs:us-east-1:123456789012:service/web/api", "web cluster", "x" * 256):
        with pytest.raises(UsageError, match="--ecs-cluster"):
            collect_ecs_regions(aws(), [EAST], [bad])
    assert sim_aws.calls.records == []


def test_plan_regions() -> None:
    web, arn_eu, arn_east = (
        parse_cluster_selector("web"),
        parse_cluster_selector(f"arn:aws:ecs:{EU}:{ACCOUNT_ID}:cluster/a"),
        parse_cluster_selector(f"arn:aws:ecs:{EAST}:{ACCOUNT_ID}:cluster/b"),
    )
    assert arn_eu == ClusterSelector(arn_eu.text, "a", EU)
    assert plan_regions([EAST, WEST, EAST], []) == (RegionPlan(EAST, True), RegionPlan(WEST, True))
    assert plan_regions([EAST, WEST], [web, arn_eu, arn_east]) == (
        RegionPlan(EAST, False, ("web",), (arn_east,)),
        RegionPlan(WEST, False, ("web",), ()),
        RegionPlan(EU, False, (), (arn_eu,)),
    )
    assert plan_regions([EAST, WEST], [arn_east]) == (RegionPlan(EAST, False, (), (arn_east,)),)


# --- failures -------------------------------------------------------------------------------------------


def test_one_cluster_denied_while_another_is_read(sim_aws: SimAWS, store: EcsSim) -> None:
    denied = store.add_cluster(EAST, "secret")
    store.add_cluster(EAST, "web")
    store.add_task(EAST, "secret")
    readable = store.add_task(EAST, "web")
    sim_aws.faults.add("ecs", "ListTasks", when=for_cluster(denied), error="AccessDeniedException")
    inventory = collect_ecs(aws(), EAST)
    assert [w.task_arn for w in inventory.workloads] == [readable]
    assert [(c.name, c.ok) for c in inventory.clusters] == [("secret", False), ("web", True)]
    [error] = inventory.errors
    assert (error.source, error.code) == (f"ecs:{EAST}/secret", "AccessDeniedException")
    assert "ecs:ListTasks" in error.message


def test_describe_throttled_past_retries_keeps_what_was_read(sim_aws: SimAWS, store: EcsSim) -> None:
    cluster = store.add_cluster(EAST, "big")
    arns = store.add_tasks(EAST, "big", [EcsTaskSeed() for _ in range(150)])

    # The second DescribeTasks batch (tasks 101-150) stays throttled through botocore's retries.
    def second_batch(request: SimRequest) -> bool:
        return bool(request.json().get("tasks", [None])[0] == arns[100])

    sim_aws.faults.add("ecs", "DescribeTasks", when=second_batch, error="ThrottlingException")
    inventory = collect_ecs(aws(max_attempts=1), EAST)
    assert [w.task_arn for w in inventory.workloads] == arns[:100]
    assert [(c.name, c.arn, c.ok) for c in inventory.clusters] == [("big", cluster, False)]
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{EAST}/big", "ThrottlingException")]
    throttled = [c.status for c in sim_aws.calls.select("ecs", "DescribeTasks") if c.params["tasks"][0] == arns[100]]
    assert throttled and set(throttled) == {400}


def test_list_clusters_failing_is_a_region_error_and_other_regions_are_read(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(WEST, "web")
    task = store.add_task(WEST, "web")
    sim_aws.faults.add("ecs", "ListClusters", region=EAST, error="AccessDeniedException")
    inventory = collect_ecs_regions(aws(), [EAST, WEST])
    assert [w.task_arn for w in inventory.workloads] == [task]
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{EAST}", "AccessDeniedException")]


def test_clusters_listed_before_list_clusters_failed_are_still_read(sim_aws: SimAWS, store: EcsSim) -> None:
    for i in range(101):
        store.add_cluster(EAST, f"c{i:03}")
    task = store.add_task(EAST, "c000")
    sim_aws.faults.add("ecs", "ListClusters", when=lambda r: "nextToken" in r.json(), error="AccessDeniedException")
    inventory = collect_ecs(aws(), EAST)
    assert [w.task_arn for w in inventory.workloads] == [task]
    assert len(inventory.clusters) == 100 and all(c.ok for c in inventory.clusters)
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{EAST}", "AccessDeniedException")]


def test_a_name_is_not_called_missing_when_a_region_could_not_be_asked(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(EAST, "other")
    sim_aws.faults.add("ecs", "DescribeClusters", region=WEST, error="AccessDeniedException")
    inventory = collect_ecs_regions(aws(), [EAST, WEST], ["web"])
    assert [(e.source, e.code) for e in inventory.errors] == [(f"ecs:{WEST}", "AccessDeniedException")]


def test_credential_errors_stop_the_whole_run(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(EAST, "web")
    store.add_task(EAST, "web")
    sim_aws.faults.add("ecs", "ListTasks", error="ExpiredTokenException", status=400)
    with pytest.raises(CredentialsError):
        collect_ecs(aws(), EAST)


def test_an_unparsable_image_is_an_error_and_the_other_containers_are_kept() -> None:
    task = {
        "taskArn": f"arn:aws:ecs:{EAST}:{ACCOUNT_ID}:task/web/{'1' * 32}",
        "group": "family:web",
        "launchType": "FARGATE",
        "desiredStatus": "RUNNING",
        "containers": [
            {"name": "ok", "image": "nginx:1.27", "imageDigest": DIGEST_A},
            {"name": "odd", "image": "nginx@sha512:" + "c" * 128},
        ],
    }
    workloads, errors = task_workloads(task, EAST, "web")  # type: ignore[arg-type]
    assert [(w.container, w.running_digest, w.service) for w in workloads] == [("ok", DIGEST_A, None)]
    assert [(e.source, e.code) for e in errors] == [(f"ecs:{EAST}/web", "InvalidImageReference")]
    assert "'odd'" in errors[0].message


def test_worker_count_does_not_change_the_result(store: EcsSim) -> None:
    for i in range(6):
        store.add_cluster(EAST, f"c{i}")
        store.add_tasks(EAST, f"c{i}", [EcsTaskSeed(service=f"s{i}") for _ in range(3)])
    one = collect_ecs(aws(), EAST, workers=1)
    many = collect_ecs(aws(), EAST, workers=6)
    assert one == many
    assert len(one.workloads) == 18
    with pytest.raises(ValueError, match="workers"):
        collect_ecs(aws(), EAST, workers=0)
