"""Building blocks for seeding the simulated registry through ECR's own API: image manifests and
multi-arch indexes (with the attestation manifests buildx adds), pushed as a CI pipeline would push them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ecrwatch.sim.ecr import manifest_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@dataclass(frozen=True)
class PushedIndex:
    digest: str
    platforms: dict[str, str]  # "linux/amd64" -> that platform's manifest digest
    attestations: tuple[str, ...]  # digests of the attestation manifests inside the index


def _blob_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def image_manifest(name: str, platform: str = "linux/amd64") -> str:
    """A small, valid OCI image manifest, distinct for each (name, platform)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _blob_digest(f"config:{name}:{platform}"), "size": 1469},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _blob_digest(f"layer:{name}:{platform}"),
                    "size": 3370706,
                }
            ],
        },
        separators=(",", ":"),
    )


def push_image(
    ecr: Any, repository: str, tag: str | None, *, name: str | None = None, platform: str = "linux/amd64"
) -> str:
    """Push a single-platform image; returns its manifest digest."""
    manifest = image_manifest(name or f"{repository}:{tag}", platform)
    kwargs: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": manifest,
        "imageManifestMediaType": OCI_MANIFEST,
    }
    if tag:
        kwargs["imageTag"] = tag
    ecr.put_image(**kwargs)
    return manifest_digest(manifest)


def push_index(
    ecr: Any,
    repository: str,
    tag: str,
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
    *,
    name: str | None = None,
    attestations: bool = True,
) -> PushedIndex:
    """Push each platform's manifest untagged, then a tagged OCI index over them (plus, like buildx, one
    attestation manifest per platform, `unknown/unknown`)."""
    label = name or f"{repository}:{tag}"
    entries: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    for platform in platforms:
        manifest = image_manifest(label, platform)
        ecr.put_image(repositoryName=repository, imageManifest=manifest, imageManifestMediaType=OCI_MANIFEST)
        digest = manifest_digest(manifest)
        digests[platform] = digest
        os_name, arch, *variant = platform.split("/")
        entry_platform = {"os": os_name, "architecture": arch, **({"variant": variant[0]} if variant else {})}
        entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest), "platform": entry_platform})
    attestation_digests = []
    if attestations:
        for platform in platforms:
            manifest = image_manifest(f"attestation:{label}", platform)
            ecr.put_image(repositoryName=repository, imageManifest=manifest, imageManifestMediaType=OCI_MANIFEST)
            digest = manifest_digest(manifest)
            attestation_digests.append(digest)
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(manifest),
                    "platform": {"os": "unknown", "architecture": "unknown"},
                    "annotations": {
                        "vnd.docker.reference.digest": digests[platform],
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                }
            )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, separators=(",", ":"))
    ecr.put_image(repositoryName=repository, imageManifest=index, imageTag=tag, imageManifestMediaType=OCI_INDEX)
    return PushedIndex(manifest_digest(index), digests, tuple(attestation_digests))
