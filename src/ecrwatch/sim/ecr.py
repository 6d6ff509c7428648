"""Where moto's ECR needs correcting for our purposes.

- moto derives an image digest from the manifest's layer list (or a small random number for an index);
  ECR's digest is the SHA-256 of the manifest bytes. PutImage without `imageDigest` gets the real digest,
  and a given digest that does not match the manifest is refused, as ECR refuses it.
- moto serves any `registryId` from the caller's own registry. Another account's registry here denies
  access unless it was registered as shared (as the AWS-owned registries EKS add-ons come from are), in
  which case its images are served from our own store.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

INDEX_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)


def manifest_digest(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


@dataclass
class _ForeignImage:
    manifest: str
    media_type: str
    tags: set[str] = field(default_factory=set)


class EcrSim:
    service = "ecr"
    operations = frozenset({"PutImage", "BatchGetImage", "DescribeImages"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (account, region) -> repository -> digest -> image
        self._shared: dict[tuple[str, str], dict[str, dict[str, _ForeignImage]]] = {}

    def reset(self) -> None:
        with self._lock:
            self._shared.clear()

    def share_registry(self, account: str, region: str) -> None:
        """Make another account's registry readable (its repositories start empty)."""
        with self._lock:
            self._shared.setdefault((account, region), {})

    def put_foreign_image(
        self, account: str, region: str, repository: str, manifest: str, media_type: str, tags: tuple[str, ...] = ()
    ) -> str:
        """Store an image in a shared foreign registry; returns its digest."""
        digest = manifest_digest(manifest)
        with self._lock:
            repos = self._shared.setdefault((account, region), {})
            images = repos.setdefault(repository, {})
            image = images.setdefault(digest, _ForeignImage(manifest, media_type))
            for other in images.values():
                other.tags.difference_update(tags)
            image.tags.update(tags)
        return digest

    def handle(self, request: SimRequest) -> SimResponse | None:
        params = request.json()
        registry = params.get("registryId")
        if registry and registry != ACCOUNT_ID:
            return self._foreign(request, registry, params)
        if request.operation == "PutImage":
            self._fix_digest(request, params)
        return None

    def _fix_digest(self, request: SimRequest, params: dict[str, object]) -> None:
        actual = manifest_digest(str(params.get("imageManifest", "")))
        given = params.get("imageDigest")
        if given and given != actual:
            raise SimError(
                "ImageDigestDoesNotMatchException",
                f"The specified image digest {given} does not match the digest that Amazon ECR calculated for the "
                f"image manifest: {actual}",
            )
        params["imageDigest"] = actual
        request.body = json.dumps(params).encode()

    def _foreign(self, request: SimRequest, registry: str, params: dict[str, object]) -> SimResponse:
        repository = str(params.get("repositoryName", ""))
        action = f"ecr:{request.operation}"
        resource = f"arn:aws:ecr:{request.region}:{registry}:repository/{repository}"
        with self._lock:
            repos = self._shared.get((registry, request.region))
            if repos is None or request.operation == "PutImage":
                raise SimError(
                    "AccessDeniedException",
                    f"User: arn:aws:iam::{ACCOUNT_ID}:user/sim is not authorized to perform: {action} on resource: "
                    f"{resource} because no resource-based policy allows the {action} action",
                )
            if repository not in repos:
                raise SimError(
                    "RepositoryNotFoundException",
                    f"The repository with name '{repository}' does not exist in the registry with id '{registry}'",
                )
            images = dict(repos[repository])
        if request.operation == "DescribeImages":
            details = [
                {
                    "registryId": registry,
                    "repositoryName": repository,
                    "imageDigest": digest,
                    "imageTags": sorted(image.tags),
                    "imageManifestMediaType": image.media_type,
                }
                for digest, image in images.items()
            ]
            return SimResponse.json({"imageDetails": details})
        found, failures = [], []
        ids = params.get("imageIds")
        for image_id in ids if isinstance(ids, list) else []:
            digest = image_id.get("imageDigest")
            tag = image_id.get("imageTag")
            match = next(
                (
                    (d, img)
                    for d, img in images.items()
                    if (digest is None or d == digest) and (tag is None or tag in img.tags)
                ),
                None,
            )
            if match is None:
                failures.append(
                    {"imageId": image_id, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"}
                )
                continue
            found.append(
                {
                    "registryId": registry,
                    "repositoryName": repository,
                    "imageId": {"imageDigest": match[0], **({"imageTag": tag} if tag else {})},
                    "imageManifest": match[1].manifest,
                    "imageManifestMediaType": match[1].media_type,
                }
            )
        return SimResponse.json({"images": found, "failures": failures})
