"""FIFO gating: no task of a message group starts before every earlier message of the group has completed
or been dead-lettered. After a failure the rest of its group in the batch is held back, not run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskqueue.batch import log
from taskqueue.batch.budget import Invocation
from taskqueue.observability import MESSAGE_GROUP_ID, MESSAGE_ID
from taskqueue.sqs_event import message_group_id


class GroupGate:
    """The groups of one batch in which a message failed (or was not run); on a standard queue, none."""

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
        self._failed: set[str | None] = set()

    def group(self, record: Mapping[str, Any]) -> str | None:
        return message_group_id(record) if self.fifo else None

    def blocked(self, record: Mapping[str, Any]) -> bool:
        """True when an earlier message of the record's group failed: it waits for it (:func:`hold`)."""
        return self.fifo and self.group(record) in self._failed

    def failed(self, record: Mapping[str, Any]) -> None:
        self._failed.add(self.group(record))


def hold(record: Mapping[str, Any], invocation: Invocation) -> None:
    """Hold the record back behind an earlier failure of its group: retried at once after it, no attempt used."""
    message_id = str(record["messageId"])
    invocation.retry_in(message_id, 0, failed=False)
    log.logger.info(
        "not run: an earlier message of its group failed; it will be retried after it",
        extra={MESSAGE_ID: message_id, MESSAGE_GROUP_ID: message_group_id(record)},
    )
