"""The consumer Lambda: started by a schedule, it drains the queue into worker invocations.

It loops within its time budget: receive up to 10 messages (long poll), hand them to the worker
(synchronous Invoke), then delete what succeeded and keep what failed hidden for the delay the worker
asked for (:mod:`taskqueue.batch_response`). Each receive and the dispatch of its batch hold one of
``max_concurrency`` worker slots, so receives and invocations in flight never exceed it; how many receives
run at once follows the backlog (:mod:`taskqueue.receive_scaling`), from ``receivers`` up to the slots. On a
standard queue the slot is free once the worker has answered: the batch's deletes go out beside the next
receive rather than before it.
Messages it holds but cannot dispatch in time go back at once (visibility 0). SQS's redrive policy moves
a message that keeps failing to the DLQ.

A worker that cannot start (its answer says so, or its function error's type is one of
:data:`~taskqueue.errors.WORKER_START_ERROR_TYPES`) ends the run: its batch is held back for its backoff, no
other message is received, the error is logged in full, and the next run in this environment first asks the
worker to start with an empty batch, receiving nothing while it still cannot.

While a worker invocation may still be running, none of its messages becomes visible: the consumer
waits for an answer as long as an invocation can last (its timeout plus Lambda's init allowance), only
dispatches while that much of its own time is left, and keeps a batch whose answer never came hidden
for that long again.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from taskqueue import batch_response
from taskqueue.backoff import visibility_delay
from taskqueue.batch_response import InvalidWorkerResponse, WorkerAnswer
from taskqueue.config import MAX_RECEIVERS, ConfigError, ConsumerConfig
from taskqueue.errors import WORKER_START_ERROR_TYPES
from taskqueue.limits import (
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
    invoke_read_timeout,
)
from taskqueue.metrics import MetricsLine
from taskqueue.observability import (
    CONSUMER_MISCONFIGURED,
    MESSAGES_RECEIVED,
    MESSAGES_RELEASED,
    MESSAGES_RETRIED,
    MESSAGES_SUCCEEDED,
    WORKER_INVOCATIONS,
    WORKER_INVOCATIONS_FAILED,
)
from taskqueue.priority_receiving import with_priorities  # priorities hook (issue 24)
from taskqueue.receive_scaling import MIN_PAUSE_SECONDS, ReceiveResult, ReceiveScaler, ScalingLimits
from taskqueue.sqs_batch import FailedBatchEntry, call_in_batches
from taskqueue.sqs_event import chunk_records, encode_event, message_group_id, message_to_record, receive_count
from taskqueue.telemetry import logger_for, service_name

logger = logger_for("consumer")

# Pause after a receive that failed even after botocore's retries, so an outage is not hammered.
RECEIVE_ERROR_PAUSE_SECONDS = 1.0
# The shortest long poll worth making: with less time than this left for it, a run stops receiving.
MIN_POLL_SECONDS = 1
# Why a run stopped when the worker could not start (its report's stopped_because), and its log line.
WORKER_CANNOT_START = "worker cannot start"
WORKER_CANNOT_START_MESSAGE = "the worker cannot start; receiving stops until it can"
# Why a drain-mode run stopped (its report's stopped_because): a receive came back empty, or with under
# half a batch (the backlog is gone; what trickles in is the next run's).
QUEUE_EMPTY = "queue empty"


def minimum_timeout_seconds(config: ConsumerConfig) -> float:
    """The shortest consumer timeout that can ever dispatch a batch: one poll, then a whole worker call."""
    return invoke_read_timeout(config.worker_timeout_seconds) + config.time_margin_seconds + MIN_POLL_SECONDS


class InvocationResult:
    """How a worker invocation ended, from the consumer's side."""

    ANSWERED = "answered"  # the worker's answer came back
    NOT_RUN = "not_run"  # refused before running: throttled, too large, not found
    ENDED = "ended"  # the function failed or timed out: it is not running any more
    CANNOT_START = "cannot_start"  # the worker could not start: it ran no task
    UNKNOWN = "unknown"  # no answer (read timeout, connection lost): it may still be running


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
    worker_start_failures: int = 0
    stopped_because: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


class Budget:
    """The consumer's remaining time, from the Lambda context."""

    def __init__(self, context: Any, config: ConsumerConfig) -> None:
        self._remaining_millis: Callable[[], int] = context.get_remaining_time_in_millis
        # Time an invocation may take once dispatched (a cold one too), plus room to settle its messages.
        self._reserve = invoke_read_timeout(config.worker_timeout_seconds) + config.time_margin_seconds
        self._max_wait = config.wait_time_seconds
        # How long a receive takes beyond its long poll (a decaying maximum): a receive must return
        # with time left to dispatch, or its messages are released and each loses a receive count.
        self._receive_overhead = 0.0

    def remaining_seconds(self) -> float:
        return self._remaining_millis() / 1000

    def observe_receive(self, overhead_seconds: float) -> None:
        self._receive_overhead = max(overhead_seconds, self._receive_overhead * 0.8)

    def receive_slack(self) -> float:
        """Seconds a receive may still take and leave time for a worker call."""
        return self.remaining_seconds() - self._reserve - self._receive_overhead

    def receive_wait(self) -> int | None:
        """Long-poll seconds that still leave time for a worker call, or None when there is no time."""
        slack = self.receive_slack()
        # With long polling configured, no time for a 1 s poll means stop: short polls would spin.
        if slack < min(MIN_POLL_SECONDS, self._max_wait):
            return None
        return min(self._max_wait, int(slack))

    def can_dispatch(self) -> bool:
        return self.remaining_seconds() >= self._reserve

    def can_ever_dispatch(self) -> bool:
        """Whether the run has time for one poll and one worker call at all."""
        return self.remaining_seconds() >= self._reserve + min(MIN_POLL_SECONDS, self._max_wait)


def scaling_limits(config: ConsumerConfig) -> ScalingLimits:
    """Loops from the configured receivers up to the worker slots (each receive holds one), at most MAX_RECEIVERS."""
    most = max(config.receivers, min(config.max_concurrency, MAX_RECEIVERS))
    return ScalingLimits(
        min_loops=config.receivers,
        max_loops=most,
        batch_size=config.batch_size,
        batching_window_seconds=config.batching_window_seconds,
    )


@dataclass(frozen=True)
class Receive:
    """Make a receive with this long poll; ``paced``: it comes after a batching pause."""

    wait: int
    paced: bool


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next receive: a batch is filling in the queue."""

    seconds: float


@dataclass
class RunState:
    """What one run has under way, shared by its receives and dispatches under ``changed``'s lock."""

    scaler: ReceiveScaler
    receiving: int = 0  # receives in flight, each in a worker slot
    dispatching: int = 0  # received batches being invoked and settled, each in a worker slot
    # FIFO drain: an empty receive while our batches are out; the next receive waits for one to end.
    awaiting_dispatch_end: bool = False
    stopped_because: str = ""
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def stop(self, reason: str) -> None:
        self.stopped_because = self.stopped_because or reason
        self.changed.notify_all()


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
        # The worker's last start failure seen in this environment: the next run asks it to start first.
        self.worker_start_failure: str | None = None

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
        if not budget.can_ever_dispatch():
            self._refuse_budget(budget)
        if self.worker_start_failure is not None and not self._worker_starts(report):
            report.stopped_because = WORKER_CANNOT_START
        else:
            state = RunState(ReceiveScaler(scaling_limits(self.config), started_at=self.clock()))
            # A thread per slot, and as many again for the settles that finish after their slot is free.
            with self.executor(2 * self.config.max_concurrency) as pool:
                self._receive_while_there_is_time(state, budget, report, pool)
            report.stopped_because = state.stopped_because or "time budget"
        self._publish_metrics(report)
        return report

    def _receive_while_there_is_time(
        self, state: RunState, budget: Budget, report: ConsumerReport, pool: Executor
    ) -> None:
        """Start receives, each in a worker slot, as many at once as the scaler keeps, until the run stops.

        Each receive dispatches its batch in the same slot: no message waits in our hands for a slot."""
        queue_arn = self.queue_arn
        while True:
            with state.changed:
                step = self._next_step(state, budget, report)
                if isinstance(step, Receive):
                    state.receiving += 1
            if step is None:
                break
            if isinstance(step, Pause):
                self.sleep(step.seconds)  # nothing is under way: a batch fills in the queue meanwhile
                continue
            pool.submit(self._receive_and_dispatch, state, step, queue_arn, budget, report)
        with state.changed:  # the pool's exit waits for the dispatches; the receives in flight end first
            while state.receiving:
                state.changed.wait(timeout=1.0)

    def _next_step(self, state: RunState, budget: Budget, report: ConsumerReport) -> Receive | Pause | None:
        """The next receive, a pause before it, or None when the run stops (held: state.changed)."""
        while True:
            if report.worker_start_failures:
                # Every message received now would only be held back, and burn a receive.
                state.stop(WORKER_CANNOT_START)
            if state.stopped_because:
                return None
            wait = budget.receive_wait()
            if wait is None:
                return None
            under_way = state.receiving + state.dispatching
            if (
                state.receiving < state.scaler.loops
                and under_way < self.config.max_concurrency
                and not state.awaiting_dispatch_end
            ):
                pause = self._pause_before_receive(state, budget)
                if pause <= 0:
                    return Receive(wait, paced=state.scaler.pacing)
                if not under_way:
                    return Pause(pause)
                state.changed.wait(timeout=pause)
            elif under_way:
                state.changed.wait(timeout=0.25)  # for a slot, or a loop
            else:
                return None  # nothing under way could change this (only with max_concurrency < 1)

    def _pause_before_receive(self, state: RunState, budget: Budget) -> float:
        """Seconds to wait for a batch to fill, cut short to leave time for one more receive and its batch."""
        pause = min(state.scaler.next_receive_at - self.clock(), budget.receive_slack() - MIN_POLL_SECONDS)
        return pause if pause >= MIN_PAUSE_SECONDS else 0.0  # no slivers of pause as the budget runs out

    def _receive_and_dispatch(
        self, state: RunState, receive: Receive, queue_arn: str, budget: Budget, report: ConsumerReport
    ) -> None:
        receiving, dispatching = True, False

        def free_the_slot() -> None:
            """The worker has answered the last of the batch: its slot takes the next receive while the
            answer's deletes and visibility changes go out. Not on FIFO: a run that calls the queue empty
            there waits for its batches to be settled (their groups stay locked until then)."""
            nonlocal dispatching
            if self.fifo:
                return
            with state.changed:
                if dispatching:
                    state.dispatching -= 1
                    dispatching = False
                    state.changed.notify_all()

        try:
            received_at = self.clock()
            messages = self._receive(receive.wait, report, budget)
            with state.changed:
                state.receiving -= 1
                receiving = False
                if messages is not None:
                    waited = longest_wait_seconds(messages)
                    state.scaler.observe(ReceiveResult(len(messages), self.clock(), receive.paced, waited))
                dispatching = self._take_batch(state, messages)
                state.changed.notify_all()
            if not messages:
                return
            if budget.can_dispatch():
                self._dispatch(messages, received_at, queue_arn, budget, report, free_the_slot)
            else:
                # Rare, now that waits allow for slow receives; the release costs each message a receive.
                self._release([message["ReceiptHandle"] for message in messages], report)
                with state.changed:
                    state.stop("time budget")
        except Exception:
            logger.exception("dispatch failed; its messages return after their visibility timeout")
        finally:
            with state.changed:
                if receiving:
                    state.receiving -= 1
                if dispatching:
                    state.dispatching -= 1
                    state.awaiting_dispatch_end = False
                state.changed.notify_all()

    def _drained(self, state: RunState, received: int) -> bool:
        """Drain mode: a short batch at the fewest loops means the backlog is gone. The run ends after it
        rather than receive a trickle one message at a time: the schedule's next run, a period later, finds
        a batch gathered for free, where waiting inside this run would be billed. Not FIFO: a short batch
        there may only mean that its other groups are locked. Not with priorities: a short batch is the
        last of one queue's, received before the lower queues were asked (an empty receive asks them all)."""
        return (
            self.config.mode == "drain"
            and not self.fifo
            and self.config.priorities is None
            and 2 * received < self.config.batch_size
            and state.scaler.loops == state.scaler.limits.min_loops
        )

    def _take_batch(self, state: RunState, messages: list[dict[str, Any]] | None) -> bool:
        """After a receive (held: state.changed): whether its batch is dispatched; stops a drained run."""
        if messages:
            state.dispatching += 1
            if self._drained(state, len(messages)):
                state.stop(QUEUE_EMPTY)
            return True
        if messages is not None and self.config.mode == "drain":
            # On FIFO, empty is final only once our own dispatches are done: a group stays locked while
            # its messages are out, so its next messages cannot be received yet.
            if not self.fifo or state.dispatching == 0:
                state.stop(QUEUE_EMPTY)
            else:
                state.awaiting_dispatch_end = True
        return False

    def _refuse_budget(self, budget: Budget) -> None:
        """A consumer whose time cannot cover one poll and one worker call would never receive anything."""
        needed = minimum_timeout_seconds(self.config)
        message = (
            f"the consumer can never dispatch: a run has {budget.remaining_seconds():.1f} s, and one poll and one "
            f"worker call need {needed:.0f} s (TASKQUEUE_WORKER_TIMEOUT_SECONDS={self.config.worker_timeout_seconds:g} "
            f"+ Lambda's init allowance + the answer's slack + TASKQUEUE_TIME_MARGIN_SECONDS="
            f"{self.config.time_margin_seconds:g} + a {MIN_POLL_SECONDS} s poll): raise the consumer's timeout to "
            f"at least {needed:.0f} s or lower the worker's"
        )
        logger.error(message, extra={"needed_seconds": needed, "remaining_seconds": budget.remaining_seconds()})
        metrics = MetricsLine(service_name("consumer"))
        metrics.count(CONSUMER_MISCONFIGURED)
        metrics.flush()
        raise ConfigError(message)

    def _worker_starts(self, report: ConsumerReport) -> bool:
        """After a start failure: an empty batch asks the worker to start (it answers at once, running nothing)."""
        outcome, _ = self._invoke([], report)
        if outcome == InvocationResult.ANSWERED:
            logger.info("the worker starts again", extra={"last_start_failure": self.worker_start_failure})
            self.worker_start_failure = None
            return True
        return outcome != InvocationResult.CANNOT_START

    def _worker_cannot_start(self, error: str, report: ConsumerReport) -> None:
        self.worker_start_failure = error
        report.add(worker_start_failures=1)
        logger.error(WORKER_CANNOT_START_MESSAGE, extra={"error": error})

    def _receive(self, wait: int, report: ConsumerReport, budget: Budget) -> list[dict[str, Any]] | None:
        """Up to a batch of messages; [] when the queue is empty, None when the receive failed."""
        started = self.clock()
        arguments: dict[str, Any] = {
            "QueueUrl": self.config.queue_url,
            "MaxNumberOfMessages": self.config.batch_size,
            "WaitTimeSeconds": wait,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if self.fifo:
            # A receive that botocore retries (its answer was lost) gets the same messages back, rather
            # than locking their groups until the visibility timeout.
            arguments["ReceiveRequestAttemptId"] = uuid.uuid4().hex
        try:
            response = self.sqs.receive_message(**arguments)
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

    def _dispatch(
        self,
        messages: list[dict[str, Any]],
        received_at: float,
        queue_arn: str,
        budget: Budget,
        report: ConsumerReport,
        answered: Callable[[], None] = lambda: None,
    ) -> None:
        """Invoke the worker for the batch (in parts, when too large for one invocation) and settle each
        part; ``answered`` is called once the last part's invocation has ended, before it is settled."""
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
            outcome, answer = self._invoke(runnable, report) if runnable else (InvocationResult.ANSWERED, None)
            if index == len(chunks) - 1:
                answered()
            failed = self._settle(chunk, blocked, outcome, answer, received_at, report)
            failed_groups |= {message_group_id(r) or "" for r in chunk if r["messageId"] in failed}

    def _invoke(self, records: list[dict[str, Any]], report: ConsumerReport) -> tuple[str, WorkerAnswer | None]:
        """How the invocation ended, and the worker's answer when it gave one."""
        ids = [record["messageId"] for record in records]
        payload = encode_event(records)
        report.add(invocations=1)
        if len(payload) > self.config.max_invoke_payload_bytes:
            report.add(failed_invocations=1)
            logger.error(
                "message too large for a worker invocation",
                extra={"bytes": len(payload), "limit": self.config.max_invoke_payload_bytes, "message_ids": ids},
            )
            return InvocationResult.NOT_RUN, None
        outcome = InvocationResult.UNKNOWN
        try:
            response = self.lambda_client.invoke(
                FunctionName=self.config.worker_function, InvocationType="RequestResponse", Payload=payload
            )
            outcome = InvocationResult.ENDED
            answer = response["Payload"].read()
            if response.get("FunctionError"):
                start_failure = _start_failure(answer)
                if start_failure is not None:
                    report.add(failed_invocations=1)
                    self._worker_cannot_start(start_failure, report)
                    return InvocationResult.CANNOT_START, None
                raise InvalidWorkerResponse(f"worker failed ({response['FunctionError']}): {answer[:500]!r}")
            parsed = batch_response.parse(answer, ids)
            if parsed.start_failure is not None:
                self._worker_cannot_start(parsed.start_failure, report)
            return InvocationResult.ANSWERED, parsed
        except Exception as error:
            # Errors, timeouts and throttling fail the whole batch; nothing of it is deleted.
            if (
                isinstance(error, ClientError)
                and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500
            ):
                outcome = InvocationResult.NOT_RUN  # refused (throttled, say): the function never started
            report.add(failed_invocations=1)
            logger.warning(
                "worker invocation failed; the batch will be retried",
                extra={"error": f"{type(error).__name__}: {error}", "messages": len(ids), "outcome": outcome},
            )
            return outcome, None

    def _settle(
        self,
        records: list[dict[str, Any]],
        blocked: set[str],
        outcome: str,
        answer: WorkerAnswer | None,
        received_at: float,
        report: ConsumerReport,
    ) -> set[str]:
        """Delete what the worker completed and hide the rest for its delay; returns the failed ids."""
        ids = {record["messageId"] for record in records}
        failed = blocked | (answer.failed if answer is not None else ids - blocked)
        delays = dict(answer.retry_delays) if answer is not None else {}
        delays.update(dict.fromkeys(blocked, 0))  # held back behind their group: they did not run
        # SQS keeps a message hidden at most 12 hours after it was received.
        longest = int(SQS_MAX_VISIBILITY_TIMEOUT_SECONDS - (self.clock() - received_at)) - 1
        # With no answer the invocation may still be running: its messages stay hidden until it cannot be.
        floor = (
            int(invoke_read_timeout(self.config.worker_timeout_seconds)) if outcome == InvocationResult.UNKNOWN else 0
        )

        def delay(record: dict[str, Any]) -> int:
            asked = delays.get(record["messageId"])
            if asked is None:
                asked = visibility_delay(receive_count(record), self.config.backoff, self.rng)
            return max(0, min(max(asked, floor), longest))

        done = [record for record in records if record["messageId"] not in failed]
        retry = [record for record in records if record["messageId"] in failed]
        if done:
            self._delete(done)
        if retry:
            self._change_visibility(retry, delay)
        report.add(succeeded=len(done), failed=len(retry))
        return failed

    def _release(self, receipt_handles: list[str], report: ConsumerReport) -> None:
        """Give back messages that were received but not dispatched, for another consumer to take now."""
        self._change_visibility([{"receiptHandle": handle} for handle in receipt_handles], lambda record: 0)
        report.add(released=len(receipt_handles))

    # -- SQS batch calls ----------------------------------------------------------------------

    def _delete(self, records: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)]
        self._batch_call(self.sqs.delete_message_batch, "delete", entries)

    def _change_visibility(self, records: list[dict[str, Any]], timeout: Callable[[dict[str, Any]], int]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": timeout(r)}
            for i, r in enumerate(records)
        ]
        self._batch_call(self.sqs.change_message_visibility_batch, "visibility change", entries)

    def _batch_call(self, operation: Callable[..., Any], what: str, entries: list[dict[str, Any]]) -> None:
        """A lost delete means the task runs again (at-least-once); a lost visibility change means the
        message comes back after the queue's visibility timeout. Neither is lost; each is logged."""

        def log(failure: FailedBatchEntry) -> None:
            logger.warning(
                f"{what} failed",
                extra={"code": failure.code, "error": failure.message, "sender_fault": failure.sender_fault},
            )

        call_in_batches(operation, self.config.queue_url, entries, on_failure=log)

    def _publish_metrics(self, report: ConsumerReport) -> None:
        """The run's one line: its report, and as metrics (EMF) the counts that are not zero.

        A count of zero is left out, not written: each metric that receives a value in a month is billed
        as a custom metric, and an idle consumer's zeros were most of its idle cost. CloudWatch reads a
        period with no value as missing data; the alarms treat it as not breaching (terraform/alarms.tf)
        and the dashboard's Sum is the same, so leaving zeros out changes no reading."""
        metrics = MetricsLine(service_name("consumer"))
        for name, value in run_counts(report).items():
            if value:
                metrics.count(name, value)
        metrics.flush({"level": "INFO", "message": "consumer run done", **report.as_dict()})


def run_counts(report: ConsumerReport) -> dict[str, int]:
    """The run's metrics, by name, from its report. Not its empty receives: an idle run makes one, and a
    series written every minute is billed all month; SQS counts them for free (NumberOfEmptyReceives)."""
    return {
        MESSAGES_RECEIVED: report.received,
        MESSAGES_SUCCEEDED: report.succeeded,
        MESSAGES_RETRIED: report.failed,
        MESSAGES_RELEASED: report.released,
        WORKER_INVOCATIONS: report.invocations,
        WORKER_INVOCATIONS_FAILED: report.failed_invocations,
    }


def longest_wait_seconds(messages: list[dict[str, Any]]) -> float | None:
    """The longest a message received here for the first time waited in the queue, by SQS's own clock."""
    waits = []
    for message in messages:
        attributes = message.get("Attributes", {})
        try:
            if int(attributes["ApproximateReceiveCount"]) == 1:
                waits.append(int(attributes["ApproximateFirstReceiveTimestamp"]) - int(attributes["SentTimestamp"]))
        except (KeyError, ValueError):
            continue
    return max(waits) / 1000 if waits else None


def _start_failure(function_error: bytes) -> str | None:
    """The worker's error, in full, when its function error says it could not start; None for any other."""
    try:
        error = json.loads(function_error)
    except ValueError:
        return None
    if not isinstance(error, dict) or error.get("errorType") not in WORKER_START_ERROR_TYPES:
        return None
    trace = "".join(str(line) for line in error.get("stackTrace") or [])
    return f"{error['errorType']}: {error.get('errorMessage', '')}\n{trace}".rstrip()


# -- Lambda entry point -----------------------------------------------------------------------


def clients_for(config: ConsumerConfig) -> tuple[Any, Any]:
    """SQS and Lambda clients from boto3's standard configuration chain (AWS_ENDPOINT_URL_* apply)."""
    pool = config.max_concurrency + config.receivers + 4
    sqs = boto3.client("sqs", config=Config(retries={"mode": "standard"}, max_pool_connections=pool))
    lambda_client = boto3.client(
        "lambda",
        config=Config(
            # No client retries: a throttled or timed-out batch is failed and backed off instead,
            # and a retried timeout would run the same tasks twice at once.
            retries={"total_max_attempts": 1},
            # As long as an invocation can last (a cold start's init is not in its timeout), and within
            # the budget's reserve, so a hung connection cannot outlast the consumer's own timeout.
            read_timeout=invoke_read_timeout(config.worker_timeout_seconds),
            connect_timeout=5,
            max_pool_connections=pool,
        ),
    )
    return sqs, lambda_client


@functools.cache
def _consumer() -> Consumer:
    config = ConsumerConfig.from_env()
    sqs, lambda_client = clients_for(config)
    # Priorities hook (issue 24): with several priority queues, the consumer's one queue is all of them.
    sqs = with_priorities(sqs, config.priorities)
    return Consumer(config, sqs, lambda_client)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.bind(context)
    return _consumer().run(context).as_dict()
