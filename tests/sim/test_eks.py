"""The simulated EKS discovery, through boto3 over HTTP: clusters point where the test says (our Kubernetes
API and its CA), paging and errors as botocore's model says."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from model_check import record_raw_bodies, violations

from ecrwatch.sim.eks import EksSim
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-west-2"
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUfake\n-----END CERTIFICATE-----\n"


def eks_client(region: str = REGION) -> Any:
    return boto3.client("eks", region_name=region)


@pytest.fixture
def store(sim_aws: SimAWS) -> EksSim:
    return sim_aws.extension(EksSim)


def add(store: EksSim, name: str, region: str = REGION, **kwargs: Any) -> str:
    return store.add_cluster(region, name, endpoint=f"https://127.0.0.1:6443/{name}", ca_pem=CA_PEM, **kwargs)


def test_describe_cluster_gives_the_seeded_endpoint_and_ca(store: EksSim) -> None:
    arn = add(store, "prod", version="1.30")
    cluster = eks_client().describe_cluster(name="prod")["cluster"]
    assert cluster["arn"] == arn == f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/prod"
    assert cluster["name"] == "prod"
    assert cluster["endpoint"] == "https://127.0.0.1:6443/prod"
    assert base64.b64decode(cluster["certificateAuthority"]["data"]) == CA_PEM
    assert (cluster["status"], cluster["version"]) == ("ACTIVE", "1.30")
    assert cluster["platformVersion"].startswith("eks.")
    assert cluster["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert cluster["createdAt"].tzinfo is not None


def test_unknown_cluster_is_resource_not_found_with_the_models_fields(store: EksSim) -> None:
    add(store, "prod", region="eu-central-1")  # another region's cluster is not found here
    with pytest.raises(ClientError) as caught:
        eks_client().describe_cluster(name="prod")
    response = caught.value.response
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["clusterName"] == "prod"  # type: ignore[typeddict-item]  # a modeled member of the exception, parsed by botocore
    assert "prod" in response["Error"]["Message"]


def test_list_clusters_paginator_sees_every_cluster_once(sim_aws: SimAWS, store: EksSim) -> None:
    names = [f"c{i:03}" for i in range(105)]
    for name in names:
        add(store, name)
    add(store, "elsewhere", region="us-east-1")
    pages = list(eks_client().get_paginator("list_clusters").paginate())
    assert [len(p["clusters"]) for p in pages] == [100, 5]
    assert [n for p in pages for n in p["clusters"]] == names
    small = list(eks_client().get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 40}))
    assert [len(p["clusters"]) for p in small] == [40, 40, 25]
    assert sim_aws.calls.count("eks", "ListClusters") == 5


def test_list_clusters_limits_and_tokens(store: EksSim) -> None:
    add(store, "a")
    add(store, "b")
    with pytest.raises(ClientError) as caught:
        eks_client().list_clusters(maxResults=101)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    token = eks_client().list_clusters(maxResults=1)["nextToken"]
    assert eks_client().list_clusters(maxResults=1, nextToken=token)["clusters"] == ["b"]
    add(store, "east-1", region="us-east-1")
    add(store, "east-2", region="us-east-1")
    east_token = eks_client("us-east-1").list_clusters(maxResults=1)["nextToken"]
    for bad in ("garbage", east_token):  # a token belongs to its own listing
        with pytest.raises(ClientError) as caught:
            eks_client().list_clusters(nextToken=bad)
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert eks_client().list_clusters(include=["all"])["clusters"] == ["a", "b"]


def test_raw_answers_conform_to_botocore_output_shapes(store: EksSim) -> None:
    add(store, "a", tags={"team": "platform"})
    add(store, "b", status="UPDATING")
    client = eks_client()
    bodies = record_raw_bodies(client)
    client.list_clusters(maxResults=1)
    client.describe_cluster(name="a")
    client.describe_cluster(name="b")
    assert [name for name, _ in bodies] == ["ListClusters", "DescribeCluster", "DescribeCluster"]
    for operation, body in bodies:
        assert violations(client, operation, body) == [], operation


def test_reset_forgets_clusters(sim_aws: SimAWS, store: EksSim) -> None:
    add(store, "a")
    sim_aws.reset()
    assert eks_client().list_clusters()["clusters"] == []


def test_seeding_refuses_what_eks_cannot_have(store: EksSim) -> None:
    add(store, "a")
    with pytest.raises(ValueError, match="already exists"):
        add(store, "a")
    with pytest.raises(ValueError, match="https"):
        store.add_cluster(REGION, "b", endpoint="http://127.0.0.1:1", ca_pem=CA_PEM)
    with pytest.raises(ValueError, match="status"):
        add(store, "c", status="RUNNING")
