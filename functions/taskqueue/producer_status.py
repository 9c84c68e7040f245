"""The producer's side of task status (taskqueue.status): what it writes when it enqueues, schedules and
cancels, and reading a status back (``TaskQueue.status``, ``TaskQueue.wait``).

The producer writes after the fact (SQS took the message, the Scheduler the schedule), never before: a
status never says queued for a task that was not. Its write is conditional: if the worker already wrote
for that message (it ran within milliseconds of the send), the producer's ``queued`` is refused. A status
write that fails does not fail the enqueue (the task is on its way; sending it again would run it twice):
it is logged on the ``taskqueue.producer`` logger, and the worker's first write puts the status right.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from taskqueue import status
from taskqueue.schedules import ScheduleName
from taskqueue.status import NotTracked, StatusRecord, StatusTable, StatusWrite, TaskKey

logger = logging.getLogger("taskqueue.producer")

# wait(): the first poll after this long, each next one this many times later, at most this far apart.
FIRST_POLL_SECONDS = 0.25
POLL_BACKOFF = 1.6
MAX_POLL_SECONDS = 5.0


class TaskHandle(str):
    """The handle of an enqueued task: its SQS message id (a str), with the task's name and id."""

    task: str
    task_id: str | None

    def __new__(cls, message_id: str, task: str, task_id: str | None) -> TaskHandle:
        handle = super().__new__(cls, message_id)
        handle.task = task
        handle.task_id = task_id
        return handle


def key_of(handle: str, task_id: str | None = None) -> TaskKey:
    """The status key of ``handle`` (what enqueue returned) or of (task name ``handle``, ``task_id``)."""
    if task_id is not None:
        return TaskKey(handle, task_id)
    if isinstance(handle, TaskHandle):
        return TaskKey(handle.task, handle.task_id, str(handle))
    if isinstance(handle, ScheduleName) and handle.task is not None:
        if handle.task_id is None:
            raise ValueError(
                f"schedule {str(handle)!r} sends task {handle.task!r} without an id: such a task is tracked by its "
                "SQS message id, which it gets only when its schedule fires; give a task an id to follow it from "
                "its scheduling"
            )
        return TaskKey(handle.task, handle.task_id)
    raise ValueError(
        f"{handle!r} is neither a handle enqueue returned nor given with a task id: call status(task, task_id)"
    )


class ProducerStatus:
    """The writes of one producer: for every task, or only those named in ``tasks`` (the ones the worker
    tracks, when the module tracks only some: a task the worker does not track would stay queued)."""

    def __init__(self, table: StatusTable, tasks: frozenset[str] | None = None) -> None:
        self.table = table
        self.tasks = tasks

    def _write(self, key: TaskKey, write: StatusWrite) -> None:
        if self.tasks is not None and key.task not in self.tasks:
            return
        try:
            self.table.write(key, write)
        except Exception as error:
            logger.warning(
                "could not write the status %s of task %r id %r (it is enqueued; the worker's first write puts "
                "its status right): %s: %s",
                write.state,
                key.task,
                key.task_id,
                type(error).__name__,
                error,
            )

    def queued(self, task: str, task_id: str | None, message_id: str, at: datetime) -> None:
        stamp = at.timestamp()
        self._write(
            TaskKey(task, task_id, message_id),
            StatusWrite(status.QUEUED, stamp, message_id=message_id, enqueued_at=stamp),
        )

    def scheduled(self, handle: ScheduleName, at: datetime) -> None:
        if handle.task is None or handle.task_id is None:
            return  # tracked by message id once its schedule fires
        self._write(
            TaskKey(handle.task, handle.task_id),
            StatusWrite(status.SCHEDULED, at.timestamp(), due_at=handle.due.timestamp()),
        )

    def cancelled(self, task: str | None, task_id: str | None, at: datetime) -> None:
        if task is None or task_id is None:
            return
        self._write(TaskKey(task, task_id), StatusWrite(status.CANCELLED, at.timestamp()))

    def read(self, key: TaskKey) -> StatusRecord:
        record = self.table.read(key)
        if record is None:
            raise NotTracked(
                f"no status of task {key.task!r} "
                + (f"id {key.task_id!r}" if key.task_id is not None else f"message {key.message_id!r}")
                + f" in table {self.table.table_name!r}: not tracked (the module's track_status, the task's own "
                "track_status), not enqueued yet, or expired"
            )
        return record

    def wait(
        self,
        key: TaskKey,
        timeout: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> StatusRecord:
        """Poll until the task's status is final, backing off from FIRST_POLL_SECONDS to MAX_POLL_SECONDS;
        raises TimeoutError (with the last state seen) when ``timeout`` seconds pass first."""
        if not timeout > 0:
            raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
        deadline = clock() + timeout
        pause = FIRST_POLL_SECONDS
        last: StatusRecord | None = None
        while True:
            last = self.table.read(key)
            if last is not None and last.final:
                return last
            left = deadline - clock()
            if left <= 0:
                seen = "no status recorded" if last is None else f"still {last.state}"
                raise TimeoutError(
                    f"task {key.task!r} id {key.task_id or key.message_id!r}: {seen} after {timeout:g} s"
                )
            sleep(min(pause, left))
            pause = min(pause * POLL_BACKOFF, MAX_POLL_SECONDS)


def handles(message_ids: list[str | None], tasks: list[Any]) -> list[str | None]:
    """Each sent task's message id as a TaskHandle (a ScheduleName stays one)."""
    return [
        message_id
        if message_id is None or isinstance(message_id, ScheduleName)
        else TaskHandle(message_id, task.name, task.id)
        for message_id, task in zip(message_ids, tasks, strict=True)
    ]
