"""Our corrections to moto's ECR: real manifest digests, other accounts' registries, and BatchGetImage as
botocore's ecr model shapes it (the requested tag, failure entries with ImageFailureCode values)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from model_check import record_raw_bodies, violations

from ecrwatch.sim.ecr import EcrSim, manifest_digest
from ecrwatch.sim.seed import push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

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


# --- BatchGetImage, as ECR answers it ------------------------------------------------------------------

ALL_TYPES = [OCI_INDEX, OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"]


@pytest.fixture
def ecr(sim_aws: SimAWS) -> Any:
    client = boto3.client("ecr")
    client.create_repository(repositoryName="team/api")
    return client


def failures_of(response: dict[str, Any]) -> list[tuple[dict[str, str], str]]:
    return [(f["imageId"], f["failureCode"]) for f in response["failures"]]


def test_an_image_asked_by_one_of_its_tags_is_answered_with_that_tag(ecr: Any) -> None:
    digest = push_image(ecr, "team/api", "v1")
    manifest = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": digest}])
    ecr.put_image(repositoryName="team/api", imageManifest=manifest["images"][0]["imageManifest"], imageTag="latest")
    got = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageTag": "v1"}, {"imageTag": "latest"}])
    # moto alone answers both with the image's last tag, "latest".
    assert [i["imageId"] for i in got["images"]] == [
        {"imageDigest": digest, "imageTag": "v1"},
        {"imageDigest": digest, "imageTag": "latest"},
    ]
    by_digest = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": digest}])
    assert [i["imageId"] for i in by_digest["images"]] == [{"imageDigest": digest}]


def test_a_missing_digest_or_tag_is_image_not_found_naming_what_was_asked(ecr: Any) -> None:
    push_image(ecr, "team/api", "v1")
    gone = "sha256:" + "0" * 64
    got = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": gone}, {"imageTag": "gone"}])
    assert got["images"] == []
    # moto alone gives the missing digest as {"imageTag": "null"}.
    assert failures_of(got) == [({"imageDigest": gone}, "ImageNotFound"), ({"imageTag": "gone"}, "ImageNotFound")]
    assert {f["failureReason"] for f in got["failures"]} == {"Requested image not found"}


def test_a_tag_that_is_not_on_the_digest_is_image_tag_does_not_match_digest(ecr: Any) -> None:
    one = push_image(ecr, "team/api", "v1")
    push_image(ecr, "team/api", "v2")
    got = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": one, "imageTag": "v2"}])
    assert got["images"] == []  # moto alone returns both images
    assert failures_of(got) == [({"imageDigest": one, "imageTag": "v2"}, "ImageTagDoesNotMatchDigest")]
    both = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": one, "imageTag": "v1"}])
    assert [i["imageId"] for i in both["images"]] == [{"imageDigest": one, "imageTag": "v1"}]


@pytest.mark.parametrize("digest", ["sha256:abc", "not-a-digest", "sha256:" + "G" * 64, "SHA256:" + "a" * 64])
def test_a_malformed_digest_is_invalid_image_digest(ecr: Any, digest: str) -> None:
    got = ecr.batch_get_image(repositoryName="team/api", imageIds=[{"imageDigest": digest}])
    assert failures_of(got) == [({"imageDigest": digest}, "InvalidImageDigest")]


def test_an_index_is_returned_only_to_a_caller_that_accepts_index_media_types(ecr: Any) -> None:
    pushed = push_index(ecr, "team/api", "v2")
    manifests_only = [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"]
    refused = ecr.batch_get_image(
        repositoryName="team/api", imageIds=[{"imageTag": "v2"}], acceptedMediaTypes=manifests_only
    )
    assert failures_of(refused) == [({"imageTag": "v2"}, "ImageNotFound")]
    accepted = ecr.batch_get_image(
        repositoryName="team/api", imageIds=[{"imageTag": "v2"}], acceptedMediaTypes=ALL_TYPES
    )
    assert [(i["imageId"]["imageDigest"], i["imageManifestMediaType"]) for i in accepted["images"]] == [
        (pushed.digest, OCI_INDEX)
    ]
    # A platform manifest inside it is an OCI manifest: the manifest types are enough for it.
    child = ecr.batch_get_image(
        repositoryName="team/api",
        imageIds=[{"imageDigest": pushed.platforms["linux/amd64"]}],
        acceptedMediaTypes=manifests_only,
    )
    assert len(child["images"]) == 1


@pytest.mark.parametrize("code", ["KmsError", "ImageInaccessible", "UpstreamUnavailable"])
def test_an_injected_failure_answers_that_image_only(ecr: Any, sim_aws: SimAWS, code: str) -> None:
    broken, fine = push_image(ecr, "team/api", "v1"), push_image(ecr, "team/api", "v2")
    sim_aws.extension(EcrSim).fail_image("us-east-1", "team/api", code, digest=broken, reason="the key is disabled")
    bodies = record_raw_bodies(ecr)
    got = ecr.batch_get_image(
        repositoryName="team/api", imageIds=[{"imageDigest": broken}, {"imageTag": "v2"}], acceptedMediaTypes=ALL_TYPES
    )
    assert failures_of(got) == [({"imageDigest": broken}, code)]
    assert got["failures"][0]["failureReason"] == "the key is disabled"
    assert [i["imageId"] for i in got["images"]] == [{"imageDigest": fine, "imageTag": "v2"}]
    assert violations(ecr, "BatchGetImage", bodies[-1][1]) == []


def test_every_failure_entry_conforms_to_the_ecr_model(ecr: Any, sim_aws: SimAWS) -> None:
    one = push_image(ecr, "team/api", "v1")
    sim_aws.extension(EcrSim).fail_image("us-east-1", "team/api", "KmsError", tag="v1")
    bodies = record_raw_bodies(ecr)
    ecr.batch_get_image(
        repositoryName="team/api",
        imageIds=[
            {"imageDigest": one},
            {"imageTag": "v1"},
            {"imageDigest": "sha256:" + "0" * 64},
            {"imageDigest": "bad"},
            {"imageDigest": one, "imageTag": "nope"},
        ],
        acceptedMediaTypes=ALL_TYPES,
    )
    ((operation, body),) = bodies
    assert [f["failureCode"] for f in body["failures"]] == [
        "KmsError",
        "ImageNotFound",
        "InvalidImageDigest",
        "ImageTagDoesNotMatchDigest",
    ]
    assert violations(ecr, operation, body) == []


def test_more_than_100_image_ids_in_one_call_are_refused(ecr: Any) -> None:
    ids = [{"imageDigest": "sha256:" + f"{i:064x}"} for i in range(101)]
    with pytest.raises(ClientError) as caught:
        ecr.batch_get_image(repositoryName="team/api", imageIds=ids)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert len(ecr.batch_get_image(repositoryName="team/api", imageIds=ids[:100])["failures"]) == 100


def test_a_missing_repository_of_our_own_registry_is_repository_not_found(ecr: Any) -> None:
    with pytest.raises(ClientError) as caught:
        ecr.batch_get_image(registryId=ACCOUNT_ID, repositoryName="no/such", imageIds=[{"imageTag": "v1"}])
    assert caught.value.response["Error"]["Code"] == "RepositoryNotFoundException"
