"""Tasks that wait, run one after another or together (issue 23), behind the consumer and the mapping.

Each task waits 100 ms (``bench/io_tasks``: ``async def`` awaiting ``asyncio.sleep``, or ``time.sleep`` in
the worker's thread pool or in its own thread). Five rows, each measured behind the consumer (batches of
10) and behind the event source mapping (batches of 100, 1 s batching window), at the same worker
concurrency:

- sequential (today): ``time.sleep``, each task after the other;
- ours, concurrent: ``async def``, the batch's tasks together on the worker's event loop;
- ours, threads: ``threads=True``, the batch's tasks in the worker's thread pool;
- Powertools: a bare handler on Powertools' ``async_process_partial_response`` (``bench/powertools_handler``),
  the same ``async def`` task; behind the mapping only (the consumer takes the runtime worker's answer only);
- the no-op task, CPU-bound: what the concurrency must not slow down.

A measurement drains a backlog enqueued before it starts (a fresh queue, ``IO_TASKS_PER_SLOT`` tasks a
unit of concurrency), so that a 10 s batch of 100 sequential tasks is measured whole: tasks/s from the
start to the last delete, per unit of configured worker concurrency, and tasks per second of worker run
time (per unit of concurrency in use, what Lambda's quota counts); the worker's billed GB-s per task from the
local Lambda's REPORT lines; enqueue-to-settled latency of each task (its SentTimestamp to the delete of
its message, seen on the poller's or the consumer's SQS client), which under a backlog enqueued at once
reads as how long a design takes to work through it. Rows that need the concurrent worker say why they
are not measured when it is not there, rather than print a figure.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.drain import DrainBench, MappingShape, polled
from taskqueue.config import DEFAULT_BATCHING_WINDOW_SECONDS, ConsumerConfig, WorkerConfig
from taskqueue_local.deployment.deployment import EVENT_SOURCE_MAPPING, Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.call_counter import CallCounter
from taskqueue_local.infrastructure.lambda_context import LambdaContext

BENCH_DIR = Path(__file__).resolve().parent
IO_TASKS_PACKAGE = BENCH_DIR / "io_tasks"
POWERTOOLS_PACKAGE = BENCH_DIR / "powertools_handler"
IO_WORKER = "io-worker"
POWERTOOLS_WORKER = "io-powertools"
# Worker concurrency of every measurement here: the consumer's slots, the mapping's MaximumConcurrency.
IO_CONCURRENCY = 2
# A batch of 100 sequential 100 ms tasks takes 10 s: the worker's timeout leaves room for it.
IO_WORKER_TIMEOUT = 30
# The backlog a measurement drains, per unit of concurrency: six batches of 10 behind the consumer, one
# batch of 100 behind the mapping.
IO_TASKS_PER_SLOT = {"consumer": 60, "mapping": 100}
DRAIN_TIMEOUT_SECONDS = 60.0
WORKER_MEMORY_GB = 512 / 1024

CONSUMER = "consumer, batch 10"
MAPPING = "event source mapping, batch 100, window 1 s"
TRIGGERS = (CONSUMER, MAPPING)
MAPPING_SHAPE = MappingShape(batch_size=100, batching_window_seconds=1)

NOT_MEASURED_NO_TASKS = "not measured: bench/io_tasks is missing"
NOT_MEASURED_SEQUENTIAL_WORKER = "not measured: worker runs async tasks sequentially"
NOT_MEASURED_TASKS_NEED_WORKER = "not measured: bench/io_tasks needs the concurrent worker to import"
NOT_MEASURED_CONSUMER = "n/a: the consumer takes the runtime worker's answer only"


@dataclass(frozen=True)
class Row:
    name: str
    function: str
    task: str
    needs_concurrent_worker: bool = False
    behind_consumer: bool = True


SEQUENTIAL = Row("sequential (today)", IO_WORKER, "io_sequential")
CONCURRENT = Row("ours, concurrent (async def)", IO_WORKER, "io_async", needs_concurrent_worker=True)
THREADS = Row("ours, threads=True", IO_WORKER, "io_threads", needs_concurrent_worker=True)
POWERTOOLS = Row("Powertools async_process_partial_response", POWERTOOLS_WORKER, "io_async", behind_consumer=False)
NOOP = Row("no-op task (CPU-bound)", IO_WORKER, "noop")
ROWS = (SEQUENTIAL, CONCURRENT, THREADS, POWERTOOLS, NOOP)


def concurrent_worker() -> bool:
    """Whether this checkout's worker runs a batch's async tasks together (issue 23's taskqueue.concurrency)."""
    return importlib.util.find_spec("taskqueue.concurrency") is not None


def io_tasks_present() -> bool:
    return (IO_TASKS_PACKAGE / "__init__.py").exists()


def why_not_measured(row: Row, trigger: str) -> str | None:
    if not io_tasks_present():
        return NOT_MEASURED_NO_TASKS
    if trigger == CONSUMER and not row.behind_consumer:
        return NOT_MEASURED_CONSUMER
    if not concurrent_worker():
        # bench/io_tasks imports only where @task takes threads=True.
        return NOT_MEASURED_SEQUENTIAL_WORKER if row.needs_concurrent_worker else NOT_MEASURED_TASKS_NEED_WORKER
    return None


def task_packages() -> list[Path]:
    """The packages the benchmark's zip takes for this workload (none without the I/O tasks)."""
    return [IO_TASKS_PACKAGE, POWERTOOLS_PACKAGE] if io_tasks_present() else []


@dataclass
class IoMeasurement:
    row: str
    trigger: str
    concurrency: int
    tasks: int = 0
    seconds: float = 0.0
    worker_billed_ms: float = 0.0
    invocations: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    not_measured: str | None = None

    @property
    def tasks_per_second_per_unit(self) -> float:
        return self.tasks / self.seconds / self.concurrency if self.seconds else 0.0

    @property
    def tasks_per_worker_second(self) -> float:
        """Tasks per second of worker run time: per unit of concurrency in use, which is what Lambda counts
        against its quota, and free of the emulator's time between invocations."""
        return self.tasks / (self.worker_billed_ms / 1000) if self.worker_billed_ms else 0.0

    @property
    def gb_seconds_per_task(self) -> float:
        return self.worker_billed_ms / 1000 * WORKER_MEMORY_GB / max(1, self.tasks)

    def per_task(self, prefix: str) -> float:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix)) / max(1, self.tasks)


class SettleTimes:
    """Enqueue-to-settled time (ms) of each message an SQS client deletes: the SentTimestamp its receive
    returned, to the moment its delete is sent."""

    def __init__(self, sqs: Any) -> None:
        self.sent: dict[str, int] = {}
        self.latencies_ms: list[float] = []
        self._lock = threading.Lock()
        sqs.meta.events.register("after-call.sqs.ReceiveMessage", self._received)
        sqs.meta.events.register("provide-client-params.sqs.DeleteMessageBatch", self._deleting)

    def _received(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            for message in parsed.get("Messages", []):
                sent = message.get("Attributes", {}).get("SentTimestamp")
                if sent is not None:
                    self.sent[message["ReceiptHandle"]] = int(sent)

    def _deleting(self, params: dict[str, Any], **_: Any) -> None:
        now = time.time() * 1000
        with self._lock:
            for entry in params["Entries"]:
                sent = self.sent.pop(entry["ReceiptHandle"], None)
                if sent is not None:
                    self.latencies_ms.append(now - sent)


def deploy(stack: DirectStack, zip_path: Path, dlq_url: str) -> None:
    """The two functions of this workload: the runtime's worker with the I/O and no-op tasks, and the
    Powertools handler."""
    # TASKQUEUE_TASK_CONCURRENCY as the module sets it (the batch size, here the mapping's; a consumer batch
    # of 10 runs its 10 lanes under it): the worker starts its lane threads as it is built, not in a batch.
    settings = WorkerConfig(
        dlq_url=dlq_url, task_modules=("io_tasks", "noop_tasks"), task_concurrency=MAPPING_SHAPE.batch_size
    )
    stack.deploy_function(IO_WORKER, zip_path, "taskqueue.worker.handler", settings.to_env(), IO_WORKER_TIMEOUT)
    stack.deploy_function(POWERTOOLS_WORKER, zip_path, "powertools_handler.handler", {}, IO_WORKER_TIMEOUT)


def measure_all(bench: DrainBench, warm: Callable[[Deployment, int], None]) -> list[IoMeasurement]:
    """Every row behind both triggers, once each (the waits dominate, so one run reads steadily)."""
    if io_tasks_present() and concurrent_worker():
        for function in (IO_WORKER, POWERTOOLS_WORKER):
            warm(bench.deployment(function), IO_CONCURRENCY)
    results = []
    for trigger in TRIGGERS:
        for row in ROWS:
            reason = why_not_measured(row, trigger)
            if reason is not None:
                results.append(IoMeasurement(row.name, trigger, IO_CONCURRENCY, not_measured=reason))
                continue
            result = measure(bench, row, trigger)
            results.append(result)
            print(
                f"  {trigger:<44} {row.name:<42} {result.tasks_per_second_per_unit:7.1f} tasks/s per unit "
                f"{result.gb_seconds_per_task * 1e6:8.1f} µGB-s/task",
                flush=True,
            )
    return results


def measure(bench: DrainBench, row: Row, trigger: str) -> IoMeasurement:
    mode = "schedule" if trigger == CONSUMER else EVENT_SOURCE_MAPPING
    deployment = bench.deployment(row.function, mode)
    tasks = IO_TASKS_PER_SLOT["consumer" if trigger == CONSUMER else "mapping"] * IO_CONCURRENCY
    _enqueue(deployment, row.task, tasks)
    billed0, invocations0 = bench.reports((row.function,))
    measurement = IoMeasurement(row.name, trigger, IO_CONCURRENCY)
    runner = _consumer_running if trigger == CONSUMER else _mapping_running
    started = time.perf_counter()
    with runner(deployment) as (counter, settled):
        done_at = _wait_for_deletes(counter, tasks)
        measurement.seconds = done_at - started
        calls, deleted = counter.snapshot()
    time.sleep(0.2)  # the local Lambda writes an invocation's REPORT line as it ends
    billed1, invocations1 = bench.reports((row.function,))
    measurement.tasks = deleted
    measurement.calls = dict(calls)
    measurement.worker_billed_ms = billed1 - billed0
    measurement.invocations = invocations1 - invocations0
    measurement.latencies_ms = list(settled.latencies_ms)
    return measurement


def _enqueue(deployment: Deployment, task: str, count: int) -> None:
    sqs = deployment.client("sqs", direct=True)
    body = json.dumps({"task": task, "payload": None})
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": body} for i in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=deployment.queues.url, Entries=entries)


def _wait_for_deletes(counter: CallCounter, tasks: int) -> float:
    """When the design had deleted ``tasks`` messages (perf_counter), or the timeout passed."""
    deadline = time.perf_counter() + DRAIN_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        if counter.snapshot()[1] >= tasks:
            break
        time.sleep(0.01)
    return time.perf_counter()


@contextmanager
def _consumer_running(deployment: Deployment) -> Iterator[tuple[CallCounter, SettleTimes]]:
    """The consumer at the module's defaults but its concurrency (IO_CONCURRENCY), in continuous mode."""
    config = ConsumerConfig(
        queue_url=deployment.queues.url,
        worker_function=deployment.worker_function,
        max_concurrency=IO_CONCURRENCY,
        wait_time_seconds=1,
        mode="continuous",
        batching_window_seconds=DEFAULT_BATCHING_WINDOW_SECONDS["continuous"],
        worker_timeout_seconds=IO_WORKER_TIMEOUT,
        time_margin_seconds=2,
    )
    consumer = instrumented_consumer(deployment, config)
    settled = SettleTimes(consumer.sqs)
    context = LambdaContext(remaining_seconds=900)
    run = threading.Thread(target=consumer.run_quietly, args=(context,), daemon=True)
    run.start()
    try:
        yield consumer.calls, settled
    finally:
        context.stop()
        run.join()


@contextmanager
def _mapping_running(deployment: Deployment) -> Iterator[tuple[CallCounter, SettleTimes]]:
    probes: list[SettleTimes] = []
    with polled(
        deployment,
        IO_CONCURRENCY,
        MAPPING_SHAPE,
        worker_timeout=IO_WORKER_TIMEOUT,
        on_sqs=lambda sqs: probes.append(SettleTimes(sqs)),
    ) as counter:
        yield counter, probes[0]
