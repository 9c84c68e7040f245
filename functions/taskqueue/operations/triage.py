"""Dead-letter triage: list, redrive and purge the DLQ's messages that match a selection.

Each operation is one scan of the DLQ (taskqueue.operations.dlq_scan) that handles each receive's matching
messages at once and keeps nothing else in memory: tens of thousands of dead letters go through in
batches of 10, sent in chunks within SQS's 10 entries and 1 MiB (taskqueue.sqs_batch).

A redrive deletes a message from the DLQ only after SQS accepted its copy; the journal
(taskqueue.operations.redrive_journal) makes a rerun after a stop between the two delete without sending
again. An SQS error stops the run: what was done so far is in the report, everything not taken is
released, and a rerun continues where it stopped. Any other failure (a bug, an output that cannot be
written) does the same: the run stops with the error in its report, never midway without a summary.

Each operation first checks that the queue it is given is a dead-letter queue
(:func:`~taskqueue.operations.queue_attributes.check_is_dead_letter_queue`) and receives nothing from
any other: an operator command never deletes or moves a message it did not select from a dead-letter queue.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from taskqueue import sqs_batch
from taskqueue.errors import MalformedMessage
from taskqueue.message import parse_body
from taskqueue.operations.dlq_message import KNOWN_REASONS, DlqMessage
from taskqueue.operations.dlq_scan import DlqScan, ScanSettings
from taskqueue.operations.queue_attributes import check_is_dead_letter_queue, is_fifo, queue_depths
from taskqueue.operations.redrive_journal import SENDING, SENT, RedriveJournal
from taskqueue.producer_status import ProducerStatus

# Distinct reasons and tasks a report counts by name; the rest are counted together.
TALLY_NAMES = 50
OTHER = "(other)"
NO_TASK = "(none)"


class MessageResult(enum.StrEnum):
    """What a triage command did with one dead letter (the ``outcome`` field of its JSON line)."""

    LISTED = "listed"
    WOULD_MOVE = "would_move"
    MOVED = "moved"
    DELETED = "deleted"
    SEND_FAILED = "send_failed"  # still in the DLQ
    DELETE_FAILED = "delete_failed"  # in the queue, and still in the DLQ until a rerun deletes it
    HELD_BACK = "held_back"  # FIFO: an earlier message of its group could not be sent


@dataclass(frozen=True)
class Selection:
    """Which dead letters an operation takes: every filter given must match; values of one filter are alternatives."""

    reasons: frozenset[str] = frozenset()
    tasks: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()
    since: datetime | None = None  # first enqueued at or after
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")

    @property
    def filters(self) -> bool:
        return bool(self.reasons or self.tasks or self.message_ids or self.since)

    def matches(self, dlq_message: DlqMessage) -> bool:
        if self.reasons and dlq_message.reason not in self.reasons:
            return False
        if self.tasks and dlq_message.task not in self.tasks:
            return False
        if self.message_ids and dlq_message.message_id not in self.message_ids:
            return False
        enqueued = dlq_message.first_enqueued
        return self.since is None or (enqueued is not None and enqueued >= self.since)

    def describe(self) -> str:
        parts = [f"--reason {r}" for r in sorted(self.reasons)] + [f"--task {t}" for t in sorted(self.tasks)]
        parts += [f"--message-id {m}" for m in sorted(self.message_ids)]
        if self.since:
            parts.append(f"--since {self.since.isoformat(timespec='seconds')}")
        return " ".join(parts) or "(everything)"


@dataclass
class Tally:
    """Counts by name, for at most ``TALLY_NAMES`` names (a DLQ may hold any number of task names)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        key = name if name in self.counts or len(self.counts) < TALLY_NAMES else OTHER
        self.counts[key] = self.counts.get(key, 0) + 1

    def describe(self) -> str:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{name} ({count})" for name, count in ranked) or "none"


@dataclass
class TriageReport:
    """What one run did, filled in as it goes: complete even when the run stops midway."""

    command: str
    dlq_url: str
    destination_url: str | None = None
    dry_run: bool = False
    visible_at_start: int = 0
    in_flight_at_start: int = 0
    scanned: int = 0
    matched: int = 0
    moved: int = 0  # out of the DLQ into the queue in this run
    finished_earlier: int = 0  # of moved: sent by an earlier run that stopped before deleting
    possibly_duplicated: int = 0  # sent again: an earlier run stopped before SQS confirmed its send
    would_move: int = 0
    deleted: int = 0
    failed: int = 0
    held_back: int = 0
    released: int = 0
    not_released: int = 0
    leases_lapsed: int = 0  # messages that came back after their lease lapsed: held again, read once
    unread: int = 0  # visible at the start, never read: the run is no success
    out_of_reach: int = 0  # FIFO: left visible at the end behind held messages of their group (see dlq_scan)
    error: str | None = None
    reasons_seen: Tally = field(default_factory=Tally)
    tasks_seen: Tally = field(default_factory=Tally)
    notes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.failed == 0 and self.unread == 0

    def as_dict(self) -> dict[str, Any]:
        fields = {name: value for name, value in vars(self).items() if not isinstance(value, Tally)}
        return {
            **fields,
            "reasons_seen": self.reasons_seen.counts,
            "tasks_seen": self.tasks_seen.counts,
        }


class TriageListener(Protocol):
    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None: ...

    def progress(self, report: TriageReport) -> None: ...


class _Stopped(Exception):
    """A batch call failed as a whole: SQS is not answering, so the run stops after this batch."""


class _Recorded:
    """A boto3 batch method that remembers a call that raised, and the entries SQS may have taken anyway.

    A 4xx answer is SQS refusing the request: nothing was done. Anything else (5xx, a connection
    reset, a read timeout) may have been done, and nobody heard.
    """

    def __init__(self, operation: Callable[..., Any]) -> None:
        self.operation = operation
        self.unanswered: set[str] = set()
        self.error: Exception | None = None

    def __call__(self, **arguments: Any) -> dict[str, Any]:
        try:
            return dict(self.operation(**arguments))
        except Exception as error:
            self.error = self.error or error
            status = (
                error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if isinstance(error, ClientError)
                else 0
            )
            if not 400 <= status < 500:
                self.unanswered.update(str(entry["Id"]) for entry in arguments["Entries"])
            raise


BatchHandler = Callable[[DlqScan, list[DlqMessage]], None]


def _run(
    sqs: Any,
    report: TriageReport,
    selection: Selection,
    listener: TriageListener,
    settings: ScanSettings | None,
    handle: BatchHandler,
    schedule_dead_letter_arn: str | None = None,
) -> TriageReport:
    settings = settings or ScanSettings()
    check_is_dead_letter_queue(
        sqs, report.dlq_url, queue_url=report.destination_url, schedule_dead_letter_arn=schedule_dead_letter_arn
    )
    depths = queue_depths(sqs, report.dlq_url)
    report.visible_at_start = depths["ApproximateNumberOfMessages"]
    report.in_flight_at_start = depths["ApproximateNumberOfMessagesNotVisible"]
    scan = DlqScan(sqs, report.dlq_url, settings)
    with scan:
        try:
            for batch in scan.batches():
                picked = _pick(report, selection, batch)
                if picked:
                    handle(scan, picked)
                listener.progress(report)
                if selection.limit is not None and report.matched >= selection.limit:
                    break
        except Exception as error:  # SQS's or any other: the report says what was done, the scan releases the rest
            report.error = _describe(error)
    report.leases_lapsed = scan.lapsed
    report.out_of_reach = scan.out_of_reach
    release = scan.release
    if release is not None:
        report.released, report.not_released = release.released, release.failed
        if release.failed:
            report.notes.append(
                f"{release.failed} messages could not be released ({release.first_error}); "
                f"they come back by themselves within {settings.lease_seconds} s"
            )
    _add_notes(report, selection)
    return report


def _pick(report: TriageReport, selection: Selection, batch: list[DlqMessage]) -> list[DlqMessage]:
    picked = []
    for dlq_message in batch:
        report.scanned += 1
        report.reasons_seen.add(dlq_message.reason)
        report.tasks_seen.add(dlq_message.task or NO_TASK)
        if selection.limit is not None and report.matched >= selection.limit:
            continue
        if selection.matches(dlq_message):
            report.matched += 1
            picked.append(dlq_message)
    return picked


def _describe(error: BaseException) -> str:
    if isinstance(error, _Stopped):
        return str(error)
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{error.operation_name}: {details.get('Code', '?')}: {details.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


def _add_notes(report: TriageReport, selection: Selection) -> None:
    if report.matched == 0 and selection.filters and report.error is None:
        report.notes.append(
            f"nothing matched {selection.describe()} among {report.scanned} dead letters; "
            f"reasons seen: {report.reasons_seen.describe()}; tasks seen: {report.tasks_seen.describe()}"
        )
    unknown = sorted(selection.reasons - set(KNOWN_REASONS))
    if unknown:
        report.notes.append(
            f"{', '.join(map(repr, unknown))}: not a reason the worker or SQS gives (known: {', '.join(KNOWN_REASONS)})"
        )
    reached_limit = selection.limit is not None and report.matched >= selection.limit
    if report.error is None and not reached_limit:
        # A scan reads on past its own lapsed leases, so what it missed is out of its reach: not a success.
        # Both counts: dead letters that arrive during the run make up the first; FIFO's second is counted
        # at the end, behind the groups held (see dlq_scan).
        report.unread = max(report.visible_at_start - report.scanned, report.out_of_reach, 0)
    if report.unread and report.out_of_reach:
        report.notes.append(
            f"read {report.scanned} messages; about {report.out_of_reach} more stayed out of reach: a FIFO DLQ "
            "delivers no more of a message group while earlier messages of it are held (by this run, which took "
            "none of them, or by another reader) and from the group's head again once they are back, so a rerun "
            "reads the same first messages of each group; the later ones come within reach once the earlier ones "
            "are redriven or purged (dlq redrive, dlq purge --message-id)"
        )
    elif report.unread:
        report.notes.append(
            f"read {report.scanned} of about {report.visible_at_start} messages: another reader held the others, "
            "or they were deleted meanwhile; rerun to read the rest"
        )
    if report.leases_lapsed:
        report.notes.append(
            f"{report.leases_lapsed} messages came back after their lease lapsed; held again and read once"
        )
    if report.in_flight_at_start:
        report.notes.append(
            f"{report.in_flight_at_start} messages were in flight at the start (another reader, or a run that "
            "stopped: they come back when its lease ends) and were not read"
        )
    if report.possibly_duplicated:
        report.notes.append(
            f"{report.possibly_duplicated} messages were sent again: an earlier run stopped before SQS confirmed "
            "their send, so the queue may hold them twice"
            + (" (FIFO deduplication catches that within 5 minutes)" if is_fifo(report.dlq_url) else "")
        )
    if report.error is not None:
        report.notes.append("stopped early; what is left is back in the DLQ: rerun to continue")


def list_dead_letters(
    sqs: Any,
    dlq_url: str,
    selection: Selection,
    listener: TriageListener,
    settings: ScanSettings | None = None,
    *,
    schedule_dead_letter_arn: str | None = None,
) -> TriageReport:
    """Read the matching dead letters; every message read is put back when the run ends.

    ``schedule_dead_letter_arn``: the schedules' own dead-letter queue, which no redrive policy names."""
    report = TriageReport("list", dlq_url)

    def show(scan: DlqScan, picked: list[DlqMessage]) -> None:
        for dlq_message in picked:
            listener.message(dlq_message, MessageResult.LISTED)

    return _run(sqs, report, selection, listener, settings, show, schedule_dead_letter_arn)


def purge_dead_letters(
    sqs: Any,
    dlq_url: str,
    selection: Selection,
    listener: TriageListener,
    settings: ScanSettings | None = None,
    *,
    schedule_dead_letter_arn: str | None = None,
) -> TriageReport:
    """Delete the matching dead letters, and only those."""
    if not selection.filters:
        raise ValueError("purge needs a filter (--reason, --task, --message-id or --since)")
    report = TriageReport("purge", dlq_url)

    def delete(scan: DlqScan, picked: list[DlqMessage]) -> None:
        deleted, failures, error = _delete(sqs, scan, picked)
        for dlq_message in deleted:
            report.deleted += 1
            listener.message(dlq_message, MessageResult.DELETED)
        for dlq_message, failure in failures:
            report.failed += 1
            listener.message(dlq_message, MessageResult.DELETE_FAILED, failure)
        if error is not None:
            raise _Stopped(_describe(error))

    return _run(sqs, report, selection, listener, settings, delete, schedule_dead_letter_arn)


def _delete(
    sqs: Any, scan: DlqScan, dlq_messages: list[DlqMessage]
) -> tuple[list[DlqMessage], list[tuple[DlqMessage, str]], Exception | None]:
    """Delete from the DLQ: the deleted, the others with why, and the error of a call that got no answer."""
    delete = _Recorded(sqs.delete_message_batch)
    entries = [{"Id": str(i), "ReceiptHandle": d.receipt_handle} for i, d in enumerate(dlq_messages)]
    outcome = sqs_batch.call_in_batches(delete, scan.dlq_url, entries)
    deleted = [dlq_messages[int(i)] for i in sorted(outcome.successful, key=int)]
    scan.mark_deleted([d.message_id for d in deleted])
    failures = [(dlq_messages[int(i)], f"{f.code}: {f.message}") for i, f in sorted(outcome.failed.items())]
    return deleted, failures, delete.error


def redrive_deduplication_id(dlq_message: DlqMessage) -> str:
    """The same for every run over the same DLQ message, so SQS drops a second send within 5 minutes;
    new for each stay in the DLQ (a message dead-lettered again gets a new id there)."""
    return f"taskqueue-redrive-{dlq_message.message_id}"


def redrive_entry(dlq_message: DlqMessage, entry_id: str, fifo: bool) -> dict[str, Any]:
    """SendMessageBatch entry: the body and original attributes, without the runtime's own."""
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": dlq_message.body}
    attributes = dlq_message.original_attributes()
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo:
        entry["MessageGroupId"] = dlq_message.group_id or "taskqueue-redrive"
        entry["MessageDeduplicationId"] = redrive_deduplication_id(dlq_message)
    elif dlq_message.group_id is not None:
        entry["MessageGroupId"] = dlq_message.group_id  # a standard queue's tenant (SQS fair queues)
    return entry


@dataclass
class _Redrive:
    sqs: Any
    report: TriageReport
    destination_url: str
    journal: RedriveJournal
    listener: TriageListener
    dry_run: bool
    blocked_groups: set[str] = field(default_factory=set)  # FIFO groups with a message not sent in this run
    status: ProducerStatus | None = None  # each task sent back is queued again (taskqueue.status)

    @property
    def fifo(self) -> bool:
        return is_fifo(self.destination_url)

    def __call__(self, scan: DlqScan, picked: list[DlqMessage]) -> None:
        to_send, to_delete = [], []
        for dlq_message in picked:
            state = self.journal.state(dlq_message.message_id)
            if self.fifo and dlq_message.group_id in self.blocked_groups:
                self._held_back(dlq_message)
            elif state == SENT:
                to_delete.append(dlq_message)
            else:
                if state == SENDING and not self.dry_run:  # a dry run sends nothing, so duplicates nothing
                    self.report.possibly_duplicated += 1
                to_send.append(dlq_message)
        if self.dry_run:
            self.report.would_move += len(to_send) + len(to_delete)
            for dlq_message in to_send + to_delete:
                self.listener.message(dlq_message, MessageResult.WOULD_MOVE)
            return
        accepted, send_error = self._send(to_send)
        finished_earlier = {d.message_id for d in to_delete}
        # What SQS accepted is deleted even when a send failed, so a rerun finds little to finish.
        deleted, failures, delete_error = _delete(self.sqs, scan, to_delete + accepted)
        self.journal.forget(d.message_id for d in deleted)
        for dlq_message in deleted:
            self.report.moved += 1
            if dlq_message.message_id in finished_earlier:
                self.report.finished_earlier += 1
            self.listener.message(dlq_message, MessageResult.MOVED)
        for dlq_message, failure in failures:
            self.report.failed += 1
            self.listener.message(dlq_message, MessageResult.DELETE_FAILED, failure)
        error = send_error or delete_error
        if error is not None:
            raise _Stopped(_describe(error))

    def _queued_again(self, dlq_message: DlqMessage, message_id: str) -> None:
        """A redriven task is queued again, under its new message id (its status's dead letter was the old one)."""
        if self.status is None:
            return
        try:
            message = parse_body(dlq_message.body)
        except MalformedMessage:
            return  # not a task: it has no status
        self.status.queued(message.task, message.id, message_id, datetime.now(UTC))

    def _held_back(self, dlq_message: DlqMessage) -> None:
        self.report.held_back += 1
        self.listener.message(
            dlq_message, MessageResult.HELD_BACK, f"an earlier message of group {dlq_message.group_id}"
        )

    def _send(self, dlq_messages: list[DlqMessage]) -> tuple[list[DlqMessage], Exception | None]:
        """Send in chunks within SQS's limits: the messages SQS accepted, and the error of a call that got no answer."""
        by_id = {str(i): d for i, d in enumerate(dlq_messages)}
        send = _Recorded(self.sqs.send_message_batch)
        accepted = []
        for chunk in sqs_batch.chunks([redrive_entry(d, i, self.fifo) for i, d in by_id.items()]):
            sendable = []
            for entry in chunk:
                if self.fifo and entry["MessageGroupId"] in self.blocked_groups:
                    self._held_back(by_id[entry["Id"]])
                else:
                    sendable.append(entry)
            self.journal.sending([by_id[e["Id"]].message_id for e in sendable], self.destination_url)
            # No retry of a FIFO entry: it could land behind a later message of its group.
            retries = 0 if self.fifo else sqs_batch.SERVER_FAULT_RETRIES
            outcome = sqs_batch.call_in_batches(send, self.destination_url, sendable, retries=retries)
            self.journal.sent(by_id[i].message_id for i in outcome.successful)
            accepted += [by_id[i] for i in outcome.successful]
            for entry_id, success in outcome.successful.items():
                self._queued_again(by_id[entry_id], str(success["MessageId"]))
            # SQS said no to these, so they were not sent; the unanswered may have been, and stay "sending".
            self.journal.forget(by_id[i].message_id for i in outcome.failed if i not in send.unanswered)
            for entry_id, failure in outcome.failed.items():
                dlq_message = by_id[entry_id]
                self.report.failed += 1
                if self.fifo and dlq_message.group_id is not None:
                    self.blocked_groups.add(dlq_message.group_id)
                self.listener.message(dlq_message, MessageResult.SEND_FAILED, f"{failure.code}: {failure.message}")
            if send.error is not None:
                break
        return accepted, send.error


def redrive_dead_letters(
    sqs: Any,
    dlq_url: str,
    destination_url: str,
    selection: Selection,
    journal: RedriveJournal,
    listener: TriageListener,
    settings: ScanSettings | None = None,
    dry_run: bool = False,
    *,
    schedule_dead_letter_arn: str | None = None,
    status: ProducerStatus | None = None,
) -> TriageReport:
    """Send the matching dead letters back to ``destination_url``, deleting each after its send; with
    ``status``, each task sent back is queued again in its status."""
    report = TriageReport("redrive", dlq_url, destination_url=destination_url, dry_run=dry_run)
    return _run(
        sqs,
        report,
        selection,
        listener,
        settings,
        _Redrive(sqs, report, destination_url, journal, listener, dry_run, status=status),
        schedule_dead_letter_arn,
    )
