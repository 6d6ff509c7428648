"""The simulated AWS endpoint: moto in server mode behind a WSGI layer of ours.

The layer classifies each request (service, region, operation), counts it, applies injected faults
(latency, throttling, server or access errors), then hands it to one of our service extensions where we
serve that operation, or to moto. Tests read the call log to prove what was and was not called.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from ecrwatch.sim.protocol import SimError, SimRequest, SimResponse, classify, error_response
from ecrwatch.sim.wsgi import KeepAliveWsgiServer

ACCOUNT_ID = "123456789012"  # moto's default account, which our extensions share

T = TypeVar("T")
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class SimService(Protocol):
    """An extension that serves some operations of one service in place of moto."""

    service: str
    operations: frozenset[str]

    def handle(self, request: SimRequest) -> SimResponse | None:
        """Answer the request, or return None to pass it on to moto (after editing `request.body`, if needed)."""

    def reset(self) -> None: ...


@dataclass
class Fault:
    """Injected behaviour for matching requests: wait `latency` seconds, then fail with `error` (if set).

    `operation` None matches every operation of the service, `service` "*" every service. `when` narrows
    to requests whose parameters match (e.g. one cluster). `times` None applies to every matching request.
    """

    service: str
    operation: str | None = None
    region: str | None = None
    when: Callable[[SimRequest], bool] | None = None
    error: str | None = None
    status: int = 400
    message: str = "injected by the simulator"
    times: int | None = None
    latency: float = 0.0
    applied: int = 0

    def matches(self, request: SimRequest) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.service not in ("*", request.service):
            return False
        if self.operation is not None and self.operation != request.operation:
            return False
        if self.region is not None and self.region != request.region:
            return False
        return self.when is None or self.when(request)


@dataclass(frozen=True)
class CallRecord:
    service: str
    region: str
    operation: str
    params: dict[str, Any]
    status: int
    account: str = ""  # the account the request acted in (its credentials')
    answered_at: float = field(default_factory=time.monotonic, compare=False)  # benchmarks' timelines


class CallLog:
    """Every request the endpoint answered, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    def count(self, service: str | None = None, operation: str | None = None, region: str | None = None) -> int:
        return len(list(self.select(service, operation, region)))

    def select(
        self, service: str | None = None, operation: str | None = None, region: str | None = None
    ) -> Iterator[CallRecord]:
        for record in self.records:
            if service not in (None, record.service) or operation not in (None, record.operation):
                continue
            if region in (None, record.region):
                yield record

    def by_operation(self) -> Counter[str]:
        return Counter(f"{r.service}:{r.operation}" for r in self.records)


class Concurrency:
    """How many requests the endpoint is answering at once, and the most it answered at once since the last
    reset (`peak`): what a bound on requests in flight (`--workers`) is tested against. A request counts
    from its arrival (before any injected latency) until its answer is ready, which lies within the time the
    client waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self._peak = 0

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._lock:
            self._now += 1
            self._peak = max(self._peak, self._now)
        try:
            yield
        finally:
            with self._lock:
                self._now -= 1

    @property
    def peak(self) -> int:
        with self._lock:
            return self._peak

    def reset(self) -> None:
        with self._lock:
            self._peak = self._now


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, service: str, operation: str | None = None, **kwargs: Any) -> Fault:
        fault = Fault(service, operation, **kwargs)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def apply(self, request: SimRequest) -> tuple[float, Fault | None]:
        """Total latency for this request, and the error fault that fires, if any."""
        latency, failing = 0.0, None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(request):
                    continue
                if fault.error is None:
                    fault.applied += 1
                    latency += fault.latency
                elif failing is None:
                    fault.applied += 1
                    latency += fault.latency
                    failing = fault
        return latency, failing


def _params(request: SimRequest) -> dict[str, Any]:
    """The parameters the call log keeps: a JSON body's, or a query-protocol form's (STS, Organizations)."""
    try:
        if request.body[:1] in (b"{", b""):
            return request.json()
        return dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    except ValueError:
        return {}


class SimAWS:
    """moto plus our extensions on 127.0.0.1, an ephemeral port. Use as a context manager or start()/stop()."""

    def __init__(self, extensions: Iterable[SimService] = ()) -> None:
        self.calls = CallLog()
        self.faults = Faults()
        self.concurrency = Concurrency()
        self._extensions: dict[tuple[str, str], SimService] = {}
        self._services: list[SimService] = []
        for extension in extensions:
            self.register(extension)
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server: KeepAliveWsgiServer | None = None

    def register(self, extension: SimService) -> None:
        self._services.append(extension)
        for operation in extension.operations:
            self._extensions[(extension.service, operation)] = extension

    def extension(self, kind: type[T]) -> T:
        """The registered extension of this class, for seeding its store: `sim.extension(EcsSim).add_task(...)`."""
        for extension in self._services:
            if isinstance(extension, kind):
                return extension
        raise LookupError(f"no {kind.__name__} is registered")

    # --- lifecycle ---

    def start(self) -> SimAWS:
        # Connections are kept between calls, as AWS keeps them (werkzeug's server closed each after its answer).
        self._server = KeepAliveWsgiServer(self._app)
        self._server.serve_in_thread("sim-aws")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> SimAWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget everything: moto's backends, our stores, the call log, the faults and the peak concurrency."""
        moto_api_backend.reset()
        for extension in self._services:
            extension.reset()
        self.calls.clear()
        self.faults.clear()
        self.concurrency.reset()

    @property
    def connections_accepted(self) -> int:
        """TCP connections the endpoint accepted since it started: a client that reuses its connection adds one."""
        assert self._server is not None, "start() the simulator first"
        return self._server.connections_accepted

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() the simulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def environ(self) -> dict[str, str]:
        """The environment a boto3 client needs to reach this endpoint, with moto's test credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    # --- the WSGI layer ---

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self.concurrency.answering():  # the answer is built in full before it is returned
            return self._answer(environ, start_response)

    def _answer(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = classify(
            environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", ""), headers, body
        )
        latency, fault = self.faults.apply(request)
        if latency:
            time.sleep(latency)
        if fault is not None and fault.error is not None:
            response = error_response(request.service, fault.error, fault.message, fault.status)
        else:
            extension = self._extensions.get((request.service, request.operation))
            try:
                answer = extension.handle(request) if extension is not None else None
            except SimError as exc:
                answer = error_response(request.service, exc.code, exc.message, exc.status)
            if answer is None:
                environ["wsgi.input"] = io.BytesIO(request.body)
                environ["CONTENT_LENGTH"] = str(len(request.body))
                return self._moto_call(request, environ, start_response)
            response = answer
        self.calls.add(
            CallRecord(
                request.service, request.region, request.operation, _params(request), response.status, request.account
            )
        )
        start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", list(response.headers.items()))
        return [response.body]

    def _moto_call(
        self, request: SimRequest, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        status_seen: list[int] = []

        def recording_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            status_seen.append(int(status.split()[0]))
            return start_response(status, headers, *rest)

        result = self._moto(environ, recording_start)
        body = b"".join(result)
        self.calls.add(
            CallRecord(
                request.service, request.region, request.operation, _params(request), status_seen[0], request.account
            )
        )
        return [body]


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
