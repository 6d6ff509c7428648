"""aws.Aws: one botocore client per service and region, shared by the threads of a run."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

from ecrwatch.aws import Aws
from ecrwatch.sim.ecs import EcsSim
from ecrwatch.sim.server import SimAWS

REGION = "us-east-1"


def test_threads_share_one_client_per_service_and_region(sim_aws: SimAWS) -> None:
    aws = Aws()
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(lambda _: aws.ecs(REGION), range(32)))
    assert len({id(client) for client in clients}) == 1
    assert aws.ecs("eu-west-1") is not clients[0]
    assert aws.ecr(REGION) is not clients[0]


def test_a_shared_client_answers_many_threads_at_once(sim_aws: SimAWS) -> None:
    for n in range(3):
        sim_aws.extension(EcsSim).add_cluster(REGION, f"prod-{n}")
    aws = Aws()
    start = threading.Barrier(16)

    def ask(_: int) -> list[str]:
        start.wait(timeout=30)  # all 16 requests in flight together, through the one client
        return sorted(aws.ecs(REGION).list_clusters()["clusterArns"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert len(answers) == 16 and all(len(a) == 3 and a == answers[0] for a in answers)


def test_event_names_are_aliased_as_botocore_aliases_them_with_the_memo_shared_by_every_client() -> None:
    # Names botocore renames (its alias table) and names it keeps, asked of a session's and a client's aliaser.
    from botocore.hooks import EventAliaser, HierarchicalEmitter

    from ecrwatch.aws import _SharedAliases

    names = [
        "before-call.apigateway.GetRestApis",
        "before-call.api.sagemaker.InvokeEndpoint",
        "creating-client-class.application-autoscaling",
        "before-parameter-build.ecs.DescribeTasks",
        "needs-retry.inspector2.ListFindings",
    ]
    reference = EventAliaser(HierarchicalEmitter())
    session = _SharedAliases(HierarchicalEmitter())
    client = copy.copy(session)  # what botocore does for each client
    assert client._alias_name_cache is session._alias_name_cache  # one memo: what the copy saves
    for name in names:
        expected = reference._alias_event_name(name)
        assert session._alias_event_name(name) == expected
        assert client._alias_event_name(name) == expected
    assert reference._alias_event_name(names[0]) == "before-call.api-gateway.GetRestApis"
    # A table of one's own is never served from the shared memo.
    own = _SharedAliases(HierarchicalEmitter(), {"ecs": "elastic-container-service"})
    assert own._alias_event_name("before-call.ecs.ListClusters") == "before-call.elastic-container-service.ListClusters"
    assert session._alias_event_name("before-call.ecs.ListClusters") == "before-call.ecs.ListClusters"
