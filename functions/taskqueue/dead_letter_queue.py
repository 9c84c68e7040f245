"""Sending a message that can never succeed to the DLQ, with the reason it failed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from taskqueue.sqs_event import message_group_id, record_attribute_to_api

# Message attributes set on every message the worker dead-letters.
REASON_ATTRIBUTE = "taskqueue.reason"
ERROR_ATTRIBUTE = "taskqueue.error"
TASK_ATTRIBUTE = "taskqueue.task"
SOURCE_MESSAGE_ID_ATTRIBUTE = "taskqueue.source-message-id"
REASON_ATTRIBUTES = (REASON_ATTRIBUTE, ERROR_ATTRIBUTE, TASK_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE)

# Why a message was dead-lettered by the worker.
MALFORMED = "malformed"
UNKNOWN_TASK = "unknown_task"
PERMANENT_ERROR = "permanent_error"
RETRIES_EXHAUSTED = "retries_exhausted"

SQS_MAX_MESSAGE_ATTRIBUTES = 10
MAX_ERROR_CHARS = 1024


# Characters SQS accepts in a message, and so in a string attribute.
_NOT_FOR_SQS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _string(value: str, limit: int = MAX_ERROR_CHARS) -> dict[str, str]:
    # Error texts and task names come from the message or the task: keep them within what SQS takes.
    return {"DataType": "String", "StringValue": _NOT_FOR_SQS.sub("\ufffd", value[:limit]) or "?"}


def reason_attributes(
    record: Mapping[str, Any], reason: str, error: str, task: str | None, error_limit: int = MAX_ERROR_CHARS
) -> dict[str, Any]:
    attributes = {
        REASON_ATTRIBUTE: _string(reason),
        ERROR_ATTRIBUTE: _string(error or reason, error_limit),
        SOURCE_MESSAGE_ID_ATTRIBUTE: _string(record["messageId"]),
    }
    if task:
        attributes[TASK_ATTRIBUTE] = _string(task, 256)
    return attributes


def dead_letter_entry(
    record: Mapping[str, Any], reason: str, error: str, task: str | None, dlq_url: str, minimal: bool = False
) -> dict:
    """SendMessage arguments that carry the original body and attributes plus the reason.

    ``minimal`` leaves out the original attributes and shortens the error: the fallback for a DLQ
    that refused the full entry (too large for its maximum size, say).
    """
    ours = reason_attributes(record, reason, error, task, error_limit=256 if minimal else MAX_ERROR_CHARS)
    # SQS allows 10 attributes per message; ours take priority, the original ones fill the rest.
    originals = [
        (name, record_attribute_to_api(value))
        for name, value in sorted(record.get("messageAttributes", {}).items())
        if name not in ours and not minimal
    ]
    room = SQS_MAX_MESSAGE_ATTRIBUTES - len(ours)
    entry: dict[str, Any] = {
        "QueueUrl": dlq_url,
        "MessageBody": record["body"],
        "MessageAttributes": {**dict(originals[:room]), **ours},
    }
    if dlq_url.endswith(".fifo"):
        entry["MessageGroupId"] = message_group_id(record) or "taskqueue-dead-letters"
        entry["MessageDeduplicationId"] = record["messageId"]
    return entry


def dropped_attribute_names(record: Mapping[str, Any], entry: Mapping[str, Any]) -> list[str]:
    return sorted(set(record.get("messageAttributes", {})) - set(entry["MessageAttributes"]))
