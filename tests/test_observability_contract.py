"""The dashboard and the alarms name only metrics the runtime writes (``taskqueue.observability``).

A metric renamed on one side only would leave a widget empty or an alarm that never fires, and nothing
else would notice: Terraform accepts any name. So the metric names used with ``var.metrics_namespace``
are read out of ``dashboard.tf`` and ``alarms.tf`` with python-hcl2's syntax tree (not a regex) and
held to ``observability.METRICS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hcl2
import pytest
from lark import Token, Tree

from taskqueue import observability

TERRAFORM = Path(__file__).resolve().parent.parent / "terraform"


def _children(node: Tree) -> list[Tree]:
    """The expressions of a tuple or an argument list (brackets, commas and comments left out)."""
    return [child for child in node.children if isinstance(child, Tree) and child.data != "new_line_or_comment"]


def _identifiers(node: Tree) -> list[str]:
    return [str(token) for token in node.scan_values(lambda v: isinstance(v, Token) and v.type == "NAME")]


def _is_namespace(node: Tree) -> bool:
    """``var.metrics_namespace`` and nothing else."""
    return node.data == "expr_term" and _identifiers(node) == ["var", "metrics_namespace"]


def _mentions_namespace(node: Tree) -> bool:
    return any(_is_namespace(term) for term in node.find_data("expr_term"))


def _literal(node: Tree) -> str | None:
    """The text of a plain string literal (no interpolation), else None."""
    strings = _children(node) if node.data == "expr_term" else []
    if len(strings) != 1 or strings[0].data != "string":
        return None
    parts = _children(strings[0])
    if len(parts) != 1 or not all(isinstance(child, Token) for child in parts[0].children):
        return None
    return "".join(str(child) for child in parts[0].children)


def _object_items(node: Tree) -> dict[str, Tree]:
    items: dict[str, Tree] = {}
    for element in node.find_data("object_elem"):
        key, value = _children(element)[:2]
        names = _identifiers(key)
        if len(names) == 1:
            items.setdefault(names[0], value)
    return items


def metric_names(tree: Tree) -> Iterator[str]:
    """Every metric name used with ``var.metrics_namespace``: in a dashboard metric array
    ``[var.metrics_namespace, "Name", ...]``, an alarm ``{namespace = var.metrics_namespace, metric_name =
    "Name"}``, and a ``for`` over ``[["Name", ...], ...]`` whose body searches the namespace."""
    for node in tree.find_data("tuple"):
        elements = _children(node)
        if len(elements) >= 2 and _is_namespace(elements[0]) and (name := _literal(elements[1])):
            yield name
    for node in tree.find_data("object"):
        items = _object_items(node)
        if "namespace" in items and _is_namespace(items["namespace"]) and "metric_name" in items:
            name = _literal(items["metric_name"])
            assert name is not None, "an alarm on var.metrics_namespace whose metric_name is not a literal"
            yield name
    for node in tree.find_data("for_tuple_expr"):
        intro, body = node.children[1], node.children[-2]
        if not _mentions_namespace(body):
            continue
        (collection,) = [child for child in intro.children if isinstance(child, Tree) and child.data == "expr_term"]
        for row in collection.find_data("tuple"):
            if row is not _children(collection)[0] and (name := _literal(_children(row)[0])):
                yield name


def _tree(name: str) -> Tree:
    return hcl2.parses_to_tree((TERRAFORM / name).read_text())


@pytest.mark.parametrize("file", ["dashboard.tf", "alarms.tf"])
def test_every_metric_of_the_namespace_is_one_the_runtime_writes(file):
    used = set(metric_names(_tree(file)))
    assert used, f"no metric of var.metrics_namespace found in {file}: has its layout changed?"
    unknown = used - set(observability.METRICS)
    assert not unknown, f"{file} names metrics the runtime does not write: {sorted(unknown)}"


def test_the_dashboard_shows_the_workers_task_metrics():
    used = set(metric_names(_tree("dashboard.tf")))
    wanted = {
        observability.TASKS_SUCCEEDED,
        observability.TASKS_RETRIED,
        observability.TASKS_DEAD_LETTERED,
        observability.TASK_DURATION,
        observability.TASK_QUEUE_TIME,
        observability.TASKS_HELD_BACK,
    }
    assert wanted <= used, f"the dashboard does not show {sorted(wanted - used)}"


def test_the_alarms_watch_a_worker_that_cannot_start():
    assert observability.WORKER_START_FAILED in set(metric_names(_tree("alarms.tf")))


def test_the_reader_finds_each_form_a_metric_takes():
    """The three forms the files use, each found; a name outside them is not a metric of the namespace."""
    tree = hcl2.parses_to_tree(
        """
locals {
  a = [[var.metrics_namespace, "InArray", "service", var.name], ["AWS/SQS", "NotOurs", "QueueName", "q"]]
  b = { namespace = var.metrics_namespace, metric_name = "InAlarm" }
  c = { namespace = "AWS/Lambda", metric_name = "Errors" }
  d = [for m in [["InSearch", "label"]] : { expression = "SEARCH('{\\"${var.metrics_namespace}\\"} ${m[0]}')" }]
  e = [for m in [["NotSearched", "label"]] : { title = m[1] }]
}
"""
    )
    assert sorted(metric_names(tree)) == ["InAlarm", "InArray", "InSearch"]
