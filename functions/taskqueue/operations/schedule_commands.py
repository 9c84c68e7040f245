"""The CLI's scheduling: ``enqueue --at/--delay``, ``scheduled list`` and ``scheduled cancel``.

The schedule group and the scheduler role come from $TASKQUEUE_SCHEDULE_GROUP and
$TASKQUEUE_SCHEDULER_ROLE_ARN ($TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN optional), the Terraform module's
outputs schedule_group_name, scheduler_role_arn and schedule_dead_letter_queue_arn.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from typing import Any

from taskqueue.operations.arguments import TooLong, duration, positive_int, required_queue_url, with_queue
from taskqueue.producer import TaskQueue
from taskqueue.schedules import SCHEDULE_GROUP_ENV, NotScheduled, ScheduleName, SchedulingConfig
from taskqueue.status import StatusTable


def delay_argument(text: str) -> timedelta:
    """``--delay``: whole seconds ("90"), or a duration ("45s", "30m", "2h30m", "1d")."""
    try:
        if text.strip().isascii() and text.strip().isdigit():
            return timedelta(seconds=int(text))
        return duration(text)
    except (OverflowError, TooLong):  # beyond what a timedelta holds
        unit = " seconds" if text.strip().isdigit() else ""
        raise argparse.ArgumentTypeError(f"{text}{unit} is too far ahead") from None
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be seconds (90) or a duration such as 2h30m or 1d, got {text!r}"
        ) from None


def at_argument(text: str) -> datetime:
    """``--at``: an ISO 8601 time with its UTC offset ("2030-01-31T09:00:00+01:00", "...Z")."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO 8601 time such as 2030-01-31T09:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: add Z or one such as +01:00")
    return moment


def add_due_arguments(enqueue: argparse.ArgumentParser) -> None:
    """``enqueue``'s --delay and --at (one or the other)."""
    due = enqueue.add_mutually_exclusive_group()
    due.add_argument(
        "--delay",
        type=delay_argument,
        help="run after this long: seconds (90) or 2h30m, 1d; beyond 900 s (or on a FIFO queue) it is scheduled",
    )
    due.add_argument("--at", type=at_argument, help="run at this time, ISO 8601 with its offset (…T09:00:00+01:00)")


def producer(queue_url: str, sqs: Any) -> TaskQueue:
    """A producer with the scheduling and status settings of the environment."""
    return TaskQueue(
        queue_url, sqs=sqs, scheduling=SchedulingConfig.from_environment(), status=StatusTable.from_environment()
    )


def enqueued(handle: str) -> dict[str, Any]:
    """What ``enqueue`` prints: the SQS message id, or the schedule's name and due time."""
    if isinstance(handle, ScheduleName):
        return {"schedule_name": str(handle), "due": handle.due.isoformat()}
    return {"message_id": handle}


def add_schedule_commands(commands: Any) -> None:
    """The ``scheduled`` command group, added to the CLI's subcommands."""
    scheduled = commands.add_parser(
        "scheduled",
        help="tasks scheduled for later: list, cancel",
        description=f"The schedule group is ${SCHEDULE_GROUP_ENV} (the module's schedule_group_name output).",
    )
    group = scheduled.add_subparsers(dest="scheduled_command", required=True)
    listing = group.add_parser("list", help="pending schedules of the group, one-time and periodic, as JSON lines")
    with_queue(listing)
    listing.add_argument("--task", help="only this task's")
    listing.add_argument(
        "--limit", type=positive_int, default=100, metavar="N", help="at most this many: each is one GetSchedule call"
    )
    listing.set_defaults(run=run_list)
    cancel = group.add_parser("cancel", help="delete a pending one-time schedule")
    with_queue(cancel)
    cancel.add_argument("name", nargs="?", help="the schedule's name (what enqueue printed)")
    cancel.add_argument("--task", help="with --id: the task whose schedule to cancel")
    cancel.add_argument("--id", help="with --task: the id it was scheduled with")
    cancel.set_defaults(run=run_cancel)


def _scheduling_producer(args: argparse.Namespace, sqs: Any) -> TaskQueue:
    found = producer(required_queue_url(args), sqs)
    if found.scheduling is None:
        raise ValueError(f"${SCHEDULE_GROUP_ENV} is not set: which schedule group to look in?")
    return found


def run_list(args: argparse.Namespace, sqs: Any) -> int:
    for listed, item in enumerate(_scheduling_producer(args, sqs).scheduled(args.task)):
        if listed == args.limit:
            print(f"more than {args.limit} schedules: showing the first {args.limit} (see --limit)", file=sys.stderr)
            break
        print(json.dumps(item.to_json()))
    return 0


def run_cancel(args: argparse.Namespace, sqs: Any) -> int:
    if (args.task is None) != (args.id is None) or (args.name is None) == (args.task is None):
        raise ValueError("scheduled cancel takes a schedule name, or --task and --id")
    try:
        cancelled = _scheduling_producer(args, sqs).cancel(args.name or (args.task, args.id))
    except NotScheduled as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"cancelled": cancelled.to_json()}, indent=2))
    return 0
