"""Tasks that wait run together: the worker's concurrency inside one batch.

A batch whose tasks include an ``async def`` task or a ``threads=True`` one is split into *lanes*, and up to
the worker's limit of lanes run at once, each on a thread of the pool:

- a lane is the records that must not overlap: on a FIFO queue one message group, in order (after a
  failure the rest of the group is held back, as ever); on a standard queue the copies of one task (its
  identity: name and id, or message id), so two copies in one batch run one after the other as they did;
- in a lane, a record goes through the worker's whole path (attempts table, idempotency, DLQ, logs), only
  the task's own call differs: an async task is awaited on the execution environment's one event loop
  (:class:`EventLoop`, on a thread of its own, reused by every warm invocation, so the clients and
  connection pools a task keeps on it live on); a ``threads=True`` task runs in the lane's thread; a plain
  task's record is handed, whole, to the invocation's main thread and goes through its path there, one at a
  time, as it always did: its rate token is taken on the thread that calls it, just before, so a slow plain
  task ahead of it cannot push starts granted apart into one bunch;
- ``@task(concurrency=N)`` caps one task's runs at once in this environment (:class:`TaskSlots`).

The time budget: when the worker has no time left to start a task, runs still going are cancelled (an async
task gets ``CancelledError`` at its next ``await``; once it has ended so, its lane records
:class:`TaskCancelled` as the run's failure, so it is retried or, on its last attempt, dead-lettered as a
failed run is). Records still unsettled when the answer must go out (a thread that cannot be stopped, a
coroutine that ignores its cancellation or never awaits) are answered as failed: their run counts as an
attempt, as a run cut off by a timeout does, and their lane keeps what the run holds until the run really
ends: its key's slot, its lease extended as the answer goes out (:mod:`taskqueue.batch.overruns`, which holds
its message as long). Settled records are answered as they settled.

A batch with no such task runs exactly as before, in the invocation's thread, one record after another.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import inspect
import queue
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from taskqueue.limits import WORKER_MAX_TASK_CONCURRENCY
from taskqueue.registry import RegisteredTask, TaskContext

if TYPE_CHECKING:
    import asyncio

# At most this many tasks at once in one worker: each running lane holds a thread (limits.py).
MAX_TASK_CONCURRENCY = WORKER_MAX_TASK_CONCURRENCY

# What a lane hands the worker for each record: whether an earlier failure of its lane holds it back; it
# answers whether the record failed (is to be reported in batchItemFailures).
SettleRecord = Callable[[int, bool], bool]
# Whether a record's whole path goes on the invocation's thread (its task is a plain one), by its index.
OnInvocationThread = Callable[[int], bool]


class TaskCancelled(Exception):
    """The ``async def`` task was still running when the invocation had to stop starting tasks, and it was
    cancelled (or it was handed to the event loop after that point and not started)."""


class TaskOverran(Exception):
    """The run was still under way when the invocation had to answer (a thread cannot be stopped; a coroutine
    may ignore its cancellation): its message is answered as failed, as a run cut off by a timeout."""


class Deadlines(Protocol):
    """When, counted from now, the batch must stop: None when the invocation has no deadline (no context)."""

    def seconds_to_cancel(self) -> float | None:
        """Until the worker has no time left to start a task: running tasks are cancelled then."""

    def seconds_to_answer(self) -> float | None:
        """Until the answer must go out: records still unsettled then are answered as failed."""


@dataclass
class ConcurrentBatchResult:
    """What became of a concurrent batch's records, by their index in the batch."""

    failed: set[int] = field(default_factory=set)  # settled, to be reported as failed
    running: list[int] = field(default_factory=list)  # still under way when the answer had to go out
    not_started: list[int] = field(default_factory=list)  # their lane never reached them


class BatchRun(Protocol):
    """One batch's concurrent run (the worker's hook): ``call_task`` calls a task from a lane, ``run`` runs
    the lanes to their end or to the deadline."""

    def call_task(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any: ...

    def run(
        self,
        settle: SettleRecord,
        hold_back_after_failure: bool = False,
        on_invocation_thread: OnInvocationThread | None = None,
    ) -> ConcurrentBatchResult: ...

    def beside(self, call: Callable[[], None], seconds: float | None) -> None:
        """Run ``call`` beside the answer, waiting for it at most ``seconds`` (None: to its end)."""


class BatchRunner(Protocol):
    """Starts a batch's concurrent run; one per execution environment."""

    def prepare(self, lanes: int, event_loop: bool) -> None:
        """Start ahead, once, what batches of up to ``lanes`` lanes will need (``event_loop``: async tasks)."""

    def start(self, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> BatchRun: ...


# botocore's default max_pool_connections.
BOTOCORE_POOL_CONNECTIONS = 10


def connection_pool_size(task_concurrency: int | None) -> int:
    """Pooled connections a worker client keeps: one per task that may run at once, at least botocore's 10."""
    return max(BOTOCORE_POOL_CONNECTIONS, task_concurrency or BOTOCORE_POOL_CONNECTIONS)


# -- lanes --------------------------------------------------------------------------------------------


def lanes(keys: Sequence[object]) -> list[list[int]]:
    """The records' indexes grouped by key, each lane in batch order, lanes in order of their first record."""
    by_key: dict[object, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    return list(by_key.values())


def run_lane(lane: Sequence[int], settle: SettleRecord, hold_back_after_failure: bool) -> Iterator[tuple[int, bool]]:
    """Settle a lane's records in order, yielding each one's index and whether it failed."""
    failed = False
    for index in lane:
        held_back = hold_back_after_failure and failed
        result = settle(index, held_back)
        failed = failed or result
        yield index, result


# -- the event loop -------------------------------------------------------------------------------------


class EventLoop:
    """The execution environment's one event loop, on a daemon thread of its own, started on first use.

    Lambda freezes the environment between invocations and thaws it for the next: the loop thread sleeps
    through it, and what tasks keep on the loop (an aiohttp session, an aioboto3 client) is there again.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._starting: list[AsyncRun] = []
        self._start_scheduled = False

    def loop(self) -> asyncio.AbstractEventLoop:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            return loop
        import asyncio  # noqa: PLC0415 - on the first async task: a worker without one never pays its import

        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="taskqueue-event-loop", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Any) -> AsyncRun:
        """The coroutine's run on this loop, to be started (:meth:`start`) or cancelled, in either order."""
        return AsyncRun(self.loop(), coroutine)

    def start(self, run: AsyncRun) -> None:
        """Start a run on the loop. Runs handed over while the loop has not yet woken start together, in one
        wake (waking it is a write to its socket, and a turn of its thread, for each)."""
        with self._lock:
            self._starting.append(run)
            wake = not self._start_scheduled
            self._start_scheduled = True
        if wake:
            run.loop.call_soon_threadsafe(self._start_pending)

    def _start_pending(self) -> None:
        with self._lock:
            starting, self._starting = self._starting, []
            self._start_scheduled = False
        for run in starting:
            run.start_on_loop()


class AsyncRun:
    """One coroutine on the event loop, seen from a lane's thread.

    ``ended`` completes only once the coroutine has really ended: with its result, its error, or cancelled.
    Not ``asyncio.run_coroutine_threadsafe``'s future: its ``cancel()`` marks it cancelled at once, while a
    coroutine that holds the loop or swallows ``CancelledError`` runs on (and its lane would settle the
    record, and give back its key's slot, with the run still going). Nor a ``concurrent.futures.Future``: its
    wait and its wake go through a ``Condition`` (a lock made per wait, a notify per end), and each record of a
    concurrent batch waits on one: :class:`RunEnd` is a bare lock, let go once.

    Its start and its cancel both run on the loop's thread, in whichever order they were handed over: a run
    cancelled before it started never starts.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, coroutine: Any) -> None:
        self.loop = loop
        self._coroutine = coroutine
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False
        self.ended = RunEnd()

    def start_on_loop(self) -> None:
        """On the loop's thread."""
        coroutine = self._coroutine
        if self._cancelled:
            self._never_ran(coroutine)
            return
        self._task = self.loop.create_task(_awaited(coroutine))
        self._task.add_done_callback(lambda task: self._task_ended(task, coroutine))

    def _never_ran(self, coroutine: Any) -> None:
        if inspect.iscoroutine(coroutine):
            coroutine.close()  # cancelled before its first step: it never ran (and need not warn so)
        self.ended.cancel()

    def _task_ended(self, task: asyncio.Task[Any], coroutine: Any) -> None:
        if task.cancelled():
            self._never_ran(coroutine)
            return
        error = task.exception()
        if error is None:
            self.ended.set_result(task.result())
        else:
            self.ended.set_exception(error)

    def cancel(self) -> None:
        """Ask the coroutine to stop (``CancelledError`` at its next ``await``); it ends when it does."""
        self.loop.call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    def result(self) -> Any:
        """Wait for the coroutine's end: its result, or its error (``concurrent.futures.CancelledError``)."""
        return self.ended.result()


class RunEnd:
    """How a run ended (its result, its error, or cancelled), waited for from a lane's thread: a lock held from
    the start and let go once, on the loop's thread, when the run ends. Set once; waited for by any thread."""

    __slots__ = ("_cancelled", "_done", "_error", "_result", "_set")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._set = False
        self._cancelled = False
        self._result: Any = None
        self._error: BaseException | None = None

    def set_result(self, result: Any) -> None:
        self._end(result=result)

    def set_exception(self, error: BaseException) -> None:
        self._end(error=error)

    def cancel(self) -> None:
        self._end(cancelled=True)

    def _end(self, result: Any = None, error: BaseException | None = None, cancelled: bool = False) -> None:
        if self._set:  # the first end counts (each is set on the loop's thread: no race)
            return
        self._set = True
        self._result, self._error, self._cancelled = result, error, cancelled
        self._done.release()

    def done(self) -> bool:
        return self._set

    def result(self) -> Any:
        """Wait for the end: the result, or the error (``concurrent.futures.CancelledError`` if cancelled)."""
        with self._done:  # let go at once: another thread may wait too
            pass
        if self._cancelled:
            raise concurrent.futures.CancelledError
        if self._error is not None:
            raise self._error
        return self._result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# Built on the first async task of an execution environment and kept for its life.
event_loop = EventLoop()


# -- per-task limits ------------------------------------------------------------------------------------


class TaskSlots:
    """``@task(concurrency=N)``: at most N runs of a task at once in this execution environment."""

    def __init__(self) -> None:
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, registered: RegisteredTask, wait_seconds: float | None) -> Iterator[None]:
        """Hold one of the task's slots while the block runs; after ``wait_seconds`` without one, run the block
        anyway: the worker then finds no time left to start the task and hands its message back."""
        if registered.concurrency is None:
            yield
            return
        with self._lock:
            slots = self._slots.get(registered.name)
            if slots is None:
                slots = self._slots[registered.name] = threading.BoundedSemaphore(registered.concurrency)
        acquired = slots.acquire(timeout=None if wait_seconds is None else max(0.0, wait_seconds))
        try:
            yield
        finally:
            if acquired:
                slots.release()


# -- one batch, on threads ------------------------------------------------------------------------------

_LANES_DONE = object()


class LaneThreads:
    """The execution environment's lane threads, each waiting for a lane to run, kept across invocations.

    Threads are started before a batch hands out its first lane (or as the worker is built, :meth:`start`):
    starting a thread waits until the new thread runs, so a thread started while lanes already run waits
    its turn behind them, and a batch of 100 that started its threads as it went spent tens of milliseconds
    doing so before its last task began.

    Threads a batch left running (a task that could not be stopped) are not reused: :meth:`abandon` lets
    each end once its run does, and the next batch starts new ones, so a stuck run takes no lane from it.
    Threads whose owner is gone (a worker nobody keeps) end too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads = _Threads()
        self._ending = weakref.finalize(self, self._threads.end)

    def start(self, count: int) -> None:
        """At least ``count`` threads waiting for lanes."""
        with self._lock:
            self._threads.start(count)

    def submit(self, job: Callable[[], None]) -> None:
        self._threads.work.put(job)

    def abandon(self) -> None:
        with self._lock:
            self._ending()  # each ends once it takes its stop: at once if idle, else after its run
            self._threads = _Threads()
            self._ending = weakref.finalize(self, self._threads.end)


class _Threads:
    """Threads serving one queue of jobs (holding nothing of their owner, so that it can be collected)."""

    def __init__(self) -> None:
        self.work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.count = 0

    def start(self, count: int) -> None:
        while self.count < count:
            name = f"taskqueue-lane-{self.count}"
            threading.Thread(target=_run_jobs, args=(self.work,), name=name, daemon=True).start()
            self.count += 1

    def end(self) -> None:
        for _ in range(self.count):
            self.work.put(None)


def _run_jobs(work: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    while (job := work.get()) is not None:
        try:
            job()
        except BaseException:  # a record's error is settled by its lane; one here is the worker's own bug
            traceback.print_exc()
        job = None  # an idle thread holds no batch


class ThreadedBatchRunner:
    """The runner of an execution environment: its lane threads and its event loop."""

    def __init__(self, loop: EventLoop = event_loop) -> None:
        self.loop = loop
        self.threads = LaneThreads()

    def prepare(self, lanes: int, event_loop: bool) -> None:
        """Start, before any batch, the threads of ``lanes`` lanes and (``event_loop``) the event loop."""
        self.threads.start(lanes)
        if event_loop:
            self.loop.loop()

    def start(self, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> ThreadedBatch:
        return ThreadedBatch(self, lanes, max(1, min(limit, len(lanes))), deadlines)


class ThreadedBatch:
    """One batch's lanes on up to ``limit`` pool threads; the invocation's thread settles the plain tasks' records
    and waits for the lanes, then cancels what still runs when no time is left to start a task."""

    def __init__(self, runner: ThreadedBatchRunner, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> None:
        self.runner = runner
        self.limit = limit
        self.deadlines = deadlines
        self._lanes = list(lanes)
        self._next_lane = 0
        self._lock = threading.Lock()
        self._settled: dict[int, bool] = {}
        self._running: set[int] = set()
        self._closed = False
        self._stopping = False
        self._async_runs: set[AsyncRun] = set()
        # Plain tasks' records for the invocation's thread, and the end of the last lane thread (one hand-over
        # for the batch, not one per lane: a thread woken is a thread scheduled, on a machine that may be busy).
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads_left = 0
        self._on_invocation_thread: OnInvocationThread = lambda index: False

    # -- called from the lanes --------------------------------------------------------------------

    def call_task(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any:
        if registered.is_async:
            return self._await(registered, payload, context)
        # A threads=True task in its lane's thread; a plain one in the invocation's, where its whole record goes.
        return registered.run(payload, context)

    def _await(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any:
        with self._lock:
            if self._stopping:
                raise TaskCancelled(f"task {registered.name!r} not started: the invocation stops starting tasks")
            run = self.runner.loop.run(registered.coroutine(payload, context))
            self._async_runs.add(run)
        # Started once the batch's lock is let go: a cancel from now on reaches the run, before or after its start.
        self.runner.loop.start(run)
        try:
            # Until the coroutine has really ended: one still going when the answer must go out keeps its lane
            # (and its key's slot), and its record is answered as a run still under way (TaskOverran).
            return run.result()
        except concurrent.futures.CancelledError:
            raise TaskCancelled(
                f"task {registered.name!r} was still running when the invocation had no time left to start a task, "
                "and was cancelled"
            ) from None
        finally:
            with self._lock:
                self._async_runs.discard(run)

    def _take_lane(self) -> list[int] | None:
        with self._lock:
            if self._closed or self._next_lane >= len(self._lanes):
                return None
            lane = self._lanes[self._next_lane]
            self._next_lane += 1
            return lane

    def _lane_thread(self, settle: SettleRecord, hold_back_after_failure: bool) -> None:
        try:
            while (lane := self._take_lane()) is not None:
                self._run_lane(lane, settle, hold_back_after_failure)
        finally:
            with self._lock:
                self._threads_left -= 1
                last = self._threads_left == 0
            if last:
                self._inbox.put(_LANES_DONE)

    def _run_lane(self, lane: list[int], settle: SettleRecord, hold_back_after_failure: bool) -> None:
        def tracked(index: int, held_back: bool) -> bool:
            if self._on_invocation_thread(index):
                return self._hand_over(index, held_back, settle)
            with self._lock:
                if self._closed:
                    raise _Closed
                self._running.add(index)
            return settle(index, held_back)

        with contextlib.suppress(_Closed):
            for index, failed in run_lane(lane, tracked, hold_back_after_failure):
                with self._lock:
                    self._running.discard(index)
                    if not self._closed:
                        self._settled[index] = failed

    def _hand_over(self, index: int, held_back: bool, settle: SettleRecord) -> bool:
        """Settle a plain task's record on the invocation's thread and wait for it; raises ``_Closed`` when that
        thread no longer starts records (the lane ends there: the record and the rest of the lane not started)."""

        def on_invocation_thread() -> bool:
            with self._lock:
                if self._closed or self._stopping:
                    raise _Closed
                self._running.add(index)
            failed = settle(index, held_back)
            # Recorded here, before this thread may answer: the lane, waiting to be woken, may record it too late.
            with self._lock:
                self._running.discard(index)
                self._settled[index] = failed
            return failed

        answer: concurrent.futures.Future[bool] = concurrent.futures.Future()
        with self._lock:  # checked and queued together: once closed, nothing is served any more
            if self._stopping or self._closed:
                raise _Closed
            self._inbox.put((on_invocation_thread, answer))
        return answer.result()

    # -- the invocation's thread ------------------------------------------------------------------

    def run(
        self,
        settle: SettleRecord,
        hold_back_after_failure: bool = False,
        on_invocation_thread: OnInvocationThread | None = None,
    ) -> ConcurrentBatchResult:
        if on_invocation_thread is not None:
            self._on_invocation_thread = on_invocation_thread
        threads = self._threads_left = min(self.limit, len(self._lanes))
        self.runner.threads.start(threads)  # all of them before the first lane runs
        for _ in range(threads):
            self.runner.threads.submit(functools.partial(self._lane_thread, settle, hold_back_after_failure))
        if not self._serve(self.deadlines.seconds_to_cancel):
            with self._lock:
                self._stopping = True
                for run in self._async_runs:
                    run.cancel()
            self._serve(self.deadlines.seconds_to_answer)
        return self._close()

    def _serve(self, seconds_left: Callable[[], float | None]) -> bool:
        """Run the plain tasks the lanes hand over until every lane thread ends (True) or ``seconds_left`` runs
        out (False)."""
        while True:
            seconds = seconds_left()
            if seconds is not None and seconds <= 0:
                return False
            try:
                item = self._inbox.get(timeout=seconds)
            except queue.Empty:
                return False
            if item is _LANES_DONE:
                return True
            call, answer = item
            if self._stopping:
                answer.set_exception(_Closed())
                continue
            try:
                answer.set_result(call())
            except BaseException as error:  # the lane's path decides what it means, as for any task
                answer.set_exception(error)

    def beside(self, call: Callable[[], None], seconds: float | None) -> None:
        """On a thread of its own: what it does once the wait is over goes on unwaited (a slow call must not
        make the answer late)."""
        thread = threading.Thread(target=call, name="taskqueue-beside", daemon=True)
        thread.start()
        thread.join(None if seconds is None else max(0.0, seconds))

    def _close(self) -> ConcurrentBatchResult:
        with self._lock:
            self._closed = True
            outcome = ConcurrentBatchResult(
                failed={index for index, failed in self._settled.items() if failed},
                running=sorted(self._running),
            )
            reached = set(self._settled) | self._running
            threads_running = self._threads_left > 0
        outcome.not_started = [index for lane in self._lanes for index in lane if index not in reached]
        # A record handed over after the wait ended would wait forever: refuse what is left (not started).
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._inbox.get_nowait()
                if item is not _LANES_DONE:
                    item[1].set_exception(_Closed())
        if threads_running:
            self.runner.threads.abandon()
        return outcome


class _Closed(Exception):
    """The batch was answered: a lane stops."""
