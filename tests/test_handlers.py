"""The Lambda entry points as deployed: configuration from the environment, AWS clients from
boto3's standard chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_LAMBDA), nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from taskqueue import consumer, telemetry, worker
from taskqueue.batch import log as batch_log
from taskqueue.config import ConfigError
from taskqueue.errors import WorkerCannotStart
from tests.support.aws_fakes import LambdaContext, LogCapture, received_event


@pytest.fixture(autouse=True)
def fresh_handlers() -> Iterator[None]:
    consumer._consumer.cache_clear()
    worker._worker.cache_clear()
    yield
    consumer._consumer.cache_clear()
    worker._worker.cache_clear()


class _InvokeHandler(BaseHTTPRequestHandler):
    """Lambda's Invoke API, running the worker's handler in this process."""

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        headers = {"Content-Type": "application/json"}
        try:
            body = worker.handler(event, LambdaContext(30, function_name="worker"))
        except Exception as error:
            body = {"errorMessage": str(error), "errorType": type(error).__name__}
            headers["X-Amz-Function-Error"] = "Unhandled"
        data = json.dumps(body).encode()
        self.send_response(200)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def lambda_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InvokeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_scheduled_run_end_to_end_through_standard_endpoint_settings(server_sqs, lambda_endpoint, monkeypatch):
    sqs = server_sqs  # reaches moto through AWS_ENDPOINT_URL only
    dlq = sqs.create_queue(QueueName="h-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="h", Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})}
    )["QueueUrl"]
    for name, value in {
        "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint,
        "TASKQUEUE_QUEUE_URL": url,
        "TASKQUEUE_DLQ_URL": dlq,
        "TASKQUEUE_WORKER_FUNCTION": "worker",
        "TASKQUEUE_TASKS": "example_tasks",
        "TASKQUEUE_WAIT_TIME_SECONDS": "0",
        "TASKQUEUE_WORKER_TIMEOUT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    bodies = [
        {"task": "checksum", "payload": {"text": "a"}},
        {"task": "validate_order", "payload": {}},
        {"task": "flaky", "payload": {"fail_times": 1}},
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    sqs.send_message(QueueUrl=url, MessageBody="{oops")

    report = consumer.handler({"source": "aws.events"}, LambdaContext(30, function_name="consumer"))

    assert report["received"] == 4
    assert report["succeeded"] == 3 and report["failed"] == 1  # flaky fails its first attempt
    reasons = sorted(
        m["MessageAttributes"]["taskqueue.reason"]["StringValue"]
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    )
    assert reasons == ["malformed", "permanent_error"]


def test_worker_handler_fails_clearly_on_bad_configuration(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq")
    monkeypatch.setenv("TASKQUEUE_BACKOFF_MAX_SECONDS", "soon")
    # A start failure by its named type (the consumer's contract), caused by the configuration's error.
    with pytest.raises(WorkerCannotStart, match="TASKQUEUE_BACKOFF_MAX_SECONDS='soon' is not a number") as raised:
        worker.handler({"Records": []}, LambdaContext())
    assert isinstance(raised.value.__cause__, ConfigError)


def test_worker_handler_fails_clearly_on_a_missing_task_module(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq")
    monkeypatch.setenv("TASKQUEUE_TASKS", "example_tasks,not_installed_tasks")
    with pytest.raises(WorkerCannotStart, match="'not_installed_tasks'") as raised:
        worker.handler({"Records": []}, LambdaContext())
    assert isinstance(raised.value.__cause__, ImportError)


def test_consumer_handler_fails_clearly_on_bad_configuration(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q")
    monkeypatch.setenv("TASKQUEUE_WORKER_FUNCTION", "w")
    monkeypatch.setenv("TASKQUEUE_BATCH_SIZE", "50")
    with pytest.raises(ConfigError, match="TASKQUEUE_BATCH_SIZE=50 is out of range"):
        consumer.handler({}, LambdaContext())


def test_a_successful_batch_writes_one_line_its_metrics_and_no_payload(sqs, queues, monkeypatch, capsys):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setenv("TASKQUEUE_TASKS", "example_tasks")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    secret = "card-4111-1111"
    event = received_event(sqs, queues, [json.dumps({"task": "checksum", "payload": {"text": secret}})] * 3)
    capsys.readouterr()
    with LogCapture(worker.logger) as logs:
        assert worker.handler(event, LambdaContext(function_name="worker"))["batchItemFailures"] == []

    assert logs.lines() == []  # successes are counted, not logged one by one
    [line] = capsys.readouterr().out.splitlines()
    emf = json.loads(line)
    assert emf["message"] == "batch done" and emf["level"] == "INFO"
    assert emf["TasksSucceeded"] == 3 and emf["task"] == "checksum"
    assert len(emf["TaskDuration"]) == len(emf["TaskQueueTime"]) == 3
    [counts] = [d for d in emf["_aws"]["CloudWatchMetrics"] if d["Metrics"][0]["Name"] == "TasksSucceeded"]
    assert counts["Dimensions"] == [["service"], ["service", "task"]]
    assert secret not in line


def test_at_debug_level_each_success_gets_a_line_with_its_keys(sqs, queues, monkeypatch):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setenv("TASKQUEUE_TASKS", "example_tasks")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    # A service of its own: Powertools configures a (process-wide) named logger only once.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "worker-at-debug")
    secret = "card-4111-1111"
    event = received_event(sqs, queues, [json.dumps({"task": "checksum", "payload": {"text": secret}})])
    fresh = telemetry.LazyLogger("worker")  # reads the level now
    monkeypatch.setattr(batch_log, "logger", fresh)
    with LogCapture(fresh) as logs:
        assert worker.handler(event, LambdaContext(function_name="worker"))["batchItemFailures"] == []

    [line] = [line for line in logs.lines() if line.get("message") == "task succeeded"]
    assert line["task"] == "checksum"
    assert line["message_id"] == event["Records"][0]["messageId"]
    assert line["receive_count"] == 1 and line["attempt"] == 1
    assert line["queued_ms"] >= 0 and line["duration_ms"] >= 0
    assert line["function_request_id"]
    assert secret not in json.dumps(logs.lines())


def test_the_consumer_handler_receives_over_every_priority_queue_when_the_module_sets_them(monkeypatch):
    """The priorities hook in consumer._consumer: TASKQUEUE_PRIORITY_QUEUES makes its SQS client span every queue."""
    from taskqueue.priorities import Priorities, PriorityQueue
    from taskqueue.priority_receiving import PriorityQueuesClient

    priorities = Priorities(
        (PriorityQueue("high", "https://sqs.example/1/tasks-high"), PriorityQueue("low", "https://sqs.example/1/tasks"))
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", "https://sqs.example/1/tasks")
    monkeypatch.setenv("TASKQUEUE_WORKER_FUNCTION", "worker")
    monkeypatch.setenv("TASKQUEUE_PRIORITY_QUEUES", priorities.to_json())
    built = consumer._consumer()
    assert isinstance(built.sqs, PriorityQueuesClient) and built.sqs.priorities == priorities
    consumer._consumer.cache_clear()
    monkeypatch.delenv("TASKQUEUE_PRIORITY_QUEUES")
    assert not isinstance(consumer._consumer().sqs, PriorityQueuesClient)  # no priorities: boto3's client
