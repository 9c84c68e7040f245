"""A concurrent batch on the fault model's simulated clock (issue 23): the worker's lanes run side by side in
time, in an order the model draws, deterministically.

``SimulatedBatchRunner`` stands in for :class:`taskqueue.concurrency.ThreadedBatchRunner`. Each lane gets one
of ``limit`` slots: it starts when its slot frees (all at the invocation's start, up to the limit), and its
records run on the invocation's timeline from there, one after the other. Lanes are taken in a drawn order,
so the order in which their tasks start, finish, fail and touch the shared tables and queues (whose faults
are drawn per call) is the model's draw. An ``async def`` task still running at the batch's cancel point is
cancelled there (the timeline raises :class:`TaskCancelled` in it, as the event loop does in an awaiting
task); a lane its slot reaches only after the answer must go out leaves its records not started. The
invocation's timeline ends at the latest lane's end.

A ``threads=True`` task is not cancelled (a thread cannot be stopped). When its work runs past the answer
point, the batch answers its record as still running (the worker's ``TaskOverran``), its lane holds its slot
until then and reaches no further record, and the run goes on: the record's whole path (the task and what the
worker does after it) runs on a thread of its own (:class:`Strand`), parked at the answer point and resumed
when the model's clock reaches the run's end (:meth:`SimulatedBatchRunner.end`, as the model moves its clock),
so its effects (its ledger execution, its table writes, its dead letter) land then, after what happened
meanwhile. Lambda
resetting its environment (a later invocation there timed out or crashed) ends it there
(:meth:`SimulatedBatchRunner.environment_reset`). One thread runs at a time: the simulation stays one
deterministic sequence. The run is modelled as going on in time, as if its environment were never frozen
between invocations (on Lambda it is: the run then lasts longer still).

What it does not model: interleaving inside one lane's record (its table calls run together); a coroutine
ignoring its cancellation (the unit tests cover that path: ``test_worker_concurrency``).
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskqueue.concurrency import ConcurrentBatchResult, Deadlines, OnInvocationThread, SettleRecord
from taskqueue.registry import RegisteredTask, TaskContext
from tests.support.lambda_model import Invocation, InvocationKilled, LambdaModel, Timeline

__all__ = ["SimulatedBatchRunner", "Strand"]


def drive(coroutine: Any) -> Any:
    """Run a model task's coroutine to its end: model tasks spend time on the timeline, they never await."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("a model task awaited something: the simulated batch cannot wait for it")


class RunAbandoned(BaseException):
    """The example ended with the run still parked: its thread unwinds, recording nothing."""


_strand = threading.local()


class Strand:
    """A call on a thread of its own that takes turns with its caller: :meth:`start` returns once the call
    returned or parked (:meth:`park`, from inside the call); :meth:`resume` lets it go on to its next turn."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call
        self._turn = threading.Semaphore(0)  # the caller's turn
        self._resume = threading.Semaphore(0)  # the strand's turn
        self._resume_with: BaseException | None = None
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="model-lane", daemon=True)

    @staticmethod
    def current() -> Strand | None:
        return getattr(_strand, "current", None)

    def _main(self) -> None:
        _strand.current = self
        try:
            self.result = self._call()
        except BaseException as error:  # handed to the caller, as the call's outcome
            self.error = error
        finally:
            self.finished = True
            self._turn.release()

    def start(self) -> None:
        self._thread.start()
        self._turn.acquire()

    def park(self) -> None:
        """On the strand's thread: give the turn back until :meth:`resume`; raises what that asks for."""
        self._turn.release()
        self._resume.acquire()
        if self._resume_with is not None:
            raise self._resume_with

    def resume(self, error: BaseException | None = None) -> None:
        """Let the parked call go on (or raise ``error`` where it parked) until it returns or parks again."""
        self._resume_with = error
        self._resume.release()
        self._turn.acquire()
        if self.finished:
            self._thread.join()


@dataclass
class ParkedRun:
    """A threads=True run past its batch's answer point: its work ends at ``ends_at`` on the model's clock."""

    strand: Strand
    invocation: Invocation  # the one it started in
    ends_at: float
    message_id: str
    payload: Any
    started_at: float  # when the task was called


class SimulatedBatchRunner:
    """``threads``: the registry has threads=True tasks (only then does a record run on a strand of its own)."""

    def __init__(self, model: LambdaModel, rng: random.Random, threads: bool = True) -> None:
        self.model = model
        self.rng = rng
        self.threads = threads
        self.orders: list[list[int]] = []  # the lane order of each batch, by its first record (for notes)
        self.parked: list[ParkedRun] = []
        self.thread_runs = 0  # threads=True tasks called
        self.overruns = 0  # ...still working at their batch's answer point
        self.overruns_ended = 0  # ...whose work then ended
        self.overruns_reset = 0  # ...ended by Lambda resetting their environment

    def timeline(self) -> Timeline:
        assert self.model.current is not None, "a batch ran outside any worker invocation"
        return self.model.current.timeline

    def prepare(self, lanes: int, event_loop: bool) -> None:
        """Nothing to start ahead: the model's lanes run on its timeline."""

    def start(self, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> SimulatedBatch:
        return SimulatedBatch(self, lanes, max(1, limit), deadlines)

    def end(self, run: ParkedRun) -> None:
        """The parked run's work is done (the model's clock reached its end): its record's path goes on."""
        self._resume(run, run.ends_at, None)
        self.overruns_ended += 1

    def environment_reset(self, at: float) -> None:
        """Lambda reset the environment at ``at``: its threads still working then are cut off there (one whose
        work ended before, on a timeline ahead of the model's clock, ends as it would have)."""
        for run in sorted(self.parked, key=lambda parked: parked.ends_at):
            if run.ends_at <= at:
                self.end(run)
                continue
            stop = max(at, run.invocation.timeline.answer_at or at)
            self._resume(run, stop, InvocationKilled("its execution environment was reset"))
            self.overruns_reset += 1

    def abandon(self) -> None:
        """The example is over: unwind the parked runs' threads, recording nothing."""
        for run in list(self.parked):
            self.parked.remove(run)
            run.strand.resume(RunAbandoned())

    def _resume(self, run: ParkedRun, at: float, error: BaseException | None) -> None:
        """The run goes on in its invocation (as the model's current one, its timeline at ``at``), then both are
        put back as they were."""
        self.parked.remove(run)
        timeline = run.invocation.timeline
        current, ended = self.model.current, timeline.now
        self.model.current, timeline.now = run.invocation, at
        try:
            run.strand.resume(error)
        finally:
            self.model.current, timeline.now = current, ended
        assert run.strand.finished, "a resumed run parked again"
        if run.strand.error is not None and not isinstance(run.strand.error, InvocationKilled):  # but a cut-off
            raise run.strand.error


class SimulatedBatch:
    def __init__(self, runner: SimulatedBatchRunner, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> None:
        self.runner = runner
        self.lanes = list(lanes)
        self.limit = limit
        self.deadlines = deadlines

    def call_task(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any:
        if registered.is_async:
            return drive(registered.coroutine(payload, context))
        if not registered.threads:
            return registered.run(payload, context)
        self.runner.thread_runs += 1
        _strand.threads_task = (context.message_id, payload, self.runner.timeline().now)
        try:
            return registered.run(payload, context)
        finally:
            _strand.threads_task = None

    def beside(self, call: Callable[[], None], seconds: float | None) -> None:
        call()  # the model's table calls take no time on its clock

    def _overrun(self, ends_at: float) -> None:
        """A threads=True task's work runs past the answer point: park its record's path until it ends."""
        strand = Strand.current()
        assert strand is not None, "a threads=True task ran outside a lane's strand"
        assert self.runner.model.current is not None
        message_id, payload, started_at = _strand.threads_task
        self.runner.parked.append(
            ParkedRun(strand, self.runner.model.current, ends_at, message_id, payload, started_at)
        )
        self.runner.overruns += 1
        strand.park()

    def run(
        self,
        settle: SettleRecord,
        hold_back_after_failure: bool = False,
        on_invocation_thread: OnInvocationThread | None = None,
    ) -> ConcurrentBatchResult:
        """``on_invocation_thread``: unused, every record here runs on the model's one timeline."""
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
        timeline.answer_at = answer_at
        timeline.uncancellable = lambda: getattr(_strand, "threads_task", None) is not None
        timeline.overrun = self._overrun
        try:
            for lane in order:
                slot = min(range(len(slots)), key=slots.__getitem__)
                timeline.now = slots[slot]
                failed_before = False
                overran = False
                for index in lane:
                    if overran or (answer_at is not None and timeline.now >= answer_at):
                        outcome.not_started.append(index)  # its lane got there after the answer went out
                        continue
                    held_back = hold_back_after_failure and failed_before
                    if not self.runner.threads:
                        failed = settle(index, held_back)
                        failed_before = failed_before or failed
                        if failed:
                            outcome.failed.add(index)
                        continue
                    strand = Strand(functools.partial(settle, index, held_back))
                    strand.start()
                    if not strand.finished:
                        # Still working at the answer point: answered as running; the lane holds its slot till then.
                        assert answer_at is not None
                        outcome.running.append(index)
                        timeline.now = answer_at
                        overran = True
                        continue
                    if strand.error is not None:
                        raise strand.error
                    failed = bool(strand.result)
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
            timeline.overrun = None
        timeline.now = max(ends)
        return outcome
