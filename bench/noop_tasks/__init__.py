"""The benchmark's task: does nothing, so what is measured is the queue's own cost.

When ``BENCH_CALLS_FILE`` is set, every AWS call this function process makes is counted there,
one line per call, through boto3's event hooks (the worker creates its clients after importing
its task modules, so they inherit the hook).
"""

from __future__ import annotations

import os
from typing import Any

import boto3

from taskqueue import task

_CALLS_FILE = os.environ.get("BENCH_CALLS_FILE")


def _count(event_name: str, **_: Any) -> None:
    # event_name is before-call.<service>.<Operation>
    with open(_CALLS_FILE or os.devnull, "a", encoding="utf-8") as calls:
        calls.write(event_name.removeprefix("before-call.") + "\n")


if _CALLS_FILE:
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call", _count)


@task("noop")
def noop(payload: Any) -> None:
    return None
