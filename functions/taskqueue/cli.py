"""``python -m taskqueue enqueue|stats|redrive``: operate a queue from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from taskqueue.producer import EnqueueError, TaskQueue
from taskqueue.queue_attributes import dead_letter_queue_url, queue_depths
from taskqueue.redrive import RedriveIncomplete, redrive


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m taskqueue", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_queue(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--queue-url",
            default=os.environ.get("TASKQUEUE_QUEUE_URL"),
            help="the task queue (default: $TASKQUEUE_QUEUE_URL)",
        )

    enqueue = commands.add_parser("enqueue", help="send one task")
    with_queue(enqueue)
    enqueue.add_argument("task", help="registered task name")
    enqueue.add_argument("--payload", default="null", help="the payload, as JSON (default: null)")
    enqueue.add_argument("--id", help="task id (idempotency key; FIFO deduplication id)")
    enqueue.add_argument("--delay", type=int, default=0, help="delivery delay in seconds (standard queues)")
    enqueue.add_argument("--group-id", help="message group (FIFO queues)")
    enqueue.add_argument("--deduplication-id", help="deduplication id (FIFO queues)")

    stats = commands.add_parser("stats", help="message counts of the queue and its DLQ")
    with_queue(stats)
    stats.add_argument("--dlq-url", help="the DLQ (default: from the queue's redrive policy)")

    move = commands.add_parser("redrive", help="move the DLQ's messages back to the queue")
    with_queue(move)
    move.add_argument("--dlq-url", help="the DLQ (default: from the queue's redrive policy; checked to be its DLQ)")
    move.add_argument("--max-per-second", type=int, help="rate limit for SQS's move task")
    move.add_argument("--copy", action="store_true", help="copy message by message instead of a move task")
    move.add_argument(
        "--journal", type=Path, help="the copy's journal (default: $XDG_STATE_HOME/taskqueue/redrive-journal.sqlite3)"
    )
    return parser


def main(argv: Sequence[str] | None = None, sqs: Any | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.queue_url:
        parser.error("--queue-url is required (or set TASKQUEUE_QUEUE_URL)")
    if sqs is None:
        import boto3  # noqa: PLC0415 - the CLI's only AWS dependency

        sqs = boto3.client("sqs")
    try:
        result = _run(args, sqs)
    except RedriveIncomplete as stopped:
        print(json.dumps(asdict(stopped.result), indent=2))
        print(f"error: {stopped}", file=sys.stderr)
        return 1
    except (ValueError, EnqueueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 1
    print(json.dumps(result, indent=2))
    return 0


def _run(args: argparse.Namespace, sqs: Any) -> dict[str, Any]:
    if args.command == "enqueue":
        try:
            payload = json.loads(args.payload)
        except ValueError as error:
            raise ValueError(f"--payload is not JSON: {error}") from None
        message_id = TaskQueue(args.queue_url, sqs=sqs).enqueue(
            args.task,
            payload,
            id=args.id,
            delay_seconds=args.delay,
            group_id=args.group_id,
            deduplication_id=args.deduplication_id,
        )
        return {"message_id": message_id}
    dlq_url = args.dlq_url or dead_letter_queue_url(sqs, args.queue_url)
    if args.command == "stats":
        return {
            "queue": {"url": args.queue_url, **queue_depths(sqs, args.queue_url)},
            "dead_letter_queue": {"url": dlq_url, **queue_depths(sqs, dlq_url)},
        }
    return asdict(
        redrive(sqs, args.queue_url, dlq_url, args.max_per_second, force_copy=args.copy, journal_path=args.journal)
    )
