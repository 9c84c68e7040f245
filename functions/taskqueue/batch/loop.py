"""The batch loop: the worker takes Lambda's native SQS event and answers with the native partial-batch
response, so it runs the same behind the scheduled consumer and behind an SQS event source mapping.

Per record, in order (docs/reliability.md, "Guarantees"):

1. FIFO: after a failure, the rest of its group waits, unrun (:mod:`.fifo`);
2. a malformed body or an unknown task is dead-lettered at once (:mod:`.dead_letters`);
3. a message dead-lettered before is never run again: its dead letter is sent again if need be;
4. without the attempts table, a receive past ``max_attempts`` is an attempt that did not return:
   dead-lettered unrun;
5. with too little time left in the invocation, the task is not started (:mod:`.budget`, :mod:`.release`);
6. else one attempt (:mod:`.attempt`): its flow limits checked (:mod:`taskqueue.flow_control`: over one, it is
   released unrun, no attempt used), written ahead, then run; it succeeds, is retried after its delay,
   is dead-lettered (``PermanentError``, its last attempt), or, not called, is released with no attempt used.

Where the module tracks status (``track_status``), each step is written to the task's status
(:mod:`taskqueue.worker_status`, from :mod:`.attempt` and :mod:`.dead_letters`): running once its run is
recorded, retrying, succeeded (with its result, ``store_result``), dead-lettered once its dead letter went
out; a write that fails never fails the task.

A record that is not done is reported in ``batchItemFailures`` with its delay; behind an event source mapping
the worker sets the delays itself (:mod:`.visibility`). A worker that cannot start runs no task: it holds
each record back for its backoff and dead-letters one on its last receive (``worker_cannot_start``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskqueue import batch_response, concurrency, dead_letter_queue
from taskqueue.attempts import AttemptLedger
from taskqueue.backoff import visibility_delay
from taskqueue.batch import fifo, log, release
from taskqueue.batch.attempt import Attempts
from taskqueue.batch.budget import MIN_REMAINING_SECONDS_TO_START, SETTLE_FINAL_MARGIN_SECONDS, Invocation
from taskqueue.batch.dead_letters import DeadLetters
from taskqueue.batch.fifo import GroupGate
from taskqueue.batch.log import describe
from taskqueue.batch.overruns import HOLDS_LEAVE_SECONDS, OVERRAN_HOLD_SECONDS, OverrunHolds
from taskqueue.batch.visibility import set_retry_delays
from taskqueue.config import WorkerConfig
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.errors import MalformedMessage, UnknownTask, WorkerCannotStart
from taskqueue.message import TaskMessage, parse_body, task_identity
from taskqueue.metrics import MetricsLine
from taskqueue.observability import (
    ERROR,
    MESSAGE_ID,
    MESSAGES,
    OUTCOME,
    RECEIVE_COUNT,
    RETRIED,
    RETRY_IN_SECONDS,
    TASK,
    TASK_ID,
    TASKS_RETRIED,
    WORKER_START_FAILED,
)
from taskqueue.registry import RegisteredTask, TaskRegistry, default_registry
from taskqueue.sqs_event import message_group_id, receive_count
from taskqueue.telemetry import service_name

if TYPE_CHECKING:
    from taskqueue.flow_control.gate import FlowGate
    from taskqueue.idempotency import IdempotentRunner
    from taskqueue.worker_status import WorkerStatus

# The log line of a worker that cannot start (its ``error`` field carries the error and its traceback).
WORKER_CANNOT_START_MESSAGE = "worker cannot start"


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
        batch_runner: concurrency.BatchRunner | None = None,
        flow: FlowGate | None = None,
        task_status: WorkerStatus | None = None,
    ) -> None:
        """``start_failure``: the worker could not start; it runs no task (see the module's docstring).
        ``batch_runner``: runs a batch with async or threads=True tasks (taskqueue.concurrency).
        ``task_status``: where it writes each task's status (taskqueue.status), when the module tracks it."""
        self.config = config
        self.start_failure = start_failure
        self.sqs = sqs
        self.registry = registry
        self.idempotency = idempotency
        self.ledger = ledger
        self.rng = rng
        self.dead_letters = DeadLetters(sqs, config.dlq_url, ledger, registry, task_status)
        self.attempts = Attempts(config, self.dead_letters, idempotency, ledger, rng, flow, task_status)
        self.batch_runner: concurrency.BatchRunner = batch_runner or concurrency.ThreadedBatchRunner()
        self.task_slots = concurrency.TaskSlots()

    def prepare_concurrency(self) -> None:
        """Start the lane threads and the event loop once, as the worker is built, when a task may run beside
        others: as many threads as the worker's limit (``TASKQUEUE_TASK_CONCURRENCY``, which the module always
        sets; unset, a batch starts its own before its first lane), the loop when a task is ``async def``."""
        if self.start_failure is not None or not self.registry.any_concurrent():
            return
        lanes = min(self.config.task_concurrency or 0, concurrency.MAX_TASK_CONCURRENCY)
        self.batch_runner.prepare(lanes, any(task.is_async for task in self.registry.tasks()))

    def handle(self, event: Mapping[str, Any], context: Any, metrics: MetricsLine | None = None) -> dict[str, Any]:
        """Run a batch; ``metrics`` collects its metrics (the handler writes them once per invocation)."""
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise ValueError("the worker expects an SQS event: an object with a 'Records' list")
        behind_consumer = not self.config.behind_event_source_mapping
        if self.start_failure is not None:
            invocation_metrics = metrics if metrics is not None else MetricsLine(service_name("worker"))
            invocation_metrics.count(WORKER_START_FAILED)
            log.logger.error(
                WORKER_CANNOT_START_MESSAGE, extra={ERROR: str(self.start_failure), MESSAGES: len(records)}
            )
            if not records:
                raise self.start_failure  # a start probe: the failure is its answer
        if not records:
            return batch_response.encode([], {}, behind_consumer)
        if self.idempotency is not None and context is not None:
            self.idempotency.register_lambda_context(context)
        invocation = Invocation(context, metrics if metrics is not None else MetricsLine(service_name("worker")))
        groups = GroupGate(records)
        # Each body parsed once: for the lanes, then for its record's run.
        messages = [_parsed(record) for record in records] if self.start_failure is None else None
        # [concurrency hook] A batch with an async or threads=True task runs its lanes side by side.
        lanes = None if messages is None else self._concurrent_lanes(records, messages, groups.fifo)
        if lanes is not None and messages is not None:
            failed_ids = self._run_concurrently(records, messages, lanes, groups.fifo, invocation)
        else:
            failed_ids = self._run_in_order(records, messages, groups, invocation)
        if self.config.behind_event_source_mapping:
            # An event source mapping's batch is one queue's: with priorities, the one its records name.
            queue_url = self.config.queue_url_of(str(records[0].get("eventSourceARN", "")))
            set_retry_delays(self.sqs, str(queue_url), records, invocation)
        start_failure = None if self.start_failure is None else str(self.start_failure)
        delays = {
            message_id: invocation.retry_delays[message_id]
            for message_id in failed_ids
            if message_id in invocation.retry_delays
        }
        return batch_response.encode(failed_ids, delays, behind_consumer, start_failure)

    def _run_in_order(
        self,
        records: list[dict[str, Any]],
        messages: list[Parsed] | None,
        groups: GroupGate,
        invocation: Invocation,
    ) -> list[str]:
        """Settle the records one after the other; returns the ids of those that failed."""
        failed_ids: list[str] = []
        for index, record in enumerate(records):
            message = None if messages is None else messages[index]
            if self._settle(record, groups.blocked(record), invocation, message):
                failed_ids.append(str(record["messageId"]))
                groups.failed(record)
        return failed_ids

    def _settle(
        self, record: Mapping[str, Any], held_back: bool, invocation: Invocation, message: Parsed | None = None
    ) -> bool:
        """Settle one record (``message``: its body, parsed already); returns whether it failed (it is reported
        in batchItemFailures)."""
        if held_back:
            fifo.hold(record, invocation)
            return True
        try:
            if self.start_failure is None:
                self._process(record, invocation, message)
            else:
                self._cannot_run(record, invocation)
        except Exception:
            # A batch in which every task failed is still an answer, not a crash: worker errors
            # (and their alarm) mean the worker itself broke.
            return True
        return False

    # -- a concurrent batch (taskqueue.concurrency) -------------------------------------------

    def _concurrent_lanes(
        self, records: list[dict[str, Any]], messages: list[Parsed], is_fifo: bool
    ) -> list[list[int]] | None:
        """The batch's lanes when one of its tasks may run beside others (async def, threads=True), else None:
        on FIFO one lane per message group, elsewhere one per task identity (copies of a task never overlap)."""
        if not self.registry.any_concurrent() or not any(
            isinstance(message, TaskMessage)
            and (registered := self.registry.find(message.task)) is not None
            and registered.runs_concurrently
            for message in messages
        ):
            return None
        keys: list[object] = []
        for record, message in zip(records, messages, strict=True):
            if is_fifo:
                keys.append(message_group_id(record))
            elif isinstance(message, TaskMessage):
                keys.append(task_identity(message.task, message.id, str(record["messageId"])))
            else:
                keys.append(("message", str(record["messageId"])))
        return concurrency.lanes(keys)

    def _run_concurrently(
        self,
        records: list[dict[str, Any]],
        messages: list[Parsed],
        lanes: list[list[int]],
        is_fifo: bool,
        invocation: Invocation,
    ) -> list[str]:
        limit = min(self.config.task_concurrency or len(records), concurrency.MAX_TASK_CONCURRENCY)
        batch = self.batch_runner.start(lanes, limit, Deadlines(self.config, invocation))
        invocation.call_task = batch.call_task
        invocation.metrics.shared_between_threads()
        holds = OverrunHolds(self.ledger, invocation.admissions)

        def settle(index: int, held_back: bool) -> bool:
            failed = self._settle(records[index], held_back, invocation, messages[index])
            holds.ended(str(records[index]["messageId"]))  # from here on, no run of it holds its message
            return failed

        def on_invocation_thread(index: int) -> bool:
            message = messages[index]
            if not isinstance(message, TaskMessage):
                return False
            registered = self.registry.find(message.task)
            return registered is not None and not registered.runs_concurrently

        outcome = batch.run(settle, is_fifo, on_invocation_thread)
        invocation.close()
        running = [str(records[index]["messageId"]) for index in outcome.running]
        wait = invocation.seconds_left(HOLDS_LEAVE_SECONDS, self.config.behind_event_source_mapping)
        secured = holds.hold(running, lambda write: batch.beside(write, wait))
        for index in outcome.running:
            self._overran(records[index], invocation, str(records[index]["messageId"]) in secured)
        for index in outcome.not_started:
            release.not_started(records[index], invocation)
        failed = outcome.failed | set(outcome.running) | set(outcome.not_started)
        return [str(records[index]["messageId"]) for index in sorted(failed)]

    def _overran(self, raw: Mapping[str, Any], invocation: Invocation, held: bool) -> None:
        """Still under way when the answer had to go out: handled as a run cut off by a timeout. Its run was
        recorded before it started (it used an attempt); its message comes back after its backoff, and that
        receive decides, as after a timeout (on the last attempt: a run that may still go on, then one that did
        not return). Its lane keeps what the run holds (its key's slot, its lease extended as the answer goes out)
        until the run really ends, and the attempts table holds its message till then (:mod:`.overruns`), or, without
        it, its answer's delay: no run of it starts beside this one. Its status stays running: it is."""
        count = receive_count(raw)
        keys: dict[str, Any] = {MESSAGE_ID: str(raw["messageId"]), RECEIVE_COUNT: count}
        registered = None
        with contextlib.suppress(MalformedMessage, UnknownTask):
            registered = self.registry.get(parse_body(raw.get("body")).task)
            keys[TASK] = registered.name
        delay = (
            self.attempts.backoff(registered, raw)
            if registered is not None
            else visibility_delay(count, self.config.backoff, self.rng)
        )
        if not held:
            delay = max(delay, OVERRAN_HOLD_SECONDS)  # nothing in the table holds it: its answer's delay does
        invocation.retry_in(str(raw["messageId"]), delay)
        invocation.metrics.count(TASKS_RETRIED, task=None if registered is None else registered.name)
        overran = concurrency.TaskOverran("still running when the invocation had to answer")
        log.logger.warning(
            "still running when the invocation had to answer; handled as a timeout: it comes back after its backoff",
            extra={**keys, OUTCOME: RETRIED, ERROR: describe(overran), RETRY_IN_SECONDS: delay},
        )

    def _process(self, raw: Mapping[str, Any], invocation: Invocation, parsed: Parsed | None = None) -> None:
        """Run one record (``parsed``: its body, parsed already): it succeeds or is dead-lettered; raises when it
        is to be retried (the reason is logged)."""
        message_id = str(raw["messageId"])
        count = receive_count(raw)
        keys: dict[str, Any] = {MESSAGE_ID: message_id, RECEIVE_COUNT: count}
        try:
            message = _parsed(raw) if parsed is None else parsed
            if isinstance(message, MalformedMessage):
                raise message
        except MalformedMessage as error:
            why = DeadLetter(dead_letter_queue.MALFORMED, str(error), None, ran=False)
            return self.dead_letters.send(raw, why, keys, invocation)
        keys[TASK] = message.task
        if message.id is not None:
            keys[TASK_ID] = message.id
        try:
            registered = self.registry.get(message.task)
        except UnknownTask as error:
            why = DeadLetter(dead_letter_queue.UNKNOWN_TASK, str(error), message.task, ran=False)
            return self.dead_letters.send(raw, why, keys, invocation)

        if message_id in self.dead_letters:
            return self.dead_letters.again(raw, keys, invocation)
        max_attempts = registered.max_attempts or self.config.max_attempts or self.config.max_receive_count
        if self.ledger is None and max_attempts is not None and count > max_attempts:
            # Without the attempts table a receive is the record written ahead of a run: every receive before
            # this one may have run the task, and one that never returned (a timeout, a crash) reported nothing.
            why = DeadLetter(
                dead_letter_queue.RETRIES_EXHAUSTED,
                f"not run: received {count} times and max_attempts is {max_attempts} (attempts counted by receives); "
                "the last receive did not end the task: its run timed out or crashed its invocation, or it did not run",
                registered.name,
                ran=False,
            )
            return self.dead_letters.send(raw, why, keys, invocation)

        if registered.concurrency is None:
            return self._start(raw, registered, message, max_attempts, keys, invocation)
        # [concurrency hook] @task(concurrency=N): wait for one of the task's slots, at most until no time is left.
        with self.task_slots.hold(registered, Deadlines(self.config, invocation).seconds_to_cancel()):
            return self._start(raw, registered, message, max_attempts, keys, invocation)

    def _start(
        self,
        raw: Mapping[str, Any],
        registered: RegisteredTask,
        message: TaskMessage,
        max_attempts: int | None,
        keys: dict[str, Any],
        invocation: Invocation,
    ) -> None:
        """Start the attempt, if there is time left for it."""
        if not invocation.time_to_start(sets_retry_delays=self.config.behind_event_source_mapping):
            release.out_of_time(raw, message.task, keys, invocation)
        return self.attempts.attempt(raw, registered, message, max_attempts, keys, invocation)

    def _cannot_run(self, raw: Mapping[str, Any], invocation: Invocation) -> None:
        """The worker cannot start: the task is held back for its backoff (a receive is not an attempt), or, on
        the last receive SQS allows, dead-lettered with the reason before SQS's redrive would move it without."""
        assert self.start_failure is not None
        count = receive_count(raw)
        keys: dict[str, Any] = {MESSAGE_ID: str(raw["messageId"]), RECEIVE_COUNT: count}
        task: str | None = None
        # A malformed body is dead-lettered as worker_cannot_start too on its last receive: it was never run.
        with contextlib.suppress(MalformedMessage):
            message = parse_body(raw.get("body"))
            task = keys[TASK] = message.task
            if message.id is not None:  # the task's identity: its log line and its status name it
                keys[TASK_ID] = message.id
        if self.config.max_receive_count is not None and count >= self.config.max_receive_count:
            why = DeadLetter(dead_letter_queue.WORKER_CANNOT_START, str(self.start_failure), task, ran=False)
            return self.dead_letters.send(raw, why, keys, invocation)
        delay = visibility_delay(count, self.config.backoff, self.rng)
        release.release(raw, delay, "not run: the worker cannot start; it will be retried", keys, invocation)


# A record's body: the task message, or why it is not one.
Parsed = TaskMessage | MalformedMessage


def _parsed(record: Mapping[str, Any]) -> Parsed:
    try:
        return parse_body(record.get("body"))
    except MalformedMessage as error:
        return error


@dataclass
class Deadlines:
    """A concurrent batch's deadlines (taskqueue.concurrency.Deadlines), from the worker's time reserves."""

    config: WorkerConfig
    invocation: Invocation

    def seconds_to_cancel(self) -> float | None:
        return self.invocation.seconds_left(MIN_REMAINING_SECONDS_TO_START, self.config.behind_event_source_mapping)

    def seconds_to_answer(self) -> float | None:
        return self.invocation.seconds_left(SETTLE_FINAL_MARGIN_SECONDS, self.config.behind_event_source_mapping)
