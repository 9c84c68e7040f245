"""Runs still going when their concurrent batch must be answered (a ``threads=True`` task cannot be stopped; a
coroutine may ignore its cancellation): their records are answered as failed, and the attempts table holds their
messages, so that no run of one starts beside the run still going. The lane lifts the hold when the run ends;
a run that never ends (its environment reset, or frozen and never thawed) holds its message until the hold runs
out. Where nothing in the table holds it (no attempts table, or the hold's write failed), the answer does: the
message is hidden for as long as the hold would have lasted."""

from __future__ import annotations

import threading
from typing import Any

from taskqueue.attempts import AttemptLedger
from taskqueue.batch import log
from taskqueue.batch.log import describe
from taskqueue.limits import LAMBDA_MAX_TIMEOUT_SECONDS
from taskqueue.observability import ERROR, MESSAGE_ID

# How long a run still going at its batch's answer holds its message at most: as long as an invocation may last.
OVERRAN_HOLD_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS


class OverrunHolds:
    """One concurrent batch's holds: :meth:`hold` from the invocation's thread as it answers, :meth:`ended` from
    each lane once its record's run and settling are over (a lane may end just before its hold is written: the
    lock orders the two, so a run that ended is never held after)."""

    def __init__(self, ledger: AttemptLedger | None) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._ended: set[str] = set()

    def hold(self, message_id: str, keys: dict[str, Any]) -> bool:
        """Hold the message of a run still going; returns whether the table holds it (or need not: it ended)."""
        if self.ledger is None:
            return False
        with self._lock:
            if message_id in self._ended:
                return True
            self._held.add(message_id)  # before the write: one whose answer is lost may still have taken
            try:
                self.ledger.hold_overran(message_id, OVERRAN_HOLD_SECONDS)
            except Exception as error:
                log.logger.warning(
                    "could not hold the message of a run still going in the attempts table; its answer hides it "
                    "for as long instead",
                    extra={**keys, ERROR: describe(error)},
                )
                return False
            return True

    def ended(self, message_id: str) -> None:
        if self.ledger is None:
            return
        with self._lock:
            self._ended.add(message_id)
            if message_id not in self._held:
                return
            try:
                self.ledger.overran_ended(message_id)
            except Exception as error:
                log.logger.warning(
                    "could not lift the hold of a run that ended; its message waits until the hold runs out",
                    extra={MESSAGE_ID: message_id, ERROR: describe(error)},
                )
