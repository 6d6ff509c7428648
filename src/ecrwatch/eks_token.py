"""Bearer tokens for Amazon EKS API servers, made in-process from the AWS credentials.

The token is what `aws eks get-token` prints: `k8s-aws-v1.` + unpadded base64url of a presigned STS
`GetCallerIdentity` URL (regional endpoint, `X-Amz-Expires=60`) whose SigV4 signature covers the header
`x-k8s-aws-id: <cluster name>`, so a token made for one cluster is refused by every other. EKS accepts it for
15 minutes after it was signed; `EksTokenSource` makes a new one before that, so a listing that runs long
keeps working.

The URL is presigned by the STS client `Aws.sts(region)` makes, so its endpoint follows boto3's rules
(`AWS_ENDPOINT_URL` included) and its credentials are the session's, refreshed by botocore. A token is a
credential: it is never logged, and nothing here puts it in an exception.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ecrwatch.aws import Aws, calling_in

if TYPE_CHECKING:
    from botocore.awsrequest import AWSRequest
    from mypy_boto3_sts import STSClient

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_EXPIRES = 60  # seconds, as `aws eks get-token` asks; EKS's own window is TOKEN_LIFETIME regardless
TOKEN_LIFETIME = 15 * 60.0  # seconds EKS accepts a token after it was signed
RENEW_AFTER = 14 * 60.0  # a token this old is replaced before its next use

# The cluster name travels from generate_presigned_url's Params to the request context, then into a header
# just before signing: GetCallerIdentity has no such parameter, and a plain call never carries it.
_CLUSTER_PARAM = "EcrwatchEksClusterName"
_CONTEXT_KEY = "ecrwatch_eks_cluster_name"


def _lift_cluster_name(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _CLUSTER_PARAM in params:
        context[_CONTEXT_KEY] = params.pop(_CLUSTER_PARAM)


def _add_cluster_header(request: AWSRequest, **_: Any) -> None:
    name = request.context.get(_CONTEXT_KEY)
    if name:
        request.headers[CLUSTER_ID_HEADER] = name


def _prepare(sts: STSClient) -> None:
    """Register the two handlers on this client (once: unique ids make a second registration a no-op)."""
    events = sts.meta.events
    events.register(
        "provide-client-params.sts.GetCallerIdentity", _lift_cluster_name, unique_id="ecrwatch-eks-token-params"
    )
    events.register("before-sign.sts.GetCallerIdentity", _add_cluster_header, unique_id="ecrwatch-eks-token-header")


def presigned_url(sts: STSClient, cluster_name: str) -> str:
    """The presigned STS GetCallerIdentity URL for `cluster_name` (signed header x-k8s-aws-id)."""
    if not cluster_name:
        raise ValueError("an EKS token needs the cluster's name")
    _prepare(sts)
    return sts.generate_presigned_url(
        "get_caller_identity",
        Params={_CLUSTER_PARAM: cluster_name},
        ExpiresIn=PRESIGN_EXPIRES,
        HttpMethod="GET",
    )


def encode_token(url: str) -> str:
    """`k8s-aws-v1.` + the URL in base64url without padding."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def make_token(aws: Aws, region: str, cluster_name: str) -> str:
    """A new EKS token for `cluster_name`, signed for the cluster's region. Raises CredentialsError when
    there are no usable AWS credentials; in another account (its role's), their refusal is an AwsCallError, the
    cluster's failure (`calling_in`), so the account's other clusters are still read."""
    with calling_in(aws, "sts", "GetCallerIdentity", region):
        return encode_token(presigned_url(aws.sts(region), cluster_name))


class EksTokenSource:
    """The current token for one cluster, renewed when it is `renew_after` seconds old.

    `clock` is monotonic seconds (injectable for tests). Thread-safe; the token is never part of repr.
    """

    def __init__(
        self,
        aws: Aws,
        region: str,
        cluster_name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        renew_after: float = RENEW_AFTER,
    ) -> None:
        if not 0 < renew_after < TOKEN_LIFETIME:
            raise ValueError(f"renew_after must be between 0 and {TOKEN_LIFETIME:.0f} seconds")
        self._aws = aws
        self.region = region
        self.cluster_name = cluster_name
        self._clock = clock
        self._renew_after = renew_after
        self._lock = threading.Lock()
        self._token: str | None = None
        self._made_at = 0.0
        self.renewals = 0  # tokens made after the first, for logs and tests

    def __repr__(self) -> str:
        return f"EksTokenSource(region={self.region!r}, cluster_name={self.cluster_name!r})"

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._made_at >= self._renew_after:
                if self._token is not None:
                    self.renewals += 1
                self._token = make_token(self._aws, self.region, self.cluster_name)
                self._made_at = now
            return self._token
