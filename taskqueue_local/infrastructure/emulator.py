"""moto's server, with the few SQS behaviours it lacks that the Terraform module depends on.

Run as ``python -m taskqueue_local.infrastructure.emulator --port N``. The fixes are applied in this process
only, before the server starts; moto itself is not modified:

- the ``RedriveAllowPolicy`` queue attribute (moto 5.2 rejects it, and the provider waits for it
  forever when creating ``aws_sqs_queue_redrive_allow_policy``);
- a SetQueueAttributes call that does not name ``Policy`` keeps the queue's policy (moto
  clears it, so every later queue update would silently drop the TLS-only policy);
- ``RedrivePolicy`` read back as compact JSON, as SQS returns it (moto's spaces make the
  provider plan a change on every run);
- a received message's retention period is read from its queue, not from all the queue's attributes
  computed again for each message (a receive of 10 computed them 30 times, each a few scans of the queue);
- a CreateFunction sent again, identical, within a minute of the one that created the function is answered
  as that one was: the provider's SDK resends a request whose answer it lost (seen on this loaded loopback),
  moto answers 409, and the provider retries the 409 for five minutes, then fails the apply;
- GetFunction reports a reserved concurrency of 0 (moto drops it as falsy), which is how a
  function is paused;
- moto does not poll an SQS event source mapping itself on each SendMessage (through Docker, which
  is not here: it would receive the message, raising its receive count, and make it visible again).
  The local event source mapping (``taskqueue_local.infrastructure.event_source_mapping``) polls instead;
- SQS calls on messages are serialized (moto's are not thread-safe, and the server answers each request
  on its own thread): two concurrent receives could hand out one message twice, two concurrent deletes
  could bring back each other's message, and a receive could fail with "Set changed size during
  iteration". A long poll waits outside the lock, so it does not hold up the other calls.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


def apply_sqs_fixes() -> None:
    from moto.sqs.models import Queue  # noqa: PLC0415 - moto loads slowly; only the server needs it

    if "RedriveAllowPolicy" not in Queue.BASE_ATTRIBUTES:
        Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]

    set_attributes = Queue._set_attributes

    def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        kept_policy = getattr(self, "policy", None)
        set_attributes(self, attributes, now)
        if "Policy" not in attributes:
            self.policy = kept_policy

    Queue._set_attributes = _set_attributes  # type: ignore[method-assign]

    attributes_property = Queue.attributes

    def attributes(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = attributes_property.fget(self)  # type: ignore[attr-defined]
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]

    from moto.core.utils import unix_time  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        return within_retention(self.get_queue(queue_name), message, unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]


def within_retention(queue: Any, message: Any, now: float) -> bool:
    """moto's test of a received message against its queue's retention period, on the period alone: moto
    computes every attribute of the queue for it, each a scan of all its messages, once per message received."""
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > now)


# Held by every SQS call that reads or changes a queue's messages (see apply_sqs_serialization).
SQS_MESSAGES_LOCK = threading.RLock()
# The SQS backend's calls that read or change messages; the batch calls and receive go through them too.
SERIALIZED_SQS_CALLS = (
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
    "delete_queue",
    "get_queue_attributes",
)


def apply_sqs_serialization() -> None:
    from moto.core.utils import unix_time  # noqa: PLC0415
    from moto.sqs.models import SQSBackend  # noqa: PLC0415

    def serialized(call: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(call)
        def under_lock(*args: Any, **kwargs: Any) -> Any:
            with SQS_MESSAGES_LOCK:
                return call(*args, **kwargs)

        return under_lock

    for name in SERIALIZED_SQS_CALLS:
        setattr(SQSBackend, name, serialized(getattr(SQSBackend, name)))

    receive = SQSBackend.receive_message

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        # One pass over the queue at a time, under the lock; a long poll waits between passes without it.
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            with SQS_MESSAGES_LOCK:
                messages: list[Any] = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = polling_end - unix_time()
            if messages or remaining <= 0:
                return messages
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


# How long after a CreateFunction an identical one is taken for its retry.
CREATE_RETRY_SECONDS = 60.0


def apply_lambda_fixes() -> None:
    from moto.awslambda.exceptions import UnknownFunctionException  # noqa: PLC0415
    from moto.awslambda.models import LambdaFunction  # noqa: PLC0415
    from moto.awslambda.responses import LambdaResponse  # noqa: PLC0415

    create_function = LambdaResponse.create_function
    # (account, region, function name) -> the creating request's body, when it was answered, and its answer
    created: dict[tuple[str, str, str], tuple[str, float, Any]] = {}

    def create_function_retry_safe(self: Any) -> Any:
        name = self.json_body["FunctionName"].rsplit(":", 1)[-1]
        key, body = (self.current_account, self.region, name), json.dumps(self.json_body, sort_keys=True)
        first = created.get(key)
        if first is not None and first[0] == body and time.monotonic() - first[1] < CREATE_RETRY_SECONDS:
            try:
                self.backend.get_function(name, None)
            except UnknownFunctionException:
                pass  # deleted since: this is a new create
            else:
                return first[2]  # the first answer as it was (its version, before any update)
        answer = create_function(self)
        created[key] = (body, time.monotonic(), answer)
        return answer

    LambdaResponse.create_function = create_function_retry_safe  # type: ignore[method-assign]

    get_code = LambdaFunction.get_code

    def get_code_with_zero_concurrency(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = get_code(self)
        if self.reserved_concurrency is not None and "Concurrency" not in response:
            response["Concurrency"] = {"ReservedConcurrentExecutions": int(self.reserved_concurrency)}
        return response

    LambdaFunction.get_code = get_code_with_zero_concurrency  # type: ignore[method-assign]

    from moto.sqs.models import Queue  # noqa: PLC0415

    # Mappings stay in Lambda's backend (List/GetEventSourceMapping); the queue never sees them.
    Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)  # type: ignore[assignment]


_applied = False


def apply_fixes() -> None:
    """Apply every fix, once (in-process moto servers of the tests use them too)."""
    global _applied  # noqa: PLW0603 - moto's classes are global; so is whether they are patched
    if not _applied:
        apply_sqs_fixes()
        apply_sqs_serialization()
        apply_lambda_fixes()
        _applied = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    apply_fixes()
    from moto.server import main as moto_main  # noqa: PLC0415

    moto_main(["-H", args.host, "-p", str(args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
