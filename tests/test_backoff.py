from __future__ import annotations

from taskqueue.backoff import Backoff, visibility_delay


def test_doubles_per_attempt_with_equal_jitter():
    backoff = Backoff(base_seconds=10, max_seconds=1000)
    lows = [visibility_delay(n, backoff, rng=lambda: 0.0) for n in range(1, 6)]
    highs = [visibility_delay(n, backoff, rng=lambda: 0.999999) for n in range(1, 6)]
    assert lows == [5, 10, 20, 40, 80]
    assert highs == [10, 20, 40, 80, 160]


def test_capped_by_the_maximum_and_never_zero():
    backoff = Backoff(base_seconds=1, max_seconds=60)
    assert visibility_delay(50, backoff, rng=lambda: 0.999999) == 60
    assert visibility_delay(10**9, backoff, rng=lambda: 0.0) == 30
    assert visibility_delay(0, backoff, rng=lambda: 0.0) == 1
    assert visibility_delay(1, backoff, rng=lambda: 0.0) == 1
