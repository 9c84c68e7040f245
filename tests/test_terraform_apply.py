"""examples/basic and examples/complete applied on the local stack's emulator, after which a second plan
changes nothing but what moto cannot hold. Skipped, with the reason, where terraform or the mirror is
missing.

A file of its own, apart from ``test_terraform``: the two are the longest files of ``make test``, and
pytest-xdist (``--dist loadfile``) runs a file on one worker, so together they made one long tail.
"""

from __future__ import annotations

import multiprocessing
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskqueue_local.deployment import terraform_stack
from taskqueue_local.infrastructure import processes
from tools import terraform as tf

pytestmark = [pytest.mark.terraform, pytest.mark.acceptance]

# What moto 5.2 cannot hold, so that a second plan after an apply on the local stack changes it again,
# by (resource type, attribute). Anything else a second plan would change is a defect of the module.
MOTO_PLAN_GAPS = {
    ("aws_lambda_function", "logging_config"): "moto neither stores nor returns a function's LoggingConfig",
}


@pytest.fixture(scope="session")
def terraform_setup() -> tf.TerraformSetup:
    try:
        return tf.setup()
    except tf.TerraformUnavailable as unavailable:
        pytest.skip(str(unavailable))


def _placeholder_packages(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("consumer", "worker"):
        with zipfile.ZipFile(directory / f"{name}.zip", "w") as archive:
            archive.writestr("README.txt", f"placeholder {name} package\n")
    return directory


def _apply_then_plan(example: str, work_dir: Path, emulator_url: str) -> list[tf.PlannedChange]:
    """Apply an example as the local stack does, then plan again: what would still change."""
    terraform_setup = tf.setup()
    _placeholder_packages(work_dir / "dist")
    try:
        settings = terraform_stack.module_settings_for(example)
        terraform_stack.apply(terraform_setup, example, work_dir, emulator_url, settings, log=lambda _: None)
        run = terraform_stack.ExampleRun.at(example, work_dir)
        return tf.planned_changes(run.terraform(terraform_setup), run.state, run.variables)
    except tf.TerraformError as error:
        # Its own exception type does not survive the way back from a pool's process.
        raise RuntimeError(str(error)) from None


APPLIED_EXAMPLES = ("basic", "complete")


@pytest.fixture(scope="module")
def second_plans(
    terraform_setup: tf.TerraformSetup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, list[tf.PlannedChange]]]:
    """examples/basic and examples/complete applied on one emulator, side by side (the provider spends
    most of an apply waiting), and planned again."""
    root = tmp_path_factory.mktemp("applied-examples")
    with pytest.MonkeyPatch.context() as patch:
        # The module and the examples attach AWS's managed policies (VPC access, X-Ray): moto knows
        # them only when asked to load them.
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        pid, url = processes.start_emulator(root / "logs")
    try:
        with multiprocessing.get_context("fork").Pool(len(APPLIED_EXAMPLES)) as pool:
            pending = {
                example: pool.apply_async(_apply_then_plan, (example, root / example, url))
                for example in APPLIED_EXAMPLES
            }
            yield {example: result.get() for example, result in pending.items()}
    finally:
        processes.stop_process_group(pid)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("example", APPLIED_EXAMPLES)
def test_example_applies_and_plans_again_without_changes(
    second_plans: dict[str, list[tf.PlannedChange]], example: str
) -> None:
    changes = second_plans[example]
    for change in changes:
        print(f"{change.address}: {change.actions} {change.attributes}")
    gaps = {(change.resource_type, attribute) for change in changes for attribute in change.attributes}
    unexplained = [
        change
        for change in changes
        if change.actions != ("update",)
        or not {(change.resource_type, attribute) for attribute in change.attributes} <= MOTO_PLAN_GAPS.keys()
    ]
    assert unexplained == [], f"a second plan of examples/{example} would change more than moto's gaps ({sorted(gaps)})"
