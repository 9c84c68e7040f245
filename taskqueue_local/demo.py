"""The demo scenario: enqueue a mix of tasks on the local stack, watch them, account for each one.

Every task is followed by its SQS message id: the worker's logs say which attempts ran and how
they ended, and the DLQ says which messages ended there and why. A task that is neither
completed nor in the DLQ once the queue is empty is lost; one still in the queue is stuck.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskqueue.operations.redrive import queue_depths
from taskqueue.producer import Task, TaskQueue
from taskqueue.worker import RETRIED, SUCCEEDED
from taskqueue_local.stack import Stack, local_client

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

    @property
    def throughput(self) -> float:
        return (self.succeeded + sum(self.dead_lettered.values())) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latency_ms:
            return 0.0
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.stuck == 0

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


def worker_outcomes(log_path: Path) -> tuple[set[str], set[str], list[float]]:
    """From the worker's JSON logs (its ``outcome`` field; successes are logged at DEBUG level, which the
    local stack sets): succeeded ids, ids that failed an attempt, first-attempt queue times."""
    succeeded: set[str] = set()
    failed: set[str] = set()
    latencies: list[float] = []
    if not log_path.exists():
        return succeeded, failed, latencies
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message_id = entry.get("message_id")
        outcome = entry.get("outcome")
        if not message_id or outcome is None:
            continue
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
    deadline = started + timeout
    last_report = 0.0
    while True:
        succeeded, failed, _ = worker_outcomes(worker_log)
        in_queue = queue_depth(sqs, queue_url)
        in_dlq = queue_depth(sqs, dlq_url)
        now = time.monotonic()
        if now - last_report >= 2:
            log(
                f"  {now - started:5.1f} s  succeeded {len(succeeded & kinds.keys()):3d}  "
                f"retried {len(failed & kinds.keys()):3d}  dead-lettered {in_dlq:3d}  still queued {in_queue:3d}"
            )
            last_report = now
        if in_queue == 0 and len(succeeded & kinds.keys()) + in_dlq >= len(kinds):
            break
        if now > deadline:
            log(f"timed out after {timeout:.0f} s with {in_queue} messages still queued")
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    return summarize(kinds, worker_log, dead_letters(sqs, dlq_url), queue_depth(sqs, queue_url), elapsed, scenario)


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
