"""The consumer Lambda: started by a schedule, it drains the queue into worker invocations.

It loops within its time budget: receive up to 10 messages (long poll), hand them to the worker
(synchronous Invoke, at most ``max_concurrency`` in flight), then delete what succeeded and
delay what failed by an exponential backoff. Messages it holds but cannot dispatch in time go
back at once (visibility 0). SQS's redrive policy moves a message that keeps failing to the DLQ.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import boto3
from botocore.config import Config

from taskqueue.backoff import visibility_delay
from taskqueue.config import ConsumerConfig
from taskqueue.sqs_event import chunk_records, encode_event, message_group_id, message_to_record, receive_count
from taskqueue.telemetry import MetricUnit, logger_for, metrics

logger = logger_for("consumer")

SQS_BATCH_LIMIT = 10
# Pause after a receive that failed even after botocore's retries, so an outage is not hammered.
RECEIVE_ERROR_PAUSE_SECONDS = 1.0


class InvalidWorkerResponse(ValueError):
    """The worker answered with something that is not a partial-batch response for this batch."""


@dataclass
class ConsumerReport:
    """What one consumer run did; returned by the handler and logged."""

    receives: int = 0
    empty_receives: int = 0
    receive_errors: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    released: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    stopped_because: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def parse_partial_batch_response(payload: bytes, message_ids: Iterable[str]) -> set[str]:
    """Failed message ids from a worker's answer, by the rules of SQS event source mappings.

    An empty answer, ``null`` or no ``batchItemFailures`` means every message succeeded. An answer
    that is not valid, or names a message not in the batch, fails the whole batch.
    """
    batch = set(message_ids)
    text = payload.decode("utf-8", errors="replace").strip()
    if not text:
        return set()
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidWorkerResponse(f"worker response is not JSON: {text[:200]!r}") from None
    if document is None:
        return set()
    if not isinstance(document, dict):
        raise InvalidWorkerResponse(f"worker response is not an object: {text[:200]!r}")
    failures = document.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidWorkerResponse(f"batchItemFailures is not a list: {failures!r:.200}")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            raise InvalidWorkerResponse(f"batchItemFailures names no message of this batch: {item!r:.200}")
        failed.add(identifier)
    return failed


class Budget:
    """The consumer's remaining time, from the Lambda context."""

    def __init__(self, context: Any, config: ConsumerConfig) -> None:
        self._remaining_millis: Callable[[], int] = context.get_remaining_time_in_millis
        # Time an invocation may need once dispatched, plus room to settle its messages.
        self._reserve = config.worker_timeout_seconds + config.time_margin_seconds
        self._max_wait = config.wait_time_seconds
        # How long a receive takes beyond its long poll (a decaying maximum): a receive must return
        # with time left to dispatch, or its messages are released and each loses a receive count.
        self._receive_overhead = 0.0

    def remaining_seconds(self) -> float:
        return self._remaining_millis() / 1000

    def observe_receive(self, overhead_seconds: float) -> None:
        self._receive_overhead = max(overhead_seconds, self._receive_overhead * 0.8)

    def receive_wait(self) -> int | None:
        """Long-poll seconds that still leave time for a worker call, or None when there is no time."""
        slack = self.remaining_seconds() - self._reserve - self._receive_overhead
        # With long polling configured, no time for a 1 s poll means stop: short polls would spin.
        if slack < min(1, self._max_wait):
            return None
        return min(self._max_wait, int(slack))

    def can_dispatch(self) -> bool:
        return self.remaining_seconds() >= self._reserve


class Consumer:
    def __init__(
        self,
        config: ConsumerConfig,
        sqs: Any,
        lambda_client: Any,
        rng: Callable[[], float] = random.random,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        executor: Callable[[int], Executor] = ThreadPoolExecutor,
    ) -> None:
        """``clock``, ``sleep`` and ``executor`` (given the concurrency) replace real time and threads in
        model-based tests, which run the consumer on a simulated clock."""
        self.config = config
        self.sqs = sqs
        self.lambda_client = lambda_client
        self.rng = rng
        self.clock = clock
        self.sleep = sleep
        self.executor = executor
        self.fifo = config.queue_url.endswith(".fifo")
        self._queue_arn: str | None = None

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.config.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    # -- the loop -----------------------------------------------------------------------------

    def run(self, context: Any) -> ConsumerReport:
        budget = Budget(context, self.config)
        report = ConsumerReport()
        slots = threading.BoundedSemaphore(self.config.max_concurrency)
        queue_arn = self.queue_arn
        # Dispatches under way, and a signal when one ends (drain mode waits for it, see below).
        in_flight = [0]
        ended = threading.Condition()

        def dispatch(messages: list[dict[str, Any]]) -> None:
            try:
                self._dispatch(messages, queue_arn, budget, report)
            except Exception:
                logger.exception("dispatch failed; its messages return after their visibility timeout")
            finally:
                slots.release()
                with ended:
                    in_flight[0] -= 1
                    ended.notify_all()

        with self.executor(self.config.max_concurrency) as pool:
            while budget.receive_wait() is not None:
                # Receive only when a worker slot is free, so no message waits in our hands.
                if not slots.acquire(timeout=0.25):
                    continue
                wait = budget.receive_wait()  # the wait for a slot took some of the budget
                if wait is None:
                    slots.release()
                    break
                messages = self._receive(wait, report, budget)
                if not messages:
                    slots.release()
                    if messages is not None and self.config.mode == "drain":
                        # On FIFO, empty is final only once our own dispatches are done: a group stays
                        # locked while its messages are out, so its next messages cannot be received yet.
                        with ended:
                            if not self.fifo or in_flight[0] == 0:
                                report.stopped_because = "queue empty"
                                break
                            ended.wait(timeout=max(0.1, budget.remaining_seconds()))
                    continue
                if not budget.can_dispatch():
                    # Rare, now that waits allow for slow receives; the release costs each message a receive.
                    slots.release()
                    self._release([message["ReceiptHandle"] for message in messages], report)
                    break
                with ended:
                    in_flight[0] += 1
                pool.submit(dispatch, messages)
            report.stopped_because = report.stopped_because or "time budget"
        self._publish_metrics(report)
        return report

    def _receive(self, wait: int, report: ConsumerReport, budget: Budget) -> list[dict[str, Any]] | None:
        """Up to a batch of messages; [] when the queue is empty, None when the receive failed."""
        started = self.clock()
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=self.config.batch_size,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as error:
            report.add(receive_errors=1)
            logger.warning("receive failed", extra={"error": f"{type(error).__name__}: {error}"})
            self.sleep(RECEIVE_ERROR_PAUSE_SECONDS)
            return None
        messages = response.get("Messages", [])
        elapsed = self.clock() - started
        # Past the long poll, an empty receive's time is overhead; a full one may have waited for messages.
        budget.observe_receive(elapsed if messages else max(0.0, elapsed - wait))
        report.add(receives=1, empty_receives=0 if messages else 1, received=len(messages))
        return messages

    # -- one received batch -------------------------------------------------------------------

    def _dispatch(self, messages: list[dict[str, Any]], queue_arn: str, budget: Budget, report: ConsumerReport) -> None:
        records = [message_to_record(message, queue_arn) for message in messages]
        chunks = chunk_records(records, self.config.max_invoke_payload_bytes)
        failed_groups: set[str] = set()
        for index, chunk in enumerate(chunks):
            if index > 0 and not budget.can_dispatch():
                self._release([record["receiptHandle"] for rest in chunks[index:] for record in rest], report)
                return
            # FIFO order: once a group failed, its later messages must not run before it.
            blocked = {r["messageId"] for r in chunk if self.fifo and message_group_id(r) in failed_groups}
            runnable = [record for record in chunk if record["messageId"] not in blocked]
            failed = blocked | (self._invoke(runnable, report) if runnable else set())
            self._settle(chunk, failed, report)
            failed_groups |= {message_group_id(r) or "" for r in chunk if r["messageId"] in failed}

    def _invoke(self, records: list[dict[str, Any]], report: ConsumerReport) -> set[str]:
        """Message ids the worker did not complete; all of them when the invocation itself failed."""
        ids = [record["messageId"] for record in records]
        payload = encode_event(records)
        report.add(invocations=1)
        if len(payload) > self.config.max_invoke_payload_bytes:
            report.add(failed_invocations=1)
            logger.error(
                "message too large for a worker invocation",
                extra={"bytes": len(payload), "limit": self.config.max_invoke_payload_bytes, "message_ids": ids},
            )
            return set(ids)
        try:
            response = self.lambda_client.invoke(
                FunctionName=self.config.worker_function, InvocationType="RequestResponse", Payload=payload
            )
            answer = response["Payload"].read()
            if response.get("FunctionError"):
                raise InvalidWorkerResponse(f"worker failed ({response['FunctionError']}): {answer[:500]!r}")
            return parse_partial_batch_response(answer, ids)
        except Exception as error:
            # Errors, timeouts and throttling fail the whole batch; nothing of it is deleted.
            report.add(failed_invocations=1)
            logger.warning(
                "worker invocation failed; the batch will be retried",
                extra={"error": f"{type(error).__name__}: {error}", "messages": len(ids)},
            )
            return set(ids)

    def _settle(self, records: list[dict[str, Any]], failed: set[str], report: ConsumerReport) -> None:
        done = [record for record in records if record["messageId"] not in failed]
        retry = [record for record in records if record["messageId"] in failed]
        if done:
            self._delete(done)
        if retry:
            self._change_visibility(
                retry, lambda record: visibility_delay(receive_count(record), self.config.backoff, self.rng)
            )
        report.add(succeeded=len(done), failed=len(retry))

    def _release(self, receipt_handles: list[str], report: ConsumerReport) -> None:
        """Give back messages that were received but not dispatched, for another consumer to take now."""
        self._change_visibility([{"receiptHandle": handle} for handle in receipt_handles], lambda record: 0)
        report.add(released=len(receipt_handles))

    # -- SQS batch calls ----------------------------------------------------------------------

    def _delete(self, records: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)]
        self._batch_call("delete_message_batch", entries)

    def _change_visibility(self, records: list[dict[str, Any]], timeout: Callable[[dict[str, Any]], int]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": timeout(r)}
            for i, r in enumerate(records)
        ]
        self._batch_call("change_message_visibility_batch", entries)

    def _batch_call(self, operation: str, entries: list[dict[str, Any]]) -> None:
        """Run a batch call, retrying entries that failed on the server's side once.

        A message whose delete is lost runs again (at-least-once); one whose visibility change is
        lost comes back after the queue's visibility timeout. Neither is lost.
        """
        call = getattr(self.sqs, operation)
        for start in range(0, len(entries), SQS_BATCH_LIMIT):
            pending = entries[start : start + SQS_BATCH_LIMIT]
            for attempt in (1, 2):
                try:
                    result = call(QueueUrl=self.config.queue_url, Entries=pending)
                except Exception as error:
                    logger.warning(f"{operation} failed", extra={"error": f"{type(error).__name__}: {error}"})
                    break
                failures = result.get("Failed", [])
                retryable = {f["Id"] for f in failures if not f.get("SenderFault")}
                if failures and (attempt == 2 or not retryable):
                    logger.warning(f"{operation} had failed entries", extra={"failed": failures})
                pending = [entry for entry in pending if entry["Id"] in retryable]
                if not pending:
                    break

    def _publish_metrics(self, report: ConsumerReport) -> None:
        for name, value in (
            ("MessagesReceived", report.received),
            ("MessagesSucceeded", report.succeeded),
            ("MessagesRetried", report.failed),
            ("MessagesReleased", report.released),
            ("WorkerInvocations", report.invocations),
            ("WorkerInvocationsFailed", report.failed_invocations),
            ("EmptyReceives", report.empty_receives),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


# -- Lambda entry point -----------------------------------------------------------------------


def clients_for(config: ConsumerConfig) -> tuple[Any, Any]:
    """SQS and Lambda clients from boto3's standard configuration chain (AWS_ENDPOINT_URL_* apply)."""
    pool = config.max_concurrency + 4
    sqs = boto3.client("sqs", config=Config(retries={"mode": "standard"}, max_pool_connections=pool))
    lambda_client = boto3.client(
        "lambda",
        config=Config(
            # No client retries: a throttled or timed-out batch is failed and backed off instead,
            # and a retried timeout would run the same tasks twice at once.
            retries={"total_max_attempts": 1},
            # Within the budget's reserve: a hung connection cannot outlast the consumer's own timeout.
            read_timeout=config.worker_timeout_seconds + max(1.0, config.time_margin_seconds),
            connect_timeout=5,
            max_pool_connections=pool,
        ),
    )
    return sqs, lambda_client


@functools.cache
def _consumer() -> Consumer:
    config = ConsumerConfig.from_env()
    sqs, lambda_client = clients_for(config)
    return Consumer(config, sqs, lambda_client)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = _consumer().run(context).as_dict()
    logger.info("consumer run done", extra=report)
    return report
