"""aws.Aws: one botocore client per service and region, shared by the threads of a run."""

from __future__ import annotations

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
