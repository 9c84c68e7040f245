"""Every process a long-running entry point starts is stopped when it gets SIGTERM or SIGINT.

SIGTERM goes to the entry point's own PID (``kill``, or ``timeout`` on its child); SIGINT goes to its
whole process group, as Ctrl-C at a terminal does. Each entry point runs as a subprocess in a session
of its own; once its emulator or endpoint is up, the test records every process below it (by PID),
sends the signal, and checks that none of them, and nothing left in its process group, survives.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from taskqueue_local.infrastructure import clients
from taskqueue_local.infrastructure import processes as stack_processes
from tools import terraform as tf

ROOT = Path(__file__).resolve().parents[1]
# Measured on the 2-core machine with two busy loops: the soak's first worker invocation starts
# 15-40 s after launch (worker build, boto3 layer, emulator), the bench's 20-50 s, serve's under 10 s,
# the demo's terraform apply 25-60 s. Three times the slowest.
READY_SECONDS = 150.0
# From the signal to the exit: the emulator's and the endpoint's orderly stops take a few seconds each.
EXIT_SECONDS = 60.0
# A process being stopped as the entry point exits may need a moment to go.
GONE_SECONDS = 10.0


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    state: str
    command: str


def processes() -> dict[int, Process]:
    """Every process of this machine, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # the name before it may hold spaces and parentheses
        found[int(entry.name)] = Process(int(entry.name), int(fields[1]), int(fields[2]), fields[0], command)
    return found


def living(table: dict[int, Process]) -> dict[int, Process]:
    return {pid: process for pid, process in table.items() if process.state != "Z"}  # a zombie has exited


def tree(root: int) -> dict[int, Process]:
    """``root`` and every process below it that is alive."""
    table = processes()
    children: dict[int, list[int]] = defaultdict(list)
    for process in table.values():
        children[process.ppid].append(process.pid)
    found, pending = {}, [root]
    while pending:
        pid = pending.pop()
        if pid in table:
            found[pid] = table[pid]
        pending += children.get(pid, [])
    return living(found)


def running(command_part: str) -> Callable[[dict[int, Process]], bool]:
    return lambda processes: any(command_part in process.command for process in processes.values())


def all_of(*conditions: Callable[[dict[int, Process]], bool]) -> Callable[[dict[int, Process]], bool]:
    return lambda processes: all(condition(processes) for condition in conditions)


class EntryPoint:
    """``python <arguments>`` in a session of its own, its output in a log file."""

    def __init__(self, arguments: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, *arguments],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until(self, ready: Callable[[dict[int, Process]], bool], what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            if ready(tree(self.process.pid)):
                return
            time.sleep(0.2)
        self.kill_all()
        pytest.fail(f"{what} was not up within {READY_SECONDS:.0f} s (exit code {self.process.poll()}):\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def kill_all(self, others: dict[int, Process] | None = None) -> None:
        """Leave nothing behind, whatever the test found."""
        for pid in {**tree(self.process.pid), **(others or {})}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)


def sigterm_to_the_process(entry: EntryPoint) -> int:
    entry.process.send_signal(signal.SIGTERM)
    return signal.SIGTERM


def sigint_to_the_group(entry: EntryPoint) -> int:
    os.killpg(entry.process.pid, signal.SIGINT)
    return signal.SIGINT


SIGNALS = [pytest.param(sigterm_to_the_process, id="SIGTERM"), pytest.param(sigint_to_the_group, id="SIGINT")]


def stop_and_check(entry: EntryPoint, send: Callable[[EntryPoint], int]) -> None:
    started = tree(entry.process.pid)  # everything it started, as the signal arrives
    started.pop(entry.process.pid)
    assert started, "the entry point had started no process"
    send(entry)
    try:
        entry.process.wait(EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        entry.kill_all(started)
        pytest.fail(f"no exit within {EXIT_SECONDS:.0f} s of the signal:\n{entry.tail()}")
    deadline = time.monotonic() + GONE_SECONDS
    while True:
        table = living(processes())
        survivors = {
            pid: process
            for pid, process in table.items()
            if (pid in started and process.command == started[pid].command) or process.pgid == entry.process.pid
        }
        if not survivors or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    entry.kill_all(survivors)
    assert not survivors, "still running after the entry point exited:\n" + "\n".join(
        f"  {process.pid} {process.command[:160]}" for process in survivors.values()
    )


@pytest.mark.parametrize("send", SIGNALS)
def test_soak_stops_everything_it_started(tmp_path, send):
    entry = EntryPoint(["-m", "taskqueue_local", "soak", "--tasks", "40"], tmp_path / "soak.log")
    entry.wait_until(
        all_of(running("taskqueue_local.infrastructure.emulator"), running("lambda_runtime.py")), "the soak"
    )
    stop_and_check(entry, send)


@pytest.mark.parametrize("send", SIGNALS)
def test_bench_stops_everything_it_started(tmp_path, send):
    arguments = ["--window", "1", "--repeats", "1", "--runtime-repeats", "1", "--trickle-seconds", "1"]
    entry = EntryPoint(["-m", "bench.run", *arguments, "--out", str(tmp_path)], tmp_path / "bench.log")
    ready = all_of(
        running("taskqueue_local.infrastructure.emulator"),
        running("taskqueue_local serve"),
        running("lambda_runtime.py"),
    )
    entry.wait_until(ready, "the benchmark")
    stop_and_check(entry, send)


SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event['seconds'])\n"


@pytest.mark.parametrize("send", SIGNALS)
def test_serve_stops_its_execution_environments(tmp_path, send):
    emulator_pid, emulator_url = stack_processes.start_emulator(tmp_path / "logs")
    try:
        artifacts = tmp_path / "dist"
        artifacts.mkdir()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("sleeper.py", SLEEPER)
        (artifacts / "sleeper.zip").write_bytes(buffer.getvalue())
        iam = clients.local_client("iam", emulator_url)
        role = iam.create_role(RoleName="sleeper", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        clients.local_client("lambda", emulator_url).create_function(
            FunctionName="sleeper", Runtime="python3.13", Role=role, Handler="sleeper.handler",
            Code={"ZipFile": buffer.getvalue()}, Timeout=300,
        )  # fmt: skip
        port = stack_processes.free_port()
        arguments = ["-m", "taskqueue_local", "serve", "--emulator", emulator_url, "--port", str(port)]
        arguments += ["--artifacts", str(artifacts), "--work-dir", str(tmp_path / "work")]
        entry = EntryPoint(arguments, tmp_path / "serve.log")
        entry.wait_until(running("taskqueue_local serve"), "serve")
        lambda_client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=clients.REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        deadline = time.monotonic() + READY_SECONDS
        while True:  # the endpoint answers once serve has started it
            try:
                lambda_client.invoke(
                    FunctionName="sleeper", InvocationType="Event", Payload=json.dumps({"seconds": 300})
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        entry.wait_until(running("lambda_runtime.py"), "an invocation")  # busy for the next 300 s
        stop_and_check(entry, send)
    finally:
        stack_processes.stop_process_group(emulator_pid)


@pytest.mark.terraform
@pytest.mark.parametrize("send", SIGNALS)
def test_demo_stops_everything_it_started_during_its_terraform_apply(tmp_path, send):
    try:
        tf.setup()
    except tf.TerraformUnavailable as error:
        pytest.skip(f"Terraform is not available: {error}")
    arguments = ["-m", "taskqueue_local", "demo", "--work-dir", str(tmp_path / "local"), "--timeout", "30"]
    entry = EntryPoint(arguments, tmp_path / "demo.log")
    entry.wait_until(
        all_of(running("taskqueue_local.infrastructure.emulator"), running("terraform apply")), "the demo's apply"
    )
    stop_and_check(entry, send)


# A run that starts a child in a session of its own (as `up` starts the emulator), then either ends
# normally or waits for a signal.
LEAVES_A_CHILD = """
import subprocess, sys, time
from taskqueue_local.infrastructure.shutdown import exit_on_signals

with exit_on_signals():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    print(child.pid, flush=True)
    if sys.argv[1] == "wait":
        time.sleep(300)
"""


@pytest.mark.parametrize("ending", ["normal", "signal"])
def test_children_are_stopped_when_a_run_is_cut_short_and_kept_when_it_ends_normally(tmp_path, ending):
    """`up` must leave its emulator and endpoint running when it succeeds, and nothing when stopped."""
    script = tmp_path / "run.py"
    script.write_text(LEAVES_A_CHILD)
    process = subprocess.Popen(
        [sys.executable, str(script), "exit" if ending == "normal" else "wait"],
        cwd=ROOT,
        # A script outside the checkout finds taskqueue_local as `python -m` from the root does: the editable
        # install puts only functions/ on the path.
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    try:
        if ending == "signal":
            process.send_signal(signal.SIGTERM)
        process.wait(EXIT_SECONDS)
        alive = child in living(processes())
        assert alive == (ending == "normal")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
