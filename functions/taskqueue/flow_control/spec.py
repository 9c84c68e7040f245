"""What a task declares of its flow: a rate limit (with a burst) and a concurrency limit per key.

Both are checked when the task is registered; a bad value raises ``ValueError`` naming the task, the
argument and the value, so a task module with a typo fails the worker's start, not some later message.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# "10/s", "600/m", "1000/h"; the unit may be spelled out ("10/second", "5/min", "3/hour").
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PERIOD_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
MICROS = 1_000_000
# Past this many slots a key's leases cost too many writes to find a free one (one conditional put a slot).
MAX_KEY_CONCURRENCY = 100
MAX_BURST = 10_000
# A key longer than this is stored by its hash: a DynamoDB key holds 2 KB, and the item's id adds the task's name.
MAX_KEY_CHARS = 256


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` starts per ``period_seconds`` at the steady rate, and ``burst`` at once from idle (the
    bucket's size; at least one). Over any closed window of one period: at most ``limit + burst`` starts."""

    limit: int
    period_seconds: int
    burst: int = 0

    @property
    def emission_micros(self) -> int:
        """The time one start uses up, rounded up: the rate never comes out above the limit."""
        return math.ceil(self.period_seconds * MICROS / self.limit)

    @property
    def capacity(self) -> int:
        """Starts allowed at once from idle: ``burst``, and one with no burst."""
        return max(self.burst, 1)

    @property
    def tolerance_micros(self) -> int:
        """How far ahead of the steady rate starts may run: ``capacity - 1`` emissions. A bucket one start
        larger would allow ``limit + burst`` in a half-open period only, ``+ 1`` in a closed one: a start
        trailing its grant by a few milliseconds is then over the limit where it is seen."""
        return (self.capacity - 1) * self.emission_micros

    def __str__(self) -> str:
        unit = {1: "s", 60: "m", 3600: "h"}[self.period_seconds]
        return f"{self.limit}/{unit}" + (f" burst {self.burst}" if self.burst else "")


@dataclass(frozen=True)
class KeyConcurrency:
    """At most ``limit`` runs at once per value of ``key(payload)``, across every worker."""

    limit: int
    key: Callable[[Any], Any]

    def key_of(self, payload: Any) -> str:
        """The key of a payload, as stored: its ``str``, or its hash when long. Raises what ``key`` raises."""
        value = self.key(payload)
        if value is None:
            raise ValueError("key(payload) returned None")
        text = str(value)
        if len(text) > MAX_KEY_CHARS:
            return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        return text


@dataclass(frozen=True)
class FlowLimits:
    """A task's flow limits: either or both."""

    rate: RateLimit | None = None
    concurrency: KeyConcurrency | None = None

    def describe(self) -> str:
        parts = []
        if self.rate is not None:
            parts.append(f"rate_limit={str(self.rate)!r}")
        if self.concurrency is not None:
            parts.append(f"key_concurrency={self.concurrency.limit}")
        return ", ".join(parts)


def parse_rate(task: str, text: Any, burst: Any) -> RateLimit:
    """``rate_limit="10/s"`` (or ``/m``, ``/h``) and ``burst`` (a whole number, 0 by default)."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(
            f"task {task!r}: rate_limit={text!r} must be a count per second, minute or hour, such as '10/s', "
            "'600/m' or '1000/h' (the count a whole number of at least 1)"
        )
    if isinstance(burst, bool) or not isinstance(burst, int) or not 0 <= burst <= MAX_BURST:
        raise ValueError(f"task {task!r}: burst={burst!r} must be a whole number from 0 to {MAX_BURST}")
    return RateLimit(int(match.group(1)), _PERIOD_SECONDS[match.group(2)], burst)


def flow_limits(
    task: str, rate_limit: Any = None, burst: Any = None, key_concurrency: Any = None, key: Any = None
) -> FlowLimits | None:
    """The limits ``@task`` was given, checked; None when none."""
    if burst is not None and rate_limit is None:
        raise ValueError(f"task {task!r}: burst={burst!r} needs a rate_limit (such as rate_limit='10/s')")
    rate = None if rate_limit is None else parse_rate(task, rate_limit, 0 if burst is None else burst)
    concurrency = None
    if key_concurrency is not None or key is not None:
        if (
            isinstance(key_concurrency, bool)
            or not isinstance(key_concurrency, int)
            or not 1 <= key_concurrency <= MAX_KEY_CONCURRENCY
        ):
            raise ValueError(
                f"task {task!r}: key_concurrency={key_concurrency!r} must be a whole number from 1 to "
                f"{MAX_KEY_CONCURRENCY} (runs at once per key)"
            )
        if not callable(key):
            raise ValueError(
                f"task {task!r}: key={key!r} must be a function of the payload, such as "
                "key=lambda payload: payload['customer'] (key_concurrency limits runs per key)"
            )
        concurrency = KeyConcurrency(key_concurrency, key)
    if rate is None and concurrency is None:
        return None
    return FlowLimits(rate, concurrency)
