"""Where moto's ECR needs correcting for our purposes.

- moto derives an image digest from the manifest's layer list (or a small random number for an index);
  ECR's digest is the SHA-256 of the manifest bytes. PutImage without `imageDigest` gets the real digest,
  and a given digest that does not match the manifest is refused, as ECR refuses it.
- moto serves any `registryId` from the caller's own registry. Another account's registry (not the one the
  request is signed for) here denies access unless it was registered as shared (as the AWS-owned
  registries EKS add-ons come from are), in which case its images are served from our own store.
- BatchGetImage is ours, for every registry, shaped by botocore's ecr model (ImageFailureCode): moto answers
  an image's last tag instead of the one asked for, a missing digest as `imageTag: "null"`, a tag and digest
  that do not match with two images, a malformed digest as ImageNotFound, and ignores `acceptedMediaTypes`.
  Here: the answer names the tag that was asked; a tag or digest ECR does not hold is ImageNotFound with the
  imageId as asked (ECR's model has no other "not found" code for BatchGetImage); a tag that is not on the
  digest is ImageTagDoesNotMatchDigest; a digest that is not `algorithm:hex` is InvalidImageDigest; neither
  is MissingDigestAndTag. An image whose stored media type the caller does not accept is not found, as a
  registry answers a manifest request whose Accept header leaves out the stored type (ECR's conversion of
  Docker schema 2 / OCI manifests pulled by tag is not simulated). Tests inject per-image failures
  (KmsError, ImageInaccessible, ...) with `fail_image`; API errors come from the server's faults.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse
from ecrwatch.sim.server import ACCOUNT_ID

INDEX_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
BATCH_GET_IMAGE_LIMIT = 100  # ImageIdentifierList and MediaTypeList: max 100 (botocore's ecr model)
# The OCI image spec's digest grammar; sha256 digests are 64 lower-case hex characters.
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
_NOT_FOUND = "Requested image not found"


def manifest_digest(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


@dataclass(frozen=True)
class _Failure:
    code: str  # botocore's ImageFailureCode
    reason: str


@dataclass
class _StoredImage:
    manifest: str
    media_type: str | None
    tags: set[str]


class EcrSim:
    service = "ecr"
    operations = frozenset({"PutImage", "BatchGetImage", "DescribeImages"})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (account, region) -> repository -> digest -> image
        self._shared: dict[tuple[str, str], dict[str, dict[str, _StoredImage]]] = {}
        # (account, region, repository, ("digest" | "tag", value)) -> the failure entry BatchGetImage gives
        self._failures: dict[tuple[str, str, str, tuple[str, str]], _Failure] = {}

    def reset(self) -> None:
        with self._lock:
            self._shared.clear()
            self._failures.clear()

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
            image = images.setdefault(digest, _StoredImage(manifest, media_type, set()))
            for other in images.values():
                other.tags.difference_update(tags)
            image.tags.update(tags)
        return digest

    def fail_image(
        self,
        region: str,
        repository: str,
        code: str,
        *,
        digest: str | None = None,
        tag: str | None = None,
        reason: str | None = None,
        account: str = ACCOUNT_ID,
    ) -> None:
        """Make BatchGetImage answer this image (asked by this digest or tag) with a failure entry: KmsError,
        ImageInaccessible, UpstreamUnavailable, ... (the model's ImageFailureCode)."""
        if (digest is None) == (tag is None):
            raise ValueError("name the image by digest or by tag")
        lookup = ("digest", digest) if digest is not None else ("tag", str(tag))
        with self._lock:
            self._failures[(account, region, repository, lookup)] = _Failure(code, reason or f"{code} (injected)")

    def handle(self, request: SimRequest) -> SimResponse | None:
        params = request.json()
        registry = str(params.get("registryId") or request.account)
        if request.operation == "BatchGetImage":
            return self._batch_get_image(request, registry, params)
        if registry != request.account:
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

    def _shared_repository(self, request: SimRequest, registry: str, repository: str) -> dict[str, _StoredImage]:
        """A copy of a foreign registry's repository, or the error ECR gives a caller without access."""
        action = f"ecr:{request.operation}"
        resource = f"arn:aws:ecr:{request.region}:{registry}:repository/{repository}"
        with self._lock:
            repos = self._shared.get((registry, request.region))
            if repos is None or request.operation == "PutImage":
                raise SimError(
                    "AccessDeniedException",
                    f"User: arn:aws:iam::{request.account}:user/sim is not authorized to perform: {action} on "
                    f"resource: {resource} because no resource-based policy allows the {action} action",
                )
            if repository not in repos:
                raise _repository_not_found(repository, registry)
            return {d: _StoredImage(i.manifest, i.media_type, set(i.tags)) for d, i in repos[repository].items()}

    def _foreign(self, request: SimRequest, registry: str, params: dict[str, object]) -> SimResponse:
        repository = str(params.get("repositoryName", ""))
        images = self._shared_repository(request, registry, repository)
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

    def _batch_get_image(self, request: SimRequest, registry: str, params: dict[str, Any]) -> SimResponse:
        repository = str(params.get("repositoryName", ""))
        ids = params.get("imageIds")
        accepted = params.get("acceptedMediaTypes")
        if not isinstance(ids, list) or not 1 <= len(ids) <= BATCH_GET_IMAGE_LIMIT:
            raise SimError(
                "InvalidParameterException",
                f"Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between "
                f"1 and {BATCH_GET_IMAGE_LIMIT}'",
            )
        if accepted is not None and (not isinstance(accepted, list) or not 1 <= len(accepted) <= 100):
            raise SimError(
                "InvalidParameterException",
                "Invalid parameter at 'acceptedMediaTypes' failed to satisfy constraint: 'Member must have length "
                "between 1 and 100'",
            )
        if registry == request.account:
            images = _moto_repository(registry, request.region, repository)
        else:
            images = self._shared_repository(request, registry, repository)
        with self._lock:
            failures = {
                lookup: failure
                for (account, region, repo, lookup), failure in self._failures.items()
                if (account, region, repo) == (registry, request.region, repository)
            }
        by_tag = {tag: digest for digest, image in images.items() for tag in image.tags}
        found: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for image_id in ids:
            image_id = image_id if isinstance(image_id, dict) else {}
            answer = _answer(image_id, images, by_tag, failures, accepted)
            if isinstance(answer, _Failure):
                failed.append({"imageId": image_id, "failureCode": answer.code, "failureReason": answer.reason})
                continue
            digest, image = answer
            tag = image_id.get("imageTag")
            found.append(
                {
                    "registryId": registry,
                    "repositoryName": repository,
                    "imageId": {"imageDigest": digest, **({"imageTag": tag} if tag else {})},
                    "imageManifest": image.manifest,
                    "imageManifestMediaType": image.media_type,
                }
            )
        return SimResponse.json({"images": found, "failures": failed})


def _answer(
    image_id: dict[str, Any],
    images: dict[str, _StoredImage],
    by_tag: dict[str, str],
    failures: dict[tuple[str, str], _Failure],
    accepted: Iterable[str] | None,
) -> tuple[str, _StoredImage] | _Failure:
    """One image id's answer: (digest, image), or the failure entry."""
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    if not digest and not tag:
        return _Failure("MissingDigestAndTag", "Missing image digest and image tag")
    if digest and not (_DIGEST.fullmatch(digest) and (not digest.startswith("sha256:") or _SHA256.fullmatch(digest))):
        return _Failure("InvalidImageDigest", "Invalid image digest")
    injected = (digest and failures.get(("digest", digest))) or (tag and failures.get(("tag", tag)))
    if injected:
        return injected
    if digest:
        if digest not in images:
            return _Failure("ImageNotFound", _NOT_FOUND)
        if tag and tag not in images[digest].tags:
            return _Failure("ImageTagDoesNotMatchDigest", "Invalid image tag and digest combination")
    elif tag not in by_tag:
        return _Failure("ImageNotFound", _NOT_FOUND)
    digest = digest or by_tag[str(tag)]
    image = images[digest]
    if accepted is not None and image.media_type not in set(accepted):
        return _Failure("ImageNotFound", _NOT_FOUND)
    return (digest, image)


def _repository_not_found(repository: str, registry: str) -> SimError:
    return SimError(
        "RepositoryNotFoundException",
        f"The repository with name '{repository}' does not exist in the registry with id '{registry}'",
    )


def _moto_repository(account: str, region: str, repository: str) -> dict[str, _StoredImage]:
    """The caller's own registry's images of one repository, read from moto's store (PutImage writes there)."""
    from moto.ecr.models import ecr_backends

    repositories = ecr_backends[account][region].repositories
    if repository not in repositories:
        raise _repository_not_found(repository, account)
    return {
        image.get_image_digest(): _StoredImage(
            image.image_manifest, image.image_manifest_media_type, set(image.image_tags)
        )
        for image in list(repositories[repository].images)
    }
