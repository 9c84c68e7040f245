"""The SQS, Lambda, DynamoDB and EventBridge Scheduler limits the runtime works within, in one place.

Values are AWS's published quotas (SQS developer guide, "Amazon SQS quotas"; Lambda developer guide,
"Lambda quotas" and "Lambda execution environment"; the DynamoDB developer guide,
"Quotas in Amazon DynamoDB"; the EventBridge Scheduler API reference and
"Quotas for Amazon EventBridge Scheduler"). The Terraform module repeats the few it checks at
plan time in ``terraform/locals.tf``; ``tests/test_terraform.py`` holds the two copies equal.
"""

from __future__ import annotations

# -- SQS --------------------------------------------------------------------------------------

SQS_MAX_BATCH_ENTRIES = 10  # SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch
SQS_MAX_BATCH_BYTES = 1_048_576  # the sum of a SendMessageBatch's messages
SQS_MAX_MESSAGE_BYTES = 1_048_576  # the largest MaximumMessageSize a queue may have
SQS_MIN_MAX_MESSAGE_BYTES = 1_024  # the smallest MaximumMessageSize a queue may have
SQS_MAX_RECEIVE_BATCH = 10
SQS_MAX_WAIT_TIME_SECONDS = 20
SQS_MAX_DELAY_SECONDS = 900
# Counted from the message's receipt: a message can be kept hidden at most 12 hours after it was received.
SQS_MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
SQS_MAX_MESSAGE_ATTRIBUTES = 10
SQS_MAX_FIFO_ID_LENGTH = 128  # MessageGroupId, MessageDeduplicationId, ReceiveRequestAttemptId
SQS_MAX_RECEIVE_COUNT = 1_000  # the redrive policy's maxReceiveCount
SQS_MAX_RETENTION_SECONDS = 1_209_600  # MessageRetentionPeriod: 14 days

# -- Lambda -----------------------------------------------------------------------------------

LAMBDA_MAX_TIMEOUT_SECONDS = 900
LAMBDA_MAX_SYNC_PAYLOAD_BYTES = 6_291_456  # a synchronous Invoke's request payload
# Lambda runs a function's initialisation (imports, module-level code) with up to 10 s of its own, not
# counted in the function's timeout: a cold invocation may last its timeout plus this.
LAMBDA_INIT_SECONDS = 10
# Threads and processes an execution environment may have.
LAMBDA_MAX_THREADS = 1_024
# The worker runs at most this many tasks of a batch at once (TASKQUEUE_TASK_CONCURRENCY): each running
# lane holds a thread, well inside LAMBDA_MAX_THREADS.
WORKER_MAX_TASK_CONCURRENCY = 256

# -- DynamoDB ---------------------------------------------------------------------------------

DYNAMODB_MAX_BATCH_GET_KEYS = 100  # BatchGetItem's most keys in one request

# -- EventBridge Scheduler ----------------------------------------------------------------------

# Schedule and schedule group names: 1-64 of these characters (CreateSchedule's Name, GroupName).
SCHEDULER_MAX_NAME_LENGTH = 64
SCHEDULER_NAME_CHARACTERS = "0-9a-zA-Z_.-"  # a regular-expression character class, without the brackets
# The target's Input (the task message a schedule sends): 256 KiB, the Scheduler's payload quota.
SCHEDULER_MAX_INPUT_BYTES = 262_144
# A target's RetryPolicy: how long, and how many times, the Scheduler retries a failed delivery.
SCHEDULER_MIN_EVENT_AGE_SECONDS = 60
SCHEDULER_MAX_EVENT_AGE_SECONDS = 86_400
SCHEDULER_MAX_RETRY_ATTEMPTS = 185
# "All schedule types invoke their targets with 60 second precision": at(1:00:xx) runs between 1:00:00
# and 1:00:59 ("Schedule types in EventBridge Scheduler"), so a time within a minute may run early.
SCHEDULER_PRECISION_SECONDS = 60
# How far ahead this runtime schedules a task. at() itself has no documented horizon; a year bounds
# what a typo (a year too far) can leave behind, and is the maximum the README documents.
MAX_SCHEDULE_AHEAD_SECONDS = 366 * 86_400

# -- derived, shared by the consumer and the Terraform module -----------------------------------

# Beyond a worker invocation's longest possible life (init plus timeout), for the answer to travel back.
INVOKE_RESPONSE_SLACK_SECONDS = 2


def longest_invocation(worker_timeout_seconds: float) -> float:
    """The longest a worker invocation can run, cold start included."""
    return worker_timeout_seconds + LAMBDA_INIT_SECONDS


def invoke_read_timeout(worker_timeout_seconds: float) -> float:
    """How long the consumer waits for a worker invocation: past this, the invocation cannot still run."""
    return longest_invocation(worker_timeout_seconds) + INVOKE_RESPONSE_SLACK_SECONDS
