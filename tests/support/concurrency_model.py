"""A concurrent batch on the fault model's simulated clock (issue 23): the worker's lanes run side by side in
time, in an order the model draws, deterministically.

``SimulatedBatchRunner`` stands in for :class:`taskqueue.concurrency.ThreadedBatchRunner`. Each lane gets one
of ``limit`` slots: it starts when its slot frees (all at the invocation's start, up to the limit), and its
records run on the invocation's timeline from there, one after the other. Lanes are taken in a drawn order,
so the order in which their tasks start, finish, fail and touch the shared tables and queues (whose faults
are drawn per call) is the model's draw. A task still running at the batch's cancel point is cancelled
there (the timeline raises :class:`TaskCancelled` in it, as the event loop does in an awaiting task); a lane
its slot reaches only after the answer must go out leaves its records not started. The invocation's
timeline ends at the latest lane's end.

What it does not model: interleaving inside one lane's record (its table calls run together); a thread, or a
coroutine ignoring its cancellation, that cannot be stopped (the unit tests cover that path:
``test_worker_concurrency``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from taskqueue.concurrency import ConcurrentBatchResult, Deadlines, SettleRecord
from taskqueue.registry import RegisteredTask, TaskContext
from tests.support.lambda_model import Timeline

__all__ = ["SimulatedBatchRunner"]


def drive(coroutine: Any) -> Any:
    """Run a model task's coroutine to its end: model tasks spend time on the timeline, they never await."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("a model task awaited something: the simulated batch cannot wait for it")


class SimulatedBatchRunner:
    def __init__(self, timeline: Callable[[], Timeline], rng: random.Random) -> None:
        self.timeline = timeline
        self.rng = rng
        self.orders: list[list[int]] = []  # the lane order of each batch, by its first record (for notes)

    def prepare(self, lanes: int, event_loop: bool) -> None:
        """Nothing to start ahead: the model's lanes run on its timeline."""

    def start(self, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> SimulatedBatch:
        return SimulatedBatch(self, lanes, max(1, limit), deadlines)


class SimulatedBatch:
    def __init__(self, runner: SimulatedBatchRunner, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> None:
        self.runner = runner
        self.lanes = list(lanes)
        self.limit = limit
        self.deadlines = deadlines

    def call_task(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any:
        if registered.is_async:
            return drive(registered.coroutine(payload, context))
        return registered.run(payload, context)

    def run(self, settle: SettleRecord, hold_back_after_failure: bool = False) -> ConcurrentBatchResult:
        timeline = self.runner.timeline()
        start = timeline.now
        to_cancel, to_answer = self.deadlines.seconds_to_cancel(), self.deadlines.seconds_to_answer()
        answer_at = None if to_answer is None else start + to_answer
        order = list(self.lanes)
        self.runner.rng.shuffle(order)
        self.runner.orders.append([lane[0] for lane in order])
        slots = [start] * min(self.limit, len(order))
        outcome = ConcurrentBatchResult()
        ends = [start]
        timeline.cancel_at = None if to_cancel is None else start + to_cancel
        try:
            for lane in order:
                slot = min(range(len(slots)), key=slots.__getitem__)
                timeline.now = slots[slot]
                failed_before = False
                for index in lane:
                    if answer_at is not None and timeline.now >= answer_at:
                        outcome.not_started.append(index)  # its lane got there after the answer went out
                        continue
                    failed = settle(index, hold_back_after_failure and failed_before)
                    failed_before = failed_before or failed
                    if failed:
                        outcome.failed.add(index)
                slots[slot] = timeline.now
                ends.append(timeline.now)
        except BaseException:
            # The environment died (a crash): at the latest time any lane reached, so that no run the
            # simulation finished lies past the invocation's end.
            timeline.now = max([*ends, timeline.now])
            raise
        finally:
            timeline.cancel_at = None
        timeline.now = max(ends)
        return outcome
