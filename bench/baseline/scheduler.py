"""The baseline's scheduled function: one receive, one asynchronous invoke per message."""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGES = 10


def tick(sqs: Any, lambda_client: Any, queue_url: str, worker_function: str) -> int:
    """One scheduled run; returns how many messages it handed out."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=MAX_MESSAGES).get("Messages", [])
    for message in messages:
        event = {"queue_url": queue_url, "receipt_handle": message["ReceiptHandle"], "body": message["Body"]}
        lambda_client.invoke(FunctionName=worker_function, InvocationType="Event", Payload=json.dumps(event))
    return len(messages)
