"""Our corrections to moto's ECR: real manifest digests, and other accounts' registries."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from ecrwatch.sim.ecr import EcrSim, manifest_digest
from ecrwatch.sim.server import SimAWS

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _manifest(arch: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64},
            "layers": [],
            "annotations": {"arch": arch},
        }
    )


def test_put_image_digest_is_the_sha256_of_the_manifest_bytes(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="team/api")
    amd, arm = _manifest("amd64"), _manifest("arm64")
    digests = [
        ecr.put_image(repositoryName="team/api", imageManifest=m, imageTag=t)["image"]["imageId"]["imageDigest"]
        for m, t in ((amd, "amd"), (arm, "arm"))
    ]
    # moto alone would give both the same digest: their (empty) layer lists are the same.
    assert digests == [manifest_digest(amd), manifest_digest(arm)]
    got = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": digests[1]}])["images"]
    assert got[0]["imageManifest"] == arm


def test_put_image_with_a_wrong_digest_is_refused(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="team/api")
    with pytest.raises(ClientError) as caught:
        ecr.put_image(repositoryName="team/api", imageManifest=_manifest("amd64"), imageDigest="sha256:" + "1" * 64)
    assert caught.value.response["Error"]["Code"] == "ImageDigestDoesNotMatchException"


def test_another_accounts_registry_denies_unless_shared(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr", region_name="us-west-2")
    with pytest.raises(ClientError) as caught:
        ecr.batch_get_image(registryId="999999999999", repositoryName="x/y", imageIds=[{"imageTag": "v1"}])
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "ecr:BatchGetImage" in caught.value.response["Error"]["Message"]

    store = sim_aws.extension(EcrSim)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    digest = store.put_foreign_image("602401143452", "us-west-2", "eks/coredns", index, OCI_INDEX, ("v1.11",))
    got = ecr.batch_get_image(
        registryId="602401143452",
        repositoryName="eks/coredns",
        imageIds=[{"imageTag": "v1.11"}, {"imageTag": "v0"}],
    )
    assert [i["imageId"]["imageDigest"] for i in got["images"]] == [digest]
    assert got["images"][0]["imageManifestMediaType"] == OCI_INDEX
    assert [f["failureCode"] for f in got["failures"]] == ["ImageNotFound"]
    with pytest.raises(ClientError) as caught:
        ecr.batch_get_image(registryId="602401143452", repositoryName="nope", imageIds=[{"imageTag": "v1"}])
    assert caught.value.response["Error"]["Code"] == "RepositoryNotFoundException"
