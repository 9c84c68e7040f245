"""Tasks for the reliability soak: each behaves as its payload's ``kind`` says, and records its
side effect in a ledger file (one line per run), so the soak can count double runs.

A ``crash`` or ``timeout`` task injects its fault the first time it runs (whatever its receive
count: an earlier receive may never have reached it), and records it first, one
:class:`InjectedFault` per line in ``SOAK_INJECTED``: the soak tells these faults from the ones the
machine caused, and counts them. The tasks run in the worker's execution environments, other
processes than the soak's, hence files; this module writes both files and reads them back
(:func:`read_ledger`, :func:`read_injected`), so nothing else knows their format.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from taskqueue import PermanentError, TaskContext, task

# The environment variables naming the two files (the soak sets them on the worker).
LEDGER_VARIABLE = "SOAK_LEDGER"
INJECTED_VARIABLE = "SOAK_INJECTED"
CRASH = "crash"
TIMEOUT = "timeout"


@dataclass(frozen=True)
class InjectedFault:
    """A crash or a timeout a soak task injected: which task, on which receive of its message."""

    kind: str  # CRASH or TIMEOUT
    task_id: str
    receive_count: int

    def to_line(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_line(cls, line: str) -> InjectedFault:
        document = json.loads(line)
        return cls(str(document["kind"]), str(document["task_id"]), int(document["receive_count"]))


def read_injected(path: Path) -> list[InjectedFault]:
    return [InjectedFault.from_line(line) for line in path.read_text().splitlines() if line.strip()]


def read_ledger(path: Path) -> Counter[str]:
    """Runs per task id: each run of a task appends its id."""
    return Counter(path.read_text().split())


def _first_run(kind: str, context: TaskContext) -> bool:
    """True, once recorded, when no fault was injected for this task yet."""
    path = os.environ[INJECTED_VARIABLE]
    with open(path, "a+", encoding="utf-8") as injected:
        injected.seek(0)
        if any(InjectedFault.from_line(line).task_id == context.task_id for line in injected if line.strip()):
            return False
        fault = InjectedFault(kind, str(context.task_id), context.receive_count)
        injected.write(fault.to_line() + "\n")
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
    if kind == CRASH and _first_run(kind, context):
        os._exit(13)  # the whole execution environment dies mid-batch
    if kind == TIMEOUT and _first_run(kind, context):
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 5)  # killed at the function's timeout
    # The side effect: one line per run, appended atomically.
    with open(os.environ[LEDGER_VARIABLE], "a", encoding="utf-8") as ledger:
        ledger.write(f"{context.task_id}\n")
