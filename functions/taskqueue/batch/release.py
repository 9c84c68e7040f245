"""A task not called: the message goes back to the queue with no attempt used, to come back later.

Why it was not called decides when: a copy of it in progress (until that copy's invocation can be over), the
idempotency or attempts table failing (its backoff), a run the attempts table refused (by the table's word:
a verdict, a completed last run, a ``Retry(after)`` not yet due, a run still going past its batch's answer, a
last run that may still go on), too little time left in the invocation (at once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from taskqueue import dead_letter_queue
from taskqueue.attempts import RunRefused
from taskqueue.batch import log
from taskqueue.batch.budget import Invocation
from taskqueue.batch.log import describe
from taskqueue.dead_letter_queue import DeadLetter
from taskqueue.errors import TaskInProgress
from taskqueue.observability import ERROR, MESSAGE_ID, OUTCOME, RECEIVE_COUNT, RELEASED, RETRY_IN_SECONDS
from taskqueue.sqs_event import receive_count

if TYPE_CHECKING:
    from taskqueue.batch.dead_letters import DeadLetters


class OutOfTime(Exception):
    """The invocation has too little time left to start another task."""


class NotRun(Exception):
    """The task was not called and its message goes back to the queue: no attempt of it was used."""


def release(
    raw: Mapping[str, Any],
    delay: int,
    why: str,
    keys: dict[str, Any],
    invocation: Invocation,
    error: Exception | None = None,
) -> NoReturn:
    """Hand the message back unrun, to come back after ``delay`` seconds (it costs a receive, no attempt)."""
    invocation.retry_in(str(raw["messageId"]), delay)
    extra: dict[str, Any] = {**keys, OUTCOME: RELEASED, RETRY_IN_SECONDS: delay}
    if error is not None:
        extra[ERROR] = describe(error)
    log.logger.warning(why, extra=extra)
    raise NotRun(why)


def not_started(raw: Mapping[str, Any], invocation: Invocation, keys: Mapping[str, Any] | None = None) -> None:
    """Too little time was left to start the record's task (or a concurrent batch's lane never reached it):
    it did not run, and comes back at once."""
    message_id = str(raw["messageId"])
    invocation.retry_in(message_id, 0, failed=False)
    log.logger.warning(
        "not started: too little time left in the invocation; it will be retried",
        extra={
            MESSAGE_ID: message_id,
            RECEIVE_COUNT: receive_count(raw),
            **(keys or {}),
            OUTCOME: RELEASED,
            RETRY_IN_SECONDS: 0,
        },
    )


def out_of_time(raw: Mapping[str, Any], task: str, keys: dict[str, Any], invocation: Invocation) -> NoReturn:
    not_started(raw, invocation, keys)
    raise OutOfTime(f"too little time left in the invocation to start task {task!r}")


def not_called(
    raw: Mapping[str, Any],
    error: Exception,
    backoff: Callable[[], int],
    max_attempts: int | None,
    task: str,
    keys: dict[str, Any],
    invocation: Invocation,
    dead_letters: DeadLetters,
) -> None:
    """The task was not called: the attempts table refused the run, or the idempotency layer or the table
    failed. Not an attempt: the message is dead-lettered only on the table's word, else released
    (``backoff``: the task's delay for this receive, drawn only when used)."""
    if isinstance(error, RunRefused):
        return refused(raw, error, backoff, max_attempts, task, keys, invocation, dead_letters)
    if isinstance(error, TaskInProgress):
        release(
            raw,
            invocation.longest_run_seconds() or backoff(),
            "not run: another copy of this task is running; released until it can be over",
            keys,
            invocation,
        )
    release(
        raw,
        backoff(),
        "not run: the attempts or idempotency table failed; released to be retried, no attempt used",
        keys,
        invocation,
        error,
    )


def refused(
    raw: Mapping[str, Any],
    refusal: RunRefused,
    backoff: Callable[[], int],
    max_attempts: int | None,
    task: str,
    keys: dict[str, Any],
    invocation: Invocation,
    dead_letters: DeadLetters,
) -> None:
    """The attempts table refused to record a run: a verdict, a completed last run, or no run left."""
    message_id = str(raw["messageId"])
    entry = refusal.entry
    if entry.verdict is not None:
        if message_id not in dead_letters:
            dead_letters.remember(message_id, entry.verdict, sent=entry.verdict_sent)
        return dead_letters.again(raw, keys, invocation)
    if entry.completed:
        log.logger.info("its last allowed run completed; not run again", extra=keys)
        return None
    if refusal.retry_in_seconds > 0:
        # Back before the time its last run asked for (that answer was lost with a killed invocation).
        release(
            raw,
            math.ceil(refusal.retry_in_seconds),
            "not run: back before the time its last run asked to be retried at; released until then",
            keys,
            invocation,
        )
    if refusal.overran_seconds > 0:
        # Its last run went on past its batch's answer (a thread cannot be stopped) and has not ended yet.
        release(
            raw,
            math.ceil(refusal.overran_seconds) + 1,
            "not run: its last run is still going past its invocation's answer; released until it may be over",
            keys,
            invocation,
        )
    if max_attempts is None or entry.runs < max_attempts:
        # Refused for a reason gone by the time it was read (the item changed meanwhile): look again later.
        release(raw, backoff(), "not run: the attempts table refused the run", keys, invocation)
    if refusal.still_running_seconds > 0:
        # A copy of the message (SQS delivers twice at times) while its last run may still go on.
        release(
            raw,
            math.ceil(refusal.still_running_seconds) + 1,
            "not run: its last allowed run may still be under way; released until its invocation ends",
            keys,
            invocation,
        )
    why = DeadLetter(
        dead_letter_queue.RETRIES_EXHAUSTED,
        f"not run again: attempt {entry.runs} of {max_attempts} did not return (its invocation timed out "
        "or crashed, or its outcome could not be recorded)",
        task,
        ran=False,
    )
    return dead_letters.send(raw, why, keys, invocation)
