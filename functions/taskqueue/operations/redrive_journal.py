"""A local record of dead letters sent back to their queue but perhaps not yet deleted from the DLQ.

A redrive sends a copy to the queue, then deletes the original from the DLQ. A run that stops
between the two (killed, or an SQS error) leaves the original, and a rerun would send it again:
standard queues have no deduplication to catch that. So before each send the journal records the
messages as ``sending``, after SQS accepts them as ``sent``, and after the delete it forgets them.
A rerun that meets a ``sent`` message deletes it without sending it again. A ``sending`` one is
where SQS's answer was lost (the run stopped, or the call failed without a per-message answer):
it may or may not be in the queue, so the rerun sends it again (a message is never lost for a
maybe) and reports it as possibly duplicated. FIFO queues catch that one too, with the stable
deduplication id, within SQS's 5-minute window.

The journal is an SQLite file, committed (and synced) before each next step; entries are kept per
DLQ ARN and message id, and dropped after SQS's longest retention, when the message cannot exist.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from taskqueue.limits import SQS_MAX_RETENTION_SECONDS

JOURNAL_ENVIRONMENT_VARIABLE = "TASKQUEUE_REDRIVE_JOURNAL"
SENDING = "sending"
SENT = "sent"


def default_journal_path() -> Path:
    """$TASKQUEUE_REDRIVE_JOURNAL, else redrive-journal.sqlite3 in $XDG_STATE_HOME/taskqueue."""
    configured = os.environ.get(JOURNAL_ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "taskqueue" / "redrive-journal.sqlite3"


class RedriveJournal:
    """The journal's entries for one DLQ."""

    def __init__(self, path: Path, dlq_arn: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.dlq_arn = dlq_arn
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30)
            self._db.execute("PRAGMA synchronous = FULL")
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS redrive (dlq_arn TEXT NOT NULL, message_id TEXT NOT NULL,"
                    " destination_url TEXT NOT NULL, state TEXT NOT NULL, updated_at REAL NOT NULL,"
                    " PRIMARY KEY (dlq_arn, message_id))"
                )
                self._db.execute("DELETE FROM redrive WHERE updated_at < ?", (clock() - SQS_MAX_RETENTION_SECONDS,))
        except (OSError, sqlite3.Error) as error:
            # Without its journal a redrive could send twice after a stop: refuse before reading anything.
            raise ValueError(f"redrive journal {path} cannot be opened: {error}") from None

    def __enter__(self) -> RedriveJournal:
        return self

    def __exit__(self, *_: object) -> None:
        self._db.close()

    def state(self, message_id: str) -> str | None:
        row = self._db.execute(
            "SELECT state FROM redrive WHERE dlq_arn = ? AND message_id = ?", (self.dlq_arn, message_id)
        ).fetchone()
        return str(row[0]) if row else None

    def sending(self, message_ids: Iterable[str], destination_url: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO redrive VALUES (?, ?, ?, ?, ?)",
            [(self.dlq_arn, i, destination_url, SENDING, self._clock()) for i in message_ids],
        )

    def sent(self, message_ids: Iterable[str]) -> None:
        self._write(
            "UPDATE redrive SET state = ?, updated_at = ? WHERE dlq_arn = ? AND message_id = ?",
            [(SENT, self._clock(), self.dlq_arn, i) for i in message_ids],
        )

    def forget(self, message_ids: Iterable[str]) -> None:
        self._write(
            "DELETE FROM redrive WHERE dlq_arn = ? AND message_id = ?", [(self.dlq_arn, i) for i in message_ids]
        )

    def entries(self) -> dict[str, str]:
        """Message id -> state, for this DLQ (what is not yet known to be deleted)."""
        rows = self._db.execute("SELECT message_id, state FROM redrive WHERE dlq_arn = ?", (self.dlq_arn,))
        return {str(message_id): str(state) for message_id, state in rows}

    def _write(self, statement: str, rows: list[tuple[object, ...]]) -> None:
        if rows:
            with self._db:
                self._db.executemany(statement, rows)
