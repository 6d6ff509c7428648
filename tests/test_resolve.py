"""The resolve stage against the simulated ECR: digests, indexes, tags, missing and unreadable images."""

from __future__ import annotations

import json

import boto3
import pytest

from ecrwatch.aws import Aws, AwsSettings
from ecrwatch.models import EcrImageKey, PlatformManifest
from ecrwatch.resolve import index_children, resolve_images
from ecrwatch.sim.ecr import EcrSim
from ecrwatch.sim.seed import OCI_INDEX, image_manifest, push_image, push_index
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "us-east-1"


def key(repository: str, *, digest: str | None = None, tag: str | None = None, region: str = REGION) -> EcrImageKey:
    return EcrImageKey(ACCOUNT_ID, region, repository, digest, tag)


@pytest.fixture
def ecr(sim_aws: SimAWS) -> object:
    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(repositoryName="team/api")
    return client


def test_a_running_manifest_digest_resolves_to_itself(ecr: object, sim_aws: SimAWS) -> None:
    digest = push_image(ecr, "team/api", "v1")
    result = resolve_images(Aws(), [key("team/api", digest=digest)], home_accounts=[ACCOUNT_ID])
    resolved = result.images[key("team/api", digest=digest)]
    assert (resolved.kind, resolved.digest, resolved.scanned_digests) == (
        "manifest",
        digest,
        (PlatformManifest(digest, None),),
    )
    assert result.errors == ()


def test_an_index_digest_resolves_to_its_platform_manifests_without_attestations(ecr: object) -> None:
    pushed = push_index(ecr, "team/api", "v2", ("linux/amd64", "linux/arm64/v8"))
    by_digest, by_tag = key("team/api", digest=pushed.digest), key("team/api", tag="v2")
    result = resolve_images(Aws(), [by_digest, by_tag])
    for k in (by_digest, by_tag):
        resolved = result.images[k]
        assert resolved.kind == "index"
        assert resolved.digest == pushed.digest
        assert resolved.children == (
            PlatformManifest(pushed.platforms["linux/amd64"], "linux/amd64"),
            PlatformManifest(pushed.platforms["linux/arm64/v8"], "linux/arm64/v8"),
        )
        assert not set(pushed.attestations) & {c.digest for c in resolved.children}


def test_a_tag_resolves_to_the_digest_it_points_at_and_unknown_ones_are_missing(ecr: object) -> None:
    digest = push_image(ecr, "team/api", "stable")
    result = resolve_images(Aws(), [key("team/api", tag="stable"), key("team/api", tag="gone")])
    assert result.images[key("team/api", tag="stable")].digest == digest
    assert result.images[key("team/api", tag="gone")].kind == "missing"


def test_a_missing_repository_makes_its_images_missing_not_an_error(ecr: object) -> None:
    result = resolve_images(Aws(), [key("no/such", tag="v1")], home_accounts=[ACCOUNT_ID])
    assert result.images[key("no/such", tag="v1")].kind == "missing"
    assert result.errors == ()


def test_one_call_per_repository_for_up_to_100_images(ecr: object, sim_aws: SimAWS) -> None:
    digests = [push_image(ecr, "team/api", f"v{i}") for i in range(150)]
    boto3.client("ecr").create_repository(repositoryName="team/web")
    web = push_image(boto3.client("ecr"), "team/web", "v1")
    sim_aws.calls.clear()
    keys = [key("team/api", digest=d) for d in digests] + [key("team/web", digest=web)]
    result = resolve_images(Aws(), keys)
    assert {r.kind for r in result.images.values()} == {"manifest"}
    assert len(result.images) == 151
    assert sim_aws.calls.count("ecr", "BatchGetImage") == 3  # 100 + 50 in team/api, 1 in team/web


def test_another_accounts_registry_that_denies_leaves_the_digest_unknown_without_an_error(sim_aws: SimAWS) -> None:
    foreign = EcrImageKey("999999999999", REGION, "vendor/agent", "sha256:" + "a" * 64, "1.0")
    result = resolve_images(Aws(), [foreign], home_accounts=[ACCOUNT_ID])
    resolved = result.images[foreign]
    assert (resolved.kind, resolved.digest) == ("unknown", foreign.digest)
    assert "999999999999" in (resolved.detail or "")
    assert result.errors == ()


def test_a_shared_foreign_registry_is_read_like_our_own(sim_aws: SimAWS) -> None:
    store = sim_aws.extension(EcrSim)
    child = image_manifest("coredns", "linux/amd64")
    child_digest = store.put_foreign_image("602401143452", REGION, "eks/coredns", child, "x")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"digest": child_digest, "platform": {"os": "linux", "architecture": "amd64"}}],
        }
    )
    store.put_foreign_image("602401143452", REGION, "eks/coredns", index, OCI_INDEX, ("v1.11.1",))
    k = EcrImageKey("602401143452", REGION, "eks/coredns", None, "v1.11.1")
    resolved = resolve_images(Aws(), [k], home_accounts=[ACCOUNT_ID]).images[k]
    assert resolved.kind == "index"
    assert resolved.children == (PlatformManifest(child_digest, "linux/amd64"),)


def test_throttling_past_retries_in_our_registry_is_an_error_of_the_run(ecr: object, sim_aws: SimAWS) -> None:
    digest = push_image(ecr, "team/api", "v1")
    sim_aws.faults.add("ecr", "BatchGetImage", error="ThrottlingException")
    aws = Aws(AwsSettings(max_attempts=2))
    result = resolve_images(aws, [key("team/api", digest=digest)], home_accounts=[ACCOUNT_ID])
    assert result.images[key("team/api", digest=digest)].kind == "unknown"
    assert [(e.source, e.code) for e in result.errors] == [("ecr:us-east-1", "ThrottlingException")]


def test_index_children_skips_attestations_and_malformed_entries() -> None:
    manifest = {
        "manifests": [
            {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
            {"digest": "sha256:" + "2" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:" + "3" * 64, "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
            {"platform": {"os": "linux"}},
            "junk",
        ]
    }
    assert index_children(manifest) == (PlatformManifest("sha256:" + "1" * 64, "linux/arm/v7"),)


def test_one_digest_named_under_two_tags_is_asked_for_once(ecr: object, sim_aws: SimAWS) -> None:
    digest = push_image(ecr, "team/api", "v1")
    keys = [key("team/api", digest=digest, tag="v1"), key("team/api", digest=digest, tag="latest")]
    sim_aws.calls.clear()
    result = resolve_images(Aws(), keys)
    assert [result.images[k].digest for k in keys] == [digest, digest]
    (call,) = sim_aws.calls.select("ecr", "BatchGetImage")
    assert call.params["imageIds"] == [{"imageDigest": digest}]


def test_a_failing_later_chunk_keeps_the_answers_of_the_chunk_that_succeeded(ecr: object, sim_aws: SimAWS) -> None:
    digests = [push_image(ecr, "team/api", f"v{i}") for i in range(130)]
    late = set(digests[100:])
    sim_aws.faults.add(
        "ecr",
        "BatchGetImage",
        error="ThrottlingException",
        when=lambda request: any(i.get("imageDigest") in late for i in request.json()["imageIds"]),
    )
    keys = [key("team/api", digest=d) for d in digests]
    result = resolve_images(Aws(AwsSettings(max_attempts=1)), keys, home_accounts=[ACCOUNT_ID])
    kinds = [result.images[k].kind for k in keys]
    assert kinds == ["manifest"] * 100 + ["unknown"] * 30
    assert [(e.source, e.code) for e in result.errors] == [("ecr:us-east-1", "ThrottlingException")]


def test_a_kms_error_entry_is_an_error_of_the_run_and_leaves_the_image_unknown(ecr: object, sim_aws: SimAWS) -> None:
    broken, fine = push_image(ecr, "team/api", "v1"), push_image(ecr, "team/api", "v2")
    reason = "The KMS key of the repository is disabled"
    sim_aws.extension(EcrSim).fail_image(REGION, "team/api", "KmsError", digest=broken, reason=reason)
    keys = [key("team/api", digest=broken), key("team/api", tag="v2")]
    result = resolve_images(Aws(), keys, home_accounts=[ACCOUNT_ID])
    unreadable = result.images[keys[0]]
    assert (unreadable.kind, unreadable.digest) == ("unknown", broken)
    assert "KmsError" in (unreadable.detail or "") and reason in (unreadable.detail or "")
    assert (result.images[keys[1]].kind, result.images[keys[1]].digest) == ("manifest", fine)
    (error,) = result.errors
    assert (error.source, error.code) == ("ecr:us-east-1", "KmsError")
    assert f"team/api digest {broken}" in error.message and reason in error.message


def test_several_refused_images_of_a_repository_make_one_error_that_counts_them(ecr: object, sim_aws: SimAWS) -> None:
    store = sim_aws.extension(EcrSim)
    for tag in ("a", "b", "c"):
        push_image(ecr, "team/api", tag)
        store.fail_image(REGION, "team/api", "ImageInaccessible", tag=tag)
    store.fail_image(REGION, "team/api", "UpstreamUnavailable", tag="d")
    keys = [key("team/api", tag=t) for t in ("a", "b", "c", "d")]
    result = resolve_images(Aws(), keys, home_accounts=[ACCOUNT_ID])
    assert {result.images[k].kind for k in keys} == {"unknown"}
    assert [(e.code, "3 images of team/api" in e.message) for e in result.errors] == [
        ("ImageInaccessible", True),
        ("UpstreamUnavailable", False),
    ]


def test_only_ecr_saying_not_found_makes_an_image_missing(ecr: object) -> None:
    push_image(ecr, "team/api", "v1")
    gone = "sha256:" + "d" * 64
    keys = [key("team/api", digest=gone), key("team/api", tag="deleted")]
    result = resolve_images(Aws(), keys, home_accounts=[ACCOUNT_ID])
    assert [(result.images[k].kind, result.images[k].detail) for k in keys] == [
        ("missing", f"ECR has no image with digest {gone} (ImageNotFound)"),
        ("missing", "ECR has no image with tag deleted (ImageNotFound)"),
    ]
    assert result.errors == ()


def test_an_index_is_asked_for_with_the_index_media_types(ecr: object, sim_aws: SimAWS) -> None:
    pushed = push_index(ecr, "team/api", "v3")
    sim_aws.calls.clear()
    resolved = resolve_images(Aws(), [key("team/api", tag="v3")]).images[key("team/api", tag="v3")]
    assert (resolved.kind, resolved.digest) == ("index", pushed.digest)
    (call,) = sim_aws.calls.select("ecr", "BatchGetImage")
    assert OCI_INDEX in call.params["acceptedMediaTypes"]


def test_a_registry_that_denies_is_asked_once_however_many_images_it_holds(sim_aws: SimAWS) -> None:
    keys = [EcrImageKey("999999999999", REGION, "vendor/agent", "sha256:" + f"{i:064x}", None) for i in range(150)]
    result = resolve_images(Aws(), keys, home_accounts=[ACCOUNT_ID])
    assert {(r.kind, r.detail) for r in result.images.values()} == {
        ("unknown", "registry 999999999999 (us-east-1) denied ecr:BatchGetImage on vendor/agent")
    }
    assert len(result.images) == 150 and result.errors == ()
    assert sim_aws.calls.count("ecr", "BatchGetImage") == 1  # the second chunk would be denied the same way
