"""Building the Lambda zips with the project's build.py, for a deployment: one way, for every run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from taskqueue_local.infrastructure.processes import ROOT, StackError

TARGETS = ("worker", "consumer", "all")


def build(target: str, out_dir: Path, tasks: Sequence[Path] = ()) -> Path:
    """``build.py <target>`` with the task packages ``tasks`` into ``out_dir`` (build.py reuses a zip whose
    inputs did not change); returns ``out_dir``, which holds worker.zip and/or consumer.zip."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r} is not one of {', '.join(TARGETS)}")
    command = [sys.executable, str(ROOT / "build.py"), target, "--out", str(out_dir)]
    for directory in tasks:
        # build.py runs in the checkout: a path relative to where the caller runs must not be read from there.
        command += ["--tasks", str(directory.resolve())]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise StackError(f"build.py {target} failed:\n{result.stdout}{result.stderr}")
    return out_dir
