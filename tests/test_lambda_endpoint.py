"""The local Lambda endpoint: Invoke semantics (results, errors, timeouts, throttles) over HTTP."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import REGION
from taskqueue_local.lambda_endpoint import LambdaEndpoint
from taskqueue_local.lambda_service import ArtifactIndex, LocalLambda
from taskqueue_local.runtime_layer import ensure_boto3_layer

HANDLERS = """
import json, os, time

def echo(event, context):
    return {"event": event, "remaining": context.get_remaining_time_in_millis(), "request": context.aws_request_id}

def environment(event, context):
    import boto3
    keys = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_LAMBDA_FUNCTION_NAME", "GREETING", "AWS_REGION")
    return {key: os.environ.get(key) for key in keys} | {"boto3": boto3.__version__, "pid": os.getpid()}

def fail(event, context):
    raise ValueError("broken on purpose")

def sleep(event, context):
    time.sleep(event["seconds"])
    return "woke"

def exit(event, context):
    os._exit(3)
"""


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    return ensure_boto3_layer(tmp_path_factory.mktemp("layer"))


@pytest.fixture
def endpoint(moto_server, server_sqs, tmp_path, layer):
    """Functions deployed on the emulator, served from local zips by the endpoint."""
    artifacts = tmp_path / "dist"
    artifacts.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers.py", HANDLERS)
    (artifacts / "handlers.zip").write_bytes(buffer.getvalue())

    control = boto3.client("lambda", region_name=REGION)  # the emulator, via AWS_ENDPOINT_URL
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for name, timeout in (("echo", 3), ("environment", 3), ("fail", 3), ("sleep", 1), ("exit", 3)):
        control.create_function(
            FunctionName=name, Runtime="python3.13", Role=role, Handler=f"handlers.{name}",
            Code={"ZipFile": buffer.getvalue()}, Timeout=timeout, Environment={"Variables": {"GREETING": "hi"}},
        )  # fmt: skip
    control.put_function_concurrency(FunctionName="sleep", ReservedConcurrentExecutions=1)

    service = LocalLambda(control, ArtifactIndex([artifacts]), tmp_path / "work", {}, [layer])
    server = LambdaEndpoint(service, moto_server).start()
    service.function_environment = {"AWS_ENDPOINT_URL": moto_server, "AWS_ENDPOINT_URL_LAMBDA": server.url}
    client = boto3.client(
        "lambda", region_name=REGION, endpoint_url=server.url, config=Config(retries={"total_max_attempts": 1})
    )
    yield client, tmp_path / "work"
    server.stop()


def invoke(client, name, event=None):
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return response, json.loads(response["Payload"].read() or b"null")


def test_invoke_returns_the_handler_result_with_a_context(endpoint):
    client, _ = endpoint
    response, body = invoke(client, "echo", {"x": 1})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body["event"] == {"x": 1}
    assert 0 < body["remaining"] <= 3000
    assert body["request"]


def test_function_runs_with_its_deployed_environment_and_the_runtime_boto3(endpoint, moto_server):
    client, _ = endpoint
    _, first = invoke(client, "environment")
    _, second = invoke(client, "environment")
    assert first["GREETING"] == "hi"
    assert first["AWS_LAMBDA_FUNCTION_NAME"] == "environment"
    assert first["AWS_ENDPOINT_URL"] == moto_server
    assert first["AWS_REGION"] == REGION
    assert first["boto3"] == boto3.__version__
    assert first["pid"] == second["pid"]  # the warm environment is reused


def test_errors_come_back_as_function_errors(endpoint):
    client, work = endpoint
    response, body = invoke(client, "fail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "broken on purpose"
    assert "broken on purpose" in (work / "logs" / "fail.log").read_text()


def test_timeout_kills_the_invocation(endpoint):
    client, _ = endpoint
    response, body = invoke(client, "sleep", {"seconds": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "Task timed out after 1.00 seconds"
    _, body = invoke(client, "sleep", {"seconds": 0})  # a fresh environment serves the next call
    assert body == "woke"


def test_a_crashed_runtime_is_a_function_error(endpoint):
    client, _ = endpoint
    response, body = invoke(client, "exit")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"


def test_reserved_concurrency_throttles(endpoint):
    client, _ = endpoint
    results = []
    first = threading.Thread(target=lambda: results.append(invoke(client, "sleep", {"seconds": 0.8})))
    first.start()
    threading.Event().wait(0.3)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.invoke(FunctionName="sleep", Payload=b'{"seconds": 0}')
    first.join()
    assert results[0][1] == "woke"


def test_unknown_function_and_control_plane_calls(endpoint):
    client, _ = endpoint
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", Payload=b"{}")
    # Everything else goes on to the emulator.
    assert client.get_function(FunctionName="echo")["Configuration"]["Handler"] == "handlers.echo"


def test_event_invocations_are_accepted_at_once(endpoint):
    client, _ = endpoint
    response = client.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202


def test_a_payload_that_is_not_json_is_refused_and_leaks_nothing(endpoint):
    client, _ = endpoint
    for _ in range(3):  # more than the function's reserved concurrency of 1
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke(FunctionName="sleep", Payload=b"not json")
    _, body = invoke(client, "sleep", {"seconds": 0})
    assert body == "woke"


def test_reserved_concurrency_of_zero_pauses_the_function(endpoint):
    client, _ = endpoint  # PutFunctionConcurrency goes on to the emulator through the endpoint
    client.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    threading.Event().wait(2.1)  # the endpoint reads function settings at most every 2 s
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.invoke(FunctionName="echo", Payload=b"{}")


def test_each_invocation_writes_a_report_line(endpoint):
    client, work = endpoint
    invoke(client, "echo")
    log = (work / "logs" / "echo.log").read_text()
    assert "REPORT RequestId: " in log and "Billed Duration: " in log and "Memory Size: 128 MB" in log
