"""Lambda's SQS event source mappings, polled locally: the emulator stores mappings but never polls them.

The mappings are read back from the emulator (``ListEventSourceMappings``), so what polls is what the
deployment created, and a change (disabling one, say) is picked up within ``REFRESH_SECONDS``. Each
mapping polls its queue as Lambda's pollers do:

- a batch is up to ``BatchSize`` messages: one receive when there is no batching window; with
  ``MaximumBatchingWindowInSeconds``, receives go on until the batch is full, the window has passed or
  the payload reached Lambda's 6 MB (a larger batch goes out as several invocations, in order);
- batches in flight scale as AWS's do: 5 at first, 300 more a minute (5 a second), up to
  ``ScalingConfig.MaximumConcurrency`` (else 1,000), within this machine's limit (``max_concurrency``, 20);
- the function is invoked synchronously with Lambda's SQS event. A throttled invocation is tried
  again, backing off, until the messages' visibility timeout would pass; then they are left to it;
- a function error or a timeout fails the whole batch: nothing is deleted, and every message comes
  back after its visibility timeout;
- otherwise the batch's messages are deleted, except, with ``FunctionResponseTypes:
  ReportBatchItemFailures``, those the response names in ``batchItemFailures``. A response that is not
  a valid partial-batch response (an item without an ``itemIdentifier``, or naming no message of the
  batch) fails the whole batch, as on AWS;
- disabled (``State`` other than ``Enabled``): no polling;
- FIFO queues: SQS delivers no message of a group while another of that group is in flight, so one
  batch per group is in flight; within a batch, once a chunk fails, later messages of its groups are
  not invoked (they come back after their visibility timeout, in order).

Where it differs from AWS (docs/performance.md models AWS's own figures):

- **the scaling ramp**: AWS starts with 5 concurrent batches and adds up to 300 a minute *while messages
  are waiting*, to 1,000 (or ``MaximumConcurrency``), and scales back to as few as 2 on an idle queue.
  Here the ramp runs from when the mapping is polled (enabled), whether messages wait or not, stops at
  the local limit (20 by default: this machine's bound, not AWS's 1,000) and never scales back. AWS also
  lowers the concurrency after function errors and throttles; here it stays;
- **pollers**: AWS's pollers are a fleet separate from the invocations; here each concurrent batch is
  one thread that receives, invokes and settles in turn. Its long poll is ``POLL_SECONDS`` (AWS: 20 s),
  so that a stop takes effect quickly; an idle local mapping makes more receives than AWS's would.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from taskqueue.limits import LAMBDA_MAX_SYNC_PAYLOAD_BYTES, SQS_MAX_RECEIVE_BATCH
from taskqueue.operations.queue_attributes import queue_url_of
from taskqueue.sqs_batch import call_in_batches
from taskqueue.sqs_event import chunk_records, encode_event, message_group_id, message_to_record
from taskqueue_local.infrastructure.background_loop import BackgroundLoop
from taskqueue_local.infrastructure.lambda_service import Invocation

log = logging.getLogger(__name__)

# AWS starts an SQS event source mapping with five concurrent batches, adds up to 300 a minute while
# messages wait, up to 1,000 (or the mapping's MaximumConcurrency).
AWS_INITIAL_CONCURRENCY = 5
AWS_SCALE_UP_PER_MINUTE = 300
AWS_MAX_CONCURRENCY = 1_000
# The local long poll: short, so that stopping and disabling take effect within about a second.
POLL_SECONDS = 1
# How often the mappings are read again from the emulator (created, changed, disabled, deleted).
REFRESH_SECONDS = 2.0
# A throttled invocation is tried again after this, doubling up to THROTTLE_BACKOFF_MAX_SECONDS.
THROTTLE_BACKOFF_SECONDS = 0.1
THROTTLE_BACKOFF_MAX_SECONDS = 2.0
# Throttle retries stop this long before the messages' visibility timeout passes.
VISIBILITY_MARGIN_SECONDS = 1.0
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

Invoke = Callable[[str, bytes], Invocation]


@dataclass(frozen=True)
class SqsMapping:
    """One event source mapping of an SQS queue, as the emulator holds it."""

    uuid: str
    queue_arn: str
    queue_url: str
    function_arn: str
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool
    enabled: bool
    visibility_timeout: int

    @property
    def fifo(self) -> bool:
        return self.queue_arn.endswith(".fifo")

    def concurrency(self, local_limit: int, seconds_polled: float) -> int:
        """Batches in flight at once after ``seconds_polled``: AWS's 5 to start, 300 more a minute, up to
        MaximumConcurrency (else 1,000), within the local limit."""
        ramp = AWS_INITIAL_CONCURRENCY + int(seconds_polled * AWS_SCALE_UP_PER_MINUTE / 60)
        return min(local_limit, self.maximum_concurrency or AWS_MAX_CONCURRENCY, ramp)


def read_mappings(lambda_client: Any, sqs: Any) -> list[SqsMapping]:
    """The SQS event source mappings the emulator holds (other event sources are not polled here)."""
    found = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate():
        for mapping in page.get("EventSourceMappings", []):
            queue_arn = str(mapping.get("EventSourceArn", ""))
            if ":sqs:" not in queue_arn:
                continue
            url = queue_url_of(sqs, queue_arn)
            visibility = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
            found.append(
                SqsMapping(
                    uuid=mapping["UUID"],
                    queue_arn=queue_arn,
                    queue_url=url,
                    function_arn=mapping["FunctionArn"],
                    batch_size=int(mapping.get("BatchSize") or SQS_MAX_RECEIVE_BATCH),
                    batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                    maximum_concurrency=(mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES in mapping.get("FunctionResponseTypes", []),
                    enabled=mapping.get("State") == "Enabled",
                    visibility_timeout=int(visibility["Attributes"]["VisibilityTimeout"]),
                )
            )
    return found


def failed_messages(mapping: SqsMapping, invocation: Invocation, message_ids: list[str]) -> set[str]:
    """The messages of an invoked batch that Lambda leaves in the queue; the others it deletes."""
    everything = set(message_ids)
    if invocation.function_error or invocation.throttled:
        return everything
    if not mapping.report_batch_item_failures:
        return set()
    reported = reported_failures(invocation.payload, everything)
    return everything if reported is None else reported


def reported_failures(payload: bytes, batch: set[str]) -> set[str] | None:
    """The messages a partial-batch response names; None when it is not a valid one (the whole batch
    fails then): not JSON, not an object, or an item whose ``itemIdentifier`` is missing, empty or
    names no message of the batch. No response, or no ``batchItemFailures``, is a complete success."""
    try:
        response = json.loads(payload or b"null")
    except ValueError:
        return None
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        failures = []
    if not isinstance(failures, list):
        return None
    identifiers = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    return identifiers if all(isinstance(i, str) and i in batch for i in identifiers) else None  # type: ignore[return-value]


@dataclass(frozen=True)
class PollerSettings:
    """How the local pollers run: ``max_concurrency`` bounds every mapping's batches in flight (this
    machine's limit), ``poll_seconds`` is the long poll, ``refresh_seconds`` how often mappings are re-read."""

    max_concurrency: int = 20
    poll_seconds: int = POLL_SECONDS
    refresh_seconds: float = REFRESH_SECONDS


class PollerStats:
    """What a mapping's pollers did, by count (the benchmark and the tests read it), and the most batches
    they had in flight at once."""

    COUNTS = ("receives", "empty_receives", "received", "invocations", "throttles", "failed_invocations",
              "deleted", "left_in_queue")  # fmt: skip

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self._lock = threading.Lock()

    def add(self, **counts: int) -> None:
        with self._lock:
            self._counts.update(counts)

    def in_flight(self, change: int) -> None:
        with self._lock:
            self._in_flight += change
            self._counts["max_in_flight"] = max(self._counts["max_in_flight"], self._in_flight)

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: self._counts[name] for name in (*self.COUNTS, "max_in_flight")}


class MappingPoller:
    """The pollers of one mapping: ``concurrency`` threads, each receiving, invoking and settling a batch."""

    def __init__(
        self,
        mapping: SqsMapping,
        sqs: Any,
        invoke: Invoke,
        settings: PollerSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` times the scaling ramp, the batching window and the throttle retries."""
        self._mapping = mapping
        self.clock = clock
        self._polled_since = clock()
        self.sqs = sqs
        self.invoke = invoke
        self.settings = settings
        self.stats = PollerStats()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, args=(slot,), name=f"esm-{mapping.uuid[:8]}-{slot}", daemon=True)
            for slot in range(settings.max_concurrency)
        ]

    @property
    def mapping(self) -> SqsMapping:
        return self._mapping

    def update(self, mapping: SqsMapping) -> None:
        """The mapping as the emulator now holds it: each thread reads it before its next batch. Enabled
        again, it scales up from the start again."""
        if mapping.enabled and not self._mapping.enabled:
            self._polled_since = self.clock()
        self._mapping = mapping

    def concurrency(self) -> int:
        return self._mapping.concurrency(self.settings.max_concurrency, self.clock() - self._polled_since)

    def start(self) -> MappingPoller:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _poll(self, slot: int) -> None:
        while not self._stop.is_set():
            mapping = self._mapping
            if not mapping.enabled or slot >= self.concurrency():
                self._stop.wait(REFRESH_SECONDS / 4)
                continue
            try:
                records, received_at = self._collect(mapping)
                if records:
                    self._run(mapping, records, received_at)
            except Exception:
                # The messages it held come back after their visibility timeout, as on AWS.
                log.exception("event source mapping %s: a poll failed", mapping.uuid)
                self._stop.wait(1.0)

    # -- one batch ----------------------------------------------------------------------------

    def _receive(self, mapping: SqsMapping, count: int, wait: int) -> list[dict[str, Any]]:
        """The messages received, as the event's records."""
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=mapping.queue_url,
            MaxNumberOfMessages=min(SQS_MAX_RECEIVE_BATCH, count),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        self.stats.add(receives=1, empty_receives=0 if messages else 1, received=len(messages))
        return [message_to_record(message, mapping.queue_arn) for message in messages]

    def _collect(self, mapping: SqsMapping) -> tuple[list[dict[str, Any]], float]:
        """Up to a batch, as the event's records: the first receive long-polls; within a batching window,
        receives go on until the batch is full, the window has passed or the payload reached Lambda's limit."""
        records = self._receive(mapping, mapping.batch_size, self.settings.poll_seconds)
        received_at = self.clock()
        if not records or not mapping.batching_window_seconds:
            return records, received_at
        deadline = received_at + mapping.batching_window_seconds
        size = len(encode_event(records))
        while len(records) < mapping.batch_size and size < LAMBDA_MAX_SYNC_PAYLOAD_BYTES and not self._stop.is_set():
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            wait = min(self.settings.poll_seconds, int(remaining))
            more = self._receive(mapping, mapping.batch_size - len(records), wait)
            records += more
            size += len(encode_event(more))
            if not more and remaining < 1:
                time.sleep(remaining)  # a long poll takes whole seconds: sleep out the window's last fraction
        return records, received_at

    def _run(self, mapping: SqsMapping, records: list[dict[str, Any]], received_at: float) -> None:
        failed_groups: set[str | None] = set()
        for chunk in chunk_records(records, LAMBDA_MAX_SYNC_PAYLOAD_BYTES):
            # FIFO: after a failure, the rest of its group waits for it (it comes back first).
            runnable = [r for r in chunk if not (mapping.fifo and message_group_id(r) in failed_groups)]
            left = len(chunk) - len(runnable)
            if runnable:
                ids = [record["messageId"] for record in runnable]
                invocation = self._invoke(mapping, encode_event(runnable), received_at)
                failed = ids if invocation is None else failed_messages(mapping, invocation, ids)
                done = [r for r in runnable if r["messageId"] not in failed]
                self._delete(mapping, done)
                failed_groups |= {message_group_id(r) for r in runnable if r["messageId"] in failed}
                left += len(runnable) - len(done)
            self.stats.add(left_in_queue=left)

    def _invoke(self, mapping: SqsMapping, payload: bytes, received_at: float) -> Invocation | None:
        """The invocation's outcome; None when it stayed throttled until the messages' visibility timeout."""
        backoff = THROTTLE_BACKOFF_SECONDS
        give_up = received_at + mapping.visibility_timeout - VISIBILITY_MARGIN_SECONDS
        self.stats.in_flight(+1)
        try:
            while True:
                invocation = self.invoke(mapping.function_arn, payload)
                self.stats.add(invocations=1)
                if not invocation.throttled:
                    if invocation.function_error:
                        self.stats.add(failed_invocations=1)
                    return invocation
                self.stats.add(throttles=1)
                if self.clock() + backoff >= give_up or self._stop.is_set():
                    return None
                self._stop.wait(backoff)
                backoff = min(THROTTLE_BACKOFF_MAX_SECONDS, backoff * 2)
        finally:
            self.stats.in_flight(-1)

    def _delete(self, mapping: SqsMapping, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        entries = [{"Id": str(index), "ReceiptHandle": r["receiptHandle"]} for index, r in enumerate(records)]
        outcome = call_in_batches(
            self.sqs.delete_message_batch,
            mapping.queue_url,
            entries,
            on_failure=lambda failure: log.warning(
                "event source mapping %s: a delete failed (%s); the message runs again", mapping.uuid, failure.code
            ),
        )
        self.stats.add(deleted=len(outcome.successful))


class EventSourceMappings(BackgroundLoop):
    """Polls every SQS event source mapping the emulator holds, and follows their changes."""

    def __init__(self, lambda_client: Any, sqs: Any, invoke: Invoke, settings: PollerSettings | None = None) -> None:
        self.lambda_client = lambda_client
        self.sqs = sqs
        self.invoke = invoke
        self.settings = settings or PollerSettings()
        self.pollers: dict[str, MappingPoller] = {}
        super().__init__("event-source-mappings")

    def start(self) -> Self:
        self.refresh()  # the mappings there are now poll from the start
        return super().start()

    def refresh(self) -> None:
        current = {mapping.uuid: mapping for mapping in read_mappings(self.lambda_client, self.sqs)}
        for uuid in [uuid for uuid in self.pollers if uuid not in current]:
            self.pollers.pop(uuid).stop()
        for uuid, mapping in current.items():
            poller = self.pollers.get(uuid)
            if poller is None:
                log.info(
                    "event source mapping %s: %s -> %s, batch %d, window %d s, concurrency up to %d%s",
                    uuid,
                    mapping.queue_arn,
                    mapping.function_arn,
                    mapping.batch_size,
                    mapping.batching_window_seconds,
                    min(self.settings.max_concurrency, mapping.maximum_concurrency or AWS_MAX_CONCURRENCY),
                    "" if mapping.enabled else " (disabled)",
                )
                self.pollers[uuid] = MappingPoller(mapping, self.sqs, self.invoke, self.settings).start()
            elif poller.mapping != mapping:
                poller.update(mapping)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.refresh_seconds):
            try:
                self.refresh()
            except Exception:
                log.exception("could not read the event source mappings; polling goes on as before")

    def stop(self) -> None:
        super().stop()
        for poller in self.pollers.values():
            poller.stop()
        for poller in self.pollers.values():
            poller.join(timeout=POLL_SECONDS + 5)

    def stats(self) -> dict[str, dict[str, int]]:
        return {uuid: poller.stats.as_dict() for uuid, poller in self.pollers.items()}


def client_invoker(lambda_client: Any) -> Invoke:
    """Invoke through a boto3 Lambda client (the local endpoint), as an :class:`Invocation`."""

    def invoke(function: str, payload: bytes) -> Invocation:
        try:
            response = lambda_client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=payload)
        except lambda_client.exceptions.TooManyRequestsException:
            return Invocation(b"", throttled=True)
        return Invocation(response["Payload"].read(), function_error=response.get("FunctionError"))

    return invoke
