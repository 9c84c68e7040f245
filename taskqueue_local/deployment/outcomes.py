"""How tasks ended, read from what the runtime writes: the worker's log and the dead-letter queue.

The worker gives each attempt's outcome a structured ``outcome`` field (``taskqueue.observability.SUCCEEDED``,
``RETRIED``; successes only at DEBUG level, which the local stack sets) and writes one metrics line per
batch whose ``TaskQueueTime`` values are its tasks' enqueue-to-start times. A dead letter carries the
worker's reason attribute; one without it was moved there by SQS's redrive.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskqueue.dead_letter_queue import SOURCE_MESSAGE_ID_ATTRIBUTE
from taskqueue.observability import RETRIED, SUCCEEDED
from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.operations.dlq_scan import DlqScan


@dataclass
class Outcomes:
    """Per SQS message id: whether a run of its task succeeded, whether one was retried, and how long after
    its enqueue the run that succeeded started; first-attempt queue times (ms)."""

    succeeded: set[str] = field(default_factory=set)
    retried: set[str] = field(default_factory=set)
    first_attempt_queue_ms: list[float] = field(default_factory=list)
    succeeded_queue_ms: dict[str, float] = field(default_factory=dict)  # from the enqueue to the run that succeeded
    # Successful runs per task id: how tasks whose messages a scenario never saw sent (scheduled and
    # periodic ones) are followed.
    runs: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class WorkerLog:
    """The worker's log as the local Lambda writes it (the function's output and its REPORT lines)."""

    path: Path

    def size(self) -> int:
        """Its length now: a mark to read only what comes after it."""
        return self.path.stat().st_size if self.path.exists() else 0

    def documents(self, since: int = 0) -> Iterator[dict[str, Any]]:
        """The JSON lines written past ``since`` bytes."""
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

    def outcomes(self, since: int = 0) -> Outcomes:
        found = Outcomes()
        for entry in self.documents(since):
            message_id, outcome = entry.get("message_id"), entry.get("outcome")
            if not message_id or outcome is None:
                continue
            if outcome == SUCCEEDED:
                found.succeeded.add(message_id)
                if entry.get("task_id"):
                    found.runs[str(entry["task_id"])] += 1
                if "queued_ms" in entry:
                    found.succeeded_queue_ms[message_id] = float(entry["queued_ms"])
            elif outcome == RETRIED:
                found.retried.add(message_id)
            if entry.get("receive_count") == 1 and "queued_ms" in entry:
                found.first_attempt_queue_ms.append(float(entry["queued_ms"]))
        return found

    def task_runs(self, since: int = 0) -> Counter[str]:
        """Successful runs per task id (see ``Outcomes.runs``)."""
        return self.outcomes(since).runs

    def queue_times(self, since: int = 0) -> list[float]:
        """Every task's enqueue-to-start time (ms), from the batches' metric lines (``TaskQueueTime``)."""
        return [float(value) for entry in self.documents(since) for value in entry.get("TaskQueueTime", [])]


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
