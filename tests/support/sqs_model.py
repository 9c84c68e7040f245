"""An in-memory model of Amazon SQS on a simulated clock, for model-based tests.

It covers what the task queue's runtime uses, as the SQS developer guide and API reference describe it:
standard and FIFO queues, delays, visibility timeouts, receive counts and timestamps, FIFO message
groups (one batch of a group in flight at a time, in order), the FIFO deduplication window (by
MessageDeduplicationId or by content), ReceiveRequestAttemptId on FIFO, redrive to a dead-letter queue
past maxReceiveCount (checked when a receive would deliver the message, as SQS does; the moved message
carries the DeadLetterQueueSourceArn system attribute, which moto leaves out), ListDeadLetterSourceQueues,
retention, the batch calls with their per-entry results, and fair queues: a standard queue's messages
with a MessageGroupId (a tenant) are delivered quiet tenants first (see ``_fair_order``).

Operations take the API's parameters (as boto3 sends them) and the time of the call, and return the
API's response or raise :class:`SqsError` with SQS's error code and HTTP status. ``sqs_endpoint``
serves a real boto3 client from the model, so callers get botocore's parameter checks and ClientError.

Where AWS leaves a choice open, the model takes one and says so:
- a standard queue deletes a message with any receipt handle it was ever given ("might not be
  deleted" in the guide; SQS does in practice); a FIFO queue refuses a handle whose visibility timeout
  passed or that a later receive replaced (``ReceiptHandleIsInvalid``, "The receipt handle has expired");
- a standard receive returns the oldest visible messages first (any order is allowed).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskqueue.limits import (
    SQS_MAX_BATCH_BYTES,
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_FIFO_ID_LENGTH,
    SQS_MAX_MESSAGE_ATTRIBUTES,
    SQS_MAX_MESSAGE_BYTES,
    SQS_MAX_RECEIVE_BATCH,
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
    SQS_MAX_WAIT_TIME_SECONDS,
    SQS_MIN_MAX_MESSAGE_BYTES,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
# FIFO: a second message with the same deduplication id within this window is accepted but not delivered.
DEDUPLICATION_WINDOW_SECONDS = 300
# FIFO: a ReceiveMessage retried with the same ReceiveRequestAttemptId within this window gets the same messages.
RECEIVE_ATTEMPT_WINDOW_SECONDS = 300
DEFAULT_ATTRIBUTES = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(SQS_MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
}
SENDER_ID = "AIDAMODELSENDER"
# Characters SQS accepts in a message body and string attributes.
_VALID_TEXT = re.compile("^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,256}$")
_BATCH_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_ID = re.compile(rf"^[!-~]{{1,{SQS_MAX_FIFO_ID_LENGTH}}}$")
# Fair queues ("How Amazon SQS fair queues work"): a tenant is noisy when it holds more than this share of
# the queue's in-flight messages and at least this many of its own. The guide's second measure, a share
# of consumers' processing time above 10%, is not modelled: the model sees no processing time.
FAIR_NOISY_IN_FLIGHT_SHARE = 0.10
FAIR_NOISY_MIN_IN_FLIGHT = 30


class SqsError(Exception):
    """An SQS error answer: the code botocore reports, the message, the HTTP status and who is at fault."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def sender_fault(self) -> bool:
        return self.status < 500

    def response(self) -> dict[str, Any]:
        """The parsed error response, as botocore builds it for a ClientError."""
        return {
            "Error": {
                "Code": self.code,
                "Message": self.message,
                "Type": "Sender" if self.sender_fault else "Receiver",
                # The error's shape name, which botocore picks the exception class by.
                "QueryErrorCode": self.code.removeprefix("AWS.SimpleQueueService."),
            },
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }

    def batch_entry(self, entry_id: str) -> dict[str, Any]:
        return {"Id": entry_id, "SenderFault": self.sender_fault, "Code": self.code, "Message": self.message}


def invalid(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", message)


def server_error() -> SqsError:
    return SqsError("InternalError", "We encountered an internal error. Please try again.", 500)


class SimClock:
    """Seconds since the epoch, moving only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock cannot go back: advance({seconds!r})")
        self.now += seconds


def _millis(seconds: float) -> str:
    return str(int(seconds * 1000))


def _utf8(value: str) -> bytes:
    return value.encode("utf-8")


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes SQS counts against MaximumMessageSize: the body, and each attribute's name, type and value."""
    total = len(_utf8(body))
    for name, value in attributes.items():
        total += len(_utf8(name)) + len(_utf8(value["DataType"]))
        total += len(_utf8(value.get("StringValue", ""))) + len(value.get("BinaryValue", b""))
    return total


def attributes_md5(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """MD5OfMessageAttributes, by the algorithm of the SQS developer guide."""
    digest = hashlib.md5()  # SQS's checksum, not security

    def add(data: bytes) -> None:
        digest.update(struct.pack("!I", len(data)) + data)

    for name in sorted(attributes):
        value = attributes[name]
        add(_utf8(name))
        add(_utf8(value["DataType"]))
        if "StringValue" in value:
            digest.update(b"\x01")
            add(_utf8(value["StringValue"]))
        else:
            digest.update(b"\x02")
            add(value["BinaryValue"])
    return digest.hexdigest()


def _validate_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> None:
    if len(attributes) > SQS_MAX_MESSAGE_ATTRIBUTES:
        raise invalid(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{SQS_MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if (
            not _ATTRIBUTE_NAME.match(name)
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
            or lowered.startswith(("aws.", "amazon."))
        ):
            raise invalid(f"The message attribute name '{name}' is invalid.")
        data_type = str(value.get("DataType", ""))
        if data_type.split(".", maxsplit=1)[0] not in ("String", "Number", "Binary"):
            raise invalid(f"The message attribute '{name}' has an invalid message attribute type.")
        if data_type.startswith("Binary"):
            if not value.get("BinaryValue"):
                raise invalid(f"The message attribute '{name}' must contain non-empty message attribute value.")
        else:
            text = value.get("StringValue")
            if not text:
                raise invalid(f"The message attribute '{name}' must contain non-empty message attribute value.")
            if not _VALID_TEXT.match(text):
                raise SqsError("InvalidMessageContents", f"Invalid characters in message attribute '{name}'.")


@dataclass
class StoredMessage:
    message_id: str
    body: str
    attributes: dict[str, dict[str, Any]]
    sent_at: float
    visible_at: float  # a delayed message's delivery time, then the end of its visibility timeout
    group_id: str | None = None
    deduplication_id: str | None = None
    sequence_number: str | None = None
    receive_count: int = 0
    first_receive_at: float | None = None
    # Every receipt handle this message was given, the latest last.
    handles: list[str] = field(default_factory=list)
    handle_expires_at: float = 0.0  # the latest receive's visibility end (FIFO handles expire with it)
    received_at: float = 0.0  # the latest receive (the 12-hour visibility limit counts from it)
    # The source queue's ARN on a message SQS's redrive moved: the DeadLetterQueueSourceArn system attribute.
    dead_letter_source_arn: str | None = None

    def in_flight(self, now: float) -> bool:
        return bool(self.handles) and now < self.visible_at

    def visible(self, now: float) -> bool:
        return now >= self.visible_at


@dataclass(frozen=True)
class Redriven:
    """A message SQS moved to the dead-letter queue, as it was when moved."""

    message_id: str
    receive_count: int
    at: float


@dataclass
class ModelQueue:
    name: str
    attributes: dict[str, str]
    created_at: float
    messages: dict[str, StoredMessage] = field(default_factory=dict)  # in send order
    # FIFO deduplication: id -> (message id, sent at).
    deduplication: dict[str, tuple[str, float]] = field(default_factory=dict)
    # FIFO ReceiveRequestAttemptId -> (time, message ids, their receipt handles).
    receive_attempts: dict[str, tuple[float, list[str], list[str]]] = field(default_factory=dict)
    deleted: dict[str, float] = field(default_factory=dict)  # message id -> when
    redriven: list[Redriven] = field(default_factory=list)
    expired: dict[str, float] = field(default_factory=dict)  # message id -> when retention removed it

    @property
    def url(self) -> str:
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name}"

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name}"

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    def number(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def redrive_policy(self) -> dict[str, Any] | None:
        text = self.attributes.get("RedrivePolicy")
        return json.loads(text) if text else None


class SqsModel:
    """The queues of one account and region, and the API calls the task queue makes on them."""

    def __init__(self) -> None:
        self.queues: dict[str, ModelQueue] = {}
        self._ids = itertools.count(1)
        # Seconds the latest ReceiveMessage waited in its long poll: the caller's clock moves by it.
        self.last_wait = 0.0

    # -- helpers the tests read the state through -----------------------------------------------

    def queue(self, url: str) -> ModelQueue:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        queue = self.queues.get(name)
        if queue is None or queue.url != url:
            raise SqsError("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
        return queue

    def queue_by_arn(self, arn: str) -> ModelQueue | None:
        return next((queue for queue in self.queues.values() if queue.arn == arn), None)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):08d}"

    # -- dispatch -------------------------------------------------------------------------------

    OPERATIONS = (
        "CreateQueue",
        "GetQueueUrl",
        "GetQueueAttributes",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "ListDeadLetterSourceQueues",
    )

    def call(self, operation: str, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Run one API operation at time ``now``."""
        if operation not in self.OPERATIONS:
            raise SqsError("UnsupportedOperation", f"{operation} is not modelled", 400)
        method = getattr(self, "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        return dict(method(params, now))

    # -- queues -----------------------------------------------------------------------------------

    def _create_queue(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        name = params["QueueName"]
        attributes = {**DEFAULT_ATTRIBUTES, **{k: str(v) for k, v in (params.get("Attributes") or {}).items()}}
        fifo = attributes.get("FifoQueue") == "true"
        base = name.removesuffix(".fifo") if fifo else name
        if not _QUEUE_NAME.match(base) or fifo != name.endswith(".fifo"):
            raise invalid(f"Can only include alphanumeric characters, hyphens, or underscores: {name!r}")
        if fifo:
            attributes.setdefault("ContentBasedDeduplication", "false")
        size = int(attributes["MaximumMessageSize"])
        if not SQS_MIN_MAX_MESSAGE_BYTES <= size <= SQS_MAX_MESSAGE_BYTES:
            raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter MaximumMessageSize: {size}")
        if name in self.queues:
            if self.queues[name].attributes != attributes:
                raise SqsError(
                    "QueueAlreadyExists", "A queue already exists with the same name and different attributes"
                )
            return {"QueueUrl": self.queues[name].url}
        queue = ModelQueue(name, attributes, now)
        policy = queue.redrive_policy
        if policy is not None:
            target = self.queue_by_arn(policy.get("deadLetterTargetArn", ""))
            if target is None or target.fifo != fifo:
                raise invalid(f"Value {attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid.")
        self.queues[name] = queue
        return {"QueueUrl": queue.url}

    def _get_queue_url(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        name = params["QueueName"]
        if name not in self.queues:
            raise SqsError("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
        return {"QueueUrl": self.queues[name].url}

    def _get_queue_attributes(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        queue = self.queue(params["QueueUrl"])
        self._expire(queue, now)
        messages = queue.messages.values()
        computed = {
            "QueueArn": queue.arn,
            "CreatedTimestamp": str(int(queue.created_at)),
            "LastModifiedTimestamp": str(int(queue.created_at)),
            "ApproximateNumberOfMessages": str(sum(1 for m in messages if m.visible(now))),
            "ApproximateNumberOfMessagesNotVisible": str(sum(1 for m in messages if m.in_flight(now))),
            "ApproximateNumberOfMessagesDelayed": str(sum(1 for m in messages if not m.handles and not m.visible(now))),
        }
        everything = {**queue.attributes, **computed}
        names = list(params.get("AttributeNames") or [])
        if "All" in names:
            return {"Attributes": everything}
        unknown = [name for name in names if name not in everything and name not in _OPTIONAL_QUEUE_ATTRIBUTES]
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
        selected = {name: everything[name] for name in names if name in everything}
        return {"Attributes": selected} if selected else {}

    def _list_dead_letter_source_queues(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        """The queues whose redrive policy names this one (one page: the model holds few queues)."""
        target = self.queue(params["QueueUrl"])
        sources = [
            q.url for q in self.queues.values() if (q.redrive_policy or {}).get("deadLetterTargetArn") == target.arn
        ]
        return {"queueUrls": sources}

    # -- sending ----------------------------------------------------------------------------------

    def _checked_message(self, queue: ModelQueue, params: Mapping[str, Any]) -> tuple[str, dict[str, Any], int]:
        """The body, attributes and delay of a SendMessage (or batch entry), or the error SQS gives."""
        body = params["MessageBody"]
        attributes = {name: dict(value) for name, value in (params.get("MessageAttributes") or {}).items()}
        if not body:
            raise SqsError("MissingParameter", "The request must contain the parameter MessageBody.")
        if not _VALID_TEXT.match(body):
            raise SqsError("InvalidMessageContents", "Invalid characters found. Valid unicode characters are #x9 | ...")
        _validate_attributes(attributes)
        limit = queue.number("MaximumMessageSize")
        if message_size(body, attributes) > limit:
            raise invalid(f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.")
        delay = params.get("DelaySeconds")
        if delay is not None and not 0 <= int(delay) <= SQS_MAX_DELAY_SECONDS:
            raise invalid(f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be >= 0 and <= 900.")
        if queue.fifo:
            if delay:
                raise invalid(
                    f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request include "
                    "parameter that is not valid for this queue type."
                )
            group = params.get("MessageGroupId")
            if group is None:
                raise SqsError("MissingParameter", "The request must contain the parameter MessageGroupId.")
            if not _FIFO_ID.match(group):
                raise invalid(f"Value {group} for parameter MessageGroupId is invalid.")
            dedup = params.get("MessageDeduplicationId")
            if dedup is None and queue.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                    "provided explicitly"
                )
            if dedup is not None and not _FIFO_ID.match(dedup):
                raise invalid(f"Value {dedup} for parameter MessageDeduplicationId is invalid.")
        else:
            # A standard queue takes a MessageGroupId (its tenant, for fair queueing), under FIFO's rules.
            group = params.get("MessageGroupId")
            if group is not None and not _FIFO_ID.match(group):
                raise invalid(f"Value {group} for parameter MessageGroupId is invalid.")
            if params.get("MessageDeduplicationId") is not None:
                raise invalid(
                    f"Value {params['MessageDeduplicationId']} for parameter MessageDeduplicationId is invalid. "
                    "Reason: The request include parameter that is not valid for this queue type."
                )
        return body, attributes, int(delay if delay is not None else queue.number("DelaySeconds"))

    def _store(self, queue: ModelQueue, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        body, attributes, delay = self._checked_message(queue, params)
        self._expire(queue, now)
        result: dict[str, Any] = {"MD5OfMessageBody": hashlib.md5(_utf8(body)).hexdigest()}
        if attributes:
            result["MD5OfMessageAttributes"] = attributes_md5(attributes)
        dedup = None
        if queue.fifo:
            dedup = params.get("MessageDeduplicationId") or hashlib.sha256(_utf8(body)).hexdigest()
            seen = queue.deduplication.get(dedup)
            if seen is not None and now - seen[1] < DEDUPLICATION_WINDOW_SECONDS:
                # Accepted, not delivered: the answer names the message that was.
                original = queue.messages.get(seen[0])
                result["MessageId"] = seen[0]
                if original is not None and original.sequence_number:
                    result["SequenceNumber"] = original.sequence_number
                return result
        message = StoredMessage(
            message_id=self._next_id("msg"),
            body=body,
            attributes=attributes,
            sent_at=now,
            visible_at=now + delay,
            group_id=params.get("MessageGroupId"),
            deduplication_id=dedup,
            sequence_number=f"{next(self._ids):020d}" if queue.fifo else None,
        )
        queue.messages[message.message_id] = message
        if dedup is not None:
            queue.deduplication[dedup] = (message.message_id, now)
        result["MessageId"] = message.message_id
        if message.sequence_number:
            result["SequenceNumber"] = message.sequence_number
        return result

    def _send_message(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return self._store(self.queue(params["QueueUrl"]), params, now)

    def _send_message_batch(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        queue = self.queue(params["QueueUrl"])
        entries = list(params.get("Entries") or [])
        self._check_batch(entries)
        total = sum(message_size(e["MessageBody"], e.get("MessageAttributes") or {}) for e in entries)
        if total > SQS_MAX_BATCH_BYTES:
            raise SqsError(
                "AWS.SimpleQueueService.BatchRequestTooLong",
                f"Batch requests cannot be longer than {SQS_MAX_BATCH_BYTES} bytes. You have sent {total} bytes.",
            )
        successful, failed = [], []
        for entry in entries:
            try:
                successful.append({"Id": entry["Id"], **self._store(queue, entry, now)})
            except SqsError as error:
                failed.append(error.batch_entry(entry["Id"]))
        return {"Successful": successful, "Failed": failed}

    @staticmethod
    def _check_batch(entries: list[Mapping[str, Any]]) -> None:
        if not entries:
            raise SqsError(
                "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry."
            )
        if len(entries) > SQS_MAX_BATCH_ENTRIES:
            raise SqsError(
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                f"Maximum number of entries per request are {SQS_MAX_BATCH_ENTRIES}. You have sent {len(entries)}.",
            )
        ids = [entry["Id"] for entry in entries]
        bad = next((i for i in ids if not _BATCH_ENTRY_ID.match(i)), None)
        if bad is not None:
            raise SqsError("AWS.SimpleQueueService.InvalidBatchEntryId", f"Batch entry id {bad} is invalid.")
        repeated = next((i for n, i in enumerate(ids) if i in ids[:n]), None)
        if repeated is not None:
            raise SqsError("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", f"Id {repeated} repeated.")

    # -- receiving --------------------------------------------------------------------------------

    def _expire(self, queue: ModelQueue, now: float) -> None:
        retention = queue.number("MessageRetentionPeriod")
        for message in list(queue.messages.values()):
            if now - message.sent_at >= retention:
                del queue.messages[message.message_id]
                queue.expired[message.message_id] = message.sent_at + retention

    def _deliverable(self, queue: ModelQueue, now: float) -> Iterator[StoredMessage]:
        """Visible messages in delivery order; on FIFO, only runs of unlocked groups from their heads."""
        if not queue.fifo:
            yield from self._fair_order(queue, now)
            return
        groups: dict[str, list[StoredMessage]] = {}
        for message in queue.messages.values():
            groups.setdefault(message.group_id or "", []).append(message)
        # Groups in the order of their oldest message; within a group, messages in order up to the
        # first one not visible (a group with a message in flight is locked).
        for members in groups.values():
            if any(m.in_flight(now) for m in members):
                continue
            for message in members:
                if not message.visible(now):
                    break
                yield message

    @staticmethod
    def noisy_tenants(queue: ModelQueue, now: float) -> dict[str, int]:
        """A standard queue's noisy tenants (fair queues) and their in-flight counts; a message without a
        MessageGroupId is a tenant of its own, never noisy (it is at most one message in flight)."""
        in_flight = [m for m in queue.messages.values() if m.in_flight(now)]
        counts: dict[str, int] = {}
        for message in in_flight:
            if message.group_id is not None:
                counts[message.group_id] = counts.get(message.group_id, 0) + 1
        return {
            tenant: count
            for tenant, count in counts.items()
            if count >= FAIR_NOISY_MIN_IN_FLIGHT and count > FAIR_NOISY_IN_FLIGHT_SHARE * len(in_flight)
        }

    def _fair_order(self, queue: ModelQueue, now: float) -> list[StoredMessage]:
        """Visible messages of a standard queue: quiet tenants' oldest first, then the noisy tenants', the one
        with the fewest messages in flight first (as the guide describes); without any noisy tenant, oldest first."""
        visible = [m for m in queue.messages.values() if m.visible(now)]
        noisy = self.noisy_tenants(queue, now)
        if not noisy:
            return visible
        quiet = [m for m in visible if m.group_id not in noisy]
        loud = [m for m in visible if m.group_id in noisy]
        # sorted() is stable: within a tenant, and between tenants with as many in flight, oldest first.
        return quiet + sorted(loud, key=lambda m: noisy[str(m.group_id)])

    def delivery_order(self, queue: ModelQueue, now: float) -> list[StoredMessage]:
        """The messages a receive at ``now`` would take, in the order it would take them (FIFO: as many of
        one group as possible, group after group, as SQS documents)."""
        return list(self._deliverable(queue, now))

    def _redrive_target(self, queue: ModelQueue) -> tuple[ModelQueue, int] | None:
        policy = queue.redrive_policy
        if policy is None:
            return None
        target = self.queue_by_arn(policy["deadLetterTargetArn"])
        return (target, int(policy["maxReceiveCount"])) if target is not None else None

    def _take(self, queue: ModelQueue, count: int, visibility: int, now: float) -> list[StoredMessage]:
        redrive = self._redrive_target(queue)
        taken: list[StoredMessage] = []
        while len(taken) < count:
            progressed = False
            for message in self._deliverable(queue, now):
                if message in taken:
                    continue
                if redrive is not None and message.receive_count >= redrive[1]:
                    # Past maxReceiveCount: moved, not delivered; a FIFO group's next message may follow.
                    self._move_to_dead_letter_queue(queue, message, redrive[0], now)
                    progressed = True
                    break
                message.receive_count += 1
                message.first_receive_at = message.first_receive_at or now
                message.received_at = now
                message.handles.append(self._next_id(f"rh-{message.message_id}"))
                message.visible_at = message.handle_expires_at = now + visibility
                taken.append(message)
                if len(taken) == count:
                    break
            else:
                if not progressed:
                    break
        return taken

    @staticmethod
    def _move_to_dead_letter_queue(queue: ModelQueue, message: StoredMessage, target: ModelQueue, now: float) -> None:
        del queue.messages[message.message_id]
        queue.redriven.append(Redriven(message.message_id, message.receive_count, now))
        # The message keeps its id, body, attributes, enqueue time and receive count.
        moved = StoredMessage(
            message_id=message.message_id,
            body=message.body,
            attributes=message.attributes,
            sent_at=message.sent_at,
            visible_at=now,
            group_id=message.group_id,
            deduplication_id=message.deduplication_id,
            sequence_number=message.sequence_number,
            receive_count=message.receive_count,
            first_receive_at=message.first_receive_at,
            dead_letter_source_arn=queue.arn,
        )
        target.messages[moved.message_id] = moved

    def next_visible_time(self, queue: ModelQueue, after: float) -> float | None:
        """When the earliest message not yet visible becomes so (what a long poll waits for)."""
        times = [m.visible_at for m in queue.messages.values() if m.visible_at > after]
        return min(times) if times else None

    def _receive_message(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        queue, count, visibility, wait = self._receive_parameters(params)
        attempt = params.get("ReceiveRequestAttemptId")
        if attempt is not None and queue.fifo:
            repeated = self._repeat_attempt(queue, attempt, visibility, now)
            if repeated is not None:
                return self._received(repeated, params, queue)
        self._expire(queue, now)
        taken = self._take(queue, count, visibility, now)
        # Long poll: the first messages that become deliverable within the wait, or nothing after it.
        at = now
        while not taken and wait:
            when = self.next_visible_time(queue, at)
            if when is None or when > now + wait:
                at = now + wait
                break
            at = when
            taken = self._take(queue, count, visibility, at)
        self.last_wait = at - now
        if attempt is not None and queue.fifo:
            queue.receive_attempts[attempt] = (now, [m.message_id for m in taken], [m.handles[-1] for m in taken])
        return self._received(taken, params, queue)

    def _receive_parameters(self, params: Mapping[str, Any]) -> tuple[ModelQueue, int, int, int]:
        queue = self.queue(params["QueueUrl"])
        count = int(params.get("MaxNumberOfMessages", 1))
        if not 1 <= count <= SQS_MAX_RECEIVE_BATCH:
            raise invalid(
                f"Value {count} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )
        visibility = int(params.get("VisibilityTimeout", queue.number("VisibilityTimeout")))
        if not 0 <= visibility <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise invalid(f"Value {visibility} for parameter VisibilityTimeout is invalid.")
        wait = int(params.get("WaitTimeSeconds", queue.number("ReceiveMessageWaitTimeSeconds")))
        if not 0 <= wait <= SQS_MAX_WAIT_TIME_SECONDS:
            raise invalid(f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: must be <= 0 and >= 20.")
        attempt = params.get("ReceiveRequestAttemptId")
        if attempt is not None and not _FIFO_ID.match(attempt):
            raise invalid(f"Value {attempt} for parameter ReceiveRequestAttemptId is invalid.")
        self.last_wait = 0.0
        return queue, count, visibility, wait

    @staticmethod
    def _repeat_attempt(queue: ModelQueue, attempt: str, visibility: int, now: float) -> list[StoredMessage] | None:
        """A retried FIFO receive within the window gets the same messages and handles, with their
        visibility timeout reset, as long as none of them was deleted or had its visibility changed."""
        previous = queue.receive_attempts.get(attempt)
        if previous is None or now - previous[0] >= RECEIVE_ATTEMPT_WINDOW_SECONDS:
            return None
        _, message_ids, handles = previous
        messages = [queue.messages.get(message_id) for message_id in message_ids]
        unchanged = all(
            m is not None and m.handles[-1] == handle and m.handle_expires_at == m.visible_at
            for m, handle in zip(messages, handles, strict=True)
        )
        if not unchanged:
            return None
        repeated = [m for m in messages if m is not None]
        for message in repeated:
            message.visible_at = message.handle_expires_at = now + visibility
        return repeated

    @staticmethod
    def _received(messages: list[StoredMessage], params: Mapping[str, Any], queue: ModelQueue) -> dict[str, Any]:
        wanted_system = set(params.get("MessageSystemAttributeNames") or []) | set(params.get("AttributeNames") or [])
        wanted_attributes = list(params.get("MessageAttributeNames") or [])
        result = []
        for message in messages:
            system = {
                "SenderId": SENDER_ID,
                "SentTimestamp": _millis(message.sent_at),
                "ApproximateReceiveCount": str(message.receive_count),
                "ApproximateFirstReceiveTimestamp": _millis(message.first_receive_at or message.sent_at),
            }
            if message.dead_letter_source_arn is not None:
                system["DeadLetterQueueSourceArn"] = message.dead_letter_source_arn
            if message.group_id is not None and not queue.fifo:
                system["MessageGroupId"] = message.group_id
            if queue.fifo:
                system.update(
                    MessageGroupId=str(message.group_id),
                    MessageDeduplicationId=str(message.deduplication_id),
                    SequenceNumber=str(message.sequence_number),
                )
            item: dict[str, Any] = {
                "MessageId": message.message_id,
                "ReceiptHandle": message.handles[-1],
                "MD5OfBody": hashlib.md5(_utf8(message.body)).hexdigest(),
                "Body": message.body,
            }
            selected_system = {k: v for k, v in system.items() if "All" in wanted_system or k in wanted_system}
            if selected_system:
                item["Attributes"] = selected_system
            selected = {
                name: dict(value)
                for name, value in message.attributes.items()
                if any(
                    pattern in ("All", ".*")
                    or pattern == name
                    or (pattern.endswith(".*") and name.startswith(pattern[:-2]))
                    for pattern in wanted_attributes
                )
            }
            if selected:
                item["MessageAttributes"] = selected
                item["MD5OfMessageAttributes"] = attributes_md5(selected)
            result.append(item)
        return {"Messages": result} if result else {}

    # -- settling ---------------------------------------------------------------------------------

    def _find(self, queue: ModelQueue, handle: str, now: float) -> StoredMessage | None:
        """The message a receipt handle belongs to, None when it was deleted; raises when the handle is
        not one SQS gave, or is stale on a FIFO queue."""
        message_id = handle.split("-", 1)[1].rsplit("-", 1)[0] if handle.startswith("rh-") else None
        message = queue.messages.get(message_id) if message_id else None
        if message is None or handle not in message.handles:
            if message_id is not None and message_id in queue.deleted:
                return None
            raise SqsError(
                "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
            )
        if queue.fifo and (handle != message.handles[-1] or now >= message.handle_expires_at):
            raise SqsError("ReceiptHandleIsInvalid", f'The receipt handle "{handle}" has expired.')
        return message

    def _delete_message(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        queue = self.queue(params["QueueUrl"])
        message = self._find(queue, params["ReceiptHandle"], now)
        if message is not None:
            del queue.messages[message.message_id]
            queue.deleted[message.message_id] = now
        return {}

    def _change_message_visibility(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        queue = self.queue(params["QueueUrl"])
        timeout = int(params["VisibilityTimeout"])
        message = self._find(queue, params["ReceiptHandle"], now)
        if message is None:
            raise SqsError(
                "ReceiptHandleIsInvalid", f'The input receipt handle "{params["ReceiptHandle"]}" is not valid.'
            )
        if not message.in_flight(now):
            raise SqsError("AWS.SimpleQueueService.MessageNotInflight", "Message not inflight.")
        if timeout < 0 or now + timeout - message.received_at > SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise invalid(
                f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for "
                f"the message is beyond the limit [{SQS_MAX_VISIBILITY_TIMEOUT_SECONDS} seconds]"
            )
        message.visible_at = now + timeout
        # A FIFO handle stays valid while the message is in flight under it.
        message.handle_expires_at = message.visible_at
        return {}

    def _batch(
        self, params: Mapping[str, Any], now: float, single: Callable[[Mapping[str, Any], float], Any]
    ) -> dict[str, Any]:
        entries = list(params.get("Entries") or [])
        self._check_batch(entries)
        successful, failed = [], []
        for entry in entries:
            try:
                single({**entry, "QueueUrl": params["QueueUrl"]}, now)
                successful.append({"Id": entry["Id"]})
            except SqsError as error:
                failed.append(error.batch_entry(entry["Id"]))
        return {"Successful": successful, "Failed": failed}

    def _delete_message_batch(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return self._batch(params, now, self._delete_message)

    def _change_message_visibility_batch(self, params: Mapping[str, Any], now: float) -> dict[str, Any]:
        return self._batch(params, now, self._change_message_visibility)


# Attributes a queue may lack (SQS leaves them out of the answer rather than refusing the name).
_OPTIONAL_QUEUE_ATTRIBUTES = frozenset(
    {
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "Policy",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    }
)


def decode_binary_attributes(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-protocol request parameters with base64 BinaryValue fields back as bytes, as boto3 was given them."""

    def attributes(values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: {**value, "BinaryValue": base64.b64decode(value["BinaryValue"])} if "BinaryValue" in value else value
            for name, value in values.items()
        }

    decoded = dict(params)
    if "MessageAttributes" in decoded:
        decoded["MessageAttributes"] = attributes(decoded["MessageAttributes"])
    if "Entries" in decoded:
        decoded["Entries"] = [
            {**entry, "MessageAttributes": attributes(entry["MessageAttributes"])}
            if "MessageAttributes" in entry
            else entry
            for entry in decoded["Entries"]
        ]
    return decoded
