"""Enqueueing tasks: a small client over SQS SendMessage / SendMessageBatch, and EventBridge Scheduler.

Every message is checked before anything is sent: the task name, that the payload is JSON, the
delay or due time, FIFO group and deduplication ids, attribute names, and the size against the
queue's maximum (less the room a dead letter's reason needs). A batch is sent in chunks of at most
10 messages and 1 MiB, and entries that SQS fails on its side are retried; any that still fail raise
:class:`EnqueueError`, which lists them, so none is dropped unnoticed.

A task due within SQS's 900 s is sent with DelaySeconds (standard queues). One due later, or any
delayed task of a FIFO queue (which takes no per-message delay), becomes a one-time schedule
(:mod:`taskqueue.schedules`) that sends the same message at its due time rounded up to the
Scheduler's whole minute; its handle is the schedule's name, a
:class:`~taskqueue.schedules.ScheduleName`, whose ``due`` is that time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.dead_letter_queue import DEAD_LETTER_ROOM_BYTES, is_reserved_attribute
from taskqueue.due_time import DueTime, due_time
from taskqueue.errors import MalformedMessage
from taskqueue.limits import (
    SCHEDULER_MAX_INPUT_BYTES,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_MESSAGE_ATTRIBUTES,
    SQS_MAX_MESSAGE_BYTES,
    SQS_MIN_MAX_MESSAGE_BYTES,
)
from taskqueue.message import TaskMessage, fifo_deduplication_id, validate_fields
from taskqueue.priorities import QUEUE_URLS_ENV, PriorityQueue, queue_url_for_priority
from taskqueue.producer_status import ProducerStatus, TaskHandle, handles, key_of
from taskqueue.schedules import (
    SCHEDULE_GROUP_ENV,
    SCHEDULER_ROLE_ARN_ENV,
    AlreadyScheduled,
    ScheduledTask,
    ScheduleName,
    ScheduleRequest,
    SchedulingConfig,
    TaskSchedules,
    one_time_schedule_input,
    schedule_name,
    schedule_time,
)
from taskqueue.sqs_batch import BatchResult, call_in_batches, chunks, entry_bytes
from taskqueue.status import StatusRecord, StatusTable

# Entries SQS failed on its side (not the sender's fault) get this many more tries.
BATCH_ENTRY_RETRIES = 2

_FIFO_ID = re.compile(r"^[!-~]{1,128}$")  # alphanumerics and punctuation, up to 128 characters
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied"}
_GROUP_BLOCKED = "an earlier task of its message group was not enqueued"


@dataclass(frozen=True)
class Task:
    """A task to enqueue: now, after ``delay`` (a timedelta or seconds) or ``at`` an aware datetime."""

    name: str
    payload: Any = None
    id: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    at: datetime | None = None
    delay: timedelta | float | None = None
    # The tenant (a customer, say): the MessageGroupId that makes a standard queue an SQS fair queue.
    tenant: str | None = None
    # The priority queue to send to (the module's ``priorities``); None: the queue the producer was made for.
    priority: str | None = None


def _fields(task: Task) -> dict[str, Any]:
    """A task's fields as enqueue()'s arguments (its priority already applied)."""
    return {
        "name": task.name,
        "payload": task.payload,
        "id": task.id,
        "group_id": task.group_id,
        "deduplication_id": task.deduplication_id,
        "attributes": task.attributes,
        "at": task.at,
        "delay": task.delay,
        "tenant": task.tenant,
    }


@dataclass(frozen=True)
class NotEnqueued:
    """A task of a batch that was not sent nor scheduled: SQS's or the Scheduler's code and message."""

    task: Task
    code: str
    message: str
    sender_fault: bool


def _error_code(error: Exception) -> str:
    """AWS's error code for a ClientError (ThrottlingException...), the exception's type otherwise."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


class EnqueueError(Exception):
    """Some tasks of a batch were not enqueued; ``failed`` lists them, ``message_ids`` the others.

    ``message_ids`` holds, in the batch's order, each sent task's SQS message id or, for a scheduled
    one, its :class:`~taskqueue.schedules.ScheduleName`; None for each task in ``failed``.
    """

    def __init__(self, failed: list[NotEnqueued], message_ids: list[str | None]) -> None:
        self.failed = failed
        self.message_ids = message_ids
        first = failed[0]
        super().__init__(
            f"{len(failed)} of {len(message_ids)} tasks were not enqueued; "
            f"first: task {first.task.name!r}: {first.code}: {first.message}"
        )


class TaskQueue:
    """Producer for one queue: ``TaskQueue(url).enqueue("resize_image", {"key": "a.png"})``.

    ``scheduling`` (the Terraform module's schedule group and scheduler role) lets it schedule tasks
    beyond SQS's 900 s; ``queue_arn`` saves the GetQueueAttributes call that otherwise finds it (on a
    FIFO queue, one look-up still checks its content-based deduplication before the first schedule).

    ``queue_urls`` (the module's ``queue_urls`` output, with ``priorities``) maps each priority to its
    queue: ``enqueue(..., priority="high")`` sends there; a task with no priority goes to ``queue_url``.

    ``status`` (the module's table, when it tracks status) makes it record each task queued, scheduled or
    cancelled, for every task or only those in ``status_tasks``, and read statuses back (:meth:`status`).
    """

    def __init__(
        self,
        queue_url: str,
        *,
        sqs: Any | None = None,
        max_message_bytes: int | None = None,
        scheduling: SchedulingConfig | None = None,
        scheduler: Any | None = None,
        queue_arn: str | None = None,
        clock: Callable[[], datetime] | None = None,
        queue_urls: Mapping[str, str] | None = None,
        status: StatusTable | None = None,
        status_tasks: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(queue_url, str) or not queue_url.startswith(("https://", "http://")):
            raise ValueError(f"queue_url must be an SQS queue URL, got {queue_url!r}")
        if max_message_bytes is not None and not 1 <= max_message_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes={max_message_bytes!r} must be between 1 and {SQS_MAX_MESSAGE_BYTES}")
        if sqs is None:
            import boto3  # noqa: PLC0415 - only needed when no client is given

            sqs = boto3.client("sqs")
        self.queue_url = queue_url
        self.sqs: Any = sqs
        self.fifo = queue_url.endswith(".fifo")
        self.scheduling = scheduling
        self.clock = clock or (lambda: datetime.now(UTC))
        self._max_message_bytes = max_message_bytes
        self._scheduler = scheduler
        self._queue_arn = queue_arn
        self._fifo_target_checked = False
        self.queue_urls = dict(queue_urls or {})
        for priority, url in self.queue_urls.items():
            PriorityQueue(priority, url)  # checks the name and the URL, with a clear error
        self._by_priority: dict[str, TaskQueue] = {}
        self._status = (
            None
            if status is None
            else ProducerStatus(status, None if status_tasks is None else frozenset(status_tasks))
        )

    # -- public API ---------------------------------------------------------------------------

    def enqueue(
        self,
        name: str,
        payload: Any = None,
        *,
        id: str | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        at: datetime | None = None,
        delay: timedelta | float | None = None,
        tenant: str | None = None,
        priority: str | None = None,
    ) -> str:
        """Send one task; returns its SQS message id, or for a scheduled task its ScheduleName (a str).

        ``tenant`` names who the task is for (a customer id): on a standard queue it is the message's
        MessageGroupId, so SQS's fair queueing keeps one tenant's backlog from delaying the others'
        tasks. A FIFO queue refuses it: there the message group orders tasks (``group_id``).
        """
        task = Task(name, payload, id, group_id, deduplication_id, dict(attributes or {}), at, delay, tenant)
        if priority is not None:
            return self.for_priority(priority).enqueue(**_fields(task))
        now = self.clock()
        plan = self._plan(task, "0", now)
        if isinstance(plan, ScheduleRequest):
            schedules, queue_arn = self._scheduling_target()
            scheduled = schedules.create(plan, queue_arn)
            self._record_sent([task], [scheduled], now)
            return scheduled
        plan.pop("Id")
        handle = TaskHandle(str(self.sqs.send_message(QueueUrl=self.queue_url, **plan)["MessageId"]), name, id)
        self._record_sent([task], [handle], now)
        return handle

    def enqueue_batch(self, tasks: Iterable[Task]) -> list[str | None]:
        """Send many tasks in as few calls as the limits allow; returns message ids in order.

        Every task is checked before the first call. Scheduled tasks are created one by one (the
        Scheduler has no batch call); their place in the result holds their ScheduleName. On a
        standard queue the SQS sends come first. On a FIFO queue the tasks go in their order, and
        once a task of a message group fails, the group's later tasks, sent or scheduled, are not
        (they are reported failed, ``GroupBlocked``), so what was enqueued keeps the group's order.
        """
        tasks = list(tasks)
        if any(task.priority is not None for task in tasks):
            return self._enqueue_by_priority(tasks)
        now = self.clock()
        plans = [self._plan(task, str(index), now) for index, task in enumerate(tasks)]
        # Anything scheduling needs (its settings, the queue's ARN and checks) is resolved before the first send.
        target = self._scheduling_target() if any(isinstance(plan, ScheduleRequest) for plan in plans) else None
        message_ids: list[str | None] = [None] * len(tasks)
        failed: dict[int, NotEnqueued] = {}
        blocked_groups: set[str] = set()
        try:
            for step in self._steps(plans):
                if isinstance(step, list):
                    self._send_entries(tasks, step, message_ids, failed, blocked_groups)
                else:
                    self._create_schedule(tasks, step, target, message_ids, failed, blocked_groups)
        except Exception as error:
            # Report what was sent and what was not, rather than lose track of both.
            for index, task in enumerate(tasks):
                if message_ids[index] is None and index not in failed:
                    failed[index] = NotEnqueued(task, _error_code(error), str(error), False)
            message_ids = handles(message_ids, tasks)
            self._record_sent(tasks, message_ids, now)
            raise EnqueueError(list(failed.values()), message_ids) from error
        message_ids = handles(message_ids, tasks)
        self._record_sent(tasks, message_ids, now)
        if failed:
            raise EnqueueError(list(failed.values()), message_ids)
        return message_ids

    def for_priority(self, priority: str) -> TaskQueue:
        """The producer of one priority's queue (same clients and scheduling), made once."""
        if not self.queue_urls:
            raise ValueError(
                f"priority={priority!r}: this producer knows no priority queues: pass queue_urls= (the module's "
                f"queue_urls output; the CLI reads ${QUEUE_URLS_ENV})"
            )
        url = queue_url_for_priority(self.queue_urls, priority)
        if url == self.queue_url:
            return self
        if priority not in self._by_priority:
            self._by_priority[priority] = TaskQueue(
                url,
                sqs=self.sqs,
                max_message_bytes=self._max_message_bytes,
                scheduling=self.scheduling,
                scheduler=self._scheduler,
                clock=self.clock,
            )
            self._by_priority[priority]._status = self._status  # one status table for every priority
        return self._by_priority[priority]

    def _enqueue_by_priority(self, tasks: list[Task]) -> list[str | None]:
        """A batch over several priority queues: every task is checked first, then each queue's share is sent."""
        now = self.clock()
        targets = [self if task.priority is None else self.for_priority(task.priority) for task in tasks]
        for index, (task, target) in enumerate(zip(tasks, targets, strict=True)):
            target._plan(task, str(index), now)  # checks only: nothing is sent before every task passed
        message_ids: list[str | None] = [None] * len(tasks)
        failed: list[NotEnqueued] = []
        for target in dict.fromkeys(targets):  # each queue once, in the order first named
            indexes = [index for index, each in enumerate(targets) if each is target]
            share = [replace(tasks[index], priority=None) for index in indexes]
            try:
                sent = target.enqueue_batch(share)
            except EnqueueError as error:
                sent = error.message_ids
                position = {id(each): n for n, each in enumerate(share)}
                failed += [replace(each, task=tasks[indexes[position[id(each.task)]]]) for each in error.failed]
            except Exception as error:
                # Not one of this queue's share was sent; the other queues' shares still go (or went) out.
                sent = [None] * len(share)
                failed += [NotEnqueued(tasks[index], _error_code(error), str(error), False) for index in indexes]
            for index, message_id in zip(indexes, sent, strict=True):
                message_ids[index] = message_id
        if failed:
            raise EnqueueError(failed, message_ids)
        return message_ids

    def cancel(self, handle: str | tuple[str, str]) -> ScheduledTask:
        """Delete a pending scheduled task, by its handle or by (task name, id); returns what it was.

        Raises :class:`~taskqueue.schedules.NotScheduled` when nothing is pending under that name: it
        has fired, was cancelled, or never existed.
        """
        if isinstance(handle, tuple):
            task, task_id = handle
            handle = schedule_name(task, task_id)
        cancelled = self.schedules.cancel(str(handle))
        if self._status is not None:
            self._status.cancelled(cancelled.task, cancelled.task_id, self.clock())
        return cancelled

    # -- status (the module's track_status) ------------------------------------------------------

    def status(self, handle: str, task_id: str | None = None) -> StatusRecord:
        """The status of a task: ``status(handle)`` with what enqueue returned, or ``status(task, task_id)``.

        Raises :class:`~taskqueue.status.NotTracked` when the table holds none.
        """
        return self._status_reader().read(key_of(handle, task_id))

    def wait(self, handle: str, task_id: str | None = None, *, timeout: float) -> StatusRecord:
        """Poll the task's status, with backoff, until it is final (succeeded, dead_lettered, cancelled);
        TimeoutError after ``timeout`` seconds."""
        return self._status_reader().wait(key_of(handle, task_id), timeout)

    def _status_reader(self) -> ProducerStatus:
        if self._status is None:
            raise ValueError(
                "status is not configured: pass status=StatusTable(table_name) to TaskQueue (the module's "
                "status_table_name output; the CLI reads $TASKQUEUE_STATUS_TABLE)"
            )
        return self._status

    def _record_sent(self, tasks: list[Task], message_ids: list[str | None], now: datetime) -> None:
        """Each sent task's status: scheduled, or queued under its message id (after the send: never before)."""
        if self._status is None:
            return
        for task, message_id in zip(tasks, message_ids, strict=True):
            if isinstance(message_id, ScheduleName):
                self._status.scheduled(message_id, now)
            elif message_id is not None:
                self._status.queued(task.name, task.id, message_id, now)

    def scheduled(self, task: str | None = None) -> Iterator[ScheduledTask]:
        """The schedule group's pending schedules (of ``task`` only, when given), one-time and periodic."""
        return self.schedules.pending(task)

    @property
    def schedules(self) -> TaskSchedules:
        if self.scheduling is None:
            raise ValueError(
                "scheduling is not configured: pass scheduling=SchedulingConfig(group_name, role_arn, "
                f"dead_letter_arn) to TaskQueue (the CLI reads ${SCHEDULE_GROUP_ENV} and ${SCHEDULER_ROLE_ARN_ENV})"
            )
        if self._scheduler is None:
            import boto3  # noqa: PLC0415 - only producers that schedule need this client

            self._scheduler = boto3.client("scheduler")
        return TaskSchedules(self.scheduling, self._scheduler, self.clock)

    # -- checks, all before any send ----------------------------------------------------------

    def _plan(self, task: Task, entry_id: str, now: datetime) -> dict[str, Any] | ScheduleRequest:
        """The task's SendMessage entry, or the schedule that sends it later: every check, no call."""
        try:
            validate_fields(task.name, task.id)
        except MalformedMessage as error:
            raise ValueError(str(error)) from None
        # ASCII-only JSON: every character SQS refuses in a body (lone surrogates, U+FFFE...) is escaped.
        body = TaskMessage(task.name, task.payload, task.id).to_body()
        due = due_time(task.at, task.delay, now=now, task=task.name)
        tenant = self._checked_tenant(task)
        # FIFO queues take no per-message delay: any later task of theirs is scheduled.
        if due is not None and not due.immediate and (self.fifo or due.seconds_ahead > SQS_MAX_DELAY_SECONDS):
            return self._schedule_request(task, body, due, now)
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
        delay_seconds = due.seconds_ahead if due else 0
        if self.fifo:
            self._fifo_fields(task, entry)
        elif delay_seconds:
            entry["DelaySeconds"] = delay_seconds
        if tenant is not None:
            entry["MessageGroupId"] = tenant
        if task.attributes:
            entry["MessageAttributes"] = self._attributes(task)
        self._check_size(task, entry_bytes(entry))
        return entry

    def _schedule_request(self, task: Task, body: str, due: DueTime, now: datetime) -> ScheduleRequest:
        when = f"due {due.at.isoformat()}, {due.seconds_ahead} s ahead"
        if task.tenant is not None:
            # EventBridge Scheduler documents its SqsParameters.MessageGroupId for FIFO targets only:
            # sent through a schedule, the tenant could be dropped, and the task lose its fairness unseen.
            raise ValueError(
                f"task {task.name!r} ({when}) needs a schedule (more than {SQS_MAX_DELAY_SECONDS} s ahead), and "
                f"tenant={task.tenant!r} cannot be kept through one: send it with tenant= when it is due"
            )
        if self.scheduling is None or self.scheduling.role_arn is None:
            missing = "scheduling is not configured" if self.scheduling is None else "scheduling has no role_arn"
            raise ValueError(
                f"task {task.name!r} ({when}) needs a schedule (SQS delays standard queues' messages by at most "
                f"{SQS_MAX_DELAY_SECONDS} s, FIFO queues' not at all), and {missing}: pass "
                f"scheduling= to TaskQueue (the CLI reads ${SCHEDULE_GROUP_ENV} and ${SCHEDULER_ROLE_ARN_ENV})"
            )
        try:
            self.scheduling.check_failures_have_a_place()
        except ValueError as error:
            raise ValueError(f"task {task.name!r} ({when}) needs a schedule, and {error}") from None
        if task.attributes:
            raise ValueError(
                f"task {task.name!r} ({when}) is scheduled, and a schedule sends no message attributes: "
                f"attributes={dict(task.attributes)!r} would be lost"
            )
        group_id = None
        if self.fifo:
            if task.deduplication_id is not None:
                raise ValueError(
                    f"task {task.name!r} ({when}): deduplication_id={task.deduplication_id!r} cannot be kept, as "
                    "the Scheduler sets none; a scheduled FIFO task is deduplicated by its content (task, payload, "
                    "id, and its schedule's name)"
                )
            group_id = self._checked_group_id(task)
        name = schedule_name(task.name, task.id)
        input_text = one_time_schedule_input(body, name)
        size = len(input_text.encode("ascii"))
        if size > SCHEDULER_MAX_INPUT_BYTES:
            raise ValueError(
                f"task {task.name!r} is {size} bytes as a schedule's input, over EventBridge Scheduler's limit "
                f"of {SCHEDULER_MAX_INPUT_BYTES} bytes"
            )
        self._check_size(task, size)
        return ScheduleRequest(name, task.name, task.id, schedule_time(due.at, now), input_text, group_id)

    def _checked_tenant(self, task: Task) -> str | None:
        """The task's tenant, checked as SQS checks a MessageGroupId; None when it has none."""
        if task.tenant is None:
            return None
        if self.fifo:
            # A FIFO message group runs its tasks one at a time, in order: mapping tenants onto groups
            # would serialise each tenant's tasks, which fairness does not ask for.
            raise ValueError(
                f"task {task.name!r}: tenant={task.tenant!r} is for standard queues (SQS fair queues); "
                f"{self.queue_url} is a FIFO queue, where the message group orders tasks: pass group_id= instead"
            )
        if task.group_id is not None:
            raise ValueError(
                f"task {task.name!r}: tenant={task.tenant!r} and group_id={task.group_id!r} both name the "
                "MessageGroupId: on a standard queue pass tenant= only"
            )
        return self._checked_fifo_id(task, "tenant", task.tenant)

    def _checked_group_id(self, task: Task) -> str:
        if task.group_id is None:
            raise ValueError(f"task {task.name!r}: a FIFO queue needs a group_id")
        return self._checked_fifo_id(task, "group_id", task.group_id)

    @staticmethod
    def _checked_fifo_id(task: Task, label: str, value: str) -> str:
        if not isinstance(value, str) or not _FIFO_ID.match(value):
            raise ValueError(f"task {task.name!r}: {label}={value!r} must be 1-128 letters, digits or punctuation")
        return value

    def _fifo_fields(self, task: Task, entry: dict[str, Any]) -> None:
        entry["MessageGroupId"] = self._checked_group_id(task)
        # A task's identity is (name, id): another task with the same id must not be deduplicated away.
        dedup = task.deduplication_id
        if dedup is None and task.id is not None:
            dedup = fifo_deduplication_id(task.name, task.id)
        # Without an explicit id the queue's content-based deduplication applies.
        if dedup is not None:
            entry["MessageDeduplicationId"] = self._checked_fifo_id(task, "deduplication_id", dedup)

    @staticmethod
    def _attributes(task: Task) -> dict[str, Any]:
        if len(task.attributes) > SQS_MAX_MESSAGE_ATTRIBUTES:
            raise ValueError(
                f"task {task.name!r} has {len(task.attributes)} attributes; SQS allows {SQS_MAX_MESSAGE_ATTRIBUTES}"
            )
        result = {}
        for name, value in task.attributes.items():
            if is_reserved_attribute(name):
                raise ValueError(
                    f"task {task.name!r}: attribute {name!r} is reserved: names starting with 'taskqueue.' "
                    "are the attributes the worker sets on dead letters"
                )
            if not isinstance(value, str) or not value:
                raise ValueError(f"task {task.name!r}: attribute {name!r} must be a non-empty string, got {value!r}")
            result[name] = {"DataType": "String", "StringValue": value}
        return result

    def _check_size(self, task: Task, size: int) -> None:
        # Every queue takes at least 1 KiB and none more than 1 MiB: only sizes between need a look-up.
        # A dead letter carries the message plus its reason, so that room is kept free.
        if size + DEAD_LETTER_ROOM_BYTES <= SQS_MIN_MAX_MESSAGE_BYTES:
            return
        if size + DEAD_LETTER_ROOM_BYTES > SQS_MAX_MESSAGE_BYTES:
            raise ValueError(
                f"task {task.name!r} is {size} bytes, over SQS's limit of {SQS_MAX_MESSAGE_BYTES} bytes less the "
                f"{DEAD_LETTER_ROOM_BYTES} bytes kept for a dead letter's reason"
            )
        if size + DEAD_LETTER_ROOM_BYTES > self.max_message_bytes:
            raise ValueError(
                f"task {task.name!r} is {size} bytes, over the queue's maximum message size of "
                f"{self.max_message_bytes} bytes less the {DEAD_LETTER_ROOM_BYTES} bytes kept for a dead letter's reason"
            )

    @property
    def max_message_bytes(self) -> int:
        """The queue's MaximumMessageSize, looked up once unless given.

        A producer in another account is not allowed GetQueueAttributes (it would show the queue policy):
        then SQS's own limit applies here, and the queue refuses anything larger itself.
        """
        if self._max_message_bytes is None:
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["MaximumMessageSize"]
                )["Attributes"]
                self._max_message_bytes = int(attributes["MaximumMessageSize"])
            except ClientError as error:
                if _error_code(error) not in _ACCESS_DENIED:
                    raise
                self._max_message_bytes = SQS_MAX_MESSAGE_BYTES
        return self._max_message_bytes

    # -- sending ------------------------------------------------------------------------------

    def _scheduling_target(self) -> tuple[TaskSchedules, str]:
        schedules, queue_arn = self.schedules, self.queue_arn
        self._check_fifo_target()
        return schedules, queue_arn

    @property
    def queue_arn(self) -> str:
        """The queue's ARN, the schedules' target: looked up once unless given.

        On a FIFO queue the same look-up reads content-based deduplication, for :meth:`_check_fifo_target`.
        """
        if self._queue_arn is None:
            attributes = self._queue_attributes(
                ["QueueArn", "ContentBasedDeduplication"] if self.fifo else ["QueueArn"]
            )
            self._queue_arn = str(attributes["QueueArn"])
            if self.fifo:
                self._check_content_based_deduplication(attributes)
        return self._queue_arn

    def _queue_attributes(self, names: list[str]) -> dict[str, str]:
        return dict(self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"])

    def _check_fifo_target(self) -> None:
        """A FIFO queue must deduplicate by content before anything is scheduled to it, whether its ARN
        was given or looked up: the Scheduler sets no deduplication id, so every send would fail."""
        if not self.fifo or self._fifo_target_checked:
            return
        try:
            attributes = self._queue_attributes(["ContentBasedDeduplication"])
        except ClientError as error:
            if _error_code(error) not in _ACCESS_DENIED:
                raise
            raise ValueError(
                f"queue {self.queue_url}: scheduling to a FIFO queue needs content-based deduplication, and this "
                f"producer may not read it (GetQueueAttributes: {_error_code(error)}); allow "
                "sqs:GetQueueAttributes, or send the task when it is due"
            ) from None
        self._check_content_based_deduplication(attributes)

    def _check_content_based_deduplication(self, attributes: Mapping[str, str]) -> None:
        if attributes.get("ContentBasedDeduplication") != "true":
            raise ValueError(
                f"queue {self.queue_url} has content-based deduplication off: EventBridge Scheduler sets no "
                "deduplication id, so its sends to this FIFO queue would fail; turn it on "
                "(the module's content_based_deduplication = true)"
            )
        self._fifo_target_checked = True

    def _steps(
        self, plans: list[dict[str, Any] | ScheduleRequest]
    ) -> Iterator[list[dict[str, Any]] | tuple[int, ScheduleRequest]]:
        """The batch as calls to make: lists of SQS entries to send, and (index, schedule) to create.

        A standard queue's entries are all sent first. On a FIFO queue a schedule comes after the
        entries before it of its own group, so that a failure among them can hold it back (and its
        own failure the entries after it); entries of other groups are still sent together.
        """
        if not self.fifo:
            yield [plan for plan in plans if not isinstance(plan, ScheduleRequest)]
            yield from ((index, plan) for index, plan in enumerate(plans) if isinstance(plan, ScheduleRequest))
            return
        pending: list[dict[str, Any]] = []
        for index, plan in enumerate(plans):
            if not isinstance(plan, ScheduleRequest):
                pending.append(plan)
                continue
            if any(entry["MessageGroupId"] == plan.group_id for entry in pending):
                yield pending
                pending = []
            yield index, plan
        yield pending

    def _send_entries(
        self,
        tasks: list[Task],
        entries: list[dict[str, Any]],
        message_ids: list[str | None],
        failed: dict[int, NotEnqueued],
        blocked_groups: set[str],
    ) -> None:
        for chunk in chunks(entries):
            for entry in chunk:
                if entry.get("MessageGroupId") in blocked_groups:
                    index = int(entry["Id"])
                    failed[index] = NotEnqueued(tasks[index], "GroupBlocked", _GROUP_BLOCKED, True)
            sendable = [entry for entry in chunk if int(entry["Id"]) not in failed]
            for index, code, message, sender_fault in self._send_chunk(sendable, message_ids) if sendable else []:
                failed[index] = NotEnqueued(tasks[index], code, message, sender_fault)
                if self.fifo:
                    blocked_groups.add(str(tasks[index].group_id))

    def _create_schedule(
        self,
        tasks: list[Task],
        step: tuple[int, ScheduleRequest],
        target: tuple[TaskSchedules, str] | None,
        message_ids: list[str | None],
        failed: dict[int, NotEnqueued],
        blocked_groups: set[str],
    ) -> None:
        index, request = step
        if target is None:  # resolved whenever the batch has a schedule
            raise RuntimeError("a schedule without its target")
        if request.group_id is not None and request.group_id in blocked_groups:
            failed[index] = NotEnqueued(tasks[index], "GroupBlocked", _GROUP_BLOCKED, True)
            return
        schedules, queue_arn = target
        try:
            message_ids[index] = schedules.create(request, queue_arn)
        except AlreadyScheduled as error:
            failed[index] = NotEnqueued(tasks[index], "AlreadyScheduled", str(error), True)
            if self.fifo and request.group_id is not None:
                blocked_groups.add(request.group_id)

    def _send_chunk(
        self, chunk: list[dict[str, Any]], message_ids: list[str | None]
    ) -> list[tuple[int, str, str, bool]]:
        """Send one chunk; returns (task index, code, message, sender fault) for entries that failed.

        Entries SQS failed on its side are sent again (not on FIFO queues, where a later message of
        the group may already be in); the sender's faults are final at once. A call that raises stops
        the batch: the error goes to the caller, and the message ids sent before it are kept.
        """
        outcome = BatchResult()
        try:
            call_in_batches(
                self.sqs.send_message_batch,
                self.queue_url,
                chunk,
                retries=0 if self.fifo else BATCH_ENTRY_RETRIES,
                raise_errors=True,
                outcome=outcome,
            )
        finally:
            for entry_id, success in outcome.successful.items():
                message_ids[int(entry_id)] = success["MessageId"]
        return [(int(f.id), f.code, f.message, f.sender_fault) for f in outcome.failed.values()]
