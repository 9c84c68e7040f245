"""The local stack runs EventBridge Scheduler schedules (moto server): time-scaled one-time tasks,
cancellation, periodic tasks on each tick, and dead letters when a schedule cannot deliver."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.producer import TaskQueue
from taskqueue.schedule_dead_letters import schedule_failure
from taskqueue.schedules import SchedulingConfig, at_expression, periodic_task_input, schedule_time
from taskqueue_local.infrastructure.clients import local_client
from taskqueue_local.infrastructure.schedule_runner import ScheduleRunner, earliest_run

GROUP = "local-schedules"
ROLE = "arn:aws:iam::123456789012:role/local-scheduler"
WAIT_SECONDS = 20.0  # far beyond any run's expected time at these speedups; a pass takes a few seconds


@pytest.fixture
def clients(server_sqs, moto_server) -> dict[str, Any]:
    scheduler = local_client("scheduler", moto_server)
    scheduler.create_schedule_group(Name=GROUP)
    return {"sqs": local_client("sqs", moto_server), "scheduler": scheduler}


@pytest.fixture
def make_runner(clients, moto_server) -> Iterator[Callable[[float], ScheduleRunner]]:
    started: list[ScheduleRunner] = []

    def start(speedup: float) -> ScheduleRunner:
        # Its own clients, as `serve` has: a hook on the test's clients must not reach the runner's.
        runner = ScheduleRunner(
            local_client("scheduler", moto_server), local_client("sqs", moto_server), speedup, poll_seconds=0.05
        )
        started.append(runner.start())
        return runner

    yield start
    for runner in started:
        runner.stop()


def queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive_until(sqs: Any, url: str, count: int, seconds: float = WAIT_SECONDS) -> list[dict[str, Any]]:
    """Messages of the queue until ``count`` arrived or ``seconds`` passed (then whatever did)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        received += sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
    return received


def eventually(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Ticks:
    """When each of the runner's ticks began and ended (wall clock, as the runner's clock reads it): what a
    test waits for instead of a fixed time, so that a slow machine only makes it wait longer."""

    def __init__(self, runner: ScheduleRunner) -> None:
        self.completed: list[tuple[float, float]] = []
        tick = runner.tick

        def timed() -> None:
            began = time.time()
            tick()
            self.completed.append((began, time.time()))

        runner.tick = timed  # type: ignore[method-assign]

    def first_beginning_at(self, moment: float, seconds: float = WAIT_SECONDS) -> tuple[float, float]:
        """The first tick that began at ``moment`` or later, once it ended."""
        assert eventually(lambda: any(began >= moment for began, _ in self.completed), seconds), (
            f"no tick of the runner began after {moment} within {seconds} s"
        )
        return next(tick for tick in self.completed if tick[0] >= moment)


def producer_for(clients: dict[str, Any], url: str, **scheduling: Any) -> TaskQueue:
    # Tests that look at no failed delivery say so, as scheduling without a dead-letter queue must.
    scheduling.setdefault("drop_failed_deliveries", "dead_letter_arn" not in scheduling)
    return TaskQueue(
        url, sqs=clients["sqs"], scheduler=clients["scheduler"], scheduling=SchedulingConfig(GROUP, ROLE, **scheduling)
    )


def test_a_task_scheduled_30_minutes_out_runs_once_at_600x(clients, make_runner):
    url, _ = queue(clients["sqs"], "later")
    producer = producer_for(clients, url)
    ticks = Ticks(make_runner(600))  # 30 minutes of schedule time take 3 s
    started = time.monotonic()
    handle = producer.enqueue("report", {"month": 1}, id="jan", delay=1800)
    # The schedule was created before this; its time is rounded up to a whole minute (at most 31 minutes out).
    due_by = time.time() + 3.1
    [message] = receive_until(clients["sqs"], url, 1)
    took = time.monotonic() - started
    print(f"30 min at 600x: ran after {took:.1f} s (3.0 s expected)")
    assert json.loads(message["Body"]) == {"task": "report", "payload": {"month": 1}, "id": "jan", "schedule": handle}
    assert took >= 2.5  # not early
    # Late by at most a poll: sent by the first tick that began once it was due, however slow the machine.
    _, ended = ticks.first_beginning_at(due_by)
    assert int(message["Attributes"]["SentTimestamp"]) / 1000 <= ended
    # Another 20 minutes on its clock: no second run, and the one-time schedule deleted itself.
    assert receive_until(clients["sqs"], url, 1, seconds=2.0) == []
    assert list(producer.scheduled()) == []


def test_a_cancelled_task_never_runs(clients, make_runner):
    url, _ = queue(clients["sqs"], "cancelled")
    producer = producer_for(clients, url)
    ticks = Ticks(make_runner(600))
    kept = producer.enqueue("report", {"n": "kept"}, id="kept", delay=1800)
    cancelled = producer.enqueue("report", {"n": "cancelled"}, id="cancelled", delay=1800)
    due_by = time.time() + 3.0  # both were due by then (30 minutes at 600x)
    producer.cancel(cancelled)
    received = receive_until(clients["sqs"], url, 1)
    ticks.first_beginning_at(due_by)  # the cancelled one, had it run, would have been sent by its end
    received += receive_until(clients["sqs"], url, 1, seconds=1.0)
    assert [json.loads(m["Body"])["id"] for m in received] == ["kept"]
    assert kept != cancelled


@pytest.mark.parametrize(
    ("expression", "timezone"), [("rate(1 minute)", "UTC"), ("cron(* * * * ? *)", "Europe/Berlin")]
)
def test_a_periodic_task_runs_on_each_tick(clients, make_runner, expression, timezone):
    url, arn = queue(clients["sqs"], "periodic")
    clients["scheduler"].create_schedule(
        Name="heartbeat",
        GroupName=GROUP,
        ScheduleExpression=expression,
        ScheduleExpressionTimezone=timezone,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": periodic_task_input("heartbeat", "beat", {"n": 1})},
    )
    clients["scheduler"].create_schedule(
        Name="paused",
        GroupName=GROUP,
        ScheduleExpression="rate(1 minute)",
        State="DISABLED",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": periodic_task_input("paused", "beat", {"n": 2})},
    )
    make_runner(120)  # a minute every 0.5 s
    received = receive_until(clients["sqs"], url, 4)
    bodies = [json.loads(m["Body"]) for m in received]
    assert len(bodies) >= 4 and all(b["payload"] == {"n": 1} for b in bodies)  # never the disabled one
    runs = sorted(datetime.fromisoformat(b["id"].removeprefix("heartbeat@")) for b in bodies)
    assert all(later - earlier == timedelta(minutes=1) for earlier, later in itertools.pairwise(runs))


def test_an_undeliverable_schedule_ends_in_its_dead_letter_queue(clients, make_runner):
    url, _ = queue(clients["sqs"], "doomed")
    dlq_url, dlq_arn = queue(clients["sqs"], "doomed-schedule-dlq")
    handle = producer_for(clients, url, dead_letter_arn=dlq_arn).enqueue("report", {"n": 1}, id="r1", delay=1800)
    clients["sqs"].delete_queue(QueueUrl=url)
    make_runner(600)

    [dead] = receive_until(clients["sqs"], dlq_url, 1)
    assert json.loads(dead["Body"]) == {"task": "report", "payload": {"n": 1}, "id": "r1", "schedule": handle}
    failure = schedule_failure(dead["MessageAttributes"])
    assert failure is not None and failure.schedule_arn.endswith(f":schedule/{GROUP}/{handle}")
    assert failure.error_code == "AWS.SimpleQueueService.NonExistentQueue"
    assert (failure.exhausted_retry_condition, failure.retry_attempts) == (None, 0)  # a permanent error
    assert "could not deliver: AWS.SimpleQueueService.NonExistentQueue" in failure.describe()
    # The DLQ triage reads it as a schedule failure, and would redrive the task without the Scheduler's marks.
    read = DlqMessage.from_message(dead)
    assert (read.reason, read.task, read.original_attributes()) == ("schedule_failed", "report", {})
    assert read.error == failure.describe()
    # Deleted once it completed (just after the dead letter was sent).
    assert eventually(lambda: clients["scheduler"].list_schedules(GroupName=GROUP)["Schedules"] == [])


def test_a_failing_send_is_retried_as_the_policy_allows_then_dead_lettered(clients, make_runner):
    url, _ = queue(clients["sqs"], "flaky")
    dlq_url, dlq_arn = queue(clients["sqs"], "flaky-schedule-dlq")
    producer = producer_for(clients, url, dead_letter_arn=dlq_arn, max_retry_attempts=2)
    producer.enqueue("report", id="r1", delay=1800)
    runner = make_runner(600)
    attempts: list[str] = []

    def throttle_the_queue(params: dict[str, Any], **_: Any) -> None:
        if params["QueueUrl"] == url:
            attempts.append(json.loads(params["MessageBody"])["id"])
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendMessage")

    runner.sqs.meta.events.register("before-parameter-build.sqs.SendMessage", throttle_the_queue)
    [dead] = receive_until(clients["sqs"], dlq_url, 1)
    failure = schedule_failure(dead["MessageAttributes"])
    assert failure is not None
    assert (failure.error_code, failure.exhausted_retry_condition, failure.retry_attempts) == (
        "ThrottlingException",
        "MaximumRetryAttempts",
        2,
    )
    assert attempts == ["r1", "r1", "r1"]  # the first try and two retries
    assert receive_until(clients["sqs"], url, 1, seconds=1.0) == []


def test_a_fifo_task_arrives_in_its_message_group(clients, make_runner):
    url, _ = queue(clients["sqs"], "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    make_runner(600)
    producer_for(clients, url).enqueue("charge", {"order": 1}, id="o1", group_id="customer-9", delay=60)
    [message] = receive_until(clients["sqs"], url, 1)
    assert message["Attributes"]["MessageGroupId"] == "customer-9"


def test_fifo_tasks_without_id_and_with_the_same_payload_both_arrive(clients, make_runner):
    # The queue deduplicates the Scheduler's sends by content for 5 minutes: each schedule's must differ.
    url, _ = queue(clients["sqs"], "twins.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    producer = producer_for(clients, url)
    # Two groups, so that the first message, received and not deleted, does not hold back the second.
    handles = [producer.enqueue("charge", {"order": 1}, group_id=group, delay=60) for group in ("g1", "g2")]
    make_runner(600)
    bodies = [json.loads(m["Body"]) for m in receive_until(clients["sqs"], url, 2)]
    assert len(bodies) == 2, bodies
    assert sorted(body["schedule"] for body in bodies) == sorted(handles)


def test_a_runner_that_never_started_stops_quietly(moto_server):
    # serve stops every loop in its finally: one whose start-up never came must not raise there.
    ScheduleRunner(local_client("scheduler", moto_server), local_client("sqs", moto_server)).stop()


def test_runs_missed_before_the_runner_started_are_not_sent_in_a_burst(clients, make_runner):
    # The local stack starts its runner after `terraform apply` created the periodic schedules: the
    # runs their clocks passed meanwhile never happened, as on a Scheduler that was not there.
    url, arn = queue(clients["sqs"], "late-start")
    clients["scheduler"].create_schedule(
        Name="beat",
        GroupName=GROUP,
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": periodic_task_input("beat", "beat", None)},
    )
    created = clients["scheduler"].get_schedule(Name="beat", GroupName=GROUP)["CreationDate"]
    time.sleep(1.0)  # 10 minutes on the schedule's clock at 600x
    started = time.time()
    make_runner(600)
    received = receive_until(clients["sqs"], url, 3)
    runs = sorted(datetime.fromisoformat(json.loads(m["Body"])["id"].removeprefix("beat@")) for m in received)
    clock_at_start = created + timedelta(seconds=(started - created.timestamp()) * 600)
    assert runs and runs[0] > clock_at_start - timedelta(minutes=1), (
        f"first run {runs[0]}, runner started {clock_at_start}"
    )


def test_a_one_time_schedule_runs_at_the_start_of_its_minute_yet_no_producer_task_runs_early():
    # The Scheduler runs at(T) anywhere within T's minute; the runner takes the earliest moment.
    created = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    before = created - timedelta(microseconds=1)  # what the runner asks of a new schedule
    assert earliest_run("at(2030-01-01T13:00:45)", "UTC", before, created) == datetime(2030, 1, 1, 13, tzinfo=UTC)
    assert earliest_run("at(2030-01-01T12:00:45)", "UTC", before, created) == datetime(2030, 1, 1, 12, tzinfo=UTC)
    half_past = created + timedelta(seconds=30)  # created within the minute of its time: runs at once
    assert earliest_run("at(2030-01-01T12:00:45)", "UTC", half_past, half_past) == half_past
    assert earliest_run("at(2030-01-01T11:59:59)", "UTC", before, created) is None  # past when created
    for seconds in range(0, 400, 7):
        due = created + timedelta(seconds=seconds, microseconds=1)
        at = schedule_time(due, created)
        run = earliest_run(at_expression(at), "UTC", before, created)
        assert run is not None and run >= due, (due, at, run)
