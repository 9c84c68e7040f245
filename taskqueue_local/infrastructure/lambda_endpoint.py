"""Lambda's HTTP API on loopback: Invoke runs locally, every other call goes on to the emulator.

Point ``AWS_ENDPOINT_URL_LAMBDA`` at it and any boto3 Lambda client works unchanged: Invoke
answers as Lambda does (``X-Amz-Function-Error`` on errors, 429 ``TooManyRequestsException`` past
the reserved concurrency, 202 for ``Event`` invocations), and the control plane is the emulator's.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from taskqueue.limits import LAMBDA_MAX_SYNC_PAYLOAD_BYTES
from taskqueue_local.infrastructure.lambda_service import (
    CodeNotFound,
    FunctionNotFound,
    Invocation,
    LocalLambda,
)
from taskqueue_local.infrastructure.loopback_server import LoopbackServer

log = logging.getLogger(__name__)
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"Type": "User", "message": message, "__type": error_type}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # TCP_NODELAY: an answer goes out as headers, then body, in two writes. With Nagle's algorithm the body
    # waited for the client's ACK of the headers, which Linux delays by 40 ms: every invocation took 40 ms
    # more, a stall AWS's Invoke does not have (the benchmark's invoking designs paid it, its ceiling not).
    disable_nagle_algorithm = True
    server: LambdaEndpoint

    def do_POST(self) -> None:
        body = self._body()
        match = _INVOKE_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._forward(body)
            return
        name = unquote(match["name"])
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if len(body) > LAMBDA_MAX_SYNC_PAYLOAD_BYTES:
            self._send(
                413,
                _error_body("RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes"),
                {"x-amzn-ErrorType": "RequestEntityTooLargeException"},
            )
            return
        try:
            self.server.service.function_config(name)
        except FunctionNotFound as error:
            self._send(
                404,
                _error_body("ResourceNotFoundException", str(error)),
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
            return
        try:
            json.loads(body or b"{}")
        except ValueError:
            self._send(
                400,
                _error_body("InvalidRequestContentException", "Could not parse request body into json"),
                {"x-amzn-ErrorType": "InvalidRequestContentException"},
            )
            return
        if invocation_type == "DryRun":
            self._send(204, b"")
        elif invocation_type == "Event":
            self.server.invoke_async(name, body)
            self._send(202, b"")
        else:
            self._answer(self._invoke(name, body))

    def _invoke(self, name: str, body: bytes) -> Invocation:
        try:
            return self.server.service.invoke(name, body)
        except CodeNotFound as error:
            message = {"errorMessage": str(error), "errorType": "Runtime.CodeNotFound"}
            return Invocation(json.dumps(message).encode(), function_error="Unhandled")
        except Exception as error:
            # The local service broke, not the function: say so, as Lambda's own 5xx would.
            message = {"errorMessage": f"{type(error).__name__}: {error}", "errorType": "ServiceException"}
            return Invocation(json.dumps(message).encode(), function_error="Unhandled")

    def _answer(self, invocation: Invocation) -> None:
        if invocation.throttled:
            body = json.dumps(
                {
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "Type": "User",
                    "message": "Rate Exceeded.",
                    "__type": "TooManyRequestsException",
                }
            ).encode()
            self._send(429, body, {"x-amzn-ErrorType": "TooManyRequestsException"})
            return
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if invocation.function_error:
            headers["X-Amz-Function-Error"] = invocation.function_error
        self._send(200, invocation.payload, headers)

    def _forward(self, body: bytes) -> None:
        """Everything but Invoke is the emulator's business."""
        target = urlsplit(self.server.emulator_url)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        passed = {
            k: v
            for k, v in response.getheaders()
            if k.lower() not in ("content-length", "connection", "transfer-encoding")
        }
        connection.close()
        self._send(response.status, data, passed)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, b'{"status": "ok"}')
            return
        self._forward(self._body())

    do_PUT = do_DELETE = do_GET

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LambdaEndpoint(LoopbackServer):
    def __init__(self, service: LocalLambda, emulator_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(_Handler, "lambda-endpoint", host, port)
        self.service = service
        self.emulator_url = emulator_url

    def invoke_async(self, name: str, body: bytes) -> None:
        """Event invocations: accepted at once, run in the background (retried while throttled)."""

        def run() -> None:
            try:
                for _attempt in range(60):
                    if not self.service.invoke(name, body).throttled:
                        return
                    threading.Event().wait(1)
                log.warning("event invocation of %s dropped: throttled for a minute", name)
            except Exception:
                log.exception("event invocation of %s failed", name)

        thread = threading.Thread(target=run, name=f"event-{name}", daemon=True)
        thread.start()

    def stop(self) -> None:
        super().stop()
        self.service.close()
