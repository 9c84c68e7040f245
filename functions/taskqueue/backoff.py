"""Exponential backoff with jitter, applied as a failed message's visibility timeout."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from taskqueue.limits import SQS_MAX_VISIBILITY_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Backoff:
    """How long a failed task waits before its next attempt: ``base_seconds`` doubling, up to ``max_seconds``.

    The queue's default comes from ``TASKQUEUE_BACKOFF_*``; a task may set its own with ``@task(backoff=...)``.
    """

    base_seconds: float = 2.0
    max_seconds: float = 900.0

    def __post_init__(self) -> None:
        for name in ("base_seconds", "max_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"Backoff {name}={value!r} is not a number")
            if not 1 <= value <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
                raise ValueError(
                    f"Backoff {name}={value!r} is out of range: it must be between 1 and "
                    f"{SQS_MAX_VISIBILITY_TIMEOUT_SECONDS} seconds (SQS's longest visibility timeout)"
                )
        if self.base_seconds > self.max_seconds:
            raise ValueError(
                f"Backoff base_seconds={self.base_seconds!r} is greater than max_seconds={self.max_seconds!r}"
            )


def visibility_delay(attempt: int, backoff: Backoff, rng: Callable[[], float] = random.random) -> int:
    """Seconds to keep a failed message hidden before its next attempt, after attempt number ``attempt``.

    Equal jitter: half the exponential step is fixed and half random, so retries spread out
    but a failed message is never made visible again at once.
    """
    attempt = max(1, attempt)
    # Bound the exponent before computing, so a huge attempt number cannot overflow.
    ceiling = min(backoff.max_seconds, backoff.base_seconds * 2 ** min(attempt - 1, 32))
    delay = ceiling / 2 + rng() * ceiling / 2
    return max(1, min(round(delay), SQS_MAX_VISIBILITY_TIMEOUT_SECONDS))
