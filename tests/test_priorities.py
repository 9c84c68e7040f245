"""Priorities: the receive order policy, its configuration, and the consumer and worker over several queues."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from taskqueue.backoff import Backoff
from taskqueue.config import ConfigError, ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer
from taskqueue.priorities import (
    STRICT,
    WEIGHTED,
    Priorities,
    PriorityError,
    PriorityQueue,
    ReceiveOrder,
    queue_url_for_priority,
    queue_urls_from_env,
)
from taskqueue.priority_receiving import PriorityQueuesClient, with_priorities
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import CallRecorder, InProcessLambda, LambdaContext, received_event
from tests.support.aws_settings import REGION

HIGH = PriorityQueue("high", "https://sqs.example/1/tasks-high", "arn:aws:sqs:us-east-1:1:tasks-high", weight=3)
LOW = PriorityQueue("low", "https://sqs.example/1/tasks", "arn:aws:sqs:us-east-1:1:tasks", weight=1)


# -- the policy ------------------------------------------------------------------------------------


def test_strict_order_always_tries_the_highest_priority_first():
    order = ReceiveOrder([HIGH, LOW], STRICT)
    assert all([q.priority for q in order.next_round()] == ["high", "low"] for _ in range(5))


def test_weighted_order_shares_first_tries_by_weight_smoothly_and_falls_through_to_the_rest():
    order = ReceiveOrder([HIGH, LOW], WEIGHTED)
    rounds = [[q.priority for q in order.next_round()] for _ in range(8)]
    assert [first for first, _ in rounds] == ["high", "high", "low", "high"] * 2  # 3:1, never low twice in a row
    assert all(sorted(each) == ["high", "low"] for each in rounds)  # an empty turn takes from the others


def test_weighted_order_over_three_queues_keeps_exact_shares():
    middle = PriorityQueue("normal", "https://sqs.example/1/tasks-normal", weight=2)
    order = ReceiveOrder([HIGH, middle, LOW], WEIGHTED)
    firsts = Counter(order.next_round()[0].priority for _ in range(60))
    assert firsts == {"high": 30, "normal": 20, "low": 10}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"priority": "high"}', "is not a list of priority queues"),
        ('[{"priority": "High", "queue_url": "https://q"}]', "priority 'High' is not a priority name"),
        ('[{"priority": "high", "queue_url": "q"}]', "queue_url='q' is not an SQS queue URL"),
        ('[{"priority": "high", "queue_url": "https://q", "weight": 0}]', "weight=0 must be a whole number"),
        ('[{"priority": "high", "queue_url": "https://q", "speed": 1}]', r"\(unknown: speed\)"),
        ('[{"priority": "a", "queue_url": "https://q"}, {"priority": "a", "queue_url": "https://r"}]', "'a' appears"),
        ('[{"priority": "a", "queue_url": "https://q"}, {"priority": "b", "queue_url": "https://r.fifo"}]', "a mix"),
        ("[]", "at least one queue"),
    ],
)
def test_bad_priorities_are_refused_naming_the_field(text, message):
    with pytest.raises(PriorityError, match=message):
        Priorities.from_json(text)


def test_a_receive_order_that_is_neither_is_refused():
    with pytest.raises(PriorityError, match="receive order 'fastest' is not one of strict, weighted"):
        Priorities((HIGH,), "fastest")


def test_producer_map_from_the_environment():
    urls = queue_urls_from_env({"TASKQUEUE_QUEUE_URLS": json.dumps({"high": HIGH.queue_url})})
    assert queue_url_for_priority(urls, "high") == HIGH.queue_url
    with pytest.raises(PriorityError, match=r"priority='urgent' is not one of the queue's priorities \(high\)"):
        queue_url_for_priority(urls, "urgent")
    with pytest.raises(PriorityError, match="TASKQUEUE_QUEUE_URLS='\\[1\\]' is not an object"):
        queue_urls_from_env({"TASKQUEUE_QUEUE_URLS": "[1]"})
    assert queue_urls_from_env({}) == {}


# -- configuration ---------------------------------------------------------------------------------


def _consumer_env(**extra: str) -> dict[str, str]:
    return {"TASKQUEUE_QUEUE_URL": LOW.queue_url, "TASKQUEUE_WORKER_FUNCTION": "worker", **extra}


def test_consumer_config_reads_the_priorities_and_writes_them_back():
    priorities = Priorities((HIGH, LOW), WEIGHTED)
    config = ConsumerConfig.from_env(
        _consumer_env(TASKQUEUE_PRIORITY_QUEUES=priorities.to_json(), TASKQUEUE_RECEIVE_ORDER="weighted")
    )
    assert config.priorities == priorities
    assert ConsumerConfig.from_env(config.to_env()) == config
    assert ConsumerConfig.from_env(_consumer_env()).priorities is None  # no priorities: one queue, as before


def test_consumer_config_refuses_priorities_without_its_own_queue_and_an_order_without_priorities():
    other = Priorities((HIGH,)).to_json()
    with pytest.raises(ConfigError, match="is not one of the queues of TASKQUEUE_PRIORITY_QUEUES"):
        ConsumerConfig.from_env(_consumer_env(TASKQUEUE_PRIORITY_QUEUES=other))
    with pytest.raises(ConfigError, match="TASKQUEUE_RECEIVE_ORDER is set, and TASKQUEUE_PRIORITY_QUEUES is not"):
        ConsumerConfig.from_env(_consumer_env(TASKQUEUE_RECEIVE_ORDER="strict"))
    with pytest.raises(ConfigError, match=r"TASKQUEUE_PRIORITY_QUEUES/TASKQUEUE_RECEIVE_ORDER: .*weight=-1"):
        ConsumerConfig.from_env(
            _consumer_env(
                TASKQUEUE_PRIORITY_QUEUES=f'[{{"priority": "low", "queue_url": "{LOW.queue_url}", "weight": -1}}]'
            )
        )


# -- over SQS (moto) ---------------------------------------------------------------------------------


@pytest.fixture
def two_queues(sqs, make_queues) -> tuple[Any, Any]:
    """A high and a low priority queue (the module gives them one DLQ; their own here changes nothing)."""
    return make_queues("tasks-high"), make_queues("tasks")


def _priorities(two_queues, order: str = STRICT) -> Priorities:
    high, low = two_queues
    return Priorities((PriorityQueue("high", high.url, high.arn, 3), PriorityQueue("low", low.url, low.arn, 1)), order)


def _send(sqs, url: str, task: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"task": task, "payload": n})}
            for n in range(start, min(count, start + 10))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_without_priorities_the_consumer_keeps_boto3s_client():
    client = object()
    assert with_priorities(client, None) is client


def test_the_client_short_polls_higher_queues_and_long_polls_the_last(sqs, two_queues):
    recorder = CallRecorder(sqs)
    client = PriorityQueuesClient(sqs, _priorities(two_queues))
    assert (
        client.receive_message(QueueUrl=two_queues[1].url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        == []
    )
    calls = recorder.named("ReceiveMessage")
    assert [(c["QueueUrl"], c["WaitTimeSeconds"]) for c in calls] == [(two_queues[0].url, 0), (two_queues[1].url, 1)]


@pytest.mark.parametrize("high_tasks", [15, 13], ids=["half-batch-last", "short-batch-last"])
def test_the_consumer_runs_high_priority_tasks_first_and_settles_each_on_its_own_queue(sqs, two_queues, high_tasks):
    """Strict order behind the consumer: a backlog of low tasks, then high ones: every high task runs
    before the next low batch, and every message is deleted from the queue it came from. A short batch of
    the high queue's last tasks does not end a drain run: the low queue's backlog is still there."""
    high, low = two_queues
    _send(sqs, low.url, "low", 40)
    _send(sqs, high.url, "high", high_tasks)
    registry = TaskRegistry()
    ran: list[str] = []
    registry.register("low", lambda payload: ran.append("low"))
    registry.register("high", lambda payload: ran.append("high"))
    worker = Worker(WorkerConfig(dlq_url=low.dlq_url), sqs, registry, rng=lambda: 0.5)
    lambda_client = boto3.client("lambda", region_name=REGION)
    InProcessLambda(lambda_client, worker.handle)
    config = ConsumerConfig(
        queue_url=low.url,
        worker_function="worker",
        max_concurrency=1,
        wait_time_seconds=0,
        worker_timeout_seconds=5,
        time_margin_seconds=1,
        backoff=Backoff(10, 60),
        priorities=_priorities(two_queues),
    )
    consumer = Consumer(config, with_priorities(sqs, config.priorities), lambda_client, rng=lambda: 0.5)

    report = consumer.run(LambdaContext(remaining_seconds=30))

    assert ran == ["high"] * high_tasks + ["low"] * 40
    assert report.received == report.succeeded == high_tasks + 40 and report.stopped_because == "queue empty"
    assert (_depth(sqs, high.url), _depth(sqs, low.url)) == (0, 0)


def test_behind_event_source_mappings_the_worker_sets_retry_delays_on_the_records_own_queue(sqs, two_queues):
    high, low = two_queues
    registry = TaskRegistry()
    registry.register("fail", lambda payload: 1 / 0)
    config = WorkerConfig(
        dlq_url=high.dlq_url,
        behind_event_source_mapping=True,
        queue_url=low.url,
        backoff=Backoff(30, 60),
        priorities=_priorities(two_queues),
    )
    recorder = CallRecorder(sqs)
    event = received_event(sqs, high, [json.dumps({"task": "fail"})])  # a record of the high queue's mapping
    Worker(config, sqs, registry, rng=lambda: 0.5).handle(event, LambdaContext())
    [call] = recorder.named("ChangeMessageVisibilityBatch")
    assert call["QueueUrl"] == high.url
    assert call["Entries"][0]["VisibilityTimeout"] > 0
