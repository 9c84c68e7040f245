"""A message read from the DLQ: why it failed, which task it was, since when.

Each source that dead-letters into the queue marks its messages its own way. A reader per source
turns those marks into a :class:`~taskqueue.dead_letter_queue.DeadLetter` (reason, error, task); the
first reader that recognises a message wins. A message no reader recognises has no reason attached:
SQS's redrive policy moved it (or the worker had no room beside a body at the DLQ's maximum size for
even the shortest reason, which it then logged). EventBridge Scheduler, when a schedule could not
deliver its task, marks it with its own attributes (:mod:`taskqueue.schedule_dead_letters`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskqueue.dead_letter_queue import (
    ERROR_ATTRIBUTE,
    REASON_ATTRIBUTE,
    REASONS,
    TASK_ATTRIBUTE,
    DeadLetter,
    is_reserved_attribute,
)
from taskqueue.schedule_dead_letters import SCHEDULE_FAILED, SCHEDULER_ATTRIBUTES, schedule_failure
from taskqueue.sqs_batch import entry_bytes

# No reason attached: moved by SQS after maxReceiveCount receives (the invocation crashed or timed out).
REDRIVE = "redrive"
KNOWN_REASONS = (*REASONS, SCHEDULE_FAILED, REDRIVE)

ReceivedMessage = Mapping[str, Any]  # one message of a ReceiveMessage answer


def _string_attribute(message: ReceivedMessage, name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return str(value) if value is not None else None


def worker_reason(message: ReceivedMessage) -> DeadLetter | None:
    """The worker's reason attributes (taskqueue.dead_letter_queue)."""
    reason = _string_attribute(message, REASON_ATTRIBUTE)
    if reason is None:
        return None
    return DeadLetter(
        reason, _string_attribute(message, ERROR_ATTRIBUTE) or "", _string_attribute(message, TASK_ATTRIBUTE)
    )


def scheduler_reason(message: ReceivedMessage) -> DeadLetter | None:
    """EventBridge Scheduler's attributes on a task a schedule could not deliver."""
    failure = schedule_failure(message.get("MessageAttributes", {}))
    return None if failure is None else DeadLetter(SCHEDULE_FAILED, failure.describe(), None)


def no_reason(message: ReceivedMessage) -> DeadLetter:
    source = message.get("Attributes", {}).get("DeadLetterQueueSourceArn")
    if source:
        return DeadLetter(REDRIVE, f"moved by SQS's redrive policy from {source} after maxReceiveCount receives", None)
    return DeadLetter(
        REDRIVE,
        "no reason attached: moved by SQS's redrive policy, or dead-lettered by the worker without room for its "
        "reason (then in the worker's log)",
        None,
    )


READERS: tuple[Callable[[ReceivedMessage], DeadLetter | None], ...] = (worker_reason, scheduler_reason)


def read_reason(message: ReceivedMessage) -> DeadLetter:
    for reader in READERS:
        why = reader(message)
        if why is not None:
            return why
    return no_reason(message)


def body_task(body: str) -> str | None:
    """The "task" field of a task message's body, if the body is one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    task = document.get("task") if isinstance(document, dict) else None
    return task if isinstance(task, str) else None


@dataclass(frozen=True)
class DlqMessage:
    """One message received from the DLQ, read."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str]  # SQS's system attributes (SentTimestamp, MessageGroupId, ...)
    message_attributes: Mapping[str, Mapping[str, Any]]
    reason: str
    error: str
    task: str | None

    @classmethod
    def from_message(cls, message: ReceivedMessage) -> DlqMessage:
        why = read_reason(message)
        body = str(message.get("Body", ""))
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            body=body,
            attributes=dict(message.get("Attributes", {})),
            message_attributes=dict(message.get("MessageAttributes", {})),
            reason=why.reason,
            error=why.error,
            task=why.task or body_task(body),
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
        """The message attributes it was enqueued with: the runtime's own, and the Scheduler's marks, are left out."""
        marks = SCHEDULER_ATTRIBUTES if self.reason == SCHEDULE_FAILED else ()
        kept: dict[str, dict[str, Any]] = {}
        for name, value in self.message_attributes.items():
            if is_reserved_attribute(name) or name in marks:
                continue
            kept[name] = {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        return kept
