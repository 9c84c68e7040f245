"""Lambda's native SQS event format, built from ReceiveMessage results.

The consumer hands the worker exactly what an SQS event source mapping would, so the
same worker runs behind either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Room for the JSON around the records: {"Records": [...]}.
_EVENT_OVERHEAD_BYTES = 16


def queue_region(queue_arn: str) -> str:
    parts = queue_arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _attribute_to_record(value: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        record["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        record["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return record


def message_to_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One ReceiveMessage result as a Lambda SQS event record."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _attribute_to_record(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_region(queue_arn),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def record_attribute_to_api(value: Mapping[str, Any]) -> dict[str, Any]:
    """A record's message attribute in the form SendMessage takes."""
    api: dict[str, Any] = {"DataType": value["dataType"]}
    if value.get("stringValue") is not None:
        api["StringValue"] = value["stringValue"]
    if value.get("binaryValue") is not None:
        api["BinaryValue"] = base64.b64decode(value["binaryValue"])
    return api


def receive_count(record: Mapping[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def message_group_id(record: Mapping[str, Any]) -> str | None:
    return record.get("attributes", {}).get("MessageGroupId")


def record_size(record: Mapping[str, Any]) -> int:
    """Bytes the record adds to an Invoke payload (serialised as the consumer sends it)."""
    return len(json.dumps(record, separators=(",", ":")).encode("utf-8")) + 1


def chunk_records(records: Iterable[dict[str, Any]], max_payload_bytes: int) -> list[list[dict[str, Any]]]:
    """Split records, in order, into events that each fit in one synchronous Invoke."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = _EVENT_OVERHEAD_BYTES
    for record in records:
        added = record_size(record)
        if current and size + added > max_payload_bytes:
            chunks.append(current)
            current, size = [], _EVENT_OVERHEAD_BYTES
        current.append(record)
        size += added
    if current:
        chunks.append(current)
    return chunks


def encode_event(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":")).encode("utf-8")
