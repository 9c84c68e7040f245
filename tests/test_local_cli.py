"""The local stack's command line and set-up, without an apply: what `up --tasks DIR` deploys, the
worker's warm-up check, the help text, Terraform's temporary variable files."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from taskqueue.flow_control.gate import WAIT_FOR_TOKEN_SECONDS
from taskqueue.registry import default_registry, import_task_modules
from taskqueue_local import cli
from taskqueue_local.deployment import terraform_stack
from taskqueue_local.infrastructure.processes import StackError
from taskqueue_local.scenarios import demo


def test_up_tasks_dir_deploys_that_package_without_the_demo_periodic_task(tmp_path):
    package = tmp_path / "billing_jobs"
    package.mkdir()
    settings = terraform_stack.local_module_settings(package)
    assert settings["task_modules"] == ["billing_jobs"]
    assert "periodic_tasks" not in settings
    # Retries as quick to watch as the demo's.
    assert settings["max_receive_count"] == terraform_stack.DEMO_MODULE_SETTINGS["max_receive_count"]


def test_the_demo_tasks_keep_the_demo_periodic_task():
    settings = terraform_stack.local_module_settings(terraform_stack.DEFAULT_TASKS)
    assert settings["task_modules"] == ["example_tasks", "example_tasks.partner_api"]
    assert terraform_stack.DEMO_PERIODIC_TASK in settings["periodic_tasks"]


@pytest.fixture
def partner_api_module():
    """example_tasks.partner_api imported into the default registry, and taken out again: its task declares a
    limit, which would fail the start of any later worker built in this process without a flow-control table."""
    module = "example_tasks.partner_api"
    import_task_modules([module])
    try:
        yield default_registry.get(terraform_stack.DEMO_RATE_LIMITED_TASK)
    finally:
        default_registry.unregister(terraform_stack.DEMO_RATE_LIMITED_TASK)
        sys.modules.pop(module, None)


def test_the_demo_deploys_its_rate_limited_task_with_flow_control(partner_api_module):
    settings = terraform_stack.local_module_settings(terraform_stack.DEFAULT_TASKS)
    # The module's flow-control table: without it the worker would refuse to start.
    assert settings["flow_control"] is True
    rate = partner_api_module.flow.rate
    assert rate is not None
    # Sent at once, the demo's starts past the burst are held back; its check counts on this burst.
    assert rate.burst == demo.RATE_LIMITED_BURST < demo.Scenario().limited
    # A token further apart than a start waits for one in its invocation, so starts past the burst are held back
    # (at 1/s they all waited and ran in one invocation); near enough that they run within a consumer run or
    # two behind the 5 s schedule, inside the demo's max_receive_count of 4 (each held back costs a receive).
    emission = rate.period_seconds / rate.limit
    assert WAIT_FOR_TOKEN_SECONDS < emission <= 2.0


class _Lambda:
    """A Lambda client whose worker answers an invoke with ``payload`` (a function error when ``error``)."""

    def __init__(self, payload: dict, error: str | None = None) -> None:
        self.payload = payload
        self.error = error
        self.calls: list[dict] = []

    def invoke(self, **request):
        self.calls.append(request)
        response = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.payload).encode())}
        if self.error:
            response["FunctionError"] = self.error
        return response


def test_the_warm_up_invoke_sends_an_empty_batch():
    client = _Lambda({"batchItemFailures": []})
    terraform_stack.check_worker_starts(client, "worker-fn")
    [call] = client.calls
    assert call["FunctionName"] == "worker-fn"
    assert json.loads(call["Payload"]) == {"Records": []}


def test_a_worker_that_cannot_start_fails_up_with_its_error_in_full():
    message = "TASKQUEUE_TASKS names module 'example_tasks', which cannot be imported: " + "x" * 900
    client = _Lambda(
        {"errorType": "WorkerCannotStart", "errorMessage": message, "stackTrace": ['  File "worker.py", line 1\n']},
        error="Unhandled",
    )
    with pytest.raises(StackError) as raised:
        terraform_stack.check_worker_starts(client, "worker-fn")
    text = str(raised.value)
    assert "worker-fn" in text
    assert f"WorkerCannotStart: {message}" in text  # in full, not cut short
    assert 'File "worker.py", line 1' in text


def test_help_lists_no_hidden_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "SUPPRESS" not in out
    assert "serve" not in out
    assert "up" in out


def test_up_fails_with_the_worker_error_and_a_non_zero_exit(monkeypatch, capsys, tmp_path: Path):
    def failing_up(*args, **kwargs):
        raise StackError("the worker my-worker cannot start:\nWorkerCannotStart: boom")

    monkeypatch.setattr(terraform_stack, "up", failing_up)
    assert cli.main(["up", "--tasks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "WorkerCannotStart: boom" in err


def test_up_applies_the_users_package_and_checks_the_worker_before_it_is_up(monkeypatch, tmp_path: Path):
    """`up --tasks DIR` with every slow part replaced: what it applies, and that it asks the worker to start."""
    from tools import terraform as tf

    package = tmp_path / "billing_jobs"
    package.mkdir()
    applied: list[dict] = []
    warmed: list[str] = []
    monkeypatch.setattr(tf, "setup", lambda: object())
    monkeypatch.setattr(terraform_stack, "build", lambda target, out, tasks: out)
    monkeypatch.setattr(terraform_stack, "start_emulator", lambda logs: (1, "http://127.0.0.1:1"))
    monkeypatch.setattr(terraform_stack, "start_data_plane", lambda *a, **k: (2, "http://127.0.0.1:2"))
    monkeypatch.setattr(terraform_stack, "is_stack_process", lambda pid: False)
    monkeypatch.setattr(terraform_stack, "stop_process_group", lambda pid: False)

    def apply(setup, example, work_dir, emulator_url, settings, log):
        applied.append(dict(settings))
        return {"worker_function_name": f"{example}-worker", "queue_url": "q", "dead_letter_queue_url": "d"}

    monkeypatch.setattr(terraform_stack, "apply", apply)
    monkeypatch.setattr(terraform_stack, "check_worker_starts", lambda client, name: warmed.append(name))
    monkeypatch.setattr(terraform_stack, "deployed_tasks", lambda log, wait_seconds: ["bill"])

    terraform_stack.up(["basic"], tasks_dir=package, work_dir=tmp_path / "local", log=lambda _: None)

    [settings] = applied
    assert settings["task_modules"] == ["billing_jobs"]
    assert "periodic_tasks" not in settings
    assert warmed == ["basic-worker"]


def test_a_terraform_run_cut_short_leaves_no_temporary_variables_file(monkeypatch, tmp_path: Path):
    """A SIGINT during `up` raises SystemExit inside python-terraform's call, after it wrote the variables."""
    import tempfile

    import python_terraform

    from tools import terraform as tf

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where python-terraform writes its -var-file

    def interrupted(*args, **kwargs):
        raise SystemExit(130)  # what exit_on_signals makes of a SIGINT

    monkeypatch.setattr(python_terraform.subprocess, "Popen", interrupted)
    runner = python_terraform.Terraform(working_dir=str(tmp_path), terraform_bin_path="terraform")
    with pytest.raises(SystemExit):
        tf.run(runner, "apply", var={"dist_dir": "dist"})
    assert list(tmp_path.glob("*.tfvars.json")) == []


def test_the_worker_tasks_come_from_its_started_line_and_reach_the_shell_environment(tmp_path: Path):
    from taskqueue.operations.arguments import LOCAL_TASKS_ENV
    from taskqueue.worker import WORKER_STARTED_MESSAGE

    log = tmp_path / "worker.log"
    log.write_text(
        "START RequestId: 1\n"
        + json.dumps({"level": "DEBUG", "message": WORKER_STARTED_MESSAGE, "tasks": ["bill", "refund"]})
        + "\nREPORT RequestId: 1\n"
    )
    assert terraform_stack.deployed_tasks(log) == ["bill", "refund"]
    assert terraform_stack.deployed_tasks(tmp_path / "missing.log") == []

    stack = terraform_stack.TerraformStack(
        {"basic": {"queue_url": "q"}}, "http://e", "http://l", {}, str(tmp_path), worker_tasks={"basic": ["bill"]}
    )
    assert stack.client_environment()[LOCAL_TASKS_ENV] == "bill"


def test_a_relative_tasks_dir_is_found_from_where_up_runs(monkeypatch, tmp_path: Path):
    """build.py runs in the checkout: `up --tasks ./my_tasks` from another directory gave it a path it could
    not find ("--tasks my_tasks: no such directory")."""
    import subprocess

    from taskqueue_local.deployment import artifacts

    (tmp_path / "my_tasks").mkdir()
    monkeypatch.chdir(tmp_path)
    commands: list[list[str]] = []

    def run(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(artifacts.subprocess, "run", run)
    artifacts.build("worker", tmp_path / "dist", [Path("./my_tasks")])
    [command] = commands
    assert command[command.index("--tasks") + 1] == str(tmp_path / "my_tasks")
