"""The soak's traffic: the producer that enqueues the task mix, and consumer runs started on a schedule,
their receives and visibility calls watched and their faults (duplicates, slow receives) injected."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig
from taskqueue.consumer import Budget, Consumer
from taskqueue.operations.queue_attributes import queue_depths
from taskqueue.producer import Task, TaskQueue
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.lambda_context import LambdaContext
from taskqueue_local.scenarios.soak.faults import DUPLICATES, SLOW_RECEIVES, Faults, Observations
from taskqueue_local.scenarios.soak.plan import WORKER, SoakConfig, TaskMix
from taskqueue_local.scenarios.soak.sizing import Sizing

# The Lambda context of the consumer run on this thread: the run's own, and its pool's (_RunPool).
_current_run = threading.local()


class _RunPool(ThreadPoolExecutor):
    """The consumer's pool for one run: its threads know the run they work for (the receives run there, and the
    slow-receive fault needs the run's budget)."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers)
        self.context = _current_run.context

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def for_the_run() -> Any:
            _current_run.context = self.context
            return fn(*args, **kwargs)

        return super().submit(for_the_run)


def fault_injecting_consumer(
    sizing: Sizing, deployment: Deployment, faults: Faults, observed: Observations
) -> Consumer:
    """One consumer for every run (they overlap up to max_live_runs), its calls through the fault proxy."""
    settings = ConsumerConfig(
        queue_url=deployment.queues.url,
        worker_function=WORKER,
        max_concurrency=sizing.per_run_concurrency,
        wait_time_seconds=1,
        worker_timeout_seconds=sizing.worker_timeout,
        time_margin_seconds=sizing.rules.settle_margin,
        backoff=Backoff(1, 4),
        receivers=1,
    )
    instrumented = instrumented_consumer(
        deployment,
        settings,
        direct=False,
        connections=sizing.per_run_concurrency * sizing.rules.max_live_runs + 4,
    )
    instrumented.consumer.executor = _RunPool
    chaos = deployment.client("sqs", direct=True)
    queue_url = deployment.queues.url

    def record_visibility(params: dict[str, Any], **_: Any) -> None:
        with observed.lock:
            observed.visibility_timeouts.extend(entry["VisibilityTimeout"] for entry in params["Entries"])

    def after_receive(parsed: dict[str, Any], **_: Any) -> None:
        for message in parsed.get("Messages", []):
            if faults.inject(DUPLICATES):
                # Visible again while this delivery runs: another consumer receives it too.
                handle = message["ReceiptHandle"]
                threading.Timer(
                    0.2,
                    lambda h=handle: _ignore(
                        chaos.change_message_visibility, QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=0
                    ),
                ).start()
        if parsed.get("Messages") and faults.inject(SLOW_RECEIVES):
            # Returns once too late to dispatch, by the consumer's own reckoning: the run must give it back.
            budget = Budget(_current_run.context, settings)
            while budget.can_dispatch():
                time.sleep(0.1)

    instrumented.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch", record_visibility)
    instrumented.sqs.meta.events.register("after-call.sqs.ReceiveMessage", after_receive)
    return instrumented.consumer


def _ignore(call: Callable[..., Any], **arguments: Any) -> None:
    # A duplicate that could not be injected is just one fault fewer.
    with contextlib.suppress(Exception):
        call(**arguments)


def schedule_consumers(
    config: SoakConfig,
    sizing: Sizing,
    consumer: Consumer,
    observed: Observations,
    stop: threading.Event,
    runs: list[threading.Thread],
) -> None:
    """A schedule tick every interval until ``stop`` starts a consumer run, unless the live-run limit
    is reached (runs overlap up to it, as a consumer with that reserved concurrency would). The runs
    started are added to ``runs``."""

    def one_run() -> None:
        _current_run.context = LambdaContext(sizing.consumer_budget)
        try:
            report = consumer.run(_current_run.context)
        except Exception as error:
            with observed.lock:
                observed.consumer_crashes.append(f"{type(error).__name__}: {error}")
            return
        with observed.lock:
            observed.reports.append(report)

    while not stop.is_set():
        if sum(run.is_alive() for run in runs) < sizing.rules.max_live_runs:
            thread = threading.Thread(target=one_run, daemon=True)
            thread.start()
            runs.append(thread)
        else:
            with observed.lock:
                observed.skipped_ticks += 1
        stop.wait(config.consumer_interval)


def produce(
    config: SoakConfig,
    deployment: Deployment,
    tasks: TaskMix,
    observed: Observations,
    done: threading.Event,
    stop: threading.Event,
) -> None:
    """Enqueues the task mix in chunks until done or ``stop``, keeping the backlog small (moto slows down
    as it grows)."""
    sqs = deployment.client("sqs", retries={"mode": "standard"})
    depth_client = deployment.client("sqs", direct=True)
    queue_url = deployment.queues.url
    producer = TaskQueue(queue_url, sqs=sqs, max_message_bytes=262_144)
    for start in range(0, len(tasks.bodies), 10):
        while queue_depths(depth_client, queue_url)["ApproximateNumberOfMessages"] > config.backlog:
            if stop.wait(0.05):
                return
        chunk = tasks.bodies[start : start + 10]
        for _attempt in range(10):
            try:
                _send_chunk(producer, sqs, queue_url, chunk)
                break
            except Exception:
                # At-least-once from the producer too: a retried chunk may enqueue some tasks twice.
                with observed.lock:
                    observed.enqueue_retries += 1
                time.sleep(0.2)
    done.set()


def _send_chunk(producer: TaskQueue, sqs: Any, queue_url: str, chunk: list[tuple[str, str | Task]]) -> None:
    """The chunk's tasks through the producer, its raw bodies (not task messages) as they are."""
    chunk_tasks = [body for _, body in chunk if isinstance(body, Task)]
    if chunk_tasks:
        producer.enqueue_batch(chunk_tasks)
    raw = [{"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk) if isinstance(body, str)]
    if raw:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=raw)
