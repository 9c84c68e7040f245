"""``python -m taskqueue status``: what became of a task, from the module's status table (``track_status``).

``status TASK ID`` (or ``status TASK --message-id M`` for a task without an id) shows one task's status;
``status --state dead_lettered --since 1h`` lists the tasks in a state since then, through the table's
index (eventually consistent: a second or so behind). The table is ``--status-table`` or
``$TASKQUEUE_STATUS_TABLE`` (the module's ``status_table_name`` output).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from taskqueue.operations.arguments import duration, positive_int, since_now
from taskqueue.status import STATES, STATUS_TABLE_ENV, StatusRecord, StatusTable, TaskKey


def add_status_command(commands: Any) -> None:
    command = commands.add_parser(
        "status",
        help="a task's status (state, attempts, last error, times), or the tasks in a state",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    command.add_argument("task", nargs="?", help="the task's name")
    command.add_argument("id", nargs="?", help="the task's id")
    command.add_argument("--message-id", help="a task without an id: its SQS message id (what enqueue printed)")
    command.add_argument("--state", choices=STATES, help="list the tasks in this state (the table's index)")
    command.add_argument("--since", type=duration, help="with --state: changed to it within this long (30m, 1h, 2d)")
    command.add_argument("--limit", type=positive_int, default=100, metavar="N", help="with --state: at most N")
    command.add_argument("--json", action="store_true", help="JSON (one object; with --state, one per line)")
    command.add_argument("--status-table", help=f"the module's status table (default: ${STATUS_TABLE_ENV})")
    command.set_defaults(run=run_status)


def _table(args: argparse.Namespace) -> StatusTable:
    client = getattr(args, "dynamodb", None)
    if args.status_table:
        return StatusTable(args.status_table, dynamodb_client=client)
    table = StatusTable.from_environment()
    if table is not None:
        table = StatusTable(table.table_name, dynamodb_client=client)
    if table is None:
        raise ValueError(
            f"--status-table is required (or set ${STATUS_TABLE_ENV}): the module's status_table_name output, "
            "set when its track_status is on"
        )
    return table


def run_status(args: argparse.Namespace, _sqs: Any) -> int:
    if args.state is not None:
        if args.task or args.id or args.message_id:
            raise ValueError("give --state (a listing) or TASK ID (one task), not both")
        return _list(args)
    if args.since is not None:
        raise ValueError("--since goes with --state")
    if not args.task or (args.id is None) == (args.message_id is None):
        raise ValueError("give TASK ID, or TASK --message-id M for a task without an id, or --state STATE")
    key = TaskKey(args.task, args.id, args.message_id)
    record = _table(args).read(key)
    if record is None:
        which = f"id {args.id!r}" if args.id is not None else f"message {args.message_id!r}"
        print(
            f"error: no status of task {args.task!r} {which}: not tracked (the module's track_status, the task's "
            "own track_status), not enqueued yet, or expired",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
    else:
        print(describe(record))
    return 0


def _list(args: argparse.Namespace) -> int:
    since = None if args.since is None else since_now(args.since)
    found = 0
    for record in _table(args).in_state(args.state, since, args.limit):
        found += 1
        print(json.dumps(record.to_json()) if args.json else one_line(record))
    if not args.json:
        window = f" since {since.isoformat(timespec='seconds')}" if since else ""
        print(
            f"{found} tasks {args.state}{window}" + (f" (--limit {args.limit} reached)" if found >= args.limit else "")
        )
    return 0


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def describe(record: StatusRecord) -> str:
    rows: list[tuple[str, Any]] = [
        ("task", record.task),
        ("id", record.task_id if record.task_id is not None else "-"),
        ("state", record.state),
        ("since", _when(record.state_changed_at)),
        ("attempts", record.attempts),
        ("message id", record.message_id or "-"),
    ]
    if record.next_attempt_at is not None:
        rows.append(("next attempt", _when(record.next_attempt_at)))
    if record.due_at is not None:
        rows.append(("due", _when(record.due_at)))
    if record.reason is not None:
        rows.append(("reason", record.reason))
    if record.dlq_message_id is not None:
        rows.append(("DLQ message id", record.dlq_message_id))
    if record.last_error is not None:
        rows.append(("last error", record.last_error))
    rows += [
        ("enqueued", _when(record.enqueued_at)),
        ("first started", _when(record.first_started_at)),
        ("last started", _when(record.last_started_at)),
        ("finished", _when(record.finished_at)),
    ]
    if record.result_json is not None:
        rows.append(("result", record.result_json))
    if record.result_error is not None:
        rows.append(("result not stored", record.result_error))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def one_line(record: StatusRecord) -> str:
    detail = record.reason or ""
    if record.last_error:
        detail = f"{detail}: {record.last_error}" if detail else record.last_error
    task_id = record.task_id if record.task_id is not None else f"(message {record.message_id})"
    return f"{_when(record.state_changed_at)}  {record.task}  {task_id}  attempts {record.attempts}  {detail}".rstrip()
