"""Counting the API calls boto3 clients make, by operation, and the messages they delete."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallCounter:
    """API calls made through the given clients, by ``service.Operation`` (one per call, not per retry),
    and the entries of their DeleteMessageBatch calls."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.deleted = 0
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register("provide-client-params", self._count)

    def _count(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.removeprefix("provide-client-params.")
        with self._lock:
            self.counts[operation] += 1
            if operation == "sqs.DeleteMessageBatch":
                self.deleted += len(params["Entries"])

    def snapshot(self) -> tuple[Counter[str], int]:
        """(calls so far by operation, messages deleted so far)."""
        with self._lock:
            return Counter(self.counts), self.deleted

    def total(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for operation, n in self.counts.items() if operation.startswith(prefix))
