"""The Lambda entry points as deployed: configuration from the environment, AWS clients from
boto3's standard chain (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_LAMBDA), nothing else."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aws_fakes import LambdaContext
from taskqueue import consumer, worker
from taskqueue.config import ConfigError
from taskqueue.telemetry import metrics


@pytest.fixture(autouse=True)
def fresh_handlers() -> Iterator[None]:
    # Disabled metrics are kept, not flushed: start each test from an empty set.
    metrics.clear_metrics()
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
    with pytest.raises(ConfigError, match="TASKQUEUE_BACKOFF_MAX_SECONDS='soon' is not a number"):
        worker.handler({"Records": []}, LambdaContext())


def test_worker_handler_fails_clearly_on_a_missing_task_module(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq")
    monkeypatch.setenv("TASKQUEUE_TASKS", "example_tasks,not_installed_tasks")
    with pytest.raises(ImportError, match="'not_installed_tasks'"):
        worker.handler({"Records": []}, LambdaContext())


def test_consumer_handler_fails_clearly_on_bad_configuration(monkeypatch):
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q")
    monkeypatch.setenv("TASKQUEUE_WORKER_FUNCTION", "w")
    monkeypatch.setenv("TASKQUEUE_BATCH_SIZE", "50")
    with pytest.raises(ConfigError, match="TASKQUEUE_BATCH_SIZE=50 is out of range"):
        consumer.handler({}, LambdaContext())


def test_worker_logs_are_structured_and_carry_no_payload_by_default(sqs, queues, monkeypatch, capsys):
    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setenv("TASKQUEUE_TASKS", "example_tasks")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from aws_fakes import received_event

    secret = "card-4111-1111"
    event = received_event(sqs, queues, [json.dumps({"task": "checksum", "payload": {"text": secret}})])
    # The JSON logger writes to the stdout it found at import; listen beside it with its own formatter.
    stream = io.StringIO()
    listener = logging.StreamHandler(stream)
    listener.setFormatter(worker.logger.registered_formatter)
    worker.logger.addHandler(listener)
    try:
        assert worker.handler(event, LambdaContext(function_name="worker"))["batchItemFailures"] == []
    finally:
        worker.logger.removeHandler(listener)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    task_lines = [line for line in lines if line.get("message") == "task succeeded"]
    assert task_lines and task_lines[0]["task"] == "checksum"
    assert task_lines[0]["message_id"] == event["Records"][0]["messageId"]
    assert task_lines[0]["receive_count"] == 1
    assert task_lines[0]["queued_ms"] >= 0 and task_lines[0]["duration_ms"] >= 0
    assert secret not in json.dumps(lines)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert emf and emf[-1]["TasksSucceeded"] == [1.0]
