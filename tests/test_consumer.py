"""The consumer against moto's SQS, with the worker running in-process behind Lambda Invoke."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from taskqueue import consumer as consumer_module
from taskqueue.backoff import Backoff
from taskqueue.batch_response import InvalidWorkerResponse, parse
from taskqueue.config import ConfigError, ConsumerConfig, WorkerConfig
from taskqueue.consumer import Budget, Consumer, clients_for
from taskqueue.errors import WORKER_START_ERROR_TYPES, WorkerCannotStart
from taskqueue.limits import invoke_read_timeout, longest_invocation
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import CallRecorder, FakeClock, InProcessLambda, LambdaContext, LogCapture, ReceiptHandles
from tests.support.aws_settings import REGION


class Stack:
    """A queue, a consumer and an in-process worker, with what each call did recorded."""

    def __init__(
        self, sqs: Any, queues: Any, behaviour: Any = None, record_receipts: bool = False, **config: Any
    ) -> None:
        """``record_receipts``: for make_all_visible. Off by default: its hooks slow every receive a
        little, which makes moto's in-process receives race (a message delivered to two parallel loops)."""
        self.sqs = sqs
        self.queues = queues
        self.registry = TaskRegistry()
        backoff = config.get("backoff", Backoff(10, 60))
        self.worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, backoff=backoff), sqs, self.registry, rng=lambda: 0.5)
        self.lambda_client = boto3.client("lambda", region_name=REGION)
        self.invoke = InProcessLambda(self.lambda_client, self.worker.handle, behaviour=behaviour)
        self.calls = CallRecorder(sqs)
        self.receipts = ReceiptHandles(sqs) if record_receipts else None
        settings = {
            "queue_url": queues.url,
            "worker_function": "worker",
            "wait_time_seconds": 0,
            "worker_timeout_seconds": 5,
            "time_margin_seconds": 1,
            "backoff": Backoff(10, 60),
            **config,
        }
        self.consumer = Consumer(ConsumerConfig(**settings), sqs, self.lambda_client, rng=lambda: 0.5)

    def send(self, task: str, payload: Any = None, count: int = 1, **fields: Any) -> None:
        for start in range(0, count, 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps({"task": task, "payload": payload, **fields}), **self._fifo(i)}
                for i in range(start, min(count, start + 10))
            ]
            self.sqs.send_message_batch(QueueUrl=self.queues.url, Entries=entries)

    def _fifo(self, index: int) -> dict[str, str]:
        return {}

    def run(self, seconds: float = 30, clock: Any = time.monotonic) -> Any:
        return self.consumer.run(LambdaContext(remaining_seconds=seconds, clock=clock))

    def depth(self, url: str | None = None) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url or self.queues.url, AttributeNames=["All"])[
            "Attributes"
        ]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }

    def make_all_visible(self) -> None:
        """Stand in for the passing of backoff time: moto keeps real visibility timers."""
        received = self.sqs.receive_message(QueueUrl=self.queues.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        assert "Messages" not in received, "messages were visible before the backoff was skipped"
        assert self.receipts is not None, "make_all_visible needs Stack(record_receipts=True)"
        assert self.receipts.expire(self.queues.url) > 0, "no message was in flight"


def _http_ok() -> AWSResponse:
    return AWSResponse("https://sqs.invalid", 200, {}, None)


@pytest.fixture
def stack(sqs, queues):
    return Stack(sqs, queues)


def test_drains_the_queue_and_deletes_in_batches(stack):
    ran = []
    stack.registry.register("work", lambda payload: ran.append(payload))
    stack.send("work", 1, count=25)

    report = stack.run()

    assert len(ran) == 25
    assert report.received == report.succeeded == 25
    assert report.stopped_because == "queue empty"
    assert stack.depth() == {"visible": 0, "in_flight": 0}
    # 25 tasks: 3 full receives + 1 empty, and one batch delete per worker invocation.
    assert report.receives == 4 and report.empty_receives == 1
    assert stack.calls.count("DeleteMessageBatch") == report.invocations == 3
    assert stack.calls.count("DeleteMessage") == 0


def test_receive_asks_for_all_attributes_and_long_polls(stack):
    stack.consumer = Consumer(replace(stack.consumer.config, wait_time_seconds=1), stack.sqs, stack.lambda_client)
    stack.run()
    [call] = stack.calls.named("ReceiveMessage")
    assert call["MaxNumberOfMessages"] == 10
    assert call["WaitTimeSeconds"] == 1
    assert call["MessageSystemAttributeNames"] == ["All"]
    assert call["MessageAttributeNames"] == ["All"]


def test_worker_gets_native_sqs_event_records(stack):
    stack.registry.register("work", lambda payload: None)
    stack.send("work", {"x": 1})
    stack.run()
    [event] = stack.invoke.events
    [record] = event["Records"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.queues.arn
    assert record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert json.loads(record["body"]) == {"task": "work", "payload": {"x": 1}}


def test_failed_task_is_delayed_by_backoff_and_not_deleted(stack):
    stack.registry.register("boom", lambda payload: 1 / 0)
    stack.send("boom")

    report = stack.run()

    assert report.failed == 1 and report.succeeded == 0
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    # rng=0.5, base 10 s, first attempt: 10/2 + 0.5 * 10/2 = 7.5, rounded.
    assert [entry["VisibilityTimeout"] for entry in call["Entries"]] == [8]
    assert stack.calls.count("DeleteMessageBatch") == 0
    assert stack.depth() == {"visible": 0, "in_flight": 1}


def test_backoff_grows_with_each_attempt_then_redrive_moves_it_to_the_dlq(sqs, queues):
    stack = Stack(sqs, queues, record_receipts=True)
    stack.registry.register("boom", lambda payload: 1 / 0)
    stack.send("boom")
    for _ in range(stack.queues.max_receive_count):
        stack.run()
        stack.make_all_visible()
    stack.run()  # the receive past maxReceiveCount: SQS moves the message to the DLQ

    delays = [call["Entries"][0]["VisibilityTimeout"] for call in stack.calls.named("ChangeMessageVisibilityBatch")]
    assert delays == [8, 15, 30]  # 10, 20, 40 s steps with equal jitter at rng=0.5
    assert stack.depth() == {"visible": 0, "in_flight": 0}
    assert stack.depth(stack.queues.dlq_url)["visible"] == 1


def test_a_task_that_fails_twice_then_succeeds_is_completed(sqs, queues):
    stack = Stack(sqs, queues, record_receipts=True)
    attempts = []

    def flaky(payload, context):
        attempts.append(context.receive_count)
        if context.receive_count < 3:
            raise RuntimeError("not yet")

    stack.registry.register("flaky", flaky)
    stack.send("flaky")
    for _ in range(3):
        stack.run()
        if stack.depth()["in_flight"]:
            stack.make_all_visible()

    assert attempts == [1, 2, 3]
    assert stack.depth() == {"visible": 0, "in_flight": 0}
    assert stack.depth(stack.queues.dlq_url)["visible"] == 0


@pytest.mark.parametrize(
    "behaviour",
    ["throttle", "error", "timeout", b"not json", b'{"batchItemFailures": [{"itemIdentifier": "nope"}]}', b"[1]"],
)
def test_a_failed_invocation_fails_its_whole_batch(sqs, queues, behaviour):
    stack = Stack(sqs, queues, behaviour=lambda event: behaviour)
    ran = []
    stack.registry.register("work", lambda payload: ran.append(payload))
    stack.send("work", count=3)

    report = stack.run()

    assert report.failed_invocations == report.invocations == 1
    assert report.failed == 3 and report.succeeded == 0
    assert stack.calls.count("DeleteMessageBatch") == 0
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    assert all(entry["VisibilityTimeout"] > 0 for entry in call["Entries"])
    assert stack.depth() == {"visible": 0, "in_flight": 3}


def test_throttled_invoke_is_not_retried_by_the_client(sqs, queues):
    stack = Stack(sqs, queues, behaviour=lambda event: "throttle")
    stack.send("work")
    stack.run()
    assert len(stack.invoke.events) == 1


def test_worker_answer_rules():
    ids = ["a", "b"]

    def answer(failures: Any, delays: Any = None, marker: Any = True) -> bytes:
        document: dict[str, Any] = {"batchItemFailures": failures}
        if marker:
            document["taskqueue"] = {"version": 1, "retryDelays": delays or {}}
        return json.dumps(document).encode()

    assert parse(answer([]), ids).failed == frozenset()
    assert parse(answer([{"itemIdentifier": "b"}], {"b": 30}), ids).retry_delays == {"b": 30}
    for bad in (
        b"",
        b"null",
        b"{}",
        b"{",
        b'"ok"',
        answer([], marker=False),
        answer({}),
        answer([{"itemIdentifier": ""}]),
        answer([{"id": "a"}]),
        answer([{"itemIdentifier": None}]),
        answer([{"itemIdentifier": "c"}]),
        answer([{"itemIdentifier": "a"}], {"b": 3}),  # a delay for a message that did not fail
        answer([{"itemIdentifier": "a"}], {"a": -1}),
        answer([{"itemIdentifier": "a"}], {"a": 50_000}),
        answer([{"itemIdentifier": "a"}], {"a": True}),
    ):
        with pytest.raises(InvalidWorkerResponse):
            parse(bad, ids)


def test_at_most_max_concurrency_invocations_in_flight(sqs, queues):
    gate = threading.Event()
    stack = Stack(sqs, queues, max_concurrency=3, batch_size=1)

    def slow(payload):
        gate.wait(0.2)

    stack.registry.register("slow", slow)
    stack.send("slow", count=12)
    report = stack.run()
    assert report.succeeded == 12
    assert stack.invoke.max_in_flight == 3


def test_the_next_receive_goes_out_beside_the_last_batchs_deletes_within_the_slots(sqs, queues):
    """A slot is free once the worker has answered: with one slot, the next receive does not wait for the
    deletes of the batch before it; receives and invocations in flight still never exceed the one slot."""
    stack = Stack(sqs, queues, max_concurrency=1, batch_size=10)
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=40)
    lock = threading.Lock()
    in_flight = {"ReceiveMessage": 0, "DeleteMessageBatch": 0}
    most_receives, overlapped = [0], [0]

    def started(model: Any, **_: Any) -> None:
        with lock:
            in_flight[model.name] += 1
            most_receives[0] = max(most_receives[0], in_flight["ReceiveMessage"])
            if in_flight["ReceiveMessage"] and in_flight["DeleteMessageBatch"]:
                overlapped[0] += 1
        if model.name == "DeleteMessageBatch":
            time.sleep(0.2)

    def ended(model: Any, **_: Any) -> None:
        with lock:
            in_flight[model.name] -= 1

    for operation in in_flight:
        stack.sqs.meta.events.register(f"before-call.sqs.{operation}", started)
        stack.sqs.meta.events.register(f"after-call.sqs.{operation}", ended)
    report = stack.run()
    assert report.succeeded == 40 and stack.depth() == {"visible": 0, "in_flight": 0}
    assert overlapped[0] >= 1, "every receive waited for the deletes before it"
    assert most_receives[0] == 1 and stack.invoke.max_in_flight == 1


def test_a_run_with_the_smallest_budget_that_can_dispatch_does(stack):
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=5)
    # 5 s worker + 10 s init + 2 s for the answer + 1 s margin + a 1 s poll = 19 s.
    report = stack.run(seconds=19.5)
    assert report.succeeded == 5
    assert stack.depth() == {"visible": 0, "in_flight": 0}


def test_messages_received_too_late_to_dispatch_are_released_at_once(stack):
    clock = FakeClock()
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=4)
    # The receive takes 3 s of a 20.5 s budget: 20.5 s could start it (18 s reserve), 17.5 s cannot dispatch.
    stack.sqs.meta.events.register("after-call.sqs.ReceiveMessage", lambda **kwargs: clock.advance(3))

    report = stack.run(seconds=20.5, clock=clock)

    assert report.received == 4 and report.released == 4 and report.invocations == 0
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    assert [entry["VisibilityTimeout"] for entry in call["Entries"]] == [0] * 4
    assert stack.depth() == {"visible": 4, "in_flight": 0}


def test_continuous_mode_keeps_polling_until_the_budget_ends(sqs, queues):
    clock = FakeClock()
    stack = Stack(sqs, queues, mode="continuous")
    stack.sqs.meta.events.register("after-call.sqs.ReceiveMessage", lambda **kwargs: clock.advance(1))
    report = stack.run(seconds=28.5, clock=clock)
    # Short polls (wait 0) continue while 18 s remain for a cold worker call and the margin: t = 0..10.
    assert report.receives == report.empty_receives == 11
    assert report.stopped_because == "time budget"


def test_drain_mode_stops_at_the_first_empty_receive(stack):
    report = stack.run()
    assert report.receives == report.empty_receives == 1
    assert report.stopped_because == "queue empty"


def test_batches_over_the_invoke_payload_limit_are_split(sqs, queues):
    stack = Stack(sqs, queues, max_invoke_payload_bytes=12_000)
    sizes = []
    stack.registry.register("big", lambda payload: sizes.append(len(payload)))
    stack.send("big", "x" * 5_000, count=10)
    report = stack.run()
    assert len(sizes) == 10 and report.succeeded == 10
    assert report.invocations >= 5
    assert all(len(json.dumps(event)) <= 12_000 for event in stack.invoke.events)


def test_receive_errors_do_not_stop_the_loop(stack):
    clock = FakeClock()
    failures = iter([True, False])

    def flaky_receive(**kwargs):
        clock.advance(1)
        if next(failures, False):
            raise RuntimeError("SQS is having a bad day")

    stack.sqs.meta.events.register("before-call.sqs.ReceiveMessage", flaky_receive)
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=2)
    report = stack.run(clock=clock)
    assert report.receive_errors == 1
    assert report.succeeded == 2


class FifoStack(Stack):
    def _fifo(self, index: int) -> dict[str, str]:
        return {"MessageGroupId": "g", "MessageDeduplicationId": f"m{index}-{time.monotonic_ns()}"}


def test_fifo_order_holds_within_a_group_across_split_invocations(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    stack = FifoStack(sqs, queues, max_invoke_payload_bytes=3_000)
    ran: list[int] = []

    def step(payload):
        if payload["n"] == 2:
            raise RuntimeError("step 2 fails")
        ran.append(payload["n"])

    stack.registry.register("step", step)
    for n in range(5):
        stack.sqs.send_message(
            QueueUrl=queues.url,
            MessageBody=json.dumps({"task": "step", "payload": {"n": n, "pad": "x" * 1_000}}),
            MessageGroupId="g",
            MessageDeduplicationId=str(n),
        )
    report = stack.run()

    assert ran == [0, 1]  # 3 and 4 wait behind 2, even though they were in later invocations
    assert report.failed == 3


def test_budget_allows_for_slow_receives():
    from taskqueue.consumer import Budget

    clock = FakeClock()
    config = ConsumerConfig(queue_url="q", worker_function="w", worker_timeout_seconds=5, time_margin_seconds=1)
    budget = Budget(LambdaContext(remaining_seconds=42, clock=clock), config)
    assert budget.receive_wait() == 20
    budget.observe_receive(12.0)  # receives have been taking 12 s beyond their long poll
    assert budget.receive_wait() == 12  # 42 - 18 reserve - 12
    clock.advance(11.5)
    assert budget.receive_wait() is None  # 0.5 s is no time for a long poll; short polls would spin
    clock.advance(1.5)
    assert budget.receive_wait() is None  # 29 - 18 - 12 < 0: a receive now would come back too late
    assert budget.can_dispatch()


def test_drain_mode_on_fifo_waits_for_its_own_batches_before_calling_the_queue_empty(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    stack = FifoStack(sqs, queues, max_concurrency=4)
    ran: list[int] = []
    stack.registry.register("step", lambda payload: ran.append(payload))
    for n in range(30):
        sqs.send_message(
            QueueUrl=queues.url,
            MessageBody=json.dumps({"task": "step", "payload": n}),
            MessageGroupId="one-group",
            MessageDeduplicationId=str(n),
        )
    # While the first batch is out, the group is locked and a receive comes back empty.
    report = stack.run()
    assert ran == list(range(30))
    assert report.stopped_because == "queue empty"


# -- regressions: a worker that may still run, a budget that can never dispatch, foreign answers -------


def test_a_read_timeout_keeps_the_batch_hidden_while_the_worker_may_still_run(sqs, queues):
    # The client stopped waiting; the invocation may still be running (a cold start's init is not in its
    # timeout). Its messages must stay hidden until it cannot be running any more.
    stack = Stack(sqs, queues, behaviour=lambda event: "read_timeout", worker_timeout_seconds=5)
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=2)

    report = stack.run()

    assert report.failed_invocations == 1 and stack.calls.count("DeleteMessageBatch") == 0
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    assert all(entry["VisibilityTimeout"] >= longest_invocation(5) for entry in call["Entries"])


def test_the_invoke_read_timeout_outlasts_a_cold_invocation():
    config = ConsumerConfig(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", worker_function="w")
    _, lambda_client = clients_for(config)
    assert lambda_client.meta.config.read_timeout >= longest_invocation(config.worker_timeout_seconds)


def test_the_budget_reserves_a_cold_invocation_and_settling_before_dispatching():
    clock = FakeClock()
    config = ConsumerConfig(queue_url="q", worker_function="w", worker_timeout_seconds=5, time_margin_seconds=1)
    budget = Budget(LambdaContext(remaining_seconds=invoke_read_timeout(5) + 1, clock=clock), config)
    assert budget.can_dispatch()
    clock.advance(0.5)
    assert not budget.can_dispatch()  # the worker might still be running when the consumer is cut off


def test_a_budget_that_can_never_dispatch_fails_loudly(stack, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    stack.registry.register("work", lambda payload: None)
    stack.send("work")
    # Worker 5 s + 1 s margin + 1 s: enough under the old rule, but a cold worker may take 10 s more.
    with (
        LogCapture(consumer_module.logger) as logs,
        pytest.raises(ConfigError, match="TASKQUEUE_WORKER_TIMEOUT_SECONDS"),
    ):
        stack.run(seconds=7.5)
    [line] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert "can never dispatch" in line["message"]
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["ConsumerMisconfigured"] == 1
    assert stack.depth() == {"visible": 1, "in_flight": 0}


@pytest.mark.parametrize("answer", [b"", b"null", b"{}", b'{"batchItemFailures": []}', b'{"batchItemFailures": null}'])
def test_an_answer_that_is_not_the_workers_never_deletes(sqs, queues, answer):
    # TASKQUEUE_WORKER_FUNCTION names some other function: its answer must not count as "all done".
    stack = Stack(sqs, queues, behaviour=lambda event: answer)
    stack.send("work", count=3)

    report = stack.run()

    assert report.succeeded == 0 and report.failed == 3
    assert stack.calls.count("DeleteMessageBatch") == 0
    assert stack.depth() == {"visible": 0, "in_flight": 3}


def test_fifo_receives_carry_a_receive_request_attempt_id(sqs, make_queues):
    queues = make_queues("orders", fifo=True)
    stack = FifoStack(sqs, queues)
    stack.run()
    [call] = stack.calls.named("ReceiveMessage")
    assert 1 <= len(call["ReceiveRequestAttemptId"]) <= 128


def test_a_senders_fault_in_a_delete_is_logged_even_when_the_rest_succeeds_on_retry(stack):
    # Entry 0 is refused for good (the sender's fault); entry 1 fails on SQS's side once, then succeeds.
    stack.registry.register("work", lambda payload: None)
    stack.send("work", count=2)
    answers = iter(
        [
            {
                "Successful": [],
                "Failed": [
                    {"Id": "0", "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "gone"},
                    {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
                ],
            }
        ]
    )

    def fake_delete(params, **_):
        answer = next(answers, None)
        if answer is not None:
            return _http_ok(), answer
        return None

    stack.sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", fake_delete)
    with LogCapture(consumer_module.logger) as logs:
        stack.run()
    assert any("ReceiptHandleIsInvalid" in json.dumps(line) for line in logs.lines())


def test_parallel_receivers_feed_the_workers_from_overlapping_receives(sqs, queues):
    stack = Stack(sqs, queues, receivers=3, max_concurrency=6)
    ran: list[int] = []
    stack.registry.register("work", ran.append)
    for index in range(60):
        stack.send("work", index)
    in_receive, most = [0], [0]
    lock = threading.Lock()

    def slow_receive_start(**_):
        with lock:
            in_receive[0] += 1
            most[0] = max(most[0], in_receive[0])
        time.sleep(0.05)

    def receive_end(**_):
        with lock:
            in_receive[0] -= 1

    stack.sqs.meta.events.register("before-call.sqs.ReceiveMessage", slow_receive_start)
    stack.sqs.meta.events.register("after-call.sqs.ReceiveMessage", receive_end)

    report = stack.run()

    # Every task ran. moto's in-process receives are not atomic: parallel receives now and then get the
    # same message, a duplicate delivery as SQS itself may make (at least once), so a task may run twice.
    assert sorted(set(ran)) == list(range(60))
    assert report.succeeded == len(ran) >= 60 and report.stopped_because == "queue empty"
    assert stack.depth() == {"visible": 0, "in_flight": 0}
    assert most[0] >= 2


# -- a worker that cannot start --------------------------------------------------------------


def _cannot_start(stack: Stack) -> None:
    """The stack's worker as deployed with a task module that fails to import."""
    stack.worker.start_failure = WorkerCannotStart("ImportError: TASKQUEUE_TASKS names module 'gone' " + "x" * 800)


def test_a_worker_that_cannot_start_stops_the_run_after_one_batch_held_back(sqs, queues, capsys):
    stack = Stack(sqs, queues, max_concurrency=1)
    _cannot_start(stack)
    stack.send("work", count=25)

    with LogCapture(consumer_module.logger) as logs:
        report = stack.run()

    # One batch received and held back for its backoff; the other 15 never received: no receive burned.
    assert report.receives == report.invocations == 1
    assert report.failed == 10 and report.succeeded == 0
    assert report.worker_start_failures == 1
    assert report.stopped_because == consumer_module.WORKER_CANNOT_START
    assert stack.depth() == {"visible": 15, "in_flight": 10}
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    assert all(entry["VisibilityTimeout"] > 0 for entry in call["Entries"])
    # Its log line carries the worker's error in full, not cut short.
    [line] = [line for line in logs.lines() if line.get("message") == consumer_module.WORKER_CANNOT_START_MESSAGE]
    assert line["error"].endswith("x" * 800)
    assert line["level"] == "ERROR"


@pytest.mark.parametrize(
    "error_type",
    # The worker's own (a bad configuration: no DLQ to say why with), and Lambda's init failure of the
    # handler's module; an exception of that name makes the in-process Lambda answer with that errorType.
    [WorkerCannotStart, type("Runtime.ImportModuleError", (Exception,), {})],
    ids=["WorkerCannotStart", "Runtime.ImportModuleError"],
)
def test_a_function_error_saying_the_worker_cannot_start_holds_the_batch_back(sqs, queues, error_type):
    assert error_type.__name__ in WORKER_START_ERROR_TYPES
    stack = Stack(sqs, queues, max_concurrency=1)

    def cannot_start(event: dict, context: Any) -> dict:
        raise error_type("Unable to import module 'taskqueue.worker'")

    stack.invoke.handler = cannot_start
    stack.send("work", count=13)
    report = stack.run()

    assert report.worker_start_failures == 1 and report.stopped_because == consumer_module.WORKER_CANNOT_START
    assert stack.depth() == {"visible": 3, "in_flight": 10}
    [call] = stack.calls.named("ChangeMessageVisibilityBatch")
    assert all(entry["VisibilityTimeout"] > 0 for entry in call["Entries"])


def test_the_next_run_probes_the_worker_before_receiving_anything(sqs, queues):
    stack = Stack(sqs, queues, max_concurrency=1, record_receipts=True)
    _cannot_start(stack)
    stack.send("work", count=3)
    stack.run()
    stack.make_all_visible()
    receives = stack.calls.count("ReceiveMessage")

    report = stack.run()  # still broken: an empty probe, and no receive

    assert stack.calls.count("ReceiveMessage") == receives
    assert stack.invoke.events[-1] == {"Records": []}
    assert report.stopped_because == consumer_module.WORKER_CANNOT_START
    assert stack.depth() == {"visible": 3, "in_flight": 0}

    ran: list[Any] = []
    stack.worker.start_failure = None  # fixed by a deploy
    stack.registry.register("work", lambda payload: ran.append(payload))
    report = stack.run()
    assert len(ran) == 3 and report.stopped_because == "queue empty"


def test_the_rest_of_a_split_batch_is_held_back_not_released_when_the_worker_cannot_start(sqs, queues):
    stack = Stack(sqs, queues, max_concurrency=1, max_invoke_payload_bytes=12_000)
    _cannot_start(stack)
    stack.send("big", "x" * 5_000, count=10)

    report = stack.run()

    # Every part goes to the worker, which holds it back for its backoff (and dead-letters a message on its last
    # receive, with the reason: see the next test); nothing of the batch is released to burn another receive.
    assert report.invocations == 5
    assert report.released == 0 and report.failed == 10
    visibility = [
        e["VisibilityTimeout"] for c in stack.calls.named("ChangeMessageVisibilityBatch") for e in c["Entries"]
    ]
    assert len(visibility) == 10 and min(visibility) > 0
    assert stack.depth() == {"visible": 0, "in_flight": 10}


def test_every_part_of_a_split_batch_on_its_last_receive_is_dead_lettered_with_the_reason(sqs, make_queues):
    """A cold consumer's split batch whose messages are on the last receive SQS allows: the first part finds the
    worker cannot start, and the rest must reach it too, so the worker dead-letters every one with
    ``worker_cannot_start``. Held back unseen, the rest would be moved by SQS's redrive with no reason."""
    queues = make_queues(max_receive_count=3)
    stack = Stack(sqs, queues, max_concurrency=1, max_invoke_payload_bytes=12_000)
    _cannot_start(stack)
    stack.worker.config = replace(stack.worker.config, max_receive_count=3)
    stack.send("big", "x" * 5_000, count=10)
    for _ in range(2):  # two receives burned before the worker broke: each message received once a round
        handles: list[str] = []
        while len(handles) < 10:
            messages = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            handles += [message["ReceiptHandle"] for message in messages.get("Messages", [])]
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=queues.url, ReceiptHandle=handle, VisibilityTimeout=0)

    stack.run()

    dead = sqs.receive_message(
        QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages", [])
    reasons = [message["MessageAttributes"]["taskqueue.reason"]["StringValue"] for message in dead]
    assert reasons == ["worker_cannot_start"] * 10
