"""What a message in the DLQ says about itself: why it failed, which task it was, since when.

Each source that dead-letters into the queue marks its messages its own way. A reader per source
turns those marks into a :class:`Failure`; the first reader that recognises a message wins, and a
message no reader recognises was moved by SQS's own redrive policy (it has no marks at all).
Another source (EventBridge Scheduler, say) is one more reader in ``FAILURE_READERS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskqueue.dead_letter_queue import (
    ERROR_ATTRIBUTE,
    MALFORMED,
    PERMANENT_ERROR,
    REASON_ATTRIBUTE,
    RETRIES_EXHAUSTED,
    TASK_ATTRIBUTE,
    UNKNOWN_TASK,
)
from taskqueue.sqs_batch import entry_bytes

# Moved by SQS after maxReceiveCount receives, without the worker's reason (the invocation crashed,
# timed out, or the worker could not dead-letter it itself).
REDRIVE = "redrive"
KNOWN_REASONS = (MALFORMED, UNKNOWN_TASK, PERMANENT_ERROR, RETRIES_EXHAUSTED, REDRIVE)
# Every attribute the runtime sets starts with this; none is copied when a dead letter goes back.
RESERVED_ATTRIBUTE_PREFIX = "taskqueue."

Message = Mapping[str, Any]  # one message of a ReceiveMessage answer


@dataclass(frozen=True)
class Failure:
    reason: str
    error: str
    task: str | None = None


def _string_attribute(message: Message, name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return str(value) if value is not None else None


def worker_failure(message: Message) -> Failure | None:
    """The worker's reason attributes (taskqueue.dead_letter_queue)."""
    reason = _string_attribute(message, REASON_ATTRIBUTE)
    if reason is None:
        return None
    return Failure(
        reason, _string_attribute(message, ERROR_ATTRIBUTE) or "", _string_attribute(message, TASK_ATTRIBUTE)
    )


def sqs_redrive_failure(message: Message) -> Failure:
    receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
    return Failure(
        REDRIVE, f"moved by SQS's redrive policy (no reason attached; {receives} receives in the DLQ so far)"
    )


FAILURE_READERS: tuple[Callable[[Message], Failure | None], ...] = (worker_failure,)


def read_failure(message: Message) -> Failure:
    for reader in FAILURE_READERS:
        failure = reader(message)
        if failure is not None:
            return failure
    return sqs_redrive_failure(message)


def body_task(body: str) -> str | None:
    """The "task" field of a task message's body, if the body is one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    task = document.get("task") if isinstance(document, dict) else None
    return task if isinstance(task, str) else None


@dataclass(frozen=True)
class DeadLetter:
    """One received DLQ message, read."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]  # SQS's system attributes (SentTimestamp, MessageGroupId, ...)
    message_attributes: Mapping[str, Mapping[str, Any]]
    reason: str
    error: str
    task: str | None

    @classmethod
    def from_message(cls, message: Message) -> DeadLetter:
        failure = read_failure(message)
        body = str(message.get("Body", ""))
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            body=body,
            attributes=dict(message.get("Attributes", {})),
            message_attributes=dict(message.get("MessageAttributes", {})),
            reason=failure.reason,
            error=failure.error,
            task=failure.task or body_task(body),
        )

    @property
    def first_enqueued(self) -> datetime | None:
        """SQS's SentTimestamp. The worker sends a new message, so for its dead letters this is when it
        dead-lettered them; for those SQS moved, the original enqueue (standard) or the move (FIFO)."""
        sent = self.attributes.get("SentTimestamp")
        return datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None

    @property
    def receive_count(self) -> int:
        return int(self.attributes.get("ApproximateReceiveCount", 0))

    @property
    def group_id(self) -> str | None:
        return self.attributes.get("MessageGroupId")

    @property
    def size(self) -> int:
        """Bytes SQS counts: the body and every attribute."""
        return entry_bytes({"MessageBody": self.body, "MessageAttributes": self.message_attributes})

    @property
    def error_first_line(self) -> str:
        return self.error.strip().splitlines()[0] if self.error.strip() else ""

    def original_attributes(self) -> dict[str, dict[str, Any]]:
        """The message attributes it was enqueued with: the runtime's own are left out."""
        kept: dict[str, dict[str, Any]] = {}
        for name, value in self.message_attributes.items():
            if name.startswith(RESERVED_ATTRIBUTE_PREFIX):
                continue
            kept[name] = {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        return kept
