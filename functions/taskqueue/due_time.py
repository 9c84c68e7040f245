"""When a task is due: ``at=`` an aware datetime or ``delay=`` a timedelta or seconds, checked and made UTC.

Every refusal names the field and its value: a naive datetime (its time zone would be a guess), a
time in the past, one further ahead than :data:`~taskqueue.limits.MAX_SCHEDULE_AHEAD_SECONDS`, a
negative or non-numeric delay, and both fields at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from taskqueue.limits import MAX_SCHEDULE_AHEAD_SECONDS


@dataclass(frozen=True)
class DueTime:
    """A task's due time, and how far ahead of ``now`` it was when checked."""

    at: datetime  # aware, UTC, whole seconds: never earlier than asked for
    seconds_ahead: int  # whole seconds from now, rounded up: 0 means now

    @property
    def immediate(self) -> bool:
        return self.seconds_ahead == 0


def _describe(task: str) -> str:
    return f" of task {task!r}" if task else ""


def _checked_delay(delay: Any, task: str) -> float:
    if isinstance(delay, timedelta):
        return delay.total_seconds()
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay):
        raise ValueError(f"delay={delay!r}{_describe(task)} must be a timedelta or a number of seconds")
    return float(delay)


def _checked_at(at: Any, task: str) -> datetime:
    """Aware, in its own time zone: converting to UTC can overflow at the ends of the calendar, so that
    waits until the time is known to be within reach."""
    if not isinstance(at, datetime):
        raise ValueError(f"at={at!r}{_describe(task)} must be a datetime with a time zone")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"at={at.isoformat()}{_describe(task)} is a naive datetime: give it a time zone "
            "(datetime(..., tzinfo=timezone.utc) or a zoneinfo.ZoneInfo), so that it means one instant"
        )
    return at


def due_time(at: Any = None, delay: Any = None, *, now: datetime, task: str = "") -> DueTime | None:
    """The due time of ``at`` or ``delay`` (None when neither is given), checked against ``now``."""
    if at is not None and delay is not None:
        raise ValueError(f"task {task!r}: give at= or delay=, not both (at={at!r}, delay={delay!r})")
    if at is None and delay is None:
        return None
    if delay is not None:
        seconds = _checked_delay(delay, task)
        if seconds < 0:
            raise ValueError(f"delay={delay!r}{_describe(task)} is negative: a task cannot be due in the past")
        field, value = "delay", repr(delay)
    else:
        seconds = (_checked_at(at, task) - now).total_seconds()
        if seconds < 0:
            raise ValueError(
                f"at={at.isoformat()}{_describe(task)} is in the past (now is {now.isoformat(timespec='seconds')})"
            )
        field, value = "at", at.isoformat()
    if seconds > MAX_SCHEDULE_AHEAD_SECONDS:
        raise ValueError(
            f"{field}={value}{_describe(task)} is {seconds / 86_400:.1f} days ahead; tasks can be scheduled at "
            f"most {MAX_SCHEDULE_AHEAD_SECONDS // 86_400} days ahead"
        )
    # Within reach now: the checks above come first, since a huge delay or a time near year 9999 overflows.
    target = now + timedelta(seconds=seconds) if delay is not None else at.astimezone(UTC)
    # Rounded up to the second, as Scheduler's at() and SQS's DelaySeconds count: never early.
    return DueTime(at=_next_whole_second(target), seconds_ahead=math.ceil(seconds))


def _next_whole_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1) if moment.microsecond else whole
