"""Percentiles and medians as the scenarios and the benchmark report them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The value at ``fraction`` (0-1) of the sorted values (nearest rank); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median_by(items: Sequence[T], key: Callable[[T], float]) -> T:
    """The item whose ``key`` is the median (the upper one of an even count): a measured run, not an average."""
    return sorted(items, key=key)[len(items) // 2]
