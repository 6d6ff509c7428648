"""The threaded HTTP server both simulated endpoints (AWS, Kubernetes) build on.

It counts the TCP connections it accepted, so tests and benchmarks can see a client reuse one (AWS and a
Kubernetes API server keep connections alive), and it holds the connections still open, so `stop()` can end
those whose threads wait for a next request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CountingHTTPServer(ThreadingHTTPServer):
    """A thread per connection; `serve_in_thread()` and `stop()`, and `connections_accepted` for the simulators."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: --workers 64 may connect at once (socketserver's default: 5)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections_lock = threading.Lock()
        self._accepted = 0
        self._open: set[socket.socket] = set()
        self._serving: threading.Thread | None = None

    def serve_in_thread(self, name: str, poll_interval: float = 0.5) -> None:
        """Serve from a daemon thread named `name` until `stop()`; `poll_interval` bounds how long stop waits."""
        self._serving = threading.Thread(target=self.serve_forever, args=(poll_interval,), name=name, daemon=True)
        self._serving.start()

    def stop(self) -> None:
        """Stop accepting, end the kept connections, close the listening socket and wait for the serving thread
        (in this order: a connection accepted after its kept ones were ended would wait for a request)."""
        if self._serving is None:
            return
        self.shutdown()
        self.close_connections()
        self.server_close()
        self._serving.join(timeout=5)
        self._serving = None

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since the server started (a kept connection counts once)."""
        with self._connections_lock:
            return self._accepted

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._accepted += 1
        super().process_request(request, client_address)

    def connection_opened(self, sock: socket.socket) -> None:
        """`sock` serves requests now: `close_connections()` ends it (a TLS server passes the wrapped socket)."""
        with self._connections_lock:
            self._open.add(sock)

    def connection_closed(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._open.discard(sock)

    def close_connections(self) -> None:
        """End the kept connections, whose threads wait for a next request (after `shutdown()`)."""
        with self._connections_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                # The TCP connection alone: SSLSocket.shutdown would also drop the TLS state, which a handler
                # still working on a request reads next (an AttributeError, getpeercert on None, in its thread).
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
