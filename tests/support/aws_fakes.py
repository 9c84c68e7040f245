"""Stand-ins for what moto cannot do here: Lambda Invoke running code, and a clock for time budgets.

``InProcessLambda`` answers the boto3 Lambda client's Invoke call by running a handler in this
process, through botocore's ``before-call`` hook: everything up to the HTTP request is the real
client, and the answer comes back in the shape Lambda gives (StatusCode, FunctionError, Payload).
``received_event`` sends bodies to a queue and receives them as Lambda's SQS event; ``LogCapture``
reads a Powertools logger's JSON lines as bytes written to a strict UTF-8 stream, as Lambda's is.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody

from taskqueue.sqs_event import message_to_record
from taskqueue_local.infrastructure.lambda_context import LambdaContext

__all__ = [
    "CallRecorder",
    "DeadLetterSourceArns",
    "FailingCalls",
    "FakeClock",
    "FakeWallClock",
    "InProcessLambda",
    "LambdaContext",
    "LogCapture",
    "ReceiptHandles",
    "received_event",
]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeWallClock:
    """An aware UTC wall clock that only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://lambda.invalid", status, {}, None)


def _streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class InProcessLambda:
    """Runs ``handler(event, context)`` for each Invoke made through ``client``.

    ``behaviour(event)`` may override one invocation: return "throttle", "error", "timeout",
    "read_timeout" (the client gives up waiting; the handler still runs, as a function does on Lambda)
    or raw bytes to answer with, or None to run the handler.
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
        if override == "read_timeout":
            self.handler(event, LambdaContext(self.timeout_seconds))
            raise ReadTimeoutError(endpoint_url="https://lambda.invalid")
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


class FailingCalls:
    """Makes a client's calls of one operation fail with an AWS error, from the ``from_call``-th on (1-based),
    until ``stop()``; botocore does not retry an answer given here."""

    def __init__(self, client: Any, operation: str, from_call: int, code: str = "ThrottlingException") -> None:
        self.from_call = from_call
        self.code = code
        self.calls = 0
        self.active = True
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}.{operation}", self._answer)

    def stop(self) -> None:
        self.active = False

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls += 1
        if not self.active or self.calls < self.from_call:
            return None
        error = {"Code": self.code, "Message": f"call {self.calls} failed (injected)"}
        return _http(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}


class ReceiptHandles:
    """The latest receipt handle of every message a boto3 SQS client received, so that a test can make
    the messages in flight visible again through SQS's own API (ChangeMessageVisibility to 0), where
    waiting out their visibility timeout would take real time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.latest: dict[tuple[str, str], str] = {}  # (queue URL, message id) -> receipt handle
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.sqs.ReceiveMessage", _remember_queue_url)
        client.meta.events.register("after-call.sqs.ReceiveMessage", self._record)

    def _record(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        queue_url = context["taskqueue_queue_url"]
        with self._lock:
            for message in parsed.get("Messages", []):
                self.latest[queue_url, message["MessageId"]] = message["ReceiptHandle"]

    def expire(self, queue_url: str) -> int:
        """Make every message of ``queue_url`` received so far and still in flight visible now; returns
        how many were. Deleted messages, and those visible already, are refused by SQS and skipped."""
        with self._lock:
            handles = [handle for (url, _), handle in self.latest.items() if url == queue_url]
        expired = 0
        for handle in handles:
            try:
                self.client.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
                expired += 1
            except ClientError:
                pass
        return expired


class DeadLetterSourceArns:
    """What SQS gives and moto 5.2 leaves out: the ``DeadLetterQueueSourceArn`` system attribute on every
    message its redrive policy moved into the DLQ. A message received from the source queue that later
    shows up in the DLQ under the same message id was moved by SQS (a dead letter the worker sends is a
    new message, with a new id), so it gets the attribute on its way back from ReceiveMessage."""

    def __init__(self, client: Any, source_url: str, source_arn: str, dlq_url: str) -> None:
        self.source_url, self.source_arn, self.dlq_url = source_url, source_arn, dlq_url
        self.in_source: set[str] = set()
        client.meta.events.register("before-parameter-build.sqs.ReceiveMessage", _remember_queue_url)
        client.meta.events.register("after-call.sqs.ReceiveMessage", self._received)

    def _received(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        queue_url = context["taskqueue_queue_url"]
        for message in parsed.get("Messages", []):
            if queue_url == self.source_url:
                self.in_source.add(message["MessageId"])
            elif queue_url == self.dlq_url and message["MessageId"] in self.in_source:
                message.setdefault("Attributes", {})["DeadLetterQueueSourceArn"] = self.source_arn


def _remember_queue_url(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["taskqueue_queue_url"] = params["QueueUrl"]


def task_body(task: str, payload: Any = None, **fields: Any) -> str:
    """A task message's body, as the producer writes it."""
    return json.dumps({"task": task, "payload": payload, **fields})


def failed_ids(answer: dict[str, Any]) -> set[str]:
    """The message ids a worker's answer reports as failed (batchItemFailures)."""
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


def received_event(sqs: Any, queues: Any, bodies: list[str], group_ids: list[str] | None = None, **extra: Any) -> dict:
    """Send bodies to the queue, receive them, and shape them as Lambda's SQS event."""
    for index, body in enumerate(bodies):
        arguments: dict[str, Any] = {"QueueUrl": queues.url, "MessageBody": body, **extra}
        if group_ids:
            arguments.update(MessageGroupId=group_ids[index], MessageDeduplicationId=f"d{index}")
        sqs.send_message(**arguments)
    messages: list[dict[str, Any]] = []
    while len(messages) < len(bodies):
        batch = sqs.receive_message(
            QueueUrl=queues.url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        assert batch, "the queue returned fewer messages than were sent"
        messages.extend(batch)
    return {"Records": [message_to_record(message, queues.arn) for message in messages]}


class LogCapture:
    """A Powertools logger's lines, written through its own formatter to a strict UTF-8 byte stream
    (a line the real stdout could not take is lost here too)."""

    def __init__(self, logger: Any) -> None:
        self._logger = logger.powertools  # the package's LazyLogger: the Powertools Logger behind it
        self._bytes = io.BytesIO()
        stream = io.TextIOWrapper(self._bytes, encoding="utf-8", errors="strict", write_through=True)
        self._handler = logging.StreamHandler(stream)
        self._handler.setFormatter(self._logger.registered_formatter)

    def __enter__(self) -> LogCapture:
        self._logger.addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self._handler)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._bytes.getvalue().decode("utf-8").splitlines() if line.strip()]

    def messages(self) -> list[str]:
        return [str(line.get("message")) for line in self.lines()]
