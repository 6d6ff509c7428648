"""EKS bearer tokens made in-process: their form, the signed cluster header, the endpoint boto3 would use,
and their renewal before EKS's 15 minutes run out. Checked with the simulated EKS authenticator, which
recomputes the SigV4 signature as EKS does."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import parse_qs, urlsplit

import botocore.auth
import pytest

from ecrwatch.aws import Aws
from ecrwatch.eks_token import EksTokenSource, make_token
from ecrwatch.errors import CredentialsError
from ecrwatch.sim.kube_auth import TokenRejected, verify_eks_token
from ecrwatch.sim.server import ACCOUNT_ID, SimAWS

REGION = "eu-west-1"


def url_of(token: str) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def secrets(sim_aws: SimAWS) -> dict[str, str]:
    environ = sim_aws.environ()
    return {environ["AWS_ACCESS_KEY_ID"]: environ["AWS_SECRET_ACCESS_KEY"]}


def test_a_token_is_the_unpadded_base64url_of_a_presigned_get_caller_identity(sim_aws: SimAWS) -> None:
    token = make_token(Aws(), REGION, "prod")
    assert token.startswith("k8s-aws-v1.")
    body = token.removeprefix("k8s-aws-v1.")
    assert "=" not in body and "+" not in body and "/" not in body
    url = urlsplit(url_of(token))
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    # AWS_ENDPOINT_URL points boto3 at the simulator; the token's URL follows it, as boto3's own calls do.
    assert f"{url.scheme}://{url.netloc}" == sim_aws.endpoint_url
    assert (query["Action"], query["Version"]) == ("GetCallerIdentity", "2011-06-15")
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Credential"].split("/")[2:4] == [REGION, "sts"]


def test_the_signature_covers_the_cluster_name(sim_aws: SimAWS) -> None:
    token = make_token(Aws(), REGION, "prod")
    now = datetime.datetime.now(datetime.UTC)
    info = verify_eks_token(
        token, cluster_name="prod", secret_keys=secrets(sim_aws), now=now, sts_endpoints=[sim_aws.endpoint_url]
    )
    assert info.region == REGION
    with pytest.raises(TokenRejected) as refused:
        verify_eks_token(
            token, cluster_name="staging", secret_keys=secrets(sim_aws), now=now, sts_endpoints=[sim_aws.endpoint_url]
        )
    assert refused.value.reason == "bad-signature"


def test_without_an_endpoint_override_the_url_is_the_regional_sts_endpoint(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    url = urlsplit(url_of(make_token(Aws(), "ap-southeast-2", "prod")))
    assert (url.scheme, url.netloc) == ("https", "sts.ap-southeast-2.amazonaws.com")


def test_ordinary_sts_calls_on_the_same_client_are_untouched(sim_aws: SimAWS) -> None:
    aws = Aws()
    make_token(aws, REGION, "prod")
    # The cluster header is added only to the presigned request: GetCallerIdentity itself still works.
    assert aws.sts(REGION).get_caller_identity()["Account"] == ACCOUNT_ID
    assert aws.account_id(REGION) == ACCOUNT_ID


def test_no_credentials_is_a_credentials_error(sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialsError):
        make_token(Aws(), REGION, "prod")


def test_a_token_is_reused_then_renewed_before_eks_stops_accepting_it(
    sim_aws: SimAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    elapsed = [0.0]
    # One clock for the renewal decision, botocore's signing time and EKS's check.
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda remove_tzinfo=True: (start + datetime.timedelta(seconds=elapsed[0])).replace(tzinfo=None),
    )
    source = EksTokenSource(Aws(), REGION, "prod", clock=lambda: elapsed[0])
    assert "k8s-aws-v1" not in repr(source)
    first = source.token()
    elapsed[0] = 13 * 60
    assert source.token() == first
    elapsed[0] = 14 * 60 + 30
    renewed = source.token()
    assert renewed != first and source.renewals == 1
    at_16_minutes = start + datetime.timedelta(minutes=16)
    with pytest.raises(TokenRejected) as refused:
        verify_eks_token(
            first,
            cluster_name="prod",
            secret_keys=secrets(sim_aws),
            now=at_16_minutes,
            sts_endpoints=[sim_aws.endpoint_url],
        )
    assert refused.value.reason == "expired"
    info = verify_eks_token(
        renewed,
        cluster_name="prod",
        secret_keys=secrets(sim_aws),
        now=at_16_minutes,
        sts_endpoints=[sim_aws.endpoint_url],
    )
    assert info.signed_at == start + datetime.timedelta(seconds=14 * 60 + 30)


def test_renewal_must_come_before_the_token_lifetime() -> None:
    with pytest.raises(ValueError):
        EksTokenSource(Aws(), REGION, "prod", renew_after=15 * 60)
