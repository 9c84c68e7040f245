"""Stand-ins for what moto cannot do here: Lambda Invoke running code, and a clock for time budgets.

``InProcessLambda`` answers the boto3 Lambda client's Invoke call by running a handler in this
process, through botocore's ``before-call`` hook: everything up to the HTTP request is the real
client, and the answer comes back in the shape Lambda gives (StatusCode, FunctionError, Payload).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from taskqueue_local.harness import LambdaContext

__all__ = ["CallRecorder", "FakeClock", "InProcessLambda", "LambdaContext"]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://lambda.invalid", status, {}, None)


def _streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class InProcessLambda:
    """Runs ``handler(event, context)`` for each Invoke made through ``client``.

    ``behaviour(event)`` may override one invocation: return "throttle", "error", "timeout" or
    raw bytes to answer with, or None to run the handler.
    """

    def __init__(
        self,
        client: Any,
        handler: Callable[[dict[str, Any], Any], Any],
        timeout_seconds: float = 30.0,
        behaviour: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.handler = handler
        self.timeout_seconds = timeout_seconds
        self.behaviour = behaviour
        self.events: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        client.meta.events.register("before-call.lambda.Invoke", self._invoke)

    def _invoke(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        event = json.loads(params["body"])
        with self._lock:
            self.events.append(event)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._answer(event)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, event: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        override = self.behaviour(event) if self.behaviour else None
        if override == "throttle":
            error = {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
            return _http(429), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 429}}
        if override == "timeout":
            body = {"errorMessage": f"Task timed out after {self.timeout_seconds:.2f} seconds"}
            return _http(200), {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": _streaming(json.dumps(body).encode()),
            }
        if isinstance(override, bytes):
            return _http(200), {"StatusCode": 200, "Payload": _streaming(override)}
        try:
            if override == "error":
                raise RuntimeError("worker crashed (injected)")
            result = self.handler(event, LambdaContext(self.timeout_seconds))
        except Exception as error:
            body = {"errorMessage": str(error), "errorType": type(error).__name__}
            return _http(200), {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": _streaming(json.dumps(body).encode()),
            }
        return _http(200), {"StatusCode": 200, "Payload": _streaming(json.dumps(result).encode())}


class CallRecorder:
    """Records the API calls a boto3 client makes: (operation name, parameters)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        client.meta.events.register("provide-client-params.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.calls.append((model.name, dict(params)))

    def named(self, operation: str) -> list[dict[str, Any]]:
        with self._lock:
            return [params for name, params in self.calls if name == operation]

    def count(self, operation: str) -> int:
        return len(self.named(operation))
