"""``python -m taskqueue``: operate a queue from a shell.

Each command (or group) is added by its own function and runs through ``args.run(args, sqs)``,
which returns the exit code: 0 done, 1 failed or stopped midway, 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from taskqueue.operations.arguments import (
    MISSING_REGION,
    apply_priority,
    required_queue_url,
    warn_of_unknown_local_task,
    with_queue,
)
from taskqueue.operations.dlq_commands import add_dlq_commands
from taskqueue.operations.limit_commands import add_limits_command
from taskqueue.operations.queue_attributes import dead_letter_queue_url, queue_depths
from taskqueue.operations.redrive import RedriveIncomplete, redrive
from taskqueue.operations.schedule_commands import add_due_arguments, add_schedule_commands, enqueued, producer
from taskqueue.operations.status_commands import add_status_command
from taskqueue.producer import EnqueueError


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2))


def _add_enqueue(commands: Any) -> None:
    enqueue = commands.add_parser("enqueue", help="send one task")
    with_queue(enqueue)
    enqueue.add_argument("task", help="registered task name")
    enqueue.add_argument("--payload", default="null", help="the payload, as JSON (default: null)")
    enqueue.add_argument("--id", help="task id (idempotency key; FIFO deduplication id)")
    add_due_arguments(enqueue)
    enqueue.add_argument("--group-id", help="message group (FIFO queues)")
    enqueue.add_argument("--deduplication-id", help="deduplication id (FIFO queues)")
    enqueue.add_argument("--tenant", help="who the task is for (standard queues: SQS fair queueing by tenant)")
    enqueue.set_defaults(run=_run_enqueue)


def _run_enqueue(args: argparse.Namespace, sqs: Any) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as error:
        raise ValueError(f"--payload is not JSON: {error}") from None
    warn_of_unknown_local_task(args.task)
    handle = producer(required_queue_url(args), sqs).enqueue(
        args.task,
        payload,
        id=args.id,
        group_id=args.group_id,
        deduplication_id=args.deduplication_id,
        at=args.at,
        delay=args.delay,
        tenant=args.tenant,
    )
    _print(enqueued(handle))
    return 0


def _add_stats(commands: Any) -> None:
    stats = commands.add_parser("stats", help="message counts of the queue and its DLQ")
    with_queue(stats)
    stats.add_argument("--dlq-url", help="the DLQ (default: from the queue's redrive policy)")
    stats.set_defaults(run=_run_stats)


def _run_stats(args: argparse.Namespace, sqs: Any) -> int:
    queue_url = required_queue_url(args)
    dlq_url = args.dlq_url or dead_letter_queue_url(sqs, queue_url)
    _print(
        {
            "queue": {"url": queue_url, **queue_depths(sqs, queue_url)},
            "dead_letter_queue": {"url": dlq_url, **queue_depths(sqs, dlq_url)},
        }
    )
    return 0


def _add_redrive(commands: Any) -> None:
    move = commands.add_parser("redrive", help="move every message of the DLQ back to the queue")
    with_queue(move)
    move.add_argument("--dlq-url", help="the DLQ (default: from the queue's redrive policy; checked to be its DLQ)")
    move.add_argument("--max-per-second", type=int, help="rate limit for SQS's move task")
    move.add_argument("--copy", action="store_true", help="copy message by message instead of a move task")
    move.add_argument(
        "--journal", type=Path, help="the copy's journal (default: $XDG_STATE_HOME/taskqueue/redrive-journal.sqlite3)"
    )
    move.set_defaults(run=_run_redrive)


def _run_redrive(args: argparse.Namespace, sqs: Any) -> int:
    queue_url = required_queue_url(args)
    dlq_url = args.dlq_url or dead_letter_queue_url(sqs, queue_url)
    try:
        result = redrive(sqs, queue_url, dlq_url, args.max_per_second, force_copy=args.copy, journal_path=args.journal)
    except RedriveIncomplete as stopped:
        _print(asdict(stopped.result))
        print(f"error: {stopped}", file=sys.stderr)
        return 1
    _print(asdict(result))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m taskqueue", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _add_enqueue(commands)
    _add_stats(commands)
    _add_redrive(commands)
    add_dlq_commands(commands)
    add_schedule_commands(commands)
    add_limits_command(commands)
    add_status_command(commands)
    return parser


# Signals that end a command as Ctrl-C does: a `timeout`, a cancelled job, a closed terminal.
_TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The command got a terminating signal: it unwinds like Ctrl-C, so a DLQ scan releases what it holds."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _terminate(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _orderly_exit_on_signals() -> Iterator[None]:
    """Python's default SIGTERM ends the process with no ``with`` block run: a DLQ scan's messages would stay
    hidden for its whole lease. Here the signal raises instead (main thread only, where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {each: signal.signal(each, _terminate) for each in _TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def main(argv: Sequence[str] | None = None, sqs: Any | None = None, dynamodb: Any | None = None) -> int:
    """Run a command; ``sqs`` and ``dynamodb`` are the clients to use (default: boto3's, from the environment)."""
    args = _parser().parse_args(argv)
    args.dynamodb = dynamodb
    try:
        apply_priority(args)
        with _orderly_exit_on_signals():
            if sqs is None:
                import boto3  # noqa: PLC0415 - the CLI's only AWS dependency

                sqs = boto3.client("sqs")
            return int(args.run(args, sqs))
    except NoRegionError:  # boto3's own error is a page of traceback that names no way out
        print(f"error: {MISSING_REGION}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (EnqueueError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Terminated as terminated:
        print(f"terminated ({terminated})", file=sys.stderr)
        return 128 + terminated.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
