"""Example task module: how a platform team writes tasks for the worker.

Build a worker that carries it with ``python build.py worker --tasks examples/example_tasks``
and deploy with ``TASKQUEUE_TASKS=example_tasks`` (the module's ``task_modules`` input). Its rate-limited task
is in ``example_tasks.partner_api``, listed only where the module has ``flow_control = true``.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from taskqueue import PermanentError, Retry, TaskContext, task


@task("checksum")
def checksum(payload: dict[str, Any]) -> str:
    """A plain task: takes the payload only. Returning is success; the return value is not stored."""
    return hashlib.sha256(str(payload["text"]).encode()).hexdigest()


@task("flaky")
def flaky(payload: dict[str, Any], context: TaskContext) -> None:
    """Fails its first ``fail_times`` attempts, then succeeds: shows retries with backoff.

    Asking for ``context`` gives the message id, the receive count and the time left.
    """
    if context.receive_count <= int(payload.get("fail_times", 1)):
        raise RuntimeError(f"attempt {context.receive_count} failed on purpose; it will be retried")


@task("rate_limited")
def rate_limited(payload: dict[str, Any], context: TaskContext) -> None:
    """Its first attempt is answered as an HTTP 429 with ``Retry-After`` would be: ``Retry(after=...)``
    has it tried again after exactly that many seconds, whatever the queue's backoff."""
    if context.receive_count == 1:
        raise Retry("rate limited (HTTP 429)", after=int(payload.get("retry_after", 5)))


@task("validate_order")
def validate_order(payload: dict[str, Any]) -> None:
    """Raises PermanentError for input that can never succeed: the message goes to the DLQ at once."""
    if not isinstance(payload, dict) or "order_id" not in payload:
        raise PermanentError("payload has no order_id; retrying cannot fix that")


@task("sleep")
def sleep(payload: dict[str, Any], context: TaskContext) -> None:
    """Sleeps, but never past the invocation's remaining time (minus a second for the response)."""
    budget = max(0.0, context.get_remaining_time_in_millis() / 1000 - 1)
    time.sleep(min(float(payload.get("seconds", 1)), budget))
