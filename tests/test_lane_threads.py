"""Issue 23, what a concurrent batch costs: the worker starts its lane threads and event loop once, as it is
built, and every batch reuses them; threads a batch left running are not; a run may be cancelled before its
start reaches the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import time
from typing import Any

import pytest

from taskqueue.concurrency import EventLoop, ThreadedBatchRunner
from taskqueue.config import WorkerConfig
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import LambdaContext, failed_ids, received_event
from tests.support.aws_fakes import task_body as body

# How long a task waits for the others of its batch to be under way before it gives up (and fails the test).
TOGETHER_SECONDS = 5.0


def config(queues: Any, **settings: Any) -> WorkerConfig:
    return WorkerConfig(dlq_url=queues.dlq_url, **settings)


def test_the_worker_starts_its_lane_threads_and_event_loop_as_it_is_built_and_its_batches_start_none(sqs, queues):
    registry = TaskRegistry()
    ran_in: set[int] = set()

    def call(payload):
        ran_in.add(threading.get_ident())

    async def fetch(payload):
        await asyncio.sleep(0)

    registry.register("call", call, threads=True)
    registry.register("fetch", fetch)
    worker = Worker(config(queues, task_concurrency=4), sqs, registry, batch_runner=ThreadedBatchRunner(EventLoop()))
    before = set(threading.enumerate())
    worker.prepare_concurrency()
    started = set(threading.enumerate()) - before
    assert sorted(thread.name for thread in started) == [
        "taskqueue-event-loop",
        *(f"taskqueue-lane-{n}" for n in range(4)),
    ]
    for round_number in range(2):
        payloads = [body("call", round_number * 10 + n) for n in range(4)] + [body("fetch", n) for n in range(2)]
        assert failed_ids(worker.handle(received_event(sqs, queues, payloads), LambdaContext())) == set()
    assert set(threading.enumerate()) - before == started, "a batch started or ended a thread"
    assert ran_in and ran_in <= {thread.ident for thread in started}


def test_a_worker_without_a_concurrent_task_starts_no_thread(sqs, queues):
    registry = TaskRegistry()
    registry.register("plain", lambda payload: None)
    worker = Worker(config(queues, task_concurrency=4), sqs, registry, batch_runner=ThreadedBatchRunner(EventLoop()))
    before = set(threading.enumerate())
    worker.prepare_concurrency()
    assert set(threading.enumerate()) - before == set()


def test_the_threads_of_a_runner_nobody_keeps_end():
    runner = ThreadedBatchRunner(EventLoop())
    before = set(threading.enumerate())
    runner.prepare(3, event_loop=False)
    started = set(threading.enumerate()) - before
    assert len(started) == 3
    del runner
    gc.collect()
    for thread in started:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_a_thread_a_batch_left_running_takes_no_lane_from_the_next_batch(sqs, queues):
    """Runs for about 1.2 s. Two lanes, two threads: one is stuck in a run the first batch could not stop; the
    second batch's two runs still go together, on new threads."""
    registry = TaskRegistry()
    may_end = threading.Event()
    both_running = threading.Barrier(2, timeout=TOGETHER_SECONDS)

    def stuck(payload):
        may_end.wait(10)

    def meet(payload):
        both_running.wait()  # breaks (and fails the run) unless the two run at once

    registry.register("stuck", stuck, threads=True)
    registry.register("meet", meet, threads=True)
    worker = Worker(config(queues, task_concurrency=2), sqs, registry, batch_runner=ThreadedBatchRunner(EventLoop()))
    worker.prepare_concurrency()
    try:
        first = received_event(sqs, queues, [body("stuck", 1)])
        assert failed_ids(worker.handle(first, LambdaContext(remaining_seconds=1.6))) == {
            first["Records"][0]["messageId"]
        }
        second = received_event(sqs, queues, [body("meet", n) for n in range(2)])
        assert failed_ids(worker.handle(second, LambdaContext())) == set()
    finally:
        may_end.set()


def test_a_run_cancelled_before_its_start_reaches_the_loop_never_runs():
    loop = EventLoop()
    ran: list[str] = []

    async def task() -> None:
        ran.append("ran")

    run = loop.run(task())
    run.cancel()  # handed to the loop before the start is
    loop.start(run)
    with pytest.raises(concurrent.futures.CancelledError):
        run.result()
    time.sleep(0.05)
    assert ran == []
