"""The worker's status writes (taskqueue.status): which tasks it tracks, and a write that fails never fails a task.

The worker calls :meth:`WorkerStatus.record` at each step of a record (its run recorded, a retry, a
success, a dead letter). A write the table refuses (a late duplicate over a final state) is no error; a
write that fails is logged and left: the status lags until the task's next write, and never says more
than what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from taskqueue import observability
from taskqueue.registry import RegisteredTask
from taskqueue.status import TRACK_ALL, TRACK_OFF, StatusWrite, TaskKey
from taskqueue.telemetry import LazyLogger


class StatusWriter(Protocol):
    def write(self, key: TaskKey, write: StatusWrite) -> bool: ...


class WorkerStatus:
    def __init__(
        self, table: StatusWriter, mode: str, logger: LazyLogger, clock: Callable[[], float] = time.time
    ) -> None:
        self.table = table
        self.mode = mode
        self.logger = logger
        self.clock = clock

    def tracks(self, registered: RegisteredTask | None) -> bool:
        """A task's own choice wins; a task that stores its result is tracked; else the module's mode (an
        unknown task, with no choice of its own, only under "all")."""
        if self.mode == TRACK_OFF:
            return False
        if registered is not None and registered.track_status is not None:
            return registered.track_status
        if registered is not None and registered.store_result:
            return True
        return self.mode == TRACK_ALL

    def record(self, keys: Mapping[str, Any], registered: RegisteredTask | None, state: str, **fields: Any) -> None:
        """Write ``state`` for the record whose log fields are ``keys`` (its task, id and message id); a retry's
        ``retry_in_seconds`` becomes its next attempt's time."""
        task = keys.get(observability.TASK)
        if task is None or not self.tracks(registered):
            return  # a malformed body names no task: nothing to key a status by
        try:
            key = TaskKey(str(task), keys.get(observability.TASK_ID), str(keys[observability.MESSAGE_ID]))
            now = self.clock()
            retry_in = fields.pop("retry_in_seconds", None)
            if retry_in is not None:
                fields["next_attempt_at"] = now + retry_in
            write = StatusWrite(state, now, message_id=key.message_id, **fields)
            self.table.write(key, write)
        except Exception as error:
            self.logger.warning(
                "could not write the task's status; it lags until the task's next write",
                extra={**keys, observability.STATUS: state, observability.ERROR: f"{type(error).__name__}: {error}"},
            )
