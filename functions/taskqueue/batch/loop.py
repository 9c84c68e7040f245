"""The batch loop: the worker takes Lambda's native SQS event and answers with the native partial-batch
response, so it runs the same behind the scheduled consumer and behind an SQS event source mapping.

Per record, in order (docs/reliability.md, "Guarantees"):

1. FIFO: after a failure, the rest of its group waits, unrun (:mod:`.fifo`);
2. a malformed body or an unknown task is dead-lettered at once (:mod:`.dead_letters`);
3. a message dead-lettered before is never run again: its dead letter is sent again if need be;
4. without the attempts table, a receive past ``max_attempts`` is an attempt that did not return:
   dead-lettered unrun;
5. with too little time left in the invocation, the task is not started (:mod:`.budget`, :mod:`.release`);
6. else one attempt (:mod:`.attempt`): written ahead, then run; it succeeds, is retried after its delay,
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
from typing import TYPE_CHECKING, Any

from taskqueue import batch_response, dead_letter_queue
from taskqueue.attempts import AttemptLedger
from taskqueue.backoff import visibility_delay
from taskqueue.batch import log, release
from taskqueue.batch.attempt import Attempts
from taskqueue.batch.budget import Invocation
from taskqueue.batch.dead_letters import DeadLetters
from taskqueue.batch.fifo import GroupGate
from taskqueue.batch.visibility import set_retry_delays
from taskqueue.config import WorkerConfig
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.errors import MalformedMessage, UnknownTask, WorkerCannotStart
from taskqueue.message import parse_body
from taskqueue.metrics import MetricsLine
from taskqueue.observability import ERROR, MESSAGE_ID, MESSAGES, RECEIVE_COUNT, TASK, TASK_ID, WORKER_START_FAILED
from taskqueue.registry import TaskRegistry, default_registry
from taskqueue.sqs_event import receive_count
from taskqueue.telemetry import service_name

if TYPE_CHECKING:
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
        task_status: WorkerStatus | None = None,
    ) -> None:
        """``start_failure``: the worker could not start; it runs no task (see the module's docstring).
        ``task_status``: where it writes each task's status (taskqueue.status), when the module tracks it."""
        self.config = config
        self.start_failure = start_failure
        self.sqs = sqs
        self.registry = registry
        self.idempotency = idempotency
        self.ledger = ledger
        self.rng = rng
        self.task_status = task_status
        self.dead_letters = DeadLetters(sqs, config.dlq_url, ledger, registry, task_status)
        self.attempts = Attempts(config, self.dead_letters, idempotency, ledger, rng, task_status)

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
        failed_ids: list[str] = []
        for record in records:
            if groups.hold_back(record, invocation):
                failed_ids.append(str(record["messageId"]))
                continue
            try:
                if self.start_failure is None:
                    self._process(record, invocation)
                else:
                    self._cannot_run(record, invocation)
            except Exception:
                # A batch in which every task failed is still an answer, not a crash: worker errors
                # (and their alarm) mean the worker itself broke.
                failed_ids.append(str(record["messageId"]))
                groups.failed(record)
        if self.config.behind_event_source_mapping:
            set_retry_delays(self.sqs, str(self.config.queue_url), records, invocation)
        start_failure = None if self.start_failure is None else str(self.start_failure)
        return batch_response.encode(failed_ids, invocation.retry_delays, behind_consumer, start_failure)

    def _process(self, raw: Mapping[str, Any], invocation: Invocation) -> None:
        """Run one record: it succeeds or is dead-lettered; raises when it is to be retried (the reason is logged)."""
        message_id = str(raw["messageId"])
        count = receive_count(raw)
        keys: dict[str, Any] = {MESSAGE_ID: message_id, RECEIVE_COUNT: count}
        try:
            message = parse_body(raw.get("body"))
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
