"""CloudWatch metrics as embedded metric format (EMF) log lines: one line per invocation.

EMF is CloudWatch's own format: a JSON log line whose ``_aws`` member says which of its other members
are metrics. This writer replaces Powertools' Metrics, which validated and serialised every metric on
each call (about 10-20 µs a call, several calls a task); here a whole batch costs one ``json.dumps``.

Per-task counts carry two dimension sets, ``[service]`` and ``[service, task]``: the totals and each
task's own series, from one value. Task names come from the registry, never from message bodies or
ids, so the number of series (each a billed custom metric) is bounded by the tasks a deployment has.
The line also carries the batch's summary (``message``, counts), so it is the batch's one log line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any, TextIO

COUNT = "Count"
MILLISECONDS = "Milliseconds"
# CloudWatch takes at most 100 values per metric in one EMF line.
MAX_VALUES_PER_LINE = 100


def namespace() -> str:
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "TaskQueue"


def disabled() -> bool:
    return (os.environ.get("POWERTOOLS_METRICS_DISABLED") or "").strip().lower() in ("1", "true", "yes", "on")


class MetricsLine:
    """Metrics of one invocation, written as EMF on :meth:`flush`."""

    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self.service = service
        self.stream = stream
        self.counts: Counter[tuple[str, str | None]] = Counter()
        self.values: defaultdict[str, list[float]] = defaultdict(list)
        self.units: dict[str, str] = {}
        # Set while the lanes of a concurrent batch count from their threads (taskqueue.concurrency).
        self._lock: threading.Lock | None = None

    def shared_between_threads(self) -> None:
        """From now on, counts may come from several threads at once."""
        if self._lock is None:
            self._lock = threading.Lock()

    def count(self, name: str, value: int = 1, task: str | None = None) -> None:
        if self._lock is None:
            self.counts[name, task] += value
            return
        with self._lock:
            self.counts[name, task] += value

    def value(self, name: str, value: float, unit: str = MILLISECONDS) -> None:
        # Whole numbers without ".0": a few bytes a value, in a line written for every batch.
        number = int(value) if float(value).is_integer() else value
        if self._lock is None:
            self.values[name].append(number)
            self.units[name] = unit
            return
        with self._lock:
            self.values[name].append(number)
            self.units[name] = unit

    def documents(self, summary: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The EMF documents: one per task name with counts; the summary, the service-wide counts and the
        values go in the first. Values past what one line may carry go out in lines of their own."""
        stamp = int(time.time() * 1000)
        values = {name: list(series) for name, series in self.values.items()}
        first: dict[str, Any] = {"service": self.service, **(summary or {})}
        first_directives: list[dict[str, Any]] = []
        service_counts = {name: value for (name, task), value in self.counts.items() if task is None}
        if service_counts:
            first_directives.append(_directive([["service"]], dict.fromkeys(service_counts, COUNT)))
            first.update(service_counts)
        self._take_values(first, first_directives, values)
        documents: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(first, first_directives)]
        for index, task in enumerate(sorted({task for (_, task) in self.counts if task is not None})):
            counts = {name: value for (name, of), value in self.counts.items() if of == task}
            # The first task shares the first document unless one of its counts has a name already there
            # (a service-wide count of the same metric): one member would then carry both values.
            shared = index == 0 and first.keys().isdisjoint(counts)
            document, directives = (first, first_directives) if shared else ({"service": self.service}, [])
            directives.append(_directive([["service"], ["service", "task"]], dict.fromkeys(counts, COUNT)))
            document.update(counts, task=task)
            if not shared:
                documents.append((document, directives))
        while any(values.values()):
            document, directives = {"service": self.service}, []
            self._take_values(document, directives, values)
            documents.append((document, directives))
        result = []
        for document, directives in documents:
            if directives:
                document["_aws"] = {"Timestamp": stamp, "CloudWatchMetrics": directives}
                result.append(document)
            elif summary and document is first:
                result.append(document)
        return result

    def _take_values(
        self, document: dict[str, Any], directives: list[dict[str, Any]], values: dict[str, list[float]]
    ) -> None:
        taken = {}
        for name, series in values.items():
            if series:
                taken[name] = series[:MAX_VALUES_PER_LINE]
                del series[:MAX_VALUES_PER_LINE]
        if taken:
            directives.append(_directive([["service"]], {name: self.units[name] for name in taken}))
            document.update(taken)

    def flush(self, summary: Mapping[str, Any] | None = None) -> None:
        """Write the line(s) and start again empty. With metrics disabled (POWERTOOLS_METRICS_DISABLED),
        only the summary is written, as a plain log line."""
        if disabled():
            documents = [{"service": self.service, **summary}] if summary else []
        else:
            documents = self.documents(summary)
        stream = self.stream or sys.stdout
        for document in documents:
            stream.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")
        self.counts.clear()
        self.values.clear()


def _directive(dimensions: list[list[str]], metrics: Mapping[str, str]) -> dict[str, Any]:
    return {
        "Namespace": namespace(),
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics.items()],
    }
