"""How the simulated Kubernetes API checks an EKS bearer token, as EKS's authenticator does.

An EKS token is `k8s-aws-v1.` + unpadded base64url of a presigned STS `GetCallerIdentity` URL whose SigV4
signature covers the header `x-k8s-aws-id: <cluster name>` (what `aws eks get-token` makes). EKS accepts it for
15 minutes after `X-Amz-Date` and only for the cluster named in that signed header. We cannot ask STS, so we
recompute the signature with botocore's own SigV4 signer for the secret key we know.

Like aws-iam-authenticator, a token is accepted only when its URL is an STS endpoint the cluster trusts: https,
path `/`, and the global (`sts.amazonaws.com`, signed for us-east-1) or a regional (`sts.REGION.amazonaws.com`,
signed for REGION) STS host; anything else would let a caller make the server send its token elsewhere. A
simulated cluster also trusts the origins it is given (`sts_endpoints`): the simulated AWS endpoint, which
is plain http on loopback, is trusted exactly, scheme and port included, and nothing else is.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_LIFETIME = datetime.timedelta(minutes=15)  # EKS's window, whatever X-Amz-Expires says
MAX_EXPIRES = 60  # what `aws eks get-token` asks for; the authenticator refuses longer presignatures

_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_ALLOWED_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
_REQUIRED_PARAMS = _ALLOWED_PARAMS - {"X-Amz-Security-Token"}
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
# The STS hosts aws-iam-authenticator knows: global, or regional in the aws, aws-cn, aws-us-gov partitions.
_AWS_STS_HOST = re.compile(r"sts(?:\.(?P<region>[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}))?\.amazonaws\.com(?:\.cn)?")
_GLOBAL_STS_REGION = "us-east-1"


class TokenRejected(Exception):
    """The token is not one this cluster accepts. `reason` is a short code for logs and tests (no secret)."""

    def __init__(self, reason: str, detail: str, amz_date: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.amz_date = amz_date  # the token's X-Amz-Date where it got that far: tells one token from another


@dataclass(frozen=True)
class EksTokenInfo:
    """What a valid token says about its caller: nothing secret."""

    access_key_id: str
    region: str
    signed_at: datetime.datetime
    amz_date: str  # X-Amz-Date as sent, so tests can tell a renewed token from the first one


def encode_eks_token(presigned_url: str) -> str:
    """The bearer token for a presigned STS URL, as `aws eks get-token` encodes it."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(presigned_url.encode()).decode().rstrip("=")


def decode_eks_token(token: str) -> str:
    """The presigned URL inside an EKS token. Raises TokenRejected when it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected("not-eks", "the token does not start with k8s-aws-v1.")
    body = token[len(TOKEN_PREFIX) :]
    if "=" in body:
        raise TokenRejected("malformed", "the token's base64 is padded")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise TokenRejected("malformed", f"the token is not base64url: {exc}") from None


def verify_eks_token(
    token: str,
    *,
    cluster_name: str,
    secret_keys: Mapping[str, str],
    now: datetime.datetime,
    sts_endpoints: Collection[str] = (),
) -> EksTokenInfo:
    """Accept `token` for `cluster_name` at `now`, or raise TokenRejected saying why.

    `secret_keys` maps the access key ids we know to their secret keys; `sts_endpoints` lists origins
    (`scheme://host[:port]`) trusted besides AWS's own STS endpoints.
    """
    url = urlsplit(decode_eks_token(token))
    if not url.scheme or not url.netloc:
        raise TokenRejected("malformed", "the token is not a URL")
    signing_region = _trusted_endpoint(url.scheme, url.netloc, sts_endpoints)
    if url.path != "/":
        raise TokenRejected("malformed", "the token's URL path is not /")
    params: dict[str, str] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        if key in params:
            raise TokenRejected("malformed", f"the token's URL repeats {key}")
        params[key] = value
    unexpected = sorted(set(params) - _ALLOWED_PARAMS)
    missing = sorted(_REQUIRED_PARAMS - set(params))
    if unexpected or missing:
        raise TokenRejected("malformed", f"unexpected parameters {unexpected}, missing {missing}")
    if params["Action"] != "GetCallerIdentity" or params["Version"] != "2011-06-15":
        raise TokenRejected("malformed", "the token's URL is not an STS GetCallerIdentity request")
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise TokenRejected("malformed", "the token is not signed with AWS4-HMAC-SHA256")
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[3] != "sts" or scope[4] != "aws4_request":
        raise TokenRejected("malformed", "X-Amz-Credential is not an STS credential scope")
    access_key, scope_date, region = scope[0], scope[1], scope[2]
    if signing_region is not None and region != signing_region:
        raise TokenRejected("wrong-region", f"{url.netloc} answers requests signed for {signing_region}, not {region}")
    amz_date = params["X-Amz-Date"]
    try:
        signed_at = datetime.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise TokenRejected("malformed", "X-Amz-Date is not a SigV4 timestamp") from None
    if scope_date != amz_date[:8]:
        raise TokenRejected("malformed", "X-Amz-Credential's date is not X-Amz-Date's", amz_date)
    if not params["X-Amz-Expires"].isdigit() or not 0 < int(params["X-Amz-Expires"]) <= MAX_EXPIRES:
        raise TokenRejected("malformed", f"X-Amz-Expires must be 1..{MAX_EXPIRES} seconds", amz_date)
    if now - signed_at > TOKEN_LIFETIME:
        raise TokenRejected("expired", "the token is older than 15 minutes", amz_date)
    if signed_at - now > TOKEN_LIFETIME:
        raise TokenRejected("future", "X-Amz-Date is in the future", amz_date)
    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    if set(signed_headers) != {"host", CLUSTER_ID_HEADER}:
        raise TokenRejected("malformed", f"X-Amz-SignedHeaders must be host;{CLUSTER_ID_HEADER}", amz_date)
    secret = secret_keys.get(access_key)
    if secret is None:
        raise TokenRejected("unknown-key", "STS does not know the token's access key", amz_date)
    expected = _signature(url.scheme, url.netloc, url.query, access_key, secret, region, amz_date, cluster_name)
    if not _SIGNATURE.match(params["X-Amz-Signature"]) or not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise TokenRejected("bad-signature", "the signature does not match this cluster's name", amz_date)
    return EksTokenInfo(access_key, region, signed_at, amz_date)


def _trusted_endpoint(scheme: str, netloc: str, sts_endpoints: Collection[str]) -> str | None:
    """Refuse a URL that is not a trusted STS endpoint. Returns the region an AWS STS host signs for (None
    for an endpoint trusted by origin)."""
    origin = f"{scheme}://{netloc}".lower()
    if origin in {e.lower().rstrip("/") for e in sts_endpoints}:
        return None
    if scheme != "https":
        raise TokenRejected("wrong-scheme", f"unexpected scheme {scheme!r} in the token's URL")
    host = netloc.lower().removesuffix(":443")
    match = _AWS_STS_HOST.fullmatch(host)
    if match is None:
        raise TokenRejected("wrong-host", f"the token's URL does not name an STS endpoint: {netloc}")
    return match.group("region") or _GLOBAL_STS_REGION


def _signature(
    scheme: str, netloc: str, query: str, access_key: str, secret: str, region: str, amz_date: str, cluster: str
) -> str:
    """The SigV4 query signature botocore computes for this URL with `x-k8s-aws-id: cluster` signed."""
    unsigned_query = "&".join(pair for pair in query.split("&") if not pair.startswith("X-Amz-Signature="))
    request = AWSRequest(
        method="GET", url=urlunsplit((scheme, netloc, "/", unsigned_query, "")), headers={CLUSTER_ID_HEADER: cluster}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4QueryAuth(Credentials(access_key, secret), "sts", region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
