"""Moving dead-lettered messages back to their queue, and reading queue depths."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.dead_letter_queue import REASON_ATTRIBUTES

# Error codes of an SQS endpoint that lacks StartMessageMoveTask.
_UNSUPPORTED = {
    "UnsupportedOperation",
    "InvalidAction",
    "NotImplemented",
    "AWS.SimpleQueueService.UnsupportedOperation",
}
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class RedriveResult:
    method: str  # "move-task" (SQS moves the messages itself) or "copy" (moved here, one by one)
    moved: int | None = None
    task_handle: str | None = None


def queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def dead_letter_queue_url(sqs: Any, queue_url: str) -> str:
    """The DLQ of a queue, from its redrive policy."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    if "RedrivePolicy" not in attributes:
        raise ValueError(f"queue {queue_url} has no redrive policy, so no dead-letter queue")
    target = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    _, _, _, _, account, name = target.split(":", 5)
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def queue_depths(sqs: Any, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(DEPTH_ATTRIBUTES))["Attributes"]
    return {name: int(attributes.get(name, 0)) for name in DEPTH_ATTRIBUTES}


def redrive(
    sqs: Any, queue_url: str, dlq_url: str, max_per_second: int | None = None, force_copy: bool = False
) -> RedriveResult:
    """Move every message of the DLQ back to the queue: SQS's move task where available, else a copy."""
    if not force_copy:
        arguments: dict[str, Any] = {
            "SourceArn": queue_arn(sqs, dlq_url),
            "DestinationArn": queue_arn(sqs, queue_url),
        }
        if max_per_second:
            arguments["MaxNumberOfMessagesPerSecond"] = max_per_second
        try:
            response = sqs.start_message_move_task(**arguments)
            return RedriveResult("move-task", task_handle=response.get("TaskHandle"))
        except ClientError as error:
            # Endpoints without move tasks (older regions, emulators) refuse or fail on the call;
            # copying is slower but just as safe, so fall back rather than leave the DLQ full.
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if error.response.get("Error", {}).get("Code") not in _UNSUPPORTED and status < 500:
                raise
    return RedriveResult("copy", moved=copy_messages(sqs, dlq_url, queue_url))


def copy_messages(sqs: Any, source_url: str, destination_url: str) -> int:
    """Send each message on to the destination, then delete it from the source; stops when empty.

    A message is deleted only after its send succeeded, so a failure leaves it in the source.
    """
    moved = 0
    fifo = destination_url.endswith(".fifo")
    while True:
        messages = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return moved
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            attributes = {
                name: value
                for name, value in message.get("MessageAttributes", {}).items()
                if name not in REASON_ATTRIBUTES
            }
            if attributes:
                entry["MessageAttributes"] = attributes
            if fifo:
                entry["MessageGroupId"] = message["Attributes"].get("MessageGroupId", "taskqueue-redrive")
                entry["MessageDeduplicationId"] = message["MessageId"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=destination_url, Entries=entries).get("Successful", [])
        done = [{"Id": item["Id"], "ReceiptHandle": messages[int(item["Id"])]["ReceiptHandle"]} for item in sent]
        if done:
            sqs.delete_message_batch(QueueUrl=source_url, Entries=done)
        moved += len(done)
        if len(done) < len(messages):
            raise RuntimeError(f"{len(messages) - len(done)} messages could not be sent; they stay in {source_url}")
