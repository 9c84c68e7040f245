"""Run-once protection for tasks on at-least-once queues, with Powertools' idempotency utility.

A task message is keyed by its identity (:func:`taskqueue.message.task_identity`): its task name
and ``id`` when it has one, else its task name and SQS message id, so a redelivered message (or a
second copy enqueued with the same task and id) does not run again once it completed. While an attempt
is in flight, a second copy raises :class:`taskqueue.errors.TaskInProgress` without running, and is
retried later. The worker tells the layer's own errors (a throttle, say) from the task's by whether the
task was called, not by their type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from taskqueue.errors import TaskInProgress

__all__ = ["IdempotencyAlreadyInProgressError", "IdempotentRunner", "TaskInProgress"]


class IdempotentRunner:
    def __init__(
        self, table_name: str, ttl_seconds: int, dynamodb_client: Any | None = None, client_config: Any | None = None
    ) -> None:
        """``client_config``: the botocore Config of the client Powertools makes (its connection pool)."""
        self._config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=ttl_seconds
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name, boto3_client=dynamodb_client, boto_config=None if dynamodb_client else client_config
        )

        # The key prefix keeps records independent of the function's name, so the scheduled and
        # the event-source-mapping deployments of the same queue agree on what already ran.
        @idempotent_function(
            data_keyword_argument="job", persistence_store=persistence, config=self._config, key_prefix="taskqueue"
        )
        def run(job: dict[str, Any], action: Callable[[], Any]) -> dict[str, bool]:
            action()
            return {"completed": True}

        self._run = run

    def register_lambda_context(self, context: Any) -> None:
        # Without the context, an attempt cut off by a timeout would block retries until the record expires.
        self._config.register_lambda_context(context)

    def run(self, key: str, action: Callable[[], Any]) -> None:
        """Run ``action`` once per ``key``; raises :class:`TaskInProgress` while another run holds the key."""
        called = False

        def tracked() -> Any:
            nonlocal called
            called = True
            return action()

        try:
            self._run(job={"key": key}, action=tracked)
        except IdempotencyAlreadyInProgressError as error:
            if called:  # raised by the action itself (a task using Powertools idempotency inside): its own error
                raise
            raise TaskInProgress(str(error)) from error
