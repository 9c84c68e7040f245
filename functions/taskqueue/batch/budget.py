"""The invocation's time: what one invocation knows as it goes, and whether a task may still start."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from taskqueue.limits import SQS_MAX_BATCH_ENTRIES
from taskqueue.metrics import MetricsLine

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

    def __post_init__(self) -> None:
        self.timeout_seconds = self.remaining_seconds()

    def remaining_seconds(self) -> float | None:
        millis = remaining_millis(self.context)
        return None if millis is None else millis / 1000

    def time_to_start(self, sets_retry_delays: bool) -> bool:
        """Enough time left to start a task, and (``sets_retry_delays``, behind an event source mapping) to
        set the retry delays of the records failed so far before answering."""
        remaining = self.remaining_seconds()
        if remaining is None:
            return True
        reserve = MIN_REMAINING_SECONDS_TO_START
        if sets_retry_delays:
            reserve += self.visibility_call_seconds * math.ceil(self.failed / SQS_MAX_BATCH_ENTRIES)
        return remaining >= reserve

    def longest_run_seconds(self) -> int | None:
        """How long a run started in another invocation of this function can still last: at most its timeout,
        which this invocation had when it started (None without a context)."""
        if self.timeout_seconds is None:
            return None
        return math.ceil(self.timeout_seconds) + 1


def remaining_millis(context: Any) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() if callable(getter) else None
