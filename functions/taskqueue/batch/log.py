"""The worker's logger: one, shared by every module of the batch and the handler.

Modules call ``log.logger`` (not a name bound at import), so a test can replace it here.
"""

from __future__ import annotations

from taskqueue.telemetry import logger_for

logger = logger_for("worker")


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
