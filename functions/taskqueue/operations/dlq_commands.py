"""``python -m taskqueue dlq list|show|redrive|purge``: dead-letter triage from a shell."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from taskqueue.operations.arguments import LOCAL_STACK_HINT, duration, positive_int, since_now, with_priority
from taskqueue.operations.dlq_message import KNOWN_REASONS, DlqMessage
from taskqueue.operations.dlq_scan import ScanSettings
from taskqueue.operations.output import make_output
from taskqueue.operations.queue_attributes import (
    check_is_dead_letter_queue,
    dead_letter_queue_url,
    queue_arn,
    source_queue_url,
)
from taskqueue.operations.redrive_journal import RedriveJournal, default_journal_path
from taskqueue.operations.triage import (
    MessageResult,
    Selection,
    TriageReport,
    list_dead_letters,
    purge_dead_letters,
    redrive_dead_letters,
)
from taskqueue.producer_status import ProducerStatus
from taskqueue.schedules import SCHEDULE_DEAD_LETTER_ARN_ENV
from taskqueue.status import StatusTable

PEEK_WARNING = (
    "SQS cannot peek: reading a dead letter receives it, which raises its receive count in the DLQ by one "
    f"and hides it while the command runs (at most {ScanSettings().lease_seconds // 60} minutes if the command "
    "is killed). Whatever a command read and did not take goes back into the DLQ as soon as it ends."
)


def add_dlq_commands(commands: Any) -> None:
    """The ``dlq`` command group, added to the CLI's subcommands."""
    queues = argparse.ArgumentParser(add_help=False)
    queues.add_argument(
        "--queue-url",
        default=os.environ.get("TASKQUEUE_QUEUE_URL"),
        help="the task queue; its redrive policy names the DLQ (default: $TASKQUEUE_QUEUE_URL)",
    )
    queues.add_argument(
        "--dlq-url",
        help=(
            "the DLQ (default: the queue's); checked to be a dead-letter queue: with --queue-url its DLQ, else one "
            f"a redrive policy names, or the schedule DLQ ${SCHEDULE_DEAD_LETTER_ARN_ENV}"
        ),
    )
    with_priority(queues)
    queues.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument(
        "--reason",
        nargs="+",
        action="extend",
        default=[],
        help=f"reasons to take (any of them): {', '.join(KNOWN_REASONS)}",
    )
    filters.add_argument("--task", nargs="+", action="extend", default=[], help="task names to take (any of them)")
    filters.add_argument(
        "--since", type=duration, metavar="DURATION", help="first enqueued at most this long ago: 30m, 2h, 7d"
    )
    filters.add_argument("--message-id", nargs="+", action="extend", default=[], help="message ids to take")
    filters.add_argument("--limit", type=positive_int, metavar="N", help="take at most this many")

    dlq = commands.add_parser("dlq", help="dead-letter triage: list, show, redrive, purge", description=PEEK_WARNING)
    group = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = group.add_parser(
        "list",
        parents=[queues, filters],
        help="list dead letters: id, task, reason, error, first enqueued, receives, size",
        description=f"List the dead letters that match. {PEEK_WARNING}",
    )
    listing.set_defaults(run=run_list)
    show = group.add_parser(
        "show",
        parents=[queues],
        help="one dead letter: body, every attribute, full error",
        description=f"Show one dead letter. {PEEK_WARNING}",
    )
    show.add_argument("message_id", help="the message id in the DLQ (from dlq list)")
    show.set_defaults(run=run_show)
    redrive = group.add_parser(
        "redrive",
        parents=[queues, filters],
        help="send the matching dead letters back to their queue",
        description=(
            "Send the matching dead letters back to the queue whose redrive policy names this DLQ, with their body "
            "and original attributes (not the runtime's taskqueue.* ones); each is deleted from the DLQ only after "
            f"its send succeeded, and a rerun after a stop sends nothing twice (see docs/operating.md). {PEEK_WARNING}"
        ),
    )
    redrive.add_argument("--dry-run", action="store_true", help="say what would move; send and delete nothing")
    redrive.add_argument(
        "--journal", type=Path, help="the redrive journal (default: $XDG_STATE_HOME/taskqueue/redrive-journal.sqlite3)"
    )
    redrive.set_defaults(run=run_redrive)
    purge = group.add_parser(
        "purge",
        parents=[queues, filters],
        help="delete the matching dead letters for good",
        description=f"Delete the dead letters that match, and only those; needs a filter and --yes. {PEEK_WARNING}",
    )
    purge.add_argument("--yes", action="store_true", help="confirm: purge deletes for good")
    purge.set_defaults(run=run_purge)


def schedule_dead_letter_arn() -> str | None:
    """The schedules' own dead-letter queue (a FIFO queue's), which no redrive policy names."""
    return os.environ.get(SCHEDULE_DEAD_LETTER_ARN_ENV) or None


def resolve_dlq_url(args: argparse.Namespace, sqs: Any) -> str:
    """The DLQ to work on, checked to be one before anything is received from it."""
    if args.dlq_url:
        check_is_dead_letter_queue(
            sqs, args.dlq_url, queue_url=args.queue_url, schedule_dead_letter_arn=schedule_dead_letter_arn()
        )
        return str(args.dlq_url)
    if args.queue_url:
        return dead_letter_queue_url(sqs, args.queue_url)
    raise ValueError(f"--queue-url or --dlq-url is required (or set TASKQUEUE_QUEUE_URL): {LOCAL_STACK_HINT}")


def selection(args: argparse.Namespace) -> Selection:
    return Selection(
        reasons=frozenset(args.reason),
        tasks=frozenset(args.task),
        message_ids=frozenset(args.message_id),
        since=since_now(args.since) if args.since else None,
        limit=args.limit,
    )


def run_list(args: argparse.Namespace, sqs: Any) -> int:
    output = make_output(sys.stdout, args.json)
    chosen = selection(args)
    report = list_dead_letters(
        sqs, resolve_dlq_url(args, sqs), chosen, output, schedule_dead_letter_arn=schedule_dead_letter_arn()
    )
    output.summary(report)
    return 0 if report.succeeded else 1


class _Found:
    def __init__(self) -> None:
        self.dlq_message: DlqMessage | None = None

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        self.dlq_message = dlq_message

    def progress(self, report: TriageReport) -> None:
        """Nothing to show until it is found."""


def run_show(args: argparse.Namespace, sqs: Any) -> int:
    dlq_url = resolve_dlq_url(args, sqs)
    found = _Found()
    report = list_dead_letters(
        sqs,
        dlq_url,
        Selection(message_ids=frozenset({args.message_id}), limit=1),
        found,
        schedule_dead_letter_arn=schedule_dead_letter_arn(),
    )
    if found.dlq_message is not None:
        make_output(sys.stdout, args.json).show(found.dlq_message)
        return 0
    why = f"an SQS error stopped the search: {report.error}" if report.error else f"read {report.scanned} messages"
    if report.in_flight_at_start:
        why += f"; {report.in_flight_at_start} more were in flight and could not be read (try again later)"
    if report.out_of_reach:
        why += (
            f"; about {report.out_of_reach} more were out of reach behind earlier messages of their FIFO group, "
            "which SQS delivers first (see docs/operating.md)"
        )
    elif report.unread:
        why += (
            f"; about {report.unread} more visible at the start were not read (another reader held them, or they "
            "were deleted meanwhile): try again"
        )
    # Some messages could not be read: it may be among them.
    unsure = report.in_flight_at_start or report.out_of_reach or report.unread
    verdict = "was not found in" if unsure else "is not in"
    print(f"error: message id {args.message_id!r} {verdict} the DLQ {dlq_url} ({why})", file=sys.stderr)
    return 1


def run_redrive(args: argparse.Namespace, sqs: Any) -> int:
    chosen = selection(args)
    dlq_url = resolve_dlq_url(args, sqs)
    destination = args.queue_url or source_queue_url(sqs, dlq_url)
    output = make_output(sys.stdout, args.json)
    table = StatusTable.from_environment()  # each task sent back is queued again in its status
    with RedriveJournal(args.journal or default_journal_path(), queue_arn(sqs, dlq_url)) as journal:
        report = redrive_dead_letters(
            sqs,
            dlq_url,
            destination,
            chosen,
            journal,
            output,
            dry_run=args.dry_run,
            schedule_dead_letter_arn=schedule_dead_letter_arn(),
            status=None if table is None else ProducerStatus(table),
        )
    output.summary(report)
    return 0 if report.succeeded else 1


def run_purge(args: argparse.Namespace, sqs: Any) -> int:
    chosen = selection(args)
    if not chosen.filters:
        raise ValueError("dlq purge needs a filter: --reason, --task, --message-id or --since")
    if not args.yes:
        raise ValueError("dlq purge deletes for good: add --yes (see what it would take with dlq list first)")
    output = make_output(sys.stdout, args.json)
    report = purge_dead_letters(
        sqs, resolve_dlq_url(args, sqs), chosen, output, schedule_dead_letter_arn=schedule_dead_letter_arn()
    )
    output.summary(report)
    return 0 if report.succeeded else 1
