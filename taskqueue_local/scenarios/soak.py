"""The reliability soak: many tasks through the real consumer and worker while faults are injected.

Runs on the local stack assembled in-process (moto's server, the local Lambda endpoint running the
built worker zip, consumers started on a schedule) with these faults:

- tasks: transient failures, permanent failures, tasks that fail every time, malformed messages,
  worker crashes (the execution environment exits mid-batch) and worker timeouts;
- Lambda: throttling (``TooManyRequestsException``) on a share of the worker invocations;
- SQS: 500 errors on a share of all SQS calls, before or after they took effect (via a proxy);
- duplicate deliveries: a message made visible again while its first delivery is in flight;
- consumers stopped by their time budget with messages in hand (receives that return too late).

Only these faults: timeouts and concurrency are sized from what the machine measures at the start
(``taskqueue_local.scenarios.soak_sizing``), so no invocation times out or is throttled unless injected, and
the soak fails when one does. At the end it checks the invariants and prints them with their counts.
``python -m taskqueue_local soak --tasks 2000`` (``make soak``) exits non-zero when one fails.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Budget, Consumer, ConsumerReport
from taskqueue.dead_letter_queue import MALFORMED, PERMANENT_ERROR, RETRIES_EXHAUSTED, UNKNOWN_TASK
from taskqueue.operations.dlq_message import REDRIVE
from taskqueue.operations.queue_attributes import queue_depths
from taskqueue.producer import Task, TaskQueue
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.outcomes import read_dead_letters
from taskqueue_local.infrastructure.lambda_service import FunctionConfig, Invocation, LambdaHooks
from taskqueue_local.infrastructure.processes import ROOT
from taskqueue_local.infrastructure.shutdown import exit_on_signals
from taskqueue_local.scenarios.fault_proxy import EvenlySpaced, FaultProxy
from taskqueue_local.scenarios.soak_sizing import Calibration, Sizing, SizingRules, measure, size
from taskqueue_local.scenarios.toolkit.consumers import instrumented_consumer
from taskqueue_local.scenarios.toolkit.lambda_context import LambdaContext
from taskqueue_local.scenarios.toolkit.tables import table

SOAK_TASKS = Path(__file__).with_name("soak_tasks")
# The soak's worker zip: build.py reuses it while its inputs are unchanged (build/ is git-ignored).
SOAK_BUILD = ROOT / "build" / "soak"
WORKER = "soak-worker"
TASK_ID = re.compile(r"soak-\d{6}")
# Bodies that are not task messages, one per kind of bad input the worker must dead-letter.
MALFORMED_BODIES = (
    "not json at all: {id}",
    '["a JSON array", "{id}"]',
    '{{"payload": "no task field", "id": "{id}"}}',
    '{{"task": 42, "id": "{id}"}}',
    '{{"task": "no_such_task", "id": "{id}"}}',
    '"just a JSON string: {id}"',
)
# SQS's redrive moves a message whose last allowed receive never reached the task (the invocation
# was throttled or crashed); it carries no reason attribute, but its receive count tells.
EXPECTED_REASONS = {
    "permanent": {PERMANENT_ERROR},
    "exhausted": {RETRIES_EXHAUSTED, REDRIVE},
    "malformed": {MALFORMED, UNKNOWN_TASK},
}


@dataclass(frozen=True)
class SoakConfig:
    tasks: int = 2000
    transient_rate: float = 0.20
    permanent_rate: float = 0.02
    malformed_rate: float = 0.01
    exhausted_rate: float = 0.005
    crash_rate: float = 0.003
    timeout_rate: float = 0.003
    duplicate_rate: float = 0.02
    throttle_rate: float = 0.05
    sqs_error_rate: float = 0.01
    slow_receive_rate: float = 0.03
    backlog: int = 200
    consumer_interval: float = 2.0  # a schedule tick; it starts a run when fewer than the live limit run
    sizing: SizingRules = field(default_factory=SizingRules)
    # Faults take receives too (a crashed batch, a throttle, a duplicate in flight, a release).
    max_receive_count: int = 8
    idempotency: bool = True
    seed: int = 7
    timeout: float = 900.0


@dataclass
class TaskMix:
    """The soak's tasks: each task id's kind, and what is sent for it."""

    kinds: dict[str, str] = field(default_factory=dict)  # task id -> kind
    bodies: list[tuple[str, str | Task]] = field(default_factory=list)  # (task id, raw body or task)


def task_mix(config: SoakConfig) -> TaskMix:
    """Each kind gets its share of the tasks (at least one when its rate is not 0), shuffled."""
    rng = random.Random(config.seed)
    shares = {
        "transient": config.transient_rate,
        "permanent": config.permanent_rate,
        "malformed": config.malformed_rate,
        "exhausted": config.exhausted_rate,
        "crash": config.crash_rate,
        "timeout": config.timeout_rate,
    }
    kinds = [kind for kind, share in shares.items() for _ in range(max(1, round(share * config.tasks)) if share else 0)]
    kinds += ["ok"] * (config.tasks - len(kinds))
    rng.shuffle(kinds)
    result = TaskMix()
    for number, kind in enumerate(kinds):
        task_id = f"soak-{number:06d}"
        result.kinds[task_id] = kind
        if kind == "malformed":
            result.bodies.append((task_id, MALFORMED_BODIES[number % len(MALFORMED_BODIES)].format(id=task_id)))
        else:
            payload = {"kind": kind, "fail_times": rng.choice((1, 2))}
            result.bodies.append((task_id, Task("soak", payload, id=task_id)))
    return result


class Faults:
    """Where and how often faults are injected (evenly spaced), and how many were."""

    def __init__(self, config: SoakConfig) -> None:
        self.schedules = {
            "duplicates": EvenlySpaced(config.duplicate_rate),
            "slow_receives": EvenlySpaced(config.slow_receive_rate),
            "throttles": EvenlySpaced(config.throttle_rate),
        }

    def inject(self, name: str) -> bool:
        return self.schedules[name].hit()

    def count(self, name: str) -> int:
        schedule = self.schedules[name]
        return math.floor(schedule.calls * schedule.rate)


@dataclass
class Observations:
    reports: list[ConsumerReport] = field(default_factory=list)
    consumer_crashes: list[str] = field(default_factory=list)
    visibility_timeouts: list[int] = field(default_factory=list)
    enqueue_retries: int = 0
    # Worker invocations the local Lambda killed at the timeout: the (task id, receive count) of each record.
    timed_out: list[set[tuple[str, int]]] = field(default_factory=list)
    throttled: int = 0
    skipped_ticks: int = 0  # schedule ticks that found the live-run limit reached
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invocation(self, function: FunctionConfig, event: bytes, invocation: Invocation) -> None:
        """The local Lambda's outcome of a worker invocation (its on_invocation hook)."""
        if function.name != WORKER or not (invocation.timed_out or invocation.throttled):
            return
        with self.lock:
            if invocation.throttled:
                self.throttled += 1
                return
            self.timed_out.append(
                {
                    (match.group(0), int(record["attributes"]["ApproximateReceiveCount"]))
                    for record in json.loads(event).get("Records", [])
                    if (match := TASK_ID.search(record["body"]))
                }
            )


@dataclass(frozen=True)
class Invariant:
    name: str
    expected: str
    measured: str
    ok: bool


@dataclass
class SoakResult:
    config: SoakConfig
    sizing: Sizing
    invariants: list[Invariant]
    counts: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(invariant.ok for invariant in self.invariants)

    def table(self) -> str:
        invariants = table(
            "invariants",
            ("invariant", "expected", "measured", "result"),
            [(i.name, i.expected, i.measured, "PASS" if i.ok else "FAIL") for i in self.invariants],
            right=("expected", "measured"),
        )
        counts = [f"  {name}: {value}" for name, value in self.counts.items()]
        return "\n".join(["sizing:", self.sizing.describe(), "", invariants, "", *counts])


def run(config: SoakConfig, work_dir: Path | None = None, log: Callable[[str], None] = print) -> SoakResult:
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="taskqueue-soak-"))
    zip_path = build("worker", SOAK_BUILD, [SOAK_TASKS]) / "worker.zip"
    (work_dir / "ledger.txt").write_text("")
    faults = Faults(config)
    observed = Observations()
    calibration = Calibration()
    proxies: list[FaultProxy] = []

    def fault_proxy(emulator_url: str) -> FaultProxy:
        proxies.append(FaultProxy(emulator_url, config.sqs_error_rate).start())
        return proxies[-1]

    def on_invocation(function: FunctionConfig, event: bytes, invocation: Invocation) -> None:
        observed.invocation(function, event, invocation)
        calibration.observe(function, event, invocation)

    # The local Lambda's account concurrency is the soak's bound: a throttle it was not told to inject
    # means the bound was passed, and fails the soak.
    with DirectStack(
        work_dir,
        [zip_path.parent],
        account_concurrency=config.sizing.max_in_flight,
        front=fault_proxy,
        hooks=LambdaHooks(
            inject_throttle=lambda function: function.name == WORKER and faults.inject("throttles"),
            on_invocation=on_invocation,
        ),
    ) as stack:
        return _soak(config, stack, proxies[0], work_dir, zip_path, faults, observed, calibration, log)


def _soak(
    config: SoakConfig,
    stack: DirectStack,
    proxy: FaultProxy,
    work_dir: Path,
    zip_path: Path,
    faults: Faults,
    observed: Observations,
    calibration: Calibration,
    log: Callable[[str], None],
) -> SoakResult:
    started = time.monotonic()
    ledger, injected_file = work_dir / "ledger.txt", work_dir / "injected-faults.jsonl"
    injected_file.write_text("")
    worker_settings = WorkerConfig(
        dlq_url="",  # set per queue below
        task_modules=("soak_tasks",),
        max_receive_count=config.max_receive_count,
        backoff=Backoff(1, 4),
    )
    environment = {
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "SOAK_INJECTED": str(injected_file),  # the crashes and timeouts the soak tasks inject
    }
    if config.idempotency:
        worker_settings = replace(worker_settings, idempotency_table=stack.create_idempotency_table("soak-idempotency"))
    measured = measure(
        stack, config.sizing, zip_path, worker_settings, environment, work_dir / "calibration-ledger.txt", calibration
    )
    sizing = size(config.sizing, measured)
    sized_at = time.monotonic()
    log(f"sizing, from what this machine measured ({sized_at - started:.0f} s):\n{sizing.describe()}")

    queues = stack.create_queues("soak", config.max_receive_count, visibility_timeout=sizing.visibility_timeout)
    worker_env = {
        **replace(worker_settings, dlq_url=queues.dlq_url).to_env(),
        **environment,
        "SOAK_LEDGER": str(ledger),
    }
    stack.deploy_function(WORKER, zip_path, "taskqueue.worker.handler", worker_env, sizing.worker_timeout)
    deployment = stack.deployment("soak", queues, WORKER)

    tasks = task_mix(config)
    consumer = _consumer(sizing, deployment, faults, observed)

    producer_done = threading.Event()
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(config, deployment, tasks, observed, producer_done, stop))
    producer.start()
    runs: list[threading.Thread] = []
    scheduler = threading.Thread(target=_schedule_consumers, args=(config, sizing, consumer, observed, stop, runs))
    scheduler.start()

    quiet_checks = 0
    try:
        while time.monotonic() - sized_at < config.timeout:
            time.sleep(1.0)
            depth = deployment.depth()
            done = len(set(ledger.read_text().split()))
            log(
                f"  {time.monotonic() - started:6.1f} s  completed {done:5d}  queued {depth:5d}  "
                f"dead-lettered {deployment.depth(queues.dlq_url):4d}"
            )
            quiet_checks = quiet_checks + 1 if producer_done.is_set() and depth == 0 else 0
            if quiet_checks >= 3:
                break
    finally:
        # Also on a signal: no more enqueues and no new consumer run, so the process can exit.
        stop.set()
    scheduler.join()
    producer.join()
    for thread in runs:
        thread.join()
    injected = [json.loads(line) for line in injected_file.read_text().splitlines() if line.strip()]
    seconds = time.monotonic() - sized_at
    return _verify(config, sizing, tasks, ledger, deployment, faults, observed, injected, proxy, seconds)


# The Lambda context of the consumer run on this thread (the consumer receives on its run's thread).
_current_run = threading.local()


def _consumer(sizing: Sizing, deployment: Deployment, faults: Faults, observed: Observations) -> Consumer:
    settings = ConsumerConfig(
        queue_url=deployment.queues.url,
        worker_function=WORKER,
        max_concurrency=sizing.per_run_concurrency,
        wait_time_seconds=1,
        worker_timeout_seconds=sizing.worker_timeout,
        time_margin_seconds=sizing.rules.settle_margin,
        backoff=Backoff(1, 4),
        receivers=1,  # receives on the run's own thread, where the slow-receive fault finds the run's context
    )
    # One consumer for every run (they overlap up to max_live_runs), its calls through the fault proxy.
    instrumented = instrumented_consumer(
        deployment,
        settings,
        direct=False,
        connections=sizing.per_run_concurrency * sizing.rules.max_live_runs + 4,
    )
    chaos = deployment.client("sqs", direct=True)
    queue_url = deployment.queues.url

    def record_visibility(params: dict[str, Any], **_: Any) -> None:
        with observed.lock:
            observed.visibility_timeouts.extend(entry["VisibilityTimeout"] for entry in params["Entries"])

    def after_receive(parsed: dict[str, Any], **_: Any) -> None:
        for message in parsed.get("Messages", []):
            if faults.inject("duplicates"):
                # Visible again while this delivery runs: another consumer receives it too.
                handle = message["ReceiptHandle"]
                threading.Timer(
                    0.2,
                    lambda h=handle: _ignore(
                        chaos.change_message_visibility, QueueUrl=queue_url, ReceiptHandle=h, VisibilityTimeout=0
                    ),
                ).start()
        if parsed.get("Messages") and faults.inject("slow_receives"):
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


def _schedule_consumers(
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


def _produce(
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
                chunk_tasks = [body for _, body in chunk if isinstance(body, Task)]
                if chunk_tasks:
                    producer.enqueue_batch(chunk_tasks)
                raw = [
                    {"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(chunk) if isinstance(body, str)
                ]
                if raw:
                    sqs.send_message_batch(QueueUrl=queue_url, Entries=raw)
                break
            except Exception:
                # At-least-once from the producer too: a retried chunk may enqueue some tasks twice.
                with observed.lock:
                    observed.enqueue_retries += 1
                time.sleep(0.2)
    done.set()


def _dead_letters(sqs: Any, dlq_url: str, max_receive_count: int) -> dict[str, set[str]]:
    """Task id -> reasons, over every DLQ message (its body carries the id)."""
    found: dict[str, set[str]] = {}
    for message in read_dead_letters(sqs, dlq_url):
        match = TASK_ID.search(message.body)
        task_id = match.group(0) if match else f"unidentified:{message.message_id}"
        # No reason attached and not past maxReceiveCount: nothing explains why it is there.
        unexplained = message.reason == REDRIVE and message.receive_count <= max_receive_count
        why = "" if unexplained else message.reason
        found.setdefault(task_id, set()).add(why)
    return found


def _verify(
    config: SoakConfig,
    sizing: Sizing,
    tasks: TaskMix,
    ledger: Path,
    deployment: Deployment,
    faults: Faults,
    observed: Observations,
    injected: list[dict[str, Any]],
    proxy: FaultProxy,
    seconds: float,
) -> SoakResult:
    runs = Counter(ledger.read_text().split())
    dead = _dead_letters(deployment.client("sqs", direct=True), deployment.queues.dlq_url, config.max_receive_count)
    kinds = tasks.kinds
    ids = set(kinds)
    completed = set(runs)
    stuck = deployment.depth()
    lost = ids - completed - dead.keys()
    expected_dead = {task_id for task_id, kind in kinds.items() if kind in EXPECTED_REASONS}
    without_reason = sorted(task_id for task_id, reasons in dead.items() if "" in reasons)
    wrong_reason = sorted(
        task_id
        for task_id, reasons in dead.items()
        if task_id in kinds and kinds[task_id] in EXPECTED_REASONS and not reasons <= EXPECTED_REASONS[kinds[task_id]]
    )
    transient = {task_id for task_id, kind in kinds.items() if kind == "transient"}
    released = sum(report.released for report in observed.reports)
    zero_visibility = observed.visibility_timeouts.count(0)
    twice = sorted(task_id for task_id, count in runs.items() if count > 1)
    # An invocation may time out only when it holds a task that slept past the timeout on purpose.
    injected_timeouts = {(fault["task_id"], fault["receive_count"]) for fault in injected if fault["kind"] == "timeout"}
    unexpected_timeouts = [batch for batch in observed.timed_out if not batch & injected_timeouts]
    unexpected_throttles = observed.throttled - faults.count("throttles")

    def check(name: str, expected: Any, measured: Any) -> Invariant:
        return Invariant(name, str(expected), str(measured), expected == measured)

    invariants = [
        check("lost (neither completed nor in the DLQ)", 0, len(lost)),
        check("stuck in the queue after it drained", 0, stuck),
        check(
            "side effects run twice" if config.idempotency else "side effects run twice (idempotency off)",
            0 if config.idempotency else len(twice),
            len(twice),
        ),
        check("transient tasks completed", len(transient), len(transient & completed)),
        check("transient tasks in the DLQ", 0, len(transient & dead.keys())),
        check("visibility 0 only on releases", released, zero_visibility),
        check("DLQ = permanent + malformed + exhausted", len(expected_dead), len(dead.keys() & ids)),
        check("DLQ entries of other tasks", 0, len(dead.keys() - expected_dead)),
        check("DLQ entries without a reason", 0, len(without_reason)),
        check("DLQ entries with the wrong reason", 0, len(wrong_reason)),
        check("consumer runs that crashed", 0, len(observed.consumer_crashes)),
        check("worker timeouts not injected", 0, len(unexpected_timeouts)),
        check("worker throttles not injected", 0, unexpected_throttles),
    ]
    counts = {
        "tasks": config.tasks,
        "kinds": dict(sorted(Counter(kinds.values()).items())),
        "completed": len(completed),
        "dead-lettered": len(dead),
        "dead-lettered by SQS redrive (last receive never reached the task)": sum(REDRIVE in r for r in dead.values()),
        "consumer runs": len(observed.reports),
        "worker invocations": sum(r.invocations for r in observed.reports),
        "failed worker invocations (crash, timeout, throttle, SQS error)": sum(
            r.failed_invocations for r in observed.reports
        ),
        "messages released by consumers out of time": released,
        "retry backoffs applied": len(observed.visibility_timeouts) - zero_visibility,
        "shortest backoff (s)": min((v for v in observed.visibility_timeouts if v), default=0),
        "injected throttles": faults.count("throttles"),
        "injected worker timeouts (invocations killed at the timeout)": len(observed.timed_out)
        - len(unexpected_timeouts),
        "injected worker crashes (the environment exits mid-batch)": sum(f["kind"] == "crash" for f in injected),
        "injected duplicate deliveries": faults.count("duplicates"),
        "injected slow receives": faults.count("slow_receives"),
        "injected SQS 500s (before / after taking effect)": f"{proxy.injected['before']} / {proxy.injected['after']}"
        f" of {proxy.sqs_calls} SQS calls",
        "receive errors seen by consumers": sum(r.receive_errors for r in observed.reports),
        "producer chunks retried": observed.enqueue_retries,
        "schedule ticks that found the live-run limit reached": observed.skipped_ticks,
        "examples": {
            "lost": sorted(lost)[:5],
            "twice": twice[:5],
            "wrong reason": wrong_reason[:5],
            "timed out, not injected": [sorted(batch)[:3] for batch in unexpected_timeouts[:3]],
        },
    }
    if observed.consumer_crashes:
        counts["consumer crashes"] = observed.consumer_crashes[:3]
    return SoakResult(config, sizing, invariants, counts, seconds)


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m taskqueue_local soak", description=__doc__)
    parser.add_argument("--tasks", type=int, default=SoakConfig.tasks)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--no-idempotency", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    config = SoakConfig(tasks=args.tasks, seed=args.seed, idempotency=not args.no_idempotency)
    with exit_on_signals():  # a SIGTERM (`timeout`) or Ctrl-C stops the emulator and the Lambda processes
        result = run(config)
    print(f"soak of {config.tasks} tasks finished in {result.seconds:.0f} s (after the sizing)")
    print(result.table())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "invariants": [i.__dict__ for i in result.invariants],
                    "sizing": result.sizing.lines,
                    "counts": result.counts,
                    "seconds": result.seconds,
                },
                indent=2,
                default=str,
            )
        )
    return 0 if result.ok else 1
