"""The simulated ECS reads, through boto3 over HTTP: shapes, paging, limits and errors as botocore's model
says, every container with its digest, and no drift between calls."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from model_check import record_raw_bodies, violations

from ecrwatch.sim.ecs import EcsContainerSeed, EcsSim, EcsTaskSeed
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "eu-west-1"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
ECR = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"


def ecs_client(region: str = REGION) -> Any:
    return boto3.client("ecs", region_name=region)


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def store(sim_aws: SimAWS) -> EcsSim:
    return sim_aws.extension(EcsSim)


# --- clusters -------------------------------------------------------------------------------------------


def test_list_clusters_paginator_sees_every_cluster_once_in_pages_of_at_most_100(
    sim_aws: SimAWS, store: EcsSim
) -> None:
    arns = [store.add_cluster(REGION, f"c{i:03}") for i in range(205)]
    store.add_cluster("us-east-1", "elsewhere")
    pages = list(ecs_client().get_paginator("list_clusters").paginate())
    assert [len(p["clusterArns"]) for p in pages] == [100, 100, 5]
    assert [arn for p in pages for arn in p["clusterArns"]] == arns
    assert sim_aws.calls.count("ecs", "ListClusters") == 3


def test_list_clusters_honours_max_results_and_refuses_out_of_range(store: EcsSim) -> None:
    for i in range(7):
        store.add_cluster(REGION, f"c{i}")
    pages = list(ecs_client().get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["clusterArns"]) for p in pages] == [3, 3, 1]
    for bad in (0, 101):
        with pytest.raises(ClientError) as caught:
            ecs_client().list_clusters(maxResults=bad)
        assert error_code(caught) == "InvalidParameterException"


def test_a_token_from_another_listing_is_refused(store: EcsSim) -> None:
    for i in range(3):
        store.add_cluster(REGION, f"c{i}")
        store.add_task(REGION, f"c{i}")
        store.add_task(REGION, f"c{i}")
    token = ecs_client().list_tasks(cluster="c0", maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as caught:
        ecs_client().list_tasks(cluster="c1", maxResults=1, nextToken=token)
    assert error_code(caught) == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        ecs_client().list_clusters(nextToken="not-a-token")
    assert error_code(caught) == "InvalidParameterException"


def test_describe_clusters_by_name_and_arn_with_missing_ones_as_failures(store: EcsSim) -> None:
    arn = store.add_cluster(REGION, "prod")
    store.add_task(REGION, "prod", service="api")
    store.add_task(REGION, "prod", service="api")
    store.add_task(REGION, "prod", service="worker", last_status="PENDING")
    stopped = store.add_task(REGION, "prod", service="old")
    store.stop_task(REGION, "prod", stopped)
    answer = ecs_client().describe_clusters(clusters=["prod", arn, "nope"])
    assert [c["clusterArn"] for c in answer["clusters"]] == [arn, arn]
    prod = answer["clusters"][0]
    assert (prod["clusterName"], prod["status"]) == ("prod", "ACTIVE")
    assert (prod["runningTasksCount"], prod["pendingTasksCount"], prod["activeServicesCount"]) == (2, 1, 2)
    assert answer["failures"] == [{"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/nope", "reason": "MISSING"}]


def test_describe_clusters_limits_and_default(store: EcsSim) -> None:
    with pytest.raises(ClientError) as caught:
        ecs_client().describe_clusters(clusters=[f"c{i}" for i in range(101)])
    assert error_code(caught) == "InvalidParameterException"
    assert ecs_client().describe_clusters()["failures"][0]["arn"].endswith(":cluster/default")
    store.add_cluster(REGION, "default")
    assert [c["clusterName"] for c in ecs_client().describe_clusters()["clusters"]] == ["default"]


def test_clusters_are_region_scoped(store: EcsSim) -> None:
    arn = store.add_cluster("us-east-1", "prod")
    assert ecs_client(REGION).list_clusters()["clusterArns"] == []
    answer = ecs_client(REGION).describe_clusters(clusters=[arn, "prod"])
    assert answer["clusters"] == []
    assert [f["reason"] for f in answer["failures"]] == ["MISSING", "MISSING"]
    with pytest.raises(ClientError) as caught:
        ecs_client(REGION).list_tasks(cluster=arn)
    assert error_code(caught) == "ClusterNotFoundException"


# --- tasks ----------------------------------------------------------------------------------------------


def test_list_tasks_paginator_collects_every_running_task_once(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(REGION, "big")
    arns = store.add_tasks(REGION, "big", [EcsTaskSeed() for _ in range(250)])
    for arn in arns[::50]:  # stopped tasks are left out of the default (RUNNING) listing
        store.stop_task(REGION, "big", arn)
    running = [a for i, a in enumerate(arns) if i % 50]
    pages = list(ecs_client().get_paginator("list_tasks").paginate(cluster="big"))
    assert [len(p["taskArns"]) for p in pages] == [100, 100, 45]
    assert [arn for p in pages for arn in p["taskArns"]] == running
    assert sim_aws.calls.count("ecs", "ListTasks") == 3
    stopped = ecs_client().list_tasks(cluster="big", desiredStatus="STOPPED")["taskArns"]
    assert stopped == arns[::50]


def test_list_tasks_pages_stay_exact_when_tasks_stop_between_pages(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    arns = store.add_tasks(REGION, "c", [EcsTaskSeed() for _ in range(30)])
    first = ecs_client().list_tasks(cluster="c", maxResults=10)
    store.stop_task(REGION, "c", arns[3])  # already served
    store.stop_task(REGION, "c", arns[15])  # not yet served
    rest = list(
        ecs_client()
        .get_paginator("list_tasks")
        .paginate(cluster="c", PaginationConfig={"PageSize": 10, "StartingToken": first["nextToken"]})
    )
    seen = first["taskArns"] + [arn for p in rest for arn in p["taskArns"]]
    assert seen == [a for i, a in enumerate(arns) if i != 15]


def test_list_tasks_limits_and_unknown_cluster(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    store.add_task(REGION, "c")
    for bad in (0, 101):
        with pytest.raises(ClientError) as caught:
            ecs_client().list_tasks(cluster="c", maxResults=bad)
        assert error_code(caught) == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        ecs_client().list_tasks(cluster="nope")
    assert error_code(caught) == "ClusterNotFoundException"
    with pytest.raises(ClientError) as caught:
        ecs_client().list_tasks()  # the default cluster, which this account does not have
    assert error_code(caught) == "ClusterNotFoundException"


def test_list_tasks_by_cluster_arn_and_default_cluster(store: EcsSim) -> None:
    arn = store.add_cluster(REGION, "default")
    task = store.add_task(REGION, "default")
    assert ecs_client().list_tasks()["taskArns"] == [task]
    assert ecs_client().list_tasks(cluster=arn)["taskArns"] == [task]
    assert task.startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/default/")
    assert len(task.rsplit("/", 1)[1]) == 32


def test_list_tasks_filters(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    api = [store.add_task(REGION, "c", service="api", family="api") for _ in range(3)]
    job = store.add_task(REGION, "c", family="job", launch_type="EC2", started_by="cron")
    ext = store.add_task(REGION, "c", family="api", launch_type="EXTERNAL")
    client = ecs_client()
    assert client.list_tasks(cluster="c", serviceName="api")["taskArns"] == api
    assert client.list_tasks(cluster="c", family="api")["taskArns"] == [*api, ext]
    assert client.list_tasks(cluster="c", launchType="EC2")["taskArns"] == [job]
    assert client.list_tasks(cluster="c", family="api", launchType="EXTERNAL")["taskArns"] == [ext]
    assert client.list_tasks(cluster="c", startedBy="cron")["taskArns"] == [job]
    # ECS never sets a desired status of PENDING, so that filter finds nothing.
    assert client.list_tasks(cluster="c", desiredStatus="PENDING")["taskArns"] == []
    with pytest.raises(ClientError) as caught:
        client.list_tasks(cluster="c", startedBy="cron", family="job")
    assert error_code(caught) == "InvalidParameterException"


def test_filtered_listing_pages_through_every_match(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    seeds = [
        EcsTaskSeed(service="api" if i % 3 else None, launch_type="EC2" if i % 2 else "FARGATE") for i in range(60)
    ]
    arns = store.add_tasks(REGION, "c", seeds)
    wanted = [a for a, s in zip(arns, seeds, strict=True) if s.service == "api" and s.launch_type == "EC2"]
    pages = (
        ecs_client()
        .get_paginator("list_tasks")
        .paginate(cluster="c", serviceName="api", launchType="EC2", PaginationConfig={"PageSize": 4})
    )
    assert [arn for p in pages for arn in p["taskArns"]] == wanted


def test_describe_tasks_reports_every_container_with_and_without_digest(store: EcsSim) -> None:
    cluster_arn = store.add_cluster(REGION, "prod")
    task = store.add_task(
        REGION,
        "prod",
        containers=[
            EcsContainerSeed("app", f"{ECR}/team/api:1.4", DIGEST_A),
            EcsContainerSeed("envoy", f"{ECR}/mesh/envoy@{DIGEST_B}", DIGEST_B),
            EcsContainerSeed("log-router", "docker.io/amazon/aws-for-fluent-bit:2.32", last_status="PENDING"),
        ],
        service="api",
        family="api",
        revision=7,
    )
    described = ecs_client().describe_tasks(cluster="prod", tasks=[task])
    assert described["failures"] == []
    [rendered] = described["tasks"]
    assert rendered["taskArn"] == task
    assert rendered["clusterArn"] == cluster_arn
    assert rendered["taskDefinitionArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task-definition/api:7"
    assert rendered["group"] == "service:api"
    assert rendered["startedBy"].startswith("ecs-svc/")
    assert (rendered["launchType"], rendered["desiredStatus"], rendered["lastStatus"]) == (
        "FARGATE",
        "RUNNING",
        "RUNNING",
    )
    assert rendered["availabilityZone"] == f"{REGION}a"
    assert rendered["createdAt"].tzinfo is not None
    containers = {c["name"]: c for c in rendered["containers"]}
    assert list(containers) == ["app", "envoy", "log-router"]
    assert containers["app"]["image"] == f"{ECR}/team/api:1.4"
    assert containers["app"]["imageDigest"] == DIGEST_A
    assert containers["envoy"]["imageDigest"] == DIGEST_B
    assert "imageDigest" not in containers["log-router"]
    assert containers["log-router"]["lastStatus"] == "PENDING"
    assert "runtimeId" not in containers["log-router"]  # not started yet
    assert containers["app"]["runtimeId"].startswith(task.rsplit("/", 1)[1])
    assert all(c["taskArn"] == task for c in containers.values())
    assert len({c["containerArn"] for c in containers.values()}) == 3


def test_describe_tasks_standalone_ec2_task_and_lookup_by_id(store: EcsSim) -> None:
    store.add_cluster(REGION, "batch")
    task = store.add_task(REGION, "batch", family="nightly", launch_type="EC2")
    [rendered] = ecs_client().describe_tasks(cluster="batch", tasks=[task.rsplit("/", 1)[1]])["tasks"]
    assert rendered["taskArn"] == task
    assert rendered["group"] == "family:nightly"
    assert "startedBy" not in rendered
    assert rendered["launchType"] == "EC2"
    assert ":container-instance/batch/" in rendered["containerInstanceArn"]


def test_describe_tasks_missing_tasks_are_failures_and_limits_are_enforced(store: EcsSim) -> None:
    store.add_cluster(REGION, "a")
    store.add_cluster(REGION, "b")
    in_a = store.add_task(REGION, "a")
    in_b = store.add_task(REGION, "b")
    unknown = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/a/{'0' * 32}"
    answer = ecs_client().describe_tasks(cluster="a", tasks=[in_a, in_b, unknown])
    assert [t["taskArn"] for t in answer["tasks"]] == [in_a]
    assert answer["failures"] == [{"arn": in_b, "reason": "MISSING"}, {"arn": unknown, "reason": "MISSING"}]
    with pytest.raises(ClientError) as caught:
        ecs_client().describe_tasks(cluster="a", tasks=[in_a] * 101)
    assert error_code(caught) == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        ecs_client().describe_tasks(cluster="a", tasks=[])
    assert error_code(caught) == "InvalidParameterException"
    with pytest.raises(ClientError) as caught:
        ecs_client().describe_tasks(cluster="nope", tasks=[in_a])
    assert error_code(caught) == "ClusterNotFoundException"


def test_describe_tasks_takes_100(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    arns = store.add_tasks(REGION, "c", [EcsTaskSeed() for _ in range(100)])
    answer = ecs_client().describe_tasks(cluster="c", tasks=arns)
    assert [t["taskArn"] for t in answer["tasks"]] == arns


def test_state_is_stable_across_describes_and_changes_only_by_stop_task(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    task = store.add_task(REGION, "c", containers=[EcsContainerSeed("app", "nginx:1.27", DIGEST_A)])
    first = ecs_client().describe_tasks(cluster="c", tasks=[task])["tasks"]
    for _ in range(3):  # moto moves tasks towards STOPPED on every describe; a stable store does not
        assert ecs_client().describe_tasks(cluster="c", tasks=[task])["tasks"] == first
    store.stop_task(REGION, "c", task)
    [stopped] = ecs_client().describe_tasks(cluster="c", tasks=[task])["tasks"]
    assert (stopped["desiredStatus"], stopped["lastStatus"]) == ("STOPPED", "STOPPED")
    assert stopped["containers"][0]["lastStatus"] == "STOPPED"
    assert "stoppedAt" in stopped
    assert ecs_client().list_tasks(cluster="c")["taskArns"] == []


def test_describe_tasks_carries_the_cpu_architecture_attribute_as_seeded(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    graviton = store.add_task(REGION, "c", cpu_architecture="arm64")
    intel = store.add_task(REGION, "c", launch_type="EC2")  # x86_64 by default, as most tasks run
    unknown = store.add_task(REGION, "c", cpu_architecture=None)
    described = {
        t["taskArn"]: t for t in ecs_client().describe_tasks(cluster="c", tasks=[graviton, intel, unknown])["tasks"]
    }
    assert described[graviton]["attributes"] == [{"name": "ecs.cpu-architecture", "value": "arm64"}]
    assert described[intel]["attributes"] == [{"name": "ecs.cpu-architecture", "value": "x86_64"}]
    assert "attributes" not in described[unknown]
    with pytest.raises(ValueError, match="cpu_architecture"):
        store.add_task(REGION, "c", cpu_architecture="ARM64")  # the task definition's spelling, not the attribute's


def test_include_tags(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    task = store.add_task(REGION, "c", tags={"team": "payments"})
    [plain] = ecs_client().describe_tasks(cluster="c", tasks=[task])["tasks"]
    [tagged] = ecs_client().describe_tasks(cluster="c", tasks=[task], include=["TAGS"])["tasks"]
    assert "tags" not in plain
    assert tagged["tags"] == [{"key": "team", "value": "payments"}]


def test_raw_answers_conform_to_botocore_output_shapes(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    tasks = [
        store.add_task(REGION, "c", service="api", containers=[EcsContainerSeed("a", "nginx", DIGEST_A)]),
        store.add_task(
            REGION, "c", launch_type="EC2", containers=[EcsContainerSeed("b", "nginx", last_status="PENDING")]
        ),
        store.add_task(REGION, "c", launch_type="EXTERNAL", tags={"k": "v"}, cpu_architecture="arm64"),
    ]
    store.stop_task(REGION, "c", tasks[2])
    client = ecs_client()
    bodies = record_raw_bodies(client)
    client.list_clusters(maxResults=1)
    client.describe_clusters(clusters=["c", "missing"], include=["SETTINGS"])
    client.list_tasks(cluster="c", maxResults=1)
    client.describe_tasks(cluster="c", tasks=[*tasks, "missing"], include=["TAGS"])
    assert [name for name, _ in bodies] == ["ListClusters", "DescribeClusters", "ListTasks", "DescribeTasks"]
    for operation, body in bodies:
        assert violations(client, operation, body) == [], operation


def test_reset_forgets_clusters_and_tasks(sim_aws: SimAWS, store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    store.add_task(REGION, "c")
    sim_aws.reset()
    assert ecs_client().list_clusters()["clusterArns"] == []


def test_seeding_refuses_what_ecs_cannot_have(store: EcsSim) -> None:
    store.add_cluster(REGION, "c")
    with pytest.raises(ValueError, match="already exists"):
        store.add_cluster(REGION, "c")
    with pytest.raises(ValueError, match="add_cluster first"):
        store.add_task(REGION, "nope")
    with pytest.raises(ValueError, match="desired_status"):
        store.add_task(REGION, "c", desired_status="PENDING")
    with pytest.raises(ValueError, match="launch_type"):
        store.add_task(REGION, "c", launch_type="LAMBDA")
