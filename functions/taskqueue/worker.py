"""The worker Lambda: runs a batch of task messages and reports per-message failures.

It takes Lambda's native SQS event and answers with the native partial-batch response, so it
runs the same behind the scheduled consumer and behind an SQS event source mapping.

Per message:
- success: reported as done (the caller deletes it);
- any exception: reported as failed, with the delay before its next attempt: the task's backoff, or
  exactly what ``Retry(after=...)`` asked for. Behind the consumer the delay travels in the answer
  (:mod:`taskqueue.batch_response`) and the consumer applies it; behind an event source mapping the
  worker sets the visibility itself. Either way the same function decides it;
- malformed body, unknown task or ``PermanentError``: sent to the DLQ with the reason, then
  reported as done so it burns no retries. If that send fails, it is reported as failed, and the
  verdict is remembered so the task does not run again;
- a failure on the task's last attempt (its ``max_attempts``, by default the queue's maxReceiveCount):
  sent to the DLQ with its error, as SQS's redrive would do next, but with the reason attached;
- every run is recorded before the task is called (the attempts table, or else the receive itself), so
  a run cut off by a timeout or a crash is an attempt: a message that comes back with its attempts used
  goes to the DLQ unrun, its reason saying the last run did not return;
- the task not called (a copy of it in progress, the idempotency or attempts table failing, too little
  time left): released unrun, with no attempt used, to come back later (log ``outcome`` ``released``).

A worker that cannot start (its task modules fail to import) runs no task: it counts WorkerStartFailed,
logs its error in full, holds each record back for its backoff, and dead-letters one on its last receive
with the reason ``worker_cannot_start``; an empty batch (a start probe) raises :class:`WorkerCannotStart`.
A bad configuration raises it for every batch: with no configuration there is no DLQ to say why with.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from taskqueue import batch_response, dead_letter_queue
from taskqueue.attempts import AttemptLedger, RunRefused
from taskqueue.backoff import visibility_delay
from taskqueue.config import ConfigError, WorkerConfig
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.errors import MalformedMessage, PermanentError, Retry, TaskInProgress, UnknownTask, WorkerCannotStart
from taskqueue.limits import LAMBDA_MAX_TIMEOUT_SECONDS, SQS_MAX_BATCH_ENTRIES, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
from taskqueue.message import TaskMessage, parse_body, task_identity
from taskqueue.metrics import MetricsLine
from taskqueue.registry import RegisteredTask, TaskContext, TaskRegistry, default_registry, import_task_modules
from taskqueue.sqs_batch import call as batch_call
from taskqueue.sqs_event import message_group_id, receive_count
from taskqueue.telemetry import logger_for, service_name

if TYPE_CHECKING:
    from taskqueue.idempotency import IdempotentRunner

logger = logger_for("worker")

# A record is not started with less time than this left (plus what settling the batch needs); it is
# retried instead of being cut off.
MIN_REMAINING_SECONDS_TO_START = 1.0
# Before the first visibility call of an invocation is timed, assume each takes this long.
VISIBILITY_CALL_ESTIMATE_SECONDS = 0.1
# No visibility call is started with less than this left: the answer itself must still get out.
SETTLE_FINAL_MARGIN_SECONDS = 0.5
# An event source mapping waits up to 5 minutes to fill a batch: a message may have been received that
# long before the invocation started, and SQS counts the 12-hour visibility limit from its receipt.
LONGEST_BATCHING_WINDOW_SECONDS = 300
# The worker's first line in an execution environment (DEBUG level), with the names of its tasks.
WORKER_STARTED_MESSAGE = "worker started"
# The log line of a worker that cannot start (its ``error`` field carries the error and its traceback).
WORKER_CANNOT_START_MESSAGE = "worker cannot start"
# Verdicts on a task that ran: it must never run again, even when its message comes back.
RAN_VERDICTS = (dead_letter_queue.PERMANENT_ERROR, dead_letter_queue.RETRIES_EXHAUSTED)
# What makes the batch's metrics line a log line too (Lambda's JSON log format filters by "level").
BATCH_SUMMARY = {"level": "INFO", "message": "batch done"}
# Dead-letter verdicts whose DLQ send failed, remembered in this environment (and in the attempts
# table where there is one), so the task does not run again when its message comes back.
REMEMBERED_VERDICTS = 10_000


class OutOfTime(Exception):
    """The invocation has too little time left to start another task."""


class NotRun(Exception):
    """The task was not called and its message goes back to the queue: no attempt of it was used."""


# A record's outcome: the ``outcome`` field of its log line (successes at DEBUG level only). Tools that
# follow tasks (the demo, the benchmarks) read this field, not the message text. ``RETRIED`` is a run that
# failed; ``RELEASED`` a message handed back without running its task (no attempt used).
SUCCEEDED = "succeeded"
RETRIED = "retried"
DEAD_LETTERED = "dead_lettered"
RELEASED = "released"


@dataclass
class _Run:
    """What became of one record's run: whether the task was called (its run recorded first), and what it raised."""

    started: bool = False
    attempt: int = 0
    error: Exception | None = None


@dataclass
class _Invocation:
    """What one invocation knows as it goes: its clock, the delay each failed record asked for, and
    its metrics (written once, as the batch's summary line)."""

    context: Any
    metrics: MetricsLine
    started: float = field(default_factory=time.monotonic)
    retry_delays: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    visibility_call_seconds: float = VISIBILITY_CALL_ESTIMATE_SECONDS
    # The time the invocation had when it started: the function's timeout, as near as the worker can know it.
    timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        self.timeout_seconds = self.remaining_seconds()

    def remaining_seconds(self) -> float | None:
        millis = _remaining_millis(self.context)
        return None if millis is None else millis / 1000


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        sqs: Any,
        registry: TaskRegistry = default_registry,
        idempotency: IdempotentRunner | None = None,
        ledger: AttemptLedger | None = None,
        rng: Callable[[], float] = random.random,
        start_failure: WorkerCannotStart | None = None,
    ) -> None:
        """``start_failure``: the worker could not start; it runs no task (see the module's docstring)."""
        self.config = config
        self.start_failure = start_failure
        self.sqs = sqs
        self.registry = registry
        self.idempotency = idempotency
        self.ledger = ledger
        self.rng = rng
        # Verdicts on messages dead-lettered here, and whether their send went through (bounded).
        self._verdicts: OrderedDict[str, tuple[DeadLetter, bool]] = OrderedDict()

    # -- one batch ----------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any, metrics: MetricsLine | None = None) -> dict[str, Any]:
        """Run a batch; ``metrics`` collects its metrics (the handler writes them once per invocation)."""
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise ValueError("the worker expects an SQS event: an object with a 'Records' list")
        for_consumer = not self.config.apply_backoff
        if self.start_failure is not None:
            invocation_metrics = metrics if metrics is not None else MetricsLine(service_name("worker"))
            invocation_metrics.count("WorkerStartFailed")
            logger.error(
                WORKER_CANNOT_START_MESSAGE, extra={"error": str(self.start_failure), "messages": len(records)}
            )
            if not records:
                raise self.start_failure  # a start probe: the failure is its answer
        if not records:
            return batch_response.encode([], {}, for_consumer)
        if self.idempotency is not None and context is not None:
            self.idempotency.register_lambda_context(context)
        invocation = _Invocation(context, metrics if metrics is not None else MetricsLine(service_name("worker")))
        fifo = str(records[0].get("eventSourceARN", "")).endswith(".fifo")
        failed_ids: list[str] = []
        failed_groups: set[str | None] = set()
        for record in records:
            message_id = str(record["messageId"])
            group = message_group_id(record) if fifo else None
            if fifo and group in failed_groups:
                # FIFO order: after a failure, the rest of its group waits for it. It did not run.
                invocation.retry_delays[message_id] = 0
                failed_ids.append(message_id)
                logger.info(
                    "not run: an earlier message of its group failed; it will be retried after it",
                    extra={"message_id": message_id, "message_group_id": group},
                )
                continue
            try:
                if self.start_failure is None:
                    self._process(record, invocation)
                else:
                    self._cannot_run(record, invocation)
            except Exception:
                # A batch in which every task failed is still an answer, not a crash: worker errors
                # (and their alarm) mean the worker itself broke.
                failed_ids.append(message_id)
                failed_groups.add(group)
        if self.config.apply_backoff:
            self._apply_retry_delays(records, invocation)
        start_failure = None if self.start_failure is None else str(self.start_failure)
        return batch_response.encode(failed_ids, invocation.retry_delays, for_consumer, start_failure)

    # -- one record ---------------------------------------------------------------------------

    def _process(self, raw: Mapping[str, Any], invocation: _Invocation) -> None:
        """Run one record: it succeeds or is dead-lettered; raises when it is to be retried (the reason is logged)."""
        message_id = str(raw["messageId"])
        count = receive_count(raw)
        keys: dict[str, Any] = {"message_id": message_id, "receive_count": count}
        try:
            message = parse_body(raw.get("body"))
        except MalformedMessage as error:
            return self._dead_letter(raw, DeadLetter(dead_letter_queue.MALFORMED, str(error), None), keys, invocation)
        keys["task"] = message.task
        if message.id is not None:
            keys["task_id"] = message.id
        try:
            registered = self.registry.get(message.task)
        except UnknownTask as error:
            return self._dead_letter(
                raw, DeadLetter(dead_letter_queue.UNKNOWN_TASK, str(error), message.task), keys, invocation
            )

        if message_id in self._verdicts:
            return self._dead_lettered_before(raw, keys, invocation)
        max_attempts = registered.max_attempts or self.config.max_attempts or self.config.max_receive_count
        if self.ledger is None and max_attempts is not None and count > max_attempts:
            # Without the attempts table a receive is the record written ahead of a run: every receive before
            # this one may have run the task, and one that never returned (a timeout, a crash) reported nothing.
            why = DeadLetter(
                dead_letter_queue.RETRIES_EXHAUSTED,
                f"not run: received {count} times and max_attempts is {max_attempts} (attempts counted by receives); "
                "the last receive did not end the task: its run timed out or crashed its invocation, or it did not run",
                registered.name,
            )
            return self._dead_letter(raw, why, keys, invocation)

        if not self._time_to_start(invocation):
            invocation.retry_delays[message_id] = 0  # it did not run: try it again soon
            logger.warning(
                "not started: too little time left in the invocation; it will be retried",
                extra={**keys, "outcome": RELEASED, "retry_in_seconds": 0},
            )
            raise OutOfTime(f"too little time left in the invocation to start task {message.task!r}")
        return self._attempt(raw, registered, message, max_attempts, keys, invocation)

    def _attempt(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: _Invocation,
    ) -> None:
        """One attempt of the task and what follows from it (or, when it did not start, from why not)."""
        message_id = str(raw["messageId"])
        queued_ms = _queued_millis(raw)
        if self.config.log_payload:
            logger.info("starting task", extra={**keys, "payload": message.payload})
        run = _Run()
        started = time.perf_counter()
        layer_error: Exception | None = None
        try:
            self._run(raw, registered, message, max_attempts, invocation, run, keys)
        except Exception as error:
            layer_error = error
        if not run.started:
            if layer_error is None:  # the idempotency table says this task completed before: done
                self._succeeded(registered, keys, invocation, queued_ms, started)
                return
            return self._not_run(raw, registered, layer_error, max_attempts, keys, invocation)
        if run.error is None:
            if layer_error is not None:
                # The task returned; recording its completion failed. It ran: running it again is worse.
                logger.warning(
                    "task succeeded; its completion could not be recorded in the idempotency table",
                    extra={**keys, "error": _describe(layer_error)},
                )
            if self.ledger is not None and max_attempts is not None and run.attempt >= max_attempts:
                self._mark_completed(message_id, keys)
            self._succeeded(registered, keys, invocation, queued_ms, started)
            return
        failure = run.error
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        invocation.metrics.value("TaskQueueTime", queued_ms)
        invocation.metrics.value("TaskDuration", duration_ms)
        keys.update(queued_ms=queued_ms, duration_ms=duration_ms)
        if isinstance(failure, PermanentError):
            why = DeadLetter(dead_letter_queue.PERMANENT_ERROR, _describe(failure), message.task)
            return self._dead_letter(raw, why, keys, invocation)
        return self._failed(raw, registered, failure, run.attempt, max_attempts, keys, invocation)

    def _run(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        max_attempts: int | None,
        invocation: _Invocation,
        run: _Run,
        keys: dict[str, Any],
    ) -> None:
        """Record the run (write-ahead), then call the task, inside the idempotency layer where there is one.

        ``run`` says what happened: whether the task was called and what it raised. An exception raised
        with the task not called is the layer's or the table's (a copy in progress, a throttle, a refused
        run), never an attempt of the task.
        """
        message_id = str(raw["messageId"])
        count = receive_count(raw)

        def attempt() -> None:
            run.attempt = keys["attempt"] = self._start_run(message_id, count, max_attempts, invocation)
            task_context = TaskContext(
                task=message.task,
                message_id=message_id,
                receive_count=count,
                task_id=message.id,
                message_group_id=message_group_id(raw),
                attempt=run.attempt,
                get_remaining_time_in_millis=(lambda: _remaining_millis(invocation.context) or 0),
            )
            run.started = True
            try:
                registered.run(message.payload, task_context)
            except Exception as error:
                run.error = error
                raise

        if self.idempotency is None:
            attempt()
            return
        self.idempotency.run(task_identity(message.task, message.id, message_id), attempt)

    def _start_run(self, message_id: str, count: int, max_attempts: int | None, invocation: _Invocation) -> int:
        """This run's attempt number, recorded before it starts: runs so far + 1 where the attempts table keeps
        them (it raises ``RunRefused`` when none is owed), else the receive count (SQS recorded the receive)."""
        if self.ledger is None:
            return count
        seconds_left = invocation.remaining_seconds()
        return self.ledger.start_run(
            message_id, max_attempts, LAMBDA_MAX_TIMEOUT_SECONDS if seconds_left is None else seconds_left
        )

    def _succeeded(
        self, registered: RegisteredTask, keys: dict[str, Any], invocation: _Invocation, queued_ms: int, started: float
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        metrics = invocation.metrics
        metrics.value("TaskQueueTime", queued_ms)
        metrics.value("TaskDuration", duration_ms)
        metrics.count("TasksSucceeded", task=registered.name)
        if logger.enabled_for(logging.DEBUG):  # a line per success only when asked for
            logger.debug(
                "task succeeded",
                extra={**keys, "outcome": SUCCEEDED, "queued_ms": queued_ms, "duration_ms": duration_ms},
            )

    def _mark_completed(self, message_id: str, keys: dict[str, Any]) -> None:
        """The last allowed run returned: should the message come back, it is done, not a run that never returned."""
        assert self.ledger is not None
        try:
            self.ledger.mark_completed(message_id)
        except Exception as error:
            logger.warning(
                "could not mark the last allowed run completed; should the message come back, it is dead-lettered "
                "as a run that did not return",
                extra={**keys, "error": _describe(error)},
            )

    def _not_run(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        error: Exception,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: _Invocation,
    ) -> None:
        """The task was not called: the attempts table refused the run, or the idempotency layer or the table
        failed. Not an attempt: the message is dead-lettered only on the table's word, else released."""
        if isinstance(error, RunRefused):
            return self._refused(raw, registered, error, max_attempts, keys, invocation)
        if isinstance(error, TaskInProgress):
            return self._release(
                raw,
                _longest_run_seconds(invocation) or self._backoff(registered, raw),
                "not run: another copy of this task is running; released until it can be over",
                keys,
                invocation,
            )
        return self._release(
            raw,
            self._backoff(registered, raw),
            "not run: the attempts or idempotency table failed; released to be retried, no attempt used",
            keys,
            invocation,
            error,
        )

    def _refused(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        refusal: RunRefused,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: _Invocation,
    ) -> None:
        """The attempts table refused to record a run: a verdict, a completed last run, or no run left."""
        message_id = str(raw["messageId"])
        entry = refusal.entry
        if entry.verdict is not None:
            if message_id not in self._verdicts:
                self._remember(message_id, entry.verdict, sent=entry.verdict_sent)
            return self._dead_lettered_before(raw, keys, invocation)
        if entry.completed:
            logger.info("its last allowed run completed; not run again", extra=keys)
            return None
        if refusal.retry_in_seconds > 0:
            # Back before the time its last run asked for (that answer was lost with a killed invocation).
            return self._release(
                raw,
                math.ceil(refusal.retry_in_seconds),
                "not run: back before the time its last run asked to be retried at; released until then",
                keys,
                invocation,
            )
        if max_attempts is None or entry.runs < max_attempts:
            # Refused for a reason gone by the time it was read (the item changed meanwhile): look again later.
            return self._release(
                raw, self._backoff(registered, raw), "not run: the attempts table refused the run", keys, invocation
            )
        if refusal.still_running_seconds > 0:
            # A copy of the message (SQS delivers twice at times) while its last run may still go on.
            return self._release(
                raw,
                math.ceil(refusal.still_running_seconds) + 1,
                "not run: its last allowed run may still be under way; released until its invocation ends",
                keys,
                invocation,
            )
        why = DeadLetter(
            dead_letter_queue.RETRIES_EXHAUSTED,
            f"not run again: attempt {entry.runs} of {max_attempts} did not return (its invocation timed out "
            "or crashed, or its outcome could not be recorded)",
            registered.name,
        )
        return self._dead_letter(raw, why, keys, invocation)

    def _backoff(self, registered: RegisteredTask, raw: Mapping[str, Any]) -> int:
        return visibility_delay(receive_count(raw), registered.backoff or self.config.backoff, self.rng)

    def _release(
        self,
        raw: Mapping[str, Any],
        delay: int,
        why: str,
        keys: dict[str, Any],
        invocation: _Invocation,
        error: Exception | None = None,
    ) -> None:
        """Hand the message back unrun, to come back after ``delay`` seconds (it costs a receive, no attempt)."""
        invocation.retry_delays[str(raw["messageId"])] = delay
        invocation.failed += 1
        extra: dict[str, Any] = {**keys, "outcome": RELEASED, "retry_in_seconds": delay}
        if error is not None:
            extra["error"] = _describe(error)
        logger.warning(why, extra=extra)
        raise NotRun(why)

    def _cannot_run(self, raw: Mapping[str, Any], invocation: _Invocation) -> None:
        """The worker cannot start: the task is held back for its backoff (a receive is not an attempt), or, on
        the last receive SQS allows, dead-lettered with the reason before SQS's redrive would move it without."""
        assert self.start_failure is not None
        count = receive_count(raw)
        keys: dict[str, Any] = {"message_id": str(raw["messageId"]), "receive_count": count}
        task: str | None = None
        # A malformed body is dead-lettered as worker_cannot_start too on its last receive: it was never run.
        with contextlib.suppress(MalformedMessage):
            task = keys["task"] = parse_body(raw.get("body")).task
        if self.config.max_receive_count is not None and count >= self.config.max_receive_count:
            why = DeadLetter(dead_letter_queue.WORKER_CANNOT_START, str(self.start_failure), task)
            return self._dead_letter(raw, why, keys, invocation)
        delay = visibility_delay(count, self.config.backoff, self.rng)
        return self._release(raw, delay, "not run: the worker cannot start; it will be retried", keys, invocation)

    def _dead_lettered_before(self, raw: Mapping[str, Any], keys: dict[str, Any], invocation: _Invocation) -> None:
        """Dead-lettered before, and back (its send failed, or its batch failed after it): never run it again;
        send its dead letter unless this environment saw that send go through."""
        why, sent = self._verdicts[str(raw["messageId"])]
        if sent:
            logger.warning("already dead-lettered; not run again", extra={**keys, "reason": why.reason})
            return
        self._dead_letter(raw, why, keys, invocation)

    def _failed(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        failure: Exception,
        attempt: int,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: _Invocation,
    ) -> None:
        message_id = str(raw["messageId"])
        count = receive_count(raw)
        if max_attempts is not None and attempt >= max_attempts:
            if self.ledger is not None:
                counted = f"attempt {attempt} of {max_attempts} failed (receive {count})"
            else:
                counted = f"failed on receive {count} of {max_attempts} (attempts counted by receives)"
            why = DeadLetter(dead_letter_queue.RETRIES_EXHAUSTED, f"{counted}: {_describe(failure)}", registered.name)
            return self._dead_letter(raw, why, keys, invocation)
        if isinstance(failure, Retry):
            delay = failure.delay_seconds
            self._remember_retry(message_id, delay, keys)
        else:
            delay = visibility_delay(attempt, registered.backoff or self.config.backoff, self.rng)
        invocation.retry_delays[message_id] = delay
        invocation.failed += 1
        invocation.metrics.count("TasksRetried", task=registered.name)
        logger.warning(
            "task failed; it will be retried",
            extra={**keys, "outcome": RETRIED, "error": _describe(failure), "retry_in_seconds": delay},
        )
        raise failure

    def _remember_retry(self, message_id: str, delay: int, keys: dict[str, Any]) -> None:
        """Keep the time a Retry asked for in the attempts table: the answer carrying the delay is lost if a
        later task of the batch kills the invocation, and the message then comes back sooner."""
        if self.ledger is None or delay <= 0:
            return
        try:
            self.ledger.remember_retry(message_id, delay)
        except Exception as error:
            logger.warning(
                "could not keep the retry's time in the attempts table; it holds only if this answer gets out",
                extra={**keys, "error": _describe(error)},
            )

    def _time_to_start(self, invocation: _Invocation) -> bool:
        remaining = invocation.remaining_seconds()
        if remaining is None:
            return True
        reserve = MIN_REMAINING_SECONDS_TO_START
        if self.config.apply_backoff:
            # Behind an event source mapping the worker sets the retry delays itself before answering.
            reserve += invocation.visibility_call_seconds * math.ceil(invocation.failed / SQS_MAX_BATCH_ENTRIES)
        return remaining >= reserve

    # -- the dead-letter queue ----------------------------------------------------------------

    def _dead_letter(
        self, raw: Mapping[str, Any], why: DeadLetter, keys: dict[str, Any], invocation: _Invocation
    ) -> None:
        """Send the record to the DLQ with its reason, trying smaller entries when SQS refuses one.

        A verdict on a task that ran is remembered first (in this environment, and in the attempts table
        where there is one): if the send fails, or a later task of the batch fails the whole invocation,
        the message comes back, and the task must not run again.
        """
        message_id = str(raw["messageId"])
        if why.reason in RAN_VERDICTS and message_id not in self._verdicts:
            self._remember(message_id, why, sent=False)
            if self.ledger is not None:
                try:
                    self.ledger.remember_verdict(message_id, why)
                except Exception as error:
                    logger.warning("could not remember the verdict", extra={**keys, "error": _describe(error)})
        sent: dead_letter_queue.DeadLetterEntry | None = None
        for entry in dead_letter_queue.entries(raw, why, self.config.dlq_url):
            try:
                self.sqs.send_message(**entry.arguments)
            except ClientError as error:
                if dead_letter_queue.entry_refused(error) and entry.carries_reason:
                    logger.warning(
                        "dead-letter entry refused; trying a smaller one", extra={**keys, "error": _describe(error)}
                    )
                    continue
                self._dead_letter_failed(message_id, why, error, keys)
                raise
            except Exception as error:
                self._dead_letter_failed(message_id, why, error, keys)
                raise
            sent = entry
            break
        assert sent is not None  # the last entry either went out or raised
        if message_id in self._verdicts:
            self._remember(message_id, why, sent=True)
            if self.ledger is not None and why.reason in RAN_VERDICTS:
                self._keep_verdict_sent(message_id, why, keys)
        invocation.metrics.count("TasksDeadLettered", task=why.task if why.task in self.registry else None)
        logger.error(
            "task sent to the dead-letter queue",
            extra={
                **keys,
                "outcome": DEAD_LETTERED,
                "reason": why.reason,
                "error": why.error,
                "dropped_attributes": list(sent.dropped_attributes) or None,
                "reason_in_attributes": sent.carries_reason,
            },
        )

    def _keep_verdict_sent(self, message_id: str, why: DeadLetter, keys: dict[str, Any]) -> None:
        """Write the verdict again, with the mark that its dead letter went out: should the message come back, it
        is deleted, not dead-lettered twice. Written whole, not the mark alone, so that a verdict whose write
        before the send failed gets a second chance: in this environment's memory only, it would be lost with
        the environment if the invocation died before answering, and the task would run again."""
        assert self.ledger is not None
        try:
            self.ledger.remember_verdict(message_id, why, sent=True)
        except Exception as error:
            logger.error(
                "could not record the verdict nor that its dead letter was sent: should the message come back to "
                "another execution environment, it is dead-lettered again, and if no write of its verdict took, "
                "the task runs again",
                extra={**keys, "reason": why.reason, "error": _describe(error)},
            )

    def _dead_letter_failed(self, message_id: str, why: DeadLetter, error: Exception, keys: dict[str, Any]) -> None:
        if message_id not in self._verdicts:
            self._remember(message_id, why, sent=False)
        logger.error(
            "could not send to the dead-letter queue; the message stays on the queue and its dead letter is "
            "sent again when it comes back, without running the task",
            extra={**keys, "reason": why.reason, "error": why.error, "send_error": _describe(error)},
        )

    def _remember(self, message_id: str, why: DeadLetter, sent: bool) -> None:
        self._verdicts[message_id] = (why, sent)
        self._verdicts.move_to_end(message_id)
        while len(self._verdicts) > REMEMBERED_VERDICTS:
            self._verdicts.popitem(last=False)

    # -- retries in event-source-mapping mode -------------------------------------------------

    def _apply_retry_delays(self, records: list[dict[str, Any]], invocation: _Invocation) -> None:
        """Hide failed records for their delay; with no consumer in front, nobody else would.

        Calls stop when the invocation runs short of time: a record left out comes back after the
        queue's visibility timeout instead, later than it asked, never earlier.
        """
        longest = (
            SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
            - LONGEST_BATCHING_WINDOW_SECONDS
            - (time.monotonic() - invocation.started)
        )
        entries = [
            {
                "Id": str(index),
                "ReceiptHandle": record["receiptHandle"],
                "VisibilityTimeout": max(0, min(invocation.retry_delays[record["messageId"]], int(longest))),
            }
            for index, record in enumerate(records)
            if record["messageId"] in invocation.retry_delays
        ]
        for start in range(0, len(entries), SQS_MAX_BATCH_ENTRIES):
            remaining = invocation.remaining_seconds()
            if remaining is not None and remaining < invocation.visibility_call_seconds + SETTLE_FINAL_MARGIN_SECONDS:
                logger.warning(
                    "retry delays not set: too little time left; those messages come back after the queue's "
                    "visibility timeout",
                    extra={"messages": len(entries) - start},
                )
                return
            called = time.monotonic()
            batch_call(
                self.sqs.change_message_visibility_batch,
                str(self.config.queue_url),
                entries[start : start + SQS_MAX_BATCH_ENTRIES],
                on_failure=lambda failure: logger.warning(
                    "could not set a retry delay; the message comes back after the queue's visibility timeout",
                    extra={"code": failure.code, "error": failure.message},
                ),
            )
            invocation.visibility_call_seconds = max(
                time.monotonic() - called, invocation.visibility_call_seconds * 0.8
            )


def _longest_run_seconds(invocation: _Invocation) -> int | None:
    """How long a run started in another invocation of this function can still last: at most its timeout,
    which this invocation had when it started (None without a context)."""
    if invocation.timeout_seconds is None:
        return None
    return math.ceil(invocation.timeout_seconds) + 1


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


def _cannot_start(what: str, error: BaseException) -> WorkerCannotStart:
    """The start failure, with the cause's traceback in its message: Lambda's error and the consumer's log
    line then show where the task module failed, not only that it did."""
    trace = "".join(traceback.format_exception(error)).rstrip()
    failure = WorkerCannotStart(f"{what}: {_describe(error)}\n{trace}")
    failure.__cause__ = error
    return failure


def _config_and_sqs() -> tuple[WorkerConfig, Any]:
    """Not cached on its own: the worker that was built from it is (a worker that cannot start builds it again)."""
    try:
        config = WorkerConfig.from_env()
    except ConfigError as error:
        raise _cannot_start("bad configuration", error) from error
    return config, boto3.client("sqs", config=Config(retries={"mode": "standard"}))


@functools.cache
def _worker() -> Worker:
    """Built once per execution environment. One that cannot start is not cached: each invocation tries again."""
    config, sqs = _config_and_sqs()
    try:
        import_task_modules(config.task_modules, config.max_receive_count)
        idempotency = None
        if config.idempotency_table:
            # Imported only where configured: Powertools' idempotency utility costs a cold start time.
            from taskqueue.idempotency import IdempotentRunner  # noqa: PLC0415

            idempotency = IdempotentRunner(config.idempotency_table, config.idempotency_ttl_seconds)
        ledger = AttemptLedger(config.attempts_table) if config.attempts_table else None
    except Exception as error:
        raise _cannot_start(f"the task modules TASKQUEUE_TASKS={','.join(config.task_modules)!r}", error) from error
    logger.debug(WORKER_STARTED_MESSAGE, extra={"tasks": default_registry.names()})
    return Worker(config, sqs, default_registry, idempotency, ledger)


def _worker_that_cannot_start(failure: WorkerCannotStart, metrics: MetricsLine) -> Worker:
    """A worker that runs no task, for a batch that arrived while the worker cannot start."""
    try:
        config, sqs = _config_and_sqs()
    except WorkerCannotStart as bad_configuration:
        metrics.count("WorkerStartFailed")
        logger.error(WORKER_CANNOT_START_MESSAGE, extra={"error": str(bad_configuration)})
        raise
    return Worker(config, sqs, TaskRegistry(), start_failure=failure)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.bind(context)
    metrics = MetricsLine(service_name("worker"))
    try:
        try:
            worker = _worker()
        except WorkerCannotStart as failure:
            worker = _worker_that_cannot_start(failure, metrics)
        return worker.handle(event, context, metrics)
    finally:
        # The batch's one line: its metrics (EMF), whose counts per task are its summary. Successes are
        # counted there, not logged one by one.
        metrics.flush(BATCH_SUMMARY)


__all__ = ["NotRun", "OutOfTime", "Worker", "WorkerCannotStart", "handler"]
