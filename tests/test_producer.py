"""Enqueueing: validation before any call, batching within SQS limits, no silent loss."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskqueue.producer import EnqueueError, Task, TaskQueue
from tests.support.aws_fakes import CallRecorder


def test_enqueue_sends_the_task_message(sqs, queues):
    message_id = TaskQueue(queues.url, sqs=sqs).enqueue("resize", {"key": "a.png"}, id="job-1")
    [message] = sqs.receive_message(QueueUrl=queues.url)["Messages"]
    assert message["MessageId"] == message_id
    assert json.loads(message["Body"]) == {"task": "resize", "payload": {"key": "a.png"}, "id": "job-1"}


def test_delay_is_applied(sqs, queues):
    recorder = CallRecorder(sqs)
    TaskQueue(queues.url, sqs=sqs).enqueue("later", delay=30)
    assert recorder.named("SendMessage")[0]["DelaySeconds"] == 30
    assert "Messages" not in sqs.receive_message(QueueUrl=queues.url)


def test_batch_is_sent_in_chunks_of_ten_in_order(sqs, queues):
    recorder = CallRecorder(sqs)
    ids = TaskQueue(queues.url, sqs=sqs).enqueue_batch(Task("t", n) for n in range(23))
    calls = recorder.named("SendMessageBatch")
    assert [len(call["Entries"]) for call in calls] == [10, 10, 3]
    assert len(set(ids)) == 23 and all(ids)


def test_batch_chunks_stay_under_the_batch_byte_limit(sqs, make_queues):
    queues = make_queues("big", MaximumMessageSize="1048576")
    recorder = CallRecorder(sqs)
    TaskQueue(queues.url, sqs=sqs).enqueue_batch(Task("t", "x" * 300_000) for _ in range(7))
    sizes = [sum(len(e["MessageBody"]) for e in call["Entries"]) for call in recorder.named("SendMessageBatch")]
    assert len(sizes) >= 3 and max(sizes) <= 1_048_576


def test_oversized_payload_is_refused_before_any_call(sqs, queues):
    recorder = CallRecorder(sqs)
    producer = TaskQueue(queues.url, sqs=sqs)
    with pytest.raises(ValueError, match=r"task 'big' is \d+ bytes, over SQS's limit of 1048576 bytes"):
        producer.enqueue_batch([Task("small"), Task("big", "x" * 1_048_576)])
    assert recorder.calls == []


def test_payload_over_the_queues_own_maximum_is_refused_before_sending(sqs, make_queues):
    queues = make_queues("small", MaximumMessageSize="2048")
    recorder = CallRecorder(sqs)
    producer = TaskQueue(queues.url, sqs=sqs)
    with pytest.raises(ValueError, match="over the queue's maximum message size of 2048 bytes"):
        producer.enqueue_batch([Task("ok"), Task("big", "x" * 3000)])
    assert [name for name, _ in recorder.calls] == ["GetQueueAttributes"]  # a look-up, no send
    producer.enqueue("fits", "x" * 1500)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (Task(""), "'task' must be a non-empty string"),
        (Task("t", id=""), "'id' must be a non-empty string"),
        (Task("t", b"bytes"), "not JSON-serialisable"),
        (Task("t", float("inf")), "not JSON-serialisable"),
        (Task("t", attributes={f"a{i}": "v" for i in range(11)}), "has 11 attributes"),
        (Task("t", attributes={"a": ""}), "attribute 'a' must be a non-empty string"),
    ],
)
def test_bad_tasks_are_refused_with_a_clear_error(sqs, queues, task, message):
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match=message):
        TaskQueue(queues.url, sqs=sqs).enqueue_batch([task])
    assert recorder.calls == []


def test_fifo_needs_a_group_and_uses_the_task_id_for_deduplication(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    producer = TaskQueue(queues.url, sqs=sqs)
    with pytest.raises(ValueError, match="needs a group_id"):
        producer.enqueue("t")
    with pytest.raises(ValueError, match="group_id='has space' must be"):
        producer.enqueue("t", group_id="has space", id="1")
    producer.enqueue("t", 1, id="order-1", group_id="g")
    producer.enqueue("t", 1, id="order-1", group_id="g")  # deduplicated by SQS
    messages = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1


def test_entries_failed_by_sqs_are_retried_then_reported(sqs, queues):
    attempts: list[int] = []

    def fail_some(parsed: dict[str, Any], **_: Any) -> None:
        attempts.append(len(parsed.get("Successful", [])) + len(parsed.get("Failed", [])))
        # SQS's side fails entry "1" every time, and entry "2" only on the first try.
        for entry_id, sender_fault in (("1", False), ("2", False)):
            if entry_id == "2" and len(attempts) > 1:
                continue
            match = [s for s in parsed.get("Successful", []) if s["Id"] == entry_id]
            if match:
                parsed["Successful"].remove(match[0])
                parsed.setdefault("Failed", []).append(
                    {"Id": entry_id, "Code": "InternalError", "Message": "try again", "SenderFault": sender_fault}
                )

    sqs.meta.events.register("after-call.sqs.SendMessageBatch", fail_some)
    with pytest.raises(EnqueueError) as raised:
        TaskQueue(queues.url, sqs=sqs).enqueue_batch([Task("t", n) for n in range(3)])
    error = raised.value
    assert [f.task.payload for f in error.failed] == [1]
    assert error.message_ids[0] and error.message_ids[2] and error.message_ids[1] is None
    assert attempts == [3, 2, 1]  # all three, then the two SQS failed, then the one it failed again


def test_queue_url_is_checked(sqs):
    with pytest.raises(ValueError, match="must be an SQS queue URL"):
        TaskQueue("tasks", sqs=sqs)


def _fail_entries(sqs, rules):
    """Make SQS fail batch entries: rules(entry_id, attempt) -> None or (code, sender_fault)."""
    attempts = []

    def hook(parsed, **_):
        attempts.append(1)
        for success in list(parsed.get("Successful", [])):
            rule = rules(success["Id"], len(attempts))
            if rule:
                parsed["Successful"].remove(success)
                parsed.setdefault("Failed", []).append(
                    {"Id": success["Id"], "Code": rule[0], "Message": "injected", "SenderFault": rule[1]}
                )

    sqs.meta.events.register("after-call.sqs.SendMessageBatch", hook)
    return attempts


def test_a_senders_fault_is_reported_even_when_a_retry_in_the_same_chunk_succeeds(sqs, queues):
    # Entry 1 is the sender's fault (final); entry 2 fails on SQS's side once, then goes through.
    _fail_entries(
        sqs,
        lambda entry_id, attempt: (
            {"1": ("InvalidParameterValue", True), "2": ("InternalError", False)}.get(entry_id)
            if attempt == 1
            else None
        ),
    )
    with pytest.raises(EnqueueError) as raised:
        TaskQueue(queues.url, sqs=sqs).enqueue_batch([Task("t", n) for n in range(4)])
    assert [(f.task.payload, f.code) for f in raised.value.failed] == [(1, "InvalidParameterValue")]
    assert [bool(m) for m in raised.value.message_ids] == [True, False, True, True]


def test_fifo_group_is_not_sent_past_a_failure(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    recorder = CallRecorder(sqs)
    _fail_entries(sqs, lambda entry_id, attempt: ("InternalError", False) if entry_id == "1" else None)
    tasks = [Task("t", n, id=f"a{n}", group_id="a" if n % 2 else "b") for n in range(24)]
    with pytest.raises(EnqueueError) as raised:
        TaskQueue(queues.url, sqs=sqs).enqueue_batch(tasks)
    failed = [f.task.payload for f in raised.value.failed]
    # Task 1 (group a) failed; no retry on FIFO; group a's later tasks 11, 13, ... were not sent.
    assert failed[0] == 1 and sorted(failed[1:]) == list(range(11, 24, 2))
    sent = [
        json.loads(e["MessageBody"])["payload"] for call in recorder.named("SendMessageBatch") for e in call["Entries"]
    ]
    assert [n for n in sent if n % 2] == [1, 3, 5, 7, 9]
    assert [n for n in sent if n % 2 == 0] == list(range(0, 24, 2))


def test_an_error_mid_batch_reports_what_was_and_was_not_sent(sqs, queues):
    calls = []

    def fail_second_call(**_):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("connection reset")

    sqs.meta.events.register("before-call.sqs.SendMessageBatch", fail_second_call)
    with pytest.raises(EnqueueError) as raised:
        TaskQueue(queues.url, sqs=sqs).enqueue_batch([Task("t", n) for n in range(25)])
    error = raised.value
    assert all(error.message_ids[:10]) and not any(error.message_ids[10:])
    assert [f.task.payload for f in error.failed] == list(range(10, 25))
    assert error.failed[0].code == "RuntimeError"


def test_fifo_tasks_of_different_names_with_the_same_id_are_both_enqueued(sqs, make_queues):
    # Identity is (task, id) everywhere: SQS's deduplication must not drop a different task with that id.
    queues = make_queues("orders", fifo=True)
    producer = TaskQueue(queues.url, sqs=sqs)
    producer.enqueue("charge", {"order": 7}, id="order-7", group_id="g")
    producer.enqueue("ship", {"order": 7}, id="order-7", group_id="g")
    producer.enqueue("charge", {"order": 7}, id="order-7", group_id="g")  # the same task again: deduplicated
    received = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["task"] for m in received] == ["charge", "ship"]


@pytest.mark.parametrize("name", ["taskqueue.reason", "taskqueue.anything", "TaskQueue.Reason"])
def test_reserved_attribute_names_are_refused_at_enqueue(sqs, queues, name):
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match=f"attribute {name!r} is reserved"):
        TaskQueue(queues.url, sqs=sqs).enqueue("t", attributes={name: "x"})
    assert recorder.calls == []


# -- tenants: SQS fair queues ---------------------------------------------------------------------


def test_tenant_is_the_message_group_of_a_standard_queue_and_the_queue_keeps_it(sqs, queues):
    producer = TaskQueue(queues.url, sqs=sqs)
    producer.enqueue("export", {"n": 1}, tenant="customer-42")
    producer.enqueue_batch([Task("export", {"n": 2}, tenant="customer-7"), Task("export", {"n": 3})])
    producer.enqueue("export", {"n": 4}, tenant="customer-42", delay=1)
    received = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    tenants = {
        json.loads(m["Body"])["payload"]["n"]: m["Attributes"].get("MessageGroupId") for m in received["Messages"]
    }
    assert tenants == {1: "customer-42", 2: "customer-7", 3: None}


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        ("", "tenant='' must be 1-128 letters, digits or punctuation"),
        ("has space", "tenant='has space' must be 1-128"),
        ("é", "tenant='é' must be 1-128"),
        ("x" * 129, "must be 1-128 letters"),
    ],
)
def test_a_tenant_sqs_would_refuse_is_refused_before_any_call(sqs, queues, tenant, message):
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match=message):
        TaskQueue(queues.url, sqs=sqs).enqueue_batch([Task("ok"), Task("t", tenant=tenant)])
    assert recorder.calls == []
    TaskQueue(queues.url, sqs=sqs).enqueue("t", tenant="x" * 128)  # the longest SQS takes


def test_a_fifo_queue_refuses_a_tenant_and_names_group_id(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match=r"tenant='customer-42' is for standard queues .* pass group_id= instead"):
        TaskQueue(queues.url, sqs=sqs).enqueue("t", id="1", group_id="g", tenant="customer-42")
    assert recorder.calls == []


def test_tenant_and_group_id_together_are_refused(sqs, queues):
    with pytest.raises(ValueError, match="tenant='a' and group_id='b' both name the MessageGroupId"):
        TaskQueue(queues.url, sqs=sqs).enqueue("t", group_id="b", tenant="a")


def test_a_task_that_needs_a_schedule_keeps_no_tenant_and_says_so(sqs, queues):
    with pytest.raises(ValueError, match="tenant='customer-42' cannot be kept through one"):
        TaskQueue(queues.url, sqs=sqs).enqueue("t", delay=3600, tenant="customer-42")


# -- priorities: one queue per priority -------------------------------------------------------------


@pytest.fixture
def priority_queues(make_queues):
    high, normal = make_queues("tasks-high"), make_queues("tasks")
    return high, normal, {"high": high.url, "normal": normal.url}


def _bodies(sqs, url: str) -> list[Any]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(json.loads(m["Body"])["payload"] for m in messages)


def test_priority_sends_to_that_prioritys_queue_and_none_to_the_default(sqs, priority_queues):
    high, normal, urls = priority_queues
    producer = TaskQueue(normal.url, sqs=sqs, queue_urls=urls)
    producer.enqueue("reset_password", 1, priority="high")
    producer.enqueue("report", 2)
    producer.enqueue("report", 3, priority="normal")
    ids = producer.enqueue_batch([Task("t", 4, priority="high"), Task("t", 5), Task("t", 6, priority="high")])
    assert all(ids)
    assert (_bodies(sqs, high.url), _bodies(sqs, normal.url)) == ([1, 4, 6], [2, 3, 5])


def test_an_unknown_priority_is_refused_before_any_call_naming_the_known_ones(sqs, priority_queues):
    _high, normal, urls = priority_queues
    recorder = CallRecorder(sqs)
    producer = TaskQueue(normal.url, sqs=sqs, queue_urls=urls)
    with pytest.raises(ValueError, match=r"priority='urgent' is not one of the queue's priorities \(high, normal\)"):
        producer.enqueue_batch([Task("t", 1, priority="high"), Task("t", 2, priority="urgent")])
    with pytest.raises(ValueError, match="this producer knows no priority queues: pass queue_urls="):
        TaskQueue(normal.url, sqs=sqs).enqueue("t", priority="high")
    assert recorder.calls == []


def test_a_batch_over_priorities_checks_every_task_before_sending_any(sqs, priority_queues):
    _high, normal, urls = priority_queues
    recorder = CallRecorder(sqs)
    with pytest.raises(ValueError, match="tenant='bad one' must be"):
        TaskQueue(normal.url, sqs=sqs, queue_urls=urls).enqueue_batch(
            [Task("t", 1, priority="high"), Task("t", 2, tenant="bad one")]
        )
    assert recorder.named("SendMessageBatch") == []


def test_a_batch_over_priorities_reports_each_failed_task_in_its_place(sqs, priority_queues):
    high, normal, urls = priority_queues
    from botocore.exceptions import ClientError

    def refuse_high(params, **_):
        if params["QueueUrl"] == high.url:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessageBatch")

    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", refuse_high)
    tasks = [Task("t", 1, priority="high"), Task("t", 2), Task("t", 1, priority="high")]
    with pytest.raises(EnqueueError) as raised:
        TaskQueue(normal.url, sqs=sqs, queue_urls=urls).enqueue_batch(tasks)
    assert [failure.task for failure in raised.value.failed] == [tasks[0], tasks[2]]
    ids = raised.value.message_ids
    assert ids[0] is None and ids[1] is not None and ids[2] is None
    assert _bodies(sqs, normal.url) == [2]
