"""Moved: :mod:`taskqueue_local.infrastructure.tables`."""

from taskqueue_local.infrastructure.tables import WIDTH, table

__all__ = ["WIDTH", "table"]
