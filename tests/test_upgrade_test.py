"""tools/upgrade_test.py's reading of a plan: which changes destroy what holds tasks (the apply itself
runs in `make upgrade-test`, not here)."""

from __future__ import annotations

from typing import Any

from tools.upgrade_test import destroyed


def change(address: str, kind: str, *actions: str) -> dict[str, Any]:
    return {"address": address, "type": kind, "change": {"actions": list(actions)}}


def test_replacements_and_deletions_of_what_holds_tasks_are_found() -> None:
    changes = [
        change("module.task_queue.aws_sqs_queue.this[0]", "aws_sqs_queue", "delete", "create"),
        change("module.task_queue.aws_sqs_queue.dead_letter_queue[0]", "aws_sqs_queue", "update"),
        change("module.task_queue.aws_dynamodb_table.idempotency[0]", "aws_dynamodb_table", "delete"),
        change("module.task_queue.aws_scheduler_schedule_group.this[0]", "aws_scheduler_schedule_group", "no-op"),
        change("module.task_queue.aws_iam_role.scheduler[0]", "aws_iam_role", "create", "delete"),
        change("module.task_queue.aws_iam_role.worker[0]", "aws_iam_role", "create", "delete"),
        change("module.task_queue.terraform_data.schedules_guard", "terraform_data", "create"),
    ]
    assert destroyed(changes) == [
        "module.task_queue.aws_sqs_queue.this[0] (delete/create)",
        "module.task_queue.aws_dynamodb_table.idempotency[0] (delete)",
        "module.task_queue.aws_iam_role.scheduler[0] (create/delete)",
    ]
