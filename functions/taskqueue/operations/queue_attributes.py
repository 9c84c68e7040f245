"""What SQS says about a queue: its ARN, its depths, and which queue is its DLQ or its source."""

from __future__ import annotations

import json
from typing import Any

from taskqueue.schedules import SCHEDULE_DEAD_LETTER_ARN_ENV

DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class QueuePairingError(ValueError):
    """The queue and the DLQ given are not a queue and its own dead-letter queue."""


def queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def queue_depths(sqs: Any, queue_url: str) -> dict[str, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(DEPTH_ATTRIBUTES))["Attributes"]
    return {name: int(attributes.get(name, 0)) for name in DEPTH_ATTRIBUTES}


def is_fifo(queue_url: str) -> bool:
    return queue_url.endswith(".fifo")


def dead_letter_target_arn(sqs: Any, queue_url: str) -> str:
    """The ARN of the DLQ named by the queue's redrive policy."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
    if "RedrivePolicy" not in attributes:
        raise QueuePairingError(f"queue {queue_url} has no redrive policy, so no dead-letter queue")
    return str(json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"])


def queue_url_of(sqs: Any, arn: str) -> str:
    """The URL of the SQS queue with this ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"{arn!r} is not an SQS queue ARN")
    return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])


def dead_letter_queue_url(sqs: Any, queue_url: str) -> str:
    """The DLQ of a queue, from its redrive policy."""
    return queue_url_of(sqs, dead_letter_target_arn(sqs, queue_url))


def check_dead_letter_queue(sqs: Any, queue_url: str, dlq_url: str) -> str:
    """Refuse a DLQ that the queue's redrive policy does not name: its messages belong elsewhere.
    Returns the DLQ's ARN."""
    expected = dead_letter_target_arn(sqs, queue_url)
    actual = queue_arn(sqs, dlq_url)
    if expected != actual:
        raise QueuePairingError(
            f"--dlq-url {dlq_url} ({actual}) is not the dead-letter queue of --queue-url {queue_url}, "
            f"whose redrive policy names {expected}: pass that queue's DLQ, or leave --dlq-url out"
        )
    return actual


def check_is_dead_letter_queue(
    sqs: Any, dlq_url: str, *, queue_url: str | None = None, schedule_dead_letter_arn: str | None = None
) -> str:
    """Refuse a queue that is not a dead-letter queue, before a single message of it is received: the
    schedule's dead-letter queue named by ``schedule_dead_letter_arn``, the DLQ of ``queue_url`` when given
    (:func:`check_dead_letter_queue`), or else a queue some queue's redrive policy names. Returns its ARN."""
    actual = queue_arn(sqs, dlq_url)
    if schedule_dead_letter_arn is not None and actual == schedule_dead_letter_arn:
        return actual
    if queue_url is not None:
        return check_dead_letter_queue(sqs, queue_url, dlq_url)
    if not sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls"):
        raise QueuePairingError(
            f"{dlq_url} ({actual}) is not a dead-letter queue: no queue's redrive policy names it, and it is not "
            f"the schedule dead-letter queue (${SCHEDULE_DEAD_LETTER_ARN_ENV}); its messages are not dead letters"
        )
    return actual


def source_queue_url(sqs: Any, dlq_url: str) -> str:
    """The one queue whose redrive policy names this DLQ: where its dead letters go back to."""
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) == 1:
        return str(sources[0])
    if not sources:
        raise QueuePairingError(f"no queue's redrive policy names {dlq_url}: pass --queue-url to say where to redrive")
    raise QueuePairingError(
        f"{len(sources)} queues use {dlq_url} as their DLQ ({', '.join(sorted(sources))}): "
        "pass --queue-url to say which one to redrive to"
    )
