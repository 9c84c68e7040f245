"""The local Lambda endpoint: Invoke semantics (results, errors, timeouts, throttles) over HTTP."""

from __future__ import annotations

import http.server
import io
import json
import re
import socket
import threading
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from taskqueue_local.infrastructure.invocations import InvocationJournal, journal_path
from taskqueue_local.infrastructure.lambda_endpoint import LambdaEndpoint
from taskqueue_local.infrastructure.lambda_service import ArtifactIndex, LocalLambda
from taskqueue_local.infrastructure.runtime_layer import ensure_boto3_layer
from tests.support.aws_settings import REGION

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

def hold(event, context):
    open(event["started"], "w").close()
    while not os.path.exists(event["release"]):
        time.sleep(0.01)
    return "released"
"""
# A module whose import (the function's init) takes longer than the function's 1 s timeout.
SLOW_INIT_SECONDS = 2.0
SLOW_INIT = f"""
import os, time
time.sleep({SLOW_INIT_SECONDS})

def handler(event, context):
    if event.get("exit"):
        os._exit(3)
    return {{"remaining": context.get_remaining_time_in_millis(), "request": context.aws_request_id}}
"""

# A module whose first import fails (its init raises), and whose next import succeeds.
FAILING_FIRST_INIT = """
import os
if not os.path.exists(os.environ["INIT_MARKER"]):
    open(os.environ["INIT_MARKER"], "w").close()
    raise RuntimeError("the first init fails on purpose")

def handler(event, context):
    return "initialised"
"""


@pytest.fixture(scope="module")
def layer() -> Path:
    return ensure_boto3_layer()  # the shared cache of this checkout (build/runtime)


def _deploy(moto_server, tmp_path, layer, **service_options):
    """Functions deployed on the emulator, served from local zips by an endpoint."""
    artifacts = tmp_path / "dist"
    artifacts.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handlers.py", HANDLERS)
        archive.writestr("slow_init.py", SLOW_INIT)
        archive.writestr("failing_first_init.py", FAILING_FIRST_INIT)
    (artifacts / "handlers.zip").write_bytes(buffer.getvalue())

    control = boto3.client("lambda", region_name=REGION)  # the emulator, via AWS_ENDPOINT_URL
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    functions = (
        ("echo", "handlers.echo", 3),
        # Its invocation imports boto3, which took more than 3 s with the other core busy (timed out).
        ("environment", "handlers.environment", 30),
        ("fail", "handlers.fail", 3),
        ("sleep", "handlers.sleep", 1),
        ("exit", "handlers.exit", 3),
        ("hold", "handlers.hold", 60),  # runs until the test releases it
        ("slow-init", "slow_init.handler", 1),
        ("slow-init-5s", "slow_init.handler", 5),
    )
    for name, handler, timeout in functions:
        control.create_function(
            FunctionName=name, Runtime="python3.13", Role=role, Handler=handler,
            Code={"ZipFile": buffer.getvalue()}, Timeout=timeout, Environment={"Variables": {"GREETING": "hi"}},
        )  # fmt: skip
    control.create_function(
        FunctionName="failing-first-init", Runtime="python3.13", Role=role, Handler="failing_first_init.handler",
        Code={"ZipFile": buffer.getvalue()}, Timeout=3,
        Environment={"Variables": {"INIT_MARKER": str(tmp_path / "init-ran-once")}},
    )  # fmt: skip
    control.put_function_concurrency(FunctionName="sleep", ReservedConcurrentExecutions=1)
    control.put_function_concurrency(FunctionName="hold", ReservedConcurrentExecutions=1)

    service = LocalLambda(control, ArtifactIndex([artifacts]), tmp_path / "work", {}, [layer], **service_options)
    server = LambdaEndpoint(service, moto_server).start()
    service.function_environment = {"AWS_ENDPOINT_URL": moto_server, "AWS_ENDPOINT_URL_LAMBDA": server.url}
    client = boto3.client(
        "lambda", region_name=REGION, endpoint_url=server.url, config=Config(retries={"total_max_attempts": 1})
    )
    return server, client


@pytest.fixture
def endpoint(moto_server, server_sqs, tmp_path, layer):
    server, client = _deploy(moto_server, tmp_path, layer)
    yield client, tmp_path / "work"
    server.stop()


@pytest.fixture
def endpoint_with_short_init(moto_server, server_sqs, tmp_path, layer):
    """Init limited to 1 s instead of Lambda's 10, so that the slow module passes it."""
    server, client = _deploy(moto_server, tmp_path, layer, init_seconds=1.0)
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


def test_reserved_concurrency_throttles(endpoint, tmp_path):
    client, _ = endpoint
    # The first invocation holds the function's one slot until released (it says when it runs), so the
    # second one meets it busy however slow the machine (a fixed wait for it once failed by chance).
    hold = {"started": str(tmp_path / "started"), "release": str(tmp_path / "release")}
    results = []
    first = threading.Thread(target=lambda: results.append(invoke(client, "hold", hold)))
    first.start()
    try:
        deadline = time.monotonic() + 60  # a cold start; only a broken test waits that long
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, "the first invocation never started"
            time.sleep(0.02)
        with pytest.raises(client.exceptions.TooManyRequestsException):
            client.invoke(FunctionName="hold", Payload=json.dumps(hold).encode())
    finally:
        (tmp_path / "release").touch()
        first.join()
    assert results[0][1] == "released"


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


def test_each_invocation_is_reported_to_its_callers_as_a_record(endpoint):
    """Callers read an invocation's billed time and outcome from its record, not from the REPORT line."""
    client, work = endpoint
    _, answer = invoke(client, "echo", {"x": 1})
    invoke(client, "fail")
    (echoed,) = InvocationJournal(journal_path(work / "logs", "echo")).records()
    assert echoed.function == "echo" and json.loads(echoed.event) == {"x": 1}
    assert echoed.invocation.request_id == answer["request"]
    assert json.loads(echoed.invocation.payload) == answer and echoed.invocation.function_error is None
    (report,) = _log_lines(work, "echo", answer["request"])
    billed_ms = int(re.search(r"\tBilled Duration: (\d+) ms", report)[1])  # the line people read says the same
    assert echoed.invocation.billed_ms == billed_ms > 0
    assert abs(echoed.invocation.started_ms - time.time() * 1000) < 60_000
    (failed,) = InvocationJournal(journal_path(work / "logs", "fail")).records()
    assert failed.invocation.function_error == "Unhandled"
    assert json.loads(failed.invocation.payload)["errorMessage"] == "broken on purpose"


def _log_lines(work, function, request_id=None):
    lines = (work / "logs" / f"{function}.log").read_text().splitlines()
    return [line for line in lines if request_id is None or request_id in line]


def test_init_has_time_of_its_own_outside_the_function_timeout(endpoint):
    """Lambda gives init up to 10 s not counted in the timeout; the invocation's clock starts after it."""
    client, work = endpoint
    response, cold = invoke(client, "slow-init")  # the import takes 2 s, the timeout is 1 s
    assert "FunctionError" not in response, cold
    assert 500 < cold["remaining"] <= 1000  # the handler has (nearly) its whole timeout
    (report,) = _log_lines(work, "slow-init", cold["request"])
    assert report.startswith("REPORT RequestId: ")
    init_ms = float(re.search(r"\tInit Duration: ([\d.]+) ms", report)[1])
    assert init_ms >= SLOW_INIT_SECONDS * 1000
    duration_ms = float(re.search(r"\tDuration: ([\d.]+) ms", report)[1])
    billed_ms = int(re.search(r"\tBilled Duration: (\d+) ms", report)[1])
    assert duration_ms < init_ms and billed_ms >= init_ms + duration_ms  # init is billed (since August 2025)

    _, warm = invoke(client, "slow-init")
    (report,) = _log_lines(work, "slow-init", warm["request"])
    assert "Init Duration" not in report


def test_an_init_past_the_init_limit_is_retried_within_the_function_timeout(endpoint_with_short_init):
    """Lambda's suppressed init: past its limit, init is retried in the invoke phase, inside the timeout."""
    client, work = endpoint_with_short_init
    response, body = invoke(client, "slow-init-5s")  # 2 s of import: past the 1 s limit, within 5 s
    assert "FunctionError" not in response, body
    assert body["remaining"] <= 5000 - SLOW_INIT_SECONDS * 1000  # the retried init took from the timeout
    assert any("INIT_REPORT Init Duration: 1000" in line and "Status: timeout" in line
               for line in _log_lines(work, "slow-init-5s"))  # fmt: skip
    (report,) = _log_lines(work, "slow-init-5s", body["request"])
    assert "Init Duration" not in report and float(re.search(r"\tDuration: ([\d.]+) ms", report)[1]) >= 2000

    response, body = invoke(client, "slow-init")  # the retried init cannot fit in a 1 s timeout
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "Task timed out after 1.00 seconds", "errorType": "Sandbox.Timedout"}


def test_after_a_crash_the_new_environment_inits_within_the_timeout(endpoint):
    """A crash resets the environment; its re-init is a suppressed init, counted in the next timeout."""
    client, _ = endpoint
    _, body = invoke(client, "slow-init", {"exit": True})  # cold: init outside the 1 s timeout
    assert body["errorType"] == "Runtime.ExitError"
    _, body = invoke(client, "slow-init")  # the 2 s re-init now counts against the 1 s timeout
    assert body["errorType"] == "Sandbox.Timedout"


def test_a_failed_init_runs_again_on_the_next_invoke(endpoint):
    """Lambda's runtime exits after reporting an init error, so the next invoke runs init again; the
    local one answered every later invoke with the first init's error."""
    client, _ = endpoint
    response, body = invoke(client, "failing-first-init")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "the first init fails on purpose"
    response, body = invoke(client, "failing-first-init")
    assert "FunctionError" not in response and body == "initialised"


def test_closing_a_function_stops_its_environments(moto_server, server_sqs, tmp_path, layer):
    server, client = _deploy(moto_server, tmp_path, layer)
    try:
        _, first = invoke(client, "environment")
        server.service.close_function("environment")
        assert not Path(f"/proc/{first['pid']}").exists()  # stopped and reaped
        _, second = invoke(client, "environment")
        assert second["pid"] != first["pid"]  # a new environment
    finally:
        server.stop()


def test_the_endpoint_takes_a_burst_of_connections_before_it_accepts_them():
    """A consumer or an event source mapping opens a connection per invocation at once: 20 connections
    before the server accepts any must all connect (a listen backlog of 5 refused or dropped the rest)."""

    from taskqueue_local.infrastructure.loopback_server import LoopbackServer

    server = LoopbackServer(http.server.BaseHTTPRequestHandler, "burst")  # not serving: nothing is accepted
    connections = []
    try:
        for _ in range(20):
            connections.append(socket.create_connection(server.server_address[:2], timeout=1))
    finally:
        for connection in connections:
            connection.close()
        server.server_close()
    assert len(connections) == 20


def test_answers_on_a_kept_alive_connection_are_not_held_back_by_nagle():
    """Headers and body are two writes: with Nagle's algorithm the body waited for the client's delayed ACK
    (40 ms on Linux) on each request of a kept-alive connection, as botocore's are."""
    import http.client

    server = LambdaEndpoint(service=None, emulator_url="http://127.0.0.1:1").start()  # type: ignore[arg-type]
    try:
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        took = []
        for _ in range(11):
            started = time.perf_counter()
            connection.request("GET", "/health")
            assert connection.getresponse().read() == b'{"status": "ok"}'
            took.append(time.perf_counter() - started)
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(took)[len(took) // 2] < 0.025, [f"{t * 1000:.1f} ms" for t in took]
