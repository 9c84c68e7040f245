"""Drain rate, requests and compute per task of each design, over fixed time windows on the local stack.

Every measurement gets a fresh queue, kept at a stated backlog by a feeder thread (SendMessageBatch of
10 whenever fewer than ``backlog`` messages are sent and not yet done; its calls are not counted), runs its design
for a warm-up and then a fixed window, and counts only what happened inside the window: tasks done
(messages deleted after their task ran), API calls by operation, the worker's billed duration (from the
records the local Lambda keeps of its invocations, ``taskqueue_local.infrastructure.invocations``) and the
consumer's run time. A fixed window, not a fixed count,
keeps a slow machine's run as long as a fast one's.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.baseline import scheduler as baseline
from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig
from taskqueue.limits import invoke_read_timeout
from taskqueue_local.deployment.deployment import EVENT_SOURCE_MAPPING, Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.call_counter import CallCounter
from taskqueue_local.infrastructure.event_source_mapping import (
    MappingPoller,
    PollerSettings,
    client_invoker,
    read_mappings,
)
from taskqueue_local.infrastructure.invocations import InvocationJournal, journal_path
from taskqueue_local.infrastructure.lambda_context import LambdaContext

WORKER = "noop-worker"
BASELINE_WORKER = "baseline-worker"
WORKER_TIMEOUT = 10
NOOP_BODY = json.dumps({"task": "noop", "payload": None})
# The module's default memory sizes (terraform/variables.tf), for the GB-seconds of each function.
CONSUMER_MEMORY_GB = 256 / 1024
# The baseline's messages handed out to asynchronous invocations and not yet deleted, at most.
MAX_HANDED_OUT = 40
# The feeder's pause while the backlog is full.
FEED_PAUSE_SECONDS = 0.01
# SendMessageBatch calls of 10 under way at once, keeping the backlog. The emulator answers one in 15-45 ms
# under the designs' load: one sender at a time fed at most 250-600 tasks/s, the ceiling and the event
# source mapping drained faster, and the backlog of 200 ran dry (3 to 15 messages visible on average): the
# fastest designs measured the feeder, and a design that drained a little slower kept a deeper queue, on
# which each of moto's calls costs more, and read slower still.
FEEDERS = 8
WORKER_MEMORY_GB = 512 / 1024


@dataclass(frozen=True)
class Window:
    warmup_seconds: float = 1.0
    seconds: float = 5.0
    backlog: int = 200


@dataclass
class Measurement:
    design: str
    setting: str
    tasks: int
    seconds: float
    calls: dict[str, int]
    worker_billed_ms: float = 0.0
    consumer_seconds: float = 0.0
    invocations: int = 0

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds

    @property
    def requests_per_task(self) -> float:
        return sum(self.calls.values()) / max(1, self.tasks)

    def per_task(self, prefix: str) -> float:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix)) / max(1, self.tasks)

    @property
    def gb_seconds_per_task(self) -> float:
        seconds = self.worker_billed_ms / 1000 * WORKER_MEMORY_GB + self.consumer_seconds * CONSUMER_MEMORY_GB
        return seconds / max(1, self.tasks)


@dataclass
class DrainBench:
    stack: DirectStack
    window: Window
    calls_files: dict[str, Path] = field(default_factory=dict)
    _queues: int = 0

    # -- the stack --------------------------------------------------------------------------------

    def deployment(self, worker: str = WORKER, trigger_mode: str = "schedule") -> Deployment:
        """A fresh queue (moto slows as a queue's history grows) with the given worker; the consumer, or
        the event source mapping's poller, runs in this process."""
        self._queues += 1
        queues = self.stack.create_queues(f"bench-{self._queues}", max_receive_count=5, visibility_timeout=60)
        return self.stack.deployment(f"bench-{self._queues}", queues, worker, trigger_mode)

    def worker_calls(self, function: str) -> Counter[str]:
        path = self.calls_files[function]
        return Counter(path.read_text().split()) if path.exists() else Counter()

    def reports(self, functions: tuple[str, ...]) -> tuple[float, int]:
        """(billed ms, invocations that ran) so far of ``functions``, from the local Lambda's invocation
        records (a throttled invocation did not run and bills nothing)."""
        billed, invocations = 0.0, 0
        for function in functions:
            for record in InvocationJournal(journal_path(self.stack.work_dir / "logs", function)).records():
                if not record.invocation.throttled:
                    billed += record.invocation.billed_ms
                    invocations += 1
        return billed, invocations

    @contextmanager
    def fed(self, deployment: Deployment, tasks_done: Callable[[], int]) -> Iterator[None]:
        """The queue kept at ``backlog`` messages not yet done (visible or in flight) while the block runs.

        The feeder counts what it sent against what the design reports done (``tasks_done``), so it
        adds no call to the emulator's load but its sends (looking at the queue's depth costs moto a
        scan of the queue). Up to ``FEEDERS`` sends are under way at once: one at a time could not keep
        up. One thread asks ``tasks_done`` (the baseline's reads its worker's calls file)."""
        sqs = deployment.client("sqs", direct=True, max_pool_connections=FEEDERS)
        url = deployment.queues.url
        stop = threading.Event()
        senders = threading.Semaphore(FEEDERS)

        def send_ten() -> None:
            entries = [{"Id": str(i), "MessageBody": NOOP_BODY} for i in range(10)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)

        def send_and_free_a_sender() -> None:
            try:
                send_ten()
            finally:
                senders.release()

        def feed() -> None:
            sent = self.window.backlog // 10 * 10  # sent, or being sent
            with ThreadPoolExecutor(FEEDERS) as pool:
                while not stop.is_set():
                    if sent - tasks_done() + 10 > self.window.backlog:
                        time.sleep(FEED_PAUSE_SECONDS)
                    elif senders.acquire(timeout=FEED_PAUSE_SECONDS):
                        sent += 10
                        pool.submit(send_and_free_a_sender)

        for _ in range(self.window.backlog // 10):
            send_ten()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        try:
            yield
        finally:
            stop.set()
            feeder.join()

    def _window(
        self, design: str, setting: str, done: Callable[[], tuple[Counter[str], int]], functions: tuple[str, ...]
    ) -> Measurement:
        """Wait out the warm-up, then count over the window: ``done`` gives (calls so far, tasks done so far)."""
        time.sleep(self.window.warmup_seconds)
        calls0, tasks0 = done()
        billed0, invocations0 = self.reports(functions)
        started = time.perf_counter()
        time.sleep(self.window.seconds)
        calls1, tasks1 = done()
        seconds = time.perf_counter() - started
        billed1, invocations1 = self.reports(functions)
        return Measurement(
            design,
            setting,
            tasks1 - tasks0,
            seconds,
            dict(calls1 - calls0),
            worker_billed_ms=billed1 - billed0,
            invocations=invocations1 - invocations0,
        )

    # -- the designs ------------------------------------------------------------------------------

    def ceiling(self, clients: int) -> Measurement:
        """The emulator's own rate: ``clients`` loops of receive 10 and delete them in one batch, no invoke."""
        deployment = self.deployment()
        url = deployment.queues.url
        sqs = deployment.client("sqs", direct=True, max_pool_connections=clients + 2)
        counter = CallCounter(sqs)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
                if messages:
                    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                    sqs.delete_message_batch(QueueUrl=url, Entries=entries)

        with self.fed(deployment, lambda: counter.snapshot()[1]):
            threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
            for thread in threads:
                thread.start()
            try:
                return self._window("emulator ceiling", f"clients={clients}", counter.snapshot, ())
            finally:
                stop.set()
                for thread in threads:
                    thread.join()

    def consumer(self, concurrency: int, receivers: int) -> Measurement:
        """The scheduled consumer, in continuous mode, invoking the worker through the local endpoint."""
        deployment = self.deployment()
        config = ConsumerConfig(
            queue_url=deployment.queues.url,
            worker_function=WORKER,
            max_concurrency=concurrency,
            receivers=receivers,
            wait_time_seconds=1,
            mode="continuous",
            worker_timeout_seconds=WORKER_TIMEOUT,
            time_margin_seconds=2,
            backoff=Backoff(),
        )
        consumer = instrumented_consumer(deployment, config)
        context = LambdaContext(remaining_seconds=900)
        with self.fed(deployment, lambda: consumer.calls.snapshot()[1]):
            run = threading.Thread(target=consumer.run_quietly, args=(context,), daemon=True)
            run.start()
            try:
                measurement = self._window(
                    "scheduled consumer",
                    f"concurrency={concurrency} receivers={receivers}",
                    consumer.calls.snapshot,
                    (WORKER,),
                )
            finally:
                context.stop()
                run.join()
        # The consumer runs all along: its compute per task is its whole time over the window.
        measurement.consumer_seconds = measurement.seconds
        return measurement

    def event_source_mapping(self, concurrency: int) -> Measurement:
        """The worker behind the local event source mapping (a mapping created on the emulator, read back)."""
        deployment = self.deployment(trigger_mode=EVENT_SOURCE_MAPPING)
        with polled(deployment, concurrency) as counter, self.fed(deployment, lambda: counter.snapshot()[1]):
            return self._window("event source mapping", f"concurrency={concurrency}", counter.snapshot, (WORKER,))

    def baseline(self) -> Measurement:
        """The 2017 design's ticks, run back to back (not once a minute, as it is scheduled)."""
        deployment = self.deployment(BASELINE_WORKER)
        sqs = deployment.client("sqs", direct=True)
        lambda_client = deployment.client("lambda", retries={"total_max_attempts": 1})
        counter = CallCounter(sqs, lambda_client)
        stop = threading.Event()
        # The worker's calls file counts for the whole benchmark: this measurement's deletes are the ones after.
        deleted_before = self.worker_calls(BASELINE_WORKER)["sqs.DeleteMessage"]

        handed_out = 0

        def ticks() -> None:
            nonlocal handed_out
            while not stop.is_set():
                # Its invokes are asynchronous: bound what is handed out and not yet done, or invocations
                # would pile up in the local Lambda and run into the next measurement.
                if handed_out - done()[1] > MAX_HANDED_OUT:
                    time.sleep(0.01)
                    continue
                handed_out += baseline.tick(sqs, lambda_client, deployment.queues.url, BASELINE_WORKER)

        def done() -> tuple[Counter[str], int]:
            calls, _ = counter.snapshot()
            worker = self.worker_calls(BASELINE_WORKER)
            return calls + worker, worker["sqs.DeleteMessage"] - deleted_before

        with self.fed(deployment, lambda: done()[1]):
            thread = threading.Thread(target=ticks, daemon=True)
            thread.start()
            try:
                return self._window("baseline", "ticks back to back", done, (BASELINE_WORKER,))
            finally:
                stop.set()
                thread.join()


@dataclass(frozen=True)
class Trickle:
    rate: float = 10.0  # tasks a second, sent one by one
    seconds: float = 8.0


@dataclass(frozen=True)
class MappingShape:
    """An event source mapping's batch: its size and batching window (AWS's defaults: 10, none)."""

    batch_size: int = 10
    batching_window_seconds: int = 0


@contextmanager
def polled(
    deployment: Deployment,
    concurrency: int,
    shape: MappingShape = MappingShape(),
    worker_timeout: float = WORKER_TIMEOUT,
    on_sqs: Callable[[Any], object] | None = None,
) -> Iterator[CallCounter]:
    """The deployment's queue polled by a local event source mapping to its worker, created on the
    emulator and read back from it, its poller in this process (its calls counted) while the block runs.
    ``on_sqs`` sees the poller's SQS client before it starts (to hook its calls)."""
    control = deployment.client("lambda", direct=True)
    window = {"MaximumBatchingWindowInSeconds": shape.batching_window_seconds} if shape.batching_window_seconds else {}
    uuid = control.create_event_source_mapping(
        EventSourceArn=deployment.queues.arn,
        FunctionName=deployment.worker_function,
        BatchSize=shape.batch_size,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": concurrency},
        **window,
    )["UUID"]
    sqs = deployment.client("sqs", direct=True, max_pool_connections=concurrency + 4)
    lambda_client = deployment.client(
        "lambda",
        retries={"total_max_attempts": 1},
        read_timeout=invoke_read_timeout(worker_timeout),
        max_pool_connections=concurrency + 4,
    )
    (mapping,) = [m for m in read_mappings(control, sqs) if m.uuid == uuid]
    counter = CallCounter(sqs, lambda_client)
    if on_sqs is not None:
        on_sqs(sqs)
    settings = PollerSettings(max_concurrency=concurrency)
    poller = MappingPoller(mapping, sqs, client_invoker(lambda_client), settings).start()
    try:
        yield counter
    finally:
        poller.stop()
        poller.join(timeout=30)
        control.delete_event_source_mapping(UUID=uuid)


def trickle_latency(bench: DrainBench, design: str, trickle: Trickle) -> list[float]:
    """Enqueue-to-start times of tasks sent one by one at ``trickle.rate`` into an idle queue, with the
    scheduled consumer in continuous mode (20 s long polls) or the event source mapping polling it."""
    is_consumer = design == "scheduled consumer"
    deployment = bench.deployment(trigger_mode="schedule" if is_consumer else EVENT_SOURCE_MAPPING)
    since = deployment.worker_log.mark()
    sqs = deployment.client("sqs", direct=True)
    with contextlib.ExitStack() as running:
        if is_consumer:
            config = ConsumerConfig(
                queue_url=deployment.queues.url, worker_function=WORKER, max_concurrency=4, wait_time_seconds=20,
                mode="continuous", worker_timeout_seconds=WORKER_TIMEOUT, time_margin_seconds=2,
            )  # fmt: skip
            consumer = instrumented_consumer(deployment, config)
            context = LambdaContext(remaining_seconds=900)
            run = threading.Thread(target=consumer.run_quietly, args=(context,), daemon=True)
            run.start()
            running.callback(run.join)
            running.callback(context.stop)
        else:
            running.enter_context(polled(deployment, concurrency=4))
        time.sleep(1.0)  # the first long polls are waiting
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < trickle.seconds:
            sqs.send_message(QueueUrl=deployment.queues.url, MessageBody=NOOP_BODY)
            sent += 1
            time.sleep(max(0.0, started + sent / trickle.rate - time.perf_counter()))
        deadline = time.monotonic() + 30
        while len(deployment.worker_log.queue_times(since)) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
    return deployment.worker_log.queue_times(since)
