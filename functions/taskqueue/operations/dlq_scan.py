"""Reading a whole DLQ once, in bounded memory, and putting back what was not taken.

SQS has no "peek": a message is read by receiving it, which hides it for a lease (the visibility
timeout) and adds one to its receive count. To read each message once, a scan keeps what it
received hidden until it ends, then releases it (visibility 0) in batches of 10. The receipt
handles it must keep for that go to a private SQLite file, not to memory, so a DLQ of tens of
thousands of messages costs a few kilobytes of Python memory.

A scan ends when a long-polled receive brings nothing it has not seen. If it outlasts its lease,
the first messages come back and are recognised by their ids (their newest receipt handle is kept).
On a FIFO DLQ, SQS returns no more messages of a group while one of them is held, so a scan sees
of each group only the messages up to the first one it keeps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from taskqueue import sqs_batch
from taskqueue.limits import (
    SQS_MAX_BATCH_ENTRIES,
    SQS_MAX_RECEIVE_BATCH,
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
    SQS_MAX_WAIT_TIME_SECONDS,
)
from taskqueue.operations.dlq_message import DlqMessage

_HELD = "held"
_GONE = "gone"  # deleted by this run


@dataclass(frozen=True)
class ScanSettings:
    # Long enough for a scan of tens of thousands; a run that dies leaves its messages hidden this long.
    lease_seconds: int = 900
    # A long poll asks every SQS server, so an empty answer means nothing visible is left.
    wait_seconds: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.lease_seconds <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise ValueError(
                f"lease_seconds must be 1 to {SQS_MAX_VISIBILITY_TIMEOUT_SECONDS}, got {self.lease_seconds}"
            )
        if not 0 <= self.wait_seconds <= SQS_MAX_WAIT_TIME_SECONDS:
            raise ValueError(f"wait_seconds must be 0 to {SQS_MAX_WAIT_TIME_SECONDS}, got {self.wait_seconds}")


@dataclass
class ReleaseOutcome:
    released: int = 0
    failed: int = 0
    first_error: str | None = None


@dataclass
class DlqScan:
    """``with DlqScan(sqs, url) as scan: for batch in scan.batches(): ...``; on leaving, every message
    not marked deleted is released, whatever happened inside."""

    sqs: Any
    dlq_url: str
    settings: ScanSettings = field(default_factory=ScanSettings)
    release: ReleaseOutcome | None = None

    def __post_init__(self) -> None:
        self._ledger = sqlite3.connect("")  # "": a private temporary file, removed on close
        self._ledger.execute("CREATE TABLE message (id TEXT PRIMARY KEY, receipt_handle TEXT NOT NULL, state TEXT)")

    def __enter__(self) -> DlqScan:
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.release = self.release_held()
        finally:
            self._ledger.close()

    def batches(self) -> Iterator[list[DlqMessage]]:
        """Each receive's messages not seen before in this scan, until a receive brings none."""
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=SQS_MAX_RECEIVE_BATCH,
                WaitTimeSeconds=self.settings.wait_seconds,
                VisibilityTimeout=self.settings.lease_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            with self._ledger:
                new = [DlqMessage.from_message(message) for message in messages if self._hold(message)]
            if not new:
                return
            yield new

    def _hold(self, message: dict[str, Any]) -> bool:
        """Record the message as held; False if this scan had it already (its newest handle is kept)."""
        known = self._ledger.execute(
            "UPDATE message SET receipt_handle = ?, state = ? WHERE id = ?",
            (message["ReceiptHandle"], _HELD, message["MessageId"]),
        ).rowcount
        if known:
            return False
        self._ledger.execute(
            "INSERT INTO message VALUES (?, ?, ?)", (message["MessageId"], message["ReceiptHandle"], _HELD)
        )
        return True

    def mark_deleted(self, message_ids: list[str]) -> None:
        with self._ledger:
            self._ledger.executemany("UPDATE message SET state = ? WHERE id = ?", [(_GONE, i) for i in message_ids])

    def release_held(self) -> ReleaseOutcome:
        """Make every held message visible again at once."""
        outcome = ReleaseOutcome()
        rows = self._ledger.execute("SELECT receipt_handle FROM message WHERE state = ?", (_HELD,))
        while chunk := rows.fetchmany(SQS_MAX_BATCH_ENTRIES):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, (handle,) in enumerate(chunk)
            ]
            result = sqs_batch.call(self.sqs.change_message_visibility_batch, self.dlq_url, entries)
            outcome.released += len(result.successful)
            outcome.failed += len(result.failed)
            for failure in result.failed.values():
                outcome.first_error = outcome.first_error or f"{failure.code}: {failure.message}"
        return outcome
