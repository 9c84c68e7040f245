"""Tasks due later than SQS can delay them: one-time EventBridge Scheduler schedules.

Each such task is one ``at()`` schedule in the module's schedule group whose SQS target sends the task
message straight to the queue at its due time (UTC, no flexible window), then deletes itself
(``ActionAfterCompletion=DELETE``). A delivery that keeps failing ends in the schedule's dead-letter
queue, with the Scheduler's own attributes (:mod:`taskqueue.schedule_dead_letters`); scheduling without
one is refused unless ``drop_failed_deliveries`` says so.

The Scheduler runs an ``at()`` schedule within the minute of its time (60 s precision), so the time
of a schedule is its task's due time rounded up to a whole minute, and at least
:data:`SCHEDULER_CLOCK_MARGIN_SECONDS` ahead, so that it is never run early and never reaches the
Scheduler already past (what the Scheduler does with a past ``at()`` is not documented).

On a FIFO queue the Scheduler sets no deduplication id (its SQS target takes a message group only),
so the queue deduplicates by content: the input carries the schedule's name, so that two schedules
never send the same content, while the Scheduler's retries of one schedule still do.

A schedule's name is its handle. For a task with an ``id`` it is derived from the task's identity,
(task name, id), so the same task cannot be pending twice: a second CreateSchedule fails with
:class:`AlreadyScheduled`. A task without an id gets a random name.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError

from taskqueue.errors import MalformedMessage
from taskqueue.limits import (
    SCHEDULER_MAX_EVENT_AGE_SECONDS,
    SCHEDULER_MAX_NAME_LENGTH,
    SCHEDULER_MAX_RETRY_ATTEMPTS,
    SCHEDULER_MIN_EVENT_AGE_SECONDS,
    SCHEDULER_NAME_CHARACTERS,
    SCHEDULER_PRECISION_SECONDS,
)
from taskqueue.message import TaskMessage, parse_body, task_identity_digest

# Where the CLI (and anything else that wants to) finds the scheduling settings.
SCHEDULE_GROUP_ENV = "TASKQUEUE_SCHEDULE_GROUP"
SCHEDULER_ROLE_ARN_ENV = "TASKQUEUE_SCHEDULER_ROLE_ARN"
SCHEDULE_DEAD_LETTER_ARN_ENV = "TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN"

_NAME = re.compile(f"^[{SCHEDULER_NAME_CHARACTERS}]{{1,{SCHEDULER_MAX_NAME_LENGTH}}}$")
_NOT_IN_NAME = re.compile(f"[^{SCHEDULER_NAME_CHARACTERS}]")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
# Scheduler takes only standard queues as a dead-letter queue: no '.' (so no .fifo) in the name.
_STANDARD_QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]+$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")

# How far the producer's clock may be from the Scheduler's, plus a CreateSchedule's way there: a
# schedule is created at least this far ahead of its time, and not cancelled once this close to it.
SCHEDULER_CLOCK_MARGIN_SECONDS = 30

# Name = <task name, made name-safe, at most this long> "." <32 hex digits>: within the 64 allowed.
_TASK_PART_LENGTH = 30
_UNIQUE_PART_LENGTH = 32


class AlreadyScheduled(ValueError):
    """A schedule of this name, so the same (task, id), is already pending."""

    def __init__(self, name: str, task: str, task_id: str | None) -> None:
        self.name = name
        super().__init__(
            f"task {task!r} with id {task_id!r} is already scheduled (schedule {name!r}): cancel it first "
            "to schedule it again"
        )


class NotScheduled(LookupError):
    """There is no pending one-time schedule to cancel."""


@dataclass(frozen=True)
class SchedulingConfig:
    """What the producer needs from the Terraform module to schedule tasks (its outputs of the same names)."""

    group_name: str  # schedule_group_name
    # scheduler_role_arn: may send to the queue and the dead-letter queue. Only creating schedules needs it.
    role_arn: str | None = None
    dead_letter_arn: str | None = None  # schedule_dead_letter_queue_arn: a standard queue
    max_event_age_seconds: int = SCHEDULER_MAX_EVENT_AGE_SECONDS  # how long the Scheduler retries a failed send
    max_retry_attempts: int = SCHEDULER_MAX_RETRY_ATTEMPTS
    # Without a dead-letter queue a delivery that fails leaves no trace: scheduling so must be asked for.
    drop_failed_deliveries: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.group_name, str) or not _NAME.match(self.group_name):
            raise ValueError(
                f"group_name={self.group_name!r} must be 1-{SCHEDULER_MAX_NAME_LENGTH} letters, digits, '-', '_' or '.'"
            )
        if self.role_arn is not None and (not isinstance(self.role_arn, str) or not _ROLE_ARN.match(self.role_arn)):
            raise ValueError(f"role_arn={self.role_arn!r} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        if self.dead_letter_arn is not None and not _STANDARD_QUEUE_ARN.match(self.dead_letter_arn):
            raise ValueError(
                f"dead_letter_arn={self.dead_letter_arn!r} must be the ARN of a standard SQS queue: "
                "EventBridge Scheduler takes no FIFO queue as a dead-letter queue"
            )
        age = self.max_event_age_seconds
        if isinstance(age, bool) or not isinstance(age, int):
            raise ValueError(f"max_event_age_seconds={age!r} must be an int")
        if not SCHEDULER_MIN_EVENT_AGE_SECONDS <= age <= SCHEDULER_MAX_EVENT_AGE_SECONDS:
            raise ValueError(
                f"max_event_age_seconds={age!r} must be "
                f"{SCHEDULER_MIN_EVENT_AGE_SECONDS}-{SCHEDULER_MAX_EVENT_AGE_SECONDS}"
            )
        attempts = self.max_retry_attempts
        if (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 0 <= attempts <= SCHEDULER_MAX_RETRY_ATTEMPTS
        ):
            raise ValueError(f"max_retry_attempts={attempts!r} must be an int, 0-{SCHEDULER_MAX_RETRY_ATTEMPTS}")
        if not isinstance(self.drop_failed_deliveries, bool):
            raise ValueError(f"drop_failed_deliveries={self.drop_failed_deliveries!r} must be a bool")
        if self.drop_failed_deliveries and self.dead_letter_arn is not None:
            raise ValueError(
                f"dead_letter_arn={self.dead_letter_arn!r} and drop_failed_deliveries=True: "
                "give dead_letter_arn or drop_failed_deliveries=True, not both"
            )

    def check_failures_have_a_place(self) -> None:
        """Refuses to create a schedule whose failed deliveries would leave no trace."""
        if self.dead_letter_arn is None and not self.drop_failed_deliveries:
            raise ValueError(
                f"scheduling has no dead_letter_arn (${SCHEDULE_DEAD_LETTER_ARN_ENV}, the module's "
                "schedule_dead_letter_queue_arn output): a delivery the Scheduler cannot make would be lost "
                "without a trace; set it, or pass drop_failed_deliveries=True to SchedulingConfig to accept that"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SchedulingConfig | None:
        """From $TASKQUEUE_SCHEDULE_GROUP, $TASKQUEUE_SCHEDULER_ROLE_ARN and $TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN;
        None when no group is set (listing and cancelling need the group only)."""
        group = environ.get(SCHEDULE_GROUP_ENV)
        if not group:
            if environ.get(SCHEDULER_ROLE_ARN_ENV):
                raise ValueError(f"${SCHEDULER_ROLE_ARN_ENV} is set but ${SCHEDULE_GROUP_ENV} is not: set both")
            return None
        return cls(
            group, environ.get(SCHEDULER_ROLE_ARN_ENV) or None, environ.get(SCHEDULE_DEAD_LETTER_ARN_ENV) or None
        )


class ScheduleName(str):
    """The handle of a scheduled task: the name of its one-time schedule (a str), when it is due, and the task
    it sends (its name and id: what its status is kept under)."""

    due: datetime
    task: str | None
    task_id: str | None

    def __new__(cls, name: str, due: datetime, task: str | None = None, task_id: str | None = None) -> ScheduleName:
        handle = super().__new__(cls, name)
        handle.due = due
        handle.task = task
        handle.task_id = task_id
        return handle


# -- names ----------------------------------------------------------------------------------------


def name_prefix(task: str) -> str:
    """The start of every schedule name of ``task``: ListSchedules' NamePrefix for its schedules."""
    return _NOT_IN_NAME.sub("-", task)[:_TASK_PART_LENGTH] + "."


def schedule_name(task: str, task_id: str | None) -> str:
    """The schedule name of a task: from its identity when it has an id, random otherwise."""
    unique = uuid.uuid4().hex if task_id is None else task_identity_digest(task, task_id)
    return name_prefix(task) + unique[:_UNIQUE_PART_LENGTH]


# -- expressions ----------------------------------------------------------------------------------


def schedule_time(due: datetime, now: datetime) -> datetime:
    """When to schedule a task due at ``due``: never before it, as the Scheduler runs it.

    The Scheduler runs at(T) anywhere within T's minute, so T is a whole minute (never before ``due``),
    and at least :data:`SCHEDULER_CLOCK_MARGIN_SECONDS` after ``now``, so that it is still ahead when
    the Scheduler receives it. The task runs at most a minute (plus the margin, for a due time that
    close) after ``due``, and the Scheduler's delivery time after that.
    """
    earliest = max(due, now + timedelta(seconds=SCHEDULER_CLOCK_MARGIN_SECONDS)).astimezone(UTC)
    minute = earliest.replace(second=0, microsecond=0)
    if minute < earliest:
        minute += timedelta(seconds=SCHEDULER_PRECISION_SECONDS)
    return minute


def at_expression(due: datetime) -> str:
    """``at(yyyy-mm-ddThh:mm:ss)`` of an aware datetime, in UTC (the schedule's time zone)."""
    return f"at({due.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


def parse_at(expression: str, timezone: str | None = "UTC") -> datetime | None:
    """The instant of an ``at()`` expression in its time zone; None for a rate() or cron() expression."""
    match = _AT.match(expression.strip())
    if match is None:
        return None
    if timezone in (None, "UTC"):
        zone: tzinfo = UTC  # no time zone database needed (a Lambda image may have none)
    else:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"ScheduleExpressionTimezone={timezone!r} is not an IANA time zone") from None
    return datetime.fromisoformat(match[1]).replace(tzinfo=zone).astimezone(UTC)


def schedule_input(body: str) -> str:
    """The target Input for a task message body.

    The Scheduler replaces ``<aws.scheduler.*>`` keywords anywhere in a target's input. A body is
    ASCII JSON, where '<' can only occur inside a string, so escaping it (as \\u003c) keeps the
    payload exactly as sent.
    """
    return body.replace("<", "\\u003c")


# The field of a one-time schedule's task message that names its schedule (the worker ignores it).
SCHEDULE_FIELD = "schedule"


def one_time_schedule_input(body: str, name: str) -> str:
    """The input of the one-time schedule ``name``: the task message, with the schedule's name in it.

    On a FIFO queue the Scheduler's sends are deduplicated by their content: with the name in it,
    two schedules of the same task and payload (no id) are two messages, and a retry of one is one.
    """
    if not _NAME.match(name):
        raise ValueError(
            f"schedule name {name!r} must be 1-{SCHEDULER_MAX_NAME_LENGTH} letters, digits, '-', '_' or '.'"
        )
    # A name is plain JSON string content; the body is a JSON object.
    return f'{schedule_input(body)[:-1]},"{SCHEDULE_FIELD}":"{name}"}}'


# -- the schedules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRequest:
    """A checked one-time schedule, ready to create."""

    name: str
    task: str
    task_id: str | None
    due: datetime
    input: str
    group_id: str | None


@dataclass(frozen=True)
class ScheduledTask:
    """A schedule of the group, read back: a pending one-time task, or a periodic one."""

    name: str
    task: str | None  # None when the schedule's input is not a task message
    task_id: str | None
    expression: str
    timezone: str
    due: datetime | None  # a one-time schedule's instant; None for rate() and cron()
    state: str
    group_id: str | None

    @property
    def periodic(self) -> bool:
        return self.due is None

    @classmethod
    def from_schedule(cls, schedule: Mapping[str, Any]) -> ScheduledTask:
        target = schedule.get("Target", {})
        try:
            message = parse_body(target.get("Input"))
            task, task_id = message.task, message.id
        except MalformedMessage:
            task, task_id = None, None
        timezone = str(schedule.get("ScheduleExpressionTimezone") or "UTC")
        return cls(
            name=str(schedule["Name"]),
            task=task,
            task_id=task_id,
            expression=str(schedule["ScheduleExpression"]),
            timezone=timezone,
            due=parse_at(str(schedule["ScheduleExpression"]), timezone),
            state=str(schedule.get("State", "ENABLED")),
            group_id=target.get("SqsParameters", {}).get("MessageGroupId"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "id": self.task_id,
            "due": self.due.isoformat() if self.due else None,
            "schedule": self.expression,
            "timezone": self.timezone,
            "state": self.state,
            "group_id": self.group_id,
        }


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class TaskSchedules:
    """The one-time schedules of one queue's tasks, in the module's schedule group."""

    def __init__(self, config: SchedulingConfig, scheduler: Any, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.scheduler = scheduler
        self.clock = clock

    def create(self, request: ScheduleRequest, queue_arn: str) -> ScheduleName:
        """Create the schedule; :class:`AlreadyScheduled` when one of that name is pending.

        Its time is checked against the clock again as it is sent: a batch's schedules are planned at its
        start and created one by one, and the calls before this one may have used up the margin.
        """
        self.config.check_failures_have_a_place()
        due = schedule_time(request.due, self.clock())
        target: dict[str, Any] = {
            "Arn": queue_arn,
            "RoleArn": self.config.role_arn,
            "Input": request.input,
            "RetryPolicy": {
                "MaximumEventAgeInSeconds": self.config.max_event_age_seconds,
                "MaximumRetryAttempts": self.config.max_retry_attempts,
            },
        }
        if self.config.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.config.dead_letter_arn}
        if request.group_id is not None:
            target["SqsParameters"] = {"MessageGroupId": request.group_id}
        description = f"taskqueue task {request.task!r}" + (f" id {request.task_id!r}" if request.task_id else "")
        try:
            self.scheduler.create_schedule(
                Name=request.name,
                GroupName=self.config.group_name,
                ScheduleExpression=at_expression(due),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Description=description[:512],
                Target=target,
            )
        except ClientError as error:
            if _error_code(error) == "ConflictException":
                raise AlreadyScheduled(request.name, request.task, request.task_id) from None
            raise
        return ScheduleName(request.name, due, request.task, request.task_id)

    def cancel(self, name: str) -> ScheduledTask:
        """Delete a pending one-time schedule; returns what it was.

        :class:`NotScheduled` when there is none: it fired (one-time schedules delete themselves after
        firing), was cancelled, or never existed; or it is due already and is being delivered; or it is
        due within :data:`SCHEDULER_CLOCK_MARGIN_SECONDS`, where the delete could race its run: then it
        is left to run, so that a successful cancel always means the task does not run.
        """
        try:
            schedule = ScheduledTask.from_schedule(
                self.scheduler.get_schedule(Name=name, GroupName=self.config.group_name)
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            raise NotScheduled(self._gone(name)) from None
        if schedule.due is None:
            raise ValueError(
                f"schedule {name!r} is periodic ({schedule.expression}): it belongs to the Terraform module's "
                "periodic_tasks; disable it there (enabled = false)"
            )
        now = self.clock()
        if schedule.due <= now:
            raise NotScheduled(
                f"schedule {name!r} was due at {schedule.due.isoformat()}: it has fired or is being delivered "
                "(the Scheduler runs it within the minute), so it was not cancelled"
            )
        if schedule.due - now < timedelta(seconds=SCHEDULER_CLOCK_MARGIN_SECONDS):
            raise NotScheduled(
                f"schedule {name!r} is due at {schedule.due.isoformat()}, too close to its time "
                f"(within {SCHEDULER_CLOCK_MARGIN_SECONDS} s) to be sure a delete comes before its run: it was "
                "not cancelled, and it will run"
            )
        try:
            self.scheduler.delete_schedule(Name=name, GroupName=self.config.group_name)
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            raise NotScheduled(self._gone(name)) from None
        return schedule

    def pending(self, task: str | None = None) -> Iterator[ScheduledTask]:
        """Every schedule of the group (of ``task`` only, when given), read one by one.

        ListSchedules gives names only, so each is read with GetSchedule: one call per schedule.
        """
        arguments: dict[str, Any] = {"GroupName": self.config.group_name}
        if task is not None:
            arguments["NamePrefix"] = name_prefix(task)
        for page in self.scheduler.get_paginator("list_schedules").paginate(**arguments):
            for summary in page.get("Schedules", []):
                try:
                    detail = self.scheduler.get_schedule(Name=summary["Name"], GroupName=self.config.group_name)
                except ClientError as error:
                    if _error_code(error) == "ResourceNotFoundException":
                        continue  # fired (and deleted itself) since the listing
                    raise
                found = ScheduledTask.from_schedule(detail)
                # Name prefixes are cut to fit: another task's schedules may share one.
                if task is None or found.task == task:
                    yield found

    def _gone(self, name: str) -> str:
        return (
            f"no pending schedule {name!r} in group {self.config.group_name!r}: it has fired (a one-time "
            "schedule deletes itself after firing), was cancelled, or never existed"
        )


# -- periodic tasks -------------------------------------------------------------------------------

# The Scheduler puts the time of each run in place of this keyword.
SCHEDULED_TIME_KEYWORD = "<aws.scheduler.scheduled-time>"


def periodic_task_input(schedule: str, task: str, payload: Any) -> str:
    """The input of a periodic schedule: the task message, with id ``<schedule>@<time of the run>``.

    Each run is its own task, and the retries of one run are the same task: FIFO content-based
    deduplication and the worker's idempotency records see a run once. The Terraform module's
    ``periodic_tasks`` build the same text (``tests/test_terraform.py`` holds the two equal).
    """
    if not _NAME.match(schedule):
        raise ValueError(
            f"schedule={schedule!r} must be 1-{SCHEDULER_MAX_NAME_LENGTH} letters, digits, '-', '_' or '.'"
        )
    body = schedule_input(TaskMessage(task, payload).to_body())
    # The keyword goes in after escaping (which would disarm it); a name is plain JSON string content.
    return f'{body[:-1]},"id":"{schedule}@{SCHEDULED_TIME_KEYWORD}"}}'


def periodic_run(task_id: str | None) -> tuple[str, str] | None:
    """(schedule name, the run's scheduled time) of a periodic task's message id; None for any other id."""
    name, separator, scheduled_time = (task_id or "").partition("@")
    if not separator or not scheduled_time or not _NAME.match(name):
        return None
    return name, scheduled_time
