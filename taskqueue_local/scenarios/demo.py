"""The demo scenario: enqueue a mix of tasks on a deployment, watch them, account for each one.

Every task is followed by its SQS message id: the worker's answers and log records say which attempts
ran and how they ended (``deployment.outcomes``), and the DLQ says which messages ended there and why. A task that is
neither completed nor in the DLQ once the queue is empty is lost; one still in the queue is stuck. The
same scenario runs in both trigger modes with the same expected counts.

Tasks due 30 minutes out (one-time EventBridge Scheduler schedules, on the schedules' faster clock)
and the module's periodic task are followed by their task ids: each scheduled one must run once, and
the periodic one at least once.

Five starts of a rate-limited task (``partner_api``: ``rate_limit="30/m", burst=2``; the demo deploys the module
with ``flow_control = true``) are sent at once: the starts over the limit are held back, unrun and with no attempt
used, come back when a token is there, and all run once; the summary counts them from the worker's
``TasksHeldBack`` metric.

Where the example tracks status (the demo's ``track_status = "all"``), it ends by reading what became of
three tasks: one that succeeded after retries, one dead-lettered, and one scheduled a week out (not yet run).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from taskqueue.observability import TASKS_HELD_BACK
from taskqueue.producer import Task
from taskqueue.schedules import periodic_run
from taskqueue.status import DEAD_LETTERED, SCHEDULED, SUCCEEDED, StatusRecord
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.outcomes import Outcomes, dead_letters
from taskqueue_local.deployment.terraform_stack import DEMO_PERIODIC_TASK, DEMO_RATE_LIMITED_TASK
from taskqueue_local.infrastructure.statistics import percentile
from taskqueue_local.infrastructure.tables import table

# A task due this far ahead becomes a one-time schedule (beyond SQS's 900 s).
SCHEDULED_DELAY = timedelta(minutes=30)
# The rate_limited task's first attempt raises Retry(after=this): it must not run again sooner.
RETRY_AFTER_SECONDS = 5
# The burst of the rate-limited task (examples/example_tasks/partner_api.py; a test holds them equal): starts
# past it, sent at once, are held back.
RATE_LIMITED_BURST = 2
# The task scheduled only to show a status of "scheduled": a week out, it does not run during the demo.
STATUS_SCHEDULED_DELAY = timedelta(days=7)


def limited_id(n: int) -> str:
    return f"partner-call-{n}"


@dataclass(frozen=True)
class Scenario:
    """How many tasks of each kind to enqueue."""

    succeed: int = 30
    flaky: int = 8  # fail twice, then succeed
    rate_limited: int = 2  # Retry(after=RETRY_AFTER_SECONDS), then succeed
    limited: int = 5  # the rate-limited task (30/m, burst 2), sent at once: some held back, all run once
    exhausted: int = 2  # keep failing until they are dead-lettered
    permanent: int = 4  # raise PermanentError
    malformed: int = 2  # not a task message at all
    unknown: int = 1  # name a task nobody registered
    scheduled: int = 1  # due 30 minutes out: one-time schedules (needs the example's scheduling outputs)

    @property
    def total(self) -> int:
        return (
            self.succeed
            + self.flaky
            + self.rate_limited
            + self.limited
            + self.exhausted
            + self.permanent
            + self.malformed
            + self.unknown
        )

    def tasks(self) -> list[tuple[str, Task | str]]:
        """(kind, task or raw body), in the order they are sent."""
        # The rate-limited task's starts first, so that they arrive together (one receive, one batch).
        items: list[tuple[str, Task | str]] = [
            ("limited", Task(DEMO_RATE_LIMITED_TASK, {"call": n}, id=limited_id(n))) for n in range(self.limited)
        ]
        items += [("succeed", Task("checksum", {"text": f"document {n}"}, id=f"ok-{n}")) for n in range(self.succeed)]
        items += [("flaky", Task("flaky", {"fail_times": 2}, id=f"flaky-{n}")) for n in range(self.flaky)]
        items += [
            ("rate_limited", Task("rate_limited", {"retry_after": RETRY_AFTER_SECONDS}, id=f"rate-limited-{n}"))
            for n in range(self.rate_limited)
        ]
        items += [("exhausted", Task("flaky", {"fail_times": 99}, id=f"doomed-{n}")) for n in range(self.exhausted)]
        items += [("permanent", Task("validate_order", {"sku": n}, id=f"bad-order-{n}")) for n in range(self.permanent)]
        items += [("malformed", f"this is not JSON #{n}") for n in range(self.malformed)]
        items += [("unknown", Task("no_such_task", id=f"unknown-{n}")) for n in range(self.unknown)]
        return items

    def limited_ids(self) -> list[str]:
        return [limited_id(n) for n in range(self.limited)]

    def scheduled_tasks(self) -> list[Task]:
        return [
            Task("checksum", {"text": f"later {n}"}, id=f"later-{n}", delay=SCHEDULED_DELAY)
            for n in range(self.scheduled)
        ]

    def expected_dead_letters(self) -> Counter[str]:
        return Counter(
            {
                "malformed": self.malformed,
                "permanent_error": self.permanent,
                "unknown_task": self.unknown,
                "retries_exhausted": self.exhausted,
            }
        )


@dataclass
class Summary:
    mode: str
    enqueued: int = 0
    succeeded: int = 0
    retried_then_succeeded: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    kinds_dead_lettered: Counter[str] = field(default_factory=Counter)
    retried_after_seconds: list[float] = field(default_factory=list)  # enqueue to the run after Retry(after=)
    rate_limited_expected: int = 0
    limited_expected: int = 0  # starts of the rate-limited task sent
    limited_runs: Counter[str] = field(default_factory=Counter)  # its task id -> successful runs
    limited_started_seconds: list[float] = field(default_factory=list)  # enqueue to each run's invocation start
    held_back: int = 0  # its starts held back by its limit (the worker's TasksHeldBack)
    lost: int = 0
    stuck: int = 0
    seconds: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    scheduled_expected: int = 0  # tasks scheduled 30 minutes out (0: the example outputs no scheduling)
    scheduled_runs: Counter[str] = field(default_factory=Counter)  # task id -> successful runs
    scheduled_seconds: float = 0.0  # from the enqueue until the last of them had run
    schedule_speedup: float = 1.0
    periodic_runs: int = 0  # of the module's periodic task
    # What became of three tasks (label, status), where the example tracks status; empty where it does not.
    statuses: list[tuple[str, StatusRecord | None]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return (self.succeeded + sum(self.dead_lettered.values())) / self.seconds if self.seconds else 0.0

    @property
    def scheduled_ok(self) -> bool:
        """Each scheduled task ran exactly once, and the periodic one ran (when the example schedules)."""
        if not self.scheduled_expected:
            return True
        runs = self.scheduled_runs
        return len(runs) == self.scheduled_expected and set(runs.values()) == {1} and self.periodic_runs >= 1

    @property
    def retry_after_ok(self) -> bool:
        """Each Retry(after=) task ran again, and none sooner than it asked."""
        ran = self.retried_after_seconds
        return len(ran) == self.rate_limited_expected and all(s >= RETRY_AFTER_SECONDS for s in ran)

    @property
    def limited_ok(self) -> bool:
        """Each start of the rate-limited task ran once; those past its burst, sent at once, were held back."""
        runs = self.limited_runs
        each_once = len(runs) == self.limited_expected and set(runs.values()) <= {1}
        return each_once and (self.held_back > 0 or self.limited_expected <= RATE_LIMITED_BURST)

    @property
    def statuses_ok(self) -> bool:
        """Each status shown says what happened: succeeded after retries, dead-lettered, scheduled."""
        if not self.statuses:
            return True
        expected = {"succeeded after retries": SUCCEEDED, "dead-lettered": DEAD_LETTERED, "scheduled": SCHEDULED}
        shown = {label: record.state if record else None for label, record in self.statuses}
        retried = dict(self.statuses)["succeeded after retries"]
        return shown == expected and retried is not None and retried.attempts > 1

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.stuck == 0
            and self.scheduled_ok
            and self.retry_after_ok
            and self.limited_ok
            and self.statuses_ok
        )

    def table(self) -> str:
        p50, p95 = percentile(self.latency_ms, 0.50), percentile(self.latency_ms, 0.95)
        rows = [
            ("enqueued", str(self.enqueued)),
            ("succeeded", str(self.succeeded)),
            ("  of which retried first", str(self.retried_then_succeeded)),
            (f"Retry(after={RETRY_AFTER_SECONDS} s), then succeeded", self._retried_after()),
            *self._limited_rows(),
            ("dead-lettered", str(sum(self.dead_lettered.values()))),
            *((f"  {reason}", str(count)) for reason, count in sorted(self.dead_lettered.items())),
            ("lost", str(self.lost)),
            ("stuck in the queue", str(self.stuck)),
            ("throughput", f"{self.throughput:.1f} tasks/s over {self.seconds:.1f} s"),
            ("enqueue -> start p50", "-" if p50 is None else f"{p50:.0f} ms"),
            ("enqueue -> start p95", "-" if p95 is None else f"{p95:.0f} ms"),
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
        return table(f"demo, {self.mode} mode", ("", "value"), rows, right=("value",))

    def _limited_rows(self) -> list[tuple[str, str]]:
        if not self.limited_expected:
            return []
        ran = sum(1 for runs in self.limited_runs.values() if runs)
        once = "each once" if set(self.limited_runs.values()) == {1} else f"runs {dict(self.limited_runs)}"
        started = self.limited_started_seconds
        spread = f", {min(started):.1f}-{max(started):.1f} s after the enqueue" if started else ""
        return [
            (f"rate-limited {DEMO_RATE_LIMITED_TASK}", f"{ran}/{self.limited_expected} ran, {once}{spread}"),
            (f"  starts held back ({TASKS_HELD_BACK})", str(self.held_back)),
        ]

    def _retried_after(self) -> str:
        ran = self.retried_after_seconds
        if not ran:
            return f"0/{self.rate_limited_expected}"
        return f"{len(ran)}/{self.rate_limited_expected}, ran again {min(ran):.1f}-{max(ran):.1f} s after the enqueue"


def enqueue(deployment: Deployment, scenario: Scenario) -> dict[str, str]:
    """Sends the scenario; returns message id -> kind."""
    sqs = deployment.client("sqs")
    producer = deployment.producer()
    items = scenario.tasks()
    tasks = [(kind, item) for kind, item in items if isinstance(item, Task)]
    kinds = dict(zip(producer.enqueue_batch(task for _, task in tasks), (kind for kind, _ in tasks), strict=True))
    for kind, body in items:
        if isinstance(body, str):
            kinds[sqs.send_message(QueueUrl=deployment.queues.url, MessageBody=body)["MessageId"]] = kind
    return {str(message_id): kind for message_id, kind in kinds.items()}


def schedule_later(deployment: Deployment, scenario: Scenario, log: Callable[[str], None]) -> list[str]:
    """Schedules the scenario's tasks due 30 minutes out; returns their task ids ([] without scheduling)."""
    if not scenario.scheduled:
        return []
    if deployment.scheduling is None:
        log(f"examples/{deployment.name} outputs no scheduling settings: no scheduled tasks")
        return []
    tasks = scenario.scheduled_tasks()
    deployment.producer().enqueue_batch(tasks)
    wall = SCHEDULED_DELAY.total_seconds() / deployment.schedule_speedup
    log(
        f"scheduled {len(tasks)} tasks {SCHEDULED_DELAY} ahead: at {deployment.schedule_speedup:g}x they run "
        f"after {wall:.0f} s"
    )
    return [str(task.id) for task in tasks]


def schedule_for_status(deployment: Deployment) -> tuple[str, str] | None:
    """Schedules a task a week out, to show a status of "scheduled"; its (task, id), or None where the example
    tracks no status or does not schedule."""
    if deployment.status_table is None or deployment.scheduling is None:
        return None
    task_id = f"next-week-{int(time.time())}"  # a demo run again on the same stack schedules a new one
    deployment.producer().enqueue("checksum", {"text": "next week"}, id=task_id, delay=STATUS_SCHEDULED_DELAY)
    return "checksum", task_id


def status_examples(scenario: Scenario, scheduled: tuple[str, str] | None) -> list[tuple[str, tuple[str, str]]]:
    """(label, (task, id)) of the tasks whose status the demo ends with."""
    shown: list[tuple[str, tuple[str, str]]] = []
    if scenario.flaky:
        shown.append(("succeeded after retries", ("flaky", "flaky-0")))
    if scenario.permanent:
        shown.append(("dead-lettered", ("validate_order", "bad-order-0")))
    if scheduled is not None:
        shown.append(("scheduled", scheduled))
    return shown


def read_statuses(
    deployment: Deployment, shown: list[tuple[str, tuple[str, str]]]
) -> list[tuple[str, StatusRecord | None]]:
    """Each task's status; a final one waited for a few seconds (the worker writes it as it logs the outcome)."""
    if deployment.status_table is None:
        return []
    producer = deployment.producer()
    statuses: list[tuple[str, StatusRecord | None]] = []
    for label, (task, task_id) in shown:
        try:
            record = (
                producer.status(task, task_id) if label == "scheduled" else producer.wait(task, task_id, timeout=10)
            )
        except (LookupError, TimeoutError):
            record = None
        statuses.append((label, record))
    return statuses


def periodic_runs(runs: Counter[str]) -> int:
    """Runs of the module's periodic task (its ids: ``<schedule name>@<the run's time>``)."""
    total = 0
    for task_id, count in runs.items():
        run = periodic_run(task_id)
        if run is not None and run[0] == DEMO_PERIODIC_TASK:
            total += count
    return total


def run(
    deployment: Deployment, scenario: Scenario, timeout: float = 150.0, log: Callable[[str], None] = print
) -> Summary:
    worker_log = deployment.worker_log
    since = worker_log.mark()  # another scenario may have run on this deployment before
    started = time.monotonic()
    kinds = enqueue(deployment, scenario)
    log(f"enqueued {len(kinds)} tasks: " + ", ".join(f"{n} {k}" for k, n in sorted(Counter(kinds.values()).items())))
    later = schedule_later(deployment, scenario, log)
    for_status = schedule_for_status(deployment)
    scheduled_seconds = 0.0
    deadline = started + timeout
    last_report = 0.0
    while True:
        outcomes = worker_log.outcomes(since)
        runs = outcomes.runs
        in_queue = deployment.depth()
        in_dlq = deployment.depth(deployment.queues.dlq_url)
        now = time.monotonic()
        scheduled_done = all(runs[task_id] for task_id in later)
        if scheduled_done and not scheduled_seconds:
            scheduled_seconds = now - started
        if now - last_report >= 2:
            log(
                f"  {now - started:5.1f} s  succeeded {len(outcomes.succeeded & kinds.keys()):3d}  "
                f"retried {len(outcomes.retried & kinds.keys()):3d}  dead-lettered {in_dlq:3d}  "
                f"still queued {in_queue:3d}  scheduled ran {sum(1 for task_id in later if runs[task_id])}/"
                f"{len(later)}  periodic runs {periodic_runs(runs)}  "
                f"held back {outcomes.held_back[DEMO_RATE_LIMITED_TASK]}"
            )
            last_report = now
        done = in_queue == 0 and len(outcomes.succeeded & kinds.keys()) + in_dlq >= len(kinds)
        if done and scheduled_done and (not later or periodic_runs(runs) >= 1):
            break
        if now > deadline:
            log(f"timed out after {timeout:.0f} s with {in_queue} messages still queued")
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    dead = dead_letters(deployment.client("sqs"), deployment.queues.dlq_url)
    outcomes = worker_log.outcomes(since)
    # Stuck: what the queue held when the run ended, not read again now: the periodic task's schedule keeps
    # sending (every 5 s here), and its next message would count as one of the scenario's, stuck.
    summary = summarize(deployment.trigger_mode, kinds, outcomes, dead, in_queue, elapsed)
    runs = outcomes.runs
    summary.limited_runs = Counter({task_id: runs[task_id] for task_id in scenario.limited_ids()})
    summary.scheduled_expected = len(later)
    summary.scheduled_runs = Counter({task_id: runs[task_id] for task_id in later})
    summary.scheduled_seconds = scheduled_seconds
    summary.schedule_speedup = deployment.schedule_speedup
    summary.periodic_runs = periodic_runs(runs)
    summary.statuses = read_statuses(deployment, status_examples(scenario, for_status))
    return summary


def summarize(
    mode: str, kinds: dict[str, str], outcomes: Outcomes, dead: dict[str, str], stuck: int, seconds: float
) -> Summary:
    sent = kinds.keys()
    rate_limited = {message_id for message_id, kind in kinds.items() if kind == "rate_limited"}
    limited = {message_id for message_id, kind in kinds.items() if kind == "limited"}
    return Summary(
        mode=mode,
        enqueued=len(kinds),
        succeeded=len(outcomes.succeeded & sent),
        retried_then_succeeded=len(outcomes.succeeded & outcomes.retried & sent),
        dead_lettered=Counter(reason for message_id, reason in dead.items() if message_id in sent),
        kinds_dead_lettered=Counter(kinds[message_id] for message_id in dead if message_id in sent),
        retried_after_seconds=sorted(
            outcomes.succeeded_queue_ms[message_id] / 1000
            for message_id in rate_limited & outcomes.retried
            if message_id in outcomes.succeeded_queue_ms
        ),
        rate_limited_expected=len(rate_limited),
        limited_expected=len(limited),
        limited_started_seconds=sorted(
            outcomes.succeeded_queue_ms[message_id] / 1000
            for message_id in limited & outcomes.succeeded_queue_ms.keys()
        ),
        held_back=outcomes.held_back[DEMO_RATE_LIMITED_TASK],
        # Unaccounted tasks still in the queue are stuck; the rest are lost.
        lost=max(0, len(sent - outcomes.succeeded - dead.keys()) - stuck),
        stuck=stuck,
        seconds=seconds,
        latency_ms=outcomes.first_attempt_queue_ms,
    )
