"""The simulated Kubernetes API server's connections: kept alive as a real API server keeps them, never
mixing two requests up, and stopped cleanly while a request is still being served."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from ecrwatch.sim.kube import DEFAULT_TOKEN, SimKube


def _tls_connection(kube: SimKube) -> ssl.SSLSocket:
    context = ssl.create_default_context(cadata=kube.ca_pem.decode())
    host, port = kube.url.removeprefix("https://").split(":")
    return context.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)


def _responses(sock: ssl.SSLSocket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    reader = sock.makefile("rb")
    out = []
    for _ in range(count):
        status = int(reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        out.append((status, headers, reader.read(int(headers["content-length"]))))
    return out


def test_the_kubernetes_client_reuses_one_connection(tmp_path: Path) -> None:
    with SimKube() as kube:
        kube.add_namespace("shop")
        config = kubernetes.client.Configuration(host=kube.url)
        config.api_key = {"authorization": DEFAULT_TOKEN}
        config.api_key_prefix = {"authorization": "Bearer"}
        (tmp_path / "ca.crt").write_bytes(kube.ca_pem)
        config.ssl_ca_cert = str(tmp_path / "ca.crt")
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))
        for _ in range(3):
            assert [ns.metadata.name for ns in core.list_namespace().items] == ["shop"]
        assert kube.connections_accepted == 1
        assert kube.request_count("/api/v1/namespaces", status=200) == 3


def test_a_request_body_is_skipped_and_the_next_request_on_the_connection_answered() -> None:
    with SimKube() as kube, _tls_connection(kube) as sock:
        body = b'{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}'
        sock.sendall(
            b"POST /api/v1/namespaces HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer "
            + DEFAULT_TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
            + b"GET /version HTTP/1.1\r\nHost: sim\r\n\r\n"
        )
        (refused, _, _), (version, headers, answer) = _responses(sock, 2)
        assert (refused, version) == (405, 200)
        assert b'"gitVersion": "v1.31.4"' in answer or b'"gitVersion":"v1.31.4"' in answer
        assert "connection" not in headers
        assert [(r.method, r.path) for r in kube.requests] == [("POST", "/api/v1/namespaces"), ("GET", "/version")]
        assert kube.connections_accepted == 1


def test_a_chunked_request_is_answered_and_its_connection_closed() -> None:
    with SimKube() as kube, _tls_connection(kube) as sock:
        sock.sendall(
            b"POST /api/v1/namespaces HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer "
            + DEFAULT_TOKEN.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )
        [(status, headers, _)] = _responses(sock, 1)
        assert (status, headers["connection"]) == (405, "close")
        assert sock.recv(1) == b""


class _HeldKube(SimKube):
    """Holds each request at the door of `_handle` until the test lets it in."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.let_in = threading.Event()
        self.serving: list[threading.Thread] = []

    def _handle(self, handler: Any) -> None:
        self.serving.append(threading.current_thread())
        self.arrived.set()
        self.let_in.wait(10)
        super()._handle(handler)


def test_stopping_while_a_request_is_served_ends_its_thread_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    kube = _HeldKube().start()
    sock = _tls_connection(kube)
    sock.sendall(b"GET /api/v1/pods HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer %s\r\n\r\n" % DEFAULT_TOKEN.encode())
    assert kube.arrived.wait(10)
    kube.stop()  # the request is still inside the server, past reading and before authentication
    kube.let_in.set()
    for thread in kube.serving:
        thread.join(10)
    sock.close()
    assert not any(thread.is_alive() for thread in kube.serving)
    assert capsys.readouterr().err == ""  # was an AttributeError's traceback: getpeercert on a shut-down socket
