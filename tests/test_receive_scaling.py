"""The consumer's receive loops follow the backlog (issue 23): more under a backlog, one on a trickle with
its batches gathered in the queue, and never more receives in flight than its worker slots allow.

The scaler is pure logic on a clock; the consumer runs against an in-memory queue and worker, on a fake
clock for the trickle (deterministic) and with real threads for the backlog (its bound is checked at
every call, whatever the interleaving)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from taskqueue import batch_response, receive_scaling
from taskqueue.config import ConsumerConfig
from taskqueue.consumer import Consumer, scaling_limits
from taskqueue.receive_scaling import ReceiveResult, ReceiveScaler, ScalingLimits
from tests.support.aws_fakes import FakeClock, LambdaContext

BATCH = 10
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:work"


class InlineExecutor(Executor):
    """Runs each receive and its dispatch at once, in the caller: one order, on the fake clock."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class MemoryQueue:
    """An SQS queue in memory: messages arrive on a schedule (``arrivals``, times on ``clock``), a long poll
    waits on the clock for the next one; every call is counted, and what is in flight checked against a bound."""

    def __init__(self, clock: Any, arrivals: list[float], receive_seconds: float = 0.0) -> None:
        self.clock = clock
        self.arrivals = sorted(arrivals)
        self.taken = 0
        self.calls: Counter[str] = Counter()
        self.receive_seconds = receive_seconds
        self.lock = threading.Lock()
        self.receiving = 0
        self.most_receiving = 0
        self.in_flight = InFlight()

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": QUEUE_ARN}}

    def _visible(self) -> int:
        now = self.clock()
        return sum(1 for at in self.arrivals[self.taken :] if at <= now)

    def receive_message(self, MaxNumberOfMessages: int, WaitTimeSeconds: int, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls["ReceiveMessage"] += 1
            self.receiving += 1
            self.most_receiving = max(self.most_receiving, self.receiving)
        self.in_flight.enter()
        try:
            if self.receive_seconds:
                time.sleep(self.receive_seconds)
            if isinstance(self.clock, FakeClock) and not self._visible():
                # A long poll: it returns when a message arrives, or empty when the wait is over.
                upcoming = self.arrivals[self.taken] if self.taken < len(self.arrivals) else None
                deadline = self.clock() + WaitTimeSeconds
                self.clock.advance(
                    (upcoming if upcoming is not None and upcoming <= deadline else deadline) - self.clock()
                )
            with self.lock:
                count = min(MaxNumberOfMessages, self._visible())
                first, self.taken = self.taken, self.taken + count
            now = self.clock()
            messages = [_message(index, self.arrivals[index], now) for index in range(first, first + count)]
            return {"Messages": messages} if messages else {}
        finally:
            self.in_flight.leave()
            with self.lock:
                self.receiving -= 1

    def delete_message_batch(self, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls["DeleteMessageBatch"] += 1
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    def change_message_visibility_batch(self, Entries: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls["ChangeMessageVisibilityBatch"] += 1
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    def requests(self) -> int:
        return sum(self.calls.values())


class InFlight:
    """Receives and invocations under way at once, and the most seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


class SucceedingWorker:
    """Lambda's Invoke of a worker whose every task succeeds, taking ``seconds`` of real time."""

    def __init__(self, queue: MemoryQueue, seconds: float = 0.0) -> None:
        self.queue = queue
        self.seconds = seconds
        self.invocations = 0
        self.tasks = 0

    def invoke(self, Payload: bytes, **_: Any) -> dict[str, Any]:
        self.queue.in_flight.enter()
        try:
            if self.seconds:
                time.sleep(self.seconds)
            with self.queue.lock:
                self.invocations += 1
                self.tasks += len(json.loads(Payload)["Records"])
            answer = batch_response.encode([], {}, for_consumer=True)
            return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}
        finally:
            self.queue.in_flight.leave()


def _message(index: int, sent: float, received: float) -> dict[str, Any]:
    return {
        "MessageId": f"m{index}",
        "ReceiptHandle": f"h{index}",
        "Body": json.dumps({"task": "work", "payload": index}),
        "Attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int(sent * 1000)),
            "ApproximateFirstReceiveTimestamp": str(int(received * 1000)),
        },
    }


def _module_defaults(mode: str) -> ConsumerConfig:
    """The consumer as the module configures it by default (terraform/consumer.tf), in ``mode``."""
    return ConsumerConfig.from_env(
        {
            "TASKQUEUE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/work",
            "TASKQUEUE_WORKER_FUNCTION": "worker",
            "TASKQUEUE_MAX_CONCURRENCY": "4",
            "TASKQUEUE_RECEIVERS": "1",
            "TASKQUEUE_WORKER_TIMEOUT_SECONDS": "30",
            "TASKQUEUE_MODE": mode,
        }
    )


# -- the scaler alone -----------------------------------------------------------------------------------


def test_full_batches_add_a_loop_an_interval_up_to_the_most_and_short_ones_take_them_away():
    scaler = ReceiveScaler(ScalingLimits(min_loops=1, max_loops=4, batch_size=BATCH), started_at=0.0)
    interval = receive_scaling.SCALE_UP_INTERVAL_SECONDS
    scaler.observe(ReceiveResult(BATCH, returned_at=interval / 2, paced=False))
    assert scaler.loops == 1  # not one more before an interval has passed
    loops = []
    for step in range(1, 8):
        scaler.observe(ReceiveResult(BATCH, returned_at=step * interval, paced=False))
        loops.append(scaler.loops)
    assert loops == [2, 3, 4, 4, 4, 4, 4]
    scaler.observe(ReceiveResult(BATCH // 2, returned_at=8 * interval, paced=False))
    assert scaler.loops == 4  # half a batch: still a backlog
    for step, expected in ((9, 3), (10, 2), (11, 1), (12, 1)):
        scaler.observe(ReceiveResult(0 if step % 2 else 1, returned_at=step * interval, paced=False))
        assert scaler.loops == expected


def test_a_trickle_paces_the_next_receive_for_a_batch_at_most_the_window():
    scaler = ReceiveScaler(
        ScalingLimits(min_loops=1, max_loops=4, batch_size=BATCH, batching_window_seconds=20), started_at=0.0
    )
    scaler.observe(ReceiveResult(2, returned_at=1.0, paced=False))  # 2 messages a second
    assert scaler.next_receive_at == pytest.approx(1.0 + BATCH / 2)
    scaler.observe(ReceiveResult(1, returned_at=100.0, paced=True))  # one in 99 s: the window caps the pause
    assert scaler.next_receive_at == pytest.approx(120.0)
    scaler.observe(ReceiveResult(0, returned_at=140.0, paced=True))  # empty: the long poll waits by itself
    assert scaler.next_receive_at == 140.0 and not scaler.pacing


def test_a_full_paced_batch_keeps_its_pause_unless_its_oldest_message_waited_longer():
    scaler = ReceiveScaler(
        ScalingLimits(min_loops=1, max_loops=4, batch_size=BATCH, batching_window_seconds=20), started_at=0.0
    )
    scaler.observe(ReceiveResult(5, returned_at=8.0, paced=False))  # pause 16 s
    scaler.observe(ReceiveResult(BATCH, returned_at=24.0, paced=True, waited_seconds=15.5))
    assert scaler.next_receive_at == pytest.approx(24.0 + 16)  # the batch gathered within the pause
    scaler.observe(ReceiveResult(BATCH, returned_at=40.0, paced=True, waited_seconds=None))
    assert scaler.next_receive_at == pytest.approx(40.0 + 16)  # unknown: kept
    # Its oldest waited through two pauses: the receive before left messages behind.
    scaler.observe(ReceiveResult(BATCH, returned_at=56.0, paced=True, waited_seconds=30.0))
    assert scaler.next_receive_at == pytest.approx(56.0 + 16 * receive_scaling.FULL_BATCH_PAUSE_FACTOR)


def test_without_a_window_a_trickle_is_received_at_once():
    scaler = ReceiveScaler(ScalingLimits(min_loops=1, max_loops=4, batch_size=BATCH), started_at=0.0)
    scaler.observe(ReceiveResult(1, returned_at=1.0, paced=False))
    assert scaler.next_receive_at == 1.0


def test_limits_keep_the_configured_loops_and_stop_at_the_worker_slots():
    config = _module_defaults("drain")
    assert scaling_limits(config) == ScalingLimits(min_loops=1, max_loops=4, batch_size=10)
    wide = ConsumerConfig("q", "w", max_concurrency=100, receivers=3)
    assert (scaling_limits(wide).min_loops, scaling_limits(wide).max_loops) == (3, 10)


# -- the consumer ------------------------------------------------------------------------------------


def test_on_a_trickle_of_one_task_a_second_a_run_at_the_defaults_costs_under_a_third_of_a_request_a_task():
    """Continuous mode, the module's defaults: one task a second for the run's 900 s, on the fake clock."""
    clock = FakeClock()
    arrivals = [clock() + 0.5 + n for n in range(900)]
    queue = MemoryQueue(clock, arrivals)
    worker = SucceedingWorker(queue)
    config = _module_defaults("continuous")
    consumer = Consumer(config, queue, worker, clock=clock, sleep=clock.advance, executor=InlineExecutor)

    report = consumer.run(LambdaContext(remaining_seconds=900, clock=clock))

    assert report.succeeded == worker.tasks >= 800  # the budget's reserve ends the run before the last ones
    requests = queue.requests() + worker.invocations
    assert requests / worker.tasks <= 0.32, (requests, worker.tasks, queue.calls)


def test_a_trickle_faster_than_the_pause_took_it_in_does_not_pile_up():
    """1.2 tasks a second after a start that set the pause for one: full batches whose oldest message waited
    longer than the pause shorten it, so the run keeps up."""
    clock = FakeClock()
    queue = MemoryQueue(clock, [clock() + 0.5 + n / 1.2 for n in range(1200)])
    worker = SucceedingWorker(queue)
    consumer = Consumer(
        _module_defaults("continuous"), queue, worker, clock=clock, sleep=clock.advance, executor=InlineExecutor
    )

    consumer.run(LambdaContext(remaining_seconds=900, clock=clock))

    waiting = queue._visible()
    assert waiting <= 1.2 * 20, waiting  # at most a window's arrivals: nothing piled up
    assert (queue.requests() + worker.invocations) / worker.tasks <= 0.35


def test_on_a_trickle_drain_mode_runs_take_the_minute_s_batch_and_stop_rather_than_wait_for_each_task():
    """Drain mode, the module's defaults: a task a second for 10 minutes, a 60 s run every minute."""
    clock = FakeClock()
    start = clock()
    queue = MemoryQueue(clock, [start + 0.5 + n for n in range(600)])
    worker = SucceedingWorker(queue)
    consumer = Consumer(
        _module_defaults("drain"), queue, worker, clock=clock, sleep=clock.advance, executor=InlineExecutor
    )
    durations = []
    for minute in range(1, 11):
        clock.advance(start + 60 * minute - clock())
        report = consumer.run(LambdaContext(remaining_seconds=60, clock=clock))
        durations.append(clock() - (start + 60 * minute))
        assert report.stopped_because == "queue empty"

    assert worker.tasks >= 590
    # Each run: 6 full batches, then the one task that arrived during its last long poll.
    requests = queue.requests() + worker.invocations
    assert requests / worker.tasks <= 0.35, (requests, worker.tasks, queue.calls)
    assert max(durations) <= 2  # a run ends once the backlog is gone: it is billed for seconds, not its minute


def test_under_a_backlog_the_defaults_scale_up_to_every_slot_and_never_past_them(monkeypatch):
    """Real threads: a receive takes 5 ms and an invocation 20 ms; 1,000 messages wait."""
    monkeypatch.setattr(receive_scaling, "SCALE_UP_INTERVAL_SECONDS", 0.01)
    queue = MemoryQueue(time.monotonic, [0.0] * 1000, receive_seconds=0.005)
    worker = SucceedingWorker(queue, seconds=0.02)
    config = _module_defaults("drain")
    consumer = Consumer(config, queue, worker)

    report = consumer.run(LambdaContext(remaining_seconds=120))

    assert report.succeeded == worker.tasks == 1000 and report.stopped_because == "queue empty"
    # Several receives at once, from one configured loop...
    assert queue.most_receiving >= 2
    # ...and never more receives and invocations under way than the consumer's concurrency.
    assert queue.in_flight.most <= config.max_concurrency
