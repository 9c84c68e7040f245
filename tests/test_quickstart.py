"""The README's quickstart, run as written: its task package and its commands, parsed from the README, on the
local stack, in a directory of their own (the package under a name that is not the examples').

Each command runs in bash, as a reader pastes it, with the exports of the ones before it (``eval "$(... env)"``);
``.venv/bin/python`` is this test's interpreter. A command whose output the README tells the reader to look for
is repeated until it shows it: the tasks run a few seconds after their enqueue. Slow (a ``terraform apply``
onto the emulator): about 2-3 minutes, most of it the apply.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskqueue_local.deployment import terraform_stack
from tools import terraform as tf

pytestmark = pytest.mark.terraform

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE_MARKER = "<!-- quickstart: my_tasks/__init__.py -->"
COMMANDS_MARKER = "<!-- quickstart: commands -->"
# The quickstart's commands, in order; what the reader is told to look for in each one's output; and whether
# it is one to repeat until that shows (a task's outcome, a few seconds after its enqueue). A README whose
# quickstart changes fails here until this test says what the new one does.
EXPECTED = [
    ("-m taskqueue_local up --tasks ./my_tasks", "local stack up", False),
    ("-m taskqueue_local env", None, False),
    ("-m taskqueue enqueue greet", "message_id", False),
    ('grep "hello, Ada" .local/logs/taskqueue-basic-worker.log', "hello, Ada", True),
    ("-m taskqueue enqueue refund", "message_id", False),
    ("-m taskqueue dlq list", "permanent_error", True),
    ("-m taskqueue_local down", "local stack is down", False),
]
UP_SECONDS = 480.0  # terraform apply onto the emulator: 90-150 s on the 2-core machine under load
OUTPUT_SECONDS = 90.0  # for a task to run and its outcome to show


def block_after(text: str, marker: str) -> str:
    """The fenced code block that follows ``marker``."""
    match = re.search(re.escape(marker) + r"\s*```[a-z]*\n(.*?)```", text, re.DOTALL)
    assert match is not None, f"README.md has no code block after {marker}"
    return match.group(1)


def quickstart_commands(text: str) -> list[str]:
    """The command lines of the block, without their trailing comments."""
    lines = block_after(text, COMMANDS_MARKER).splitlines()
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in lines if line.strip()]


def test_the_quickstart_is_what_this_test_runs():
    commands = quickstart_commands(README.read_text())
    assert len(commands) == len(EXPECTED), commands
    for command, (fragment, _, _) in zip(commands, EXPECTED, strict=True):
        assert fragment in command, f"the README's {command!r} is not the quickstart this test knows ({fragment!r})"
    assert "@task(" in block_after(README.read_text(), PACKAGE_MARKER)


def _run(command: str, cwd: Path, environment: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``command`` in bash with the exports of the commands before it (kept in ``state.sh``)."""
    script = f"source ./state.sh\n{command}\nstatus=$?\nexport -p > ./state.sh\nexit $status\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(900)
@pytest.mark.acceptance
def test_the_readme_quickstart_runs_as_written(tmp_path: Path):
    try:
        tf.setup()
    except tf.TerraformUnavailable as error:
        pytest.skip(f"Terraform is not available: {error}")
    text = README.read_text()
    package = tmp_path / "my_tasks"
    package.mkdir()
    (package / "__init__.py").write_text(block_after(text, PACKAGE_MARKER))
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (tmp_path / "state.sh").write_text("")
    work_dir = tmp_path / ".local"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "TASKQUEUE_")) and name != "PYTHONPATH"
    }
    environment |= {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        terraform_stack.LOCAL_DIR_ENV: str(work_dir),
    }

    timings: list[tuple[str, float]] = []
    try:
        for command, (_, expected, repeat) in zip(quickstart_commands(text), EXPECTED, strict=True):
            started = time.monotonic()
            deadline = started + (UP_SECONDS if " up " in command else OUTPUT_SECONDS)
            while True:
                result = _run(command, tmp_path, environment, timeout=max(1.0, deadline - time.monotonic()))
                shown = expected is None or expected in result.stdout + result.stderr
                if not repeat or (result.returncode == 0 and shown) or time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
            timings.append((command, time.monotonic() - started))
            assert result.returncode == 0, f"{command!r} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            assert shown, f"{command!r} never showed {expected!r}:\n{result.stdout}\n{result.stderr}"
    finally:
        terraform_stack.down(work_dir, log=lambda message: None)  # after a failure midway: nothing left running
        for command, seconds in timings:
            print(f"{seconds:6.1f} s  {command}")
    # The worker ran the task the README's package defines, under that package's name.
    assert "hello, Ada" in (work_dir / "logs" / "taskqueue-basic-worker.log").read_text()
