"""A worker that cannot start (its task modules fail to import, its configuration is bad), in both modes.

The fault's invariants: nothing is lost; no task reaches the DLQ without a reason saying why; receives are
not burned while it cannot start, where the mode allows (the consumer's side is in test_consumer.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from taskqueue import batch_response, dead_letter_queue, worker
from taskqueue.errors import WORKER_START_ERROR_TYPES, WorkerCannotStart
from tests.support.aws_fakes import LambdaContext, LogCapture, received_event

MISSING = "not_installed_tasks"


@pytest.fixture(autouse=True)
def fresh_worker() -> Iterator[None]:
    worker._worker.cache_clear()
    yield
    worker._worker.cache_clear()


@pytest.fixture
def broken(monkeypatch, queues):
    """A worker deployed with a task module that is not in its package."""
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", queues.url)
    monkeypatch.setenv("TASKQUEUE_TASKS", MISSING)
    monkeypatch.setenv("TASKQUEUE_MAX_RECEIVE_COUNT", "3")
    monkeypatch.setenv("TASKQUEUE_BACKOFF_BASE_SECONDS", "10")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def _task(text: str = "hi") -> str:
    return json.dumps({"task": "checksum", "payload": {"text": text}})


def test_an_empty_batch_probes_the_start_and_fails_with_the_named_error_type(broken):
    with pytest.raises(WorkerCannotStart) as raised:
        worker.handler({"Records": []}, LambdaContext(function_name="worker"))
    # Lambda reports the exception's class name as the invocation's errorType: the consumer's contract.
    assert type(raised.value).__name__ in WORKER_START_ERROR_TYPES
    assert f"TASKQUEUE_TASKS names module {MISSING!r}, which cannot be imported" in str(raised.value)
    assert isinstance(raised.value.__cause__, ImportError)


def test_a_bad_configuration_is_a_start_failure_too(monkeypatch, queues):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setenv("TASKQUEUE_TASKS", "1bad")
    with pytest.raises(WorkerCannotStart, match="TASKQUEUE_TASKS='1bad'"):
        worker.handler({"Records": []}, LambdaContext(function_name="worker"))


@pytest.mark.parametrize("apply_backoff", [False, True], ids=["consumer", "event_source_mapping"])
def test_a_batch_is_held_back_with_backoff_loudly(broken, sqs, queues, monkeypatch, capsys, apply_backoff):
    monkeypatch.setenv("TASKQUEUE_APPLY_BACKOFF", "true" if apply_backoff else "false")
    event = received_event(sqs, queues, [_task("a"), _task("b")])
    ids = [record["messageId"] for record in event["Records"]]
    capsys.readouterr()
    with LogCapture(worker.logger) as logs:
        answer = worker.handler(event, LambdaContext(function_name="worker"))

    # Nothing ran, nothing is deleted: every record failed, to come back after its backoff.
    assert sorted(item["itemIdentifier"] for item in answer["batchItemFailures"]) == sorted(ids)
    if apply_backoff:
        # Behind an event source mapping the worker hides them itself.
        attributes = sqs.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"
    else:
        parsed = batch_response.parse(json.dumps(answer).encode(), ids)
        assert parsed.failed == frozenset(ids)
        assert all(delay >= 5 for delay in parsed.retry_delays.values())
        # The consumer learns the worker cannot start from the answer, and backs off.
        assert MISSING in (parsed.start_failure or "")
    # Loud: the error in full in a log line, and a metric the module's alarm watches.
    [line] = [line for line in logs.lines() if line.get("message") == worker.WORKER_CANNOT_START_MESSAGE]
    assert f"TASKQUEUE_TASKS names module {MISSING!r}" in line["error"]
    assert "Traceback" in line["error"]
    [emf] = [json.loads(out) for out in capsys.readouterr().out.splitlines() if "WorkerStartFailed" in out]
    assert emf["WorkerStartFailed"] == 1


@pytest.mark.parametrize("apply_backoff", [False, True], ids=["consumer", "event_source_mapping"])
def test_on_its_last_receive_a_task_is_dead_lettered_with_the_reason(broken, sqs, queues, monkeypatch, apply_backoff):
    """SQS's redrive would move it with no reason; the worker moves it first, saying why."""
    monkeypatch.setenv("TASKQUEUE_APPLY_BACKOFF", "true" if apply_backoff else "false")
    monkeypatch.setenv("TASKQUEUE_MAX_RECEIVE_COUNT", "1")
    event = received_event(sqs, queues, [_task()])

    answer = worker.handler(event, LambdaContext(function_name="worker"))

    assert answer["batchItemFailures"] == []  # dead-lettered: the caller deletes it
    [letter] = sqs.receive_message(QueueUrl=queues.dlq_url, MessageAttributeNames=["All"])["Messages"]
    attributes = letter["MessageAttributes"]
    assert attributes[dead_letter_queue.REASON_ATTRIBUTE]["StringValue"] == dead_letter_queue.WORKER_CANNOT_START
    assert MISSING in attributes[dead_letter_queue.ERROR_ATTRIBUTE]["StringValue"]
    assert json.loads(letter["Body"]) == json.loads(_task())  # nothing lost: `dlq redrive` brings it back
