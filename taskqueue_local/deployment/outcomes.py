"""How tasks ended, from what the runtime reports: the worker's answers, its log records and the dead-letter queue.

The local Lambda records each invocation of the worker (``taskqueue_local.infrastructure.invocations``): the
batch it was given and the worker's answer, whose ``batchItemFailures`` name the messages that go back to
the queue; every other message of an answered batch is done. Done is success unless the worker's log
record for it says it was dead-lettered (``taskqueue.observability``: the ``outcome`` field, written at
INFO and above, as in production), and a run that failed has a record with outcome ``retried``. No
line per success is needed, so nothing here depends on the DEBUG level. A dead letter carries the
worker's reason attribute; one without it was moved there by SQS's redrive. Starts held back by a flow limit
are counted per task from the worker's metric lines (``TasksHeldBack``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskqueue import observability as fields
from taskqueue.dead_letter_queue import SOURCE_MESSAGE_ID_ATTRIBUTE
from taskqueue.errors import MalformedMessage
from taskqueue.message import parse_body
from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.operations.dlq_scan import DlqScan
from taskqueue.sqs_event import receive_count
from taskqueue_local.infrastructure.event_source_mapping import reported_failures
from taskqueue_local.infrastructure.invocations import InvocationJournal, InvocationRecord, journal_path


@dataclass
class Outcomes:
    """Per SQS message id: whether a run of its task succeeded, whether one was retried, and how long after
    its enqueue the invocation that succeeded started; first-attempt queue times (ms)."""

    succeeded: set[str] = field(default_factory=set)
    retried: set[str] = field(default_factory=set)
    # Enqueue to the start of the invocation of each first receive the worker answered for.
    first_attempt_queue_ms: list[float] = field(default_factory=list)
    succeeded_queue_ms: dict[str, float] = field(default_factory=dict)  # from the enqueue to the run that succeeded
    # Successful runs per task id: how tasks whose messages a scenario never saw sent (scheduled and
    # periodic ones) are followed.
    runs: Counter[str] = field(default_factory=Counter)
    # Starts held back by a flow limit per task name (released unrun, no attempt used): the worker's
    # TasksHeldBack counts in its metric lines.
    held_back: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class WorkerMark:
    """Where the worker's log and invocation journal ended at some moment: read only what comes after."""

    log: int = 0
    invocations: int = 0


@dataclass(frozen=True)
class WorkerLog:
    """The worker's log as the local Lambda writes it (the function's output and its REPORT lines), and the
    local Lambda's records of the worker's invocations (beside it, ``<function>.invocations.jsonl``)."""

    path: Path

    @property
    def invocations(self) -> InvocationJournal:
        return InvocationJournal(journal_path(self.path.parent, self.path.stem))

    def mark(self) -> WorkerMark:
        """A mark to read only what comes after now."""
        return WorkerMark(self.path.stat().st_size if self.path.exists() else 0, self.invocations.size())

    def documents(self, since: int = 0) -> Iterator[dict[str, Any]]:
        """The structured records (JSON lines) written past ``since`` bytes; REPORT and other text lines skipped."""
        if not self.path.exists():
            return
        with self.path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def outcomes(self, since: WorkerMark = WorkerMark()) -> Outcomes:
        # The journal first: an invocation's record is appended after its log lines are written, so every
        # invocation read here has its log records in the read that follows.
        invocations = self.invocations.records(since.invocations)
        return outcomes_of(invocations, list(self.documents(since.log)))

    def task_runs(self, since: WorkerMark = WorkerMark()) -> Counter[str]:
        """Successful runs per task id (see ``Outcomes.runs``)."""
        return self.outcomes(since).runs

    def queue_times(self, since: WorkerMark = WorkerMark()) -> list[float]:
        """Every task's enqueue-to-start time (ms), from the batches' metric lines (``TaskQueueTime``)."""
        return [
            float(value) for document in self.documents(since.log) for value in document.get(fields.TASK_QUEUE_TIME, [])
        ]


def outcomes_of(invocations: Iterable[InvocationRecord], log_records: Iterable[dict[str, Any]]) -> Outcomes:
    """What became of each message the worker was invoked with: its answers, told apart by its log records."""
    found = Outcomes()
    dead_lettered: set[str] = set()
    for document in log_records:
        held_back, task = document.get(fields.TASKS_HELD_BACK), document.get(fields.TASK)
        if isinstance(held_back, int) and task is not None:
            found.held_back[str(task)] += held_back
        message_id, outcome = document.get(fields.MESSAGE_ID), document.get(fields.OUTCOME)
        if not message_id:
            continue
        if outcome == fields.DEAD_LETTERED:
            dead_lettered.add(str(message_id))
        elif outcome == fields.RETRIED:
            found.retried.add(str(message_id))
    for invocation in invocations:
        if invocation.invocation.throttled or invocation.invocation.function_error:
            continue  # it answered for none of its messages: they all come back
        records = invocation.records()
        batch = {str(record.get("messageId")) for record in records}
        failed = reported_failures(invocation.invocation.payload, batch)
        for record in records:
            message_id = str(record.get("messageId"))
            queued_ms = _queued_ms(record, invocation.invocation.started_ms)
            if queued_ms is not None and receive_count(record) == 1:
                found.first_attempt_queue_ms.append(queued_ms)
            if failed is None or message_id in failed or message_id in dead_lettered:
                continue
            found.succeeded.add(message_id)
            if queued_ms is not None:
                found.succeeded_queue_ms[message_id] = queued_ms
            task_id = _task_id(record)
            if task_id is not None:
                found.runs[task_id] += 1
    return found


def _queued_ms(record: dict[str, Any], started_ms: int) -> float | None:
    """From the message's enqueue (``SentTimestamp``) to the start of the invocation that received it."""
    try:
        sent = int(record.get("attributes", {})["SentTimestamp"])
    except (KeyError, TypeError, ValueError):
        return None
    return float(max(0, started_ms - sent))


def _task_id(record: dict[str, Any]) -> str | None:
    try:
        return parse_body(record.get("body")).id
    except MalformedMessage:
        return None


def read_dead_letters(sqs: Any, dlq_url: str) -> list[DlqMessage]:
    """Every message in the DLQ, read once with the triage's scan, which makes each visible again when it
    ends: ``dlq list`` after a scenario still shows them."""
    with DlqScan(sqs, dlq_url) as scan:
        return [message for batch in scan.batches() for message in batch]


def dead_letters(sqs: Any, dlq_url: str) -> dict[str, str]:
    """Source message id -> reason, for every message in the DLQ (REDRIVE: moved by SQS's redrive)."""
    found: dict[str, str] = {}
    for message in read_dead_letters(sqs, dlq_url):
        source = message.message_attributes.get(SOURCE_MESSAGE_ID_ATTRIBUTE, {})
        found[str(source.get("StringValue", message.message_id))] = message.reason
    return found
