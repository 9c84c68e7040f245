"""The real consumer, run in the caller's process (a scenario, the benchmark) against a deployment, with its
calls counted."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

from taskqueue.config import ConsumerConfig
from taskqueue.consumer import Consumer
from taskqueue.limits import invoke_read_timeout
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.infrastructure.call_counter import CallCounter


@dataclass(frozen=True)
class InstrumentedConsumer:
    consumer: Consumer
    calls: CallCounter
    sqs: Any
    lambda_client: Any

    def run_quietly(self, context: Any) -> Any:
        """A run whose report line (its EMF metrics) stays out of the scenario's output."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self.consumer.run(context)


def instrumented_consumer(
    deployment: Deployment, config: ConsumerConfig, *, direct: bool = True, connections: int | None = None
) -> InstrumentedConsumer:
    """A consumer with clients as the runtime makes them (standard SQS retries; no Lambda retries and a
    read timeout as long as a worker invocation can last; a connection per receive loop and worker slot,
    or ``connections`` when runs share it), its calls counted. ``direct`` sends its SQS calls to the
    emulator itself rather than through ``aws_url`` (a fault proxy)."""
    pool = connections or config.max_concurrency + config.receivers + 4
    sqs = deployment.client("sqs", direct=direct, retries={"mode": "standard"}, max_pool_connections=pool)
    lambda_client = deployment.client(
        "lambda",
        retries={"total_max_attempts": 1},
        read_timeout=invoke_read_timeout(config.worker_timeout_seconds),
        max_pool_connections=pool,
    )
    return InstrumentedConsumer(
        Consumer(config, sqs, lambda_client), CallCounter(sqs, lambda_client), sqs, lambda_client
    )
