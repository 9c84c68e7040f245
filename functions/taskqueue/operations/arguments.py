"""Argument types and the --queue-url option that the CLI's command groups share."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime, timedelta

from taskqueue.priorities import QUEUE_URLS_ENV, queue_url_for_priority, queue_urls_from_env

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


class TooLong(argparse.ArgumentTypeError):
    """A duration beyond what a timedelta holds (999,999,999 days)."""


def duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``7d``, or a sum such as ``1d12h``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or not match:
        raise argparse.ArgumentTypeError(f"must be a duration such as 30m, 2h, 7d or 1d12h, got {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # timedelta holds at most 999,999,999 days
        raise TooLong(f"{text} is too long a duration") from None


def since_now(back: timedelta) -> datetime:
    """The time ``--since back`` names: now less ``back``; bad input when that is before the year 1."""
    try:
        return datetime.now(UTC) - back
    except OverflowError:
        raise ValueError(f"--since {back.days}d reaches back before the year 1") from None


def with_queue(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--queue-url",
        default=os.environ.get("TASKQUEUE_QUEUE_URL"),
        help="the task queue (default: $TASKQUEUE_QUEUE_URL)",
    )
    with_priority(command)


def with_priority(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--priority",
        help=f"the queue of this priority, from ${QUEUE_URLS_ENV} (the module's queue_urls output); "
        "instead of --queue-url",
    )


def apply_priority(args: argparse.Namespace) -> None:
    """``--priority NAME``: the command works on that priority's queue (its DLQ, through its redrive policy)."""
    priority = getattr(args, "priority", None)
    if priority is None:
        return
    urls = queue_urls_from_env(os.environ)
    if not urls:
        raise ValueError(
            f"--priority {priority} needs ${QUEUE_URLS_ENV}, the module's queue_urls output "
            f'(export {QUEUE_URLS_ENV}="$(terraform output -json queue_urls)"): {LOCAL_STACK_HINT}'
        )
    args.queue_url = queue_url_for_priority(urls, priority)


# The task names the local stack's worker has, comma-separated: `python -m taskqueue_local env` exports it,
# so that `enqueue` can warn of a name the worker would dead-letter as unknown_task.
LOCAL_TASKS_ENV = "TASKQUEUE_LOCAL_TASKS"
# What every missing-configuration error tells a person on the local stack (python -m taskqueue_local).
LOCAL_STACK_HINT = 'on the local stack, run eval "$(python -m taskqueue_local env)" first'
MISSING_REGION = (
    f"no AWS region is configured: {LOCAL_STACK_HINT}; on AWS, set AWS_REGION (or AWS_DEFAULT_REGION) and pass "
    "--queue-url (or set TASKQUEUE_QUEUE_URL)"
)


def required_queue_url(args: argparse.Namespace) -> str:
    if not args.queue_url:
        raise ValueError(f"--queue-url is required (or set TASKQUEUE_QUEUE_URL): {LOCAL_STACK_HINT}")
    return str(args.queue_url)


def warn_of_unknown_local_task(task: str) -> None:
    """On the local stack, whose worker's tasks are known: say so when ``task`` is not one of them. The
    task is sent all the same (a producer may know tasks the stack's worker does not)."""
    known = [name for name in os.environ.get(LOCAL_TASKS_ENV, "").split(",") if name]
    if known and task not in known:
        print(
            f"warning: the local stack's worker has no task {task!r} (it has {', '.join(known)}): "
            "it will be dead-lettered as unknown_task",
            file=sys.stderr,
        )
