"""Moving every dead-lettered message back to its queue: SQS's move task, or a copy where there is none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.operations.queue_attributes import check_dead_letter_queue, queue_arn
from taskqueue.operations.redrive_journal import RedriveJournal, default_journal_path
from taskqueue.operations.triage import MessageResult, Selection, TriageReport, redrive_dead_letters

# Error codes of an SQS endpoint that lacks StartMessageMoveTask.
_UNSUPPORTED = {
    "UnsupportedOperation",
    "InvalidAction",
    "NotImplemented",
    "AWS.SimpleQueueService.UnsupportedOperation",
}


@dataclass(frozen=True)
class RedriveResult:
    method: str  # "move-task" (SQS moves the messages itself) or "copy" (moved here, one by one)
    moved: int | None = None
    task_handle: str | None = None


class RedriveIncomplete(Exception):
    """The copy stopped before the DLQ was empty; ``result`` says what was moved, the rest is back in the DLQ."""

    def __init__(self, result: RedriveResult, report: TriageReport) -> None:
        self.result = result
        self.report = report
        why = report.error or f"{report.failed} messages could not be moved"
        super().__init__(f"moved {result.moved}, then stopped: {why}; the rest is back in the DLQ: rerun to continue")


class _Quiet:
    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        """The result says how many moved."""

    def progress(self, report: TriageReport) -> None:
        """No progress output: the command prints its result at the end."""


def redrive(
    sqs: Any,
    queue_url: str,
    dlq_url: str,
    max_per_second: int | None = None,
    force_copy: bool = False,
    journal_path: Path | None = None,
) -> RedriveResult:
    """Move every message of the DLQ back to the queue: SQS's move task where available, else a copy.

    Refuses a DLQ that is not the queue's own. Raises :class:`RedriveIncomplete` if the copy stops early.
    """
    dlq_arn = check_dead_letter_queue(sqs, queue_url, dlq_url)
    if not force_copy:
        arguments: dict[str, Any] = {"SourceArn": dlq_arn, "DestinationArn": queue_arn(sqs, queue_url)}
        if max_per_second:
            arguments["MaxNumberOfMessagesPerSecond"] = max_per_second
        try:
            response = sqs.start_message_move_task(**arguments)
            return RedriveResult("move-task", task_handle=response.get("TaskHandle"))
        except ClientError as error:
            # Endpoints without move tasks (older regions, emulators) refuse or fail on the call;
            # copying is slower but just as safe, so fall back rather than leave the DLQ full.
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if error.response.get("Error", {}).get("Code") not in _UNSUPPORTED and status < 500:
                raise
    # The copy is the selective redrive with nothing left out: chunked sends, delete after send, the journal.
    with RedriveJournal(journal_path or default_journal_path(), dlq_arn) as journal:
        report = redrive_dead_letters(sqs, dlq_url, queue_url, Selection(), journal, _Quiet())
    result = RedriveResult("copy", moved=report.moved)
    if not report.succeeded:
        raise RedriveIncomplete(result, report)
    return result
