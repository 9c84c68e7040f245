"""With an idempotency table, a completed task does not run again (Powertools + DynamoDB on moto)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from taskqueue.config import WorkerConfig
from taskqueue.idempotency import IdempotentRunner
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import LambdaContext, received_event
from tests.support.aws_settings import STATE_TABLE

TABLE = STATE_TABLE
# How long a thread waits for the other; only a broken test waits that long.
WAIT_SECONDS = 60.0


@pytest.fixture
def table(state_table: Any) -> Any:
    return state_table


@pytest.fixture
def ledger() -> list[Any]:
    return []


@pytest.fixture
def worker(sqs, queues, table, ledger) -> Worker:
    registry = TaskRegistry()
    registry.register("charge", lambda payload: ledger.append(payload))
    return Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600))


def charge(payload: Any, **fields: Any) -> str:
    return json.dumps({"task": "charge", "payload": payload, **fields})


def test_a_redelivered_message_runs_once(sqs, queues, worker, ledger):
    event = received_event(sqs, queues, [charge(10)])
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []  # the same message again
    assert ledger == [10]


def test_copies_with_the_same_task_id_run_once_and_others_run(sqs, queues, worker, ledger):
    event = received_event(sqs, queues, [charge(1, id="order-1"), charge(1, id="order-1"), charge(2, id="order-2")])
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert sorted(ledger) == [1, 2]


def test_failed_attempt_is_not_remembered(sqs, queues, table, ledger):
    attempts = []

    def fails_once(payload):
        attempts.append(payload)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        ledger.append(payload)

    registry = TaskRegistry()
    registry.register("charge", fails_once)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600))
    event = received_event(sqs, queues, [charge(5, id="x")])
    assert len(worker.handle(event, LambdaContext())["batchItemFailures"]) == 1
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert attempts == [5, 5] and ledger == [5]


def test_a_copy_arriving_while_the_first_runs_is_retried_not_run(sqs, queues, table, ledger):
    started, release = threading.Event(), threading.Event()

    def slow(payload):
        started.set()
        # Held until the copy was handled (a bound only for a broken test): were it to finish first, on a
        # slow machine, the copy would find the first one completed, not in progress.
        release.wait(WAIT_SECONDS)
        ledger.append(payload)

    registry = TaskRegistry()
    registry.register("charge", slow)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600))
    event = received_event(sqs, queues, [charge(7, id="same")])
    first: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: first.update(worker.handle(event, LambdaContext())))
    thread.start()
    assert started.wait(WAIT_SECONDS)
    second = worker.handle(event, LambdaContext())
    release.set()
    thread.join()

    assert first["batchItemFailures"] == []
    assert [item["itemIdentifier"] for item in second["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert ledger == [7]


def test_permanent_errors_still_reach_the_dlq(sqs, queues, table):
    from taskqueue import PermanentError

    def reject(payload):
        raise PermanentError("never")

    registry = TaskRegistry()
    registry.register("charge", reject)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600))
    event = received_event(sqs, queues, [charge(1, id="p")])
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    dead = sqs.receive_message(QueueUrl=queues.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert dead[0]["MessageAttributes"]["taskqueue.reason"]["StringValue"] == "permanent_error"


def test_keys_of_different_tasks_and_ids_never_collide(sqs, queues, table):
    ran = []
    registry = TaskRegistry()
    registry.register("reports/id/2024", lambda payload: ran.append("reports/id/2024"))
    registry.register("reports", lambda payload: ran.append("reports"))
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600))
    event = received_event(
        sqs,
        queues,
        [
            json.dumps({"task": "reports/id/2024", "id": "q1"}),
            json.dumps({"task": "reports", "id": "2024/id/q1"}),
        ],
    )
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert sorted(ran) == ["reports", "reports/id/2024"]


# -- errors of the idempotency layer are not attempts of the task (issue 19, defect 2) ---------------


def _dead_letters(sqs: Any, queues: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


def test_a_copy_arriving_on_its_last_receive_while_the_first_runs_is_not_dead_lettered(sqs, make_queues, table):
    """SQS delivers a second copy of the message (receive 2 of 2) while the first copy runs, in another
    execution environment. The copy is released for later, not dead-lettered; the first copy completes."""
    queues = make_queues(max_receive_count=2)
    ran: list[Any] = []
    copy: dict[str, Any] = {}
    registry = TaskRegistry()
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=2)
    other_environment = Worker(config, sqs, registry, IdempotentRunner(TABLE, 3600))

    def charge_once(payload):
        if not copy:  # the copy arrives while this run is under way
            copy.update(other_environment.handle(duplicate, LambdaContext()))
        ran.append(payload)

    registry.register("charge", charge_once)
    event = received_event(sqs, queues, [charge(7, id="same")])
    duplicate = json.loads(json.dumps(event))
    duplicate["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    first = Worker(config, sqs, registry, IdempotentRunner(TABLE, 3600)).handle(event, LambdaContext())

    assert first["batchItemFailures"] == []
    assert ran == [7]
    assert [item["itemIdentifier"] for item in copy["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert _dead_letters(sqs, queues) == []


def test_an_idempotency_table_failure_before_the_task_runs_is_not_an_attempt(sqs, make_queues, table):
    """The idempotency table throttles on the message's only allowed attempt: the task did not run, so it is
    released for later, not dead-lettered as retries_exhausted."""
    from tests.support.aws_fakes import FailingCalls

    queues = make_queues(max_receive_count=1)
    ran: list[Any] = []
    registry = TaskRegistry()
    registry.register("charge", lambda payload: ran.append(payload))
    worker = Worker(
        WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=1), sqs, registry, IdempotentRunner(TABLE, 3600, table)
    )
    throttled = FailingCalls(table, "PutItem", 1)
    event = received_event(sqs, queues, [charge(3, id="t")])
    answer = worker.handle(event, LambdaContext())

    assert ran == []
    assert [item["itemIdentifier"] for item in answer["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert _dead_letters(sqs, queues) == []
    throttled.stop()
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert ran == [3]


def test_a_task_that_returned_is_not_run_again_when_its_completion_cannot_be_recorded(sqs, queues, table):
    """The task ran and returned; Powertools then fails to record the completion. The run succeeded: the
    message is done, not retried (a retry would run the task again once the in-progress record expires)."""
    from tests.support.aws_fakes import FailingCalls

    ran: list[Any] = []
    registry = TaskRegistry()
    registry.register("charge", lambda payload: ran.append(payload))
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, IdempotentRunner(TABLE, 3600, table))
    FailingCalls(table, "UpdateItem", 1)
    event = received_event(sqs, queues, [charge(4, id="u")])

    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert ran == [4]
