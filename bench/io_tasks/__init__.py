"""The benchmark's I/O-bound tasks (issue 23): each waits 100 ms, as a task that calls an HTTP API does.

Three ways to wait, the same work, for the bench to compare through the runtime's worker:

- ``io_async``: ``async def``, awaits ``asyncio.sleep``: the worker runs a batch's runs together on its
  event loop;
- ``io_threads``: a plain function with ``threads=True``, ``time.sleep`` in the worker's thread pool;
- ``io_sequential``: a plain function, ``time.sleep``: one run after another, as every task ran before.

``IO_WAIT_SECONDS`` is the wait; the payload may set another (``{"seconds": 0.05}``). Build the worker with
``noop_tasks`` beside this package (its import counts AWS calls when ``BENCH_CALLS_FILE`` is set).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from taskqueue import task

IO_WAIT_SECONDS = 0.1
IO_TASKS = ("io_async", "io_threads", "io_sequential")


def _seconds(payload: Any) -> float:
    if isinstance(payload, dict) and isinstance(payload.get("seconds"), int | float):
        return float(payload["seconds"])
    return IO_WAIT_SECONDS


@task("io_async")
async def io_async(payload: Any) -> None:
    await asyncio.sleep(_seconds(payload))


@task("io_threads", threads=True)
def io_threads(payload: Any) -> None:
    time.sleep(_seconds(payload))


@task("io_sequential")
def io_sequential(payload: Any) -> None:
    time.sleep(_seconds(payload))
