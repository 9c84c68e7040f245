"""The baseline's worker: runs one task, then deletes its own message."""

from __future__ import annotations

import json
from typing import Any

import boto3
import noop_tasks  # noqa: F401 - registers the task (and the call counter) as the real worker does

from taskqueue.registry import default_registry

_sqs = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> None:
    message = json.loads(event["body"])
    default_registry.get(message["task"]).function(message.get("payload"))
    _sqs.delete_message(QueueUrl=event["queue_url"], ReceiptHandle=event["receipt_handle"])
