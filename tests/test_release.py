"""The release: one version (terraform/VERSION) that the changelog, build.py, pyproject.toml and the
module's `version` output all report; the licence; the pre-commit hooks running the Makefile's targets."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import hcl2
import pytest

import build

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSION = (REPO_ROOT / "terraform" / "VERSION").read_text().strip()


def test_the_version_is_semantic() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION


def test_the_changelogs_latest_release_is_the_version() -> None:
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert releases and releases[0] == VERSION
    assert "## [Unreleased]" in changelog
    assert f"[{VERSION}]: " in changelog


def test_build_py_reports_the_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        build.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"build.py {VERSION}"
    build.write_manifest(tmp_path, {})
    assert json.loads((tmp_path / build.MANIFEST).read_text())["version"] == VERSION


def test_pyproject_reads_the_version_file() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"file": "terraform/VERSION"}


def test_the_module_outputs_the_version_file() -> None:
    with (REPO_ROOT / "terraform" / "outputs.tf").open() as file:
        outputs = {name.strip('"'): body for block in hcl2.load(file)["output"] for name, body in block.items()}
    assert outputs["version"]["value"] == '${trimspace(file("${path.module}/VERSION"))}'


def test_the_licence_is_apache_2() -> None:
    licence = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence


def test_pre_commit_runs_make_fmt_and_lint() -> None:
    config = (REPO_ROOT / ".pre-commit-config.yaml").read_text()
    entries = re.findall(r"^\s+entry: (.+)$", config, re.MULTILINE)
    assert entries == ["make fmt", "make lint"]
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^fmt: ", makefile, re.MULTILINE) and re.search(r"^lint: ", makefile, re.MULTILINE)
