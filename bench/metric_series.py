"""The custom metric series the runtime creates, counted from the EMF lines it writes.

A CloudWatch custom metric is one (namespace, metric name, dimension set and values): each is billed
per month while it receives data. The worker is run in this process on a batch in which each task
name has every outcome (success, retry, dead letter); the consumer's run line is written for an idle run
(on an empty queue) and for a busy one (every count it keeps not zero). The series are read back from
those lines, so the count is what the runtime really emits.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from typing import Any

from taskqueue import PermanentError
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer, ConsumerReport
from taskqueue.metrics import MetricsLine
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker

Series = tuple[str, str, tuple[tuple[str, str], ...]]


def series_in(lines: str) -> set[Series]:
    """(namespace, metric, dimensions with their values) of every EMF directive in these log lines."""
    found: set[Series] = set()
    for line in lines.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                values = tuple((name, str(document[name])) for name in dimensions)
                found |= {(directive["Namespace"], metric["Name"], values) for metric in directive["Metrics"]}
    return found


@contextlib.contextmanager
def _metrics_enabled() -> Iterator[None]:
    saved = os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = saved


class _DeadLetterSink:
    """Takes the worker's dead-letter sends (the only SQS call of this batch)."""

    def send_message(self, **_: Any) -> dict[str, str]:
        return {"MessageId": "dead-letter"}


class _Context:
    aws_request_id = "bench"
    function_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _record(index: int, task: str, outcome: str) -> dict[str, Any]:
    return {
        "messageId": f"m{index}",
        "receiptHandle": f"h{index}",
        "body": json.dumps({"task": task, "payload": outcome}),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": {},
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
    }


def worker_series(task_names: int) -> set[Series]:
    """Series of a worker whose ``task_names`` tasks each succeed, fail and are dead-lettered."""
    registry = TaskRegistry()

    def behave(payload: str) -> None:
        if payload == "retried":
            raise RuntimeError("retried")
        if payload == "dead_lettered":
            raise PermanentError("dead-lettered")

    names = [f"task{n}" for n in range(task_names)]
    for name in names:
        registry.register(name, behave)
    worker = Worker(WorkerConfig(dlq_url="https://sqs.invalid/dlq", max_receive_count=5), _DeadLetterSink(), registry)
    records = [
        _record(index, name, outcome)
        for index, (name, outcome) in enumerate(
            (name, outcome) for name in names for outcome in ("succeeded", "retried", "dead_lettered")
        )
    ]
    stream = io.StringIO()
    with _metrics_enabled(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        metrics = MetricsLine("bench", stream=stream)
        worker.handle({"Records": records}, _Context(), metrics)
        metrics.flush()
    return series_in(stream.getvalue())


class _EmptyQueue:
    """An SQS client whose queue is empty: a drain-mode consumer run stops at its first receive."""

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:bench"}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {}


def _consumer(sqs: Any) -> Consumer:
    config = ConsumerConfig(
        queue_url="https://sqs.invalid/bench", worker_function="worker", wait_time_seconds=1, worker_timeout_seconds=1
    )
    return Consumer(config, sqs, lambda_client=None)


def idle_consumer_run() -> str:
    """What one consumer run on an empty queue writes (drain mode: it stops at its first empty receive)."""
    stream = io.StringIO()
    with _metrics_enabled(), contextlib.redirect_stdout(stream):
        _consumer(_EmptyQueue()).run(_Context())
    return stream.getvalue()


def idle_consumer_series() -> set[Series]:
    """Series of one consumer run on an empty queue: what an idle month is billed for."""
    return series_in(idle_consumer_run())


def busy_consumer_series() -> set[Series]:
    """Series of a consumer run in which every count it keeps is not zero: the most a busy month has."""
    report = ConsumerReport()
    report.add(**{name: 1 for name, value in report.as_dict().items() if isinstance(value, int)})
    stream = io.StringIO()
    with _metrics_enabled(), contextlib.redirect_stdout(stream):
        _consumer(_EmptyQueue())._publish_metrics(report)
    return series_in(stream.getvalue())
