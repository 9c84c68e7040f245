"""Exceptions that carry a meaning for the queue."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from taskqueue.limits import SQS_MAX_VISIBILITY_TIMEOUT_SECONDS


class PermanentError(Exception):
    """Raised by a task that can never succeed: the message goes to the DLQ at once, with the reason."""


class Retry(Exception):
    """Raised by a task to be tried again after exactly this delay: ``Retry(after=120)`` (seconds or a
    timedelta) or ``Retry(at=datetime)`` (timezone-aware). It counts as an attempt.

    The delay is a visibility timeout, so SQS limits it to 12 hours after the message was received;
    schedule anything later with ``TaskQueue.enqueue(..., at=...)`` instead.
    """

    def __init__(
        self,
        reason: str = "",
        *,
        after: float | timedelta | None = None,
        at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        if (after is None) == (at is None):
            raise ValueError("Retry needs exactly one of after= (seconds or a timedelta) or at= (a datetime)")
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
                raise ValueError(f"Retry at={at!r} must be a timezone-aware datetime")
            seconds = (at - (now or datetime.now(at.tzinfo))).total_seconds()
        elif isinstance(after, timedelta):
            seconds = after.total_seconds()
        elif isinstance(after, int | float) and not isinstance(after, bool) and math.isfinite(after):
            seconds = float(after)
        else:
            raise ValueError(f"Retry after={after!r} must be a number of seconds or a timedelta")
        if not 0 <= seconds <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise ValueError(
                f"Retry in {seconds:.0f} s is out of range: it must be 0 to {SQS_MAX_VISIBILITY_TIMEOUT_SECONDS} s "
                "(SQS keeps a message hidden at most 12 hours); schedule a later task with enqueue(at=...)"
            )
        # Visibility timeouts are whole seconds: round up, so the task never runs before it asked.
        self.delay_seconds = math.ceil(seconds)
        super().__init__(reason or f"retry in {self.delay_seconds} s")


class TaskInProgress(Exception):
    """Another copy of this task (same identity) is running: the idempotency table holds its record in
    progress. This copy did not run; it is not an attempt, and it is tried again once that run can be over."""


class MalformedMessage(ValueError):
    """A message body that is not a valid task message."""


class UnknownTask(LookupError):
    """A message names a task that no loaded module registered."""


class WorkerCannotStart(Exception):
    """The worker cannot start: its configuration is bad or its task modules fail to import.

    Raised from the worker's handler, Lambda reports it as the invocation's ``errorType`` (the class's
    name), which is how the consumer tells it from a task's failure: see :data:`WORKER_START_ERROR_TYPES`.
    """


# The errorTypes of a worker invocation that failed because the worker could not start: ours, and those
# of Lambda's Python runtime when the handler's module fails to load (an init error).
WORKER_START_ERROR_TYPES = frozenset(
    {WorkerCannotStart.__name__, "Runtime.ImportModuleError", "Runtime.HandlerNotFound", "Runtime.UserCodeSyntaxError"}
)
