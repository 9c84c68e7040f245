"""What the local Lambda reports about each invocation: a typed record, not a line of text to parse.

Every invocation (a throttled one too) becomes one :class:`InvocationRecord`: the function, its request
id, the event, what the function answered or raised, and Lambda's own figures (duration, init, billed
time). The local Lambda hands it to its ``on_invocation`` hook (readers in the same process: the soak)
and appends it to the function's journal, ``<logs>/<function>.invocations.jsonl`` (readers in another
process: the demo and the benchmark, whose local Lambda runs in the data plane's process). This module
writes and reads that journal; nothing else knows its format. The REPORT lines in the function's log
are for people.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

JOURNAL_SUFFIX = ".invocations.jsonl"


@dataclass(frozen=True)
class Invocation:
    """What an invocation returned: a result, a function error, or a throttle; and Lambda's figures for it."""

    payload: bytes
    function_error: str | None = None
    throttled: bool = False
    duration_ms: float = 0.0
    timed_out: bool = False  # killed at the function's timeout (Sandbox.Timedout)
    init_ms: float | None = None  # a cold start's init, run before the invocation's clock started
    suppressed_init: bool = False  # its environment's init ran inside it (its duration includes the init)
    request_id: str = ""
    billed_ms: int = 0  # as Lambda bills it: the duration and a cold start's init, rounded up to the ms
    started_ms: int = 0  # wall clock (ms since the epoch) when the invocation's clock started


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation of ``function`` with ``event``, and what came of it."""

    function: str
    event: bytes
    invocation: Invocation

    def records(self) -> list[dict[str, Any]]:
        """The SQS records of the event (none when it is not an SQS event)."""
        try:
            document = json.loads(self.event or b"null")
        except ValueError:
            return []
        records = document.get("Records") if isinstance(document, dict) else None
        return [record for record in records if isinstance(record, dict)] if isinstance(records, list) else []

    def to_line(self) -> str:
        invocation = asdict(self.invocation)
        invocation["payload"] = self.invocation.payload.decode("utf-8", errors="replace")
        return json.dumps(
            {"function": self.function, "event": self.event.decode("utf-8", errors="replace"), **invocation}
        )

    @classmethod
    def from_line(cls, line: str) -> InvocationRecord:
        document = json.loads(line)
        names = {f.name for f in fields(Invocation)}
        values = {name: value for name, value in document.items() if name in names}
        values["payload"] = str(values.get("payload", "")).encode()
        return cls(str(document["function"]), str(document["event"]).encode(), Invocation(**values))


def journal_path(logs_dir: Path, function: str) -> Path:
    return logs_dir / f"{function}{JOURNAL_SUFFIX}"


class InvocationJournal:
    """A function's invocation records, one JSON line each (appended by the local Lambda, read by scenarios)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: InvocationRecord) -> None:
        line = record.to_line() + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as journal:
            journal.write(line)

    def size(self) -> int:
        """Its length now: a mark to read only the records after it."""
        return self.path.stat().st_size if self.path.exists() else 0

    def records(self, since: int = 0) -> list[InvocationRecord]:
        """The records appended past ``since`` bytes (a record still being written is left for the next read)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as journal:
            journal.seek(since)
            text = journal.read().decode("utf-8", errors="replace")
        complete, _, _partial = text.rpartition("\n")
        return [InvocationRecord.from_line(line) for line in complete.splitlines() if line]
