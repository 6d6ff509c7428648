"""The one place boto3 clients are made, and where botocore's exceptions become ours.

Clients get botocore's `standard` retry mode with a configurable attempt count (the default of 3 absorbs
only two throttles in a burst) and bounded timeouts. There is no retry layer on top of botocore's.
`AWS_ENDPOINT_URL` and the other boto3 environment variables work unchanged: an endpoint is passed only when
the caller was given one explicitly.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials
from botocore.hooks import EVENT_ALIASES, EventAliaser

from ecrwatch import __version__
from ecrwatch.botocore_data import share_loader
from ecrwatch.errors import AwsCallError, CredentialsError, EcrwatchError, UsageError
from ecrwatch.parsing import parser_factory

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
SHARED_POOL = 64  # connections a client shared by threads may keep: --workers' maximum
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


@dataclass(frozen=True)
class RoleSettings:
    """How other accounts are entered: the role `name` (a path may prefix it: `security/ecrwatch-reader`)
    assumed in each, with `external_id` where its trust policy asks for one. The id is never shown."""

    name: str
    external_id: str | None = field(default=None, repr=False)

    def arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:role/{self.name}"


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    arn: str

    @property
    def partition(self) -> str:
        """The partition the caller's credentials belong to (aws, aws-cn, aws-us-gov, ...)."""
        return self.arn.split(":", 2)[1] if self.arn.count(":") >= 2 else "aws"


class AccountUnavailable(AwsCallError):
    """An account ecrwatch could not enter: its role could not be assumed (or no role was given)."""

    def __init__(self, account: str, message: str, hint: str | None, code: str | None) -> None:
        super().__init__(message, hint, service="sts", operation="AssumeRole", code=code)
        self.account = account


class _Token:
    """Lives exactly as long as its thread's thread-local data (a weak-referenceable object)."""


class InFlight:
    """At most `limit` requests in flight at once, over every client and thread of a run (`--workers`): the
    stages overlap on pools of their own, and this keeps what they ask of AWS and the clusters, together, to
    the number asked for. A thread holds a place from sending a request until its answer is in, not while
    it parses the answer or waits to retry. With no limit set, no place is held.
    """

    def __init__(self) -> None:
        self._places: threading.BoundedSemaphore | None = None
        self._local = threading.local()

    def limit(self, places: int | None) -> None:
        self._places = threading.BoundedSemaphore(places) if places else None

    def acquire(self) -> None:
        box: dict[str, threading.BoundedSemaphore | None] | None = getattr(self._local, "box", None)
        if box is None:
            box = self._local.box = {"held": None}
            self._local.token = token = _Token()
            # A request whose answer could not be parsed never reports back: its place goes with the thread.
            weakref.finalize(token, _release, box)
        places = self._places
        if box["held"] is None and places is not None:
            places.acquire()
            box["held"] = places

    def release(self) -> None:
        box = getattr(self._local, "box", None)
        if box is not None:
            _release(box)

    @contextmanager
    def place(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def before_send(self, **_: Any) -> None:
        self.acquire()  # returns None: botocore sends the request

    def received(self, **_: Any) -> None:
        self.release()


def _release(box: dict[str, threading.BoundedSemaphore | None]) -> None:
    held, box["held"] = box["held"], None
    if held is not None:
        held.release()


class _SharedAliases(EventAliaser):
    """botocore's event-name aliasing with one memo for every session and client of the run. Each client
    copies its session's aliaser with an empty memo, and working out one event name's alias took 67 us: about
    60 names a new client (its handlers, then its first calls), 0.4 s of CPU for an organisation's 100 ECS
    clients. The alias of a name depends on the name and the alias table alone; the memo is shared only by
    aliasers with botocore's own table."""

    _memo: dict[str, str] = {}

    def __init__(self, event_emitter: Any, event_aliases: dict[str, str] | None = None) -> None:
        super().__init__(event_emitter, event_aliases)
        if self._event_aliases == EVENT_ALIASES:  # type: ignore[attr-defined]  # a copy: the same table
            self._alias_name_cache = self._memo


def _share_aliases(core: botocore.session.Session) -> None:
    """`core` emits through a `_SharedAliases` on its own handlers (its clients copy it)."""
    events = _SharedAliases(core._original_handler)  # type: ignore[attr-defined]
    core._events = events  # type: ignore[attr-defined]  # no public setter: the session's own emitter
    core.register_component("event_emitter", events)


class Aws:
    """A boto3 session and one client per service and region made from it, shared by every thread.

    botocore's low-level clients are thread-safe (boto3's documentation) but sessions are not, so creation
    is serialised. A client per thread, as before, cost about 20 ms of CPU and a megabyte or more to make:
    L's check at --workers 16 made 130 of them (peak RSS 304 -> 253 MB with one per service and region).
    """

    def __init__(self, settings: AwsSettings | None = None, *, role: RoleSettings | None = None) -> None:
        self.settings = settings or AwsSettings()
        self.role = role
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self.in_flight = InFlight()
        # Accounts: this Aws acts in the caller's; `account()` enters others, once each, into views of their own.
        self._root: Aws = self
        self._identity: CallerIdentity | None = None
        self._home_region: str | None = None
        self._entered: dict[str, Aws | AccountUnavailable] = {}
        self._entering: dict[str, threading.Lock] = {}
        self._entering_lock = threading.Lock()
        self._sts_clients: dict[tuple[str, str | None, str | None], Any] = {}
        try:
            core = self._core = self._core_session()
            self._session = boto3.Session(profile_name=self.settings.profile, botocore_session=core)
            share_loader(core)  # after the profile is set: its data_path applies
            # Other accounts' sessions share the service models this one loads (each would read them again).
            self._loader = core.get_component("data_loader")
        except botocore.exceptions.ProfileNotFound as exc:
            # The profile may come from AWS_PROFILE rather than --profile: name the one botocore looked for.
            profile = exc.kwargs.get("profile") or self.settings.profile
            source = "--profile" if self.settings.profile is not None else "AWS_PROFILE"
            raise UsageError(
                f"AWS profile {profile!r} (from {source}) was not found",
                "check it against the profiles in ~/.aws/config and ~/.aws/credentials",
            ) from None
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": self.settings.max_attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            user_agent_extra=f"ecrwatch/{__version__}",
            # A client is shared by all threads: room for as many connections as --workers allows (64); a pool
            # opens connections only as they are needed.
            max_pool_connections=SHARED_POOL,
        )

    def _core_session(self) -> botocore.session.Session:
        core = botocore.session.get_session()
        _share_aliases(core)
        # Parsing responses was most of check's CPU time at organisation scale: see parsing.py.
        core.register_component("response_parser_factory", parser_factory())
        # Every attempt of every request (retries included) is sent once, and its answer is in before it
        # is parsed (or it failed: then only response-received is told).
        core.register("before-send", self.in_flight.before_send)
        core.register("before-parse", self.in_flight.received)
        core.register("response-received", self.in_flight.received)
        return core

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
        """The client for `service` in `region`, made on first use and shared by every thread (botocore
        clients are thread-safe; sessions are not, hence the lock). An organisation has many accounts, each
        read for a short while: a client per thread and account would cost more to make than its requests."""
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                client = self._clients[key] = self._core.create_client(service, **kwargs)
            return client

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
        """Fail early, with exit 2, when there are no credentials at all (or only part of them)."""
        with credential_errors():
            credentials = self._session.get_credentials()
        if credentials is None:
            profile = self.settings.profile
            where = (
                f"profile {profile!r} has no credentials"
                if profile
                else "no AWS credentials were found (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                "~/.aws/credentials, SSO, or an instance role)"
            )
            raise CredentialsError(where, "configure credentials, or pass --profile NAME")
        global _credential_source  # one run per process; read by client_error's messages
        # Only static environment credentials are asked for their token: a refreshable one would refresh.
        token = credentials.method == "env" and bool(credentials.token)
        _credential_source = credential_source(credentials.method, self._session.profile_name, token)

    def identity(self, region: str) -> CallerIdentity:
        """Who the credentials are (one GetCallerIdentity a run): the caller's account and partition."""
        if self._identity is None:
            with calling("sts", "GetCallerIdentity", region):
                answer = self.sts(region).get_caller_identity()
            self._identity = CallerIdentity(answer["Account"], answer["Arn"])
            self._home_region = region
        return self._identity

    def account_id(self, region: str) -> str:
        return self.identity(region).account

    # --- other accounts ---

    def account(self, account_id: str) -> Aws:
        """Clients acting in `account_id`: this Aws for the caller's own account (read with the caller's
        credentials, no AssumeRole); another account is entered with the role, once a run, and its clients
        are its own (one account's throttling never holds up another's). Its credentials are botocore's
        refreshable ones: botocore assumes the role again before they expire. A refusal is remembered too,
        and raised as AccountUnavailable every time the account is asked for. Before the caller's identity
        is known (`identity`), every account is read with the caller's clients, as a single-account run."""
        root = self._root
        if root is not self:
            return root.account(account_id)
        identity = self._identity
        if identity is None or account_id == identity.account:
            return self
        known = self._entered.get(account_id)
        if known is None:
            known = self._enter_once(account_id, identity)
        if isinstance(known, AccountUnavailable):
            raise known
        return known

    def _enter_once(self, account_id: str, identity: CallerIdentity) -> Aws | AccountUnavailable:
        with self._entering_lock:
            lock = self._entering.setdefault(account_id, threading.Lock())
        with lock:  # threads asking for one account wait for its single AssumeRole
            known = self._entered.get(account_id)
            if known is None:
                known = self._entered[account_id] = self._enter(account_id, identity)
        return known

    def reader(self, account_id: str) -> Aws:
        """Clients to read `account_id`'s registry or Inspector with: that account's own where it can be
        entered, else the caller's (a registry shared across accounts answers the caller itself)."""
        try:
            return self.account(account_id)
        except AccountUnavailable:
            return self._root

    def entry_failure(self, account_id: str) -> AccountUnavailable | None:
        """Why `account_id` could not be entered, if it was tried and refused."""
        known = self._root._entered.get(account_id)
        return known if isinstance(known, AccountUnavailable) else None

    @property
    def home_region(self) -> str | None:
        """The region the caller's identity was asked in (the run's first), once known."""
        return self._home_region

    @property
    def acting_account(self) -> str | None:
        """The account this Aws's clients act in, once known."""
        return self._identity.account if self._identity else None

    @property
    def account_in_errors(self) -> str | None:
        """The account an error of these clients names: the one they act in when several accounts are read (a
        role was given), so that the error says whose service failed; None in a single-account run."""
        return self.acting_account if self.role is not None else None

    @property
    def is_caller(self) -> bool:
        """Whether these clients use the caller's own credentials (not a role assumed in another account)."""
        return self._root is self

    def _enter(self, account_id: str, identity: CallerIdentity) -> Aws | AccountUnavailable:
        if self.role is None:
            return AccountUnavailable(
                account_id,
                f"account {account_id} was not entered: no --role-name was given",
                "pass --role-name NAME, the role deployed in every account (see `ecrwatch iam-policy --org`)",
                None,
            )
        role_arn = self.role.arn(identity.partition, account_id)
        extra: dict[str, Any] = {"RoleSessionName": "ecrwatch"}
        if self.role.external_id is not None:
            extra["ExternalId"] = self.role.external_id
        kwargs: dict[str, Any] = {"region_name": self._home_region, "config": self._config}
        if self.settings.endpoint_url:
            kwargs["endpoint_url"] = self.settings.endpoint_url
        fetcher = AssumeRoleCredentialFetcher(
            functools.partial(self._sts_client, **kwargs),
            self._session.get_credentials(),
            role_arn,
            extra_args=extra,
        )
        try:
            with calling("sts", "AssumeRole", self._home_region):
                metadata = fetcher.fetch_credentials()
        except CredentialsError:
            raise  # the caller's own credentials were rejected: nothing else can run either
        except AwsCallError as exc:
            return AccountUnavailable(
                account_id,
                f"account {account_id} could not be entered: {exc.message}",
                f"deploy the role {self.role.name} in account {account_id} with a trust policy naming account "
                f"{identity.account} (and the external id, if one is used): see `ecrwatch iam-policy --org`",
                exc.code,
            )
        credentials = RefreshableCredentials.create_from_metadata(
            metadata, refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        return self._view(account_id, role_arn, credentials)

    def _sts_client(self, service: str, **kwargs: Any) -> Any:
        """The STS client AssumeRole is called with: one per set of source credentials, not one per account."""
        key = (service, kwargs.get("aws_access_key_id"), kwargs.get("aws_session_token"))
        with self._lock:
            client = self._sts_clients.get(key)
            if client is None:
                client = self._sts_clients[key] = self._core.create_client(service, **kwargs)
        return client

    def _view(self, account_id: str, role_arn: str, credentials: RefreshableCredentials) -> Aws:
        """An Aws acting in another account: same settings and in-flight bound, its own session and clients."""
        view = Aws.__new__(Aws)
        view.settings, view.role, view.in_flight, view._config = self.settings, self.role, self.in_flight, self._config
        view._lock, view._clients = threading.Lock(), {}
        view._root, view._home_region = self, self._home_region
        view._identity = CallerIdentity(account_id, role_arn)
        view._entered, view._entering, view._entering_lock = {}, {}, threading.Lock()
        view._loader = self._loader
        view._session = self._session  # the caller's: regions and partitions only; clients come from view._core
        view._core = self._account_session(credentials)
        return view

    def _account_session(self, credentials: RefreshableCredentials) -> botocore.session.Session:
        """A botocore session acting with another account's credentials. It starts from a copy of the caller's
        event handlers (botocore's own, boto3's, and the in-flight bound's) and shares its loaded service
        models: a new session registering botocore's ~200 built-in handlers again cost 13 ms of CPU an account
        (0.7 s of an organisation's 51), against 1 ms for the copy."""
        root = self._core
        # botocore takes the emitter to start from only as a constructor argument; the caller's is private.
        emitter = copy.copy(root._original_handler)  # type: ignore[attr-defined]
        core = botocore.session.Session(event_hooks=emitter, include_builtin_handlers=False)
        _share_aliases(core)
        core.user_agent_name, core.user_agent_version = root.user_agent_name, root.user_agent_version
        core.user_agent_extra = root.user_agent_extra
        if self.settings.profile is not None:  # its settings (ca_bundle, retries, endpoints) apply in every account
            core.set_config_variable("profile", self.settings.profile)
        core.register_component("data_loader", self._loader)
        core.register_component("response_parser_factory", parser_factory())
        core._credentials = credentials  # type: ignore[attr-defined]  # no public setter for refreshable ones
        return core


# Where the credentials of this run come from (no secret: a profile name or variable names), so that a
# rejection can say which credentials to refresh. Set by Aws.check_credentials.
_credential_source: str | None = None


def credential_source(method: str | None, profile: str | None, token: bool) -> str:
    """Where botocore found the credentials, for messages: variable names or a profile name, never values."""
    if method == "env":
        names = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" + (" / AWS_SESSION_TOKEN" if token else "")
        return f"the environment ({names})"
    return f"profile {profile or 'default'!r} ({method or 'unknown method'})"


@contextmanager
def credential_errors() -> Iterator[None]:
    """botocore's credential-resolution failures as a CredentialsError (exit 2) naming what is missing.
    Provider messages are not repeated: a credential process may print anything, secrets included."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsError(
            "no AWS credentials were found",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or pass --profile NAME",
        ) from None
    except botocore.exceptions.PartialCredentialsError as exc:
        missing, provider = exc.kwargs.get("cred_var"), exc.kwargs.get("provider")
        where = "the environment" if provider == "env" else f"the {provider} credentials"
        raise CredentialsError(
            f"incomplete AWS credentials in {where}: {missing} is missing",
            f"set {missing} too, or unset the partial credentials and use --profile NAME",
        ) from None
    except botocore.exceptions.TokenRetrievalError as exc:
        raise CredentialsError(
            "the AWS SSO token could not be refreshed: " + type(exc).__name__,
            "run `aws sso login` for the profile, then try again",
        ) from None
    except botocore.exceptions.CredentialRetrievalError as exc:
        raise CredentialsError(
            f"AWS credentials could not be retrieved from the {exc.kwargs.get('provider')} provider",
            "check the profile's credential_process, role or SSO settings (run with the aws CLI to see why)",
        ) from None
    except botocore.exceptions.InvalidConfigError as exc:
        raise UsageError(f"the AWS configuration is invalid: {exc}", "fix ~/.aws/config") from None


_CONNECTION_FAILURES: dict[type[Exception], tuple[str, str]] = {
    botocore.exceptions.SSLError: (
        "TLS verification of {url} failed",
        "the endpoint's certificate is not trusted: check AWS_CA_BUNDLE and any TLS-intercepting proxy",
    ),
    botocore.exceptions.ProxyConnectionError: ("could not connect to the proxy for {url}", "check HTTPS_PROXY"),
    botocore.exceptions.ConnectTimeoutError: (
        "no connection to {url} within the connect timeout",
        "check the network path to the AWS endpoint, or raise --connect-timeout",
    ),
    botocore.exceptions.EndpointConnectionError: (
        "could not connect to {url}",
        "check the network path to the AWS endpoint (and AWS_ENDPOINT_URL, if set)",
    ),
    botocore.exceptions.ReadTimeoutError: (
        "{url} did not answer within the read timeout",
        "the endpoint is slow or stalled: retry later, or raise --read-timeout",
    ),
    botocore.exceptions.ConnectionClosedError: (
        "{url} closed the connection before answering",
        "retry later; check any proxy or load balancer on the path",
    ),
}


def _endpoint(exc: Exception) -> str:
    """The endpoint of a connection failure, without the query string or a user:password it may carry."""
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint").split("?", 1)[0]
    return re.sub(r"//[^/@]*@", "//", url)


def connection_error(exc: Exception, service: str, operation: str, region: str | None) -> AwsCallError:
    """A network-level failure (after botocore's retries) as an AwsCallError that says which kind."""
    what, hint = next(
        (texts for kind, texts in _CONNECTION_FAILURES.items() if isinstance(exc, kind)),
        ("the request to {url} failed", "check the network path to the AWS endpoint"),
    )
    return AwsCallError(
        f"{service}:{operation} in {region or 'the default region'}: " + what.format(url=_endpoint(exc)),
        hint,
        service=service,
        operation=operation,
        code=type(exc).__name__,
        region=region,
    )


@contextmanager
def calling(service: str, operation: str, region: str | None) -> Iterator[None]:
    """Turn botocore's exceptions raised inside the block into an AwsCallError (or a CredentialsError)."""
    try:
        with credential_errors():
            yield
    except botocore.exceptions.ClientError as exc:
        raise client_error(exc, service, operation, region) from None
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        raise connection_error(exc, service, operation, region) from None


@contextmanager
def calling_in(aws: Aws, service: str, operation: str, region: str | None) -> Iterator[None]:
    """`calling`, for a call made with `aws`'s clients. Where they act in another account through its role,
    that account refusing the credentials (AWS answers so in a region the account has not opted into) is a
    failure of that account (AwsCallError, exit 3), not the run's exit 2: the caller's own credentials are not
    in question, and every other account can still be read."""
    try:
        with calling(service, operation, region):
            yield
    except CredentialsError as exc:
        if aws.is_caller:
            raise
        account = aws.acting_account
        where = f" in {region}" if region else ""
        role = aws.role.name if aws.role is not None else "its role"
        raise AwsCallError(
            f"account {account} refused the credentials of role {role} ({exc.code or 'no code'}) calling "
            f"{service}:{operation}{where}",
            f"check that account {account} has opted into {region or 'the region'} and still lets the role be "
            "assumed; the other accounts were read",
            service=service,
            operation=operation,
            code=exc.code,
            region=region,
        ) from None
    except AwsCallError as exc:
        if not aws.is_caller and exc.code in _ACCESS_DENIED_CODES and aws.role is not None:
            exc.hint = (
                f"grant {service}:{operation} to the role {aws.role.name} in account {aws.acting_account} "
                "(see `ecrwatch iam-policy --org`)"
            )
        raise


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
        source = f" from {_credential_source}" if _credential_source else ""
        refused = CredentialsError(
            f"AWS rejected the credentials{source} ({code}) calling {action}{where}",
            "refresh the credentials (expired session token?) or choose another --profile",
        )
        refused.code = code
        return refused
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
