"""Task status (issue 25): every state transition, written by the producer, the worker and triage, read back by
``TaskQueue.status``/``wait`` and the CLI, in both trigger modes; and the table's conditions against
:func:`taskqueue.status.allowed`, the rules the fault model's in-memory table follows."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from taskqueue import PermanentError, Retry, status
from taskqueue import worker as worker_module
from taskqueue.config import WorkerConfig
from taskqueue.operations import cli
from taskqueue.operations.redrive_journal import RedriveJournal
from taskqueue.operations.triage import Selection, redrive_dead_letters
from taskqueue.producer import TaskQueue
from taskqueue.producer_status import ProducerStatus, TaskHandle
from taskqueue.registry import TaskRegistry
from taskqueue.schedules import ScheduleName, SchedulingConfig
from taskqueue.sqs_event import message_to_record
from taskqueue.status import (
    CANCELLED,
    DEAD_LETTERED,
    QUEUED,
    RETRYING,
    RUNNING,
    SCHEDULED,
    STATES,
    SUCCEEDED,
    NotTracked,
    StatusTable,
    StatusWrite,
    TaskKey,
    allowed,
)
from taskqueue.worker import Worker
from taskqueue.worker_status import WorkerStatus
from tests.support.aws_fakes import LambdaContext, LogCapture
from tests.support.aws_settings import REGION

TABLE = "taskqueue-status-test"


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """The module's table as Terraform creates it with track_status: key ``id``, the index by state and time."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": status.STATE_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": status.STATE_CHANGED_AT_ATTRIBUTE, "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": status.STATE_INDEX,
                "KeySchema": [
                    {"AttributeName": status.STATE_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": status.STATE_CHANGED_AT_ATTRIBUTE, "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(status.INDEX_PROJECTED_ATTRIBUTES),
                },
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def table(dynamodb: Any) -> StatusTable:
    return StatusTable(TABLE, dynamodb_client=dynamodb)


@pytest.fixture
def registry() -> TaskRegistry:
    return TaskRegistry()


def make_worker(
    sqs: Any, queues: Any, registry: TaskRegistry, table: StatusTable, mode: str = "all", esm: bool = False
) -> Worker:
    config = WorkerConfig(
        dlq_url=queues.dlq_url,
        max_receive_count=queues.max_receive_count,
        behind_event_source_mapping=esm,
        queue_url=queues.url if esm else None,
        status_table=TABLE,
        track_status=mode,
    )
    return Worker(config, sqs, registry, task_status=WorkerStatus(table, mode, worker_module.logger))


def producer(sqs: Any, queues: Any, table: StatusTable, **options: Any) -> TaskQueue:
    return TaskQueue(queues.url, sqs=sqs, status=table, **options)


def receive(sqs: Any, queues: Any, expected: int = 1) -> dict[str, Any]:
    """What the queue holds now, as Lambda's SQS event (the trigger receives it)."""
    messages: list[dict[str, Any]] = []
    while len(messages) < expected:
        batch = sqs.receive_message(
            QueueUrl=queues.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        assert batch, f"the queue holds {len(messages)} of {expected} messages"
        messages.extend(batch)
    return {"Records": [message_to_record(m, queues.arn) for m in messages]}


def due_again(sqs: Any, queues: Any, event: dict[str, Any]) -> None:
    """Its retry delay passed: the event's messages are visible again (the ESM-mode worker delayed them)."""
    for record in event["Records"]:
        sqs.change_message_visibility(QueueUrl=queues.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)


TRIGGER_MODES = pytest.mark.parametrize("esm", [False, True], ids=["schedule", "event_source_mapping"])


# -- the table's conditions are the rules ---------------------------------------------------------


def _item_in(dynamodb: Any, key: TaskKey, state: str | None, message_id: str | None) -> None:
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": key.item_id}})
    if state is None:
        return
    item: dict[str, Any] = {
        "id": {"S": key.item_id},
        "task": {"S": key.task},
        status.STATE_ATTRIBUTE: {"S": state},
        status.STATE_CHANGED_AT_ATTRIBUTE: {"N": "1"},
    }
    if message_id is not None:
        item["message_id"] = {"S": message_id}
    dynamodb.put_item(TableName=TABLE, Item=item)


def test_every_write_over_every_state_is_allowed_by_the_table_exactly_when_the_rules_allow_it(dynamodb, table):
    key = TaskKey("export", "cust-42")
    writes = [
        StatusWrite(SCHEDULED, 10.0, due_at=100.0),
        StatusWrite(QUEUED, 10.0, message_id="m1", enqueued_at=10.0),
        StatusWrite(CANCELLED, 10.0),
        StatusWrite(RUNNING, 10.0, message_id="m1", attempt=1, enqueued_at=9.0),
        StatusWrite(RETRYING, 10.0, message_id="m1", attempt=1, next_attempt_at=20.0, error="E: x\nmore"),
        StatusWrite(SUCCEEDED, 10.0, message_id="m1", attempt=1, result="[1]"),
        StatusWrite(DEAD_LETTERED, 10.0, message_id="m1", reason="permanent_error", error="E", dlq_message_id="d1"),
    ]
    currents = [(None, None), *itertools.product(STATES, [None, "m1", "m2"])]
    checked = 0
    for (state, message_id), write in itertools.product(currents, writes):
        _item_in(dynamodb, key, state, message_id)
        current = None if state is None else {status.STATE_ATTRIBUTE: state, "message_id": message_id}
        took = table.write(key, write)
        assert took == allowed(current, write), f"{write.state} over {state} (message {message_id}): table {took}"
        if took:
            assert table.read(key).state == write.state
        checked += 1
    assert checked == 22 * 7


def test_a_final_state_is_never_overwritten_by_a_copy_of_the_same_message():
    for final in status.FINAL_STATES:
        current = {status.STATE_ATTRIBUTE: final, "message_id": "m1"}
        for state in (RUNNING, RETRYING, SUCCEEDED, DEAD_LETTERED):
            assert not allowed(current, StatusWrite(state, 1.0, message_id="m1"))
            # A new message of the task (enqueued again, redriven) starts it over.
            assert allowed(current, StatusWrite(state, 1.0, message_id="m2"))


# -- the worker: each transition, in both trigger modes ------------------------------------------


@TRIGGER_MODES
def test_a_task_that_succeeds_after_a_retry_reads_retrying_then_succeeded(sqs, queues, registry, table, esm):
    calls: list[int] = []

    def export(payload: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the warehouse timed out\nTraceback line")
        return {"rows": 3}

    registry.register("export", export)

    queue = producer(sqs, queues, table)
    handle = queue.enqueue("export", {"month": "2026-12"}, id="cust-42-2026-12")
    assert isinstance(handle, TaskHandle)
    queued = queue.status("export", "cust-42-2026-12")
    assert (queued.state, queued.message_id, queued.attempts) == (QUEUED, str(handle), 0)
    assert queued.enqueued_at is not None

    worker = make_worker(sqs, queues, registry, table, esm=esm)
    event = receive(sqs, queues)
    worker.handle(event, LambdaContext())
    due_again(sqs, queues, event)
    retrying = queue.status(handle)
    assert (retrying.state, retrying.attempts) == (RETRYING, 1)
    assert retrying.last_error == "RuntimeError: the warehouse timed out"
    assert retrying.next_attempt_at is not None and retrying.next_attempt_at > retrying.last_started_at
    assert retrying.first_started_at == retrying.last_started_at

    worker.handle(receive(sqs, queues), LambdaContext())
    done = queue.status(handle)
    assert (done.state, done.attempts, done.final) == (SUCCEEDED, 2, True)
    assert done.next_attempt_at is None
    assert done.enqueued_at <= done.first_started_at <= done.last_started_at <= done.finished_at
    assert done.last_error == "RuntimeError: the warehouse timed out"  # kept: what its retry was for
    assert done.result is None  # it did not ask to store its result


@TRIGGER_MODES
def test_a_permanent_error_reads_dead_lettered_with_the_reason_and_the_dlq_message_id(
    sqs, queues, registry, table, esm
):
    def refund(payload: Any) -> None:
        raise PermanentError("nothing to refund")

    registry.register("refund", refund)
    handle = producer(sqs, queues, table).enqueue("refund", {"amount": 0}, id="r-1")
    make_worker(sqs, queues, registry, table, esm=esm).handle(receive(sqs, queues), LambdaContext())
    record = producer(sqs, queues, table).status(handle)
    dead = sqs.receive_message(QueueUrl=queues.dlq_url)["Messages"]
    assert (record.state, record.reason, record.attempts) == (DEAD_LETTERED, "permanent_error", 1)
    assert record.dlq_message_id == dead[0]["MessageId"]
    assert record.last_error == "PermanentError: nothing to refund"
    assert record.finished_at is not None


def test_retries_exhausted_and_unknown_tasks_read_dead_lettered(sqs, make_queues, registry, table):
    queues = make_queues(max_receive_count=2)

    def always(payload: Any) -> None:
        raise RuntimeError("down")

    registry.register("always", always)
    queue = producer(sqs, queues, table)
    doomed = queue.enqueue("always", id="d")
    unknown = queue.enqueue("no_such_task", id="u")
    worker = make_worker(sqs, queues, registry, table)
    worker.handle(receive(sqs, queues, 2), LambdaContext())
    worker.handle(receive(sqs, queues), LambdaContext())
    assert (queue.status(doomed).state, queue.status(doomed).reason) == (DEAD_LETTERED, "retries_exhausted")
    assert queue.status(doomed).attempts == 2
    assert (queue.status(unknown).state, queue.status(unknown).reason) == (DEAD_LETTERED, "unknown_task")


def test_retry_after_reads_retrying_with_the_time_it_asked_for(sqs, queues, registry, table):
    def later(payload: Any) -> None:
        raise Retry(after=120)

    registry.register("later", later)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("later", id="l")
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues), LambdaContext())
    record = queue.status(handle)
    assert record.state == RETRYING
    assert timedelta(seconds=119) <= record.next_attempt_at - record.last_started_at <= timedelta(seconds=121)


def test_a_late_duplicate_never_overwrites_a_final_state(sqs, queues, registry, table):
    runs: list[int] = []

    def once(payload: Any) -> None:
        runs.append(1)
        if len(runs) > 1:
            raise RuntimeError("a second run fails")

    registry.register("once", once)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("once", id="o")
    event = receive(sqs, queues)
    worker = make_worker(sqs, queues, registry, table)
    worker.handle(event, LambdaContext())
    assert queue.status(handle).state == SUCCEEDED
    worker.handle(event, LambdaContext())  # SQS delivers the same message again: it runs and fails
    assert len(runs) == 2
    record = queue.status(handle)
    assert (record.state, record.attempts) == (SUCCEEDED, 1)
    # and the producer's late "queued" for the same message is refused too
    ProducerStatus(table).queued("once", "o", str(handle), datetime.now(UTC))
    assert queue.status(handle).state == SUCCEEDED


def test_the_worker_writes_running_before_the_task_is_called(sqs, queues, registry, table):
    seen: list[str] = []
    queue = producer(sqs, queues, table)
    registry.register("peek", lambda payload: seen.append(queue.status("peek", "p").state))
    queue.enqueue("peek", id="p")
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues), LambdaContext())
    assert seen == [RUNNING]


def test_a_task_without_an_id_is_tracked_by_its_message_id(sqs, queues, registry, table):
    registry.register("anonymous", lambda payload: None)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("anonymous")
    assert queue.status(handle).state == QUEUED
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues), LambdaContext())
    record = queue.status(handle)
    assert (record.state, record.task_id, record.message_id) == (SUCCEEDED, None, str(handle))
    with pytest.raises(ValueError, match="neither a handle enqueue returned"):
        queue.status(str(handle))  # a bare message id names no task


def test_the_result_is_stored_and_one_too_large_is_refused_with_the_error_in_log_and_status(
    sqs, queues, registry, table
):
    registry.register("small", lambda payload: {"total": 42}, store_result=True)
    registry.register("big", lambda payload: "x" * (status.MAX_RESULT_BYTES + 1), store_result=True)
    queue = producer(sqs, queues, table)
    small, big = queue.enqueue("small", id="s"), queue.enqueue("big", id="b")
    with LogCapture(worker_module.logger) as logs:
        make_worker(sqs, queues, registry, table, mode="opted_in").handle(receive(sqs, queues, 2), LambdaContext())
    assert queue.status(small).result == {"total": 42}
    record = queue.status(big)
    assert (record.state, record.result) == (SUCCEEDED, None)
    assert f"over the {status.MAX_RESULT_BYTES} bytes" in record.result_error
    errors = [line for line in logs.lines() if line.get("level") == "ERROR"]
    assert [line["error"] for line in errors] == [record.result_error]
    assert errors[0]["task_id"] == "b"


def test_a_result_too_deeply_nested_for_json_is_refused_and_the_task_stays_succeeded(sqs, queues, registry, table):
    """json.dumps raises RecursionError, not TypeError, on a deep structure: the task still ran and is done."""
    deep: list[object] = []
    for _ in range(5_000):
        deep = [deep]
    registry.register("deep", lambda payload: deep, store_result=True)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("deep", id="d")
    answer = make_worker(sqs, queues, registry, table, mode="opted_in").handle(receive(sqs, queues, 1), LambdaContext())
    assert answer["batchItemFailures"] == []
    record = queue.status(handle)
    assert (record.state, record.result) == (SUCCEEDED, None)
    assert "is not stored" in record.result_error


def test_a_task_whose_identity_is_longer_than_a_dynamodb_key_is_tracked(sqs, queues, registry, table):
    """DynamoDB keys hold at most 2,048 bytes; a task id may be longer (SQS bounds only the whole message)."""
    registry.register("long", lambda payload: None)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("long", id="x" * 3_000)
    assert queue.status(handle).state == QUEUED
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues, 1), LambdaContext())
    assert queue.status("long", "x" * 3_000).state == SUCCEEDED
    with pytest.raises(status.NotTracked):
        queue.status("long", "x" * 2_999 + "y")


def test_a_task_opts_in_or_out_of_the_modules_tracking(sqs, queues, registry, table):
    registry.register("default", lambda payload: None)
    registry.register("opted_out", lambda payload: None, track_status=False)
    registry.register("opted_in", lambda payload: None, track_status=True)
    queue = TaskQueue(queues.url, sqs=sqs)  # a producer that writes nothing: only the worker's writes
    queue.enqueue("default", id="1")
    queue.enqueue("opted_out", id="1")
    queue.enqueue("opted_in", id="1")
    make_worker(sqs, queues, registry, table, mode="opted_in").handle(receive(sqs, queues, 3), LambdaContext())
    assert table.read(TaskKey("opted_in", "1")).state == SUCCEEDED
    assert table.read(TaskKey("default", "1")) is None
    assert table.read(TaskKey("opted_out", "1")) is None
    with pytest.raises(ValueError, match="track_status=False"):
        registry.register("contradiction", lambda payload: None, track_status=False, store_result=True)


def test_a_status_write_that_fails_never_fails_the_task(sqs, queues, registry, dynamodb):
    ran: list[int] = []
    registry.register("job", lambda payload: ran.append(1))
    broken = StatusTable("no-such-table", dynamodb_client=dynamodb)
    TaskQueue(queues.url, sqs=sqs).enqueue("job", id="1")
    worker = make_worker(sqs, queues, registry, broken)
    with LogCapture(worker_module.logger) as logs:
        response = worker.handle(receive(sqs, queues), LambdaContext())
    assert ran == [1] and response["batchItemFailures"] == []
    warned = [line for line in logs.lines() if line.get("status") in (RUNNING, SUCCEEDED)]
    assert [line["status"] for line in warned] == [RUNNING, SUCCEEDED]
    assert all("ResourceNotFoundException" in line["error"] for line in warned)


def test_a_periodic_run_is_tracked_under_its_name_and_scheduled_time(sqs, queues, registry, table):
    registry.register("checksum", lambda payload: None)
    run_id = "heartbeat@2026-12-07T00:10:00Z"
    sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"task": "checksum", "payload": {}, "id": run_id}))
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues), LambdaContext())
    record = TaskQueue(queues.url, sqs=sqs, status=table).status("checksum", run_id)
    assert (record.state, record.task_id, record.attempts) == (SUCCEEDED, run_id, 1)
    assert record.enqueued_at is not None  # from the message's SentTimestamp: no producer wrote it


# -- scheduled tasks, cancel, redrive -------------------------------------------------------------


@pytest.fixture
def scheduling(aws: None) -> SchedulingConfig:
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name="tasks")
    return SchedulingConfig(
        "tasks", "arn:aws:iam::123456789012:role/scheduler", "arn:aws:sqs:us-east-1:123456789012:tasks-dlq"
    )


def test_a_scheduled_task_reads_scheduled_then_cancelled(sqs, queues, table, scheduling):
    now = datetime.now(UTC)
    queue = producer(sqs, queues, table, scheduling=scheduling, clock=lambda: now)
    handle = queue.enqueue("report", id="monthly", delay=timedelta(hours=2))
    assert isinstance(handle, ScheduleName)
    record = queue.status(handle)
    assert (record.state, record.due_at, record.message_id) == (SCHEDULED, handle.due, None)
    queue.cancel(handle)
    cancelled = queue.status("report", "monthly")
    assert (cancelled.state, cancelled.final) == (CANCELLED, True)
    anonymous = queue.enqueue("report", delay=timedelta(hours=2))
    with pytest.raises(ValueError, match="gets only when its schedule fires"):
        queue.status(anonymous)


def test_a_scheduled_task_that_fires_reads_running_then_succeeded(sqs, queues, registry, table, scheduling):
    registry.register("report", lambda payload: None)
    queue = producer(sqs, queues, table, scheduling=scheduling)
    queue.enqueue("report", id="later", delay=timedelta(hours=1))
    # The Scheduler sends the task message when it is due (the input the producer gave it).
    sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"task": "report", "payload": None, "id": "later"}))
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues), LambdaContext())
    record = queue.status("report", "later")
    assert (record.state, record.due_at) == (SUCCEEDED, None)


def test_a_redriven_task_goes_back_to_queued(sqs, queues, registry, table, tmp_path):
    outcomes = iter([PermanentError("bad input"), None])

    def fixed_later(payload: Any) -> None:
        failure = next(outcomes)
        if failure is not None:
            raise failure

    registry.register("import", fixed_later)
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("import", id="i-1")
    worker = make_worker(sqs, queues, registry, table)
    worker.handle(receive(sqs, queues), LambdaContext())
    assert queue.status(handle).state == DEAD_LETTERED

    class Quiet:
        def message(self, *args: Any) -> None: ...

        def progress(self, *args: Any) -> None: ...

    with RedriveJournal(tmp_path / "journal.sqlite3", "arn:aws:sqs:us-east-1:123456789012:tasks-dlq") as journal:
        report = redrive_dead_letters(
            sqs, queues.dlq_url, queues.url, Selection(), journal, Quiet(), status=ProducerStatus(table)
        )
    assert report.moved == 1
    queued = queue.status("import", "i-1")
    assert queued.state == QUEUED and queued.message_id != str(handle)
    assert (queued.reason, queued.dlq_message_id, queued.attempts) == (None, None, 0)
    worker.handle(receive(sqs, queues), LambdaContext())
    assert queue.status("import", "i-1").state == SUCCEEDED


# -- reading: wait, the CLI -----------------------------------------------------------------------


def test_wait_polls_with_backoff_until_a_final_state(sqs, queues, table):
    queue = producer(sqs, queues, table)
    handle = queue.enqueue("slow", id="w")
    key = TaskKey("slow", "w")
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds
        if len(pauses) == 4:
            table.write(key, StatusWrite(SUCCEEDED, 1.0, message_id=str(handle)))

    record = ProducerStatus(table).wait(key, timeout=60, sleep=sleep, clock=lambda: now[0])
    assert record.state == SUCCEEDED
    assert pauses == sorted(pauses) and pauses[0] < pauses[-1] <= 5.0
    table.write(TaskKey("never", "1"), StatusWrite(QUEUED, 1.0, message_id="m"))
    with pytest.raises(TimeoutError, match="still queued after 2 s"):
        ProducerStatus(table).wait(TaskKey("never", "1"), timeout=2, sleep=sleep, clock=lambda: now[0])


def test_status_without_a_record_or_a_table_says_why(sqs, queues, table):
    with pytest.raises(NotTracked, match="not tracked"):
        producer(sqs, queues, table).status("export", "missing")
    with pytest.raises(ValueError, match="status is not configured"):
        TaskQueue(queues.url, sqs=sqs).status("export", "missing")


@pytest.mark.parametrize("since", ["99999999d", "999999999d"])
def test_a_since_before_the_year_1_is_bad_input_naming_the_option(since, sqs, table, capsys, monkeypatch):
    monkeypatch.setenv(status.STATUS_TABLE_ENV, TABLE)
    assert cli.main(["status", "--state", "dead_lettered", "--since", since], sqs) == 2
    assert "--since" in capsys.readouterr().err


def test_the_cli_shows_a_task_and_lists_a_state_since_a_time(sqs, queues, registry, table, capsys, monkeypatch):
    def refund(payload: Any) -> None:
        raise PermanentError("nothing to refund")

    registry.register("refund", refund)
    registry.register("ok", lambda payload: None)
    queue = producer(sqs, queues, table)
    queue.enqueue("refund", id="r-1")
    queue.enqueue("ok", id="k-1")
    make_worker(sqs, queues, registry, table).handle(receive(sqs, queues, 2), LambdaContext())
    monkeypatch.setenv(status.STATUS_TABLE_ENV, TABLE)
    capsys.readouterr()  # the worker's log lines (its logger writes to the stdout it was built with)

    assert cli.main(["status", "refund", "r-1", "--json"], sqs) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["state"], shown["reason"], shown["task_id"]) == (DEAD_LETTERED, "permanent_error", "r-1")

    assert cli.main(["status", "refund", "r-1"], sqs) == 0
    shown_lines = capsys.readouterr().out.splitlines()
    assert ["reason", "permanent_error"] in [line.split() for line in shown_lines]

    assert cli.main(["status", "--state", "dead_lettered", "--since", "1h"], sqs) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "refund  r-1  attempts 1  permanent_error: PermanentError: nothing to refund" in out[0]
    assert out[1].startswith("1 tasks dead_lettered since ")

    assert cli.main(["status", "--state", "succeeded", "--json"], sqs) == 0
    assert [json.loads(line)["task"] for line in capsys.readouterr().out.splitlines()] == ["ok"]

    assert cli.main(["status", "refund", "nope"], sqs) == 1
    assert "no status of task 'refund' id 'nope'" in capsys.readouterr().err
    assert cli.main(["status", "refund"], sqs) == 2
    assert "give TASK ID" in capsys.readouterr().err
    monkeypatch.delenv(status.STATUS_TABLE_ENV)
    assert cli.main(["status", "refund", "r-1"], sqs) == 2
    assert "--status-table is required" in capsys.readouterr().err


def test_the_modules_index_and_key_prefix_are_the_runtimes() -> None:
    """The Terraform module builds the index and the IAM key condition from its own copy of these names."""
    from pathlib import Path

    import hcl2

    with (Path(__file__).parent.parent / "terraform" / "locals.tf").open() as file:
        module = {name: value for block in hcl2.load(file).get("locals", []) for name, value in block.items()}

    def text(value: Any) -> Any:  # python-hcl2 keeps a string's quotes
        return [text(each) for each in value] if isinstance(value, list) else str(value).strip('"')

    assert text(module["status_index_name"]) == status.STATE_INDEX
    assert text(module["status_state_attribute"]) == status.STATE_ATTRIBUTE
    assert text(module["status_changed_at_attribute"]) == status.STATE_CHANGED_AT_ATTRIBUTE
    assert text(module["status_index_projected"]) == list(status.INDEX_PROJECTED_ATTRIBUTES)
    assert text(module["status_key_prefix"]) == status.KEY_PREFIX


def _item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: each attribute's name plus its value (a number: about one byte per two digits, +1)."""
    size = 0
    for name, typed in item.items():
        (kind, value), *_ = typed.items()
        size += len(name.encode()) + (len(value.encode()) if kind == "S" else len(value) // 2 + 2)
    return size


def test_a_record_without_a_result_fits_one_write_unit(dynamodb, table):
    """What the cost model assumes (bench/cost_model.py: one 1 KB write unit per status write): a 40-character task
    name, a 60-character id and the longest last error kept."""
    key = TaskKey("t" * 40, "i" * 60)
    long_error = "E" * 5_000
    table.write(key, StatusWrite(QUEUED, 1.0, message_id="8c8f9c1e-36a4-4b7f-a4b0-7d2f1c3e5a6b", enqueued_at=1.0))
    table.write(key, StatusWrite(RUNNING, 2.0, message_id="8c8f9c1e-36a4-4b7f-a4b0-7d2f1c3e5a6b", attempt=3))
    table.write(
        key,
        StatusWrite(
            DEAD_LETTERED,
            3.0,
            message_id="8c8f9c1e-36a4-4b7f-a4b0-7d2f1c3e5a6b",
            reason="retries_exhausted",
            error=long_error,
            dlq_message_id="0f4e5c1d-2b3a-4c5d-8e9f-0a1b2c3d4e5f",
        ),
    )
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": key.item_id}})["Item"]
    assert len(item["last_error"]["S"]) == status.MAX_ERROR_CHARS
    assert _item_bytes(item) <= 1024, _item_bytes(item)


def test_the_workers_status_settings_are_checked_and_round_trip() -> None:
    from taskqueue.config import ConfigError

    dlq = {"TASKQUEUE_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq"}
    assert WorkerConfig.from_env(dlq).track_status == "off"
    tracked = WorkerConfig.from_env(
        {
            **dlq,
            "TASKQUEUE_STATUS_TABLE": "t",
            "TASKQUEUE_TRACK_STATUS": "opted_in",
            "TASKQUEUE_STATUS_TTL_SECONDS": "7200",
        }
    )
    assert (tracked.status_table, tracked.track_status, tracked.status_ttl_seconds) == ("t", "opted_in", 7200)
    assert WorkerConfig.from_env(tracked.to_env()) == tracked
    assert WorkerConfig.from_env({**dlq, "TASKQUEUE_STATUS_TABLE": "t"}).track_status == "all"
    with pytest.raises(ConfigError, match="TASKQUEUE_TRACK_STATUS='all' needs TASKQUEUE_STATUS_TABLE"):
        WorkerConfig.from_env({**dlq, "TASKQUEUE_TRACK_STATUS": "all"})
    with pytest.raises(ConfigError, match="TASKQUEUE_TRACK_STATUS='yes' is not one of off, opted_in, all"):
        WorkerConfig.from_env({**dlq, "TASKQUEUE_STATUS_TABLE": "t", "TASKQUEUE_TRACK_STATUS": "yes"})
    with pytest.raises(ValueError, match="track_status='yes' must be True, False or None"):
        TaskRegistry().register("t", lambda payload: None, track_status="yes")  # type: ignore[arg-type]


def test_the_worker_tracks_status_only_where_the_module_says(monkeypatch) -> None:
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", "https://sqs.eu-west-1.amazonaws.com/1/dlq")
    assert worker_module._task_status(WorkerConfig.from_env()) is None
    monkeypatch.setenv("TASKQUEUE_STATUS_TABLE", TABLE)
    monkeypatch.setenv("TASKQUEUE_TRACK_STATUS", "opted_in")
    tracking = worker_module._task_status(WorkerConfig.from_env())
    assert tracking is not None and tracking.mode == "opted_in"
    assert tracking.table.table_name == TABLE
