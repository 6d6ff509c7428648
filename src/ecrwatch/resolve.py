"""Resolve how workloads name ECR images into the digests Inspector scans.

One `BatchGetImage` per repository (up to 100 image ids a call) answers every question at once: whether a
running digest is a multi-arch index (and which platform manifests it holds), which digest a tag points at,
and whether the image exists at all.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ecrwatch.aws import Aws, calling
from ecrwatch.errors import AwsCallError
from ecrwatch.models import EcrImageKey, PlatformManifest, ResolvedImage, SourceError

log = logging.getLogger(__name__)

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
)
BATCH_GET_IMAGE_LIMIT = 100
_ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


_RepoResult = tuple[dict[EcrImageKey, ResolvedImage], SourceError | None]


@dataclass(frozen=True)
class ResolveResult:
    images: dict[EcrImageKey, ResolvedImage]
    errors: tuple[SourceError, ...] = ()


def index_children(manifest: dict[str, Any]) -> tuple[PlatformManifest, ...]:
    """The platform manifests of an image index, without attestation manifests (`unknown/unknown`)."""
    children = []
    for entry in manifest.get("manifests") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        platform = entry.get("platform") or {}
        os_name, arch = platform.get("os"), platform.get("architecture")
        if os_name == "unknown" and arch == "unknown":
            continue
        label = "/".join(str(p) for p in (os_name, arch, platform.get("variant")) if p) or None
        children.append(PlatformManifest(entry["digest"], label))
    return tuple(children)


def interpret(key: EcrImageKey, media_type: str | None, manifest_text: str, digest: str) -> ResolvedImage:
    """What one BatchGetImage image says about a key (pure)."""
    try:
        manifest = json.loads(manifest_text)
    except ValueError:
        manifest = {}
    media_type = media_type or (manifest.get("mediaType") if isinstance(manifest, dict) else None)
    if media_type in INDEX_MEDIA_TYPES or (isinstance(manifest, dict) and "manifests" in manifest):
        return ResolvedImage(key, "index", digest, index_children(manifest))
    return ResolvedImage(key, "manifest", digest)


def resolve_images(
    aws: Aws, keys: Iterable[EcrImageKey], *, home_accounts: Sequence[str] = (), workers: int = 8
) -> ResolveResult:
    """Ask ECR about every key, one repository per task, repositories concurrently."""
    groups: dict[tuple[str, str, str], list[EcrImageKey]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        groups[(key.account, key.region, key.repository)].append(key)
    images: dict[EcrImageKey, ResolvedImage] = {}
    errors: list[SourceError] = []
    if not groups:
        return ResolveResult(images)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups))), thread_name_prefix="resolve") as pool:

        def one(item: tuple[tuple[str, str, str], list[EcrImageKey]]) -> _RepoResult:
            (account, region, repository), repo_keys = item
            return _resolve_repository(aws, account, region, repository, repo_keys, home_accounts)

        for group_images, group_error in pool.map(one, groups.items()):
            images.update(group_images)
            if group_error is not None and group_error not in errors:
                errors.append(group_error)
    return ResolveResult(images, tuple(errors))


def _image_id(key: EcrImageKey) -> dict[str, str]:
    return {"imageDigest": key.digest} if key.digest else {"imageTag": key.tag or "latest"}


def _lookup(image_id: Any) -> tuple[str, str]:
    """How an image id is asked for: by digest where it has one, else by tag."""
    if image_id.get("imageDigest"):
        return ("digest", str(image_id["imageDigest"]))
    return ("tag", str(image_id.get("imageTag") or "latest"))


def _failed(key: EcrImageKey, failure: dict[str, Any] | None) -> ResolvedImage:
    code = failure.get("failureCode") if failure else None
    if code in (None, "ImageNotFound"):
        return ResolvedImage(key, "missing", key.digest, detail="ECR has no such image")
    reason = (failure or {}).get("failureReason") or ""
    return ResolvedImage(key, "unknown", key.digest, detail=f"ECR could not return it: {code} {reason}".strip())


def _resolve_repository(
    aws: Aws, account: str, region: str, repository: str, keys: list[EcrImageKey], home_accounts: Sequence[str]
) -> _RepoResult:
    result: dict[EcrImageKey, ResolvedImage] = {}
    for start in range(0, len(keys), BATCH_GET_IMAGE_LIMIT):
        chunk = keys[start : start + BATCH_GET_IMAGE_LIMIT]
        try:
            with calling("ecr", "BatchGetImage", region):
                response = aws.ecr(region).batch_get_image(
                    registryId=account,
                    repositoryName=repository,
                    # Several keys (a digest under two tags) can ask for one image: ask once.
                    imageIds=list({_lookup(i): i for i in map(_image_id, chunk)}.values()),  # type: ignore[arg-type]
                    acceptedMediaTypes=[*INDEX_MEDIA_TYPES, *MANIFEST_MEDIA_TYPES],
                )
        except AwsCallError as exc:
            return _unresolvable(keys, account, region, repository, exc, home_accounts)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for image in response.get("images", []):
            image_id = image.get("imageId", {})
            if image_id.get("imageDigest"):
                found[("digest", image_id["imageDigest"])] = dict(image)
                if image_id.get("imageTag"):
                    found[("tag", image_id["imageTag"])] = dict(image)
        failures = {_lookup(f["imageId"]): dict(f) for f in response.get("failures", []) if "imageId" in f}
        for key in chunk:
            wanted = _lookup(_image_id(key))
            hit = found.get(wanted)
            if hit is not None:
                media_type, manifest = hit.get("imageManifestMediaType"), hit.get("imageManifest", "")
                result[key] = interpret(key, media_type, manifest, hit["imageId"]["imageDigest"])
            else:
                result[key] = _failed(key, failures.get(wanted))
    return result, None


def _unresolvable(
    keys: list[EcrImageKey],
    account: str,
    region: str,
    repository: str,
    exc: AwsCallError,
    home_accounts: Sequence[str],
) -> _RepoResult:
    """A whole repository could not be read: a missing repository means missing images; otherwise the
    images stay unknown, and the failure is an error of the run only where it is in our own registry."""
    if exc.code == "RepositoryNotFoundException":
        detail = f"repository {repository} does not exist in registry {account} ({region})"
        return {k: ResolvedImage(k, "missing", k.digest, detail=detail) for k in keys}, None
    foreign = account not in home_accounts
    if exc.code in _ACCESS_DENIED and foreign:
        detail = f"registry {account} ({region}) denied ecr:BatchGetImage on {repository}"
    else:
        detail = f"ECR could not be read: {exc.code or 'error'}"
    images = {k: ResolvedImage(k, "unknown", k.digest, detail=detail) for k in keys}
    if foreign and exc.code in _ACCESS_DENIED:
        return images, None
    log.warning("%s", exc)
    return images, SourceError(f"ecr:{region}", exc.message, exc.code)
