"""Configuration from the environment: defaults, and errors that name the variable and the value."""

from __future__ import annotations

import pytest

from taskqueue.backoff import Backoff
from taskqueue.config import ConfigError, ConsumerConfig, WorkerConfig

CONSUMER = {"TASKQUEUE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q", "TASKQUEUE_WORKER_FUNCTION": "w"}
WORKER = {"TASKQUEUE_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq"}


def test_consumer_defaults():
    config = ConsumerConfig.from_env(CONSUMER)
    assert (config.batch_size, config.wait_time_seconds, config.mode) == (10, 1, "drain")
    assert ConsumerConfig.from_env({**CONSUMER, "TASKQUEUE_MODE": "continuous"}).wait_time_seconds == 20
    assert config.backoff == Backoff()


def test_consumer_reads_every_setting():
    config = ConsumerConfig.from_env(
        {
            **CONSUMER,
            "TASKQUEUE_MAX_CONCURRENCY": "16",
            "TASKQUEUE_BATCH_SIZE": "5",
            "TASKQUEUE_WAIT_TIME_SECONDS": "1",
            "TASKQUEUE_MODE": "continuous",
            "TASKQUEUE_WORKER_TIMEOUT_SECONDS": "30",
            "TASKQUEUE_BACKOFF_BASE_SECONDS": "3",
            "TASKQUEUE_BACKOFF_MAX_SECONDS": "300",
        }
    )
    assert (config.max_concurrency, config.batch_size, config.wait_time_seconds) == (16, 5, 1)
    assert config.mode == "continuous" and config.worker_timeout_seconds == 30
    assert config.backoff == Backoff(3, 300)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TASKQUEUE_BATCH_SIZE", "11", "TASKQUEUE_BATCH_SIZE=11 is out of range"),
        ("TASKQUEUE_BATCH_SIZE", "0", "TASKQUEUE_BATCH_SIZE=0 is out of range"),
        ("TASKQUEUE_BATCH_SIZE", "ten", "TASKQUEUE_BATCH_SIZE='ten' is not an integer"),
        ("TASKQUEUE_WAIT_TIME_SECONDS", "21", "TASKQUEUE_WAIT_TIME_SECONDS=21 is out of range"),
        ("TASKQUEUE_MAX_CONCURRENCY", "-1", "TASKQUEUE_MAX_CONCURRENCY=-1 is out of range"),
        ("TASKQUEUE_MODE", "sometimes", "TASKQUEUE_MODE='sometimes' is not one of drain, continuous"),
        ("TASKQUEUE_BACKOFF_BASE_SECONDS", "fast", "TASKQUEUE_BACKOFF_BASE_SECONDS='fast' is not a number"),
        ("TASKQUEUE_BACKOFF_MAX_SECONDS", "99999", "TASKQUEUE_BACKOFF_MAX_SECONDS=99999.0 is out of range"),
        ("TASKQUEUE_BACKOFF_BASE_SECONDS", "1000", "TASKQUEUE_BACKOFF_BASE_SECONDS=1000.0 is greater than"),
        ("TASKQUEUE_WORKER_TIMEOUT_SECONDS", "901", "TASKQUEUE_WORKER_TIMEOUT_SECONDS=901.0 is out of range"),
    ],
)
def test_consumer_rejects_bad_values_naming_variable_and_value(name, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ConsumerConfig.from_env({**CONSUMER, name: value})


def test_continuous_mode_needs_a_long_poll():
    with pytest.raises(ConfigError, match="TASKQUEUE_WAIT_TIME_SECONDS=0 with TASKQUEUE_MODE='continuous'"):
        ConsumerConfig.from_env({**CONSUMER, "TASKQUEUE_MODE": "continuous", "TASKQUEUE_WAIT_TIME_SECONDS": "0"})


@pytest.mark.parametrize("missing", ["TASKQUEUE_QUEUE_URL", "TASKQUEUE_WORKER_FUNCTION"])
def test_consumer_requires_queue_and_worker(missing):
    env = {k: v for k, v in CONSUMER.items() if k != missing}
    with pytest.raises(ConfigError, match=f"{missing} is required"):
        ConsumerConfig.from_env(env)


def test_worker_settings():
    config = WorkerConfig.from_env(
        {**WORKER, "TASKQUEUE_TASKS": " app.tasks , billing ", "TASKQUEUE_IDEMPOTENCY_TABLE": "idem"}
    )
    assert config.task_modules == ("app.tasks", "billing")
    assert config.idempotency_table == "idem"
    assert config.behind_event_source_mapping is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "TASKQUEUE_DLQ_URL is required"),
        ({**WORKER, "TASKQUEUE_TASKS": "good,bad-name"}, "'bad-name' is not a module name"),
        ({**WORKER, "TASKQUEUE_APPLY_BACKOFF": "maybe"}, "TASKQUEUE_APPLY_BACKOFF='maybe' is not a boolean"),
        ({**WORKER, "TASKQUEUE_APPLY_BACKOFF": "true"}, "needs TASKQUEUE_QUEUE_URL"),
        ({**WORKER, "TASKQUEUE_IDEMPOTENCY_TTL_SECONDS": "5"}, "TASKQUEUE_IDEMPOTENCY_TTL_SECONDS=5 is out of range"),
    ],
)
def test_worker_rejects_bad_values(env, message):
    with pytest.raises(ConfigError, match=message):
        WorkerConfig.from_env(env)


def test_worker_max_receive_count():
    assert WorkerConfig.from_env(WORKER).max_receive_count is None
    assert WorkerConfig.from_env({**WORKER, "TASKQUEUE_MAX_RECEIVE_COUNT": "5"}).max_receive_count == 5
    with pytest.raises(ConfigError, match="TASKQUEUE_MAX_RECEIVE_COUNT=0 is out of range"):
        WorkerConfig.from_env({**WORKER, "TASKQUEUE_MAX_RECEIVE_COUNT": "0"})


def test_to_env_is_the_inverse_of_from_env():
    worker = WorkerConfig(
        dlq_url="https://sqs/dlq",
        task_modules=("a.tasks", "b"),
        idempotency_table="t",
        attempts_table="t",
        behind_event_source_mapping=True,
        queue_url="https://sqs/q",
        max_receive_count=7,
        max_attempts=4,
        backoff=Backoff(3, 30),
    )
    assert WorkerConfig.from_env(worker.to_env()) == worker
    assert WorkerConfig.from_env(WorkerConfig(dlq_url="d").to_env()) == WorkerConfig(dlq_url="d")
    consumer = ConsumerConfig(queue_url="https://sqs/q", worker_function="w", mode="continuous", max_concurrency=9)
    assert ConsumerConfig.from_env(consumer.to_env()) == consumer


def test_max_attempts_cannot_exceed_the_queues_receive_count():
    env = {"TASKQUEUE_DLQ_URL": "d", "TASKQUEUE_MAX_RECEIVE_COUNT": "5", "TASKQUEUE_MAX_ATTEMPTS": "6"}
    with pytest.raises(ConfigError, match="TASKQUEUE_MAX_ATTEMPTS=6 is more than TASKQUEUE_MAX_RECEIVE_COUNT=5"):
        WorkerConfig.from_env(env)
    assert WorkerConfig.from_env({**env, "TASKQUEUE_MAX_ATTEMPTS": "3"}).max_attempts == 3


def test_receivers_need_worker_slots_to_feed():
    env = {"TASKQUEUE_QUEUE_URL": "q", "TASKQUEUE_WORKER_FUNCTION": "w", "TASKQUEUE_MAX_CONCURRENCY": "2"}
    assert ConsumerConfig.from_env({**env, "TASKQUEUE_RECEIVERS": "2"}).receivers == 2
    with pytest.raises(ConfigError, match="TASKQUEUE_RECEIVERS=3 is more than TASKQUEUE_MAX_CONCURRENCY=2"):
        ConsumerConfig.from_env({**env, "TASKQUEUE_RECEIVERS": "3"})
    with pytest.raises(ConfigError, match="TASKQUEUE_RECEIVERS=11 is out of range"):
        ConsumerConfig.from_env({**env, "TASKQUEUE_MAX_CONCURRENCY": "20", "TASKQUEUE_RECEIVERS": "11"})
