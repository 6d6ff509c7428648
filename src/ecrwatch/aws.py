"""The one place boto3 clients are made, and where botocore's exceptions become ours.

Clients get botocore's `standard` retry mode with a configurable attempt count (the default of 3 absorbs
only two throttles in a burst) and bounded timeouts. There is no retry layer on top of botocore's.
`AWS_ENDPOINT_URL` and the other boto3 environment variables work unchanged: an endpoint is passed only when
the caller was given one explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
from botocore.config import Config

from ecrwatch import __version__
from ecrwatch.errors import AwsCallError, CredentialsError, EcrwatchError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_inspector2 import Inspector2Client
    from mypy_boto3_sts import STSClient

# Error codes that mean the credentials themselves are the problem: nothing can run until they are fixed.
_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "RequestExpired",
    }
)
_ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True)
class AwsSettings:
    profile: str | None = None
    max_attempts: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    endpoint_url: str | None = None


class Aws:
    """A boto3 session and a per-thread cache of clients made from it.

    botocore sessions are not safe to make clients from concurrently, so creation is serialised; each
    thread then keeps its own clients, as boto3 recommends.
    """

    def __init__(self, settings: AwsSettings | None = None) -> None:
        self.settings = settings or AwsSettings()
        self._lock = threading.Lock()
        self._local = threading.local()
        try:
            self._session = boto3.Session(profile_name=self.settings.profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise UsageError(
                f"AWS profile {self.settings.profile!r} was not found",
                "check --profile against the profiles in ~/.aws/config and ~/.aws/credentials",
            ) from exc
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            user_agent_extra=f"ecrwatch/{__version__}",
        )
        self._account_id: str | None = None

    @property
    def default_region(self) -> str | None:
        return self._session.region_name

    @property
    def available_regions(self) -> frozenset[str]:
        """Every region name botocore knows in any partition (used to validate --region)."""
        names: set[str] = set()
        for partition in self._session.get_available_partitions():
            names.update(self._session.get_available_regions("ecr", partition_name=partition))
        return frozenset(names)

    def client(self, service: str, region: str) -> Any:
        cache: dict[tuple[str, str], Any] | None = getattr(self._local, "clients", None)
        if cache is None:
            cache = self._local.clients = {}
        key = (service, region)
        if key not in cache:
            kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            with self._lock:
                cache[key] = self._session.client(service, **kwargs)  # type: ignore[call-overload]
        return cache[key]

    def ecr(self, region: str) -> ECRClient:
        return self.client("ecr", region)  # type: ignore[no-any-return]

    def ecs(self, region: str) -> ECSClient:
        return self.client("ecs", region)  # type: ignore[no-any-return]

    def eks(self, region: str) -> EKSClient:
        return self.client("eks", region)  # type: ignore[no-any-return]

    def inspector2(self, region: str) -> Inspector2Client:
        return self.client("inspector2", region)  # type: ignore[no-any-return]

    def sts(self, region: str) -> STSClient:
        return self.client("sts", region)  # type: ignore[no-any-return]

    def check_credentials(self) -> None:
        """Fail early, with exit 2, when there are no credentials at all."""
        if self._session.get_credentials() is None:
            profile = self.settings.profile
            where = (
                f"profile {profile!r} has no credentials"
                if profile
                else "no AWS credentials were found (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                "~/.aws/credentials, SSO, or an instance role)"
            )
            raise CredentialsError(where, "configure credentials, or pass --profile NAME")

    def account_id(self, region: str) -> str:
        if self._account_id is None:
            with calling("sts", "GetCallerIdentity", region):
                self._account_id = self.sts(region).get_caller_identity()["Account"]
        return self._account_id


@contextmanager
def calling(service: str, operation: str, region: str | None) -> Iterator[None]:
    """Turn botocore's exceptions raised inside the block into an AwsCallError (or a CredentialsError)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        raise client_error(exc, service, operation, region) from None
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(
            "no AWS credentials were found",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or pass --profile NAME",
        ) from None
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectionClosedError,
    ) as exc:
        raise AwsCallError(
            f"{service}:{operation} in {region or 'the default region'} could not be reached: {type(exc).__name__}",
            "check the network path to the AWS endpoint, or raise --read-timeout / --connect-timeout",
            service=service,
            operation=operation,
            code=type(exc).__name__,
            region=region,
        ) from None
    except botocore.exceptions.TokenRetrievalError as exc:
        raise CredentialsError(
            "the AWS SSO token could not be refreshed: " + type(exc).__name__,
            "run `aws sso login` for the profile, then try again",
        ) from None


def client_error(
    exc: botocore.exceptions.ClientError, service: str, operation: str, region: str | None
) -> EcrwatchError:
    """The typed error for a ClientError: credentials problems are usage errors (exit 2), the rest are
    call failures that name the IAM action."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    message = str(error.get("Message") or "")
    action = f"{service}:{operation}"
    where = f" in {region}" if region else ""
    if code in _CREDENTIAL_CODES:
        return CredentialsError(
            f"AWS rejected the credentials ({code}) calling {action}{where}",
            "refresh the credentials (expired session token?) or choose another --profile",
        )
    hint: str | None
    if code in _ACCESS_DENIED_CODES:
        hint = f"grant the IAM permission {action} to the identity ecrwatch runs as (see `ecrwatch iam-policy`)"
    elif code in _THROTTLING_CODES:
        hint = "the API stayed throttled through botocore's retries; raise --max-attempts or run later"
    else:
        hint = None
    detail = f": {message}" if message else ""
    return AwsCallError(
        f"{action}{where} failed with {code}{detail}",
        hint,
        service=service,
        operation=operation,
        code=code,
        region=region,
    )


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"
