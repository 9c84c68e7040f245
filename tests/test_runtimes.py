"""The worker, as built for each Lambda runtime, runs on that runtime's Python (where this machine has it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.infrastructure.lambda_service import interpreter_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_built_worker_runs_on_its_runtime(runtime, tmp_path):
    interpreter, exact = interpreter_for(runtime)
    if not exact:
        pytest.skip(f"no {runtime} interpreter on this machine (looked on PATH and in pyenv)")
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "build.py"),
            "worker",
            "--runtime",
            runtime,
            "--arch",
            "x86_64",
            "--tasks",
            str(ROOT / "examples" / "example_tasks"),
            "--out",
            str(dist),
        ],
        check=True,
        capture_output=True,
    )
    with DirectStack(tmp_path, [dist]) as stack:
        queues = stack.create_queues("runtime", max_receive_count=3)
        environment = {"TASKQUEUE_DLQ_URL": queues.dlq_url, "TASKQUEUE_TASKS": "example_tasks"}
        control = stack.client("lambda", direct=True)
        stack.deploy_function("worker", dist / "worker.zip", "taskqueue.worker.handler", environment, 10)
        control.update_function_configuration(FunctionName="worker", Runtime=runtime)
        event = {
            "Records": [
                {
                    "messageId": "m1",
                    "receiptHandle": "r1",
                    "body": json.dumps({"task": "checksum", "payload": {"text": "hi"}}),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queues.arn,
                }
            ]
        }
        response = stack.client("lambda").invoke(FunctionName="worker", Payload=json.dumps(event))
        answer = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, answer
        assert answer["batchItemFailures"] == []
        assert stack.local_lambda.interpreters[runtime] == (interpreter, True)
