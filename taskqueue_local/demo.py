"""The demo scenario: enqueue a mix of tasks on the local stack, watch them, account for each one.

Every task is followed by its SQS message id: the worker's logs say which attempts ran and how
they ended, and the DLQ says which messages ended there and why. A task that is neither
completed nor in the DLQ once the queue is empty is lost; one still in the queue is stuck.

Tasks due 30 minutes out (one-time EventBridge Scheduler schedules, on the schedules' faster clock)
and the module's periodic task are followed by their task ids: each scheduled one must run once,
and the periodic one at least once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from taskqueue.operations.redrive import queue_depths
from taskqueue.producer import Task, TaskQueue
from taskqueue.schedules import periodic_run
from taskqueue.worker import RETRIED, SUCCEEDED
from taskqueue_local.stack import DEMO_PERIODIC_TASK, Stack, local_client

# A task due this far ahead becomes a one-time schedule (beyond SQS's 900 s).
SCHEDULED_DELAY = timedelta(minutes=30)

# A DLQ message without the worker's reason attribute: SQS's redrive moved it there (the worker
# could not run its last attempt, e.g. because the invocation crashed).
REDRIVEN = "moved by SQS redrive"


@dataclass(frozen=True)
class Scenario:
    """How many tasks of each kind to enqueue."""

    succeed: int = 30
    flaky: int = 8  # fail twice, then succeed
    exhausted: int = 2  # keep failing until SQS moves them to the DLQ
    permanent: int = 4  # raise PermanentError
    malformed: int = 2  # not a task message at all
    unknown: int = 1  # name a task nobody registered
    scheduled: int = 1  # due 30 minutes out: one-time schedules (needs the example's scheduling outputs)

    @property
    def total(self) -> int:
        return self.succeed + self.flaky + self.exhausted + self.permanent + self.malformed + self.unknown

    def tasks(self) -> list[tuple[str, Task | str]]:
        """(kind, task or raw body), in the order they are sent."""
        items: list[tuple[str, Task | str]] = []
        items += [("succeed", Task("checksum", {"text": f"document {n}"}, id=f"ok-{n}")) for n in range(self.succeed)]
        items += [("flaky", Task("flaky", {"fail_times": 2}, id=f"flaky-{n}")) for n in range(self.flaky)]
        items += [("exhausted", Task("flaky", {"fail_times": 99}, id=f"doomed-{n}")) for n in range(self.exhausted)]
        items += [("permanent", Task("validate_order", {"sku": n}, id=f"bad-order-{n}")) for n in range(self.permanent)]
        items += [("malformed", f"this is not JSON #{n}") for n in range(self.malformed)]
        items += [("unknown", Task("no_such_task", id=f"unknown-{n}")) for n in range(self.unknown)]
        return items

    def scheduled_tasks(self) -> list[Task]:
        return [
            Task("checksum", {"text": f"later {n}"}, id=f"later-{n}", delay=SCHEDULED_DELAY)
            for n in range(self.scheduled)
        ]


@dataclass
class Summary:
    enqueued: int = 0
    succeeded: int = 0
    retried_then_succeeded: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    stuck: int = 0
    seconds: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    expected_dead_letters: Counter[str] = field(default_factory=Counter)
    expected_retried: int = 0
    kinds_dead_lettered: Counter[str] = field(default_factory=Counter)
    scheduled_expected: int = 0  # tasks scheduled 30 minutes out (0: the example outputs no scheduling)
    scheduled_runs: Counter[str] = field(default_factory=Counter)  # task id -> successful runs
    scheduled_seconds: float = 0.0  # from the enqueue until the last of them had run
    schedule_speedup: float = 1.0
    periodic_runs: int = 0  # of the module's periodic task

    @property
    def throughput(self) -> float:
        return (self.succeeded + sum(self.dead_lettered.values())) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latency_ms:
            return 0.0
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def scheduled_ok(self) -> bool:
        """Each scheduled task ran exactly once, and the periodic one ran (when the example schedules)."""
        if not self.scheduled_expected:
            return True
        runs = self.scheduled_runs
        return len(runs) == self.scheduled_expected and set(runs.values()) == {1} and self.periodic_runs >= 1

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.stuck == 0 and self.scheduled_ok

    def table(self) -> str:
        rows = [
            ("enqueued", str(self.enqueued)),
            ("succeeded", str(self.succeeded)),
            ("  of which retried first", str(self.retried_then_succeeded)),
            ("dead-lettered", str(sum(self.dead_lettered.values()))),
            *((f"  {reason}", str(count)) for reason, count in sorted(self.dead_lettered.items())),
            ("lost", str(self.lost)),
            ("stuck in the queue", str(self.stuck)),
            ("throughput", f"{self.throughput:.1f} tasks/s over {self.seconds:.1f} s"),
            ("enqueue -> start p50", f"{self.percentile(0.50):.0f} ms"),
            ("enqueue -> start p95", f"{self.percentile(0.95):.0f} ms"),
        ]
        if self.scheduled_expected:
            ran = sum(1 for runs in self.scheduled_runs.values() if runs)
            once = "each once" if set(self.scheduled_runs.values()) == {1} else f"runs {dict(self.scheduled_runs)}"
            rows += [
                (
                    "scheduled 30 min ahead",
                    f"{ran}/{self.scheduled_expected} ran, {once}, after {self.scheduled_seconds:.0f} s "
                    f"(schedules {self.schedule_speedup:g}x faster)",
                ),
                (f"periodic {DEMO_PERIODIC_TASK} runs", str(self.periodic_runs)),
            ]
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        rule = "  " + "-" * (width + 2 + max(len(value) for _, value in rows))
        return "\n".join([rule, *lines, rule])


def sqs_client(stack: Stack) -> Any:
    return local_client("sqs", stack.emulator_url)


def enqueue(stack: Stack, scenario: Scenario) -> dict[str, str]:
    """Sends the scenario; returns message id -> kind."""
    sqs = sqs_client(stack)
    queue_url = stack.outputs["queue_url"]
    producer = TaskQueue(queue_url, sqs=sqs)
    items = scenario.tasks()
    tasks = [(kind, item) for kind, item in items if isinstance(item, Task)]
    kinds = dict(zip(producer.enqueue_batch(task for _, task in tasks), (kind for kind, _ in tasks), strict=True))
    for kind, body in items:
        if isinstance(body, str):
            kinds[sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]] = kind
    return {str(message_id): kind for message_id, kind in kinds.items()}


def schedule_later(stack: Stack, scenario: Scenario, log: Callable[[str], None]) -> list[str]:
    """Schedules the scenario's tasks due 30 minutes out; returns their task ids ([] without scheduling)."""
    scheduling = stack.scheduling()
    if not scenario.scheduled:
        return []
    if scheduling is None:
        log(f"examples/{stack.example} outputs no scheduling settings: no scheduled tasks")
        return []
    producer = TaskQueue(
        stack.outputs["queue_url"],
        sqs=sqs_client(stack),
        scheduler=local_client("scheduler", stack.emulator_url),
        scheduling=scheduling,
    )
    tasks = scenario.scheduled_tasks()
    producer.enqueue_batch(tasks)
    wall = SCHEDULED_DELAY.total_seconds() / stack.schedule_speedup
    log(
        f"scheduled {len(tasks)} tasks {SCHEDULED_DELAY} ahead: at {stack.schedule_speedup:g}x they run after {wall:.0f} s"
    )
    return [str(task.id) for task in tasks]


def _outcome_entries(log_path: Path) -> Iterator[dict[str, Any]]:
    """The worker's JSON log entries that give a message's outcome (successes are logged at DEBUG level,
    which the local stack sets)."""
    if not log_path.exists():
        return
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message_id") and entry.get("outcome") is not None:
            yield entry


def task_runs(log_path: Path) -> Counter[str]:
    """Successful runs per task id: how scheduled and periodic tasks, whose messages the demo never saw
    sent, are followed."""
    return Counter(
        str(entry["task_id"])
        for entry in _outcome_entries(log_path)
        if entry["outcome"] == SUCCEEDED and entry.get("task_id")
    )


def periodic_runs(runs: Counter[str]) -> int:
    """Runs of the module's periodic task (its ids: ``<schedule name>@<the run's time>``)."""
    total = 0
    for task_id, count in runs.items():
        run = periodic_run(task_id)
        if run is not None and run[0] == DEMO_PERIODIC_TASK:
            total += count
    return total


def worker_outcomes(log_path: Path) -> tuple[set[str], set[str], list[float]]:
    """From the worker's JSON logs (its ``outcome`` field): succeeded ids, ids that failed an attempt,
    first-attempt queue times."""
    succeeded: set[str] = set()
    failed: set[str] = set()
    latencies: list[float] = []
    for entry in _outcome_entries(log_path):
        message_id, outcome = entry["message_id"], entry["outcome"]
        if outcome == SUCCEEDED:
            succeeded.add(message_id)
        elif outcome == RETRIED:
            failed.add(message_id)
        # One outcome line per attempt; the first attempt's queue time is enqueue-to-start latency.
        if entry.get("receive_count") == 1 and "queued_ms" in entry:
            latencies.append(float(entry["queued_ms"]))
    return succeeded, failed, latencies


def read_dead_letters(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    """Every message in the DLQ, with its attributes and receive count (read once, at the end of a run)."""
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=900,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    ).get("Messages", []):
        found += messages
    return found


def reason(message: dict[str, Any]) -> str | None:
    """The worker's reason attribute on a dead-lettered message, if it has one."""
    return message.get("MessageAttributes", {}).get("taskqueue.reason", {}).get("StringValue")


def dead_letters(sqs: Any, dlq_url: str) -> dict[str, str]:
    """Source message id -> reason, for every message in the DLQ."""
    found: dict[str, str] = {}
    for message in read_dead_letters(sqs, dlq_url):
        source = message.get("MessageAttributes", {}).get("taskqueue.source-message-id", {})
        found[source.get("StringValue", message["MessageId"])] = reason(message) or REDRIVEN
    return found


def queue_depth(sqs: Any, url: str) -> int:
    """Messages visible, in flight and delayed."""
    return sum(queue_depths(sqs, url).values())


def run(stack: Stack, scenario: Scenario, timeout: float = 150.0, log: Callable[[str], None] = print) -> Summary:
    sqs = sqs_client(stack)
    queue_url, dlq_url = stack.outputs["queue_url"], stack.outputs["dead_letter_queue_url"]
    worker_log = Path(stack.work_dir) / "logs" / f"{stack.outputs['worker_function_name']}.log"
    worker_log.unlink(missing_ok=True)

    started = time.monotonic()
    kinds = enqueue(stack, scenario)
    log(f"enqueued {len(kinds)} tasks: " + ", ".join(f"{n} {k}" for k, n in sorted(Counter(kinds.values()).items())))
    later = schedule_later(stack, scenario, log)
    scheduled_seconds = 0.0
    deadline = started + timeout
    last_report = 0.0
    while True:
        succeeded, failed, _ = worker_outcomes(worker_log)
        runs = task_runs(worker_log)
        in_queue = queue_depth(sqs, queue_url)
        in_dlq = queue_depth(sqs, dlq_url)
        now = time.monotonic()
        scheduled_done = all(runs[task_id] for task_id in later)
        if scheduled_done and not scheduled_seconds:
            scheduled_seconds = now - started
        if now - last_report >= 2:
            log(
                f"  {now - started:5.1f} s  succeeded {len(succeeded & kinds.keys()):3d}  "
                f"retried {len(failed & kinds.keys()):3d}  dead-lettered {in_dlq:3d}  still queued {in_queue:3d}  "
                f"scheduled ran {sum(1 for task_id in later if runs[task_id])}/{len(later)}  "
                f"periodic runs {periodic_runs(runs)}"
            )
            last_report = now
        done = in_queue == 0 and len(succeeded & kinds.keys()) + in_dlq >= len(kinds)
        if done and scheduled_done and (not later or periodic_runs(runs) >= 1):
            break
        if now > deadline:
            log(f"timed out after {timeout:.0f} s with {in_queue} messages still queued")
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    summary = summarize(kinds, worker_log, dead_letters(sqs, dlq_url), queue_depth(sqs, queue_url), elapsed, scenario)
    runs = task_runs(worker_log)
    summary.scheduled_expected = len(later)
    summary.scheduled_runs = Counter({task_id: runs[task_id] for task_id in later})
    summary.scheduled_seconds = scheduled_seconds
    summary.schedule_speedup = stack.schedule_speedup
    summary.periodic_runs = periodic_runs(runs)
    return summary


def summarize(
    kinds: dict[str, str],
    worker_log: Path,
    dead: dict[str, str],
    stuck: int,
    seconds: float,
    scenario: Scenario,
) -> Summary:
    succeeded, failed, latencies = worker_outcomes(worker_log)
    ours = kinds.keys()
    summary = Summary(enqueued=len(kinds), stuck=stuck, seconds=seconds, latency_ms=latencies)
    summary.succeeded = len(succeeded & ours)
    summary.retried_then_succeeded = len(succeeded & failed & ours)
    summary.dead_lettered = Counter(reason for message_id, reason in dead.items() if message_id in ours)
    summary.kinds_dead_lettered = Counter(kinds[message_id] for message_id in dead if message_id in ours)
    # Unaccounted tasks still in the queue are stuck; the rest are lost.
    summary.lost = max(0, len(ours - succeeded - dead.keys()) - stuck)
    summary.expected_retried = scenario.flaky
    summary.expected_dead_letters = Counter(
        {
            "malformed": scenario.malformed,
            "permanent_error": scenario.permanent,
            "unknown_task": scenario.unknown,
            "retries_exhausted": scenario.exhausted,
        }
    )
    return summary
