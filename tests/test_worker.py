"""The worker: per-message outcomes, the DLQ with reasons, FIFO groups, ESM-mode backoff."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskqueue import PermanentError
from taskqueue import worker as worker_module
from taskqueue.backoff import Backoff
from taskqueue.config import WorkerConfig
from taskqueue.dead_letter_queue import ERROR_ATTRIBUTE, REASON_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE, TASK_ATTRIBUTE
from taskqueue.operations.dlq_message import read_reason
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import CallRecorder, FakeClock, LambdaContext, LogCapture, received_event


def body(task: str, payload: Any = None, **fields: Any) -> str:
    return json.dumps({"task": task, "payload": payload, **fields})


@pytest.fixture
def registry() -> TaskRegistry:
    return TaskRegistry()


@pytest.fixture
def worker(sqs: Any, queues: Any, registry: TaskRegistry) -> Worker:
    return Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry)


def dead_letters(sqs: Any, queues: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def test_success_and_retry_are_reported_per_message(sqs, queues, worker, registry):
    ran: list[Any] = []
    registry.register("ok", lambda payload: ran.append(payload))

    def boom(payload):
        raise RuntimeError("try again")

    registry.register("boom", boom)
    event = received_event(sqs, queues, [body("ok", {"n": 1}), body("boom"), body("ok", {"n": 2})])
    response = worker.handle(event, LambdaContext())

    boom_id = next(r["messageId"] for r in event["Records"] if '"boom"' in r["body"])
    assert failed_ids(response) == {boom_id}
    assert sorted(item["n"] for item in ran) == [1, 2]
    assert dead_letters(sqs, queues) == []


@pytest.mark.parametrize(
    ("raw_body", "reason", "error_part"),
    [
        ("not json at all", "malformed", "not valid JSON"),
        ("[1, 2]", "malformed", "must be a JSON object"),
        ('{"payload": 1}', "malformed", "no 'task' field"),
        ('{"task": 42}', "malformed", "'task' must be a non-empty string"),
        ('{"task": ""}', "malformed", "'task' must be a non-empty string"),
        ('{"task": "ok", "id": 7}', "malformed", "'id' must be a non-empty string"),
        ('{"task": "no_such_task"}', "unknown_task", "no_such_task"),
        ("\u00e9\u00e8 binary-ish \ufffd", "malformed", "not valid JSON"),
    ],
)
def test_messages_that_can_never_run_go_to_the_dlq_with_the_reason(
    sqs, queues, worker, registry, raw_body, reason, error_part
):
    registry.register("ok", lambda payload: None)
    event = received_event(
        sqs, queues, [raw_body], MessageAttributes={"trace": {"DataType": "String", "StringValue": "abc"}}
    )
    response = worker.handle(event, LambdaContext())

    assert response["batchItemFailures"] == []  # done here: the caller deletes it, no retries burnt
    [dead] = dead_letters(sqs, queues)
    attributes = dead["MessageAttributes"]
    assert dead["Body"] == raw_body
    assert attributes[REASON_ATTRIBUTE]["StringValue"] == reason
    assert error_part in attributes[ERROR_ATTRIBUTE]["StringValue"]
    assert attributes[SOURCE_MESSAGE_ID_ATTRIBUTE]["StringValue"] == event["Records"][0]["messageId"]
    assert attributes["trace"]["StringValue"] == "abc"  # the original attributes travel along
    if reason == "unknown_task":
        assert attributes[TASK_ATTRIBUTE]["StringValue"] == "no_such_task"


def test_permanent_error_goes_to_the_dlq_and_other_messages_are_unaffected(sqs, queues, worker, registry):
    def reject(payload):
        raise PermanentError("order 17 does not exist")

    ran = []
    registry.register("reject", reject)
    registry.register("ok", lambda payload: ran.append(payload))
    event = received_event(sqs, queues, [body("reject", 17), body("ok", 1), body("ok", 2)])
    response = worker.handle(event, LambdaContext())

    assert response["batchItemFailures"] == []
    assert sorted(ran) == [1, 2]
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "permanent_error"
    assert dead["MessageAttributes"][TASK_ATTRIBUTE]["StringValue"] == "reject"
    assert "PermanentError: order 17 does not exist" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


def test_a_failed_dlq_send_keeps_the_message_on_the_queue(sqs, queues, registry):
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url + "-gone"), sqs, registry)
    event = received_event(sqs, queues, ["garbage"])
    response = worker.handle(event, LambdaContext())
    assert failed_ids(response) == {event["Records"][0]["messageId"]}


def test_dlq_entry_keeps_within_the_attribute_limit(sqs, queues, worker):
    attributes = {f"a{i}": {"DataType": "String", "StringValue": str(i)} for i in range(10)}
    event = received_event(sqs, queues, ["garbage"], MessageAttributes=attributes)
    worker.handle(event, LambdaContext())
    [dead] = dead_letters(sqs, queues)
    assert len(dead["MessageAttributes"]) == 10
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "malformed"


def test_task_gets_a_context_when_it_asks_for_one(sqs, queues, worker, registry):
    seen = []
    registry.register("with_context", lambda payload, context: seen.append(context))
    event = received_event(sqs, queues, [body("with_context", None, id="job-1")])
    worker.handle(event, LambdaContext(remaining_seconds=42))
    [context] = seen
    assert context.task == "with_context"
    assert context.task_id == "job-1"
    assert context.message_id == event["Records"][0]["messageId"]
    assert context.receive_count == 1
    assert 40_000 < context.get_remaining_time_in_millis() <= 42_000


def test_no_task_starts_when_the_invocation_is_about_to_time_out(sqs, queues, worker, registry):
    ran = []
    registry.register("ok", lambda payload: ran.append(payload))
    event = received_event(sqs, queues, [body("ok", 1)])
    response = worker.handle(event, LambdaContext(remaining_seconds=0.5))
    assert ran == []
    assert failed_ids(response) == {event["Records"][0]["messageId"]}


def test_fifo_failure_skips_the_rest_of_its_group_only(sqs, make_queues, registry):
    queues = make_queues("orders", fifo=True)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry)
    ran: list[str] = []

    def step(payload):
        if payload == "a2":
            raise RuntimeError("a2 fails")
        ran.append(payload)

    registry.register("step", step)
    names = ["a1", "b1", "a2", "b2", "a3", "b3"]
    event = received_event(sqs, queues, [body("step", n) for n in names], group_ids=[n[0] for n in names])
    response = worker.handle(event, LambdaContext())

    by_payload = {json.loads(r["body"])["payload"]: r["messageId"] for r in event["Records"]}
    assert ran == ["a1", "b1", "b2", "b3"]
    assert failed_ids(response) == {by_payload["a2"], by_payload["a3"]}


def test_event_source_mapping_mode_sets_backoff_on_failures(sqs, queues, registry):
    config = WorkerConfig(
        dlq_url=queues.dlq_url, behind_event_source_mapping=True, queue_url=queues.url, backoff=Backoff(10, 100)
    )
    worker = Worker(config, sqs, registry)
    recorder = CallRecorder(sqs)
    registry.register("ok", lambda payload: None)
    registry.register("boom", lambda payload: 1 / 0)
    event = received_event(sqs, queues, [body("boom"), body("ok")])
    worker.handle(event, LambdaContext())

    [call] = recorder.named("ChangeMessageVisibilityBatch")
    [entry] = call["Entries"]
    boom = next(r for r in event["Records"] if '"boom"' in r["body"])
    assert entry["ReceiptHandle"] == boom["receiptHandle"]
    assert 5 <= entry["VisibilityTimeout"] <= 10  # first attempt: between half and all of the base


def test_consumer_mode_leaves_backoff_to_the_consumer(sqs, queues, worker, registry):
    recorder = CallRecorder(sqs)
    registry.register("boom", lambda payload: 1 / 0)
    worker.handle(received_event(sqs, queues, [body("boom")]), LambdaContext())
    assert recorder.count("ChangeMessageVisibilityBatch") == 0


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, []])
def test_an_event_that_is_not_an_sqs_event_is_an_error(worker, event):
    with pytest.raises(ValueError, match="expects an SQS event"):
        worker.handle(event, LambdaContext())


def test_empty_batch(worker):
    assert worker.handle({"Records": []}, LambdaContext())["batchItemFailures"] == []


def test_a_failure_on_the_last_allowed_receive_is_dead_lettered_with_its_error(sqs, make_queues, registry):
    queues = make_queues("short", max_receive_count=2)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=2), sqs, registry)
    registry.register("boom", lambda payload: 1 / 0)
    first = received_event(sqs, queues, [body("boom")])
    assert len(worker.handle(first, LambdaContext())["batchItemFailures"]) == 1  # receive 1 of 2: retry
    assert dead_letters(sqs, queues) == []

    record = first["Records"][0]
    record["attributes"]["ApproximateReceiveCount"] = "2"
    assert worker.handle(first, LambdaContext())["batchItemFailures"] == []  # receive 2 of 2: done
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    error = dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    assert error == "failed on receive 2 of 2 (attempts counted by receives): ZeroDivisionError: division by zero"


def test_a_dead_letter_says_in_a_field_whether_the_task_ran(sqs, make_queues, registry):
    """The fault model and triage read whether a verdict was given without running the task from this field
    (``taskqueue.ran``), not from the error's wording."""
    queues = make_queues("ran", max_receive_count=2)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=2), sqs, registry)
    registry.register("boom", lambda payload: 1 / 0)
    event = received_event(sqs, queues, [body("boom"), body("missing"), "not json"])
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    worker.handle(event, LambdaContext())  # the last allowed receive: the run fails and is dead-lettered
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "3"
    boom = [record for record in event["Records"] if '"boom"' in record["body"]]
    fresh = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=2), sqs, registry)  # knows no verdict
    fresh.handle({"Records": boom}, LambdaContext())  # past max_attempts: dead-lettered unrun
    read = sorted((why.reason, why.ran) for why in map(read_reason, dead_letters(sqs, queues)))
    assert read == [
        ("malformed", False),
        ("retries_exhausted", False),
        ("retries_exhausted", True),
        ("unknown_task", False),
    ]


def test_a_dead_letter_keeps_its_tenant_on_a_standard_queue(sqs, queues, worker, registry):
    """The tenant (a fair queue's MessageGroupId) stays with the dead letter, so its redrive keeps it too."""

    def reject(payload):
        raise PermanentError("no")

    registry.register("reject", reject)
    event = received_event(sqs, queues, [body("reject")], MessageGroupId="customer-42")
    worker.handle(event, LambdaContext())
    [dead] = sqs.receive_message(QueueUrl=queues.dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["Attributes"]["MessageGroupId"] == "customer-42"


def test_error_text_sqs_would_refuse_is_made_safe(sqs, queues, worker, registry):
    def reject(payload):
        raise PermanentError("bad byte \x00 and \ud800 here")

    registry.register("reject", reject)
    event = received_event(sqs, queues, [body("reject")])
    recorder = CallRecorder(sqs)
    worker.handle(event, LambdaContext())
    [sent] = recorder.named("SendMessage")
    error = sent["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    assert error == "PermanentError: bad byte \ufffd and \ufffd here"


def test_a_refused_dead_letter_entry_is_sent_again_without_the_original_attributes(sqs, queues, worker):
    from botocore.exceptions import ClientError

    refusals = []

    def refuse_the_full_entry(params, **_):
        if "trace" in params["MessageAttributes"] and not refusals:
            refusals.append(params)
            raise ClientError(
                {
                    "Error": {"Code": "InvalidParameterValue", "Message": "Message must be shorter than 1024 bytes."},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "SendMessage",
            )

    attributes = {"trace": {"DataType": "String", "StringValue": "abc"}}
    event = received_event(sqs, queues, ["garbage"], MessageAttributes=attributes)
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", refuse_the_full_entry)
    assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert len(refusals) == 1
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "malformed"
    assert "trace" not in dead["MessageAttributes"]


def test_an_sqs_side_error_on_the_dead_letter_send_keeps_the_message_for_a_retry(sqs, queues, worker):
    from botocore.exceptions import ClientError

    def fail(**_):
        raise ClientError(
            {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "SendMessage"
        )

    event = received_event(sqs, queues, ["garbage"])
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", fail)
    assert [i["itemIdentifier"] for i in worker.handle(event, LambdaContext())["batchItemFailures"]] == [
        event["Records"][0]["messageId"]
    ]


# -- regressions: the dead-letter path, logs, settling in time ------------------------------------


def _sqs_size_rule(limit: int):
    """A SendMessage hook that refuses, as SQS does, a message whose body and attributes pass ``limit``."""
    from botocore.exceptions import ClientError

    from taskqueue.sqs_batch import entry_bytes

    def refuse(params, **_):
        if entry_bytes(params) > limit:
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidParameterValue",
                        "Message": f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "SendMessage",
            )

    return refuse


def test_a_permanent_error_near_the_size_limit_still_reaches_the_dlq_and_never_runs_again(
    sqs, queues, worker, registry
):
    runs = []

    def reject(payload):
        runs.append(1)
        raise PermanentError("this order can never be charged")

    registry.register("reject", reject)
    raw = body("reject", "x" * 950)  # within 100 bytes of a 1 KiB queue's maximum
    event = received_event(sqs, queues, [raw])
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", _sqs_size_rule(1024))

    with LogCapture(worker_module.logger) as logs:
        assert worker.handle(event, LambdaContext())["batchItemFailures"] == []  # done: it never runs again
    assert runs == [1]
    [dead] = dead_letters(sqs, queues)
    assert dead["Body"] == raw
    [line] = [line for line in logs.lines() if line["message"] == "task sent to the dead-letter queue"]
    assert line["reason"] == "permanent_error" and "can never be charged" in line["error"]


def test_a_dlq_throttle_is_retried_later_not_answered_with_a_smaller_entry(sqs, queues, worker):
    from botocore.exceptions import ClientError

    sends = []

    def throttle(params, **_):
        sends.append(params)
        raise ClientError(
            {"Error": {"Code": "KmsThrottled", "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
            "SendMessage",
        )

    event = received_event(sqs, queues, ["garbage"])
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", throttle)
    response = worker.handle(event, LambdaContext())
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert len(sends) == 1


def test_producer_set_reserved_attributes_never_reach_the_dlq(sqs, queues, worker):
    forged = {
        "taskqueue.reason": {"DataType": "String", "StringValue": "forged"},
        "taskqueue.note": {"DataType": "String", "StringValue": "forged"},
        "trace": {"DataType": "String", "StringValue": "abc"},
    }
    event = received_event(sqs, queues, ["garbage"], MessageAttributes=forged)
    worker.handle(event, LambdaContext())
    [dead] = dead_letters(sqs, queues)
    attributes = dead["MessageAttributes"]
    assert attributes[REASON_ATTRIBUTE]["StringValue"] == "malformed"
    assert "taskqueue.note" not in attributes
    assert attributes["trace"]["StringValue"] == "abc"


def test_unexpected_original_attributes_never_stop_a_dead_letter(sqs, queues, worker):
    event = received_event(sqs, queues, ["garbage"])
    record = event["Records"][0]
    record["messageAttributes"] = {
        "no_type": {"stringValue": "x"},
        "bad_binary": {"dataType": "Binary", "binaryValue": "%%% not base64"},
        "fine": {"dataType": "String", "stringValue": "kept"},
    }
    with LogCapture(worker_module.logger) as logs:
        assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "malformed"
    assert dead["MessageAttributes"]["fine"]["StringValue"] == "kept"
    [line] = [line for line in logs.lines() if line["message"] == "task sent to the dead-letter queue"]
    assert sorted(line["dropped_attributes"]) == ["bad_binary", "no_type"]


def test_a_task_name_with_a_lone_surrogate_keeps_its_dead_letter_log_line(sqs, queues, worker):
    event = received_event(sqs, queues, [json.dumps({"task": "re\ud800port"})])
    with LogCapture(worker_module.logger) as logs:
        assert worker.handle(event, LambdaContext())["batchItemFailures"] == []
    assert "task sent to the dead-letter queue" in logs.messages()


def test_every_record_that_fails_is_logged_with_why(sqs, queues, worker, registry):
    registry.register("ok", lambda payload: None)
    event = received_event(sqs, queues, [body("ok", 1)])
    with LogCapture(worker_module.logger) as logs:
        response = worker.handle(event, LambdaContext(remaining_seconds=0.5))  # too little time to start it
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    [line] = [line for line in logs.lines() if line.get("message_id") == event["Records"][0]["messageId"]]
    assert line["level"] == "WARNING" and "time" in line["message"]


def test_event_source_mapping_mode_settles_a_large_batch_before_its_deadline(sqs, queues, registry):
    clock = FakeClock()
    config = WorkerConfig(dlq_url=queues.dlq_url, behind_event_source_mapping=True, queue_url=queues.url)
    worker = Worker(config, sqs, registry)

    def slow_failure(payload):
        clock.advance(0.005)
        raise RuntimeError("try again")

    registry.register("fail", slow_failure)
    event = {"Records": []}
    for start in range(0, 300, 100):
        event["Records"] += received_event(sqs, queues, [body("fail", n) for n in range(start, start + 100)])["Records"]
    # Each visibility call takes 0.1 s: 30 of them would take 3 s.
    sqs.meta.events.register("after-call.sqs.ChangeMessageVisibilityBatch", lambda **_: clock.advance(0.1))
    context = LambdaContext(remaining_seconds=3, clock=clock)

    response = worker.handle(event, context)

    assert context.get_remaining_time_in_millis() > 0, "the worker ran past its deadline"
    assert len(response["batchItemFailures"]) == 300  # none lost: every record is retried


def test_a_task_that_returns_an_awaitable_is_not_taken_for_done(sqs, queues, worker, registry):
    """Registration refuses async tasks; one that hides its coroutine behind a plain function (a decorator that
    does not await, say) is caught when it returns: it never ran, so it is not a success (issue 19, defect 15)."""
    started: list[Any] = []

    async def send_mail(payload):
        started.append(payload)

    registry.register("mail", lambda payload: send_mail(payload))
    event = received_event(sqs, queues, [body("mail", "hello")])
    with LogCapture(worker_module.logger) as log:
        response = worker.handle(event, LambdaContext())

    assert started == []
    [dead] = dead_letters(sqs, queues)
    assert response["batchItemFailures"] == []  # dead-lettered: running it again cannot help
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "permanent_error"
    assert "returned a coroutine" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    assert [line["outcome"] for line in log.lines() if "outcome" in line] == ["dead_lettered"]
