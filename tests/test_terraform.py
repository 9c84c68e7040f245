"""The Terraform module and its examples, through python-terraform.

For the module and every example: ``terraform fmt -check``, ``init`` from the local provider mirror
and ``validate``; the module's ``terraform test`` files (a mocked AWS provider); and a ``plan`` of
each example as written, against a moto server standing in for AWS, with placeholder packages
where ``make build`` has not run. Skipped, with the reason, where terraform or the mirror is missing.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from tools import terraform as tf

pytestmark = pytest.mark.terraform

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE = REPO_ROOT / "terraform"
EXAMPLES = sorted(path.parent for path in (REPO_ROOT / "examples").glob("*/main.tf"))
MODULE_TESTS = sorted(path.relative_to(MODULE).as_posix() for path in (MODULE / "tests").glob("*.tftest.hcl"))


def _id(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


@pytest.fixture(scope="session")
def terraform_setup() -> tf.TerraformSetup:
    try:
        return tf.setup()
    except tf.TerraformUnavailable as unavailable:
        pytest.skip(str(unavailable))


class Initialised:
    """``terraform init`` once per configuration and test process, each in a data directory of its own."""

    def __init__(self, setup: tf.TerraformSetup, root: Path) -> None:
        self.setup = setup
        self.root = root
        self.done: set[Path] = set()

    def __call__(self, config: Path, env: dict[str, str | None] | None = None) -> tf.Terraform:
        terraform = self.setup.terraform(config, data_dir=self.root / _id(config).replace("/", "-"), env=env)
        if config not in self.done:
            tf.run(terraform, "init")
            self.done.add(config)
        return terraform


@pytest.fixture(scope="session")
def initialised(terraform_setup: tf.TerraformSetup, tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    return Initialised(terraform_setup, tmp_path_factory.mktemp("terraform-data"))


@pytest.fixture(scope="session")
def placeholder_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """consumer.zip and worker.zip stand-ins: a plan only hashes them."""
    dist = tmp_path_factory.mktemp("dist")
    for name in ("consumer", "worker"):
        with zipfile.ZipFile(dist / f"{name}.zip", "w") as archive:
            archive.writestr("README.txt", f"placeholder {name} package for terraform plan\n")
    return dist


@pytest.mark.parametrize("tree", [MODULE, REPO_ROOT / "examples"], ids=_id)
def test_fmt(terraform_setup: tf.TerraformSetup, tree: Path) -> None:
    terraform = terraform_setup.terraform(tree)
    try:
        tf.run(terraform, "fmt", check=tf.IsFlagged, recursive=tf.IsFlagged, diff=tf.IsFlagged)
    except tf.TerraformError as error:
        pytest.fail(f"terraform fmt -check found unformatted files (run `make fmt`):\n{error.stdout}")


@pytest.mark.parametrize("config", [MODULE, *EXAMPLES], ids=_id)
def test_validate(initialised: Initialised, config: Path) -> None:
    output = tf.run(initialised(config), "validate")
    assert "The configuration is valid" in output


@pytest.mark.parametrize("test_file", MODULE_TESTS)
def test_module_tests(initialised: Initialised, test_file: str) -> None:
    terraform = initialised(MODULE)
    try:
        output = tf.run(terraform, "test", filter=test_file)
    except tf.TerraformError as error:
        pytest.fail(f"terraform test -filter={test_file} failed:\n{error.stdout}\n{error.stderr}")
    summary = re.search(r"Success! (\d+) passed, 0 failed", output)
    assert summary is not None, output
    assert int(summary[1]) > 0, output


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_example_plans(initialised: Initialised, moto_server: str, placeholder_dist: Path, example: Path) -> None:
    env: dict[str, str | None] = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_EC2_METADATA_DISABLED": "true",
        # Variables an example does not declare are ignored.
        "TF_VAR_dist_dir": str(placeholder_dist),
        "TF_VAR_tasks_dist_dir": str(placeholder_dist),
    }
    output = tf.run(initialised(example, env=env), "plan")
    planned = re.search(r"Plan: (\d+) to add, 0 to change, 0 to destroy", output)
    assert planned is not None, output
    assert int(planned[1]) > 0


def test_every_example_is_tested() -> None:
    assert {path.name for path in EXAMPLES} >= {"basic", "fifo", "event-source-mapping", "custom-tasks"}
    for example in EXAMPLES:
        for name in ("main.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (example / name).is_file(), f"{_id(example)} has no {name}"
