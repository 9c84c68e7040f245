"""A task EventBridge Scheduler could not deliver, read from the attributes the Scheduler gives it.

When a schedule cannot send its task message (the queue was deleted, its key revoked, access
denied...), the Scheduler retries as its retry policy says, then sends the message it meant to
deliver to the schedule's dead-letter queue with these message attributes (set by AWS; see
"Configuring a dead-letter queue" in the EventBridge Scheduler user guide):

- ``ERROR_CODE``, ``ERROR_MESSAGE``: what the target's API answered (``AWS.Scheduler.InternalServerError``
  when the Scheduler itself failed);
- ``EXHAUSTED_RETRY_CONDITION``: ``MaximumRetryAttempts`` or ``MaximumEventAgeInSeconds``, only when a
  retryable error outlasted the retry policy (a permanent error is not retried);
- ``RETRY_ATTEMPTS``, ``EXECUTION_ID``, ``SCHEDULED_TIME``, ``SCHEDULE_ARN``, ``TARGET_ARN``;
- ``IS_PAYLOAD_TRUNCATED``: "true" when the body had to be cut to fit.

The body is the task message itself, so a redrive sends the task to the queue as it was scheduled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ERROR_CODE_ATTRIBUTE = "ERROR_CODE"
ERROR_MESSAGE_ATTRIBUTE = "ERROR_MESSAGE"
EXECUTION_ID_ATTRIBUTE = "EXECUTION_ID"
EXHAUSTED_RETRY_CONDITION_ATTRIBUTE = "EXHAUSTED_RETRY_CONDITION"
PAYLOAD_TRUNCATED_ATTRIBUTE = "IS_PAYLOAD_TRUNCATED"
RETRY_ATTEMPTS_ATTRIBUTE = "RETRY_ATTEMPTS"
SCHEDULED_TIME_ATTRIBUTE = "SCHEDULED_TIME"
SCHEDULE_ARN_ATTRIBUTE = "SCHEDULE_ARN"
TARGET_ARN_ATTRIBUTE = "TARGET_ARN"
SCHEDULER_ATTRIBUTES = (
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    EXECUTION_ID_ATTRIBUTE,
    EXHAUSTED_RETRY_CONDITION_ATTRIBUTE,
    PAYLOAD_TRUNCATED_ATTRIBUTE,
    RETRY_ATTEMPTS_ATTRIBUTE,
    SCHEDULED_TIME_ATTRIBUTE,
    SCHEDULE_ARN_ATTRIBUTE,
    TARGET_ARN_ATTRIBUTE,
)

# The reason a dead letter of the Scheduler is listed under, beside the worker's reasons.
SCHEDULE_FAILED = "schedule_failed"


@dataclass(frozen=True)
class ScheduleFailure:
    """Why a schedule's task ended in the dead-letter queue: the Scheduler's attributes, read or to write."""

    schedule_arn: str
    target_arn: str
    scheduled_time: str  # ISO 8601, UTC ("2030-01-01T12:00:00Z")
    error_code: str
    error_message: str
    exhausted_retry_condition: str | None  # MaximumRetryAttempts, MaximumEventAgeInSeconds, or None
    retry_attempts: int
    execution_id: str
    payload_truncated: bool = False

    def describe(self) -> str:
        retries = f"after {self.retry_attempts} retries"
        if self.exhausted_retry_condition:
            retries += f", {self.exhausted_retry_condition} reached"
        truncated = "; the body was truncated" if self.payload_truncated else ""
        return (
            f"schedule {self.schedule_arn} (due {self.scheduled_time}) could not deliver: "
            f"{self.error_code}: {self.error_message} ({retries}){truncated}"
        )

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """As the Scheduler sets them on the dead letter (SendMessage form): for an emulator of it."""
        values = {
            ERROR_CODE_ATTRIBUTE: self.error_code,
            ERROR_MESSAGE_ATTRIBUTE: self.error_message,
            EXECUTION_ID_ATTRIBUTE: self.execution_id,
            PAYLOAD_TRUNCATED_ATTRIBUTE: "true" if self.payload_truncated else "false",
            RETRY_ATTEMPTS_ATTRIBUTE: str(self.retry_attempts),
            SCHEDULED_TIME_ATTRIBUTE: self.scheduled_time,
            SCHEDULE_ARN_ATTRIBUTE: self.schedule_arn,
            TARGET_ARN_ATTRIBUTE: self.target_arn,
        }
        if self.exhausted_retry_condition:
            values[EXHAUSTED_RETRY_CONDITION_ATTRIBUTE] = self.exhausted_retry_condition
        # SQS takes no empty string attribute.
        return {name: {"DataType": "String", "StringValue": value or "?"} for name, value in values.items()}


def schedule_failure(message_attributes: Mapping[str, Mapping[str, Any]]) -> ScheduleFailure | None:
    """The Scheduler's failure on a received message's attributes; None when the Scheduler did not send it."""

    def value(name: str) -> str | None:
        attribute = message_attributes.get(name)
        found = attribute.get("StringValue") if isinstance(attribute, Mapping) else None
        return None if found is None else str(found)

    schedule_arn = value(SCHEDULE_ARN_ATTRIBUTE)
    if schedule_arn is None:
        return None
    attempts = value(RETRY_ATTEMPTS_ATTRIBUTE) or "0"
    return ScheduleFailure(
        schedule_arn=schedule_arn,
        target_arn=value(TARGET_ARN_ATTRIBUTE) or "?",
        scheduled_time=value(SCHEDULED_TIME_ATTRIBUTE) or "?",
        error_code=value(ERROR_CODE_ATTRIBUTE) or "?",
        error_message=value(ERROR_MESSAGE_ATTRIBUTE) or "",
        exhausted_retry_condition=value(EXHAUSTED_RETRY_CONDITION_ATTRIBUTE),
        # ASCII digits only: "²".isdigit() is true, and int() refuses it.
        retry_attempts=int(attempts) if attempts.isascii() and attempts.isdigit() else 0,
        execution_id=value(EXECUTION_ID_ATTRIBUTE) or "?",
        payload_truncated=value(PAYLOAD_TRUNCATED_ATTRIBUTE) == "true",
    )
