"""How the local stack's scenarios tell how tasks ended: the worker's answers, told apart by its INFO records."""

from __future__ import annotations

import json

from taskqueue import observability
from taskqueue.batch_response import encode
from taskqueue.metrics import MetricsLine
from taskqueue_local.deployment.outcomes import WorkerLog, outcomes_of
from taskqueue_local.infrastructure.invocations import Invocation, InvocationJournal, InvocationRecord, journal_path

STARTED_MS = 1_000_000


def _record(message_id: str, body: str, receive_count: int = 1, sent_ms: int = STARTED_MS - 250) -> dict:
    attributes = {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": str(sent_ms)}
    return {"messageId": message_id, "body": body, "attributes": attributes}


def _invocation(records: list[dict], payload: bytes, **outcome) -> InvocationRecord:
    event = json.dumps({"Records": records}).encode()
    return InvocationRecord("worker", event, Invocation(payload, started_ms=STARTED_MS, **outcome))


BATCH = [
    _record("m-ok", json.dumps({"task": "t", "id": "task-ok"})),
    _record("m-retry", json.dumps({"task": "t", "id": "task-retry"}), receive_count=2),
    _record("m-dead", "not json"),
    _record("m-released", json.dumps({"task": "t"})),
]
# What the worker writes at INFO and above (as in production): no line per success.
LOG = [
    {observability.MESSAGE_ID: "m-retry", observability.OUTCOME: observability.RETRIED},
    {observability.MESSAGE_ID: "m-dead", observability.OUTCOME: observability.DEAD_LETTERED},
    {observability.MESSAGE_ID: "m-released", observability.OUTCOME: observability.RELEASED},
    {"message": "batch done", observability.TASK_QUEUE_TIME: [250]},
]


def test_done_messages_succeeded_unless_their_record_says_dead_lettered():
    answer = json.dumps(encode(["m-retry", "m-released"], {"m-retry": 4, "m-released": 0}, True)).encode()
    found = outcomes_of([_invocation(BATCH, answer)], LOG)
    assert found.succeeded == {"m-ok"}
    assert found.retried == {"m-retry"}
    assert found.runs == {"task-ok": 1}
    assert found.succeeded_queue_ms == {"m-ok": 250.0}
    assert sorted(found.first_attempt_queue_ms) == [250.0, 250.0, 250.0]  # the second receive is not a first attempt


def test_an_invocation_that_failed_or_was_throttled_answered_for_none_of_its_messages():
    crashed = _invocation(BATCH, b'{"errorType": "Runtime.ExitError"}', function_error="Unhandled")
    throttled = _invocation(BATCH, b"", throttled=True)
    unreadable = _invocation(BATCH, b'{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}')
    found = outcomes_of([crashed, throttled, unreadable], [])
    assert found.succeeded == set() and found.runs == {}


def test_a_worker_log_reads_only_past_its_mark(tmp_path):
    log = WorkerLog(tmp_path / "worker.log")
    journal = InvocationJournal(journal_path(tmp_path, "worker"))
    journal.append(_invocation(BATCH[:1], b'{"batchItemFailures": []}'))
    log.path.write_text("REPORT RequestId: x\tBilled Duration: 3 ms\n" + json.dumps(LOG[-1]) + "\n")
    assert log.task_runs() == {"task-ok": 1} and log.queue_times() == [250.0]
    mark = log.mark()
    assert log.task_runs(mark) == {} and log.queue_times(mark) == []
    journal.append(_invocation(BATCH[:1], b"{}"))
    assert log.task_runs(mark) == {"task-ok": 1}


def test_starts_held_back_are_counted_per_task_from_the_workers_metric_lines():
    line = MetricsLine("worker")
    line.count(observability.TASKS_SUCCEEDED, task="checksum")
    line.count(observability.TASKS_HELD_BACK, 2, task="partner_api")
    line.count(observability.TASKS_HELD_BACK, task="export")
    later = MetricsLine("worker")
    later.count(observability.TASKS_HELD_BACK, task="partner_api")
    documents = line.documents({"message": "batch done"}) + later.documents() + LOG
    found = outcomes_of([], documents)
    assert found.held_back == {"partner_api": 3, "export": 1}
