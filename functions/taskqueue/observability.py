"""The names other parts read: metric names and the fields of the runtime's structured log records.

The worker and the consumer write these; the dashboard, the alarms, the local stack's outcome reader,
the soak and the bench read them. Everything on either side takes the name from here, and
``tests/test_observability_contract.py`` holds ``terraform/dashboard.tf`` and ``alarms.tf`` to it, so a
renamed metric fails a test instead of leaving a dashboard widget empty.
"""

from __future__ import annotations

from typing import Final

# -- metrics (CloudWatch EMF, namespace var.metrics_namespace, dimension `service`) ------------------

# Per task (dimension sets [service] and [service, task]); written by the worker.
TASKS_SUCCEEDED: Final = "TasksSucceeded"
TASKS_RETRIED: Final = "TasksRetried"
TASKS_DEAD_LETTERED: Final = "TasksDeadLettered"
# Values (milliseconds) per task run; written by the worker.
TASK_DURATION: Final = "TaskDuration"
TASK_QUEUE_TIME: Final = "TaskQueueTime"
# Starts held back by a task's rate limit or key concurrency (released unrun, no attempt used); per task.
TASKS_HELD_BACK: Final = "TasksHeldBack"
# The worker's configuration or task package fails to load (alarm `worker_cannot_start`).
WORKER_START_FAILED: Final = "WorkerStartFailed"

# Per consumer run; written by the consumer, each only when it is not zero (an idle run writes none: each
# series is a billed custom metric). Its empty receives are SQS's own NumberOfEmptyReceives, free.
MESSAGES_RECEIVED: Final = "MessagesReceived"
MESSAGES_SUCCEEDED: Final = "MessagesSucceeded"
MESSAGES_RETRIED: Final = "MessagesRetried"
MESSAGES_RELEASED: Final = "MessagesReleased"
WORKER_INVOCATIONS: Final = "WorkerInvocations"
WORKER_INVOCATIONS_FAILED: Final = "WorkerInvocationsFailed"
CONSUMER_MISCONFIGURED: Final = "ConsumerMisconfigured"

WORKER_METRICS: Final = (
    TASKS_SUCCEEDED,
    TASKS_RETRIED,
    TASKS_DEAD_LETTERED,
    TASK_DURATION,
    TASK_QUEUE_TIME,
    TASKS_HELD_BACK,
    WORKER_START_FAILED,
)
CONSUMER_METRICS: Final = (
    MESSAGES_RECEIVED,
    MESSAGES_SUCCEEDED,
    MESSAGES_RETRIED,
    MESSAGES_RELEASED,
    WORKER_INVOCATIONS,
    WORKER_INVOCATIONS_FAILED,
    CONSUMER_MISCONFIGURED,
)
METRICS: Final = WORKER_METRICS + CONSUMER_METRICS

# -- structured log records (Powertools JSON lines) -------------------------------------------------

# Fields of a task's log record (the worker's).
OUTCOME: Final = "outcome"
MESSAGE_ID: Final = "message_id"
MESSAGE_GROUP_ID: Final = "message_group_id"
TASK: Final = "task"
TASK_ID: Final = "task_id"
RECEIVE_COUNT: Final = "receive_count"
QUEUED_MS: Final = "queued_ms"
DURATION_MS: Final = "duration_ms"
RETRY_IN_SECONDS: Final = "retry_in_seconds"
REASON: Final = "reason"
ERROR: Final = "error"
# The task status a record's line is about (taskqueue.status.STATES): a status write that failed, a result
# that was not stored.
STATUS: Final = "status"

# Values of OUTCOME: what became of one attempt at a task.
SUCCEEDED: Final = "succeeded"
RETRIED: Final = "retried"
DEAD_LETTERED: Final = "dead_lettered"
RELEASED: Final = "released"  # handed back unrun: it did not use an attempt
OUTCOMES: Final = (SUCCEEDED, RETRIED, DEAD_LETTERED, RELEASED)

# Other fields of the worker's records.
ATTEMPT: Final = "attempt"
PAYLOAD: Final = "payload"
MESSAGES: Final = "messages"  # records in the batch
TASKS: Final = "tasks"  # the registered task names (the worker's start line)
DROPPED_ATTRIBUTES: Final = "dropped_attributes"
REASON_IN_ATTRIBUTES: Final = "reason_in_attributes"
SEND_ERROR: Final = "send_error"
CODE: Final = "code"  # SQS's code for a batch entry it failed
