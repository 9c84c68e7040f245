"""EventBridge Scheduler's schedules, run locally: the emulator stores them but never runs them.

:class:`ScheduleRunner` runs the schedules whose target is an SQS queue (the producer's one-time
tasks, the module's periodic tasks) on :class:`ScaledTime`, a clock ``speedup`` times faster than the
wall, so that a task scheduled 30 minutes out is seen running in a short demo.

A one-time schedule runs at the earliest its minute allows (:func:`earliest_run`): the Scheduler
documents 60 s precision, so locally a task that the producer scheduled too early would run early.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from taskqueue.operations.queue_attributes import queue_url_of
from taskqueue.schedule_dead_letters import ScheduleFailure
from taskqueue.schedules import parse_at
from taskqueue_local.infrastructure.background_loop import BackgroundLoop
from taskqueue_local.infrastructure.recurrence import next_occurrence

log = logging.getLogger(__name__)


class ScaledTime:
    """A schedule's own clock: from its anchor (when it was created), ``speedup`` times faster than the wall.

    At 120x, a task scheduled 30 minutes after its schedule was created comes due 15 s later; a
    rate(1 minute) schedule runs every 0.5 s. Each schedule's clock starts at its own creation, so a
    task scheduled late in a long run is as far ahead of it as asked.
    """

    def __init__(self, speedup: float, wall: Callable[[], float] = time.time) -> None:
        if speedup <= 0:
            raise ValueError(f"speedup={speedup!r} must be positive")
        self.speedup = speedup
        self.wall = wall

    def now(self, anchor: datetime, wall: float | None = None) -> datetime:
        """The time on the clock of a schedule created at ``anchor``, now (or at wall-clock time ``wall``)."""
        return anchor + timedelta(seconds=((self.wall() if wall is None else wall) - anchor.timestamp()) * self.speedup)

    def wall_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of schedule time take on the wall."""
        return seconds / self.speedup


# SendMessage errors no retry mends: the Scheduler sends these to the dead-letter queue at once.
_PERMANENT_ERRORS = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidParameterValue",
        "InvalidMessageContents",
        "KMS.DisabledException",
        "KMS.NotFoundException",
        "KMS.InvalidStateException",
        "KMS.AccessDeniedException",
    }
)
_INTERNAL_ERROR = ("AWS.Scheduler.InternalServerError", "Unexpected error occurred while processing the request")
_RETRY_BACKOFF_SECONDS = (1, 2, 4, 8, 16, 32, 60)  # schedule time between retries


def earliest_run(expression: str, timezone: str | None, after: datetime, anchor: datetime) -> datetime | None:
    """The next run after ``after`` as this runner makes it (``after`` itself for an at() whose minute
    has begun); None when there is none.

    An ``at(T)`` runs at the start of T's minute (or at ``after``, when that is later), the earliest
    that the Scheduler's 60 s precision allows; an ``at(T)`` already past at ``after`` never runs (the
    Scheduler does not document what it does with one). Recurring schedules run on their expression.
    """
    due = parse_at(expression, timezone)
    if due is None:
        return next_occurrence(expression, timezone, after, anchor)
    if due <= after:
        return None
    start_of_minute = due.replace(second=0, microsecond=0)  # due is UTC: every zone's minutes start there too
    return max(start_of_minute, after)


@dataclass
class _Tracked:
    """A schedule as the runner last read it, and its next run on its own clock."""

    detail: dict[str, Any]
    anchor: datetime
    next_run: datetime | None

    @property
    def arn(self) -> str:
        return str(self.detail["Arn"])

    @property
    def one_time(self) -> bool:
        return parse_at(self.detail["ScheduleExpression"], self.detail.get("ScheduleExpressionTimezone")) is not None


@dataclass
class _Delivery:
    schedule: _Tracked
    scheduled_time: datetime
    retries: int = 0
    retry_at: float = 0.0  # wall clock


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScheduleRunner(BackgroundLoop):
    """Runs the emulator's EventBridge Scheduler schedules whose target is an SQS queue (moto stores, never runs them).

    Every ``poll_seconds`` it reads the schedules back (new, changed, deleted), and sends each due
    run's input, with the Scheduler's context keywords filled in, to the target queue (with the
    target's MessageGroupId). DISABLED schedules do not run. A one-time schedule runs once and, with
    ActionAfterCompletion=DELETE, is deleted. A send that fails is retried as the target's RetryPolicy
    allows (a permanent error is not), then goes to the target's DeadLetterConfig queue with the
    Scheduler's attributes (:mod:`taskqueue.schedule_dead_letters`). Time runs on :class:`ScaledTime`.
    """

    def __init__(self, scheduler: Any, sqs: Any, speedup: float = 1.0, poll_seconds: float = 0.2) -> None:
        self.scheduler = scheduler
        self.sqs = sqs
        self.time = ScaledTime(speedup)
        self.poll_seconds = poll_seconds
        self.started = self.time.wall()
        self._tracked: dict[str, _Tracked] = {}
        self._retries: list[_Delivery] = []
        super().__init__("schedule-runner")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the emulator going away at shutdown, say: keep running until stopped
                log.exception("schedule runner: tick failed")
            self._stop.wait(self.poll_seconds)

    def tick(self) -> None:
        """Read the schedules back, then run what is due."""
        self._refresh()
        for tracked in list(self._tracked.values()):
            run = tracked.next_run
            if run is None or tracked.detail.get("State") != "ENABLED" or run > self.time.now(tracked.anchor):
                continue
            expression, timezone = (
                tracked.detail["ScheduleExpression"],
                tracked.detail.get("ScheduleExpressionTimezone"),
            )
            # A one-time schedule runs once, even though its at() may lie after the start of its minute.
            tracked.next_run = None if tracked.one_time else next_occurrence(expression, timezone, run, tracked.anchor)
            self._attempt(_Delivery(tracked, run))
        wall = time.time()
        due = [delivery for delivery in self._retries if delivery.retry_at <= wall]
        self._retries = [delivery for delivery in self._retries if delivery.retry_at > wall]
        for delivery in due:
            if delivery.schedule.arn in self._tracked:  # a schedule deleted meanwhile takes its retries along
                self._attempt(delivery)

    # -- reading the schedules back -------------------------------------------------------------

    def _refresh(self) -> None:
        listed: dict[str, dict[str, Any]] = {}
        for page in self.scheduler.get_paginator("list_schedules").paginate():
            listed.update((summary["Arn"], summary) for summary in page.get("Schedules", []))
        for arn in set(self._tracked) - set(listed):
            del self._tracked[arn]
        for arn, summary in listed.items():
            known = self._tracked.get(arn)
            if known is not None and known.detail.get("LastModificationDate") == summary.get("LastModificationDate"):
                continue
            try:
                detail = self.scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
            except self.scheduler.exceptions.ResourceNotFoundException:
                continue
            if not str(detail.get("Target", {}).get("Arn", "")).startswith("arn:aws:sqs:"):
                continue  # only SQS targets run here
            self._track(detail, known)

    def _track(self, detail: dict[str, Any], known: _Tracked | None) -> None:
        anchor = detail["CreationDate"].astimezone(UTC)
        expression, timezone = detail["ScheduleExpression"], detail.get("ScheduleExpressionTimezone")
        # A new schedule runs first after its creation, a changed one after now on its clock. A recurring
        # schedule created before the runner started skips the runs its clock passed meanwhile: nothing
        # ran them, and sending them all at once would be no schedule at all. A one-time one is due.
        after = anchor - timedelta(microseconds=1) if known is None else self.time.now(anchor)
        try:
            one_time = parse_at(expression, timezone)
            if known is None and one_time is None:
                after = max(after, self.time.now(anchor, self.started))
            next_run = earliest_run(expression, timezone, after, anchor)
            if next_run is None and one_time is not None and known is None:
                log.warning(
                    "schedule %s: %s was already past when the schedule was created; EventBridge Scheduler does "
                    "not document what it does with such a schedule, and this runner does not run it",
                    detail["Arn"],
                    expression,
                )
        except ValueError as error:
            log.warning("schedule %s: %s; it will not run", detail["Arn"], error)
            next_run = None
        tracked = _Tracked(detail, anchor, next_run)
        self._tracked[tracked.arn] = tracked
        if next_run is not None:
            ahead = (next_run - self.time.now(anchor)).total_seconds()
            log.info(
                "schedule %s/%s %s (%s): next run %s, %.0f s ahead on its clock, in %.1f s at %gx",
                detail["GroupName"],
                detail["Name"],
                expression,
                timezone or "UTC",
                next_run.isoformat(),
                ahead,
                max(0.0, self.time.wall_seconds(ahead)),
                self.time.speedup,
            )

    # -- delivering ------------------------------------------------------------------------------

    def _attempt(self, delivery: _Delivery) -> None:
        target = delivery.schedule.detail["Target"]
        body = self._input(delivery)
        try:
            url = queue_url_of(self.sqs, target["Arn"])
            arguments: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
            if group := target.get("SqsParameters", {}).get("MessageGroupId"):
                arguments["MessageGroupId"] = group
            self.sqs.send_message(**arguments)
        except ClientError as error:
            self._failed(
                delivery, body, (error.response["Error"].get("Code", ""), error.response["Error"].get("Message", ""))
            )
            return
        except (BotoCoreError, OSError, ValueError) as error:
            log.warning("schedule %s: %s", delivery.schedule.arn, error)
            self._failed(delivery, body, _INTERNAL_ERROR)
            return
        log.info("schedule %s ran for %s", delivery.schedule.arn, delivery.scheduled_time.isoformat())
        self._complete(delivery)

    def _input(self, delivery: _Delivery) -> str:
        text = str(delivery.schedule.detail["Target"].get("Input", ""))
        keywords = {
            "schedule-arn": delivery.schedule.arn,
            "scheduled-time": _iso_utc(delivery.scheduled_time),
            "execution-id": uuid.uuid4().hex[:16],
            "attempt-number": str(delivery.retries + 1),
        }
        for keyword, value in keywords.items():
            text = text.replace(f"<aws.scheduler.{keyword}>", value)
        return text

    def _failed(self, delivery: _Delivery, body: str, error: tuple[str, str]) -> None:
        code, message = error
        policy = delivery.schedule.detail["Target"].get("RetryPolicy", {})
        age = (self.time.now(delivery.schedule.anchor) - delivery.scheduled_time).total_seconds()
        if code in _PERMANENT_ERRORS:
            condition = None
        elif delivery.retries >= int(policy.get("MaximumRetryAttempts", 185)):
            condition = "MaximumRetryAttempts"
        elif age >= int(policy.get("MaximumEventAgeInSeconds", 86400)):
            condition = "MaximumEventAgeInSeconds"
        else:
            backoff = _RETRY_BACKOFF_SECONDS[min(delivery.retries, len(_RETRY_BACKOFF_SECONDS) - 1)]
            delivery.retries += 1
            delivery.retry_at = time.time() + self.time.wall_seconds(backoff)
            self._retries.append(delivery)
            log.info("schedule %s: %s (%s); retry %d", delivery.schedule.arn, code, message, delivery.retries)
            return
        self._dead_letter(delivery, body, code, message, condition)
        self._complete(delivery)

    def _dead_letter(self, delivery: _Delivery, body: str, code: str, message: str, condition: str | None) -> None:
        target = delivery.schedule.detail["Target"]
        dead_letter_arn = target.get("DeadLetterConfig", {}).get("Arn")
        if not dead_letter_arn:
            log.warning(
                "schedule %s: %s: %s; no dead-letter queue, the run is dropped", delivery.schedule.arn, code, message
            )
            return
        failure = ScheduleFailure(
            schedule_arn=delivery.schedule.arn,
            target_arn=str(target["Arn"]),
            scheduled_time=_iso_utc(delivery.scheduled_time),
            error_code=code,
            error_message=message,
            exhausted_retry_condition=condition,
            retry_attempts=delivery.retries,
            execution_id=uuid.uuid4().hex[:16],
        )
        try:
            self.sqs.send_message(
                QueueUrl=queue_url_of(self.sqs, dead_letter_arn),
                MessageBody=body,
                MessageAttributes=failure.message_attributes(),
            )
        except (ClientError, BotoCoreError, ValueError) as error:
            log.error(
                "schedule %s: the dead letter could not be sent to %s: %s",
                delivery.schedule.arn,
                dead_letter_arn,
                error,
            )
            return
        log.info("schedule %s: %s: %s; sent to its dead-letter queue", delivery.schedule.arn, code, message)

    def _complete(self, delivery: _Delivery) -> None:
        schedule = delivery.schedule
        if not schedule.one_time or schedule.detail.get("ActionAfterCompletion") != "DELETE":
            return
        with contextlib.suppress(self.scheduler.exceptions.ResourceNotFoundException):  # deleted meanwhile
            self.scheduler.delete_schedule(Name=schedule.detail["Name"], GroupName=schedule.detail["GroupName"])
        self._tracked.pop(schedule.arn, None)
