"""The invocation's time: what one invocation knows as it goes, and whether a task may still start."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskqueue.limits import SQS_MAX_BATCH_ENTRIES
from taskqueue.metrics import MetricsLine
from taskqueue.registry import RegisteredTask, TaskContext

if TYPE_CHECKING:
    from taskqueue.flow_control.gate import Admission

# A record is not started with less time than this left (plus what settling the batch needs); it is
# retried instead of being cut off.
MIN_REMAINING_SECONDS_TO_START = 1.0
# Before the first visibility call of an invocation is timed, assume each takes this long.
VISIBILITY_CALL_ESTIMATE_SECONDS = 0.1
# No visibility call is started with less than this left: the answer itself must still get out.
SETTLE_FINAL_MARGIN_SECONDS = 0.5


@dataclass
class Invocation:
    """What one invocation knows as it goes: its clock, the delay each failed record asked for, and
    its metrics (written once, as the batch's summary line)."""

    context: Any
    metrics: MetricsLine
    started: float = field(default_factory=time.monotonic)
    retry_delays: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    visibility_call_seconds: float = VISIBILITY_CALL_ESTIMATE_SECONDS
    # The time the invocation had when it started: the function's timeout, as near as the worker can know it.
    timeout_seconds: float | None = None
    # The admissions of runs holding a key's slot (taskqueue.flow_control), by message id, while they run: a
    # run still going at a concurrent batch's answer keeps its slot held (taskqueue.batch.overruns).
    admissions: dict[str, Admission] = field(default_factory=dict)
    # How a concurrent batch's run calls a task (taskqueue.concurrency); None: directly.
    call_task: Callable[[RegisteredTask, Any, TaskContext], Any] | None = None
    # A concurrent batch's lanes write their records' delays from their threads; once the batch is answered,
    # only the invocation's own thread may (a lane still running then must not change the answer).
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: int = field(default_factory=threading.get_ident)

    def __post_init__(self) -> None:
        self.timeout_seconds = self.remaining_seconds()

    def remaining_seconds(self) -> float | None:
        millis = remaining_millis(self.context)
        return None if millis is None else millis / 1000

    def retry_in(self, message_id: str, delay: int, failed: bool = True) -> None:
        """The record is answered as failed, to come back in ``delay`` seconds (``failed``: counted as one whose
        delay the worker may have to set, which reserves time to do so)."""
        with self._lock:
            if self.closed and threading.get_ident() != self._thread:
                return
            self.retry_delays[message_id] = delay
            if failed:
                self.failed += 1

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def time_to_start(self, sets_retry_delays: bool) -> bool:
        """Enough time left to start a task, and (``sets_retry_delays``, behind an event source mapping) to
        set the retry delays of the records failed so far before answering."""
        seconds = self.seconds_left(MIN_REMAINING_SECONDS_TO_START, sets_retry_delays)
        return seconds is None or seconds >= 0

    def seconds_left(self, reserve: float, sets_retry_delays: bool) -> float | None:
        """Seconds left before only ``reserve`` (and what setting the retry delays needs) remains; None without
        a clock."""
        remaining = self.remaining_seconds()
        if remaining is None:
            return None
        if sets_retry_delays:
            reserve += self.visibility_call_seconds * math.ceil(self.failed / SQS_MAX_BATCH_ENTRIES)
        return remaining - reserve

    def longest_run_seconds(self) -> int | None:
        """How long a run started in another invocation of this function can still last: at most its timeout,
        which this invocation had when it started (None without a context)."""
        if self.timeout_seconds is None:
            return None
        return math.ceil(self.timeout_seconds) + 1


def remaining_millis(context: Any) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() if callable(getter) else None
