"""The simulated Kubernetes API's pure parts: EKS token checks, continue tokens, selectors, certificates."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from ecrwatch.sim.certs import CertificateAuthority
from ecrwatch.sim.kube_auth import TokenRejected, decode_eks_token, encode_eks_token, verify_eks_token
from ecrwatch.sim.kube_store import (
    ApiError,
    decode_continue,
    encode_continue,
    parse_field_selector,
    parse_label_selector,
    resource_type,
)

KEY, SECRET = "AKIDSIMULATEDKEY0001", "simulated/secret/key/0001"
STS_HOST = "sts.eu-west-1.amazonaws.com"


def presigned(
    cluster: str,
    *,
    expires: int = 60,
    session_token: str | None = None,
    endpoint: str = f"https://{STS_HOST}",
    region: str = "eu-west-1",
) -> str:
    """A presigned GetCallerIdentity URL as `aws eks get-token` makes it (botocore presigns offline)."""
    sts = boto3.Session(
        aws_access_key_id=KEY, aws_secret_access_key=SECRET, aws_session_token=session_token, region_name=region
    ).client("sts", endpoint_url=endpoint)

    def add_cluster_header(request: object, **_: object) -> None:
        request.headers["x-k8s-aws-id"] = cluster  # type: ignore[attr-defined]

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    return str(sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=expires, HttpMethod="GET"))


def signed_at(url: str) -> datetime.datetime:
    date = parse_qs(urlsplit(url).query)["X-Amz-Date"][0]
    return datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)


def verify(
    token: str, cluster: str = "prod", now: datetime.datetime | None = None, sts_endpoints: tuple[str, ...] = ()
) -> str:
    """The reason a token is refused, or "ok"."""
    try:
        url = decode_eks_token(token)
        moment = now or signed_at(url)
    except (TokenRejected, KeyError, ValueError):
        moment = datetime.datetime.now(datetime.UTC)
    try:
        verify_eks_token(
            token, cluster_name=cluster, secret_keys={KEY: SECRET}, now=moment, sts_endpoints=sts_endpoints
        )
    except TokenRejected as rejected:
        return rejected.reason
    return "ok"


def test_a_token_is_the_unpadded_base64url_of_the_presigned_url() -> None:
    url = presigned("prod")
    token = encode_eks_token(url)
    assert token.startswith("k8s-aws-v1.") and "=" not in token and "+" not in token and "/" not in token
    assert decode_eks_token(token) == url
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"] and query["X-Amz-Expires"] == ["60"]


def test_only_the_named_cluster_within_15_minutes_accepts_a_token() -> None:
    url = presigned("prod")
    token, issued = encode_eks_token(url), signed_at(url)
    assert verify(token) == "ok"
    assert verify(token, cluster="prod-2") == "bad-signature"
    assert verify(token, now=issued + datetime.timedelta(minutes=14, seconds=59)) == "ok"
    assert verify(token, now=issued + datetime.timedelta(minutes=15, seconds=1)) == "expired"
    assert verify(token, now=issued - datetime.timedelta(minutes=16)) == "future"
    try:
        verify_eks_token(token, cluster_name="prod", secret_keys={}, now=issued)
    except TokenRejected as rejected:
        assert rejected.reason == "unknown-key"
        assert SECRET not in str(rejected) and "Signature" not in str(rejected)
    else:
        pytest.fail("a token from an access key STS does not know was accepted")


@pytest.mark.parametrize(
    ("endpoint", "region", "reason"),
    [
        (f"https://{STS_HOST}", "eu-west-1", "ok"),
        ("https://sts.amazonaws.com", "us-east-1", "ok"),  # the global endpoint signs for us-east-1
        ("https://sts.cn-north-1.amazonaws.com.cn", "cn-north-1", "ok"),
        (f"https://{STS_HOST}:443", "eu-west-1", "ok"),
        (f"http://{STS_HOST}", "eu-west-1", "wrong-scheme"),  # the token would travel in clear
        ("https://attacker.example.com", "eu-west-1", "wrong-host"),
        (f"https://{STS_HOST}.attacker.example.com", "eu-west-1", "wrong-host"),
        (f"https://{STS_HOST}:8443", "eu-west-1", "wrong-host"),
        ("https://sts.amazonaws.com", "eu-west-1", "wrong-region"),
        ("https://sts.us-east-1.amazonaws.com", "eu-west-1", "wrong-region"),
        ("http://127.0.0.1:4566", "eu-west-1", "wrong-scheme"),  # a local endpoint the cluster was not told of
    ],
)
def test_only_a_token_presigned_for_an_sts_endpoint_is_accepted(endpoint: str, region: str, reason: str) -> None:
    token = encode_eks_token(presigned("prod", endpoint=endpoint, region=region))
    assert verify(token) == reason


def test_a_cluster_trusts_the_simulated_endpoint_it_is_given_and_only_that_one() -> None:
    trusted = ("http://127.0.0.1:4566",)
    assert verify(encode_eks_token(presigned("prod", endpoint="http://127.0.0.1:4566")), sts_endpoints=trusted) == "ok"
    other_port = encode_eks_token(presigned("prod", endpoint="http://127.0.0.1:4567"))
    assert verify(other_port, sts_endpoints=trusted) == "wrong-scheme"
    elsewhere = encode_eks_token(presigned("prod", endpoint="https://127.0.0.1:4566"))
    assert verify(elsewhere, sts_endpoints=trusted) == "wrong-host"


def test_temporary_credentials_sign_their_session_token_too() -> None:
    url = presigned("prod", session_token="FQoGZXIvYXdzEXAMPLE")
    assert "X-Amz-Security-Token=" in url
    assert verify(encode_eks_token(url)) == "ok"
    assert verify(encode_eks_token(url.replace("EXAMPLE", "EXAMPLF"))) == "bad-signature"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda url: url.replace("X-Amz-Expires=60", "X-Amz-Expires=900"), "malformed"),
        (lambda url: url.replace("Action=GetCallerIdentity", "Action=GetSessionToken"), "malformed"),
        (lambda url: url + "&Extra=1", "malformed"),
        (lambda url: url.replace("host%3Bx-k8s-aws-id", "host"), "malformed"),
        (lambda url: url.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "malformed"),
        (lambda url: url.replace("%2Fsts%2Faws4_request", "%2Fiam%2Faws4_request"), "malformed"),
        (lambda url: url.replace("?", "/other?"), "malformed"),
        (lambda url: url.replace("https://", "ftp://"), "wrong-scheme"),
    ],
)
def test_a_url_that_is_not_what_get_token_makes_is_refused(mangle: object, reason: str) -> None:
    original = presigned("prod")
    url = mangle(original)  # type: ignore[operator]
    assert url != original
    assert verify(encode_eks_token(url)) == reason


def test_tokens_that_are_not_eks_tokens() -> None:
    padded = base64.urlsafe_b64encode(b"https://sts/?a=1").decode()
    assert padded.endswith("=")
    assert verify("k8s-aws-v1." + padded) == "malformed"
    assert verify("k8s-aws-v1.%%%") == "malformed"
    assert verify("Bearer-something") == "not-eks"


# --- continue tokens and selectors ---


@given(st.integers(min_value=1, max_value=2**53), st.from_regex(r"[a-z0-9-]{1,20}/[a-z0-9.-]{1,40}", fullmatch=True))
def test_continue_tokens_round_trip(rv: int, key: str) -> None:
    token = encode_continue(rv, key)
    assert "=" not in token
    assert decode_continue(token) == (rv, key + "\x00")


@pytest.mark.parametrize("token", ["", "!!!", base64.urlsafe_b64encode(b'{"v":"x","rv":1,"start":"a"}').decode()])
def test_continue_tokens_the_server_did_not_make_are_bad_requests(token: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_continue(token)
    assert caught.value.code == 400 and caught.value.message.startswith("continue key is not valid")


labels_strategy = st.dictionaries(st.sampled_from(["app", "tier", "team"]), st.sampled_from(["a", "b", "c"]))


@given(labels_strategy, st.sampled_from(["app", "tier"]), st.sampled_from(["a", "b"]))
def test_label_selectors_match_as_the_api_server_does(labels: dict[str, str], key: str, value: str) -> None:
    def matches(selector: str) -> bool:
        return all(requirement(labels) for requirement in parse_label_selector(selector))

    assert matches(f"{key}={value}") == (labels.get(key) == value)
    assert matches(f"{key}!={value}") == (labels.get(key) != value)
    assert matches(f"{key} in ({value},c)") == (labels.get(key) in (value, "c"))
    assert matches(f"{key} notin ({value})") == (labels.get(key) != value)
    assert matches(key) == (key in labels) != matches(f"!{key}")
    assert matches(f"{key}={value},!zone") == (labels.get(key) == value)


def test_field_selectors_only_on_indexed_fields() -> None:
    pods = resource_type("pods")
    (requirement,) = parse_field_selector("status.phase!=Failed", pods)
    phase_index = pods.selectable.index("status.phase")
    fields = ["x"] * len(pods.selectable)
    fields[phase_index] = "Failed"
    assert requirement(tuple(fields)) is False
    with pytest.raises(ApiError, match=r"field label not supported: status\.hostIP"):
        parse_field_selector("status.hostIP=10.0.0.1", pods)
    with pytest.raises(ApiError, match="can't understand"):
        parse_field_selector("status.phase", pods)


# --- certificates ---


def test_the_server_certificate_names_loopback_and_chains_to_its_ca() -> None:
    ca = CertificateAuthority.create()
    server = x509.load_pem_x509_certificate(ca.issue_server().cert_pem)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    server.verify_directly_issued_by(ca_cert)
    other = x509.load_pem_x509_certificate(CertificateAuthority.create().cert_pem)
    with pytest.raises(InvalidSignature):
        server.verify_directly_issued_by(other)


def test_a_client_certificate_carries_user_and_groups_as_kubernetes_reads_them() -> None:
    client = x509.load_pem_x509_certificate(
        CertificateAuthority.create().issue_client("alice", ["dev", "ops"]).cert_pem
    )
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert [a.value for a in client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "ops"]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
