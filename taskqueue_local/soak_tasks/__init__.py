"""Tasks for the reliability soak: each behaves as its payload's ``kind`` says, and records its
side effect in a ledger file (one line per run), so the soak can count double runs."""

from __future__ import annotations

import os
import time
from typing import Any

from taskqueue import PermanentError, TaskContext, task


@task("soak")
def soak(payload: dict[str, Any], context: TaskContext) -> None:
    kind, attempt = payload["kind"], context.receive_count
    if kind == "transient" and attempt <= int(payload["fail_times"]):
        raise RuntimeError(f"transient failure on attempt {attempt}")
    if kind == "permanent":
        raise PermanentError("this input can never succeed")
    if kind == "exhausted":
        raise RuntimeError("fails on every attempt")
    if kind == "crash" and attempt == 1:
        os._exit(13)  # the whole execution environment dies mid-batch
    if kind == "timeout" and attempt == 1:
        # Recorded first, so the soak can tell this injected timeout from one the machine caused.
        with open(os.environ["SOAK_INJECTED_TIMEOUTS"], "a", encoding="utf-8") as injected:
            injected.write(f"{context.task_id}\n")
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 5)  # killed at the function's timeout
    # The side effect: one line per run, appended atomically.
    with open(os.environ["SOAK_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"{context.task_id}\n")
