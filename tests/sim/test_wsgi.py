"""The simulated AWS endpoint keeps connections alive, as AWS does, without ever mixing two requests up.

The framing tests talk raw HTTP/1.1 over a socket to the server alone (an application that echoes what it
got), so that what one request leaves unread would show up in the next; the others go through SimAWS with
boto3, as ecrwatch does.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecrwatch.sim.server import SimAWS
from ecrwatch.sim.wsgi import KeepAliveWsgiServer


def _echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Answers with what it was given: method, path, query, body, and the headers that matter here."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the application broke")
    answer = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "body": body.decode(),
        "content_type": environ.get("CONTENT_TYPE"),
        "host": environ.get("HTTP_HOST"),
    }
    start_response("200 OK", [("Content-Type", "application/json"), ("Connection", "close")])
    return [json.dumps(answer).encode()]


@pytest.fixture
def echo_server() -> Iterator[KeepAliveWsgiServer]:
    server = KeepAliveWsgiServer(_echo)
    server.serve_in_thread("echo", poll_interval=0.05)
    yield server
    server.stop()


def _connect(server: KeepAliveWsgiServer) -> socket.socket:
    sock = socket.create_connection(server.server_address[:2], timeout=10)
    return sock


class _Reader:
    """Reads HTTP/1.1 responses off one socket, by their Content-Length."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def head(self) -> tuple[int, dict[str, str], bytes]:
        """A response's status line and headers only (the answer to a HEAD request)."""
        status = int(self.file.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, b""

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers, _ = self.head()
        return status, headers, self.file.read(int(headers.get("content-length", "0")))

    def at_end(self) -> bool:
        return self.file.read(1) == b""


def test_a_body_is_read_exactly_and_the_next_request_on_the_connection_is_served(
    echo_server: KeepAliveWsgiServer,
) -> None:
    first = b'{"repositoryName": "team/api"}'
    # Both requests in one write: the server must take the first body's 30 bytes and no more.
    with _connect(echo_server) as sock:
        sock.sendall(
            b"POST /one?x=1 HTTP/1.1\r\nHost: sim\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"Content-Length: "
            + str(len(first)).encode()
            + b"\r\n\r\n"
            + first
            + b"GET /two HTTP/1.1\r\nHost: sim\r\n\r\n"
        )
        reader = _Reader(sock)
        status, headers, body = reader.response()
        assert status == 200
        assert json.loads(body) == {
            "method": "POST",
            "path": "/one",
            "query": "x=1",
            "body": first.decode(),
            "content_type": "application/x-amz-json-1.1",
            "host": "sim",
        }
        # The application's own Connection header is the server's to decide: the connection stays open.
        assert "connection" not in headers
        status, _, body = reader.response()
        assert (status, json.loads(body)["method"], json.loads(body)["path"], json.loads(body)["body"]) == (
            200,
            "GET",
            "/two",
            "",
        )
    assert echo_server.connections_accepted == 1


def test_a_chunked_body_is_decoded_and_the_connection_kept(echo_server: KeepAliveWsgiServer) -> None:
    with _connect(echo_server) as sock:
        sock.sendall(
            b"PUT /bucket/key HTTP/1.1\r\nHost: sim\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n"
            b"GET /after HTTP/1.1\r\nHost: sim\r\n\r\n"
        )
        reader = _Reader(sock)
        _, _, body = reader.response()
        assert json.loads(body)["body"] == "hello world"
        _, _, body = reader.response()
        assert json.loads(body)["path"] == "/after"


def test_a_head_answer_keeps_the_applications_length_and_sends_no_body() -> None:
    def sized(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", "1234"), ("ETag", '"abc"')])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"x" * 1234]

    server = KeepAliveWsgiServer(sized)
    server.serve_in_thread("sized", poll_interval=0.05)
    try:
        with _connect(server) as sock:
            sock.sendall(b"HEAD /bucket/key HTTP/1.1\r\nHost: sim\r\n\r\nGET /bucket/key HTTP/1.1\r\nHost: sim\r\n\r\n")
            reader = _Reader(sock)
            status, headers, _ = reader.head()
            assert (status, headers["content-length"], headers["etag"]) == (200, "1234", '"abc"')
            status, headers, body = reader.response()  # read right after the HEAD answer's headers
            assert (status, len(body)) == (200, 1234)
    finally:
        server.stop()


def test_a_client_that_asks_to_close_is_answered_and_closed(echo_server: KeepAliveWsgiServer) -> None:
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /last HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
        reader = _Reader(sock)
        status, headers, _ = reader.response()
        assert (status, headers["connection"]) == (200, "close")
        assert reader.at_end()


def test_an_http_1_0_client_is_closed_unless_it_asks_for_keep_alive(echo_server: KeepAliveWsgiServer) -> None:
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        reader = _Reader(sock)
        assert reader.response()[0] == 200
        assert reader.at_end()
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
        reader = _Reader(sock)
        status, headers, _ = reader.response()
        assert (status, headers["connection"]) == (200, "keep-alive")
        assert json.loads(reader.response()[2])["path"] == "/b"
        assert reader.at_end()


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: ten\r\n", b"Transfer-Encoding: gzip\r\n", b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"],
    ids=["length-not-a-number", "unknown-coding", "chunk-size-not-hex"],
)
def test_a_request_whose_body_cannot_be_delimited_gets_400_and_the_connection_ends(
    echo_server: KeepAliveWsgiServer, framing: bytes
) -> None:
    with _connect(echo_server) as sock:
        head = b"POST /x HTTP/1.1\r\nHost: sim\r\n" + framing
        sock.sendall(head if framing.endswith(b"zz\r\n") else head + b"\r\n")
        reader = _Reader(sock)
        status, headers, body = reader.response()
        assert (status, headers["connection"]) == (400, "close")
        assert body.startswith(b"bad request: ")
        assert reader.at_end()


def test_a_broken_application_answers_500_and_the_server_goes_on(
    echo_server: KeepAliveWsgiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: sim\r\n\r\n")
        reader = _Reader(sock)
        assert reader.response()[0] == 500
        assert reader.at_end()
    assert "RuntimeError: the application broke" in capsys.readouterr().err
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /fine HTTP/1.1\r\nHost: sim\r\n\r\n")
        assert _Reader(sock).response()[0] == 200


def test_stopping_the_server_ends_its_kept_connections(echo_server: KeepAliveWsgiServer) -> None:
    with _connect(echo_server) as sock:
        sock.sendall(b"GET /kept HTTP/1.1\r\nHost: sim\r\n\r\n")
        reader = _Reader(sock)
        assert reader.response()[0] == 200
        echo_server.stop()
        assert reader.at_end()


def test_sixty_four_requests_are_served_at_once() -> None:
    """--workers allows 64 requests in flight; injected latency sleeps in the application, so each needs a
    thread of its own: here every request waits inside the application until all 64 have arrived."""
    arrived = threading.Barrier(64, timeout=20)

    def wait_for_all(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        arrived.wait()
        start_response("200 OK", [])
        return [b"together"]

    server = KeepAliveWsgiServer(wait_for_all)
    server.serve_in_thread("together", poll_interval=0.05)
    answers: list[bytes] = []

    def ask() -> None:
        with _connect(server) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: sim\r\n\r\n")
            answers.append(_Reader(sock).response()[2])

    try:
        clients = [threading.Thread(target=ask) for _ in range(64)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=30)
    finally:
        server.stop()
    assert not arrived.broken
    assert answers == [b"together"] * 64


def test_a_boto3_client_reuses_its_connection_across_calls(sim_aws: SimAWS) -> None:
    ecr = boto3.client("ecr", region_name="eu-west-1", config=Config(retries={"max_attempts": 1}))
    before = sim_aws.connections_accepted
    ecr.create_repository(repositoryName="team/api")
    ecr.create_repository(repositoryName="team/web", imageTagMutability="IMMUTABLE")
    names = sorted(r["repositoryName"] for r in ecr.describe_repositories()["repositories"])
    assert names == ["team/api", "team/web"]
    assert sim_aws.connections_accepted - before == 1
    # Each request's parameters are its own: no body ran into the next request on the shared connection.
    assert [r.params for r in sim_aws.calls.select("ecr")] == [
        {"repositoryName": "team/api"},
        {"repositoryName": "team/web", "imageTagMutability": "IMMUTABLE"},
        {},
    ]


def test_injected_faults_and_latency_still_apply_on_a_kept_connection(sim_aws: SimAWS) -> None:
    sim_aws.faults.add("ecr", "DescribeRepositories", error="AccessDeniedException", times=1, latency=0.01)
    ecr = boto3.client("ecr", config=Config(retries={"max_attempts": 1}))
    before = sim_aws.connections_accepted
    with pytest.raises(ClientError, match="AccessDeniedException"):
        ecr.describe_repositories()
    assert ecr.describe_repositories()["repositories"] == []
    assert [r.status for r in sim_aws.calls.select("ecr", "DescribeRepositories")] == [400, 200]
    assert sim_aws.connections_accepted - before == 1


def test_stopping_the_simulator_ends_the_connections_clients_keep() -> None:
    with SimAWS() as sim:
        host, port = sim.endpoint_url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        reader = _Reader(sock)
        reader.response()
    with sock:
        assert reader.at_end()


def test_s3_head_object_reports_the_objects_size_on_a_kept_connection(sim_aws: SimAWS) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ecrwatch-artifacts")
    s3.put_object(Bucket="ecrwatch-artifacts", Key="ecrwatch.zip", Body=b"z" * 5000)
    assert s3.head_object(Bucket="ecrwatch-artifacts", Key="ecrwatch.zip")["ContentLength"] == 5000
    assert s3.get_object(Bucket="ecrwatch-artifacts", Key="ecrwatch.zip")["Body"].read() == b"z" * 5000
