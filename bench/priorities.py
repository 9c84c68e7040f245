"""``python -m bench.priorities``: do high-priority tasks jump a low-priority backlog, in both trigger modes?

On the local stack (the emulator, the local Lambda running the no-op worker), for each mode: a backlog
of ``--backlog`` low-priority tasks, then 50 high-priority ones; then

- behind the consumer (strict receive order, drain mode): consumer runs of ``--run-seconds`` back to back,
  the consumer's SQS client over both queues (``taskqueue.priority_receiving``), as the module wires it;
- behind event source mappings: one mapping per queue, MaximumConcurrency in proportion to the weights
  (high 3 : low 1 of ``--concurrency``), polled by the local pollers.

A task starts when the worker invocation that carries it starts (the local Lambda's invocation records);
its latency is that start less its send. Printed, and with ``--out`` written as JSON: per class the count
started, p50 and p95 (ms); the consumer run, or the poll after the high tasks were sent, in which the last
high task started. Low-priority figures cover the tasks that started before the measurement ended, not the
whole backlog.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.drain import NOOP_BODY, WORKER, WORKER_TIMEOUT
from bench.run import _warm
from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer
from taskqueue.limits import invoke_read_timeout
from taskqueue.priorities import STRICT, Priorities, PriorityQueue
from taskqueue.priority_receiving import with_priorities
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.infrastructure.event_source_mapping import (
    MappingPoller,
    PollerSettings,
    client_invoker,
    read_mappings,
)
from taskqueue_local.infrastructure.invocations import InvocationJournal, journal_path
from taskqueue_local.infrastructure.lambda_context import LambdaContext
from taskqueue_local.infrastructure.shutdown import exit_on_signals
from taskqueue_local.infrastructure.statistics import percentile

BENCH_DIR = Path(__file__).resolve().parent
HIGH_TASKS = 50
WEIGHTS = {"high": 3, "low": 1}
# Lambda's least MaximumConcurrency.
MIN_MAXIMUM_CONCURRENCY = 2


def mapping_concurrency(cap: int, weights: dict[str, int]) -> dict[str, int]:
    """Each priority's MaximumConcurrency, as the module shares ``cap`` out (terraform/priorities.tf;
    tests/test_terraform.py holds the two equal): its weight's share, rounded down, at least 2."""
    total = sum(weights.values())
    return {name: max(MIN_MAXIMUM_CONCURRENCY, cap * weight // total) for name, weight in weights.items()}


@dataclass
class ClassFigures:
    started: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class ModeResult:
    mode: str
    backlog: int
    high: ClassFigures
    low: ClassFigures
    # Consumer: the run (1 = the first after the high tasks were sent) in which the last high task started.
    # Mapping: seconds from the last high send to the last high start (the pollers' long poll is 20 s).
    last_high_run: int | None
    last_high_after_seconds: float | None


def _figures(latencies: list[float]) -> ClassFigures:
    return ClassFigures(len(latencies), percentile(latencies, 0.5), percentile(latencies, 0.95))


def _send(sqs, url: str, count: int, sent_at: dict[str, float]) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": NOOP_BODY} for n in range(min(10, count - start))]
        now = time.time() * 1000
        for success in sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]:
            sent_at[success["MessageId"]] = now


class PriorityBench:
    def __init__(self, stack: DirectStack, backlog: int, concurrency: int, run_seconds: float) -> None:
        self.stack = stack
        self.backlog = backlog
        self.concurrency = concurrency
        self.run_seconds = run_seconds
        self._n = 0

    def queues(self) -> Priorities:
        self._n += 1
        high = self.stack.create_queues(f"prio-{self._n}-high", max_receive_count=5, visibility_timeout=60)
        low = self.stack.create_queues(f"prio-{self._n}", max_receive_count=5, visibility_timeout=60)
        return Priorities(
            (
                PriorityQueue("high", high.url, high.arn, WEIGHTS["high"]),
                PriorityQueue("low", low.url, low.arn, WEIGHTS["low"]),
            ),
            STRICT,
        )

    def starts(self, since: int) -> dict[str, float]:
        """Message id -> when the invocation carrying it started (ms since the epoch)."""
        journal = InvocationJournal(journal_path(self.stack.work_dir / "logs", WORKER))
        found: dict[str, float] = {}
        for record in journal.records(since):
            if record.invocation.throttled or record.invocation.function_error:
                continue
            for each in record.records():
                found.setdefault(str(each["messageId"]), float(record.invocation.started_ms))
        return found

    def journal_size(self) -> int:
        return InvocationJournal(journal_path(self.stack.work_dir / "logs", WORKER)).size()

    def result(
        self, since: int, high: dict[str, float], low: dict[str, float]
    ) -> tuple[ClassFigures, ClassFigures, float | None]:
        """Each class's figures, and when the last high task started (None: some never did), from one read
        of the journal."""
        starts = self.starts(since)
        high_figures, low_figures = (
            _figures([starts[m] - sent for m, sent in sent_at.items() if m in starts]) for sent_at in (high, low)
        )
        return high_figures, low_figures, max((starts[m] for m in high if m in starts), default=None)

    def clients(self) -> tuple[Any, Any]:
        """SQS and Lambda clients for the data plane, pooled for ``concurrency`` invocations at once."""
        pool = self.concurrency + 6
        sqs = self.stack.client("sqs", direct=True, max_pool_connections=pool)
        lambda_client = self.stack.client(
            "lambda",
            retries={"total_max_attempts": 1},
            read_timeout=invoke_read_timeout(WORKER_TIMEOUT),
            max_pool_connections=pool,
        )
        return sqs, lambda_client

    def consumer(self) -> ModeResult:
        priorities = self.queues()
        sqs, lambda_client = self.clients()
        high_url, low_url = (q.queue_url for q in priorities.queues)
        low: dict[str, float] = {}
        high: dict[str, float] = {}
        _send(sqs, low_url, self.backlog, low)
        since = self.journal_size()
        _send(sqs, high_url, HIGH_TASKS, high)
        config = ConsumerConfig(
            queue_url=low_url,
            worker_function=WORKER,
            max_concurrency=self.concurrency,
            wait_time_seconds=1,
            worker_timeout_seconds=WORKER_TIMEOUT,
            time_margin_seconds=2,
            backoff=Backoff(),
            priorities=priorities,
        )
        consumer = Consumer(config, with_priorities(sqs, priorities), lambda_client)
        budget = self.run_seconds + invoke_read_timeout(WORKER_TIMEOUT) + 3
        run_ends: list[float] = []
        for _ in range(2):
            with contextlib.redirect_stdout(io.StringIO()):  # the run's report line
                consumer.run(LambdaContext(remaining_seconds=budget))
            run_ends.append(time.time() * 1000)
            if high.keys() <= self.starts(since).keys():
                break
        high_figures, low_figures, last_high = self.result(since, high, low)
        run = None if last_high is None else next((n + 1 for n, end in enumerate(run_ends) if last_high <= end), None)
        return ModeResult("scheduled consumer (strict)", self.backlog, high_figures, low_figures, run, None)

    def event_source_mappings(self) -> ModeResult:
        priorities = self.queues()
        control = self.stack.client("lambda", direct=True)
        concurrency = mapping_concurrency(self.concurrency, {q.priority: q.weight for q in priorities.queues})
        sqs, lambda_client = self.clients()
        high_url, low_url = (q.queue_url for q in priorities.queues)
        low: dict[str, float] = {}
        high: dict[str, float] = {}
        _send(sqs, low_url, self.backlog, low)
        with ExitStack() as running:
            for queue in priorities.queues:
                uuid = control.create_event_source_mapping(
                    EventSourceArn=queue.queue_arn,
                    FunctionName=WORKER,
                    BatchSize=10,
                    FunctionResponseTypes=["ReportBatchItemFailures"],
                    ScalingConfig={"MaximumConcurrency": concurrency[queue.priority]},
                )["UUID"]
                running.callback(control.delete_event_source_mapping, UUID=uuid)
                (mapping,) = [m for m in read_mappings(control, sqs) if m.uuid == uuid]
                settings = PollerSettings(max_concurrency=concurrency[queue.priority])
                poller = MappingPoller(mapping, sqs, client_invoker(lambda_client), settings).start()
                running.callback(poller.join, 30)
                running.callback(poller.stop)
            time.sleep(2.0)  # the low backlog is being drained, the high queue long-polled
            since = self.journal_size()
            _send(sqs, high_url, HIGH_TASKS, high)
            sent = time.time() * 1000
            deadline = time.monotonic() + self.run_seconds * 2
            while time.monotonic() < deadline and not high.keys() <= self.starts(since).keys():
                time.sleep(0.2)
            time.sleep(0.5)
        high_figures, low_figures, last_high = self.result(since, high, low)
        after = None if last_high is None else (last_high - sent) / 1000
        return ModeResult(
            f"event source mappings ({concurrency['high']}+{concurrency['low']})",
            self.backlog,
            high_figures,
            low_figures,
            None,
            after,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.priorities", description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=5000, help="low-priority tasks sent first")
    parser.add_argument("--concurrency", type=int, default=8, help="worker invocations at once")
    parser.add_argument("--run-seconds", type=float, default=20.0, help="each consumer run's receive time")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    with exit_on_signals(), tempfile.TemporaryDirectory() as work:
        zip_path = build("worker", Path(work) / "dist", [BENCH_DIR / "noop_tasks"]) / "worker.zip"
        with DirectStack(Path(work), [zip_path.parent], separate_data_plane=True) as stack:
            stack_queues = stack.create_queues("prio-functions", max_receive_count=5)
            dlq_url = stack_queues.dlq_url
            settings = WorkerConfig(dlq_url=dlq_url, task_modules=("noop_tasks",))
            stack.deploy_function(WORKER, zip_path, "taskqueue.worker.handler", settings.to_env(), WORKER_TIMEOUT)
            bench = PriorityBench(stack, args.backlog, args.concurrency, args.run_seconds)
            _warm(stack.deployment("prio-functions", stack_queues, WORKER), args.concurrency)
            results = [bench.consumer(), bench.event_source_mappings()]
    for result in results:
        print(
            f"{result.mode:<32} backlog {result.backlog}: high {result.high.started}/{HIGH_TASKS} started, "
            f"p50 {result.high.p50_ms} ms p95 {result.high.p95_ms} ms; low {result.low.started} started, "
            f"p50 {result.low.p50_ms} ms p95 {result.low.p95_ms} ms; last high in run {result.last_high_run}, "
            f"{result.last_high_after_seconds} s after its send",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps([asdict(result) for result in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
