"""Enqueueing tasks: a small client over SQS SendMessage / SendMessageBatch.

Every message is checked before anything is sent: the task name, that the payload is JSON, the
delay, FIFO group and deduplication ids, attribute names, and the size against the queue's maximum
(less the room a dead letter's reason needs). A batch is sent in chunks of at most 10 messages and
1 MiB, and entries that SQS fails on its side are retried; any that still fail raise
:class:`EnqueueError`, which lists them, so none is dropped unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.dead_letter_queue import DEAD_LETTER_ROOM_BYTES, is_reserved_attribute
from taskqueue.errors import MalformedMessage
from taskqueue.limits import (
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_MESSAGE_ATTRIBUTES,
    SQS_MAX_MESSAGE_BYTES,
    SQS_MIN_MAX_MESSAGE_BYTES,
)
from taskqueue.message import TaskMessage, fifo_deduplication_id, validate_fields
from taskqueue.sqs_batch import chunks, entry_bytes

# Entries SQS failed on its side (not the sender's fault) get this many more tries.
BATCH_ENTRY_RETRIES = 2

_FIFO_ID = re.compile(r"^[!-~]{1,128}$")  # alphanumerics and punctuation, up to 128 characters
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"}


@dataclass(frozen=True)
class Task:
    """A task to enqueue."""

    name: str
    payload: Any = None
    id: str | None = None
    delay_seconds: int = 0
    group_id: str | None = None
    deduplication_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedEntry:
    task: Task
    code: str
    message: str
    sender_fault: bool


class EnqueueError(Exception):
    """Some tasks of a batch were not enqueued; ``failed`` lists them, ``message_ids`` the others."""

    def __init__(self, failed: list[FailedEntry], message_ids: list[str | None]) -> None:
        self.failed = failed
        self.message_ids = message_ids
        first = failed[0]
        super().__init__(
            f"{len(failed)} of {len(message_ids)} tasks were not enqueued; "
            f"first: task {first.task.name!r}: {first.code}: {first.message}"
        )


class TaskQueue:
    """Producer for one queue: ``TaskQueue(url).enqueue("resize_image", {"key": "a.png"})``."""

    def __init__(self, queue_url: str, *, sqs: Any | None = None, max_message_bytes: int | None = None) -> None:
        if not isinstance(queue_url, str) or not queue_url.startswith(("https://", "http://")):
            raise ValueError(f"queue_url must be an SQS queue URL, got {queue_url!r}")
        if max_message_bytes is not None and not 1 <= max_message_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes={max_message_bytes!r} must be between 1 and {SQS_MAX_MESSAGE_BYTES}")
        if sqs is None:
            import boto3  # noqa: PLC0415 - only needed when no client is given

            sqs = boto3.client("sqs")
        self.queue_url = queue_url
        self.sqs: Any = sqs
        self.fifo = queue_url.endswith(".fifo")
        self._max_message_bytes = max_message_bytes

    # -- public API ---------------------------------------------------------------------------

    def enqueue(
        self,
        name: str,
        payload: Any = None,
        *,
        id: str | None = None,
        delay_seconds: int = 0,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Send one task; returns its SQS message id."""
        task = Task(name, payload, id, delay_seconds, group_id, deduplication_id, dict(attributes or {}))
        entry = self._entry(task, "0")
        entry.pop("Id")
        return str(self.sqs.send_message(QueueUrl=self.queue_url, **entry)["MessageId"])

    def enqueue_batch(self, tasks: Iterable[Task]) -> list[str | None]:
        """Send many tasks in as few calls as the limits allow; returns message ids in order.

        On a FIFO queue, once a task of a message group fails, the group's later tasks are not sent
        (they are reported failed too), so what was sent keeps the group's order.
        """
        tasks = list(tasks)
        entries = [self._entry(task, str(index)) for index, task in enumerate(tasks)]
        message_ids: list[str | None] = [None] * len(tasks)
        failed: list[FailedEntry] = []
        blocked_groups: set[str] = set()
        for chunk in chunks(entries):
            blocked = [entry for entry in chunk if entry.get("MessageGroupId") in blocked_groups]
            failed += [
                FailedEntry(tasks[int(e["Id"])], "GroupBlocked", "an earlier task of its group failed", True)
                for e in blocked
            ]
            sendable = [entry for entry in chunk if entry not in blocked]
            try:
                failures = self._send_chunk(sendable, message_ids) if sendable else []
            except Exception as error:
                # Report what was sent and what was not, rather than lose track of both.
                unsent = [
                    entry for entry in entries[entries.index(chunk[0]) :] if message_ids[int(entry["Id"])] is None
                ]
                failed += [FailedEntry(tasks[int(e["Id"])], type(error).__name__, str(error), False) for e in unsent]
                raise EnqueueError(failed, message_ids) from error
            for index, code, message, sender_fault in failures:
                failed.append(FailedEntry(tasks[index], code, message, sender_fault))
                if self.fifo:
                    blocked_groups.add(str(entries[index]["MessageGroupId"]))
        if failed:
            raise EnqueueError(failed, message_ids)
        return message_ids

    # -- checks, all before any send ----------------------------------------------------------

    def _entry(self, task: Task, entry_id: str) -> dict[str, Any]:
        try:
            validate_fields(task.name, task.id)
        except MalformedMessage as error:
            raise ValueError(str(error)) from None
        # ASCII-only JSON: every character SQS refuses in a body (lone surrogates, U+FFFE...) is escaped.
        body = TaskMessage(task.name, task.payload, task.id).to_body()
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
        if not isinstance(task.delay_seconds, int) or not 0 <= task.delay_seconds <= SQS_MAX_DELAY_SECONDS:
            raise ValueError(
                f"delay_seconds={task.delay_seconds!r} of task {task.name!r} must be 0-{SQS_MAX_DELAY_SECONDS}"
            )
        if self.fifo:
            self._fifo_fields(task, entry)
        elif task.delay_seconds:
            entry["DelaySeconds"] = task.delay_seconds
        if task.attributes:
            entry["MessageAttributes"] = self._attributes(task)
        self._check_size(task, entry_bytes(entry))
        return entry

    def _fifo_fields(self, task: Task, entry: dict[str, Any]) -> None:
        if task.delay_seconds:
            raise ValueError(f"task {task.name!r}: FIFO queues take no per-message delay_seconds")
        if task.group_id is None:
            raise ValueError(f"task {task.name!r}: a FIFO queue needs a group_id")
        # A task's identity is (name, id): another task with the same id must not be deduplicated away.
        dedup = task.deduplication_id
        if dedup is None and task.id is not None:
            dedup = fifo_deduplication_id(task.name, task.id)
        for label, value in (("group_id", task.group_id), ("deduplication_id", dedup)):
            if value is not None and not _FIFO_ID.match(value):
                raise ValueError(f"task {task.name!r}: {label}={value!r} must be 1-128 letters, digits or punctuation")
        entry["MessageGroupId"] = task.group_id
        # Without an explicit id the queue's content-based deduplication applies.
        if dedup is not None:
            entry["MessageDeduplicationId"] = dedup

    @staticmethod
    def _attributes(task: Task) -> dict[str, Any]:
        if len(task.attributes) > SQS_MAX_MESSAGE_ATTRIBUTES:
            raise ValueError(
                f"task {task.name!r} has {len(task.attributes)} attributes; SQS allows {SQS_MAX_MESSAGE_ATTRIBUTES}"
            )
        result = {}
        for name, value in task.attributes.items():
            if is_reserved_attribute(name):
                raise ValueError(
                    f"task {task.name!r}: attribute {name!r} is reserved: names starting with 'taskqueue.' "
                    "are the attributes the worker sets on dead letters"
                )
            if not isinstance(value, str) or not value:
                raise ValueError(f"task {task.name!r}: attribute {name!r} must be a non-empty string, got {value!r}")
            result[name] = {"DataType": "String", "StringValue": value}
        return result

    def _check_size(self, task: Task, size: int) -> None:
        # Every queue takes at least 1 KiB and none more than 1 MiB: only sizes between need a look-up.
        # A dead letter carries the message plus its reason, so that room is kept free.
        if size + DEAD_LETTER_ROOM_BYTES <= SQS_MIN_MAX_MESSAGE_BYTES:
            return
        if size + DEAD_LETTER_ROOM_BYTES > SQS_MAX_MESSAGE_BYTES:
            raise ValueError(
                f"task {task.name!r} is {size} bytes, over SQS's limit of {SQS_MAX_MESSAGE_BYTES} bytes less the "
                f"{DEAD_LETTER_ROOM_BYTES} bytes kept for a dead letter's reason"
            )
        if size + DEAD_LETTER_ROOM_BYTES > self.max_message_bytes:
            raise ValueError(
                f"task {task.name!r} is {size} bytes, over the queue's maximum message size of "
                f"{self.max_message_bytes} bytes less the {DEAD_LETTER_ROOM_BYTES} bytes kept for a dead letter's reason"
            )

    @property
    def max_message_bytes(self) -> int:
        """The queue's MaximumMessageSize, looked up once unless given.

        A producer in another account is not allowed GetQueueAttributes (it would show the queue policy):
        then SQS's own limit applies here, and the queue refuses anything larger itself.
        """
        if self._max_message_bytes is None:
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["MaximumMessageSize"]
                )["Attributes"]
                self._max_message_bytes = int(attributes["MaximumMessageSize"])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in _ACCESS_DENIED:
                    raise
                self._max_message_bytes = SQS_MAX_MESSAGE_BYTES
        return self._max_message_bytes

    # -- sending ------------------------------------------------------------------------------

    def _send_chunk(
        self, chunk: list[dict[str, Any]], message_ids: list[str | None]
    ) -> list[tuple[int, str, str, bool]]:
        """Send one chunk; returns (task index, code, message, sender fault) for entries that failed.

        Entries SQS failed on its side are sent again (not on FIFO queues, where a later message of
        the group may already be in); the sender's faults are final at once.
        """
        pending = chunk
        final: list[dict[str, Any]] = []
        for attempt in range(1 + BATCH_ENTRY_RETRIES):
            result = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            for success in result.get("Successful", []):
                message_ids[int(success["Id"])] = success["MessageId"]
            failures = result.get("Failed", [])
            retryable = [] if self.fifo else [f for f in failures if not f.get("SenderFault")]
            final += [f for f in failures if f not in retryable]
            if not retryable:
                break
            if attempt == BATCH_ENTRY_RETRIES:
                final += retryable
                break
            retry_ids = {f["Id"] for f in retryable}
            pending = [entry for entry in pending if entry["Id"] in retry_ids]
        return [(int(f["Id"]), f.get("Code", ""), f.get("Message", ""), bool(f.get("SenderFault"))) for f in final]
