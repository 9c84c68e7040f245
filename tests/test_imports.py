"""Who may import whom: the local stack's layers, and the tests.

- ``taskqueue_local``: infrastructure < deployment < scenarios < the CLI; a layer imports only from the
  layers before it (no layer imports a scenario), and nothing there imports the benchmark; the benchmark
  imports no scenario.
- tests import helpers from ``tests.support`` (``aws_fakes``, ``aws_settings``, the models), never another
  test module or conftest (absolute imports only); the helpers import no test module either,
  and from moto only its public entry points (``mock_aws``, the server), never its models or backends
  (its private state and clock); they use AWS's API, as the code under test does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What tests may import from moto: the mock and the server, its public entry points.
MOTO_PUBLIC = {"moto", "moto.mock_aws", "moto.server", "moto.server.ThreadedMotoServer"}
LAYERS = ("infrastructure", "deployment", "scenarios")


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def relative_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield "." * node.level + (node.module or "")


def _layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / "taskqueue_local" / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_before_it(layer):
    later = LAYERS[LAYERS.index(layer) + 1 :]
    forbidden = [f"taskqueue_local.{name}" for name in later] + ["taskqueue_local.cli", "bench"]
    files = _layer_files(layer)
    assert files, f"no module in taskqueue_local/{layer}"
    offending = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in files
        for module in imported_modules(path)
        if any(module == name or module.startswith(f"{name}.") for name in forbidden)
    }
    assert not offending, sorted(offending)


def test_the_benchmark_uses_the_layers_below_the_scenarios_not_the_scenarios():
    """The benchmark runs beside the scenarios: what both need lives in the deployment or infrastructure layer."""
    offending = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("taskqueue_local.scenarios")
    }
    assert not offending, sorted(offending)


def test_every_module_of_the_local_stack_is_in_a_layer():
    loose = {path.name for path in (ROOT / "taskqueue_local").glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "cli.py"}


def test_tests_import_no_test_module_conftest_or_moto_internals():
    test_modules = {path.stem for path in (ROOT / "tests").glob("test_*.py")} | {"conftest"}
    test_files = sorted((ROOT / "tests").rglob("*.py"))
    assert ROOT / "tests" / "support" / "sqs_model.py" in test_files

    def imports_a_test_module(module: str) -> bool:
        parts = module.split(".")
        return parts[0] in test_modules or (parts[0] == "tests" and len(parts) > 1 and parts[1] in test_modules)

    offending = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in test_files
        for module in imported_modules(path)
        if imports_a_test_module(module) or (module.split(".")[0] == "moto" and module not in MOTO_PUBLIC)
    }
    assert not offending, sorted(offending)
    # Relative imports would get round the check above (`from . import test_worker`): tests name tests.support.
    assert [f"{path.relative_to(ROOT)}: {module}" for path in test_files for module in relative_imports(path)] == []


def test_test_helpers_live_in_the_support_package():
    """A module at the top of tests/ is a test module (or conftest): helpers go in tests/support/."""
    loose = {path.name for path in (ROOT / "tests").glob("*.py")} - {"__init__.py", "conftest.py"}
    assert {name for name in loose if not name.startswith("test_")} == set()
