"""The benchmark's anchor for concurrent tasks: a bare handler on Powertools' ``async_process_partial_response``.

What a team would write with Powertools alone: its ``AsyncBatchProcessor`` runs the batch's records
together on an event loop, each record's handler parses the body and awaits the task, and the answer is
Lambda's partial-batch response. No retry policy, dead-letter reasons, attempts or idempotency: the
runtime's worker is measured against it for what those cost (issue 23). It runs behind an event source
mapping only: the consumer takes nothing but the runtime worker's answer.
"""

from __future__ import annotations

import json
from typing import Any

import io_tasks  # noqa: F401 - registers the tasks, as the worker imports its task modules
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from taskqueue.registry import default_registry

processor = AsyncBatchProcessor(event_type=EventType.SQS)


async def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    await default_registry.get(message["task"]).function(message.get("payload"))


def handler(event: dict[str, Any], context: Any) -> Any:
    return async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
