"""The local stack's background processes: the emulator and the data plane, each in a process group of
its own, answering on a free loopback port; stopped with everything below them, by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Seconds each process gets to answer: the emulator imports moto, the data plane may install the boto3 layer.
EMULATOR_START_SECONDS = 60
DATA_PLANE_START_SECONDS = 120


class StackError(RuntimeError):
    """The local stack could not do what was asked; the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with {process.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{what} did not answer at {url} within {seconds:.0f} s; see {log_path}")


def start_process(
    name: str, command: list[str], log_dir: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_path = log_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, so that stopping it stops its children too
        )


def is_stack_process(pid: int) -> bool:
    """A process this package started: its own group's leader, running taskqueue_local."""
    try:
        return os.getpgid(pid) == pid and b"taskqueue_local" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_process_group(pid: int, grace: float = 5.0) -> bool:
    """Stop a process started by ``start_process`` and its children; False when it was already gone."""
    if not is_stack_process(pid):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_stack_process(pid) or _reaped(pid):
                return True
            time.sleep(0.05)
    return True


def _reaped(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == pid
    except ChildProcessError:
        return False


def _start_answering(name: str, command: list[str], health: str, log_dir: Path, seconds: float) -> int:
    """Start a process and wait until ``health`` answers; stopped again if it never does."""
    process = start_process(name, command, log_dir)
    try:
        wait_for(health, seconds, process, f"the {name} process", log_dir / f"{name}.log")
    except BaseException:
        stop_process_group(process.pid)
        raise
    return process.pid


def start_emulator(log_dir: Path) -> tuple[int, str]:
    """The patched moto server on a free loopback port, answering; (pid, URL)."""
    port = free_port()
    command = [sys.executable, "-m", "taskqueue_local.infrastructure.emulator", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    return _start_answering("emulator", command, f"{url}/moto-api/", log_dir, EMULATOR_START_SECONDS), url


def start_data_plane(
    emulator_url: str,
    artifacts: Sequence[Path],
    work_dir: Path,
    log_dir: Path,
    *,
    speedup: float = 1.0,
    schedule_speedup: float | None = None,
    poll_event_source_mappings: bool = True,
) -> tuple[int, str]:
    """``serve`` (the local Lambda endpoint, the rules, the event source mappings, the Scheduler's schedules)
    in its own process, answering; (pid, URL)."""
    port = free_port()
    command = [sys.executable, "-m", "taskqueue_local", "serve", "--emulator", emulator_url, "--port", str(port)]
    command += ["--speedup", str(speedup), "--work-dir", str(work_dir)]
    if schedule_speedup is not None:
        command += ["--schedule-speedup", str(schedule_speedup)]
    if not poll_event_source_mappings:
        command.append("--no-event-source-mappings")
    for directory in artifacts:
        command += ["--artifacts", str(directory)]
    url = f"http://127.0.0.1:{port}"
    return _start_answering("lambda", command, f"{url}/health", log_dir, DATA_PLANE_START_SECONDS), url
