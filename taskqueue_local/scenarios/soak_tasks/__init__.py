"""Tasks for the reliability soak: each behaves as its payload's ``kind`` says, and records its
side effect in a ledger file (one line per run), so the soak can count double runs.

A ``crash`` or ``timeout`` task injects its fault the first time it runs (whatever its receive
count: an earlier receive may never have reached it), and records it first, one JSON object per
line in ``SOAK_INJECTED`` (``kind``, ``task_id``, ``receive_count``): the soak tells these faults
from the ones the machine caused, and counts them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from taskqueue import PermanentError, TaskContext, task


def _first_run(kind: str, context: TaskContext) -> bool:
    """True, once recorded, when no fault was injected for this task yet."""
    path = os.environ["SOAK_INJECTED"]
    with open(path, "a+", encoding="utf-8") as injected:
        injected.seek(0)
        if any(json.loads(line)["task_id"] == context.task_id for line in injected if line.strip()):
            return False
        record = {"kind": kind, "task_id": context.task_id, "receive_count": context.receive_count}
        injected.write(json.dumps(record) + "\n")
    return True


@task("soak")
def soak(payload: dict[str, Any], context: TaskContext) -> None:
    kind, attempt = payload["kind"], context.receive_count
    if kind == "transient" and attempt <= int(payload["fail_times"]):
        raise RuntimeError(f"transient failure on attempt {attempt}")
    if kind == "permanent":
        raise PermanentError("this input can never succeed")
    if kind == "exhausted":
        raise RuntimeError("fails on every attempt")
    if kind == "crash" and _first_run(kind, context):
        os._exit(13)  # the whole execution environment dies mid-batch
    if kind == "timeout" and _first_run(kind, context):
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 5)  # killed at the function's timeout
    # The side effect: one line per run, appended atomically.
    with open(os.environ["SOAK_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"{context.task_id}\n")
