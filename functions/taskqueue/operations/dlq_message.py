"""A message read from the DLQ: why it failed, which task it was, since when.

The reason shown comes from who put the message there (its provenance), never from a list of names a
producer is refused, because SQS keeps any sender's message attributes, ``taskqueue.*`` included,
through its own redrive:

1. a message that carries SQS's ``DeadLetterQueueSourceArn`` system attribute was moved by SQS's
   redrive policy (a sender can set no system attribute but ``AWSTraceHeader``): it is ``redrive``,
   whatever message attributes it carries;
2. any other message was sent to the DLQ directly, which only the worker (and, for the schedule's
   dead-letter queue, EventBridge Scheduler) may do: the worker's reason attributes, read only when
   they hold a reason the worker writes, or the Scheduler's (:mod:`taskqueue.schedule_dead_letters`);
3. a message with neither has no reason attached: SQS's redrive on an emulator that leaves the
   attribute out (moto), or the worker's last-resort dead letter without room for its reason (then in
   the worker's log).

Reading is total: a value that does not parse (a receive count of "²", a timestamp out of range) reads
as unknown, so one message can never stop a command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskqueue.dead_letter_queue import (
    ERROR_ATTRIBUTE,
    RAN_ATTRIBUTE,
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


DEAD_LETTER_QUEUE_SOURCE_ARN = "DeadLetterQueueSourceArn"  # set by SQS on a message its redrive policy moved


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _string_attribute(message: ReceivedMessage, name: str) -> str | None:
    value = _mapping(_mapping(message.get("MessageAttributes")).get(name)).get("StringValue")
    return str(value) if value is not None else None


def whole_number(text: Any) -> int | None:
    """A non-negative whole number written in ASCII digits, else None ("²".isdigit() is true, int() refuses it)."""
    text = str(text)
    return int(text) if text.isascii() and text.isdigit() else None


def moved_by_sqs(message: ReceivedMessage) -> DeadLetter | None:
    """SQS's redrive moved it: its own system attribute says so, and no message attribute can outweigh that."""
    source = _mapping(message.get("Attributes")).get(DEAD_LETTER_QUEUE_SOURCE_ARN)
    if not source:
        return None
    return DeadLetter(REDRIVE, f"moved by SQS's redrive policy from {source} after maxReceiveCount receives", None)


def worker_reason(message: ReceivedMessage) -> DeadLetter | None:
    """The worker's reason attributes (taskqueue.dead_letter_queue); a reason it never writes is not its."""
    reason = _string_attribute(message, REASON_ATTRIBUTE)
    if reason not in REASONS:
        return None
    ran = {"true": True, "false": False}.get(_string_attribute(message, RAN_ATTRIBUTE) or "")
    return DeadLetter(
        reason, _string_attribute(message, ERROR_ATTRIBUTE) or "", _string_attribute(message, TASK_ATTRIBUTE), ran
    )


def scheduler_reason(message: ReceivedMessage) -> DeadLetter | None:
    """EventBridge Scheduler's attributes on a task a schedule could not deliver."""
    failure = schedule_failure(_mapping(message.get("MessageAttributes")))
    return None if failure is None else DeadLetter(SCHEDULE_FAILED, failure.describe(), None)


def no_reason(message: ReceivedMessage) -> DeadLetter:
    return DeadLetter(
        REDRIVE,
        "no reason attached: moved by SQS's redrive policy, or dead-lettered by the worker without room for its "
        "reason (then in the worker's log)",
        None,
    )


# In order of precedence: provenance first.
READERS: tuple[Callable[[ReceivedMessage], DeadLetter | None], ...] = (moved_by_sqs, worker_reason, scheduler_reason)


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
            attributes={str(name): str(value) for name, value in _mapping(message.get("Attributes")).items()},
            message_attributes={
                str(name): _mapping(value) for name, value in _mapping(message.get("MessageAttributes")).items()
            },
            reason=why.reason,
            error=why.error,
            task=why.task or body_task(body),
        )

    @property
    def first_enqueued(self) -> datetime | None:
        """SQS's SentTimestamp. The worker sends a new message, so for its dead letters this is when it
        dead-lettered them; for those SQS moved, the original enqueue (standard) or the move (FIFO)."""
        sent = whole_number(self.attributes.get("SentTimestamp", ""))
        try:
            return None if sent is None else datetime.fromtimestamp(sent / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):  # beyond what a datetime holds
            return None

    @property
    def receive_count(self) -> int:
        return whole_number(self.attributes.get("ApproximateReceiveCount", "")) or 0

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
