"""Moved: :mod:`taskqueue_local.infrastructure.call_counter`."""

from taskqueue_local.infrastructure.call_counter import CallCounter

__all__ = ["CallCounter"]
