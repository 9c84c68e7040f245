"""Per-task retry policy: max_attempts, backoff and Retry(after/at), the same in both trigger modes;
attempts counted honestly where an attempts table is kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from aws_fakes import CallRecorder, InProcessLambda, LambdaContext, ReceiptHandles, received_event
from aws_settings import REGION, STATE_TABLE
from taskqueue import Backoff, Retry
from taskqueue.attempts import AttemptLedger
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer
from taskqueue.dead_letter_queue import ERROR_ATTRIBUTE, REASON_ATTRIBUTE
from taskqueue.registry import TaskRegistry, import_task_modules
from taskqueue.worker import Worker


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
            WorkerConfig(**settings, apply_backoff=True, queue_url=queues.url),
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
    assert len(sqs.receive_message(QueueUrl=queues.dlq_url).get("Messages", [])) == 1


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
