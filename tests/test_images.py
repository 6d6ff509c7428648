"""Image reference, digest and imageID parsing: the forms real workloads report, and properties over many more."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrwatch.images import (
    ImageReferenceError,
    ecr_registry_host,
    image_id_reference,
    is_digest,
    parse_ecr_host,
    parse_image_id,
    parse_image_reference,
)
from ecrwatch.models import ImageRef

D1 = "sha256:" + "0123456789abcdef" * 4
D2 = "sha256:" + "fedcba9876543210" * 4
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def ref(
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None = None,
    account: str | None = None,
    region: str | None = None,
) -> ImageRef:
    return ImageRef(registry, repository, tag, digest, account, region)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Docker Hub, every spelling
        ("nginx", ref("docker.io", "library/nginx", "latest")),
        ("nginx:1.25-alpine", ref("docker.io", "library/nginx", "1.25-alpine")),
        ("library/nginx", ref("docker.io", "library/nginx", "latest")),
        ("docker.io/nginx", ref("docker.io", "library/nginx", "latest")),
        ("docker.io/library/nginx:1", ref("docker.io", "library/nginx", "1")),
        ("index.docker.io/nginx", ref("docker.io", "library/nginx", "latest")),
        ("registry-1.docker.io/bitnami/redis:7", ref("docker.io", "bitnami/redis", "7")),
        ("bitnami/redis", ref("docker.io", "bitnami/redis", "latest")),
        (f"nginx@{D1}", ref("docker.io", "library/nginx", None, D1)),
        (f"nginx:1.25@{D1}", ref("docker.io", "library/nginx", "1.25", D1)),
        # hosts, ports, nested paths
        ("localhost/app", ref("localhost", "app", "latest")),
        ("localhost:5000/team/app:v2", ref("localhost:5000", "team/app", "v2")),
        ("registry.example.com:8443/a/b/c/d:tag_1", ref("registry.example.com:8443", "a/b/c/d", "tag_1")),
        ("10.0.0.1:5000/x@" + D2, ref("10.0.0.1:5000", "x", None, D2)),
        ("[::1]:5000/app:1", ref("[::1]:5000", "app", "1")),
        ("MyRegistry/app", ref("MyRegistry", "app", "latest")),  # upper case makes it a host, as in Docker
        ("ghcr.io/org/tool:v1.2.3", ref("ghcr.io", "org/tool", "v1.2.3")),
        ("quay.io/a__b/c--d.e_f:X", ref("quay.io", "a__b/c--d.e_f", "X")),
        ("public.ecr.aws/eks-distro/kubernetes/pause:3.9", ref("public.ecr.aws", "eks-distro/kubernetes/pause", "3.9")),
        # private ECR, every host form
        (f"{ECR}/team/api:v1", ref(ECR, "team/api", "v1", None, "123456789012", "us-east-1")),
        (f"{ECR}/team/api@{D1}", ref(ECR, "team/api", None, D1, "123456789012", "us-east-1")),
        (f"{ECR}/api:v1@{D1}", ref(ECR, "api", "v1", D1, "123456789012", "us-east-1")),
        (f"{ECR}/api", ref(ECR, "api", "latest", None, "123456789012", "us-east-1")),
        (
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1",
            ref("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "app", "1", None, "210987654321", "cn-north-1"),
        ),
        (
            "111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1",
            ref(
                "111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                "app",
                "1",
                None,
                "111122223333",
                "us-gov-west-1",
            ),
        ),
        (
            "111122223333.dkr-ecr.eu-west-1.on.aws/app:1",
            ref("111122223333.dkr-ecr.eu-west-1.on.aws", "app", "1", None, "111122223333", "eu-west-1"),
        ),
        (
            "111122223333.dkr-ecr-fips.us-east-2.on.aws/app:1",
            ref("111122223333.dkr-ecr-fips.us-east-2.on.aws", "app", "1", None, "111122223333", "us-east-2"),
        ),
        (
            "602401143452.dkr.ecr.ap-southeast-2.amazonaws.com/eks/coredns:v1.11.1-eksbuild.4",
            ref(
                "602401143452.dkr.ecr.ap-southeast-2.amazonaws.com",
                "eks/coredns",
                "v1.11.1-eksbuild.4",
                None,
                "602401143452",
                "ap-southeast-2",
            ),
        ),
        (
            f"{ECR}:443/app:1",
            ref(f"{ECR}:443", "app", "1", None, "123456789012", "us-east-1"),
        ),
    ],
)
def test_parses_reference(text: str, expected: ImageRef) -> None:
    assert parse_image_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        (f"nginx:1@{D1}", f"docker.io/library/nginx@{D1}"),
        (f"{ECR}/team/api:v1", f"{ECR}/team/api:v1"),
        ("localhost:5000/a", "localhost:5000/a:latest"),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    assert parse_image_reference(text).canonical == canonical


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("Nginx", "lower-case"),
        ("ghcr.io/Org/tool", "lower-case"),
        ("nginx:", "tag"),
        ("nginx:-bad", "tag"),
        ("nginx:" + "a" * 129, "tag"),
        ("nginx@sha256:abc", "digest"),
        ("nginx@sha256:" + "A" * 64, "lower-case hex"),
        ("nginx@sha512:" + "a" * 128, "sha512"),
        ("nginx@" + "a" * 64, "digest"),
        (":1", "no repository"),
        ("@" + D1, "no repository"),
        ("a//b", "not a valid name"),
        ("a/b/", "not a valid name"),
        ("-a", "not a valid name"),
        ("a_-b", "not a valid name"),
        ("a___b", "not a valid name"),
        ("bad_host.com/app", "registry host"),
        ("-host.com/app", "registry host"),
        ("host.com:port/app", "registry host"),
        ("nginx latest", "not a valid name"),
        (" nginx", "not a valid name"),
        ("0123456789abcdef" * 4, "image id"),
        ("docker-pullable://nginx", "registry host"),
        ("x.io/" + "a" * 251, "255"),
    ],
)
def test_rejects_invalid_reference(text: str, says: str) -> None:
    with pytest.raises(ImageReferenceError) as raised:
        parse_image_reference(text)
    assert repr(text) in str(raised.value)  # the message names the input
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "host",
    [
        "public.ecr.aws",
        "ecr.aws",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "12345678901.dkr.ecr.us-east-1.amazonaws.com",  # 11 digits
        "123456789012.dkr.ecr.amazonaws.com",
        "api.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.on.aws",
    ],
)
def test_hosts_that_are_not_private_ecr(host: str) -> None:
    assert parse_ecr_host(host) is None
    assert not parse_image_reference(f"{host}/app:1").is_ecr


def test_ecr_host_recognised_in_any_case_with_region_lower_cased() -> None:
    parsed = parse_image_reference("123456789012.DKR.ECR.US-WEST-2.AMAZONAWS.COM/app:1")
    assert (parsed.ecr_account, parsed.ecr_region) == ("123456789012", "us-west-2")


@pytest.mark.parametrize(
    ("account", "region", "host"),
    [
        ("123456789012", "us-east-1", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        ("123456789012", "us-gov-west-1", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"),
        ("123456789012", "cn-north-1", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
        ("123456789012", "cn-northwest-1", "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
        ("123456789012", "us-iso-east-1", "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
        ("123456789012", "us-isob-east-1", "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
    ],
)
def test_ecr_registry_host(account: str, region: str, host: str) -> None:
    assert ecr_registry_host(account, region) == host
    # and the host parses back to the same registry
    assert parse_ecr_host(host) == (account, region)


@pytest.mark.parametrize(("account", "region"), [("1234", "us-east-1"), ("123456789012", "useast1"), ("", "")])
def test_ecr_registry_host_rejects_bad_input(account: str, region: str) -> None:
    with pytest.raises(ValueError):
        ecr_registry_host(account, region)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (D1, True),
        ("sha256:" + "0" * 63, False),
        ("sha256:" + "A" * 64, False),
        ("sha512:" + "a" * 128, False),
        ("0" * 64, False),
        ("", False),
        (D1 + "\n", False),
    ],
)
def test_is_digest(text: str, expected: bool) -> None:
    assert is_digest(text) is expected


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"docker-pullable://{ECR}/team/api@{D1}", D1),
        (f"{ECR}/team/api@{D1}", D1),
        (f"docker.io/library/nginx@{D2}", D2),
        (f"docker-pullable://nginx@{D2}", D2),
        (D1, None),  # a bare sha256: is the image config id, not a manifest digest
        (f"docker://{D1}", None),
        ("docker://" + "0" * 64, None),
        ("", None),
        ("docker-pullable://nginx:1.25", None),  # names no digest at all
    ],
)
def test_parse_image_id(image_id: str, digest: str | None) -> None:
    assert parse_image_id(image_id) == digest


def test_image_id_names_the_repository_it_was_pulled_from() -> None:
    # The mirror the runtime pulled from can differ from the registry the pod spec names.
    mirrored = image_id_reference(f"docker-pullable://mirror.example.com/library/nginx@{D1}")
    assert mirrored == ref("mirror.example.com", "library/nginx", None, D1)
    assert image_id_reference(f"{ECR}/api@{D2}") == ref(ECR, "api", None, D2, "123456789012", "us-east-1")
    assert image_id_reference(D1) is None
    assert image_id_reference("") is None


@pytest.mark.parametrize("image_id", ["containerd://abc", "docker-pullable://Bad/Name@x", "nginx@sha512:" + "a" * 128])
def test_parse_image_id_rejects_malformed(image_id: str) -> None:
    with pytest.raises(ImageReferenceError) as raised:
        parse_image_id(image_id)
    assert repr(image_id) in str(raised.value)


# --- properties ---------------------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def _components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


_paths = st.lists(_components(), min_size=1, max_size=4).map("/".join)
_labels = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.sampled_from(
        [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "localhost",
            "localhost:5000",
            "public.ecr.aws",
            ECR,
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr-ecr.eu-west-1.on.aws",
            "[fe80::1]:443",
            "Upper",
        ]
    ),
    st.builds(
        lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
        st.lists(
            st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?", fullmatch=True), min_size=2, max_size=3
        ),
        st.none() | st.integers(1, 65535),
    ),
)
_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def _references(draw: st.DrawFn) -> tuple[str, str | None, str, str | None, str | None]:
    host = draw(st.none() | _hosts)
    path = draw(_paths)
    if host is None and "." in path.split("/")[0] and "/" in path:
        host = "docker.io"  # a first component with a dot would name a host, not a Docker Hub path
    tag = draw(st.none() | _tags)
    digest = draw(st.none() | _digests)
    text = (f"{host}/" if host else "") + path + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return text, host, path, tag, digest


@given(_references())
def test_generated_references_parse_to_their_parts_and_round_trip(
    case: tuple[str, str | None, str, str | None, str | None],
) -> None:
    text, host, path, tag, digest = case
    parsed = parse_image_reference(text)
    assert parsed.digest == digest
    assert parsed.tag == (tag if tag or digest else "latest")
    if host is not None and host not in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert (parsed.registry, parsed.repository) == (host, path)
    else:
        assert parsed.registry == "docker.io"
        assert parsed.repository == (path if "/" in path else f"library/{path}")

    again = parse_image_reference(parsed.canonical)
    # The canonical form names a digest alone where there is one (schema: HOST/REPOSITORY@DIGEST), so the tag
    # that came with a digest is the one thing it does not carry.
    expected = dataclasses.replace(parsed, tag=None) if parsed.digest else parsed
    assert again == expected
    assert again.canonical == parsed.canonical


_reference_alphabet = st.sampled_from([*"abcXYZ019.:/@_-[]+ sha256", "sha256:", "docker-pullable://", "://"])


@given(st.one_of(st.text(), st.lists(_reference_alphabet, max_size=20).map("".join)))
def test_parsers_raise_only_image_reference_error(text: str) -> None:
    for parse in (parse_image_reference, parse_image_id, image_id_reference):
        try:
            result = parse(text)
        except ImageReferenceError as exc:
            assert repr(text) in str(exc)
            continue
        if isinstance(result, ImageRef):
            assert result.digest is None or is_digest(result.digest)
            assert result.tag is not None or result.digest is not None
        elif isinstance(result, str):
            assert is_digest(result)


@given(_digests, _paths)
def test_image_id_digest_is_the_one_after_the_at(digest: str, path: str) -> None:
    assert parse_image_id(f"docker-pullable://{ECR}/{path}@{digest}") == digest
    assert parse_image_id(f"{ECR}/{path}@{digest}") == digest
    assert parse_image_id(digest) is None
