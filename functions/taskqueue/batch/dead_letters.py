"""Dead-lettering: the record goes to the DLQ with its reason, and the verdict on a task that ran is
remembered so that the task never runs again when its message comes back.

A verdict on a task that ran is remembered before the send (in this execution environment, and in the
attempts table where there is one): if the send fails, or a later task of the batch fails the whole
invocation, the message comes back, and its dead letter is sent again (unless it is known to have gone
out) without running the task.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from taskqueue import dead_letter_queue, status
from taskqueue.attempts import AttemptLedger
from taskqueue.batch import log
from taskqueue.batch.budget import Invocation
from taskqueue.batch.log import describe
from taskqueue.dead_letter_queue import RAN_VERDICTS, DeadLetter
from taskqueue.observability import (
    DEAD_LETTERED,
    DROPPED_ATTRIBUTES,
    ERROR,
    OUTCOME,
    REASON,
    REASON_IN_ATTRIBUTES,
    SEND_ERROR,
    TASKS_DEAD_LETTERED,
)
from taskqueue.registry import TaskRegistry

if TYPE_CHECKING:
    from taskqueue.worker_status import WorkerStatus

# Dead-letter verdicts whose DLQ send failed, remembered in this environment (and in the attempts
# table where there is one), so the task does not run again when its message comes back.
REMEMBERED_VERDICTS = 10_000


class DeadLetters:
    """The worker's DLQ sends, and its bounded memory of verdicts: message id -> (verdict, whether it was sent)."""

    def __init__(
        self,
        sqs: Any,
        dlq_url: str,
        ledger: AttemptLedger | None,
        registry: TaskRegistry,
        task_status: WorkerStatus | None = None,
    ) -> None:
        self.sqs = sqs
        self.dlq_url = dlq_url
        self.ledger = ledger
        self.registry = registry
        self.task_status = task_status  # each dead letter sent is written to its task's status
        self._verdicts: OrderedDict[str, tuple[DeadLetter, bool]] = OrderedDict()
        self._verdicts_lock = threading.Lock()

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._verdicts

    def again(self, raw: Mapping[str, Any], keys: dict[str, Any], invocation: Invocation) -> None:
        """Dead-lettered before, and back (its send failed, or its batch failed after it): never run it again;
        send its dead letter unless this environment saw that send go through."""
        why, sent = self._verdicts[str(raw["messageId"])]
        if sent:
            log.logger.warning("already dead-lettered; not run again", extra={**keys, REASON: why.reason})
            return
        self.send(raw, why, keys, invocation)

    def send(self, raw: Mapping[str, Any], why: DeadLetter, keys: dict[str, Any], invocation: Invocation) -> None:
        """Send the record to the DLQ with its reason, trying smaller entries when SQS refuses one."""
        message_id = str(raw["messageId"])
        if why.reason in RAN_VERDICTS and message_id not in self._verdicts:
            self.remember(message_id, why, sent=False)
            if self.ledger is not None:
                try:
                    self.ledger.remember_verdict(message_id, why)
                except Exception as error:
                    log.logger.warning("could not remember the verdict", extra={**keys, ERROR: describe(error)})
        sent: dead_letter_queue.DeadLetterEntry | None = None
        dlq_message_id: str | None = None
        for entry in dead_letter_queue.entries(raw, why, self.dlq_url):
            try:
                dlq_message_id = self.sqs.send_message(**entry.arguments).get("MessageId")
            except ClientError as error:
                if dead_letter_queue.entry_refused(error) and entry.carries_reason:
                    log.logger.warning(
                        "dead-letter entry refused; trying a smaller one", extra={**keys, ERROR: describe(error)}
                    )
                    continue
                self._send_failed(message_id, why, error, keys)
                raise
            except Exception as error:
                self._send_failed(message_id, why, error, keys)
                raise
            sent = entry
            break
        assert sent is not None  # the last entry either went out or raised
        if message_id in self._verdicts:
            self.remember(message_id, why, sent=True)
            if self.ledger is not None and why.reason in RAN_VERDICTS:
                self._keep_verdict_sent(message_id, why, keys)
        if self.task_status is not None:
            self.task_status.record(
                keys,
                self.registry.find(why.task),
                status.DEAD_LETTERED,
                reason=why.reason,
                error=why.error,
                dlq_message_id=dlq_message_id,
            )
        invocation.metrics.count(TASKS_DEAD_LETTERED, task=why.task if why.task in self.registry else None)
        log.logger.error(
            "task sent to the dead-letter queue",
            extra={
                **keys,
                OUTCOME: DEAD_LETTERED,
                REASON: why.reason,
                ERROR: why.error,
                DROPPED_ATTRIBUTES: list(sent.dropped_attributes) or None,
                REASON_IN_ATTRIBUTES: sent.carries_reason,
            },
        )

    def _keep_verdict_sent(self, message_id: str, why: DeadLetter, keys: dict[str, Any]) -> None:
        """Write the verdict again, with the mark that its dead letter went out: should the message come back, it
        is deleted, not dead-lettered twice. Written whole, not the mark alone, so that a verdict whose write
        before the send failed gets a second chance: in this environment's memory only, it would be lost with
        the environment if the invocation died before answering, and the task would run again."""
        assert self.ledger is not None
        try:
            self.ledger.remember_verdict(message_id, why, sent=True)
        except Exception as error:
            log.logger.error(
                "could not record the verdict nor that its dead letter was sent: should the message come back to "
                "another execution environment, it is dead-lettered again, and if no write of its verdict took, "
                "the task runs again",
                extra={**keys, REASON: why.reason, ERROR: describe(error)},
            )

    def _send_failed(self, message_id: str, why: DeadLetter, error: Exception, keys: dict[str, Any]) -> None:
        if message_id not in self._verdicts:
            self.remember(message_id, why, sent=False)
        log.logger.error(
            "could not send to the dead-letter queue; the message stays on the queue and its dead letter is "
            "sent again when it comes back, without running the task",
            extra={**keys, REASON: why.reason, ERROR: why.error, SEND_ERROR: describe(error)},
        )

    def remember(self, message_id: str, why: DeadLetter, sent: bool) -> None:
        with self._verdicts_lock:  # a concurrent batch's lanes remember from their threads
            self._verdicts[message_id] = (why, sent)
            self._verdicts.move_to_end(message_id)
            while len(self._verdicts) > REMEMBERED_VERDICTS:
                self._verdicts.popitem(last=False)
