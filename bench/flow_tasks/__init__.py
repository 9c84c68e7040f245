"""The flow benchmark's tasks (``make flow``): each writes its own start and end times, one JSON line a run,
to ``FLOW_TIMES_FILE``, so the limits are checked from what the tasks saw, not from what the worker says."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from taskqueue import task

# `python -m bench.flow --rate` sets it for the worker it deploys.
RATE_LIMIT_ENV = "FLOW_RATE_LIMIT"
RATE_LIMIT = os.environ.get(RATE_LIMIT_ENV, "20/s")
BURST = 5
KEY_CONCURRENCY = 2
KEYED_RUN_SECONDS = 0.5
_TIMES_FILE = os.environ.get("FLOW_TIMES_FILE")


def _record(name: str, payload: dict[str, Any], start: float) -> None:
    line = json.dumps(
        {"task": name, "id": payload["id"], "key": payload.get("key"), "start": start, "end": time.time()}
    )
    with open(_TIMES_FILE or os.devnull, "a", encoding="utf-8") as times:
        times.write(line + "\n")


@task("flow_rate_limited", rate_limit=RATE_LIMIT, burst=BURST)
def rate_limited(payload: dict[str, Any]) -> None:
    _record("flow_rate_limited", payload, time.time())


@task("flow_per_key", key_concurrency=KEY_CONCURRENCY, key=lambda payload: payload["key"])
def per_key(payload: dict[str, Any]) -> None:
    start = time.time()
    time.sleep(KEYED_RUN_SECONDS)
    _record("flow_per_key", payload, start)
