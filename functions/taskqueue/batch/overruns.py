"""Runs still going when their concurrent batch must be answered (a ``threads=True`` task cannot be stopped; a
coroutine may ignore its cancellation): their records are answered as failed, and the attempts table holds their
messages, so that no run of one starts beside the run still going. A run holding a slot of its key
(``key_concurrency``) keeps it as long: its lease, taken until its invocation's deadline, is extended, so that no
other run of its key starts beside it either. The lane lifts the hold when the run ends;
a run that never ends (its environment reset, or frozen and never thawed) holds its message until the hold runs
out. Where nothing in the table holds it (no attempts table, or the hold's write failed or was not done in time),
the answer does: the message is hidden for as long as the hold would have lasted.

The holds are written as the answer goes out, beside it: the answer waits for them only until half its margin is
left (a write DynamoDB slows down must not make the answer late: past the timeout it would be lost)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from taskqueue.attempts import AttemptLedger
from taskqueue.batch import log
from taskqueue.batch.budget import SETTLE_FINAL_MARGIN_SECONDS
from taskqueue.batch.log import describe
from taskqueue.limits import LAMBDA_MAX_TIMEOUT_SECONDS
from taskqueue.observability import ERROR, MESSAGE_ID

if TYPE_CHECKING:
    from taskqueue.flow_control.gate import Admission

# How long a run still going at its batch's answer holds its message at most: as long as an invocation may last.
OVERRAN_HOLD_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS
# The answer waits for the holds' writes until only this is left of the invocation (and its retry delays' calls).
HOLDS_LEAVE_SECONDS = SETTLE_FINAL_MARGIN_SECONDS / 2
# Runs still going whose writes go out at once, at most (each holds a pooled connection of the worker's client).
HOLD_WRITERS = 10


class OverrunHolds:
    """One concurrent batch's holds: :meth:`hold` as it answers, :meth:`ended` from each lane once its record's run
    and settling are over (a lane may end just before its hold is written: the lock orders the two, so a run that
    ended is never held after)."""

    def __init__(self, ledger: AttemptLedger | None, admissions: Mapping[str, Admission] | None = None) -> None:
        self.ledger = ledger
        self.admissions: Mapping[str, Admission] = {} if admissions is None else admissions
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._held: set[str] = set()  # a hold written, or tried (one whose answer was lost may have taken)
        self._secured: set[str] = set()  # the table holds it, or its run ended: no hold needed from the answer
        self._secured_lock = threading.Lock()  # not the writes' lock: the answer reads it while a write may hang
        self._ended: set[str] = set()

    def hold(self, message_ids: Sequence[str], beside: Callable[[Callable[[], None]], None]) -> set[str]:
        """Hold the messages of runs still going, the writes run by ``beside`` (which waits for them as long as
        the answer can); returns those secured by then: the others' answer must hide them."""
        if not message_ids or (self.ledger is None and not any(each in self.admissions for each in message_ids)):
            return set()
        beside(lambda: self._hold_each(message_ids))
        with self._secured_lock:
            return self._secured & set(message_ids)

    def _hold_each(self, message_ids: Sequence[str]) -> None:
        """Each run's writes beside the others': one after another, the later ones would miss the answer."""
        if len(message_ids) == 1:
            self._hold_one(message_ids[0])
            return
        with concurrent.futures.ThreadPoolExecutor(min(len(message_ids), HOLD_WRITERS)) as writers:
            list(writers.map(self._hold_one, message_ids))

    def _hold_one(self, message_id: str) -> None:
        """Its message held in the attempts table, then its key's slot (if it holds one) kept as long."""
        if self.ledger is not None:
            with self._lock_of(message_id):
                if message_id in self._ended:
                    self._secure(message_id)
                    return
                self._held.add(message_id)  # before the write: one whose answer is lost may still have taken
                try:
                    self.ledger.hold_overran(message_id, OVERRAN_HOLD_SECONDS)
                except Exception as error:
                    log.logger.warning(
                        "could not hold the message of a run still going in the attempts table; its answer hides "
                        "it for as long instead",
                        extra={MESSAGE_ID: message_id, ERROR: describe(error)},
                    )
                else:
                    self._secure(message_id)
        admission = self.admissions.get(message_id)
        if admission is not None:  # a run that ends meanwhile gives its slot back: the extension then finds none
            admission.outlive(OVERRAN_HOLD_SECONDS)

    def _lock_of(self, message_id: str) -> threading.Lock:
        """One lock a message: its hold's write and its run's end are ordered, other messages' writes go on."""
        with self._locks_lock:
            return self._locks.setdefault(message_id, threading.Lock())

    def _secure(self, message_id: str) -> None:
        with self._secured_lock:
            self._secured.add(message_id)

    def ended(self, message_id: str) -> None:
        if self.ledger is None:
            return
        with self._lock_of(message_id):
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
