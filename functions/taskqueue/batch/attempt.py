"""One attempt of a task: recorded before the task is called (write-ahead), called inside the idempotency
layer where there is one, and what follows from it: done, retried after its delay, dead-lettered on a
``PermanentError`` or on its last attempt, or (the task not called) released by :mod:`.release`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskqueue import dead_letter_queue, status
from taskqueue.attempts import AttemptLedger
from taskqueue.backoff import visibility_delay
from taskqueue.batch import log, release
from taskqueue.batch.budget import Invocation, remaining_millis
from taskqueue.batch.dead_letters import DeadLetters
from taskqueue.batch.log import describe
from taskqueue.config import WorkerConfig
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.errors import PermanentError, Retry
from taskqueue.limits import LAMBDA_MAX_TIMEOUT_SECONDS
from taskqueue.message import TaskMessage, task_identity
from taskqueue.observability import (
    ATTEMPT,
    DURATION_MS,
    ERROR,
    OUTCOME,
    PAYLOAD,
    QUEUED_MS,
    RETRIED,
    RETRY_IN_SECONDS,
    STATUS,
    SUCCEEDED,
    TASK_DURATION,
    TASK_QUEUE_TIME,
    TASKS_RETRIED,
    TASKS_SUCCEEDED,
)
from taskqueue.registry import RegisteredTask, TaskContext
from taskqueue.sqs_event import message_group_id, receive_count

if TYPE_CHECKING:
    from taskqueue.flow_control.gate import Admission, FlowGate
    from taskqueue.idempotency import IdempotentRunner
    from taskqueue.worker_status import WorkerStatus


@dataclass
class _Run:
    """What became of one record's run: whether the task was called (its run recorded first), and what it raised."""

    started: bool = False
    attempt: int = 0
    error: Exception | None = None
    result: Any = None  # what the task returned (kept in its status with store_result)


@dataclass
class Attempts:
    """What an attempt needs of the worker: its settings, the layers around the task, and its dead letters."""

    config: WorkerConfig
    dead_letters: DeadLetters
    idempotency: IdempotentRunner | None
    ledger: AttemptLedger | None
    rng: Callable[[], float]
    # Rate limits and concurrency per key (taskqueue.flow_control); None: no task declares one.
    flow: FlowGate | None = None
    # Where each step is written to the task's status, when the module tracks it (taskqueue.worker_status).
    task_status: WorkerStatus | None = None

    def attempt(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: Invocation,
    ) -> None:
        """One attempt of the task and what follows from it (or, when it did not start, from why not)."""
        message_id = str(raw["messageId"])
        queued_ms = queued_millis(raw)
        if self.config.log_payload:
            log.logger.info("starting task", extra={**keys, PAYLOAD: message.payload})
        # Before the run is written ahead: a start over a flow limit is released unrun, no attempt used.
        admission = None
        if self.flow is not None and registered.flow is not None:
            admission = self.flow.admit(
                raw, registered, message, keys, invocation, lambda: self.backoff(registered, raw), self.dead_letters
            )
            if admission is None:
                return None  # settled by the gate (its key function failed on the payload: dead-lettered)
            if admission.lease is not None:
                invocation.admissions[message_id] = admission
        run = _Run()
        started = time.perf_counter()
        layer_error: Exception | None = None
        try:
            self._run(raw, registered, message, max_attempts, invocation, run, keys, admission)
        except Exception as error:
            layer_error = error
        finally:
            if admission is not None:
                admission.end()
                invocation.admissions.pop(message_id, None)
        if not run.started:
            if layer_error is None:  # the idempotency table says this task completed before: done
                self.status(keys, registered, status.SUCCEEDED)
                self._succeeded(registered, keys, invocation, queued_ms, started)
                return
            return release.not_called(
                raw,
                layer_error,
                lambda: self.backoff(registered, raw),
                max_attempts,
                registered.name,
                keys,
                invocation,
                self.dead_letters,
            )
        if run.error is None:
            if layer_error is not None:
                # The task returned; recording its completion failed. It ran: running it again is worse.
                log.logger.warning(
                    "task succeeded; its completion could not be recorded in the idempotency table",
                    extra={**keys, ERROR: describe(layer_error)},
                )
            if self.ledger is not None and max_attempts is not None and run.attempt >= max_attempts:
                self._mark_completed(message_id, keys)
            self._status_succeeded(registered, run, keys)
            self._succeeded(registered, keys, invocation, queued_ms, started)
            return
        failure = run.error
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        invocation.metrics.value(TASK_QUEUE_TIME, queued_ms)
        invocation.metrics.value(TASK_DURATION, duration_ms)
        keys.update({QUEUED_MS: queued_ms, DURATION_MS: duration_ms})
        if isinstance(failure, PermanentError):
            why = DeadLetter(dead_letter_queue.PERMANENT_ERROR, describe(failure), message.task, ran=True)
            return self.dead_letters.send(raw, why, keys, invocation)
        return self._failed(raw, registered, failure, run.attempt, max_attempts, keys, invocation)

    def backoff(self, registered: RegisteredTask, raw: Mapping[str, Any]) -> int:
        return visibility_delay(receive_count(raw), registered.backoff or self.config.backoff, self.rng)

    def _run(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        max_attempts: int | None,
        invocation: Invocation,
        run: _Run,
        keys: dict[str, Any],
        admission: Admission | None = None,
    ) -> None:
        """Record the run (write-ahead), then call the task, inside the idempotency layer where there is one.

        ``run`` says what happened: whether the task was called and what it raised. An exception raised
        with the task not called is the layer's or the table's (a copy in progress, a throttle, a refused
        run), never an attempt of the task.
        """
        message_id = str(raw["messageId"])
        count = receive_count(raw)

        def attempt() -> None:
            run.attempt = keys[ATTEMPT] = self._start_run(message_id, count, max_attempts, invocation)
            self.status(keys, registered, status.RUNNING, attempt=run.attempt, enqueued_at=sent_at(raw))
            task_context = TaskContext(
                task=message.task,
                message_id=message_id,
                receive_count=count,
                task_id=message.id,
                message_group_id=message_group_id(raw),
                attempt=run.attempt,
                get_remaining_time_in_millis=(lambda: remaining_millis(invocation.context) or 0),
            )
            if admission is not None:
                admission.wait_to_start()
            run.started = True
            try:
                if invocation.call_task is None:
                    run.result = registered.run(message.payload, task_context)
                else:
                    run.result = invocation.call_task(registered, message.payload, task_context)
            except Exception as error:
                run.error = error
                raise

        if self.idempotency is None:
            attempt()
            return
        self.idempotency.run(task_identity(message.task, message.id, message_id), attempt)

    def _start_run(self, message_id: str, count: int, max_attempts: int | None, invocation: Invocation) -> int:
        """This run's attempt number, recorded before it starts: runs so far + 1 where the attempts table keeps
        them (it raises ``RunRefused`` when none is owed), else the receive count (SQS recorded the receive)."""
        if self.ledger is None:
            return count
        seconds_left = invocation.remaining_seconds()
        return self.ledger.start_run(
            message_id, max_attempts, LAMBDA_MAX_TIMEOUT_SECONDS if seconds_left is None else seconds_left
        )

    def _succeeded(
        self, registered: RegisteredTask, keys: dict[str, Any], invocation: Invocation, queued_ms: int, started: float
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        metrics = invocation.metrics
        metrics.value(TASK_QUEUE_TIME, queued_ms)
        metrics.value(TASK_DURATION, duration_ms)
        metrics.count(TASKS_SUCCEEDED, task=registered.name)
        if log.logger.enabled_for(logging.DEBUG):  # a line per success only when asked for
            log.logger.debug(
                "task succeeded",
                extra={**keys, OUTCOME: SUCCEEDED, QUEUED_MS: queued_ms, DURATION_MS: duration_ms},
            )

    def status(self, keys: dict[str, Any], registered: RegisteredTask | None, state: str, **fields: Any) -> None:
        if self.task_status is not None:
            self.task_status.record(keys, registered, state, **fields)

    def _status_succeeded(self, registered: RegisteredTask, run: _Run, keys: dict[str, Any]) -> None:
        """Succeeded, with the result when the task keeps it; one too large (or not JSON) is not stored, and
        says so in the log and the status, while the task stays succeeded: it ran, and its effects are done."""
        if self.task_status is None or not self.task_status.tracks(registered):
            return None  # no status is kept for this task: nothing to encode its result for
        if not registered.store_result:
            return self.status(keys, registered, status.SUCCEEDED, attempt=run.attempt)
        result, refused = status.encode_result(registered.name, run.result)
        if refused is not None:
            log.logger.error(refused, extra={**keys, STATUS: status.SUCCEEDED, ERROR: refused})
        return self.status(keys, registered, status.SUCCEEDED, attempt=run.attempt, result=result, result_error=refused)

    def _mark_completed(self, message_id: str, keys: dict[str, Any]) -> None:
        """The last allowed run returned: should the message come back, it is done, not a run that never returned."""
        assert self.ledger is not None
        try:
            self.ledger.mark_completed(message_id)
        except Exception as error:
            log.logger.warning(
                "could not mark the last allowed run completed; should the message come back, it is dead-lettered "
                "as a run that did not return",
                extra={**keys, ERROR: describe(error)},
            )

    def _failed(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        failure: Exception,
        attempt: int,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: Invocation,
    ) -> None:
        message_id = str(raw["messageId"])
        count = receive_count(raw)
        if max_attempts is not None and attempt >= max_attempts:
            if self.ledger is not None:
                counted = f"attempt {attempt} of {max_attempts} failed (receive {count})"
            else:
                counted = f"failed on receive {count} of {max_attempts} (attempts counted by receives)"
            why = DeadLetter(
                dead_letter_queue.RETRIES_EXHAUSTED, f"{counted}: {describe(failure)}", registered.name, ran=True
            )
            return self.dead_letters.send(raw, why, keys, invocation)
        if isinstance(failure, Retry):
            delay = failure.delay_seconds
            self._remember_retry(message_id, delay, keys)
        else:
            delay = visibility_delay(attempt, registered.backoff or self.config.backoff, self.rng)
        invocation.retry_in(message_id, delay)
        self.status(keys, registered, status.RETRYING, attempt=attempt, retry_in_seconds=delay, error=describe(failure))
        invocation.metrics.count(TASKS_RETRIED, task=registered.name)
        log.logger.warning(
            "task failed; it will be retried",
            extra={**keys, OUTCOME: RETRIED, ERROR: describe(failure), RETRY_IN_SECONDS: delay},
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
            log.logger.warning(
                "could not keep the retry's time in the attempts table; it holds only if this answer gets out",
                extra={**keys, ERROR: describe(error)},
            )


def sent_at(record: Mapping[str, Any]) -> float | None:
    """When SQS took the message (SentTimestamp), epoch seconds; None without it."""
    try:
        return int(record.get("attributes", {})["SentTimestamp"]) / 1000
    except (KeyError, TypeError, ValueError):
        return None


def queued_millis(record: Mapping[str, Any]) -> int:
    """Time from enqueue (SentTimestamp) to this attempt's start; includes backoff for retries."""
    try:
        sent = int(record.get("attributes", {})["SentTimestamp"])
    except (KeyError, TypeError, ValueError):
        return 0
    return max(0, int(time.time() * 1000) - sent)
