"""SQS batch calls (send, delete, change visibility) within SQS's limits, with per-entry outcomes.

One helper for every place that batches: entries go out in chunks of at most 10 entries and 1 MiB,
entries SQS failed on its side are sent once more, and every entry ends either succeeded or failed
with its code, so a caller never loses track of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskqueue.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES

# Entries SQS failed on its side (not the sender's fault) get this many more tries.
SERVER_FAULT_RETRIES = 1


def entry_bytes(entry: Mapping[str, Any]) -> int:
    """Bytes SQS counts for one SendMessageBatch entry: the body and each attribute's name, type and value."""
    total = len(str(entry.get("MessageBody", "")).encode("utf-8"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        total += len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
        total += len(str(value.get("StringValue", "")).encode("utf-8")) + len(value.get("BinaryValue", b""))
    return total


def chunks(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Entries in order, in chunks of at most 10 entries and 1 MiB of messages."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        added = entry_bytes(entry)
        if chunk and (len(chunk) == SQS_MAX_BATCH_ENTRIES or size + added > SQS_MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += added
    if chunk:
        yield chunk


@dataclass(frozen=True)
class FailedBatchEntry:
    """An entry of a batch call that SQS (or the call itself) failed, with its code."""

    id: str
    code: str
    message: str
    sender_fault: bool


@dataclass
class BatchResult:
    """Per entry Id: what SQS answered. ``successful`` holds SQS's result entries (MessageId for sends)."""

    successful: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, FailedBatchEntry] = field(default_factory=dict)

    @property
    def failed_ids(self) -> set[str]:
        return set(self.failed)


def call_in_batches(
    operation: Callable[..., dict[str, Any]],
    queue_url: str,
    entries: Sequence[dict[str, Any]],
    *,
    retries: int = SERVER_FAULT_RETRIES,
    on_failure: Callable[[FailedBatchEntry], None] | None = None,
    raise_errors: bool = False,
    outcome: BatchResult | None = None,
) -> BatchResult:
    """Run ``operation`` (a boto3 batch method) over ``entries``, whose ``Id`` values must be unique.

    Entries SQS failed on its side are sent up to ``retries`` more times; ``retries=0`` keeps the order
    of a FIFO group (a retry could land behind a later message). A call that raises fails every entry it
    carried (code: the exception's class), and the remaining chunks still go out; with ``raise_errors``
    the exception propagates instead, and ``outcome`` (the caller's, filled as calls return) holds what
    was done before it. ``on_failure`` sees each entry's final failure once, as it happens, so a
    sender's fault is reported even when other entries of the same call succeed on a retry.
    """
    outcome = BatchResult() if outcome is None else outcome

    def fail(failure: FailedBatchEntry) -> None:
        outcome.failed[failure.id] = failure
        if on_failure is not None:
            on_failure(failure)

    for chunk in chunks(entries):
        pending = chunk
        for attempt in range(1 + retries):
            try:
                result = operation(QueueUrl=queue_url, Entries=pending)
            except Exception as error:
                if raise_errors:
                    raise
                for entry in pending:
                    fail(FailedBatchEntry(str(entry["Id"]), type(error).__name__, str(error), False))
                break
            for success in result.get("Successful", []):
                outcome.successful[str(success["Id"])] = success
            retry: set[str] = set()
            last_try = attempt == retries
            for item in result.get("Failed", []):
                failure = FailedBatchEntry(
                    str(item["Id"]),
                    str(item.get("Code", "")),
                    str(item.get("Message", "")),
                    bool(item.get("SenderFault")),
                )
                if failure.sender_fault or last_try:
                    fail(failure)
                else:
                    retry.add(failure.id)
            pending = [entry for entry in pending if str(entry["Id"]) in retry]
            if not pending:
                break
    return outcome
