"""What `pip install .` installs (pyproject.toml): the runtime and its CLI, `functions/taskqueue` whole, and
nothing else of the checkout. Operators install the CLI so (`pip install '.[cli]'`); the development venv
installs the same package editable (`make venv`), the rest of the checkout being used from its root."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "functions" / "taskqueue"


def build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    """The wheel of a copy of the project's packaging inputs (the checkout is left as it is: setuptools
    writes build/ and *.egg-info next to the sources); the venv's setuptools, nothing downloaded."""
    project = tmp_path / "project"
    (project / "terraform").mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copy2(ROOT / "terraform" / "VERSION", project / "terraform" / "VERSION")
    shutil.copytree(ROOT / "functions", project / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "wheel"
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*command, "--wheel-dir", str(out), str(project)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_the_whole_runtime_and_cli_and_nothing_else(tmp_path: Path):
    with build_wheel(tmp_path) as wheel:
        names = wheel.namelist()
        (top_level,) = [name for name in names if name.endswith(".dist-info/top_level.txt")]
        assert wheel.read(top_level).decode().split() == ["taskqueue"]
    modules = {name for name in names if ".dist-info/" not in name}
    runtime = {path.relative_to(RUNTIME.parent).as_posix() for path in RUNTIME.rglob("*.py")}
    assert "taskqueue/operations/cli.py" in runtime  # `python -m taskqueue`'s commands
    assert sorted(runtime - modules) == []
    assert sorted(modules - runtime) == []
