"""One measurement of a handler in a fresh interpreter, as a Lambda execution environment runs it.

Run by ``bench.runtime_cost`` as ``python -I -S runtime_probe.py --code DIR --layer DIR ...``: standard
library only, the function's unpacked zip and the runtime's boto3 on the path, nothing else. Prints one
JSON object:

- ``cold``: seconds to import the handler's module and build what its first invocation builds
  (``--build``, a module-level function called with no argument), from a clean interpreter;
- ``warm``: CPU seconds (``time.process_time``) and bytes written to stdout and stderr (what Lambda
  would ingest into CloudWatch Logs) over ``--batches`` invocations of ``--records`` no-op tasks each,
  after ``--warmup`` invocations that are not counted.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
import time
import uuid
from typing import Any

COLD_REFERENCE = "import boto3; boto3.client('sqs')"


class CountingSink(io.TextIOBase):
    """A text stream that counts the UTF-8 bytes written to it and keeps none."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8", errors="replace"))
        return len(text)


class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def event(records: int) -> dict[str, Any]:
    now = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{n}",
                "body": '{"task": "noop", "payload": null}',
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
            for n in range(records)
        ]
    }


def handler_function(handler: str) -> Any:
    module_name, _, name = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def cold(handler: str, build: str | None) -> dict[str, float]:
    started = time.perf_counter()
    if handler == "reference":
        importlib.import_module("boto3").client("sqs")  # COLD_REFERENCE
    else:
        function = handler_function(handler)
        if build:
            getattr(sys.modules[function.__module__], build)()
    return {"seconds": time.perf_counter() - started}


def warm(handler: str, records: int, batches: int, warmup: int) -> dict[str, float]:
    sink = CountingSink()
    sys.stdout = sys.stderr = sink  # what Lambda sends to CloudWatch Logs
    function = handler_function(handler)
    events = [event(records) for _ in range(warmup + batches)]
    for item in events[:warmup]:
        function(item, Context())
    sink.bytes = 0
    started = time.process_time()
    for item in events[warmup:]:
        function(item, Context())
    cpu = time.process_time() - started
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    tasks = records * batches
    return {"cpu_seconds_per_task": cpu / tasks, "log_bytes_per_task": sink.bytes / tasks, "tasks": tasks}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", action="append", default=[])
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--handler", required=True, help="module.function, or 'reference'")
    parser.add_argument("--build", help="a module-level function of the handler's module that builds it")
    parser.add_argument("--mode", choices=("cold", "warm"), required=True)
    parser.add_argument("--records", type=int, default=10)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    sys.path[:0] = [*args.code, *args.layer]
    if args.mode == "cold":
        result = cold(args.handler, args.build)
    else:
        result = warm(args.handler, args.records, args.batches, args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
