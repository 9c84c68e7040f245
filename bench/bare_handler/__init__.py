"""The benchmark's bare handler: the least a worker can do for a batch of task messages.

It parses each body, calls the task from the registry and answers Lambda's partial-batch response,
with no logs, metrics, retry policy or dead letters. The runtime's worker is measured against it
(CPU per task, log bytes, cold start); its module does what a cold start of any function that talks to
SQS does: ``import boto3; boto3.client("sqs")``.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import noop_tasks  # noqa: F401 - registers the task, as the worker imports its task modules

from taskqueue.registry import default_registry

_sqs = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        try:
            message = json.loads(record["body"])
            default_registry.get(message["task"]).run(message.get("payload"), context)
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
