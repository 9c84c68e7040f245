"""Reading a whole DLQ once, in bounded memory, and putting back what was not taken.

SQS has no "peek": a message is read by receiving it, which hides it for a lease (the visibility
timeout) and adds one to its receive count. To read each message once, a scan keeps what it
received hidden until it ends, then releases it (visibility 0) in batches of 10. The receipt
handles it must keep for that go to a private SQLite file, not to memory, so a DLQ of tens of
thousands of messages costs a few kilobytes of Python memory.

A scan ends when a long-polled receive brings nothing: nothing it can receive is left (on FIFO, see
below). Before each receive it extends the lease of every message it holds whose lease is half gone,
so a scan may last longer than its lease. Should a lease lapse all the same (a paused process, an
extension SQS refused), the message comes back in a later receive, is recognised by its id, held
again under its new receipt handle and not read twice; the scan reads on rather than taking a receive
of known messages for the end. Only when receives keep bringing back nothing but its own messages
does it stop, with an error.

Each receive's messages are recorded as held (committed) before they are read, so a scan that fails
for any reason, a message that cannot be read included, still releases every message it holds.

On a FIFO DLQ, SQS delivers no more of a message group until its earlier messages are deleted: not
while they are held, and from the group's head again once they are released (so releasing them only
reads them again). A scan reads of each group what the receive that first brought it held (at most
10), and no more unless the run deletes them as it goes (a redrive, a purge). What it cannot reach
stays visible behind them, so on FIFO a scan that ends counts the DLQ's visible messages while it
still holds its own (``out_of_reach``): the run reports them unread, never a complete read.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator
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
from taskqueue.operations.queue_attributes import is_fifo, queue_depths

_HELD = "held"
_GONE = "gone"  # deleted by this run


@dataclass(frozen=True)
class ScanSettings:
    # Long enough for a scan of tens of thousands; a run that dies leaves its messages hidden this long.
    lease_seconds: int = 900
    # A long poll asks every SQS server, so an empty answer means nothing visible is left.
    wait_seconds: int = 1
    # Seconds, for the leases: a lease is extended once half of it is gone.
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.lease_seconds <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            raise ValueError(
                f"lease_seconds must be 1 to {SQS_MAX_VISIBILITY_TIMEOUT_SECONDS}, got {self.lease_seconds}"
            )
        if not 0 <= self.wait_seconds <= SQS_MAX_WAIT_TIME_SECONDS:
            raise ValueError(f"wait_seconds must be 0 to {SQS_MAX_WAIT_TIME_SECONDS}, got {self.wait_seconds}")


class LeaseLost(Exception):
    """Receives kept bringing back messages this scan held: their leases lapse faster than it can read."""


@dataclass
class ReleaseResult:
    """What releasing the messages a scan held came to."""

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
    release: ReleaseResult | None = None
    lapsed: int = 0  # messages received again after their lease lapsed
    extended: int = 0  # lease extensions SQS accepted
    out_of_reach: int = 0  # FIFO: visible when a receive brought nothing, behind held messages of their group

    def __post_init__(self) -> None:
        self._ledger = sqlite3.connect("")  # "": a private temporary file, removed on close
        self._ledger.execute(
            "CREATE TABLE message (id TEXT PRIMARY KEY, receipt_handle TEXT NOT NULL, state TEXT, leased_until REAL)"
        )
        self._ledger.execute("CREATE INDEX lease ON message (state, leased_until)")
        self._renew_at = math.inf  # when the earliest lease held is half gone

    def __enter__(self) -> DlqScan:
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.release = self.release_held()
        finally:
            self._ledger.close()

    def batches(self) -> Iterator[list[DlqMessage]]:
        """Each receive's messages not seen before in this scan, until a receive brings none."""
        only_known_in_a_row = 0
        while True:
            self.keep_leases()
            leased_from = self.settings.clock()
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=SQS_MAX_RECEIVE_BATCH,
                WaitTimeSeconds=self.settings.wait_seconds,
                VisibilityTimeout=self.settings.lease_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                self.out_of_reach = self._out_of_reach()
                return
            # Held and committed before anything is read: whatever happens next, they are released.
            with self._ledger:
                new = [message for message in messages if self._hold(message, leased_from)]
            self.lapsed += len(messages) - len(new)
            if new:
                only_known_in_a_row = 0
                yield [DlqMessage.from_message(message) for message in new]
                continue
            # Only messages held already: their lease lapsed. Held again now, so read on, unless a whole
            # round of receives brings nothing else (the leases lapse faster than the scan reads).
            only_known_in_a_row += 1
            if only_known_in_a_row > max(10, self.held()):
                raise LeaseLost(
                    f"{only_known_in_a_row} receives in a row brought back only messages this run held: their "
                    f"{self.settings.lease_seconds} s lease lapses faster than the run reads"
                )

    def _out_of_reach(self) -> int:
        """After a receive that brought nothing: on FIFO, the messages still visible, which SQS does not
        deliver while earlier messages of their group are held (by this scan, or by another reader).
        Counted before anything is released; SQS's count is approximate."""
        if not is_fifo(self.dlq_url):
            return 0  # a standard queue's empty long poll means nothing visible is left
        return queue_depths(self.sqs, self.dlq_url)["ApproximateNumberOfMessages"]

    def _hold(self, message: dict[str, Any], leased_from: float) -> bool:
        """Record the message as held; False if this scan had it already (its newest handle is kept)."""
        leased_until = leased_from + self.settings.lease_seconds
        self._renew_at = min(self._renew_at, leased_from + self.settings.lease_seconds / 2)
        known = self._ledger.execute(
            "UPDATE message SET receipt_handle = ?, state = ?, leased_until = ? WHERE id = ?",
            (message["ReceiptHandle"], _HELD, leased_until, message["MessageId"]),
        ).rowcount
        if known:
            return False
        self._ledger.execute(
            "INSERT INTO message VALUES (?, ?, ?, ?)",
            (message["MessageId"], message["ReceiptHandle"], _HELD, leased_until),
        )
        return True

    def held(self) -> int:
        return int(self._ledger.execute("SELECT count(*) FROM message WHERE state = ?", (_HELD,)).fetchone()[0])

    def keep_leases(self) -> None:
        """Extend the lease of every held message whose lease is half gone. An extension SQS refuses (the
        lease lapsed already) is left: the message comes back in a receive and is held again then."""
        lease = self.settings.lease_seconds
        leased_from = self.settings.clock()
        if leased_from < self._renew_at:
            return
        last_row = 0
        # Ten at a time by rowid, so a scan of tens of thousands keeps no more than ten handles in memory.
        while chunk := self._ledger.execute(
            "SELECT rowid, id, receipt_handle FROM message WHERE state = ? AND leased_until < ? AND rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (_HELD, leased_from + lease / 2, last_row, SQS_MAX_BATCH_ENTRIES),
        ).fetchall():
            last_row = chunk[-1][0]
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": lease}
                for index, (_, _, handle) in enumerate(chunk)
            ]
            result = sqs_batch.call_in_batches(self.sqs.change_message_visibility_batch, self.dlq_url, entries)
            # A refused extension: the lease is gone, nothing left to extend until a receive brings it back.
            leases = [
                (leased_from + lease if str(index) in result.successful else math.inf, message_id)
                for index, (_, message_id, _) in enumerate(chunk)
            ]
            with self._ledger:
                self._ledger.executemany("UPDATE message SET leased_until = ? WHERE id = ?", leases)
            self.extended += len(result.successful)
        earliest = self._ledger.execute("SELECT min(leased_until) FROM message WHERE state = ?", (_HELD,)).fetchone()[0]
        self._renew_at = math.inf if earliest is None else earliest - lease / 2

    def mark_deleted(self, message_ids: list[str]) -> None:
        with self._ledger:
            self._ledger.executemany("UPDATE message SET state = ? WHERE id = ?", [(_GONE, i) for i in message_ids])

    def release_held(self) -> ReleaseResult:
        """Make every held message visible again at once."""
        outcome = ReleaseResult()
        rows = self._ledger.execute("SELECT receipt_handle FROM message WHERE state = ?", (_HELD,))
        while chunk := rows.fetchmany(SQS_MAX_BATCH_ENTRIES):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, (handle,) in enumerate(chunk)
            ]
            result = sqs_batch.call_in_batches(self.sqs.change_message_visibility_batch, self.dlq_url, entries)
            outcome.released += len(result.successful)
            outcome.failed += len(result.failed)
            for failure in result.failed.values():
                outcome.first_error = outcome.first_error or f"{failure.code}: {failure.message}"
        return outcome
