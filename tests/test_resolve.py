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
