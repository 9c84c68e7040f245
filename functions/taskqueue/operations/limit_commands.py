"""``python -m taskqueue limits``: each rate-limited task with its tokens, and the running leases per key.

The table is $TASKQUEUE_FLOW_CONTROL_TABLE (the module's flow_control_table_name output), or ``--table``.
A rate limit shows once its task has started at least once (each start writes its limit to the bucket).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from typing import Any

from taskqueue.config import FLOW_CONTROL_TABLE_ENV
from taskqueue.flow_control.concurrency_keys import lease_from_item
from taskqueue.flow_control.rate_limit import bucket_from_item


def add_limits_command(commands: Any) -> None:
    limits = commands.add_parser(
        "limits",
        help="rate-limited tasks and their tokens; running leases per key (flow control)",
        description=f"The table is ${FLOW_CONTROL_TABLE_ENV} (the module's flow_control_table_name output).",
    )
    limits.add_argument(
        "--table",
        default=os.environ.get(FLOW_CONTROL_TABLE_ENV),
        help=f"the flow-control table (default: ${FLOW_CONTROL_TABLE_ENV})",
    )
    limits.set_defaults(run=_run_limits)


def _run_limits(args: argparse.Namespace, _sqs: Any) -> int:
    if not args.table:
        raise ValueError(
            f"--table is required (or set {FLOW_CONTROL_TABLE_ENV}): the module creates the table with "
            "flow_control = true (output flow_control_table_name)"
        )
    import boto3  # noqa: PLC0415

    print(json.dumps(flow_state(boto3.client("dynamodb"), args.table, time.time()), indent=2))
    return 0


def flow_state(dynamodb: Any, table: str, now: float) -> dict[str, Any]:
    """The table's buckets (tokens now) and unexpired leases, grouped by task and key."""
    rates = []
    leases: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            bucket = bucket_from_item(item)
            if bucket is not None:
                rates.append(
                    {
                        "task": bucket.task,
                        "rate_limit": f"{bucket.limit.limit}/{_unit(bucket.limit.period_seconds)}",
                        "burst": bucket.limit.burst,
                        "tokens": round(bucket.tokens(now), 2),
                    }
                )
                continue
            lease = lease_from_item(item)
            if lease is not None and lease.expires > now:
                leases[lease.task, lease.key].append(lease.expires)
    running = [
        {
            "task": task,
            "key": key,
            "running": len(expiries),
            "longest_lease_ends_in_seconds": round(max(expiries) - now, 1),
        }
        for (task, key), expiries in sorted(leases.items())
    ]
    return {"rate_limits": sorted(rates, key=lambda rate: rate["task"]), "running_leases": running}


def _unit(period_seconds: int) -> str:
    return {1: "s", 60: "m", 3600: "h"}.get(period_seconds, f"{period_seconds}s")
