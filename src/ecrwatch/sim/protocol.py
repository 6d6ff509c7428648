"""Request classification and error rendering for the simulated AWS endpoint.

A request names its service in the SigV4 credential scope and its operation in the way its protocol does:
`X-Amz-Target` (json), `Action` (query), or method and path (rest-json), matched against botocore's own
service models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session

from ecrwatch.sim.callers import caller_account

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class SimRequest:
    service: str
    region: str
    operation: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)

    @cached_property
    def account(self) -> str:
        """The account the request acts in (the one its credentials belong to)."""
        return caller_account(self.headers, self.query)

    def json(self) -> dict[str, Any]:
        """The request's parameters: JSON body, with path parameters merged in (rest-json)."""
        params: dict[str, Any] = json.loads(self.body) if self.body.strip() else {}
        params.update(self.path_params)
        return params


@dataclass
class SimResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> SimResponse:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


class SimError(Exception):
    """Raised by a simulated operation: rendered as the service's protocol renders errors."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def protocol_of(service: str) -> str:
    try:
        return str(_model(service).metadata["protocol"])
    except Exception:  # noqa: BLE001 - an unknown service: moto answers it in its own way
        return "json"


def _uri_pattern(uri: str) -> re.Pattern[str]:
    """botocore's requestUri (`/clusters/{name}`, `/{Key+}`) as a regular expression."""
    out, pos = "", 0
    for label in re.finditer(r"\{(\w+)(\+?)\}", uri):
        out += re.escape(uri[pos : label.start()])
        out += f"(?P<{label.group(1)}>{'.+' if label.group(2) else '[^/]+'})"
        pos = label.end()
    return re.compile("^" + out + re.escape(uri[pos:]) + "$")


@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    model = _model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        routes.append((http["method"], _uri_pattern(http["requestUri"].split("?")[0]), name))
    # Longer literal paths first, so /clusters/{name}/node-groups wins over /clusters/{name}.
    routes.sort(key=lambda r: -len(r[1].pattern))
    return routes


def classify(method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> SimRequest:
    query = parse_qs(query_string, keep_blank_values=True)
    service, region = "unknown", "us-east-1"
    scope = _SCOPE.search(headers.get("authorization", ""))
    if scope:
        region, service = scope.group(1), scope.group(2)
    elif "X-Amz-Credential" in query:  # a presigned URL
        parts = query["X-Amz-Credential"][0].split("/")
        if len(parts) >= 4:
            region, service = parts[2], parts[3]
    operation = ""
    path_params: dict[str, str] = {}
    target = headers.get("x-amz-target")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif "Action" in query:
        operation = query["Action"][0]
    elif body and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode(errors="replace"))
        operation = form.get("Action", [""])[0]
    elif protocol_of(service).startswith("rest"):
        for route_method, pattern, name in _rest_routes(service):
            match = pattern.match(unquote(path)) if route_method == method else None
            if match:
                operation = name
                path_params = {k: unquote(v) for k, v in match.groupdict().items()}
                break
    return SimRequest(service, region, operation, method, path, query, headers, body, path_params)


def error_response(service: str, code: str, message: str, status: int) -> SimResponse:
    """An error as the service's protocol carries it, so that botocore parses the right code."""
    protocol = protocol_of(service)
    if protocol in ("query", "ec2", "rest-xml"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        )
        return SimResponse(status, body.encode(), {"Content-Type": "text/xml"})
    payload = {"__type": code, "message": message}
    return SimResponse(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
    )
