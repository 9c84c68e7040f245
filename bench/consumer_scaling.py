"""The consumer at the module's defaults, under a backlog and on a trickle, side by side (issue 23).

Under a backlog it is the drain table's ``consumer 4/1`` row (concurrency 4, one configured receive loop,
which the run scales up to its slots). On a trickle, one task a second is sent into an idle queue while the
consumer runs in continuous mode at the module's defaults (its 20 s long polls and batching window): after
a warm-up, requests (receives, invokes, deletes) and tasks are counted between two deletes, so the count
holds whole batches; each task's enqueue-to-settled latency is read on the consumer's SQS client.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.drain import NOOP_BODY, WORKER, WORKER_TIMEOUT, DrainBench, Measurement
from bench.figures import MeasuredRun
from bench.io_bound import SettleTimes
from taskqueue.config import ConsumerConfig
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.call_counter import CallCounter
from taskqueue_local.infrastructure.lambda_context import LambdaContext
from taskqueue_local.infrastructure.statistics import percentile
from taskqueue_local.infrastructure.tables import table

# The module's defaults (terraform/variables.tf) but the mode; the worker's timeout is the bench's.
DEFAULT_CONCURRENCY = 4
DEFAULT_RECEIVERS = 1
DEFAULT_RUN = f"consumer {DEFAULT_CONCURRENCY}/{DEFAULT_RECEIVERS}"  # its name in the drain table
BACKLOG_GOAL = 0.8
TRICKLE_GOAL = 0.32


@dataclass(frozen=True)
class SlowTrickle:
    rate: float = 1.0  # tasks a second
    warmup_seconds: float = 12.0  # the pause settles after a batch or two
    seconds: float = 20.0  # counted: from the first delete after the warm-up to the first delete after this


@dataclass
class TrickleCost:
    tasks: int
    requests: int
    seconds: float
    calls: dict[str, int]
    latencies_ms: list[float]

    @property
    def requests_per_task(self) -> float:
        return self.requests / max(1, self.tasks)


def default_consumer(queue_url: str) -> ConsumerConfig:
    """The consumer as the module configures it by default, in continuous mode."""
    return ConsumerConfig.from_env(
        {
            "TASKQUEUE_QUEUE_URL": queue_url,
            "TASKQUEUE_WORKER_FUNCTION": WORKER,
            "TASKQUEUE_MAX_CONCURRENCY": str(DEFAULT_CONCURRENCY),
            "TASKQUEUE_RECEIVERS": str(DEFAULT_RECEIVERS),
            "TASKQUEUE_WORKER_TIMEOUT_SECONDS": str(WORKER_TIMEOUT),
            "TASKQUEUE_MODE": "continuous",
        }
    )


def trickle_cost(bench: DrainBench, trickle: SlowTrickle) -> TrickleCost:
    deployment = bench.deployment()
    consumer = instrumented_consumer(deployment, default_consumer(deployment.queues.url))
    settled = SettleTimes(consumer.sqs)
    sqs = deployment.client("sqs", direct=True)
    context = LambdaContext(remaining_seconds=900)
    stop = threading.Event()

    def send() -> None:
        sent, started = 0, time.perf_counter()
        while not stop.is_set():
            sqs.send_message(QueueUrl=deployment.queues.url, MessageBody=NOOP_BODY)
            sent += 1
            stop.wait(max(0.0, started + sent / trickle.rate - time.perf_counter()))

    run = threading.Thread(target=consumer.run_quietly, args=(context,), daemon=True)
    feeder = threading.Thread(target=send, daemon=True)
    run.start()
    time.sleep(1.0)  # the first long poll is waiting
    feeder.start()
    try:
        time.sleep(trickle.warmup_seconds)
        calls0, deleted0, at0 = _after_next_delete(consumer.calls)
        time.sleep(trickle.seconds)
        calls1, deleted1, at1 = _after_next_delete(consumer.calls)
    finally:
        stop.set()
        feeder.join()
        context.stop()
        run.join()
    calls = {op: n - calls0.get(op, 0) for op, n in calls1.items() if n - calls0.get(op, 0)}
    return TrickleCost(deleted1 - deleted0, sum(calls.values()), at1 - at0, calls, list(settled.latencies_ms))


def _after_next_delete(counter: CallCounter) -> tuple[dict[str, int], int, float]:
    """(calls, deleted, when) just after the consumer's next delete: a count between two holds whole batches."""
    _, deleted = counter.snapshot()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        calls, now_deleted = counter.snapshot()
        if now_deleted > deleted:
            return dict(calls), now_deleted, time.perf_counter()
        time.sleep(0.005)
    calls, now_deleted = counter.snapshot()
    return dict(calls), now_deleted, time.perf_counter()


def results(
    measurements: list[MeasuredRun], ceiling: Measurement, trickle: SlowTrickle, cost: TrickleCost
) -> dict[str, Any]:
    """The backlog row of the drain table at the defaults, and the trickle's figures."""
    backlog = next(run for run in measurements if run.name == DEFAULT_RUN).median
    return {
        "backlog": {
            "tasks_per_second": backlog.rate,
            "fraction_of_ceiling": backlog.rate / ceiling.rate,
            "requests_per_task": backlog.requests_per_task,
        },
        "trickle": {
            **asdict(trickle),
            "tasks": cost.tasks,
            "seconds": cost.seconds,
            "calls": cost.calls,
            "requests_per_task": cost.requests_per_task,
            "latency_p50_ms": percentile(cost.latencies_ms, 0.5),
            "latency_p95_ms": percentile(cost.latencies_ms, 0.95),
        },
    }


def goals(figures: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    backlog, trickle = figures["backlog"], figures["trickle"]
    return [
        ("consumer at the defaults, under a backlog / emulator ceiling", f">= {BACKLOG_GOAL}", f"{backlog['fraction_of_ceiling']:.2f}", backlog["fraction_of_ceiling"] >= BACKLOG_GOAL),
        ("consumer at the defaults, requests per task on a trickle of 1 task/s", f"<= {TRICKLE_GOAL}", f"{trickle['requests_per_task']:.3f}", trickle["requests_per_task"] <= TRICKLE_GOAL),
    ]  # fmt: skip


def tables(figures: dict[str, Any]) -> str:
    backlog, trickle = figures["backlog"], figures["trickle"]
    latency = (
        f"{trickle['latency_p50_ms']:.0f} / {trickle['latency_p95_ms']:.0f}"
        if trickle["latency_p50_ms"] is not None
        else "-"
    )
    side_by_side = table(
        f"The consumer at the module's defaults (concurrency {DEFAULT_CONCURRENCY}, {DEFAULT_RECEIVERS} receive loop "
        "configured, scaled by the run), continuous mode",
        ("", "under a backlog", f"on a trickle of {trickle['rate']:g} task/s"),
        [
            ("tasks/s", f"{backlog['tasks_per_second']:.1f}", f"{trickle['tasks'] / max(trickle['seconds'], 1e-9):.2f}"),
            ("x emulator ceiling", f"{backlog['fraction_of_ceiling']:.2f}", ""),
            ("requests per task", f"{backlog['requests_per_task']:.3f}", f"{trickle['requests_per_task']:.3f}"),
            ("calls counted (trickle)", "", ", ".join(f"{op.split('.')[1]} {n}" for op, n in sorted(trickle["calls"].items()))),
            ("enqueue to settled p50 / p95 (ms)", "", latency),
        ],
        right=("under a backlog", f"on a trickle of {trickle['rate']:g} task/s"),
    )  # fmt: skip
    goal_table = table(
        "Goals (issue 23, the consumer)",
        ("goal", "target", "measured", "met"),
        [(goal, target, measured, "yes" if met else "NO") for goal, target, measured, met in goals(figures)],
    )
    return "\n\n".join([side_by_side, goal_table])
