"""The soak's timeouts and concurrency, sized from what this machine measures at the start of a run.

A worker timeout chosen on a fast day makes a loaded machine time out invocations that were never
meant to: batches fail, burn receive counts and end in the DLQ for no fault of theirs. So the soak
first measures the stack it runs on: warm worker invocations of a batch of 10 soak tasks (idempotency
on, through the same fault proxy), and the init of new execution environments. Then:

- worker timeout = max(floor, ceil(factor x slowest warm batch + slowest init)). The init is in
  because an environment that crashed or timed out is replaced by one whose init runs inside the
  next invocation's timeout (Lambda's suppressed init);
- consumer read timeout = ``taskqueue.limits.invoke_read_timeout(worker timeout)``: the worker
  timeout, plus 10 s of init that Lambda does not count in it, plus 2 s for the answer to travel;
- consumer budget = read timeout + settle margin + one poll (1 s) + a receive window: a run receives
  during its window and keeps enough time to wait for and settle what it dispatched last;
- concurrency: at most ``max_live_runs`` consumer runs at once (a schedule tick that finds them all
  still running starts none), each with ``max_in_flight // max_live_runs`` invocations, so worker
  invocations in flight never pass ``max_in_flight``, however the runs overlap;
- queue visibility = budget + 10 s (init) + 2 s (answer): a run settles what it received within its
  budget, and a consumer that reserves only the worker timeout for its last dispatch overruns it by
  at most the init and the answer. No message reappears while a run may still settle it.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.limits import INVOKE_RESPONSE_SLACK_SECONDS, LAMBDA_INIT_SECONDS, invoke_read_timeout
from taskqueue.producer import Task, TaskQueue
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.invocations import Invocation, InvocationRecord
from taskqueue_local.infrastructure.lambda_context import LambdaContext

CALIBRATION_FUNCTION = "soak-calibration"
# The calibration's own worker timeout: long enough that no measured invocation is cut short.
CALIBRATION_TIMEOUT = 60
POLL_SECONDS = 1  # the consumers' long poll


@dataclass(frozen=True)
class SizingRules:
    """The stated factors, floors and bounds the sizing applies to the measurements."""

    timeout_factor: float = 4.0
    worker_timeout_floor: int = 3
    settle_margin: float = 2.0
    receive_window: float = 10.0
    max_in_flight: int = 4  # worker invocations at once, over every consumer run: 2 cores, one emulator
    max_live_runs: int = 2
    calibration_batches: int = 12  # of 10 tasks; the first max_in_flight of them start environments

    def __post_init__(self) -> None:
        if self.max_in_flight < self.max_live_runs:
            raise ValueError(
                f"max_in_flight={self.max_in_flight} is less than max_live_runs={self.max_live_runs}: "
                "each consumer run needs at least one invocation"
            )
        if self.calibration_batches <= self.max_in_flight:
            raise ValueError(
                f"calibration_batches={self.calibration_batches} must exceed max_in_flight={self.max_in_flight}: "
                "the first batches start the environments, the later ones measure warm invocations"
            )


@dataclass(frozen=True)
class Measurement:
    warm_seconds: list[float]  # warm invocations, each a batch of 10 soak tasks
    init_seconds: list[float]  # the init of each new execution environment
    seconds: float = 0.0  # how long measuring took


@dataclass(frozen=True)
class Sizing:
    rules: SizingRules
    measured: Measurement
    worker_timeout: int
    read_timeout: float
    consumer_budget: float
    per_run_concurrency: int
    visibility_timeout: int
    lines: list[str] = field(default_factory=list, compare=False)

    def describe(self) -> str:
        return "\n".join(self.lines)


def size(rules: SizingRules, measured: Measurement) -> Sizing:
    if not measured.warm_seconds or not measured.init_seconds:
        raise ValueError(f"nothing measured to size the soak from: {measured}")
    slowest, init = max(measured.warm_seconds), max(measured.init_seconds)
    raw_timeout = rules.timeout_factor * slowest + init
    worker_timeout = max(rules.worker_timeout_floor, math.ceil(raw_timeout))
    read_timeout = invoke_read_timeout(worker_timeout)
    budget = read_timeout + rules.settle_margin + POLL_SECONDS + rules.receive_window
    per_run = rules.max_in_flight // rules.max_live_runs
    overrun = LAMBDA_INIT_SECONDS + INVOKE_RESPONSE_SLACK_SECONDS
    visibility = math.ceil(budget + overrun)
    warm = measured.warm_seconds
    lines = [
        f"  measured in {measured.seconds:.0f} s: {len(warm)} warm invocations, {rules.max_in_flight} at once",
        f"  warm worker invocation (10 soak tasks, idempotency on): median {statistics.median(warm):.2f} s, "
        f"slowest {slowest:.2f} s of {len(warm)}",
        f"  init of a new execution environment: slowest {init:.2f} s of {len(measured.init_seconds)}",
        f"  worker timeout: {rules.timeout_factor:g} x {slowest:.2f} + {init:.2f} = {raw_timeout:.1f} "
        f"-> {worker_timeout} s (floor {rules.worker_timeout_floor} s)",
        f"  consumer read timeout: {worker_timeout} + {LAMBDA_INIT_SECONDS} (init) + "
        f"{INVOKE_RESPONSE_SLACK_SECONDS} (answer) = {read_timeout:g} s",
        f"  consumer budget: {read_timeout:g} + {rules.settle_margin:g} (settle) + {POLL_SECONDS} (poll) + "
        f"{rules.receive_window:g} (receive window) = {budget:g} s",
        f"  concurrency: at most {rules.max_live_runs} consumer runs x {per_run} invocations "
        f"= {rules.max_live_runs * per_run} worker invocations in flight (limit {rules.max_in_flight})",
        f"  queue visibility timeout: {budget:g} + {overrun} (init and answer) -> {visibility} s",
    ]
    return Sizing(rules, measured, worker_timeout, read_timeout, budget, per_run, visibility, lines)


class Calibration:
    """The calibration function's invocations, as the local Lambda reports them (its on_invocation hook)."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()

    def observe(self, record: InvocationRecord) -> None:
        if record.function == CALIBRATION_FUNCTION:
            with self._lock:
                self.invocations.append(record.invocation)


def measure(
    stack: DirectStack,
    rules: SizingRules,
    zip_path: Path,
    worker: WorkerConfig,
    environment: dict[str, str],
    ledger: Path,
    calibration: Calibration,
) -> Measurement:
    """Run ``calibration_batches`` batches of 10 succeeding soak tasks through a consumer into a copy
    of the worker (``worker`` and ``environment`` as the soak worker's, its side effects in ``ledger``),
    ``max_in_flight`` at once; the local Lambda's own figures (its REPORT line's), which ``calibration``
    records, are the measurement."""
    queues = stack.create_queues("soak-calibration", max_receive_count=3)
    worker_env = {**replace(worker, dlq_url=queues.dlq_url).to_env(), **environment, "SOAK_LEDGER": str(ledger)}
    stack.deploy_function(CALIBRATION_FUNCTION, zip_path, "taskqueue.worker.handler", worker_env, CALIBRATION_TIMEOUT)
    deployment = stack.deployment("soak-calibration", queues, CALIBRATION_FUNCTION)
    started = time.monotonic()
    try:
        tasks = [
            Task("soak", {"kind": "ok", "fail_times": 1}, id=f"calibration-{n:06d}")
            for n in range(rules.calibration_batches * 10)
        ]
        TaskQueue(queues.url, sqs=deployment.client("sqs", retries={"mode": "standard"})).enqueue_batch(tasks)
        settings = ConsumerConfig(
            queue_url=queues.url,
            worker_function=CALIBRATION_FUNCTION,
            max_concurrency=rules.max_in_flight,
            wait_time_seconds=POLL_SECONDS,
            worker_timeout_seconds=CALIBRATION_TIMEOUT,
            time_margin_seconds=rules.settle_margin,
            backoff=Backoff(1, 4),
        )
        consumer = instrumented_consumer(deployment, settings, direct=False).consumer
        # Room to drain every batch even at the calibration timeout: the run ends at the first empty receive.
        read_timeout = invoke_read_timeout(CALIBRATION_TIMEOUT)
        budget = read_timeout + rules.settle_margin + POLL_SECONDS + rules.calibration_batches * CALIBRATION_TIMEOUT
        report = consumer.run(LambdaContext(budget))
    finally:
        stack.local_lambda.close_function(CALIBRATION_FUNCTION)  # its environments would sit idle
    invocations = list(calibration.invocations)
    failed = [i for i in invocations if i.function_error or i.throttled]
    if failed:
        raise RuntimeError(
            f"the sizing's calibration run had failed invocations ({time.monotonic() - started:.0f} s, "
            f"{report.as_dict()}): {[i.payload[:200] for i in failed]}"
        )
    return Measurement(
        warm_seconds=[i.duration_ms / 1000 for i in invocations if i.init_ms is None and not i.suppressed_init],
        # An init past Lambda's 10 s is retried inside the invocation: its duration, init and batch, stands for it.
        init_seconds=[
            i.init_ms / 1000 if i.init_ms is not None else i.duration_ms / 1000
            for i in invocations
            if i.init_ms is not None or i.suppressed_init
        ],
        seconds=time.monotonic() - started,
    )
