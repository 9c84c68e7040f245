"""Moved: :mod:`taskqueue_local.infrastructure.statistics`."""

from taskqueue_local.infrastructure.statistics import median_by, percentile

__all__ = ["median_by", "percentile"]
