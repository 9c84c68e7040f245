"""The worker Lambda: runs a batch of task messages and reports per-message failures.

It takes Lambda's native SQS event and answers with the native partial-batch response, so it
runs the same behind the scheduled consumer and behind an SQS event source mapping.

Per message:
- success: reported as done (the caller deletes it);
- any exception: reported as failed, so it is retried after a backoff;
- malformed body, unknown task or ``PermanentError``: sent to the DLQ with the reason, then
  reported as done so it burns no retries. If that send fails, it is reported as failed instead;
- a failure on the queue's last allowed receive (``TASKQUEUE_MAX_RECEIVE_COUNT``): sent to the
  DLQ with its error, as SQS's redrive would do next, but with the reason attached.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from botocore.exceptions import ClientError

from taskqueue import dead_letter_queue
from taskqueue.backoff import visibility_delay
from taskqueue.config import WorkerConfig
from taskqueue.errors import MalformedMessage, PermanentError, UnknownTask
from taskqueue.idempotency import IdempotentRunner, idempotency_key
from taskqueue.message import TaskMessage, parse_body
from taskqueue.registry import TaskContext, TaskRegistry, default_registry, import_task_modules
from taskqueue.sqs_event import message_group_id, receive_count
from taskqueue.telemetry import MetricUnit, logger_for, metrics

logger = logger_for("worker")

# A record is not started with less time than this left; it is retried instead of being cut off.
MIN_REMAINING_MILLIS_TO_START = 1000


class OutOfTime(Exception):
    """The invocation has too little time left to start another task."""


@dataclass(frozen=True)
class Outcome:
    status: str  # "succeeded" | "dead_lettered"
    reason: str | None = None


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        sqs: Any,
        registry: TaskRegistry = default_registry,
        idempotency: IdempotentRunner | None = None,
    ) -> None:
        self.config = config
        self.sqs = sqs
        self.registry = registry
        self.idempotency = idempotency

    # -- one batch ----------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise ValueError("the worker expects an SQS event: an object with a 'Records' list")
        if not records:
            return {"batchItemFailures": []}
        if self.idempotency is not None and context is not None:
            self.idempotency.register_lambda_context(context)
        processor = self._processor(records)
        response = process_partial_response(
            event=dict(event),
            record_handler=functools.partial(self.process_record, context=context),
            processor=processor,
        )
        if self.config.apply_backoff:
            self._apply_backoff(records, response)
        return dict(response)

    @staticmethod
    def _processor(records: list[dict[str, Any]]) -> BatchProcessor:
        if str(records[0].get("eventSourceARN", "")).endswith(".fifo"):
            # Keep order within a message group: after a failure, the rest of that group is skipped
            # and reported failed, while other groups go on.
            processor: BatchProcessor = SqsFifoPartialProcessor(skip_group_on_error=True)
        else:
            processor = BatchProcessor(event_type=EventType.SQS)
        # A batch in which every task failed is still an answer, not a crash: report it as such,
        # so worker errors (and their alarm) mean the worker itself broke.
        processor.raise_on_entire_batch_failure = False
        return processor

    # -- one record ---------------------------------------------------------------------------

    def process_record(self, record: SQSRecord, context: Any = None) -> Outcome:
        raw = record.raw_event
        count = receive_count(raw)
        logger.append_keys(message_id=record.message_id, receive_count=count, task=None)
        try:
            return self._process(raw, count, context)
        finally:
            logger.remove_keys(["message_id", "receive_count", "task", "task_id", "queued_ms", "duration_ms"])

    def _process(self, raw: Mapping[str, Any], count: int, context: Any) -> Outcome:
        try:
            message = parse_body(raw.get("body"))
        except MalformedMessage as error:
            return self._dead_letter(raw, dead_letter_queue.MALFORMED, str(error), None)
        logger.append_keys(task=message.task, task_id=message.id)
        try:
            registered = self.registry.get(message.task)
        except UnknownTask as error:
            return self._dead_letter(raw, dead_letter_queue.UNKNOWN_TASK, str(error), message.task)

        remaining = _remaining_millis(context)
        if remaining is not None and remaining < MIN_REMAINING_MILLIS_TO_START:
            raise OutOfTime(f"{remaining} ms left in the invocation; not starting task {message.task!r}")

        task_context = TaskContext(
            task=message.task,
            message_id=raw["messageId"],
            receive_count=count,
            task_id=message.id,
            message_group_id=message_group_id(raw),
            get_remaining_time_in_millis=(lambda: _remaining_millis(context) or 0),
        )
        queued_ms = _queued_millis(raw)
        logger.append_keys(queued_ms=queued_ms)
        metrics.add_metric(name="TaskQueueTime", unit=MetricUnit.Milliseconds, value=queued_ms)
        if self.config.log_payload:
            logger.info("starting task", extra={"payload": message.payload})
        started = time.perf_counter()
        failure: Exception | None = None
        try:
            self._run(registered.run, message, task_context)
        except Exception as error:
            failure = error
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        logger.append_keys(duration_ms=duration_ms)
        metrics.add_metric(name="TaskDuration", unit=MetricUnit.Milliseconds, value=duration_ms)
        if isinstance(failure, PermanentError):
            return self._dead_letter(raw, dead_letter_queue.PERMANENT_ERROR, _describe(failure), message.task)
        if failure is not None and self.config.max_receive_count and count >= self.config.max_receive_count:
            last_error = f"failed on receive {count} of {self.config.max_receive_count}: {_describe(failure)}"
            return self._dead_letter(raw, dead_letter_queue.RETRIES_EXHAUSTED, last_error, message.task)
        if failure is not None:
            metrics.add_metric(name="TasksRetried", unit=MetricUnit.Count, value=1)
            logger.warning("task failed; it will be retried", extra={"error": _describe(failure)})
            raise failure
        metrics.add_metric(name="TasksSucceeded", unit=MetricUnit.Count, value=1)
        logger.info("task succeeded")
        return Outcome("succeeded")

    def _run(self, run: Any, message: TaskMessage, task_context: TaskContext) -> None:
        if self.idempotency is None:
            run(message.payload, task_context)
            return
        key = idempotency_key(message.task, message.id, task_context.message_id)
        self.idempotency.run(key, lambda: run(message.payload, task_context))

    def _dead_letter(self, raw: Mapping[str, Any], reason: str, error: str, task: str | None) -> Outcome:
        entry = dead_letter_queue.dead_letter_entry(raw, reason, error, task, self.config.dlq_url)
        try:
            self.sqs.send_message(**entry)
        except ClientError as refused:
            if refused.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) >= 500:
                raise  # SQS's side: the message stays on the main queue and is tried again
            # The DLQ refused the entry itself (too large with the original attributes, say):
            # the reason matters more than those, so send it without them.
            logger.warning(
                "dead-letter entry refused; sending it without the original attributes",
                extra={"error": _describe(refused)},
            )
            entry = dead_letter_queue.dead_letter_entry(raw, reason, error, task, self.config.dlq_url, minimal=True)
            # If this send fails too, the exception reports the message as failed: it stays on the main queue.
            self.sqs.send_message(**entry)
        dropped = dead_letter_queue.dropped_attribute_names(raw, entry)
        metrics.add_metric(name="TasksDeadLettered", unit=MetricUnit.Count, value=1)
        logger.error(
            "task sent to the dead-letter queue",
            extra={"reason": reason, "error": error, "dropped_attributes": dropped or None},
        )
        return Outcome("dead_lettered", reason)

    # -- retries in event-source-mapping mode -------------------------------------------------

    def _apply_backoff(self, records: list[dict[str, Any]], response: Mapping[str, Any]) -> None:
        """Hide failed records for their backoff; with no consumer in front, nobody else would."""
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        entries = [
            {
                "Id": str(index),
                "ReceiptHandle": record["receiptHandle"],
                "VisibilityTimeout": visibility_delay(receive_count(record), self.config.backoff),
            }
            for index, record in enumerate(records)
            if record["messageId"] in failed
        ]
        for start in range(0, len(entries), 10):
            try:
                result = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.config.queue_url, Entries=entries[start : start + 10]
                )
            except Exception as error:
                # The messages still come back after the queue's visibility timeout.
                logger.warning("could not set retry backoff", extra={"error": _describe(error)})
                continue
            for failure in result.get("Failed", []):
                logger.warning("could not set retry backoff", extra={"failure": failure})


def _remaining_millis(context: Any) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() if callable(getter) else None


def _queued_millis(record: Mapping[str, Any]) -> int:
    """Time from enqueue (SentTimestamp) to this attempt's start; includes backoff for retries."""
    try:
        sent = int(record.get("attributes", {})["SentTimestamp"])
    except (KeyError, TypeError, ValueError):
        return 0
    return max(0, int(time.time() * 1000) - sent)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# -- Lambda entry point -----------------------------------------------------------------------


@functools.cache
def _worker() -> Worker:
    """Built once per execution environment; a bad configuration fails every invocation clearly."""
    config = WorkerConfig.from_env()
    import_task_modules(config.task_modules)
    client_config = Config(retries={"mode": "standard"})
    idempotency = (
        IdempotentRunner(config.idempotency_table, config.idempotency_ttl_seconds) if config.idempotency_table else None
    )
    logger.info("worker started", extra={"tasks": default_registry.names()})
    return Worker(config, boto3.client("sqs", config=client_config), default_registry, idempotency)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = _worker().handle(event, context)
    logger.info(
        "batch done",
        extra={"records": len(event.get("Records", [])), "failed": len(response.get("batchItemFailures", []))},
    )
    return response


__all__ = ["OutOfTime", "Outcome", "Worker", "handler"]
