"""Behind an event source mapping no consumer is in front: the worker hides each failed record for its
retry delay itself (ChangeMessageVisibilityBatch) before answering."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from taskqueue.batch import log
from taskqueue.batch.budget import SETTLE_FINAL_MARGIN_SECONDS, Invocation
from taskqueue.limits import SQS_MAX_BATCH_ENTRIES, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
from taskqueue.observability import CODE, ERROR, MESSAGES
from taskqueue.sqs_batch import call_in_batches

# An event source mapping waits up to 5 minutes to fill a batch: a message may have been received that
# long before the invocation started, and SQS counts the 12-hour visibility limit from its receipt.
LONGEST_BATCHING_WINDOW_SECONDS = 300


def set_retry_delays(sqs: Any, queue_url: str, records: Sequence[Mapping[str, Any]], invocation: Invocation) -> None:
    """Hide failed records for their delay; with no consumer in front, nobody else would.

    Calls stop when the invocation runs short of time: a record left out comes back after the
    queue's visibility timeout instead, later than it asked, never earlier.
    """
    longest = (
        SQS_MAX_VISIBILITY_TIMEOUT_SECONDS - LONGEST_BATCHING_WINDOW_SECONDS - (time.monotonic() - invocation.started)
    )
    entries = [
        {
            "Id": str(index),
            "ReceiptHandle": record["receiptHandle"],
            "VisibilityTimeout": max(0, min(invocation.retry_delays[record["messageId"]], int(longest))),
        }
        for index, record in enumerate(records)
        if record["messageId"] in invocation.retry_delays
    ]
    for start in range(0, len(entries), SQS_MAX_BATCH_ENTRIES):
        remaining = invocation.remaining_seconds()
        if remaining is not None and remaining < invocation.visibility_call_seconds + SETTLE_FINAL_MARGIN_SECONDS:
            log.logger.warning(
                "retry delays not set: too little time left; those messages come back after the queue's "
                "visibility timeout",
                extra={MESSAGES: len(entries) - start},
            )
            return
        called = time.monotonic()
        call_in_batches(
            sqs.change_message_visibility_batch,
            queue_url,
            entries[start : start + SQS_MAX_BATCH_ENTRIES],
            on_failure=lambda failure: log.logger.warning(
                "could not set a retry delay; the message comes back after the queue's visibility timeout",
                extra={CODE: failure.code, ERROR: failure.message},
            ),
        )
        invocation.visibility_call_seconds = max(time.monotonic() - called, invocation.visibility_call_seconds * 0.8)
