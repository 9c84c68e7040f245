"""Exponential backoff with jitter, applied as a failed message's visibility timeout."""

from __future__ import annotations

import random
from collections.abc import Callable

from taskqueue.config import SQS_MAX_VISIBILITY_TIMEOUT_SECONDS, BackoffConfig


def visibility_delay(receive_count: int, backoff: BackoffConfig, rng: Callable[[], float] = random.random) -> int:
    """Seconds to keep a failed message hidden before its next attempt.

    Equal jitter: half the exponential step is fixed and half random, so retries spread out
    but a failed message is never made visible again at once.
    """
    attempt = max(1, receive_count)
    # Bound the exponent before computing, so a huge receive count cannot overflow.
    ceiling = min(backoff.max_seconds, backoff.base_seconds * 2 ** min(attempt - 1, 32))
    delay = ceiling / 2 + rng() * ceiling / 2
    return max(1, min(round(delay), SQS_MAX_VISIBILITY_TIMEOUT_SECONDS))
