"""A threaded WSGI server that keeps HTTP/1.1 connections alive, as AWS's endpoints do.

werkzeug's development server answers every request with `Connection: close` (after an answer it drains the
socket, which would swallow a next request), so a client through the simulated endpoint opened a TCP
connection per call where AWS lets botocore's connection pool reuse one. This server reads exactly the
request's body (its Content-Length, or its chunks) and nothing of the next request, answers with a
Content-Length, and keeps the connection until the client closes it, asks to (`Connection: close`), speaks
HTTP/1.0 without asking for keep-alive, or stays idle for `IDLE_TIMEOUT` seconds. A thread per connection:
injected latency sleeps inside the application, so every request in flight needs its own thread.
"""

from __future__ import annotations

import io
import sys
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from ecrwatch.sim.connections import CountingHTTPServer

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

IDLE_TIMEOUT = 60.0  # seconds a kept connection may wait for its next request (AWS closes idle ones too)
# Hop-by-hop headers are the server's to set (RFC 9110 7.6.1): an application's are dropped.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_NO_BODY = frozenset({204, 304})


class BadRequest(Exception):
    """The request's framing is broken: answer 400 and close, since the next request cannot be found."""


class KeepAliveWsgiServer(CountingHTTPServer):
    """Serves `app` on (host, port); `serve_forever` in a thread, then `shutdown()` and `server_close()`."""

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.app = app

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connection_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-request: nobody to answer, nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecrwatch-sim"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    # Headers and body go out in two writes: with Nagle's algorithm, delayed ACKs would hold the second.
    disable_nagle_algorithm = True
    server: KeepAliveWsgiServer

    def do_GET(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as exc:
            self.close_connection = True
            self._answer(400, [("Content-Type", "text/plain")], f"bad request: {exc}\n".encode())
            return
        environ = self._environ(body)
        try:
            status, headers, content = self._call(environ)
        except Exception:  # noqa: BLE001 - a broken application answers 500 (and says why on stderr), as werkzeug did
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            status, headers, content = 500, [("Content-Type", "text/plain")], b"internal server error\n"
        self._answer(status, headers, content)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if encoding:
            if encoding != "chunked":
                raise BadRequest(f"transfer coding {encoding!r} is not supported")
            return self._read_chunks()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""  # RFC 9112 6.3: neither header, no body
        if not length.isdigit():
            raise BadRequest(f"Content-Length {length!r} is not a number")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionError("the client closed the connection inside the request body")
        return body

    def _read_chunks(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(65537)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest(f"chunk size {size_text!r} is not hexadecimal") from None
            if size == 0:
                break
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                raise BadRequest("a chunk is shorter than its size")
            body += chunk
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields: nothing here reads them
        return bytes(body)

    def _environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            # PEP 3333: native strings carry the bytes as latin-1; the path is percent-decoded, the query not.
            "PATH_INFO": _latin1(unquote(url.path if url.scheme else self.path.split("?", 1)[0])),
            "QUERY_STRING": _latin1(url.query),
            "REQUEST_URI": _latin1(self.path),
            "RAW_URI": _latin1(self.path),  # moto reads the undecoded path here (S3 keys with %2F)
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue  # X_Foo would pass for X-Foo in the environ (werkzeug drops them too)
            key = name.upper().replace("-", "_")
            if key == "CONTENT_LENGTH" or key == "TRANSFER_ENCODING":
                continue  # the body is whole: its length is what was read
            if key != "CONTENT_TYPE":
                key = "HTTP_" + key
            value = value.replace("\r\n", "")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if url.scheme and url.netloc:
            environ["HTTP_HOST"] = url.netloc
        return environ

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return written.append

        written: list[bytes] = []
        result = self.server.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the application returned without calling start_response")
        status, headers = started[0]
        return int(status.split(None, 1)[0]), headers, b"".join(written)

    def _answer(self, status: int, headers: list[tuple[str, str]], content: bytes) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        self.send_response(status, reason)
        length = str(len(content))
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
            elif name.lower() == "content-length" and self.command == "HEAD":
                length = value  # the size a GET would answer (S3's HeadObject): a HEAD answer has no body
        if status >= 200 and status not in _NO_BODY:
            self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")  # it asked for it, or close_connection would be set
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in _NO_BODY:
            self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the demo and the tests; SimAWS.calls has them


def _latin1(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")
