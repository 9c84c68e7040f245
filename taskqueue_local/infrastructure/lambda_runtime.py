"""Bootstrap of one local Lambda execution environment (runs in its own interpreter).

Standard library only: it runs with ``python -I -S``, so the function sees just its unpacked
zip and the runtime's boto3, as on Lambda. Its first line on the response pipe says the init phase
is over (the handler's module is imported, or failed to import); then invocations arrive as JSON
lines on stdin and each answer is one JSON line on the response pipe (stdout and stderr are the
function's logs).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

# The first line on the response pipe: init is over. Lambda's runtime asks for its first invocation here.
INIT_DONE = {"init_done": True}
# Marks the answer to an invocation whose init had failed: the environment is gone after it.
INIT_FAILED = "init_failed"


class LambdaContext:
    """The context object Lambda passes to a Python handler."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("TASKQUEUE_LOCAL_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def _load(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", required=True)
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--handler", required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    args = parser.parse_args()
    sys.path[:0] = [args.code, *args.layer]
    os.chdir(args.code)
    responses = os.fdopen(args.response_fd, "w", buffering=1)

    function: Any = None
    init_error: dict[str, Any] | None = None
    try:
        function = _load(args.handler)
    except Exception as error:
        init_error = _error(error, "Runtime.ImportModuleError")
        traceback.print_exc()
    responses.write(json.dumps(INIT_DONE) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            # Lambda's runtime reports the init error and exits: the next invoke runs init again.
            responses.write(json.dumps({"ok": False, "error": init_error, INIT_FAILED: True}) + "\n")
            return 1
        context = LambdaContext(request["request_id"], request["deadline_ms"])
        try:
            result = function(request["event"], context)
            answer = {"ok": True, "result": json.dumps(result)}
        except Exception as error:
            traceback.print_exc()
            answer = {"ok": False, "error": _error(error)}
        sys.stdout.flush()
        sys.stderr.flush()
        responses.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
