"""An HTTP proxy in front of the emulator that fails some SQS calls with a 500, for the soak.

Half of the injected failures happen before the call reaches the emulator (nothing happened),
half after (the call took effect, but the client sees an error and retries it): both happen on
real SQS, and the second is how duplicates are born.
"""

from __future__ import annotations

import http.client
import math
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from taskqueue_local.infrastructure.loopback_server import LoopbackServer

_ERROR = b'{"__type": "com.amazonaws.sqs#InternalError", "message": "injected by the soak\'s fault proxy"}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        fault = self.server.decide(target)
        if fault == "before":
            self._send(500, _ERROR, {})
            return
        status, data, headers = self.server.forward(self.command, self.path, body, dict(self.headers.items()))
        if fault == "after":
            self._send(500, _ERROR, {})
            return
        self._send(status, data, headers)

    do_GET = do_POST

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        if status == 500:
            self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class EvenlySpaced:
    """Says yes to ``rate`` of its calls, evenly spaced: a short run still gets its share of faults,
    where random draws might give it none."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.calls = 0
        self._lock = threading.Lock()

    def hit(self) -> bool:
        with self._lock:
            self.calls += 1
            return math.floor(self.calls * self.rate) > math.floor((self.calls - 1) * self.rate)


class FaultProxy(LoopbackServer):
    def __init__(self, upstream: str, sqs_error_rate: float) -> None:
        super().__init__(_Handler, "fault-proxy")
        self.upstream = urlsplit(upstream)
        self.faults = EvenlySpaced(sqs_error_rate)
        self.injected = {"before": 0, "after": 0}
        self.sqs_calls = 0
        self._lock = threading.Lock()
        self._connections = threading.local()

    def decide(self, target: str) -> str | None:
        if not target.startswith("AmazonSQS."):
            return None
        with self._lock:
            self.sqs_calls += 1
            if not self.faults.hit():
                return None
            fault = "before" if self.injected["before"] <= self.injected["after"] else "after"
            self.injected[fault] += 1
            return fault

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        connection = getattr(self._connections, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(
                self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
            )
            self._connections.connection = connection
        headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException):
            connection.close()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
