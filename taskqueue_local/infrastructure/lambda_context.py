"""Lambda's context object for functions run in the caller's own process (the consumer of a scenario or the
benchmark, the tests' in-process handlers). Not the one the local Lambda's runtime builds in each execution
environment (``lambda_runtime``, standard library only)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """A context with ``remaining_seconds`` from its creation, on a real or a fake clock; ``stop()`` drops
    the remaining time to zero, which ends a consumer run as the end of its budget would."""

    remaining_seconds: float = 60.0
    function_name: str = "taskqueue-local"
    clock: Callable[[], float] = time.monotonic
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:taskqueue-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/taskqueue-local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.remaining_seconds
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def get_remaining_time_in_millis(self) -> int:
        if self._stopped.is_set():
            return 0
        return max(0, int((self._deadline - self.clock()) * 1000))
