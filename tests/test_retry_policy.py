"""Per-task retry policy: max_attempts, backoff and Retry(after/at), the same in both trigger modes;
attempts counted honestly where an attempts table is kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from taskqueue import Backoff, Retry, batch_response
from taskqueue.attempts import AttemptLedger
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer
from taskqueue.dead_letter_queue import ERROR_ATTRIBUTE, REASON_ATTRIBUTE
from taskqueue.operations.dlq_message import read_reason
from taskqueue.registry import TaskRegistry, import_task_modules
from taskqueue.worker import Worker
from tests.support.aws_fakes import (
    CallRecorder,
    FailingCalls,
    FakeClock,
    InProcessLambda,
    LambdaContext,
    ReceiptHandles,
    received_event,
)
from tests.support.aws_settings import REGION, STATE_TABLE


def body(task: str, payload: Any = None) -> str:
    return json.dumps({"task": task, "payload": payload})


class Deployment:
    """One queue, its worker, and either trigger: the consumer (``run_consumer``) or an event source
    mapping's invocation of the worker (``run_mapping``)."""

    def __init__(
        self,
        sqs: Any,
        queues: Any,
        registry: TaskRegistry,
        ledger: AttemptLedger | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.sqs, self.queues, self.registry = sqs, queues, registry
        settings = {
            "dlq_url": queues.dlq_url,
            "max_receive_count": queues.max_receive_count,
            "max_attempts": max_attempts,
            "backoff": Backoff(10, 600),
        }
        self.scheduled_worker = Worker(WorkerConfig(**settings), sqs, registry, ledger=ledger, rng=lambda: 0.5)
        self.mapped_worker = Worker(
            WorkerConfig(**settings, behind_event_source_mapping=True, queue_url=queues.url),
            sqs,
            registry,
            ledger=ledger,
            rng=lambda: 0.5,
        )
        self.lambda_client = boto3.client("lambda", region_name=REGION)
        InProcessLambda(self.lambda_client, self.scheduled_worker.handle)
        consumer_config = ConsumerConfig(
            queue_url=queues.url, worker_function="worker", wait_time_seconds=0, worker_timeout_seconds=5
        )
        self.consumer = Consumer(consumer_config, sqs, self.lambda_client, rng=lambda: 0.5)
        self.calls = CallRecorder(sqs)
        self.receipts = ReceiptHandles(sqs)

    def run_consumer(self) -> None:
        self.consumer.run(LambdaContext(60))

    def run_mapping(self) -> None:
        received = self.sqs.receive_message(
            QueueUrl=self.queues.url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if received:
            from taskqueue.sqs_event import message_to_record

            event = {"Records": [message_to_record(m, self.queues.arn) for m in received]}
            response = self.mapped_worker.handle(event, LambdaContext(30))
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            done = [m for m in received if m["MessageId"] not in failed]
            if done:  # what the event source mapping does with the answer
                self.sqs.delete_message_batch(
                    QueueUrl=self.queues.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )

    def run(self, mode: str) -> None:
        (self.run_consumer if mode == "consumer" else self.run_mapping)()

    def visibility_timeouts(self) -> list[int]:
        return [
            entry["VisibilityTimeout"]
            for call in self.calls.named("ChangeMessageVisibilityBatch")
            for entry in call["Entries"]
        ]

    def expire_visibility(self) -> None:
        """Stand in for the passing of the retry delay: make every message in flight visible now."""
        self.receipts.expire(self.queues.url)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])


MODES = ["consumer", "mapping"]


@pytest.fixture
def registry() -> TaskRegistry:
    return TaskRegistry()


@pytest.fixture
def table(state_table: Any) -> AttemptLedger:
    return AttemptLedger(STATE_TABLE, state_table)


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_applies_exactly_that_delay(sqs, make_queues, registry, mode):
    queues = make_queues(max_receive_count=5)

    def rate_limited(payload):
        raise Retry("HTTP 429", after=120)

    registry.register("call_api", rate_limited)
    deployment = Deployment(sqs, queues, registry)
    sqs.send_message(QueueUrl=queues.url, MessageBody=body("call_api"))
    deployment.run(mode)
    assert deployment.visibility_timeouts() == [120]


@pytest.mark.parametrize("mode", MODES)
def test_retry_at_a_time_applies_the_delay_until_then(sqs, make_queues, registry, mode):
    queues = make_queues(max_receive_count=5)

    def later(payload):
        raise Retry(at=datetime.now(UTC) + timedelta(seconds=300))

    registry.register("later", later)
    deployment = Deployment(sqs, queues, registry)
    sqs.send_message(QueueUrl=queues.url, MessageBody=body("later"))
    deployment.run(mode)
    [delay] = deployment.visibility_timeouts()
    assert 298 <= delay <= 300


@pytest.mark.parametrize("mode", MODES)
def test_a_tasks_own_backoff_and_max_attempts_apply(sqs, make_queues, registry, mode):
    queues = make_queues(max_receive_count=5)
    registry.register("capture", lambda payload: 1 / 0, max_attempts=3, backoff=Backoff(base_seconds=4, max_seconds=30))
    deployment = Deployment(sqs, queues, registry)
    sqs.send_message(QueueUrl=queues.url, MessageBody=body("capture"))
    for _ in range(3):
        deployment.run(mode)
        deployment.expire_visibility()

    # Equal jitter at rng 0.5: 3/4 of 4 s, then of 8 s; the third attempt is the task's last.
    assert deployment.visibility_timeouts() == [3, 6]
    [dead] = deployment.dead_letters()
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    assert "of 3" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_counts_as_an_attempt(sqs, make_queues, registry, mode):
    queues = make_queues(max_receive_count=5)

    def again(payload):
        raise Retry(after=1)

    registry.register("again", again, max_attempts=2)
    deployment = Deployment(sqs, queues, registry)
    sqs.send_message(QueueUrl=queues.url, MessageBody=body("again"))
    deployment.run(mode)
    deployment.expire_visibility()
    deployment.run(mode)
    [dead] = deployment.dead_letters()
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    assert "Retry: retry in 1 s" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


def test_both_trigger_modes_set_the_same_delays(sqs, make_queues, registry):
    delays = {}
    registry.register("boom", lambda payload: 1 / 0, backoff=Backoff(7, 100))
    for mode in MODES:
        queues = make_queues(f"same-{mode}", max_receive_count=9)
        deployment = Deployment(sqs, queues, registry)
        sqs.send_message(QueueUrl=queues.url, MessageBody=body("boom"))
        for _ in range(4):
            deployment.run(mode)
            deployment.expire_visibility()
        delays[mode] = deployment.visibility_timeouts()
    assert delays["consumer"] == delays["mapping"] == [5, 10, 21, 42]


def test_max_attempts_above_the_queues_receive_count_is_refused_at_import(tmp_path, monkeypatch, registry):
    (tmp_path / "greedy_tasks.py").write_text(
        "from taskqueue import task\n\n@task('report', max_attempts=10)\ndef report(payload):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from taskqueue.registry import default_registry

    try:
        with pytest.raises(
            ValueError, match=r"task 'report' asks for max_attempts=10, more than the queue's max_receive_count=5"
        ):
            import_task_modules(["greedy_tasks"], max_receive_count=5)
    finally:
        default_registry.unregister("report")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "exactly one of"),
        ({"after": 1, "at": datetime.now(UTC)}, "exactly one of"),
        ({"after": -1}, "out of range"),
        ({"after": 43_201}, "out of range"),
        ({"after": "soon"}, "number of seconds"),
        ({"at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"at": datetime.now(timezone(timedelta(hours=2))) + timedelta(days=1)}, "out of range"),
    ],
)
def test_bad_retry_requests_are_refused_where_they_are_raised(arguments, message):
    with pytest.raises(ValueError, match=message):
        Retry(**arguments)


@pytest.mark.parametrize(("max_attempts", "backoff"), [(0, None), (1001, None), (True, None), (2, (1, 2))])
def test_bad_task_policies_are_refused_at_registration(registry, max_attempts, backoff):
    with pytest.raises(ValueError, match="task 'bad'"):
        registry.register("bad", lambda payload: None, max_attempts=max_attempts, backoff=backoff)


# -- honest attempts: a FIFO message held back behind its group ------------------------------------


def _fifo_scenario(sqs, make_queues, registry, ledger):
    """Group g holds A then B. A fails twice, then succeeds; B fails once, then succeeds. Tasks get 3
    attempts; SQS's redrive, the safety net, allows 6 receives."""
    queues = make_queues("orders", fifo=True, max_receive_count=6)
    failures = {"A": 2, "B": 1}
    ran: list[str] = []

    def step(payload):
        ran.append(payload)
        if failures[payload] > 0:
            failures[payload] -= 1
            raise RuntimeError(f"{payload} not yet")

    registry.register("step", step)
    deployment = Deployment(sqs, queues, registry, ledger=ledger, max_attempts=3)
    for name in ("A", "B"):
        sqs.send_message(
            QueueUrl=queues.url, MessageBody=body("step", name), MessageGroupId="g", MessageDeduplicationId=name
        )
    for _ in range(6):
        deployment.run_consumer()
        deployment.expire_visibility()
    return deployment, ran


def test_a_fifo_message_held_back_behind_its_group_keeps_its_attempts(sqs, make_queues, registry, table):
    deployment, ran = _fifo_scenario(sqs, make_queues, registry, ledger=table)
    # B was received with A three times without running; its first failure is its first attempt of 3.
    assert ran == ["A", "A", "A", "B", "B"]
    assert deployment.dead_letters() == []


def test_without_an_attempts_table_the_reason_says_receives_were_counted(sqs, make_queues, registry):
    deployment, ran = _fifo_scenario(sqs, make_queues, registry, ledger=None)
    assert ran == ["A", "A", "A", "B"]
    [dead] = deployment.dead_letters()
    error = dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    assert error.startswith("failed on receive 3 of 3 (attempts counted by receives)")


def test_a_verdict_whose_dlq_send_failed_is_not_run_again(sqs, queues, registry, table):
    from botocore.exceptions import ClientError

    from taskqueue import PermanentError

    runs = []

    def reject(payload):
        runs.append(1)
        raise PermanentError("never")

    registry.register("reject", reject)
    failing = [True]

    def dlq_down(params, **_):
        if failing[0] and params["QueueUrl"] == queues.dlq_url:
            raise ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "SendMessage"
            )

    sqs.meta.events.register("provide-client-params.sqs.SendMessage", dlq_down)
    event = received_event(sqs, queues, [body("reject")])
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, ledger=table)
    assert len(worker.handle(event, LambdaContext())["batchItemFailures"]) == 1
    failing[0] = False
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"
    # Another execution environment: nothing in memory, the verdict comes from the table.
    fresh = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, ledger=table)
    assert fresh.handle(event, LambdaContext())["batchItemFailures"] == []
    assert runs == [1]
    [dead] = sqs.receive_message(QueueUrl=queues.dlq_url, MessageAttributeNames=["All"]).get("Messages", [])
    assert read_reason(dead).ran is True  # the table kept the verdict whole, its structured fields included


class _Killed(BaseException):
    """Lambda ending the invocation (its timeout, a crash): no answer, the whole batch comes back."""


@pytest.mark.parametrize("environment", ["same", "new, with the attempts table"])
def test_a_permanent_error_is_not_run_again_when_a_later_task_kills_its_batch(
    sqs, queues, registry, table, environment
):
    from taskqueue import PermanentError

    runs = []

    def reject(payload):
        runs.append("reject")
        raise PermanentError("never")

    def hang(payload):
        raise _Killed

    registry.register("reject", reject)
    registry.register("hang", hang)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, ledger=table)
    event = received_event(sqs, queues, [body("reject")])
    event["Records"] += received_event(sqs, queues, [body("hang")])["Records"]
    with pytest.raises(_Killed):
        worker.handle(event, LambdaContext())

    # The batch comes back; the reject task must not run a second time.
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    again = (
        worker if environment == "same" else Worker(WorkerConfig(dlq_url=queues.dlq_url), sqs, registry, ledger=table)
    )
    registry.unregister("hang")
    registry.register("hang", lambda payload: None)
    assert again.handle(event, LambdaContext())["batchItemFailures"] == []
    assert runs == ["reject"]


# -- runs that never return: write-ahead attempts (issue 19, defect 1) -------------------------------


def _dead_letters(sqs: Any, queues: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


def _receive_again(event: dict[str, Any], count: int) -> None:
    """The batch of a killed invocation comes back whole: each record received once more."""
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(count)


def test_a_run_that_never_returns_is_an_attempt(sqs, make_queues, registry, table):
    """max_attempts=2 under maxReceiveCount 5: a task that hangs past the timeout every time runs twice, not at
    every receive, reads attempts 1 and 2, and is dead-lettered with a reason saying its last run did not return."""
    queues = make_queues(max_receive_count=5)
    clock = FakeClock()
    table.clock = clock  # the table's notion of now: the invocations' deadlines are compared with it
    attempts: list[int] = []

    def hang(payload, context):
        attempts.append(context.attempt)
        raise _Killed

    registry.register("hang", hang, max_attempts=2)
    event = received_event(sqs, queues, [body("hang")])
    answers = []
    for receive in range(1, queues.max_receive_count + 1):
        _receive_again(event, receive)
        # Each receive meets a new execution environment: the one before was stopped at its timeout.
        worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=5), sqs, registry, ledger=table)
        try:
            answers.append(worker.handle(event, LambdaContext(30)))
        except _Killed:
            clock.advance(31)  # the invocation ran to its timeout
            continue
        break

    assert attempts == [1, 2]
    [answer] = answers  # dead-lettered on the receive after its last run, not retried
    assert answer["batchItemFailures"] == []
    [dead] = _dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    assert "did not return" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


def test_on_fifo_the_messages_behind_a_hanging_task_still_run(sqs, make_queues, registry, table):
    """Group g holds A, which hangs every time (max_attempts 2), then B. Every killed batch costs B a receive;
    once A has had its two runs it is dead-lettered unrun, and B runs, within its receives (maxReceiveCount 5)."""
    queues = make_queues("orders", fifo=True, max_receive_count=5)
    clock = FakeClock()
    table.clock = clock
    ran: list[tuple[str, int]] = []

    def step(payload, context):
        ran.append((payload, context.attempt))
        if payload == "A":
            raise _Killed

    registry.register("step", step, max_attempts=2)
    event = received_event(sqs, queues, [body("step", "A"), body("step", "B")], group_ids=["g", "g"])
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=5)
    for receive in range(1, queues.max_receive_count + 1):
        _receive_again(event, receive)
        try:
            answer = Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext(30))
        except _Killed:
            clock.advance(31)
            continue
        assert answer["batchItemFailures"] == []
        break

    assert ran == [("A", 1), ("A", 2), ("B", 1)]
    [dead] = _dead_letters(sqs, queues)
    assert json.loads(dead["Body"])["payload"] == "A"


# -- a failed read of the attempts table (issue 19, defect 3) -----------------------------------------


def test_a_permanent_error_verdict_holds_while_the_attempts_table_fails(sqs, queues, registry, table, state_table):
    """A PermanentError verdict, then a later task of the batch kills the invocation. The batch comes back to a
    new execution environment while the attempts table fails: the verdict cannot be read, so nothing may run."""
    from taskqueue import PermanentError

    runs = []

    def reject(payload):
        runs.append("reject")
        raise PermanentError("never")

    def hang(payload):
        runs.append("hang")
        if runs.count("hang") == 1:
            raise _Killed

    registry.register("reject", reject)
    registry.register("hang", hang)
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=3)
    event = received_event(sqs, queues, [body("reject")])
    event["Records"] += received_event(sqs, queues, [body("hang")])["Records"]
    with pytest.raises(_Killed):
        Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext())

    _receive_again(event, 2)
    outage = [FailingCalls(state_table, operation, 1) for operation in ("GetItem", "UpdateItem", "PutItem")]
    answer = Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext())
    assert runs == ["reject", "hang"]
    assert {item["itemIdentifier"] for item in answer["batchItemFailures"]} == {
        record["messageId"] for record in event["Records"]
    }

    for failing in outage:
        failing.stop()
    _receive_again(event, 3)
    assert Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext())["batchItemFailures"] == []
    assert runs == ["reject", "hang", "hang"]


def test_a_copy_delivered_while_the_last_run_is_under_way_is_held_then_taken_as_done(sqs, queues, registry, table):
    """SQS delivers a second copy of a message (receive 2) while its only allowed run is under way, in another
    execution environment. The copy is not taken for a run that never returned: it is released until that
    run's invocation can be over. The run completes; when the copy comes back, it is done, not run again."""
    clock = FakeClock()
    table.clock = clock
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=3)
    ran: list[int] = []
    copy: dict[str, Any] = {}

    def once(payload, context):
        if not copy:
            copy.update(Worker(config, sqs, registry, ledger=table).handle(duplicate, LambdaContext(30)))
        ran.append(context.attempt)

    registry.register("once", once, max_attempts=1)
    event = received_event(sqs, queues, [body("once")])
    duplicate = json.loads(json.dumps(event))
    _receive_again(duplicate, 2)
    assert Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext(30))["batchItemFailures"] == []

    message_id = event["Records"][0]["messageId"]
    assert [item["itemIdentifier"] for item in copy["batchItemFailures"]] == [message_id]
    assert 30 <= batch_response.parse(json.dumps(copy).encode(), [message_id]).retry_delays[message_id] <= 32
    _receive_again(duplicate, 3)
    clock.advance(40)
    assert Worker(config, sqs, registry, ledger=table).handle(duplicate, LambdaContext(30))["batchItemFailures"] == []
    assert ran == [1]
    assert _dead_letters(sqs, queues) == []


def test_without_the_attempts_table_a_receive_is_the_attempt_written_ahead(sqs, make_queues, registry):
    """No attempts table: each receive counts as an attempt, so a task that hangs every time runs on its
    max_attempts receives, and the next receive dead-letters it, saying so, instead of running it again."""
    queues = make_queues(max_receive_count=5)
    runs: list[int] = []

    def hang(payload, context):
        runs.append(context.attempt)
        raise _Killed

    registry.register("hang", hang, max_attempts=2)
    event = received_event(sqs, queues, [body("hang")])
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=5)
    for receive in (1, 2):
        _receive_again(event, receive)
        with pytest.raises(_Killed):
            Worker(config, sqs, registry).handle(event, LambdaContext(30))
    _receive_again(event, 3)
    assert Worker(config, sqs, registry).handle(event, LambdaContext(30))["batchItemFailures"] == []
    assert runs == [1, 2]
    [dead] = _dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    assert "received 3 times" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


# -- a write-ahead whose answer is lost (botocore sends it again) --------------------------------------


class _AnswerLostOnce:
    """A DynamoDB client whose first write-ahead (``ADD runs``) takes effect but whose answer is lost: botocore
    retries a read timeout by sending the same request again, so the table sees the one write twice."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        if "ADD runs" in request.get("UpdateExpression", "") and not self.lost:
            self.lost += 1
            self._client.update_item(**request)  # took effect; its answer never came back
        return self._client.update_item(**request)


def test_a_write_ahead_sent_twice_by_a_retry_records_one_run(sqs, make_queues, registry, state_table):
    """max_attempts=2, a task that fails once then succeeds. The first run's write-ahead is sent twice (its answer
    was lost, botocore retried it): that is still one run, so the task gets its second attempt."""
    queues = make_queues(max_receive_count=5)
    client = _AnswerLostOnce(state_table)
    ledger = AttemptLedger(STATE_TABLE, client)
    attempts: list[int] = []

    def flaky(payload, context):
        attempts.append(context.attempt)
        if len(attempts) == 1:
            raise RuntimeError("first run fails")

    registry.register("flaky", flaky, max_attempts=2)
    event = received_event(sqs, queues, [body("flaky")])
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=5), sqs, registry, ledger=ledger)
    for receive in (1, 2):
        _receive_again(event, receive)
        worker.handle(event, LambdaContext(30))

    assert client.lost == 1
    assert attempts == [1, 2]
    assert _dead_letters(sqs, queues) == []


def test_a_dead_letter_sent_before_its_batch_was_killed_is_not_sent_again(sqs, queues, registry, table):
    """A PermanentError is dead-lettered (the send goes through), then a later task of the batch kills the
    invocation, so the message comes back, to a new execution environment. The attempts table says the task is
    dead-lettered: it is not run, and its dead letter is not sent a second time (two copies in the DLQ would
    each be redriven: the task would run twice)."""
    from taskqueue import PermanentError

    def reject(payload):
        raise PermanentError("never")

    def hang(payload):
        raise _Killed

    registry.register("reject", reject)
    registry.register("hang", hang)
    config = WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=3)
    event = received_event(sqs, queues, [body("reject"), body("hang")])
    with pytest.raises(_Killed):
        Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext())

    _receive_again(event, 2)
    registry.unregister("hang")
    registry.register("hang", lambda payload: None)
    assert Worker(config, sqs, registry, ledger=table).handle(event, LambdaContext())["batchItemFailures"] == []

    dead = sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    )
    assert [json.loads(message["Body"])["task"] for message in dead] == ["reject"]


# -- Retry(after) when its answer is lost (issue 19, found by the fault model) ---------------------------


def test_a_retry_after_is_not_run_early_when_a_later_task_kills_its_batch(sqs, make_queues, registry, table):
    """A task asks Retry(after=120); the next task of its batch hangs, so the invocation dies and the answer
    carrying the 120 s is lost. The batch comes back 5 s later (the caller's own backoff): the task is not run,
    its message is released for what is left of the 120 s; at 121 s it runs."""
    queues = make_queues(max_receive_count=5)
    clock = FakeClock()
    table.clock = clock
    runs: list[float] = []

    def later(payload):
        runs.append(clock.now)
        if len(runs) == 1:
            raise Retry(after=120)

    def hang(payload):
        raise _Killed

    registry.register("later", later)
    registry.register("hang", hang)
    worker = Worker(WorkerConfig(dlq_url=queues.dlq_url, max_receive_count=5), sqs, registry, ledger=table)
    event = received_event(sqs, queues, [body("later")])
    event["Records"] += received_event(sqs, queues, [body("hang")])["Records"]
    with pytest.raises(_Killed):
        worker.handle(event, LambdaContext(30))

    clock.advance(5)
    _receive_again(event, 2)
    first = event["Records"][0]["messageId"]
    answer = worker.handle({"Records": event["Records"][:1]}, LambdaContext(30))
    assert runs == [1000.0]  # not run 5 s after it asked for 120
    assert answer["batchItemFailures"] == [{"itemIdentifier": first}]
    assert answer[batch_response.ANSWER_KEY]["retryDelays"][first] == 115

    clock.advance(116)
    _receive_again(event, 3)
    assert worker.handle({"Records": event["Records"][:1]}, LambdaContext(30))["batchItemFailures"] == []
    assert runs == [1000.0, 1121.0]
