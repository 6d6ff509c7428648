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
from dataclasses import dataclass, replace
from typing import Any

from ecrwatch.aws import Aws, calling_in
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


# ECR's "no such image" answers: only these make an image `missing` (not_found_in_ecr). BatchGetImage's model
# knows ImageNotFound for a tag or digest it does not hold; ImageTagDoesNotExist is the same fact where
# other ECR operations report it.
_NOT_FOUND_CODES = frozenset({"ImageNotFound", "ImageTagDoesNotExist"})


_RepoResult = tuple[dict[EcrImageKey, ResolvedImage], list[SourceError]]


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

        for group_images, group_errors in pool.map(one, groups.items()):
            images.update(group_images)
            errors.extend(e for e in group_errors if e not in errors)
    return ResolveResult(images, tuple(errors))


def _image_id(key: EcrImageKey) -> dict[str, str]:
    return {"imageDigest": key.digest} if key.digest else {"imageTag": key.tag or "latest"}


def _lookup(image_id: Any) -> tuple[str, str]:
    """How an image id is asked for: by digest where it has one, else by tag."""
    if image_id.get("imageDigest"):
        return ("digest", str(image_id["imageDigest"]))
    return ("tag", str(image_id.get("imageTag") or "latest"))


def _describe(key: EcrImageKey) -> str:
    return f"digest {key.digest}" if key.digest else f"tag {key.tag or 'latest'}"


def _failed(key: EcrImageKey, failure: dict[str, Any] | None) -> ResolvedImage:
    """What a key that ECR did not return is: missing only where ECR said so."""
    code = failure.get("failureCode") if failure else None
    reason = str((failure or {}).get("failureReason") or "").strip()
    if code in _NOT_FOUND_CODES:
        return ResolvedImage(key, "missing", key.digest, detail=f"ECR has no image with {_describe(key)} ({code})")
    if failure is None:
        detail = "ECR's BatchGetImage answer named neither the image nor a failure for it (see errors)"
    else:
        detail = f"ECR could not return it: {code or 'unknown failure'}" + (f": {reason}" if reason else "")
        detail += " (see errors)"
    return ResolvedImage(key, "unknown", key.digest, detail=detail)


@dataclass(frozen=True)
class _Refused:
    """An image ECR's answer did not return, for a reason other than "not found"."""

    key: EcrImageKey
    code: str  # the failureCode, or "NoAnswer" where the answer named neither the image nor a failure
    reason: str


def _failure_errors(region: str, repository: str, refused: list[_Refused]) -> list[SourceError]:
    """One `errors` entry per kind of refusal in a repository (not one per image): what ECR refused, how many
    images, and the first one's words."""
    by_code: dict[str, list[_Refused]] = defaultdict(list)
    for item in refused:
        by_code[item.code].append(item)
    errors = []
    for code, items in by_code.items():
        first = items[0]
        what = f"{len(items)} images of {repository}" if len(items) > 1 else f"{repository} {_describe(first.key)}"
        message = f"ecr:BatchGetImage in {region} did not return {what}: {code}" + (
            f": {first.reason}" if first.reason else ""
        )
        log.warning("%s", message)
        errors.append(SourceError(f"ecr:{region}", message, code))
    return errors


def _resolve_repository(
    aws: Aws, account: str, region: str, repository: str, keys: list[EcrImageKey], home_accounts: Sequence[str]
) -> _RepoResult:
    """Every key of one repository, 100 a call. A call that fails leaves only its own keys unresolved: the
    chunks that succeeded keep their answers."""
    result: dict[EcrImageKey, ResolvedImage] = {}
    errors: list[SourceError] = []
    refused: list[_Refused] = []
    # The registry's own account where it can be entered (its registry is then ours to read), else the caller.
    reader = aws.reader(account)
    if reader is not aws:
        home_accounts = (*home_accounts, account)
    for start in range(0, len(keys), BATCH_GET_IMAGE_LIMIT):
        chunk = keys[start : start + BATCH_GET_IMAGE_LIMIT]
        try:
            with calling_in(reader, "ecr", "BatchGetImage", region):
                response = reader.ecr(region).batch_get_image(
                    registryId=account,
                    repositoryName=repository,
                    # Several keys (a digest under two tags) can ask for one image: ask once.
                    imageIds=list({_lookup(i): i for i in map(_image_id, chunk)}.values()),  # type: ignore[arg-type]
                    acceptedMediaTypes=[*INDEX_MEDIA_TYPES, *MANIFEST_MEDIA_TYPES],
                )
        except AwsCallError as exc:
            images, error = _unresolvable(chunk, account, region, repository, exc, home_accounts)
            if error is None:  # no such repository, or a foreign registry that denies: the rest would be the same
                result.update(_unresolvable(keys[start:], account, region, repository, exc, home_accounts)[0])
                break
            result.update(images)
            if error not in errors:
                errors.append(error)
            continue
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
                continue
            failure = failures.get(wanted)
            result[key] = _failed(key, failure)
            if result[key].kind == "unknown":
                code = str(failure.get("failureCode") or "UnknownFailure") if failure else "NoAnswer"
                refused.append(_Refused(key, code, str((failure or {}).get("failureReason") or "")))
    errors.extend(_failure_errors(region, repository, refused))
    if aws.role is not None:  # several accounts: say whose registry failed
        errors = [replace(e, account=account) for e in errors]
    return result, errors


def _unresolvable(
    keys: list[EcrImageKey],
    account: str,
    region: str,
    repository: str,
    exc: AwsCallError,
    home_accounts: Sequence[str],
) -> tuple[dict[EcrImageKey, ResolvedImage], SourceError | None]:
    """A BatchGetImage call failed: a missing repository means missing images; otherwise the images stay
    unknown, and the failure is an error of the run unless another account's registry denied us access."""
    if exc.code == "RepositoryNotFoundException":
        detail = f"repository {repository} does not exist in registry {account} ({region})"
        return {k: ResolvedImage(k, "missing", k.digest, detail=detail) for k in keys}, None
    denied_abroad = exc.code in _ACCESS_DENIED and account not in home_accounts
    if denied_abroad:
        detail = f"registry {account} ({region}) denied ecr:BatchGetImage on {repository}"
    else:
        detail = f"ECR could not be read: registry {account} ({region}) answered {exc.code or 'an error'} (see errors)"
    images = {k: ResolvedImage(k, "unknown", k.digest, detail=detail) for k in keys}
    if denied_abroad:
        return images, None
    log.warning("%s", exc)
    return images, SourceError(f"ecr:{region}", exc.message, exc.code)
