"""Scheduling tasks beyond SQS's 900 s on EventBridge Scheduler (moto): the producer's choice between
delay and schedule, schedule names and idempotency, cancel, list, and every refusal before any call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from taskqueue.producer import EnqueueError, Task, TaskQueue
from taskqueue.schedules import (
    SCHEDULER_CLOCK_MARGIN_SECONDS,
    AlreadyScheduled,
    NotScheduled,
    ScheduleName,
    ScheduleRequest,
    SchedulingConfig,
    TaskSchedules,
    name_prefix,
    parse_at,
    schedule_name,
    schedule_time,
)
from tests.support.aws_fakes import CallRecorder, FailingCalls, FakeWallClock
from tests.support.aws_settings import REGION

GROUP = "tasks-schedules"
ROLE = "arn:aws:iam::123456789012:role/tasks-scheduler"


@pytest.fixture
def scheduler(aws: None) -> Any:
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name=GROUP)
    return client


@pytest.fixture
def clock() -> FakeWallClock:
    return FakeWallClock(datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
def dlq_arn(sqs: Any) -> str:
    url = sqs.create_queue(QueueName="tasks-schedule-dlq")["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


@pytest.fixture
def producer(sqs, queues, scheduler, clock, dlq_arn) -> TaskQueue:
    return TaskQueue(
        queues.url, sqs=sqs, scheduler=scheduler, scheduling=SchedulingConfig(GROUP, ROLE, dlq_arn), clock=clock
    )


def schedule_of(scheduler: Any, name: str) -> dict[str, Any]:
    return dict(scheduler.get_schedule(Name=name, GroupName=GROUP))


def deliver(scheduler: Any, sqs: Any, url: str, name: str) -> None:
    """What the Scheduler does when a schedule fires: SendMessage of its input, in its message group."""
    target = schedule_of(scheduler, name)["Target"]
    arguments = {"QueueUrl": url, "MessageBody": target["Input"]}
    if group := target.get("SqsParameters", {}).get("MessageGroupId"):
        arguments["MessageGroupId"] = group
    sqs.send_message(**arguments)


# -- delay or schedule -----------------------------------------------------------------------------


@pytest.mark.parametrize(("delay", "seconds"), [(timedelta(minutes=10), 600), (900, 900), (0.2, 1)])
def test_a_delay_within_900_s_is_sqs_delay_seconds(producer, sqs, scheduler, delay, seconds):
    recorder, scheduler_calls = CallRecorder(sqs), CallRecorder(scheduler)
    producer.enqueue("later", {"n": 1}, delay=delay)
    assert recorder.named("SendMessage")[0]["DelaySeconds"] == seconds
    assert scheduler_calls.calls == []


def test_a_task_due_now_is_sent_without_delay(producer, sqs, clock):
    recorder = CallRecorder(sqs)
    producer.enqueue("now", at=clock.now)
    assert "DelaySeconds" not in recorder.named("SendMessage")[0]


def test_beyond_900_s_the_task_becomes_a_one_time_schedule(producer, sqs, queues, scheduler, clock, dlq_arn):
    handle = producer.enqueue("report", {"month": 1}, id="jan", delay=timedelta(seconds=901))

    assert isinstance(handle, ScheduleName) and isinstance(handle, str)
    # Due 12:15:01; the Scheduler runs at() within its minute, so it is the next whole minute.
    assert handle == schedule_name("report", "jan") and handle.due == datetime(2030, 1, 1, 12, 16, tzinfo=UTC)
    schedule = schedule_of(scheduler, handle)
    assert schedule["ScheduleExpression"] == "at(2030-01-01T12:16:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == queues.arn and target["RoleArn"] == ROLE
    assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert json.loads(target["Input"]) == {"task": "report", "payload": {"month": 1}, "id": "jan", "schedule": handle}
    assert "SqsParameters" not in target
    assert "Messages" not in sqs.receive_message(QueueUrl=queues.url)  # nothing sent to SQS


def test_at_in_any_time_zone_becomes_utc_rounded_up_to_the_minute(producer, scheduler):
    berlin = datetime(2030, 1, 2, 9, 30, 0, 500_000, tzinfo=ZoneInfo("Europe/Berlin"))
    handle = producer.enqueue("wake", at=berlin)
    assert schedule_of(scheduler, handle)["ScheduleExpression"] == "at(2030-01-02T08:31:00)"


def test_a_task_without_id_gets_a_unique_name(producer):
    first, second = producer.enqueue("t", delay=3600), producer.enqueue("t", delay=3600)
    assert first != second and first.startswith(name_prefix("t"))


def test_scheduler_keywords_in_a_payload_arrive_as_sent(producer, scheduler):
    payload = {"note": "<aws.scheduler.schedule-arn> & <aws.scheduler.scheduled-time>"}
    handle = producer.enqueue("t", payload, delay=3600)
    input_text = schedule_of(scheduler, handle)["Target"]["Input"]
    assert "<" not in input_text and json.loads(input_text)["payload"] == payload


# -- names and idempotency -------------------------------------------------------------------------


def test_the_same_task_and_id_cannot_be_scheduled_twice(producer):
    producer.enqueue("charge", {"order": 7}, id="order-7", delay=3600)
    with pytest.raises(AlreadyScheduled, match=r"task 'charge' with id 'order-7' is already scheduled"):
        producer.enqueue("charge", {"order": 7}, id="order-7", delay=7200)
    producer.enqueue("ship", {"order": 7}, id="order-7", delay=3600)  # another task, the same id: its own


def test_names_fit_the_schedulers_rules_for_any_task_name_and_id():
    name = schedule_name("reports/monthly:ünicode " * 5, "id with spaces" * 20)
    assert len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)
    assert name == schedule_name("reports/monthly:ünicode " * 5, "id with spaces" * 20)


# -- cancel ----------------------------------------------------------------------------------------


def test_cancel_by_handle_and_by_task_and_id(producer, scheduler):
    handle = producer.enqueue("report", id="jan", delay=3600)
    producer.enqueue("report", id="feb", delay=3600)
    assert producer.cancel(handle).task_id == "jan"
    assert producer.cancel(("report", "feb")).task_id == "feb"
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


def test_cancelling_what_is_not_pending_says_so(producer):
    handle = producer.enqueue("report", id="jan", delay=3600)
    producer.cancel(handle)
    with pytest.raises(NotScheduled, match=r"has fired .*, was cancelled, or never existed"):
        producer.cancel(handle)
    with pytest.raises(NotScheduled, match="never existed"):
        producer.cancel(("report", "never"))


def test_a_schedule_already_due_is_not_cancelled(producer, scheduler, clock):
    handle = producer.enqueue("report", id="jan", delay=3600)
    clock.advance(timedelta(seconds=3601))
    with pytest.raises(NotScheduled, match=r"was due at 2030-01-01T13:00:00\+00:00: it has fired or is being"):
        producer.cancel(handle)
    assert schedule_of(scheduler, handle)  # left to the Scheduler


def test_a_periodic_schedule_is_not_cancelled_by_the_producer(producer, scheduler, queues):
    scheduler.create_schedule(
        Name="nightly",
        GroupName=GROUP,
        ScheduleExpression="cron(0 3 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": queues.arn, "RoleArn": ROLE, "Input": '{"task":"report","payload":null}'},
    )
    with pytest.raises(ValueError, match=r"schedule 'nightly' is periodic \(cron\(0 3 \* \* \? \*\)\)"):
        producer.cancel("nightly")


# -- list ------------------------------------------------------------------------------------------


def test_scheduled_lists_every_pending_task_across_pages(producer):
    for n in range(55):  # moto answers ListSchedules 50 at a time
        producer.enqueue("report", {"n": n}, id=f"r{n}", delay=3600 + n)
    producer.enqueue("other", delay=3600)
    listed = list(producer.scheduled())
    assert len(listed) == 56
    reports = {item.task_id: item for item in producer.scheduled("report")}
    assert len(reports) == 55 and reports["r0"].due == datetime(2030, 1, 1, 13, 0, tzinfo=UTC)
    assert reports["r7"].due == datetime(2030, 1, 1, 13, 1, tzinfo=UTC)  # 13:00:07, up to the whole minute
    assert not reports["r7"].periodic and reports["r7"].to_json()["due"] == "2030-01-01T13:01:00+00:00"


def test_scheduled_of_a_task_leaves_out_tasks_whose_names_share_its_prefix(producer):
    long_name = "x" * 40
    producer.enqueue(long_name, delay=3600)
    producer.enqueue(long_name + "-other", delay=3600)  # the same 30-character name prefix
    assert [item.task for item in producer.scheduled(long_name)] == [long_name]


# -- FIFO ------------------------------------------------------------------------------------------


@pytest.fixture
def fifo_producer(sqs, make_queues, scheduler, clock, dlq_arn):
    queues = make_queues("orders", fifo=True, ContentBasedDeduplication="true")
    return TaskQueue(
        queues.url, sqs=sqs, scheduler=scheduler, scheduling=SchedulingConfig(GROUP, ROLE, dlq_arn), clock=clock
    )


def test_a_fifo_queue_schedules_even_short_delays_with_the_message_group(fifo_producer, scheduler, sqs):
    recorder = CallRecorder(sqs)
    handle = fifo_producer.enqueue("charge", {"order": 1}, id="o1", group_id="customer-9", delay=30)
    assert schedule_of(scheduler, handle)["Target"]["SqsParameters"] == {"MessageGroupId": "customer-9"}
    assert recorder.named("SendMessage") == []


def test_a_fifo_queue_without_content_based_deduplication_is_refused_before_scheduling(
    sqs, make_queues, scheduler, clock, dlq_arn
):
    queues = make_queues("plain", fifo=True)
    producer = TaskQueue(
        queues.url, sqs=sqs, scheduler=scheduler, scheduling=SchedulingConfig(GROUP, ROLE, dlq_arn), clock=clock
    )
    with pytest.raises(ValueError, match="content-based deduplication off: EventBridge Scheduler sets no"):
        producer.enqueue("charge", id="o1", group_id="g", delay=3600)
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


# -- refusals, all before any call -----------------------------------------------------------------

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (Task("t", at=datetime(2030, 6, 1, 9, 0)), r"at=2030-06-01T09:00:00 of task 't' is a naive datetime"),
        (Task("t", at=NOW - timedelta(seconds=1)), r"at=2030-01-01T11:59:59\+00:00 of task 't' is in the past"),
        (Task("t", at=NOW + timedelta(days=367)), r"at=2031-01-03T12:00:00\+00:00 of task 't' is 367.0 days ahead"),
        (Task("t", delay=timedelta(days=400)), r"delay=datetime.timedelta\(days=400\) of task 't' is 400.0 days"),
        (Task("t", delay=-5), r"delay=-5 of task 't' is negative"),
        (Task("t", delay=True), r"delay=True of task 't' must be a timedelta or a number of seconds"),
        (Task("t", delay="1h"), r"delay='1h' of task 't' must be a timedelta"),
        (Task("t", at="2030-06-01"), r"at='2030-06-01' of task 't' must be a datetime"),
        (Task("t", at=NOW, delay=5), r"task 't': give at= or delay=, not both"),
        (Task("t", attributes={"a": "b"}, delay=3600), r"sends no message attributes: attributes=\{'a': 'b'\}"),
        (Task("t", "<" * 45_000, delay=3600), r"task 't' is \d+ bytes as a schedule's input, over EventBridge"),
    ],
)
def test_bad_due_times_and_unschedulable_tasks_are_refused_before_any_call(producer, sqs, scheduler, task, message):
    calls = CallRecorder(sqs), CallRecorder(scheduler)
    with pytest.raises(ValueError, match=message):
        producer.enqueue_batch([Task("fine", delay=3600), task])
    assert calls[0].calls == calls[1].calls == []


def test_scheduling_without_settings_is_refused_with_what_to_set(sqs, queues):
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match=r"TASKQUEUE_SCHEDULE_GROUP and \$TASKQUEUE_SCHEDULER_ROLE_ARN"):
        TaskQueue(queues.url, sqs=sqs).enqueue("t", delay=3600)
    assert recorder.calls == []


def test_fifo_scheduling_refusals(fifo_producer, scheduler):
    recorder = CallRecorder(scheduler)
    with pytest.raises(ValueError, match="needs a group_id"):
        fifo_producer.enqueue("t", delay=60)
    with pytest.raises(ValueError, match=r"deduplication_id='d1' cannot be kept, as the Scheduler sets none"):
        fifo_producer.enqueue("t", group_id="g", deduplication_id="d1", delay=60)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"group_name": "has space"}, r"group_name='has space' must be 1-64"),
        ({"role_arn": "tasks-scheduler"}, r"role_arn='tasks-scheduler' must be an IAM role ARN"),
        ({"dead_letter_arn": "arn:aws:sqs:us-east-1:123456789012:dlq.fifo"}, "takes no FIFO queue"),
        ({"max_event_age_seconds": 30}, r"max_event_age_seconds=30 must be 60-86400"),
        ({"max_retry_attempts": 186}, r"max_retry_attempts=186 must be an int, 0-185"),
    ],
)
def test_scheduling_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        SchedulingConfig(**{"group_name": GROUP, "role_arn": ROLE, **settings})


def test_scheduling_settings_from_the_environment():
    assert SchedulingConfig.from_environment({}) is None
    config = SchedulingConfig.from_environment(
        {"TASKQUEUE_SCHEDULE_GROUP": GROUP, "TASKQUEUE_SCHEDULER_ROLE_ARN": ROLE}
    )
    assert config == SchedulingConfig(GROUP, ROLE)
    # Listing and cancelling need the group only.
    assert SchedulingConfig.from_environment({"TASKQUEUE_SCHEDULE_GROUP": GROUP}) == SchedulingConfig(GROUP)
    with pytest.raises(ValueError, match=r"\$TASKQUEUE_SCHEDULER_ROLE_ARN is set but \$TASKQUEUE_SCHEDULE_GROUP"):
        SchedulingConfig.from_environment({"TASKQUEUE_SCHEDULER_ROLE_ARN": ROLE})


def test_creating_a_schedule_needs_the_role(sqs, queues, scheduler):
    recorder = CallRecorder(scheduler)
    producer = TaskQueue(queues.url, sqs=sqs, scheduler=scheduler, scheduling=SchedulingConfig(GROUP))
    with pytest.raises(ValueError, match=r"needs a schedule .* and scheduling has no role_arn"):
        producer.enqueue("t", delay=3600)
    assert recorder.calls == []


# -- batches ---------------------------------------------------------------------------------------


def test_a_batch_mixes_sends_delays_and_schedules_in_order(producer, sqs, queues):
    recorder = CallRecorder(sqs)
    tasks = [Task("now"), Task("soon", delay=60), Task("later", id="l1", delay=3600), Task("now2")]
    handles = producer.enqueue_batch(tasks)
    assert [isinstance(h, ScheduleName) for h in handles] == [False, False, True, False]
    [call] = recorder.named("SendMessageBatch")
    assert [e.get("DelaySeconds") for e in call["Entries"]] == [None, 60, None]


def test_a_batch_that_fails_midway_reports_exactly_what_was_scheduled_and_a_rerun_schedules_nothing_twice(
    producer, scheduler
):
    tasks = [Task("report", {"n": n}, id=f"r{n}", delay=3600) for n in range(5)]
    throttled = FailingCalls(scheduler, "CreateSchedule", from_call=3)
    with pytest.raises(EnqueueError) as raised:
        producer.enqueue_batch(tasks)
    error = raised.value
    assert [bool(h) for h in error.message_ids] == [True, True, False, False, False]
    assert [(f.task.id, f.code) for f in error.failed] == [(f"r{n}", "ThrottlingException") for n in (2, 3, 4)]

    throttled.stop()
    with pytest.raises(EnqueueError) as rerun:
        producer.enqueue_batch(tasks)
    assert [(f.task.id, f.code) for f in rerun.value.failed] == [("r0", "AlreadyScheduled"), ("r1", "AlreadyScheduled")]
    assert [bool(h) for h in rerun.value.message_ids] == [False, False, True, True, True]
    assert sorted(item.task_id for item in producer.scheduled("report")) == ["r0", "r1", "r2", "r3", "r4"]


def _fail_batch_entries(sqs: Any, failing: set[str]) -> None:
    """SQS fails these entry ids of every SendMessageBatch on its side (InternalError)."""

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        for success in list(parsed.get("Successful", [])):
            if success["Id"] in failing:
                parsed["Successful"].remove(success)
                parsed.setdefault("Failed", []).append(
                    {"Id": success["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
                )

    sqs.meta.events.register("after-call.sqs.SendMessageBatch", hook)


def test_a_fifo_batch_schedules_nothing_of_a_group_after_its_failed_send(fifo_producer, sqs):
    _fail_batch_entries(sqs, {"0"})
    tasks = [
        Task("charge", 1, id="c1", group_id="g"),
        Task("charge", 2, id="c2", group_id="g", delay=60),  # after c1 in its group: must wait for it
        Task("charge", 3, id="c3", group_id="h", delay=60),  # another group: unaffected
    ]
    with pytest.raises(EnqueueError) as raised:
        fifo_producer.enqueue_batch(tasks)
    assert [(f.task.id, f.code) for f in raised.value.failed] == [("c1", "InternalError"), ("c2", "GroupBlocked")]
    assert [bool(h) for h in raised.value.message_ids] == [False, False, True]
    assert [item.task_id for item in fifo_producer.scheduled()] == ["c3"]


def test_a_fifo_batch_sends_nothing_of_a_group_after_its_failed_schedule(fifo_producer, sqs):
    fifo_producer.enqueue("charge", 1, id="c1", group_id="g", delay=60)
    recorder = CallRecorder(sqs)
    tasks = [
        Task("charge", 1, id="c1", group_id="g", delay=60),  # already scheduled: fails
        Task("charge", 2, id="c2", group_id="g"),  # after c1 in its group: must not overtake it
        Task("other", id="o1", group_id="h"),
    ]
    with pytest.raises(EnqueueError) as raised:
        fifo_producer.enqueue_batch(tasks)
    assert [(f.task.id, f.code) for f in raised.value.failed] == [("c1", "AlreadyScheduled"), ("c2", "GroupBlocked")]
    sent = [json.loads(e["MessageBody"])["id"] for call in recorder.named("SendMessageBatch") for e in call["Entries"]]
    assert sent == ["o1"]


# -- FIFO deduplication of scheduled tasks ---------------------------------------------------------


def test_fifo_tasks_without_id_and_with_the_same_payload_scheduled_close_together_both_arrive(
    fifo_producer, scheduler, sqs
):
    url = fifo_producer.queue_url
    first = fifo_producer.enqueue("charge", {"order": 1}, group_id="g", delay=60)
    second = fifo_producer.enqueue("charge", {"order": 1}, group_id="g", delay=120)
    deliver(scheduler, sqs, url, first)
    deliver(scheduler, sqs, url, first)  # the Scheduler retrying a send it saw fail: still one copy
    deliver(scheduler, sqs, url, second)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]).get("schedule") for m in received] == [first, second]


@pytest.mark.parametrize("batch", [False, True])
def test_a_fifo_queue_without_content_based_deduplication_is_refused_when_its_arn_is_given(
    sqs, make_queues, scheduler, clock, dlq_arn, batch
):
    queues = make_queues("plain", fifo=True)
    producer = TaskQueue(
        queues.url,
        sqs=sqs,
        scheduler=scheduler,
        scheduling=SchedulingConfig(GROUP, ROLE, dlq_arn),
        queue_arn=queues.arn,
        clock=clock,
    )
    task = Task("charge", id="o1", group_id="g", delay=3600)
    with pytest.raises(ValueError, match="content-based deduplication off: EventBridge Scheduler sets no"):
        producer.enqueue_batch([task]) if batch else producer.enqueue(task.name, id="o1", group_id="g", delay=3600)
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []


# -- somewhere for failed deliveries ---------------------------------------------------------------


def test_scheduling_without_a_dead_letter_queue_is_refused_unless_opted_out(sqs, queues, scheduler, clock):
    producer = TaskQueue(
        queues.url, sqs=sqs, scheduler=scheduler, scheduling=SchedulingConfig(GROUP, ROLE), clock=clock
    )
    with pytest.raises(
        ValueError, match=r"no dead_letter_arn \(\$TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN, .* drop_failed_deliveries=True"
    ):
        producer.enqueue("t", delay=3600)
    direct = TaskSchedules(SchedulingConfig(GROUP, ROLE), scheduler, clock)
    request = producer_request(clock)
    with pytest.raises(ValueError, match=r"no dead_letter_arn"):
        direct.create(request, queues.arn)
    assert scheduler.list_schedules(GroupName=GROUP)["Schedules"] == []

    opted_out = TaskQueue(
        queues.url,
        sqs=sqs,
        scheduler=scheduler,
        scheduling=SchedulingConfig(GROUP, ROLE, drop_failed_deliveries=True),
        clock=clock,
    )
    handle = opted_out.enqueue("t", delay=3600)
    assert "DeadLetterConfig" not in schedule_of(scheduler, handle)["Target"]
    with pytest.raises(ValueError, match="give dead_letter_arn or drop_failed_deliveries=True, not both"):
        SchedulingConfig(GROUP, ROLE, "arn:aws:sqs:us-east-1:123456789012:dlq", drop_failed_deliveries=True)


def producer_request(clock: FakeWallClock) -> ScheduleRequest:
    due = clock.now + timedelta(hours=1)
    return ScheduleRequest(schedule_name("t", None), "t", None, due, '{"task":"t","payload":null}', None)


# -- the Scheduler's one-minute precision ----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "task", "expression"),
    [
        # 901 s from 12:00:00 is 12:15:01: the Scheduler would run at(12:15:01) from 12:15:00, early.
        (NOW, Task("t", delay=901), "at(2030-01-01T12:16:00)"),
        (NOW, Task("t", delay=3600), "at(2030-01-01T13:00:00)"),  # a whole minute stays
        (NOW, Task("t", at=NOW + timedelta(hours=1, microseconds=1)), "at(2030-01-01T13:01:00)"),
        # A due time within the clock margin goes to the first whole minute beyond it.
        (NOW + timedelta(seconds=45), Task("t", delay=3600), "at(2030-01-01T13:01:00)"),
    ],
)
def test_a_schedule_comes_due_on_a_whole_minute_never_before_its_task(
    producer, scheduler, clock, now, task, expression
):
    clock.now = now
    [handle] = producer.enqueue_batch([task])
    assert schedule_of(scheduler, handle)["ScheduleExpression"] == expression
    assert handle.due == parse_at(expression)


def test_a_fifo_delay_of_seconds_is_a_schedule_at_least_the_clock_margin_ahead(fifo_producer, scheduler, clock):
    clock.now = NOW + timedelta(seconds=45)
    handle = fifo_producer.enqueue("charge", id="o1", group_id="g", delay=3)
    # Due 12:00:48; a CreateSchedule that arrives after its time is never relied on: 12:01:15 or later.
    assert schedule_of(scheduler, handle)["ScheduleExpression"] == "at(2030-01-01T12:02:00)"


def test_schedule_time_is_a_whole_minute_not_before_the_due_time_nor_within_the_margin():
    margin = timedelta(seconds=SCHEDULER_CLOCK_MARGIN_SECONDS)
    for offset in range(0, 240, 7):
        now = NOW + timedelta(seconds=offset, microseconds=offset * 1000)
        for ahead in (0, 1, 29, 30, 59, 60, 61, 899, 901, 3600):
            due = now + timedelta(seconds=ahead)
            at = schedule_time(due, now)
            assert (at.second, at.microsecond) == (0, 0)
            assert at >= due and at >= now + margin
            assert at - max(due, now + margin) < timedelta(seconds=60)


def test_a_schedule_within_the_clock_margin_of_its_time_is_not_cancelled(producer, scheduler, clock):
    handle = producer.enqueue("report", id="jan", delay=3600)
    clock.advance(timedelta(seconds=3600 - SCHEDULER_CLOCK_MARGIN_SECONDS + 1))
    with pytest.raises(NotScheduled, match=r"is due at 2030-01-01T13:00:00\+00:00, too close .* it will run"):
        producer.cancel(handle)
    assert schedule_of(scheduler, handle)  # left to the Scheduler: it runs
    clock.advance(timedelta(seconds=-2))
    assert producer.cancel(handle).task_id == "jan"


def test_a_scheduled_task_with_a_priority_targets_that_prioritys_queue(sqs, make_queues, scheduler, clock, dlq_arn):
    high, normal = make_queues("tasks-high"), make_queues("tasks")
    producer = TaskQueue(
        normal.url,
        sqs=sqs,
        scheduler=scheduler,
        scheduling=SchedulingConfig(GROUP, ROLE, dlq_arn),
        clock=clock,
        queue_urls={"high": high.url, "normal": normal.url},
    )
    later = producer.enqueue("remind", {"user": 7}, id="r-7", delay=timedelta(hours=2), priority="high")
    plain = producer.enqueue("report", id="r-8", delay=timedelta(hours=2))
    assert schedule_of(scheduler, later)["Target"]["Arn"] == high.arn
    assert schedule_of(scheduler, plain)["Target"]["Arn"] == normal.arn
