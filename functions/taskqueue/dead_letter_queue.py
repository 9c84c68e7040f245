"""Sending a message that can never succeed to the DLQ, with the reason it failed."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.limits import SQS_MAX_MESSAGE_ATTRIBUTES
from taskqueue.sqs_event import message_group_id, record_attribute_to_api

# Message attributes set on every message the worker dead-letters. The prefix is reserved: a producer
# may not set such attributes, and the worker never copies one from the original message.
RESERVED_PREFIX = "taskqueue."
REASON_ATTRIBUTE = "taskqueue.reason"
ERROR_ATTRIBUTE = "taskqueue.error"
TASK_ATTRIBUTE = "taskqueue.task"
SOURCE_MESSAGE_ID_ATTRIBUTE = "taskqueue.source-message-id"
# "true" or "false": whether the task ran on the receive that dead-lettered it (DeadLetter.ran).
RAN_ATTRIBUTE = "taskqueue.ran"
REASON_ATTRIBUTES = (REASON_ATTRIBUTE, ERROR_ATTRIBUTE, TASK_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE, RAN_ATTRIBUTE)


@dataclass(frozen=True)
class Reason:
    """A reason the worker dead-letters a message for: its name (``taskqueue.reason``), what it means (the
    operators' guide, docs/operating.md, lists the same, a test holds it to this), and whether the task may
    have run before the verdict (``ran_before``): such a verdict is remembered so the task never runs again."""

    name: str
    meaning: str
    ran_before: bool


MALFORMED = "malformed"
UNKNOWN_TASK = "unknown_task"
PERMANENT_ERROR = "permanent_error"
RETRIES_EXHAUSTED = "retries_exhausted"
WORKER_CANNOT_START = "worker_cannot_start"
# Every reason of the worker's, in one place: adding one is adding it here (and where the worker gives it).
WORKER_REASONS = (
    Reason(MALFORMED, "the body is not a task message", ran_before=False),
    Reason(UNKNOWN_TASK, "no task of that name is registered in the worker", ran_before=False),
    Reason(PERMANENT_ERROR, "the task raised `PermanentError`", ran_before=True),
    Reason(
        RETRIES_EXHAUSTED,
        "the task failed on its last allowed attempt, or its attempts were used up by runs that did not return "
        "(then `taskqueue.ran` is false)",
        ran_before=True,
    ),
    # On its last receive while the worker could not start: SQS's redrive would move it next, without a reason.
    Reason(
        WORKER_CANNOT_START,
        "the worker could not start (its task modules fail to import: a missing dependency, a typo in "
        "`task_modules`), and this was the message's last receive; the error is the worker's. The task never "
        "ran: fix the deploy, then `dlq redrive`",
        ran_before=False,
    ),
)
REASONS = tuple(reason.name for reason in WORKER_REASONS)
# Verdicts on a task that may have run: it must never run again, even when its message comes back.
RAN_VERDICTS = tuple(reason.name for reason in WORKER_REASONS if reason.ran_before)

MAX_ERROR_CHARS = 1024
MAX_TASK_CHARS = 256
# The smallest entry that still carries a reason (reason, source message id and the error's start)
# fits in this many bytes beside the message; the producer keeps them free below the queue's maximum.
DEAD_LETTER_ROOM_BYTES = 256
_TIGHT_ERROR_BYTES = 64

# SendMessage errors that refuse the entry itself (too large, an attribute SQS will not take): a
# smaller entry may go through. Any other error (throttling, KMS, access, 5xx) is retried later.
_ENTRY_REFUSED = {"InvalidParameterValue", "InvalidMessageContents", "InvalidAttributeValue", "InvalidAttributeName"}


@functools.cache
def _not_for_sqs() -> re.Pattern[str]:
    """Characters SQS does not accept in a message, and so in a string attribute. Compiled on the first
    dead letter, not at import: its ranges take about 5 ms to compile, on every cold start."""
    return re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def is_reserved_attribute(name: str) -> bool:
    return name.lower().startswith(RESERVED_PREFIX)


def entry_refused(error: ClientError) -> bool:
    """True when SQS refused the entry's content, so that a smaller entry is worth sending."""
    return error.response.get("Error", {}).get("Code") in _ENTRY_REFUSED


def _string(value: str, limit: int = MAX_ERROR_CHARS) -> dict[str, str]:
    # Error texts and task names come from the message or the task: keep them within what SQS takes.
    return {"DataType": "String", "StringValue": _not_for_sqs().sub("\ufffd", value[:limit]) or "?"}


def _cut_to_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True)
class DeadLetter:
    """Why a record is dead-lettered. ``ran``: whether the task ran on the receive that gave the verdict
    (False: given without running it; None: not known, as for a message SQS's redrive moved)."""

    reason: str
    error: str
    task: str | None
    ran: bool | None = None


@dataclass(frozen=True)
class DeadLetterEntry:
    """SendMessage arguments, and the attributes of the original message it leaves out."""

    arguments: dict[str, Any]
    dropped_attributes: tuple[str, ...]
    carries_reason: bool


def _original_attributes(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The original message's attributes in SendMessage form; those that cannot be carried are dropped."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in sorted((record.get("messageAttributes") or {}).items()):
        if is_reserved_attribute(str(name)):
            dropped.append(str(name))
            continue
        try:
            kept[str(name)] = record_attribute_to_api(value)
        except Exception:  # an attribute shape we do not know must not stop the dead letter
            dropped.append(str(name))
    return kept, dropped


def entries(record: Mapping[str, Any], why: DeadLetter, dlq_url: str) -> Iterator[DeadLetterEntry]:
    """SendMessage arguments for the dead letter, largest first: each is tried when SQS refused the last.

    1. the original attributes and the full reason; 2. the reason without the original attributes;
    3. the reason, the source message id, whether the task ran and the start of the error; 4. the body alone, for a message
    so close to the DLQ's maximum size that not even that fits (the reason is then in the log line).
    """
    originals, unusable = _original_attributes(record)
    source = _string(str(record.get("messageId", "")), 128)
    full = {
        REASON_ATTRIBUTE: _string(why.reason),
        ERROR_ATTRIBUTE: _string(why.error or why.reason),
        SOURCE_MESSAGE_ID_ATTRIBUTE: source,
    }
    ran = {} if why.ran is None else {RAN_ATTRIBUTE: _string(str(why.ran).lower())}
    full |= ran
    if why.task:
        full[TASK_ATTRIBUTE] = _string(why.task, MAX_TASK_CHARS)
    short = {**full, ERROR_ATTRIBUTE: _string(why.error or why.reason, 256)}
    tight = {
        REASON_ATTRIBUTE: _string(why.reason),
        SOURCE_MESSAGE_ID_ATTRIBUTE: source,
        ERROR_ATTRIBUTE: _string(_cut_to_bytes(why.error or why.reason, _TIGHT_ERROR_BYTES)),
        **ran,
    }
    # SQS allows 10 attributes per message; ours take priority, the original ones fill the rest.
    room = SQS_MAX_MESSAGE_ATTRIBUTES - len(full)
    carried = dict(list(originals.items())[:room])
    all_names = sorted(set(originals) | set(unusable))
    for attributes, carries_reason in ((full | carried, True), (short, True), (tight, True), ({}, False)):
        arguments: dict[str, Any] = {"QueueUrl": dlq_url, "MessageBody": record.get("body", "")}
        if attributes:
            arguments["MessageAttributes"] = attributes
        if dlq_url.endswith(".fifo"):
            arguments["MessageGroupId"] = message_group_id(record) or "taskqueue-dead-letters"
            arguments["MessageDeduplicationId"] = str(record.get("messageId", ""))
        elif message_group_id(record) is not None:
            arguments["MessageGroupId"] = message_group_id(record)  # the tenant, kept for its redrive
        dropped = tuple(name for name in all_names if name not in attributes)
        yield DeadLetterEntry(arguments, dropped, carries_reason)
