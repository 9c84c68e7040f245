"""The EMF documents of taskqueue.metrics, read the way CloudWatch reads them: each directive's metrics,
under each of its dimension sets, take the value of the document's member of that name."""

from __future__ import annotations

from collections import Counter
from typing import Any

from taskqueue.metrics import MetricsLine


def series_totals(documents: list[dict[str, Any]]) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """Sum of each (metric, dimensions) series over the documents, as CloudWatch would extract it."""
    totals: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = tuple((name, document[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    totals[metric["Name"], dimensions] += sum(value) if isinstance(value, list) else value
    return totals


def test_a_service_count_and_the_first_tasks_count_of_one_metric_add_up() -> None:
    line = MetricsLine("orders")
    line.count("TasksDeadLettered", 1)  # no task: say, an unreadable message
    line.count("TasksDeadLettered", 2, task="alpha")
    line.count("TasksDeadLettered", 4, task="beta")
    totals = series_totals(line.documents({"message": "batch"}))
    assert totals["TasksDeadLettered", (("service", "orders"),)] == 7
    assert totals["TasksDeadLettered", (("service", "orders"), ("task", "alpha"))] == 2
    assert totals["TasksDeadLettered", (("service", "orders"), ("task", "beta"))] == 4


def test_counts_values_and_the_summary_each_land_once() -> None:
    line = MetricsLine("orders")
    line.count("TasksSucceeded", 3, task="alpha")
    line.count("TasksFailed", 1, task="alpha")
    line.count("BatchesReceived", 1)
    line.value("TaskDuration", 12)
    line.value("TaskDuration", 30)
    documents = line.documents({"message": "batch", "succeeded": 3})
    totals = series_totals(documents)
    assert totals == Counter(
        {
            ("TasksSucceeded", (("service", "orders"),)): 3,
            ("TasksSucceeded", (("service", "orders"), ("task", "alpha"))): 3,
            ("TasksFailed", (("service", "orders"),)): 1,
            ("TasksFailed", (("service", "orders"), ("task", "alpha"))): 1,
            ("BatchesReceived", (("service", "orders"),)): 1,
            ("TaskDuration", (("service", "orders"),)): 42,
        }
    )
    assert sum(document.get("message") == "batch" for document in documents) == 1
