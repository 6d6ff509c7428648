"""Pure parsing of image references, digests and Kubernetes imageID strings. No I/O.

The reference grammar is Docker's (github.com/distribution/reference):

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path
    domain    := host [":" port]            host: DNS name, IPv4, or [IPv6]
    path      := component ["/" component]*  component: [a-z0-9]+ joined by "." "_" "__" or "-"+
    tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest    := algorithm ":" hex

Decisions, where Docker leaves room or ecrwatch needs more:

- The first path component is a host when it contains "." or ":", is "localhost", or has an upper-case
  letter (Docker's own rule: "MyHost/app" pulls from host MyHost). Otherwise the host is docker.io.
- docker.io, index.docker.io and registry-1.docker.io are one registry, "docker.io"; a one-component
  Docker Hub path gets "library/".
- A reference with neither tag nor digest means tag "latest": ImageRef.tag is "latest", so every stage
  sees the tag that is actually pulled. A reference with a digest and no tag keeps tag None.
- Only sha256 digests (64 lower-case hex) are accepted. Another algorithm (sha512, ...) is valid OCI but
  neither ECR nor Inspector reports one, so nothing could be matched against it; it is rejected with
  ImageReferenceError rather than silently reported as something it is not.
- Host names keep the case they were written in (Docker does too); ECR hosts are recognised in any case.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ecrwatch.models import ImageRef
from ecrwatch.regions import REGION_PATTERN

__all__ = [
    "DOCKER_HUB",
    "ImageReferenceError",
    "ecr_registry_host",
    "image_id_reference",
    "is_digest",
    "parse_ecr_host",
    "parse_image_id",
    "parse_image_reference",
]

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_NAME_MAX = 255  # Docker's limit on HOST/PATH, checked on the normalised name

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?",
    re.ASCII,
)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_DIGEST_GRAMMAR_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", re.ASCII)
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_HEX64_RE = re.compile(r"[0-9a-f]{64}", re.ASCII)

# Private ECR registry hosts (the Docker/OCI endpoints, not the API ones): IPv4 dkr.ecr and dkr.ecr-fips
# under each partition's DNS suffix (botocore's partitions.json), and the dual-stack dkr-ecr[-fips] under
# on.aws. public.ecr.aws is ECR Public: not a private registry, no account, no Inspector enhanced scanning.
_REGION = REGION_PATTERN
_ECR_HOST_RE = re.compile(
    rf"(?P<account>[0-9]{{12}})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>{_REGION})"
    r"\.(?:amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk"
    r"|csp\.hci\.ic\.gov)"
    rf"|dkr-ecr(?:-fips)?\.(?P<ds_region>{_REGION})\.on\.aws)",
    re.ASCII | re.IGNORECASE,
)
_ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)
_REGION_RE = re.compile(_REGION, re.ASCII)
# Region prefix -> DNS suffix of its partition; the longest prefix wins (us-isob- before us-iso-).
_PARTITION_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("eusc-", "amazonaws.eu"),
    ("cn-", "amazonaws.com.cn"),
)

_IMAGE_ID_SCHEMES = ("docker-pullable://", "docker://")


class ImageReferenceError(ValueError):
    """Text that is not a valid image reference (or imageID); the message names the text and why."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid image reference {text!r}: {reason}")
        self.text = text
        self.reason = reason


def is_digest(text: str) -> bool:
    """True for a digest ecrwatch can match: "sha256:" and 64 lower-case hex digits."""
    return _SHA256_RE.fullmatch(text) is not None


def parse_ecr_host(host: str) -> tuple[str, str] | None:
    """(account, region) when `host` (optionally with :port) is a private ECR registry, else None."""
    name = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    match = _ECR_HOST_RE.fullmatch(name)
    if match is None:
        return None
    region = match.group("region") or match.group("ds_region")
    return match.group("account"), region.lower()


@lru_cache(maxsize=1024)  # the join asks once per running container: tens of thousands, for a few registries
def ecr_registry_host(account: str, region: str) -> str:
    """The IPv4 Docker endpoint of an account's private registry in a region, in that region's partition:
    123456789012.dkr.ecr.us-east-1.amazonaws.com, ...dkr.ecr.cn-north-1.amazonaws.com.cn."""
    if _ACCOUNT_RE.fullmatch(account) is None:
        raise ValueError(f"invalid AWS account id {account!r}: expected 12 digits")
    if _REGION_RE.fullmatch(region) is None:
        raise ValueError(f"invalid AWS region {region!r}: expected a name like us-east-1")
    suffix = next((sfx for prefix, sfx in _PARTITION_SUFFIXES if region.startswith(prefix)), "amazonaws.com")
    return f"{account}.dkr.ecr.{region}.{suffix}"


def _parse_digest(text: str, digest: str) -> str:
    if _DIGEST_GRAMMAR_RE.fullmatch(digest) is None:
        raise ImageReferenceError(text, f"{digest!r} is not a digest (expected sha256:<64 hex digits>)")
    algorithm = digest.split(":", 1)[0]
    if algorithm != "sha256":
        raise ImageReferenceError(
            text, f"digest algorithm {algorithm!r} is not supported: ECR and Inspector identify images by sha256"
        )
    if _SHA256_RE.fullmatch(digest) is None:
        raise ImageReferenceError(text, "a sha256 digest is 64 lower-case hex digits")
    return digest


def _split_domain(text: str, name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_host = slash and (any(c in first for c in ".:") or first == "localhost" or first != first.lower())
    if not is_host:
        return DOCKER_HUB, name
    if _DOMAIN_RE.fullmatch(first) is None:
        raise ImageReferenceError(text, f"{first!r} is not a valid registry host")
    return first, rest


def parse_image_reference(text: str) -> ImageRef:
    """Parse an image reference as a container runtime would, normalised (nginx -> docker.io/library/nginx:latest).

    Raises ImageReferenceError (a ValueError) for anything the runtime would refuse to pull, and for a digest
    that is not sha256.
    """
    if not text:
        raise ImageReferenceError(text, "empty")
    if _HEX64_RE.fullmatch(text):
        raise ImageReferenceError(text, "a bare 64-hex string is an image id, not a reference")
    rest, at, digest_text = text.partition("@")
    digest = _parse_digest(text, digest_text) if at else None

    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a colon after the last slash starts the tag; before it, it is a port
        rest, tag = rest[:colon], rest[colon + 1 :]
        if _TAG_RE.fullmatch(tag) is None:
            raise ImageReferenceError(text, f"tag {tag!r} is not valid (letters, digits, _ . -, at most 128)")
    if not rest:
        raise ImageReferenceError(text, "no repository name")

    registry, path = _split_domain(text, rest)
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if _PATH_RE.fullmatch(path) is None:
        if _PATH_RE.fullmatch(path.lower()) is not None:
            raise ImageReferenceError(text, "repository name must be lower-case")
        raise ImageReferenceError(text, f"repository {path!r} is not a valid name")
    if len(registry) + 1 + len(path) > _NAME_MAX:
        raise ImageReferenceError(text, f"name is longer than {_NAME_MAX} characters")

    if tag is None and digest is None:
        tag = "latest"
    ecr = parse_ecr_host(registry)
    return ImageRef(
        registry=registry,
        repository=path,
        tag=tag,
        digest=digest,
        ecr_account=ecr[0] if ecr else None,
        ecr_region=ecr[1] if ecr else None,
    )


def _image_id_body(text: str) -> str | None:
    """The imageID without its scheme; None when it names no manifest digest (empty, or a config id)."""
    if not text:
        return None
    body = text
    if "://" in text:
        scheme = next((s for s in _IMAGE_ID_SCHEMES if text.startswith(s)), None)
        if scheme is None:
            raise ImageReferenceError(text, "unknown imageID scheme (expected docker-pullable:// or docker://)")
        body = text[len(scheme) :]
    # sha256:<hex> alone is the image's config id (the runtime's local image id), not a registry manifest digest.
    if is_digest(body) or _HEX64_RE.fullmatch(body) or not body:
        return None
    return body


def image_id_reference(text: str) -> ImageRef | None:
    """The repository and manifest digest a Kubernetes containerStatuses[].imageID names (it can be a mirror,
    not the spec's registry); None when it names no manifest digest: empty (pending), or a bare config id."""
    body = _image_id_body(text)
    if body is None:
        return None
    try:
        ref = parse_image_reference(body)
    except ImageReferenceError as exc:
        raise ImageReferenceError(text, exc.reason) from None
    return ref if ref.digest else None


def parse_image_id(text: str) -> str | None:
    """The manifest digest in a Kubernetes imageID (docker-pullable://REPO@sha256:..., REPO@sha256:...);
    None for an empty imageID or a bare config id (sha256:..., docker://sha256:...).
    Raises ImageReferenceError for text that is none of these forms."""
    ref = image_id_reference(text)
    return ref.digest if ref else None
