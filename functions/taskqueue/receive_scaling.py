"""How many receives a consumer run keeps in flight, and when it makes the next one.

Lambda's pollers of an event source mapping scale with the backlog: more while batches come back full,
fewer as they come back short. The consumer's receive loops do the same, between the configured
``receivers`` (kept while the queue is quiet) and its worker slots (a receive holds a slot until its
batch is settled, so no more can ever be in flight). Scaling up is paced, one loop per
``SCALE_UP_INTERVAL_SECONDS``, as Lambda adds pollers at a bounded rate; scaling down is at once.

On a trickle one loop is left, and a receive every time a message arrives would cost a receive, an
invoke and a delete per task. With a batching window (continuous mode), the loop waits before its next
receive for as long as the queue takes to fill a batch at the rate it is filling, at most the window:
messages gather in the queue, not in the consumer's hands, so no visibility timer runs on them.

Pure logic on an injected clock: :class:`ReceiveScaler` is told each receive's result and answers
how many loops to keep and when the next receive may start.
"""

from __future__ import annotations

from dataclasses import dataclass

# One more loop at most this often while batches come back full (Lambda adds pollers at a bounded rate).
SCALE_UP_INTERVAL_SECONDS = 0.5
# A window shorter than this is not worth a pause: the loop receives at once.
MIN_PAUSE_SECONDS = 0.05
# A paced batch that came back full may have left messages behind (a receive takes at most a batch, so
# it does not say how many were waiting): when its oldest message waited longer than the pause (and this
# slack), some were left by the receive before, and the pause is shortened by FULL_BATCH_PAUSE_FACTOR.
LEFT_BEHIND_SLACK_SECONDS = 1.0
FULL_BATCH_PAUSE_FACTOR = 0.75


@dataclass(frozen=True)
class ScalingLimits:
    """The bounds of one run's receive loops, and its batching window (0: receive as soon as a slot frees)."""

    min_loops: int
    max_loops: int
    batch_size: int
    batching_window_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_loops <= self.max_loops:
            raise ValueError(f"min_loops={self.min_loops} must be between 1 and max_loops={self.max_loops}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1")
        if self.batching_window_seconds < 0:
            raise ValueError(f"batching_window_seconds={self.batching_window_seconds} must not be negative")


@dataclass(frozen=True)
class ReceiveResult:
    """One receive's answer, as the scaler sees it."""

    messages: int
    returned_at: float
    paced: bool  # it started after a batching pause
    # The longest a message of the batch received for the first time had waited in the queue (SQS's own
    # timestamps); None when unknown.
    waited_seconds: float | None = None


class ReceiveScaler:
    """The run's receive loops and pacing; not thread-safe (the consumer calls it under its lock)."""

    def __init__(self, limits: ScalingLimits, started_at: float) -> None:
        self.limits = limits
        self.loops = limits.min_loops
        self._last_scale_up = started_at
        self._last_return = started_at
        self._pause = 0.0
        self.next_receive_at = started_at

    @property
    def pacing(self) -> bool:
        return self._pause > 0

    def observe(self, result: ReceiveResult) -> None:
        """Adapt to one receive's result (in the order the receives returned)."""
        gap = max(0.0, result.returned_at - self._last_return)
        self._last_return = result.returned_at
        self._scale(result)
        self._pace(result, gap)
        self.next_receive_at = result.returned_at + self._pause

    def _scale(self, result: ReceiveResult) -> None:
        full = result.messages >= self.limits.batch_size
        if full and not result.paced:
            # The queue held a batch at once: a backlog. Add a loop, at most one an interval.
            if result.returned_at - self._last_scale_up >= SCALE_UP_INTERVAL_SECONDS:
                self.loops = min(self.limits.max_loops, self.loops + 1)
                self._last_scale_up = result.returned_at
        elif 2 * result.messages < self.limits.batch_size:
            # Empty or under half a batch: the queue is running dry, a loop fewer keeps up.
            self.loops = max(self.limits.min_loops, self.loops - 1)

    def _pace(self, result: ReceiveResult, gap: float) -> None:
        window = self.limits.batching_window_seconds
        if window <= 0 or self.loops > self.limits.min_loops or result.messages == 0:
            # No window, a backlog, or an empty queue (the next long poll waits for a message by itself).
            self._pause = 0.0
            return
        if result.messages < self.limits.batch_size:
            # The queue filled this much in `gap`: pause for what a batch takes at that rate.
            self._pause = min(window, gap * self.limits.batch_size / result.messages)
        elif result.paced:
            left_behind = result.waited_seconds is not None and (
                result.waited_seconds > self._pause + LEFT_BEHIND_SLACK_SECONDS
            )
            if left_behind:
                self._pause *= FULL_BATCH_PAUSE_FACTOR
        else:
            self._pause = 0.0
        if self._pause < MIN_PAUSE_SECONDS:
            self._pause = 0.0
