"""The local event source mapping polls the mappings the emulator holds, as Lambda's pollers do."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from taskqueue.config import Backoff, WorkerConfig
from taskqueue.dead_letter_queue import ERROR_ATTRIBUTE, REASON_ATTRIBUTE, WORKER_CANNOT_START
from taskqueue.errors import WorkerCannotStart
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from taskqueue_local.infrastructure.emulator import apply_fixes
from taskqueue_local.infrastructure.event_source_mapping import (
    EventSourceMappings,
    MappingPoller,
    PollerSettings,
    SqsMapping,
    failed_messages,
    read_mappings,
)
from taskqueue_local.infrastructure.lambda_service import Invocation
from tests.support.aws_fakes import FakeClock

REGION = "us-east-1"
FUNCTION = "esm-worker"


@dataclass
class FakeFunction:
    """Stands in for the worker: answers each batch as ``answer(message ids, bodies)`` says."""

    answer: Callable[[list[str], list[str]], Invocation] = lambda ids, bodies: Invocation(b"{}")
    seconds: float = 0.0
    batches: list[list[str]] = field(default_factory=list)  # bodies, per invocation
    groups_in_flight: list[set[str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    overlapping_groups: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, function: str, payload: bytes) -> Invocation:
        records = json.loads(payload)["Records"]
        groups = {r["attributes"].get("MessageGroupId") for r in records} - {None}
        with self.lock:
            self.batches.append([r["body"] for r in records])
            self.overlapping_groups += sum(bool(groups & other) for other in self.groups_in_flight)
            self.groups_in_flight.append(groups)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.seconds)
            return self.answer([r["messageId"] for r in records], [r["body"] for r in records])
        finally:
            with self.lock:
                self.in_flight -= 1
                self.groups_in_flight.remove(groups)

    @property
    def bodies(self) -> list[str]:
        with self.lock:
            return [body for batch in self.batches for body in batch]


@pytest.fixture
def aws() -> Iterator[None]:
    apply_fixes()
    with mock_aws():
        yield


@dataclass
class Deployed:
    sqs: Any
    lambda_client: Any
    queue_url: str
    queue_arn: str

    def mapping(self, **settings: Any) -> str:
        settings.setdefault("FunctionResponseTypes", ["ReportBatchItemFailures"])
        return str(
            self.lambda_client.create_event_source_mapping(
                EventSourceArn=self.queue_arn, FunctionName=FUNCTION, **settings
            )["UUID"]
        )

    def send(self, count: int, prefix: str = "m", groups: int = 0) -> None:
        for start in range(0, count, 10):
            entries = []
            for n in range(start, min(count, start + 10)):
                entry: dict[str, Any] = {"Id": str(n), "MessageBody": f"{prefix}{n}"}
                if groups:
                    entry |= {"MessageGroupId": f"g{n % groups}", "MessageDeduplicationId": f"{prefix}{n}"}
                entries.append(entry)
            self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def depth(self) -> dict[str, int]:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {"visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}  # fmt: skip


def _deploy(fifo: bool = False, visibility: int = 30) -> Deployed:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = {"VisibilityTimeout": str(visibility)}
    name = "esm-tasks"
    if fifo:
        attributes["FifoQueue"] = "true"
        name += ".fifo"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = boto3.client("iam", region_name=REGION).create_role(RoleName="esm-role", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    lambda_client = boto3.client("lambda", region_name=REGION)
    lambda_client.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return Deployed(sqs, lambda_client, url, arn)


@pytest.fixture
def deployed(aws: None) -> Deployed:
    return _deploy()


@pytest.fixture
def run_pollers(deployed: Deployed) -> Iterator[Callable[..., EventSourceMappings]]:
    started: list[EventSourceMappings] = []

    def run(function: FakeFunction, max_concurrency: int = 20) -> EventSourceMappings:
        settings = PollerSettings(max_concurrency=max_concurrency, poll_seconds=0, refresh_seconds=0.2)
        pollers = EventSourceMappings(deployed.lambda_client, deployed.sqs, function, settings).start()
        started.append(pollers)
        return pollers

    yield run
    for pollers in started:
        pollers.stop()


# The longest a test waits for the pollers. A passing test waits only until what it waits for happens
# (at most 1.6 s here, with three busy loops beside the other work); the bound only says when to give up.
WAIT_SECONDS = 60.0


def _wait_until(condition: Callable[[], bool], what: str, seconds: float = WAIT_SECONDS) -> None:
    """Waits until ``condition()`` holds. Counts are waited for with ``>=`` and then checked exactly, so
    that one too many fails at once, with the counts, instead of waiting out the bound."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"timed out after {seconds:.0f} s waiting for {what}"
        time.sleep(0.02)


def settled(pollers: EventSourceMappings) -> int:
    """Messages the pollers deleted or left in the queue, over every mapping."""
    return sum(p.stats["deleted"] + p.stats["left_in_queue"] for p in pollers.pollers.values())


# -- the emulator ---------------------------------------------------------------------------------


def test_the_emulator_leaves_polling_to_the_local_mapping(deployed):
    """moto would receive each message sent to a mapped queue itself (a receive count gone, then visible)."""
    deployed.mapping()
    deployed.sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="hello")
    (message,) = deployed.sqs.receive_message(
        QueueUrl=deployed.queue_url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


def test_the_emulator_gives_each_message_to_one_of_concurrent_receivers_and_deletes_stay_deleted(deployed):
    """Pollers receive and delete from many threads at once. moto's SQS is not thread-safe: two receives
    could hand out one message twice, and two deletes could bring back the other's message (each
    rebuilds the queue's list). The emulator serializes them, as SQS would."""
    received: list[str] = []
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            while messages := deployed.sqs.receive_message(
                QueueUrl=deployed.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
            ).get("Messages", []):
                received.extend(m["Body"] for m in messages)
                entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
                deployed.sqs.delete_message_batch(QueueUrl=deployed.queue_url, Entries=entries)
        except BaseException as error:
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, as on a loaded machine: each round races
    try:
        for round_ in range(5):  # before the fix, 9 runs of 9 failed (~1.5 s on a loaded machine)
            deployed.send(40, prefix=f"r{round_}-")
            threads = [threading.Thread(target=drain) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    duplicated = sorted(body for body, count in Counter(received).items() if count > 1)
    assert duplicated == [], "received more than once"
    assert deployed.depth() == {"visible": 0, "in_flight": 0}
    assert len(received) == 5 * 40


def test_mappings_are_read_back_with_their_settings(deployed):
    uuid = deployed.mapping(
        BatchSize=25,
        MaximumBatchingWindowInSeconds=2,
        ScalingConfig={"MaximumConcurrency": 3},
        Enabled=False,
    )
    (mapping,) = read_mappings(deployed.lambda_client, deployed.sqs)
    assert mapping == SqsMapping(
        uuid=uuid,
        queue_arn=deployed.queue_arn,
        queue_url=deployed.queue_url,
        function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}",
        batch_size=25,
        batching_window_seconds=2,
        maximum_concurrency=3,
        report_batch_item_failures=True,
        enabled=False,
        visibility_timeout=30,
    )
    assert mapping.concurrency(local_limit=20, seconds_polled=0) == 3
    assert mapping.concurrency(local_limit=2, seconds_polled=0) == 2


def test_concurrency_scales_up_as_aws_does_from_5_by_300_a_minute():
    unbounded = _mapping()  # no MaximumConcurrency: AWS goes up to 1,000
    assert [unbounded.concurrency(2000, seconds) for seconds in (0, 0.5, 1, 12, 60, 600)] == [5, 7, 10, 65, 305, 1000]
    assert unbounded.concurrency(local_limit=20, seconds_polled=60) == 20
    capped = replace(_mapping(), maximum_concurrency=8)
    assert [capped.concurrency(20, seconds) for seconds in (0, 0.5, 1)] == [5, 7, 8]


def test_a_poller_starts_with_five_batches_in_flight(deployed):
    deployed.mapping(BatchSize=1, ScalingConfig={"MaximumConcurrency": 10})
    deployed.send(20)
    function = FakeFunction(seconds=0.1)
    (mapping,) = read_mappings(deployed.lambda_client, deployed.sqs)
    frozen = FakeClock()  # no time passes for the ramp: it stays at AWS's starting 5
    poller = MappingPoller(mapping, deployed.sqs, function, PollerSettings(poll_seconds=0), clock=frozen).start()
    try:
        _wait_until(lambda: len(function.bodies) >= 20, "20 messages invoked")
    finally:
        poller.stop()
        poller.join(timeout=WAIT_SECONDS)
    assert sorted(function.bodies) == sorted(f"m{n}" for n in range(20))
    assert function.max_in_flight == 5


# -- what Lambda does with the answer -------------------------------------------------------------


def _mapping(report: bool = True) -> SqsMapping:  # no MaximumConcurrency
    return SqsMapping("u", "arn:aws:sqs:us-east-1:1:q", "url", "f", 10, 0, None, report, True, 30)


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (Invocation(b'{"batchItemFailures": [{"itemIdentifier": "b"}]}'), {"b"}),
        (Invocation(b'{"batchItemFailures": []}'), set()),
        (Invocation(b'{"batchItemFailures": null}'), set()),
        (Invocation(b"{}"), set()),
        (Invocation(b"null"), set()),
        (Invocation(b""), set()),
        # Not a valid partial-batch response: the whole batch fails, as on AWS.
        (Invocation(b'{"batchItemFailures": [{"itemIdentifier": "zz"}]}'), {"a", "b", "c"}),
        (Invocation(b'{"batchItemFailures": [{"itemIdentifier": ""}]}'), {"a", "b", "c"}),
        (Invocation(b'{"batchItemFailures": [{"id": "b"}]}'), {"a", "b", "c"}),
        (Invocation(b'{"batchItemFailures": "b"}'), {"a", "b", "c"}),
        (Invocation(b"not json"), {"a", "b", "c"}),
        (Invocation(b'"ok"'), {"a", "b", "c"}),
        # Errors and timeouts fail the whole batch.
        (Invocation(b'{"errorMessage": "boom"}', function_error="Unhandled"), {"a", "b", "c"}),
        (Invocation(b"{}", function_error="Unhandled", timed_out=True), {"a", "b", "c"}),
    ],
)
def test_failed_messages_follow_lambdas_partial_batch_rules(answer, failed):
    assert failed_messages(_mapping(), answer, ["a", "b", "c"]) == failed


def test_without_report_batch_item_failures_a_partial_answer_is_a_success():
    answer = Invocation(b'{"batchItemFailures": [{"itemIdentifier": "b"}]}')
    assert failed_messages(_mapping(report=False), answer, ["a", "b", "c"]) == set()
    errored = Invocation(b"{}", function_error="Unhandled")
    assert failed_messages(_mapping(report=False), errored, ["a", "b"]) == {"a", "b"}


# -- polling --------------------------------------------------------------------------------------


def test_successes_are_deleted_and_reported_failures_left_to_their_visibility(deployed, run_pollers):
    def answer(ids: list[str], bodies: list[str]) -> Invocation:
        failures = [{"itemIdentifier": i} for i, body in zip(ids, bodies, strict=True) if body.endswith("7")]
        return Invocation(json.dumps({"batchItemFailures": failures}).encode())

    deployed.mapping(BatchSize=10)
    deployed.send(20)
    function = FakeFunction(answer)
    pollers = run_pollers(function)
    _wait_until(lambda: settled(pollers) >= 20, "20 messages deleted or left in the queue")
    assert settled(pollers) == 20
    assert sorted(function.bodies) == sorted(f"m{n}" for n in range(20))
    assert deployed.depth() == {"visible": 0, "in_flight": 2}  # m7 and m17, hidden for 30 s
    (stats,) = pollers.stats().values()
    assert (stats["deleted"], stats["left_in_queue"], stats["failed_invocations"]) == (18, 2, 0)


def test_an_error_or_timeout_fails_the_whole_batch(deployed, run_pollers):
    deployed.mapping(BatchSize=5, ScalingConfig={"MaximumConcurrency": 2})
    deployed.send(5)
    function = FakeFunction(lambda ids, bodies: Invocation(b"{}", function_error="Unhandled", timed_out=True))
    pollers = run_pollers(function)
    _wait_until(lambda: function.bodies != [], "an invocation")
    _wait_until(lambda: next(iter(pollers.stats().values()))["left_in_queue"] >= 5, "5 messages left in the queue")
    assert next(iter(pollers.stats().values()))["left_in_queue"] == 5
    assert deployed.depth() == {"visible": 0, "in_flight": 5}
    assert next(iter(pollers.stats().values()))["deleted"] == 0


def test_batch_size_and_window_gather_a_larger_batch(deployed, run_pollers):
    deployed.mapping(BatchSize=25, MaximumBatchingWindowInSeconds=1, ScalingConfig={"MaximumConcurrency": 2})
    deployed.send(25)
    function = FakeFunction()
    pollers = run_pollers(function, max_concurrency=1)
    _wait_until(lambda: next(iter(pollers.stats().values()))["deleted"] >= 25, "25 messages deleted")
    assert next(iter(pollers.stats().values()))["deleted"] == 25
    assert [len(batch) for batch in function.batches] == [25]
    assert deployed.depth() == {"visible": 0, "in_flight": 0}


def test_without_a_window_each_batch_is_one_receive_of_at_most_batch_size(deployed, run_pollers):
    deployed.mapping(BatchSize=3, ScalingConfig={"MaximumConcurrency": 2})
    deployed.send(12)
    function = FakeFunction()
    run_pollers(function)
    _wait_until(lambda: len(function.bodies) >= 12, "12 messages invoked")
    assert sorted(function.bodies) == sorted(f"m{n}" for n in range(12))
    assert max(len(batch) for batch in function.batches) <= 3


def test_maximum_concurrency_caps_the_batches_in_flight(deployed, run_pollers):
    deployed.mapping(BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})
    deployed.send(12)
    function = FakeFunction(seconds=0.2)
    run_pollers(function, max_concurrency=10)
    _wait_until(lambda: len(function.bodies) >= 12, "12 messages invoked")
    assert sorted(function.bodies) == sorted(f"m{n}" for n in range(12))
    assert function.max_in_flight == 3


def test_a_disabled_mapping_does_not_poll_until_enabled(deployed, run_pollers):
    uuid = deployed.mapping(Enabled=False)
    deployed.send(3)
    function = FakeFunction()
    pollers = run_pollers(function)
    time.sleep(0.6)  # three refreshes
    assert function.batches == []
    assert next(iter(pollers.stats().values()))["receives"] == 0
    deployed.lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True)
    _wait_until(lambda: len(function.bodies) >= 3, "3 messages invoked once enabled")
    assert sorted(function.bodies) == ["m0", "m1", "m2"]


def test_throttled_invocations_are_tried_again(deployed, run_pollers):
    throttles = iter([True, True, False])

    def invoke(function: str, payload: bytes) -> Invocation:
        return Invocation(b"", throttled=True) if next(throttles, False) else Invocation(b"{}")

    deployed.mapping(ScalingConfig={"MaximumConcurrency": 2})
    deployed.send(1)
    pollers = run_pollers(invoke, max_concurrency=1)
    _wait_until(lambda: next(iter(pollers.stats().values()))["deleted"] >= 1, "the message deleted")
    assert next(iter(pollers.stats().values()))["deleted"] == 1
    assert next(iter(pollers.stats().values()))["throttles"] == 2


def test_fifo_one_batch_per_group_in_flight_and_order_kept(aws):
    deployed = _deploy(fifo=True)
    deployed.mapping(BatchSize=2, ScalingConfig={"MaximumConcurrency": 4})
    deployed.send(24, groups=3)
    function = FakeFunction(seconds=0.05)
    pollers = EventSourceMappings(
        deployed.lambda_client, deployed.sqs, function, PollerSettings(poll_seconds=0)
    ).start()
    try:
        _wait_until(lambda: len(function.bodies) >= 24, "24 messages invoked")
    finally:
        pollers.stop()
    assert function.overlapping_groups == 0
    assert function.max_in_flight > 1  # the groups did run side by side
    for group in range(3):
        bodies = [b for b in function.bodies if int(b[1:]) % 3 == group]
        assert bodies == sorted(bodies, key=lambda b: int(b[1:]))


# -- a worker that cannot start, behind the mapping ----------------------------------------------


def test_a_worker_that_cannot_start_burns_receives_but_dead_letters_each_task_with_the_reason(deployed, run_pollers):
    """What protects the queue in this mode, and what does not: Lambda's pollers keep receiving (each receive
    is burned), the worker spaces them with its backoff, and on the last receive SQS allows it dead-letters the
    task with ``worker_cannot_start`` and its error, before SQS's redrive would move it with no reason."""
    sqs = deployed.sqs
    dlq_url = sqs.create_queue(QueueName="esm-tasks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    sqs.set_queue_attributes(QueueUrl=deployed.queue_url, Attributes={"RedrivePolicy": redrive})
    config = WorkerConfig(
        dlq_url=dlq_url,
        queue_url=deployed.queue_url,
        behind_event_source_mapping=True,
        max_receive_count=2,
        backoff=Backoff(base_seconds=1, max_seconds=1),
    )
    failure = WorkerCannotStart("the task modules TASKQUEUE_TASKS='gone': ImportError: No module named 'gone'")
    worker = Worker(config, sqs, TaskRegistry(), rng=lambda: 0.5, start_failure=failure)

    batches: list[int] = []

    def invoke(name: str, payload: bytes) -> Invocation:
        event = json.loads(payload)
        batches.append(len(event["Records"]))
        return Invocation(json.dumps(worker.handle(event, None)).encode())

    deployed.mapping(BatchSize=10)
    for n in range(3):
        sqs.send_message(QueueUrl=deployed.queue_url, MessageBody=json.dumps({"task": "greet", "payload": {"n": n}}))
    pollers = run_pollers(invoke)
    _wait_until(lambda: _count(sqs, dlq_url) == 3, "3 dead letters", seconds=30)
    pollers.stop()

    letters = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(letters) == 3
    for letter in letters:
        attributes = letter["MessageAttributes"]
        assert attributes[REASON_ATTRIBUTE]["StringValue"] == WORKER_CANNOT_START
        assert "No module named 'gone'" in attributes[ERROR_ATTRIBUTE]["StringValue"]
    assert deployed.depth() == {"visible": 0, "in_flight": 0}  # nothing lost: all 3 in the DLQ, each saying why
    assert sum(batches) == 6  # the receives were burned: each task was received twice, as many as SQS allows


def _count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
