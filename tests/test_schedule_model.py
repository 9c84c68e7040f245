"""A model-based test of scheduling (issue 19): the producer's scheduling API against a model of EventBridge
Scheduler, on the SQS model and one simulated clock.

Hypothesis drives the real ``taskqueue.producer.TaskQueue`` (``enqueue``, ``enqueue_batch``, ``cancel``) on a
standard or a FIFO queue. Its boto3 Scheduler client is answered by ``SchedulerModel``, which does what the
EventBridge Scheduler user guide documents, and what it leaves open the worst way the docs allow:

- one-minute precision: ``at(T)`` fires anywhere within T's minute, never before the minute starts, so up to
  59 s before T when T is not a whole minute; a rate() schedule's run is late by up to a minute;
- an ``at()`` already past when the CreateSchedule arrives is refused (the only reports found, third-party,
  say so; the model also counts it, as the producer promises never to send one);
- at-least-once: a delivery may be sent twice; a send that fails is retried as the schedule's retry policy
  says (a target's 4xx is not retried), then dead-lettered with the Scheduler's attributes when the schedule
  has a ``DeadLetterConfig``, else dropped;
- a one-time schedule deletes itself once its delivery is over (``ActionAfterCompletion=DELETE``); a delete
  that comes while the delivery is under way succeeds, and the delivery goes on;
- the Scheduler's clock is the true one; the producer's may be off by up to 20 s, and a CreateSchedule takes
  up to 5 s to arrive (what ``SCHEDULER_CLOCK_MARGIN_SECONDS`` allows for).

Periodic schedules (the module's ``periodic_tasks``, whose input ``periodic_task_input`` builds) are created in
the model directly, as Terraform would. A drain receives what arrived and runs it once per task identity
(``taskqueue.message.task_identity``, the worker's idempotency key), as the worker with idempotency does.

Invariants (after every step): a scheduled task never runs before its time; it is never lost silently (pending,
delivered as a message of its own, in the schedule DLQ with the Scheduler's reason, or dropped only where
``drop_failed_deliveries`` accepted it); a schedule the producer accepted fails to deliver only by a fault the
model injected; the producer never sends an ``at()`` already past on arrival; a cancel that succeeded means
the task never arrives; on FIFO one schedule is one message, whatever the Scheduler resends; a FIFO batch's
accepted tasks of a group are a prefix of the group's tasks in it; a periodic run, identified by its schedule
and time, runs at most once, and every run that arrived runs.

``TASKQUEUE_FAULT_MODEL_PROFILE=long`` runs the long profile (``make soak``), which prints statistics.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from hypothesis import currently_in_test_context, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from taskqueue.limits import SCHEDULER_PRECISION_SECONDS
from taskqueue.message import parse_body, task_identity
from taskqueue.producer import EnqueueError, Task, TaskQueue
from taskqueue.schedule_dead_letters import SCHEDULE_ARN_ATTRIBUTE, ScheduleFailure
from taskqueue.schedules import (
    SCHEDULED_TIME_KEYWORD,
    NotScheduled,
    SchedulingConfig,
    parse_at,
    periodic_run,
    periodic_task_input,
)
from tests.support.aws_settings import REGION
from tests.support.model_profiles import Budget, is_long, model_settings
from tests.support.sqs_endpoint import ServerFault, SqsEndpoint
from tests.support.sqs_model import SimClock, SqsError, SqsModel

ACCOUNT = "123456789012"
GROUP = "tasks-schedules"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/tasks-scheduler"
# The Scheduler's retries: the first after this, doubling (its documented backoff is exponential with jitter).
RETRY_BASE_SECONDS = 10.0
STATISTICS: Counter[str] = Counter()


def report(text: str) -> None:
    if currently_in_test_context():
        note(text)


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the Scheduler ------------------------------------------------------------------------------------


@dataclass
class Schedule:
    name: str
    expression: str
    target: dict[str, Any]
    fire_at: float  # the next run (one-time: within T's minute; periodic: within the period's minute)
    scheduled_time: float  # what the run is for: T, or the period's time
    period: float | None = None  # rate() schedules, seconds
    delivering: bool = False
    number: int = 0  # one-time schedules of one name (a task with an id scheduled again) are told apart


@dataclass
class Delivery:
    """One run of a schedule: its sends to the target, retried, then dead-lettered or dropped."""

    schedule: Schedule
    input: str
    scheduled_time: float
    started: float
    next_attempt: float
    failures_left: int  # injected failures of the target's send still to come
    attempts: int = 0
    duplicate: bool = False  # at-least-once: its successful send goes out twice


@dataclass
class Fate:
    """What became of a schedule's runs (by name; a periodic schedule's by name and scheduled time)."""

    delivered: list[tuple[float, str]] = field(default_factory=list)  # (when, message id of its own)
    swallowed: list[tuple[float, str]] = field(default_factory=list)  # SQS took it for another's message
    dead_lettered: list[str] = field(default_factory=list)  # error codes
    dropped: list[str] = field(default_factory=list)
    failures: list[tuple[str, bool]] = field(default_factory=list)  # (error code, injected)


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://scheduler.model.invalid", status, HTTPHeaders(), None)


def _error(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return _http(status), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }


class SchedulerModel:
    """EventBridge Scheduler for one schedule group (see the module's docstring), on the true clock."""

    def __init__(
        self, clock: SimClock, sqs: SqsModel, rng: random.Random, create_latency: float, fault_rate: float
    ) -> None:
        self.clock = clock
        self.sqs = sqs
        self.rng = rng
        self.create_latency = create_latency
        self.fault_rate = fault_rate
        self.schedules: dict[str, Schedule] = {}
        self.deliveries: list[Delivery] = []
        # A one-time schedule's fate by (name, number); a periodic schedule's runs by (name, scheduled time).
        self.fates: dict[tuple[str, float], Fate] = {}
        self.origins: dict[str, tuple[str, float]] = {}  # message id -> the run that first sent it
        self.created = 0
        self.past_at: list[str] = []  # CreateSchedule requests with an at() already past on arrival
        self.deleted_while_delivering: list[str] = []

    def attach(self, client: Any) -> Any:
        def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["model_params"] = dict(params)

        def answer(model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            return self._answer(model.name, context.get("model_params", {}))

        client.meta.events.register("before-parameter-build.scheduler.*", keep)
        client.meta.events.register("before-call.scheduler.*", answer)
        return client

    def fate(self, key: tuple[str, float]) -> Fate:
        return self.fates.setdefault(key, Fate())

    def _answer(self, operation: str, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        if params.get("GroupName", "default") != GROUP:
            return _error(404, "ResourceNotFoundException", f"Schedule group {params.get('GroupName')} does not exist.")
        if operation == "CreateSchedule":
            return self._create(params)
        if operation == "GetSchedule":
            schedule = self.schedules.get(params["Name"])
            if schedule is None:
                return _error(404, "ResourceNotFoundException", f"Schedule {params['Name']} does not exist.")
            return _http(200), {
                "Name": schedule.name,
                "GroupName": GROUP,
                "ScheduleExpression": schedule.expression,
                "ScheduleExpressionTimezone": "UTC",
                "State": "ENABLED",
                "Target": schedule.target,
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        if operation == "DeleteSchedule":
            schedule = self.schedules.pop(params["Name"], None)
            if schedule is None:
                return _error(404, "ResourceNotFoundException", f"Schedule {params['Name']} does not exist.")
            if schedule.delivering:
                self.deleted_while_delivering.append(schedule.name)
            return _http(200), {"ResponseMetadata": {"HTTPStatusCode": 200}}
        if operation == "ListSchedules":
            prefix = params.get("NamePrefix", "")
            names = [{"Name": name} for name in sorted(self.schedules) if name.startswith(prefix)]
            return _http(200), {"Schedules": names, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return _error(400, "ValidationException", f"{operation} is not modelled")

    def _create(self, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        # The request's way there: the Scheduler sees it this much later.
        self.clock.advance(self.create_latency)
        name = params["Name"]
        if name in self.schedules:
            return _error(409, "ConflictException", f"Schedule {name} already exists.")
        expression = params["ScheduleExpression"]
        due = parse_at(expression, params.get("ScheduleExpressionTimezone", "UTC"))
        if due is None:
            return _error(400, "ValidationException", f"{expression} is not an at() expression")
        at = due.timestamp()
        if at <= self.clock.now:
            self.past_at.append(f"{name}: {expression} arrived at {iso(self.clock.now)}")
            return _error(400, "ValidationException", f"The schedule expression {expression} is in the past.")
        minute = at - at % SCHEDULER_PRECISION_SECONDS
        fire_at = minute + self.rng.randrange(SCHEDULER_PRECISION_SECONDS)
        self.created += 1
        self.schedules[name] = Schedule(name, expression, dict(params["Target"]), fire_at, at, number=self.created)
        return _http(200), {
            "ScheduleArn": self.arn(name),
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def add_periodic(self, name: str, minutes: int, target: dict[str, Any]) -> None:
        """A rate() schedule as the Terraform module creates it."""
        period = minutes * 60.0
        first = self.clock.now + period
        self.schedules[name] = Schedule(
            name, f"rate({minutes} minutes)", target, first + self.rng.randrange(60), first, period=period
        )

    @staticmethod
    def arn(name: str) -> str:
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{GROUP}/{name}"

    # -- time passing ----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the true clock, running every fire and delivery attempt that falls due on the way."""
        end = self.clock.now + seconds
        while True:
            events = [(s.fire_at, 0, s) for s in self.schedules.values() if not s.delivering]
            events += [(d.next_attempt, 1, d) for d in self.deliveries]
            due = [event for event in events if event[0] <= end]
            if not due:
                break
            when, _, what = min(due, key=lambda event: (event[0], event[1]))
            self.clock.advance(max(0.0, when - self.clock.now))
            if isinstance(what, Schedule):
                self._fire(what)
            else:
                self._attempt(what)
        self.clock.advance(max(0.0, end - self.clock.now))

    def _fire(self, schedule: Schedule) -> None:
        STATISTICS["schedule runs"] += 1
        text = schedule.target["Input"]
        if schedule.period is not None:
            text = text.replace(SCHEDULED_TIME_KEYWORD, iso(schedule.scheduled_time))
        failures = 0
        if self.rng.random() < self.fault_rate:
            failures = self.rng.randrange(1, 5)
        delivery = Delivery(
            schedule,
            text,
            schedule.scheduled_time,
            started=self.clock.now,
            next_attempt=self.clock.now + self.rng.choice([0.0, 2.0, 8.0, 20.0]),
            failures_left=failures,
            duplicate=self.rng.random() < 0.15,
        )
        self.deliveries.append(delivery)
        if schedule.period is None:
            schedule.delivering = True
        else:
            schedule.scheduled_time += schedule.period
            schedule.fire_at = schedule.scheduled_time + self.rng.randrange(60)

    @staticmethod
    def _key(delivery: Delivery) -> tuple[str, float]:
        schedule = delivery.schedule
        return schedule.name, delivery.scheduled_time if schedule.period is not None else float(schedule.number)

    def _attempt(self, delivery: Delivery) -> None:
        target = delivery.schedule.target
        fate = self.fate(self._key(delivery))
        delivery.attempts += 1
        if delivery.failures_left > 0:
            delivery.failures_left -= 1
            STATISTICS["delivery attempts failed (injected)"] += 1
            fate.failures.append(("InternalServerError", True))
            return self._retry_or_give_up(delivery, "InternalServerError", "injected", retryable=True)
        send: dict[str, Any] = {"QueueUrl": self._queue_url(target["Arn"]), "MessageBody": delivery.input}
        if group := target.get("SqsParameters", {}).get("MessageGroupId"):
            send["MessageGroupId"] = group
        try:
            for _ in range(2 if delivery.duplicate else 1):
                message_id = str(self.sqs.call("SendMessage", send, self.clock.now)["MessageId"])
                origin = self.origins.setdefault(message_id, self._key(delivery))
                if origin == self._key(delivery):
                    fate.delivered.append((self.clock.now, message_id))
                else:
                    fate.swallowed.append((self.clock.now, message_id))
        except SqsError as error:
            STATISTICS[f"delivery attempts refused by SQS ({error.code})"] += 1
            fate.failures.append((error.code, False))
            # A target's 4xx is not retried (the Scheduler retries throttles and 5xx only).
            return self._retry_or_give_up(delivery, error.code, error.message, retryable=error.status >= 500)
        STATISTICS["deliveries"] += 1
        self._done(delivery)

    def _retry_or_give_up(self, delivery: Delivery, code: str, message: str, retryable: bool) -> None:
        policy = delivery.schedule.target.get("RetryPolicy", {})
        retries = delivery.attempts - 1
        backoff = RETRY_BASE_SECONDS * 2**retries
        next_attempt = self.clock.now + backoff
        exhausted = None
        if retries >= int(policy.get("MaximumRetryAttempts", 185)):
            exhausted = "MaximumRetryAttempts"
        elif next_attempt - delivery.started > int(policy.get("MaximumEventAgeInSeconds", 86_400)):
            exhausted = "MaximumEventAgeInSeconds"
        if retryable and exhausted is None:
            delivery.next_attempt = next_attempt
            return
        fate = self.fate(self._key(delivery))
        dead_letter = delivery.schedule.target.get("DeadLetterConfig")
        if dead_letter is None:
            STATISTICS["deliveries dropped (no DeadLetterConfig)"] += 1
            fate.dropped.append(code)
        else:
            failure = ScheduleFailure(
                schedule_arn=self.arn(delivery.schedule.name),
                target_arn=delivery.schedule.target["Arn"],
                scheduled_time=iso(delivery.scheduled_time),
                error_code=code,
                error_message=message,
                exhausted_retry_condition=exhausted if retryable else None,
                retry_attempts=retries,
                execution_id=f"execution-{len(self.fates)}-{delivery.attempts}",
            )
            self.sqs.call(
                "SendMessage",
                {
                    "QueueUrl": self._queue_url(dead_letter["Arn"]),
                    "MessageBody": delivery.input,
                    "MessageAttributes": failure.message_attributes(),
                },
                self.clock.now,
            )
            STATISTICS["deliveries dead-lettered"] += 1
            fate.dead_lettered.append(code)
        self._done(delivery)

    def _done(self, delivery: Delivery) -> None:
        self.deliveries.remove(delivery)
        schedule = delivery.schedule
        if schedule.period is None and self.schedules.get(schedule.name) is schedule:
            del self.schedules[schedule.name]  # ActionAfterCompletion=DELETE

    def _queue_url(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        return self.sqs.queues[name].url


# -- the deployment and what was asked ------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    fifo: bool = False
    content_based_deduplication: bool = True  # FIFO only: the module turns it on; a queue made by hand may not
    queue_arn_given: bool = False
    failed_deliveries: str = "dlq"  # "dlq", "drop" (drop_failed_deliveries=True), "none" (neither: refused)
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 600
    producer_clock_skew: float = 0.0  # the producer's clock minus the true one
    create_latency: float = 0.0  # a CreateSchedule's way to the Scheduler
    fault_rate: float = 0.2  # share of a schedule's runs whose target send fails a few times


deployments = st.builds(
    Deployment,
    fifo=st.booleans(),
    content_based_deduplication=st.sampled_from([True, True, True, False]),
    queue_arn_given=st.booleans(),
    failed_deliveries=st.sampled_from(["dlq", "dlq", "dlq", "drop", "none"]),
    max_retry_attempts=st.sampled_from([0, 0, 1, 3]),
    max_event_age_seconds=st.sampled_from([60, 600, 3600]),
    producer_clock_skew=st.sampled_from([-20.0, -20.0, -5.0, 0.0, 20.0]),
    create_latency=st.sampled_from([0.0, 1.0, 5.0]),
    fault_rate=st.sampled_from([0.0, 0.3, 0.6]),
)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    task_id: str | None
    payload: dict[str, int]
    group: str
    ahead: float | None  # seconds after the producer's now (None: no due time, sent at once)


task_specs = st.builds(
    TaskSpec,
    name=st.sampled_from(["job", "report"]),
    task_id=st.sampled_from([None, None, "1", "2"]),
    # Few payloads, so that tasks without an id share their content (FIFO deduplication, defect 4).
    payload=st.sampled_from([{"v": 0}, {"v": 0}, {"v": 0}, {"v": 1}]),
    group=st.sampled_from(["a", "b"]),
    ahead=st.sampled_from([None, 1.0, 5.0, 5.0, 29.0, 30.5, 45.0, 59.5, 90.0, 125.5, 600.0, 901.0, 3599.5]),
)


@dataclass
class Requested:
    """A task the producer was asked to enqueue, and what it answered."""

    spec: TaskSpec
    due: float | None  # the instant asked for (true time: at= is absolute)
    handle: str | None  # the schedule's name, or the message id when it was sent at once
    scheduled: bool
    cancelled: bool = False
    key: tuple[str, float] = ("", 0.0)  # its schedule's key in the Scheduler model


@dataclass
class Run:
    message_id: str
    identity: Any
    task_id: str | None
    at: float


class ScheduleModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = SimClock(1_700_000_017.0)  # not on a whole minute
        self.sqs = SqsModel()
        self.requested: list[Requested] = []
        self.batches: list[list[tuple[str, bool]]] = []  # per FIFO batch: (group, accepted) in order
        self.runs: list[Run] = []
        self.received: set[str] = set()
        self.done: set[Any] = set()  # identities completed (the worker's idempotency)
        STATISTICS["examples"] += 1

    @initialize(deployment=deployments, seed=st.integers(0, 2**32 - 1))
    def deploy(self, deployment: Deployment, seed: int) -> None:
        self.deployment = d = deployment
        report(f"deployment: {d}")
        suffix = ".fifo" if d.fifo else ""
        kind = {"FifoQueue": "true"} if d.fifo else {}
        if d.fifo:
            kind["ContentBasedDeduplication"] = "true" if d.content_based_deduplication else "false"
        self.url = self.sqs.call("CreateQueue", {"QueueName": f"tasks{suffix}", "Attributes": kind}, 0)["QueueUrl"]
        self.dlq_url = self.sqs.call("CreateQueue", {"QueueName": "tasks-schedule-dlq"}, 0)["QueueUrl"]
        dlq_arn = self.sqs.queue(self.dlq_url).arn
        self.scheduler = SchedulerModel(self.clock, self.sqs, random.Random(seed), d.create_latency, d.fault_rate)
        scheduler_client = self.scheduler.attach(boto3.client("scheduler", region_name=REGION))
        self.endpoint = SqsEndpoint(self.sqs, self.clock, self.clock.advance)
        sqs_client = self.endpoint.attach(boto3.client("sqs", region_name=REGION))
        self.scheduling = SchedulingConfig(
            GROUP,
            ROLE,
            dlq_arn if d.failed_deliveries == "dlq" else None,
            max_event_age_seconds=d.max_event_age_seconds,
            max_retry_attempts=d.max_retry_attempts,
            drop_failed_deliveries=d.failed_deliveries == "drop",
        )
        self.producer = TaskQueue(
            self.url,
            sqs=sqs_client,
            scheduling=self.scheduling,
            scheduler=scheduler_client,
            queue_arn=self.sqs.queue(self.url).arn if d.queue_arn_given else None,
            clock=self.producer_now,
        )
        self.periodic: list[str] = []

    def producer_now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now + self.deployment.producer_clock_skew, UTC)

    # -- rules ---------------------------------------------------------------------------------------

    def _task(self, spec: TaskSpec) -> tuple[Task, float | None]:
        at = None if spec.ahead is None else self.producer_now() + timedelta(seconds=spec.ahead)
        group = spec.group if self.deployment.fifo else None
        return Task(
            spec.name, spec.payload, spec.task_id, group_id=group, at=at
        ), None if at is None else at.timestamp()

    def _record(self, spec: TaskSpec, due: float | None, handle: str | None) -> None:
        scheduled = handle is not None and hasattr(handle, "due")
        requested = Requested(spec, due, None if handle is None else str(handle), scheduled)
        if scheduled:
            schedule = self.scheduler.schedules[str(handle)]
            requested.key = (schedule.name, float(schedule.number))
        self.requested.append(requested)
        if handle is not None:
            STATISTICS["tasks scheduled" if scheduled else "tasks sent"] += 1

    @rule(specs=st.lists(task_specs, min_size=1, max_size=4), batch=st.booleans(), send_fault=st.booleans())
    def enqueue(self, specs: list[TaskSpec], batch: bool, send_fault: bool) -> None:
        """Through the producer: one by one or as one batch; a batch's SQS send may fail on SQS's side."""
        tasks = [self._task(spec) for spec in specs]
        if send_fault:
            # Every entry of the next SendMessageBatch fails on SQS's side (a FIFO batch is not retried); the
            # producer's look-ups before it (GetQueueAttributes) meet one 5xx each, which the client retries.
            self.endpoint.faults = {len(self.endpoint.calls) + n: ServerFault("entries") for n in range(3)}
        try:
            if batch:
                try:
                    handles = self.producer.enqueue_batch([task for task, _ in tasks])
                except EnqueueError as error:
                    handles = error.message_ids
                    STATISTICS[f"batches with failures ({error.failed[0].code})"] += 1
                except (ValueError, ClientError) as error:
                    STATISTICS[f"batches refused ({type(error).__name__})"] += 1
                    report(f"batch refused: {error}")
                    return
                for (_, due), spec, handle in zip(tasks, specs, handles, strict=True):
                    self._record(spec, due, handle)
                if self.deployment.fifo:
                    self.batches.append(
                        [(spec.group, handle is not None) for spec, handle in zip(specs, handles, strict=True)]
                    )
                return
            for (task, due), spec in zip(tasks, specs, strict=True):
                try:
                    handle = self.producer.enqueue(
                        task.name, task.payload, id=task.id, group_id=task.group_id, at=task.at
                    )
                except (ValueError, ClientError) as error:
                    STATISTICS[f"enqueues refused ({type(error).__name__})"] += 1
                    report(f"enqueue refused: {error}")
                    handle = None
                self._record(spec, due, handle)
        finally:
            self.endpoint.faults = {}

    @precondition(lambda self: any(r.scheduled and not r.cancelled for r in self.requested))
    @rule(index=st.integers(0, 50), ahead=st.sampled_from([-15.0, -5.0, 0.0, 10.0, 25.0, 35.0, 50.0]))
    def cancel(self, index: int, ahead: float) -> None:
        """Cancel a scheduled task ``ahead`` seconds before its time (on the true clock; negative: after it), or
        now when that is past."""
        candidates = [r for r in self.requested if r.scheduled and not r.cancelled]
        chosen = candidates[index % len(candidates)]
        assert chosen.handle is not None and chosen.due is not None
        schedule = self.scheduler.schedules.get(chosen.handle)
        if schedule is not None and schedule.period is None:
            self.scheduler.advance(max(0.0, schedule.scheduled_time - ahead - self.clock.now))
        # A task with an id scheduled again after its first schedule fired holds the same name: the cancel
        # takes whichever schedule holds the name now.
        holder = self.scheduler.schedules.get(chosen.handle)
        try:
            self.producer.cancel(chosen.handle)
        except NotScheduled:
            STATISTICS["cancels refused (not scheduled)"] += 1
            return
        assert holder is not None, f"cancel of {chosen.handle} succeeded, yet no schedule held the name"
        for requested in self.requested:
            if requested.key == (holder.name, float(holder.number)):
                requested.cancelled = True
        STATISTICS["cancels"] += 1

    @rule(minutes=st.sampled_from([1, 5]))
    def create_periodic(self, minutes: int) -> None:
        """A periodic task as the module's periodic_tasks creates it (one of each period at most)."""
        name = f"every-{minutes}-minutes"
        if name in self.periodic or (self.deployment.fifo and not self.deployment.content_based_deduplication):
            return  # the module's FIFO queue deduplicates by content; only a queue made by hand may not
        target: dict[str, Any] = {
            "Arn": self.sqs.queue(self.url).arn,
            "RoleArn": ROLE,
            "Input": periodic_task_input(name, "tick", {"every": minutes}),
            "RetryPolicy": {
                "MaximumEventAgeInSeconds": self.deployment.max_event_age_seconds,
                "MaximumRetryAttempts": self.deployment.max_retry_attempts,
            },
            "DeadLetterConfig": {"Arn": self.sqs.queue(self.dlq_url).arn},
        }
        if self.deployment.fifo:
            target["SqsParameters"] = {"MessageGroupId": "periodic"}
        self.scheduler.add_periodic(name, minutes, target)
        self.periodic.append(name)

    @rule(seconds=st.sampled_from([1.0, 15.0, 30.0, 59.0, 61.0, 300.0, 1000.0, 4000.0]))
    def time_passes(self, seconds: float) -> None:
        self.scheduler.advance(seconds)

    @rule()
    def drain(self) -> None:
        """The worker, simply: receive what is visible, run each task once per identity, delete it."""
        while True:
            received = self.sqs.call(
                "ReceiveMessage",
                {"QueueUrl": self.url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 30},
                self.clock.now,
            ).get("Messages", [])
            if not received:
                break
            for message in received:
                self.received.add(message["MessageId"])
                parsed = parse_body(message["Body"])  # the worker's parser: the "schedule" field is ignored
                identity = task_identity(parsed.task, parsed.id, message["MessageId"])
                if identity not in self.done:
                    self.runs.append(Run(message["MessageId"], identity, parsed.id, self.clock.now))
                    self.done.add(identity)
                    STATISTICS["runs"] += 1
                self.sqs.call(
                    "DeleteMessage", {"QueueUrl": self.url, "ReceiptHandle": message["ReceiptHandle"]}, self.clock.now
                )

    # -- invariants ------------------------------------------------------------------------------------

    def _scheduled(self) -> list[Requested]:
        return [r for r in self.requested if r.scheduled]

    @invariant()
    def a_scheduled_task_never_runs_before_its_time(self) -> None:
        for requested in self._scheduled():
            assert requested.handle is not None and requested.due is not None
            for when, message_id in self.scheduler.fate(requested.key).delivered:
                assert when >= requested.due, (
                    f"task {requested.spec} due at {iso(requested.due)} arrived at {iso(when)} "
                    f"({requested.due - when:.1f} s early) as message {message_id} of schedule {requested.handle}"
                )
        for run in self.runs:
            origin = self.scheduler.origins.get(run.message_id)
            scheduled = [r for r in self._scheduled() if r.key == origin]
            for requested in scheduled:
                assert requested.due is not None and run.at >= requested.due

    def _same_task(self, requested: Requested, message_id: str) -> bool:
        """SQS deduplicated the send into a message of the same task and id: one task, by its identity."""
        origin = self.scheduler.origins[message_id]
        return requested.spec.task_id is not None and any(
            (r.spec.name, r.spec.task_id) == (requested.spec.name, requested.spec.task_id)
            for r in self._scheduled()
            if r.key == origin
        )

    @invariant()
    def a_scheduled_task_is_never_lost_silently(self) -> None:
        for requested in self._scheduled():
            assert requested.handle is not None
            fate = self.scheduler.fate(requested.key)
            pending = self.scheduler.schedules.get(requested.handle)
            if (pending is not None and pending.number == requested.key[1]) or fate.delivered or fate.dead_lettered:
                continue
            if any(self.scheduler._key(d) == requested.key for d in self.scheduler.deliveries):
                continue
            if requested.cancelled or (
                fate.swallowed and all(self._same_task(requested, m) for _, m in fate.swallowed)
            ):
                continue
            if fate.dropped and self.scheduling.drop_failed_deliveries:
                continue
            raise AssertionError(
                f"task {requested.spec} scheduled as {requested.handle} is lost without a trace: "
                f"swallowed {fate.swallowed} (SQS deduplicated its send into another task's message), "
                f"dropped {fate.dropped} (drop_failed_deliveries={self.scheduling.drop_failed_deliveries})"
            )

    @invariant()
    def a_dead_lettered_schedule_carries_the_schedulers_reason(self) -> None:
        arns = {
            m.attributes.get(SCHEDULE_ARN_ATTRIBUTE, {}).get("StringValue")
            for m in self.sqs.queue(self.dlq_url).messages.values()
        }
        for (name, _), fate in self.scheduler.fates.items():
            if fate.dead_lettered:
                assert self.scheduler.arn(name) in arns, f"schedule {name} was dead-lettered, yet not in the DLQ"

    @invariant()
    def an_accepted_schedule_fails_to_deliver_only_by_an_injected_fault(self) -> None:
        for (name, _), fate in self.scheduler.fates.items():
            refused = [code for code, injected in fate.failures if not injected]
            assert not refused, (
                f"schedule {name} was accepted, yet its delivery was refused by the queue: {refused} "
                f"(deployment {self.deployment})"
            )

    @invariant()
    def no_at_expression_is_already_past_when_it_arrives(self) -> None:
        assert not self.scheduler.past_at, f"the producer sent at() expressions already past: {self.scheduler.past_at}"

    @invariant()
    def a_cancelled_task_never_arrives(self) -> None:
        for requested in self._scheduled():
            if requested.cancelled:
                assert requested.handle is not None
                fate = self.scheduler.fate(requested.key)
                assert not fate.delivered and not fate.dead_lettered, (
                    f"task {requested.spec} was cancelled (schedule {requested.handle}), yet it arrived: {fate}"
                )

    @invariant()
    def on_fifo_one_schedule_is_one_message(self) -> None:
        if self.deployment.fifo:
            for (name, when), fate in self.scheduler.fates.items():
                ids = {message_id for _, message_id in fate.delivered}
                assert len(ids) <= 1, f"schedule {name} ({when}) arrived as {len(ids)} messages: {sorted(ids)}"

    @invariant()
    def a_fifo_batch_enqueues_a_prefix_of_each_group(self) -> None:
        for batch in self.batches:
            for group in {g for g, _ in batch}:
                accepted = [ok for g, ok in batch if g == group]
                first_failed = accepted.index(False) if False in accepted else len(accepted)
                assert not any(accepted[first_failed:]), (
                    f"FIFO group {group!r}: a later task was enqueued after an earlier one failed: {batch}"
                )

    @invariant()
    def a_periodic_run_runs_once_and_every_arrived_run_runs(self) -> None:
        by_run: Counter[tuple[str, str]] = Counter()
        for run in self.runs:
            parsed = periodic_run(run.task_id)
            if parsed is not None:
                by_run[parsed] += 1
        twice = {key: n for key, n in by_run.items() if n > 1}
        assert not twice, f"periodic runs that ran more than once: {twice}"
        ran = {run.message_id for run in self.runs}
        for (name, when), fate in self.scheduler.fates.items():
            if name not in self.periodic:
                continue
            arrived = [m for _, m in fate.delivered if m in self.received]
            if arrived:
                assert (name, iso(when)) in by_run, f"periodic run {name} at {iso(when)} arrived ({arrived}), never ran"
                assert ran & set(arrived) or by_run[(name, iso(when))] == 1

    def teardown(self) -> None:
        for fate in self.scheduler.fates.values():
            STATISTICS["runs swallowed by deduplication"] += len(fate.swallowed)
        STATISTICS["at() refused as past"] += len(self.scheduler.past_at)
        STATISTICS["schedules deleted while delivering"] += len(self.scheduler.deleted_while_delivering)


SCHEDULE_MODEL = Budget(bounded_examples=60, long_examples=2000, steps=30)


# The long profile runs for minutes (make soak); the bounded one within seconds.
@pytest.mark.timeout(0 if is_long() else 120)
def test_scheduling_keeps_its_promises_against_the_scheduler_model() -> None:
    STATISTICS.clear()
    run_state_machine_as_test(ScheduleModel, settings=model_settings(SCHEDULE_MODEL))
    if is_long():
        print(f"\nschedule model statistics: {dict(sorted(STATISTICS.items()))}")


# -- replays: one small example per scheduling defect of issue 19, each failing with its fix reverted -------


def replay(deployment: Deployment, seed: int = 0) -> ScheduleModel:
    state = ScheduleModel()
    state.deploy(deployment=deployment, seed=seed)
    return state


def check_invariants(state: ScheduleModel) -> None:
    state.a_scheduled_task_never_runs_before_its_time()
    state.a_scheduled_task_is_never_lost_silently()
    state.a_dead_lettered_schedule_carries_the_schedulers_reason()
    state.an_accepted_schedule_fails_to_deliver_only_by_an_injected_fault()
    state.no_at_expression_is_already_past_when_it_arrives()
    state.a_cancelled_task_never_arrives()
    state.on_fifo_one_schedule_is_one_message()
    state.a_fifo_batch_enqueues_a_prefix_of_each_group()
    state.a_periodic_run_runs_once_and_every_arrived_run_runs()


def test_regression_fifo_tasks_without_id_and_the_same_payload_scheduled_close_together_are_two_messages() -> None:
    """Defect 4: without the schedule's name in its input, SQS deduplicated the second send by its content."""
    state = replay(Deployment(fifo=True, fault_rate=0.0))
    spec = TaskSpec("job", None, {"v": 0}, "a", 125.5)
    state.enqueue(specs=[spec, spec], batch=False, send_fault=False)
    state.time_passes(seconds=300.0)
    state.drain()
    check_invariants(state)  # reverted: task ... is lost without a trace: swallowed [...]
    assert sum(r.scheduled for r in state.requested) == 2


def test_regression_a_schedule_without_a_dead_letter_queue_is_refused_unless_opted_out() -> None:
    """Defect 5: with no schedule DLQ configured, the schedule was created without DeadLetterConfig and its
    failed delivery was dropped without a trace."""
    state = replay(Deployment(failed_deliveries="none", max_retry_attempts=0, fault_rate=1.0))
    state.enqueue(specs=[TaskSpec("job", "1", {"v": 0}, "a", 1000.0)], batch=False, send_fault=False)
    state.time_passes(seconds=1000.0)
    state.time_passes(seconds=1000.0)
    check_invariants(state)  # reverted: ... is lost without a trace: ... dropped ['InternalServerError']
    assert not any(r.scheduled for r in state.requested)  # refused, loudly


def test_regression_a_fifo_batch_schedules_nothing_of_a_group_after_its_failed_send() -> None:
    """Defect 6: a FIFO batch's failed send blocked the rest of its group for sends only."""
    state = replay(Deployment(fifo=True, fault_rate=0.0))
    state.enqueue(
        specs=[TaskSpec("job", None, {"v": 0}, "a", None), TaskSpec("job", None, {"v": 1}, "a", 125.5)],
        batch=True,
        send_fault=True,
    )
    check_invariants(state)  # reverted: FIFO group 'a': a later task was enqueued after an earlier one failed


@pytest.mark.parametrize("queue_arn_given", [True, False])
def test_regression_a_fifo_queue_without_content_based_deduplication_is_refused_before_scheduling(
    queue_arn_given: bool,
) -> None:
    """Defect 7: given queue_arn, the producer skipped the check, and every schedule failed at its time."""
    state = replay(
        Deployment(fifo=True, content_based_deduplication=False, queue_arn_given=queue_arn_given, fault_rate=0.0)
    )
    state.enqueue(specs=[TaskSpec("job", "1", {"v": 0}, "a", 125.5)], batch=False, send_fault=False)
    state.time_passes(seconds=300.0)
    check_invariants(
        state
    )  # reverted: ... accepted, yet its delivery was refused by the queue: ['InvalidParameterValue']
    assert not any(r.scheduled for r in state.requested)


def test_regression_a_schedule_is_a_whole_minute_never_before_its_task() -> None:
    """Defect 8, precision: at(T) with T not a whole minute ran up to 59 s before T."""
    state = replay(Deployment(fifo=True, fault_rate=0.0), seed=PRECISION_SEED)
    # Due 59 s into its minute (the clock starts 37 s into one): the Scheduler may run it any time in that minute.
    state.enqueue(specs=[TaskSpec("job", "1", {"v": 0}, "a", 82.0)], batch=False, send_fault=False)
    state.time_passes(seconds=300.0)
    check_invariants(state)  # reverted: task ... arrived at ... (N s early)
    assert state.scheduler.fates


def test_regression_a_schedule_is_never_already_past_when_it_reaches_the_scheduler() -> None:
    """Defect 8, clock margin: a FIFO delay of seconds, from a producer whose clock is 20 s behind, reached
    the Scheduler as an at() already past."""
    state = replay(Deployment(fifo=True, producer_clock_skew=-20.0, create_latency=5.0, fault_rate=0.0))
    for _ in range(3):
        state.enqueue(specs=[TaskSpec("job", None, {"v": 0}, "a", 1.0)], batch=False, send_fault=False)
        state.time_passes(seconds=15.0)
    check_invariants(state)  # reverted: the producer sent at() expressions already past


def test_regression_a_cancel_that_succeeds_means_the_task_does_not_run() -> None:
    """Defect 8, cancel: a producer whose clock is 20 s behind cancelled a schedule that had fired and was
    being delivered; the delete succeeded and the task still arrived."""
    state = replay(Deployment(fifo=True, producer_clock_skew=-20.0, fault_rate=0.0), seed=CANCEL_RACE_SEED)
    state.enqueue(specs=[TaskSpec("report", "1", {"v": 0}, "a", 29.0)], batch=False, send_fault=False)
    state.cancel(index=0, ahead=-5.0)
    state.time_passes(seconds=120.0)
    check_invariants(state)  # reverted: task ... was cancelled (schedule ...), yet it arrived


# Seeds of the Scheduler model's draws (when in its minute a schedule runs, how long its delivery takes) under
# which the replays above failed with their fix reverted: found by trying seeds 0, 1, 2... in turn.
PRECISION_SEED = 1  # the schedule runs early in its minute, and its delivery is quick
CANCEL_RACE_SEED = 31  # the schedule runs in the first 5 s of its minute, and its delivery takes 8-20 s


def test_regression_the_last_schedules_of_a_long_batch_are_not_already_past_when_they_arrive() -> None:
    """Found by this model (bounded profile): enqueue_batch computed every schedule's time from the clock at the
    batch's start, and created the schedules one by one. Four CreateSchedule calls of 5 s each, from a producer
    whose clock is 20 s behind, used up the 30 s margin: the last at() arrived at its own time."""
    state = replay(Deployment(fifo=True, producer_clock_skew=-20.0, create_latency=5.0, fault_rate=0.0))
    specs = [TaskSpec("job", None, {"v": n}, "a", 1.0) for n in range(4)]
    for _ in range(4):
        state.enqueue(specs=specs, batch=True, send_fault=False)
        state.time_passes(seconds=15.0)
    check_invariants(state)
    assert sum(r.scheduled for r in state.requested) == 16
