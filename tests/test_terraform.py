"""The Terraform module and its examples, through python-terraform.

For the module and every example: ``terraform fmt -check``, ``init`` from the local provider mirror
and ``validate``; the module's ``terraform test`` files (a mocked AWS provider), each precondition
case of which trips exactly one precondition; and a ``plan`` of each example as written, against a
moto server standing in for AWS, with placeholder packages where ``make build`` has not run (the
examples applied on the local stack's emulator are in ``test_terraform_apply``). Skipped, with the
reason, where terraform or the mirror is missing. The module's copies of the runtime's time and size
limits, and its list of time zones, are checked without Terraform; a periodic task's message, with it
against the runtime's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
import zoneinfo
from pathlib import Path
from typing import Any

import hcl2
import pytest

from bench import priorities as bench_priorities
from taskqueue import limits
from taskqueue.batch import budget
from taskqueue.config import ConsumerConfig
from taskqueue.dead_letter_queue import DEAD_LETTER_ROOM_BYTES
from taskqueue.schedules import SCHEDULED_TIME_KEYWORD, periodic_task_input
from tools import terraform as tf
from tools import time_zones

pytestmark = pytest.mark.terraform

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE = REPO_ROOT / "terraform"
EXAMPLES = sorted(path.parent for path in (REPO_ROOT / "examples").glob("*/main.tf"))
PRECONDITION_TESTS = MODULE / "tests" / "preconditions.tftest.hcl"
# preconditions.tftest.hcl's runs are planned by test_each_precondition_case_trips_exactly_one_precondition,
# which checks more of each than its expect_failures does: planning them twice cost make test a minute.
MODULE_TESTS = sorted(
    path.relative_to(MODULE).as_posix()
    for path in (MODULE / "tests").glob("*.tftest.hcl")
    if path != PRECONDITION_TESTS
)


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


LIFECYCLE_TESTS = "tests/lifecycle.tftest.hcl"
# A replaced resource in a rendered plan: its address, then the action's symbol on the resource line.
REPLACEMENT = re.compile(r"^  # (?P<address>\S+) will be replaced.*\n(?P<symbol>[-+]/[-+]) resource", re.MULTILINE)


def test_log_groups_are_replaced_destroy_first(initialised: Initialised) -> None:
    """A log group's name is fixed: a new class must delete the old group before creating the new one
    ("-/+"), not the other way around ("+/-", which CreateLogGroup refuses with ResourceAlreadyExists)."""
    output = tf.run(initialised(MODULE), "test", filter=LIFECYCLE_TESTS, verbose=tf.IsFlagged)
    replaced = {match["address"]: match["symbol"] for match in REPLACEMENT.finditer(output)}
    log_groups = {address: symbol for address, symbol in replaced.items() if "aws_cloudwatch_log_group." in address}
    assert log_groups == {
        "module.consumer[0].aws_cloudwatch_log_group.this": "-/+",
        "module.worker[0].aws_cloudwatch_log_group.this": "-/+",
    }, f"replaced: {replaced}"


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


def _locals(path: Path) -> dict[str, object]:
    with path.open() as file:
        document = hcl2.load(file)
    return {name: value for block in document.get("locals", []) for name, value in block.items()}


def _blocks(path: Path, kind: str) -> dict[str, dict[str, object]]:
    """The file's blocks of one kind ("resource", "module"), by their unquoted address."""
    with path.open() as file:
        document = hcl2.load(file)
    found: dict[str, dict[str, object]] = {}
    for block in document.get(kind, []):
        for label, body in block.items():
            if kind == "resource":
                for name, resource in body.items():
                    found[f"{label.strip(chr(34))}.{name.strip(chr(34))}"] = resource
            else:
                found[label.strip('"')] = body
    return found


def test_periodic_schedules_wait_for_the_scheduler_roles_policy() -> None:
    """A periodic schedule may fire as soon as it exists: its role must hold its permissions by then."""
    periodic = _blocks(MODULE / "scheduler.tf", "resource")["aws_scheduler_schedule.periodic"]
    assert "${aws_iam_role_policy.scheduler}" in periodic.get("depends_on", [])


def test_priority_queues_wait_for_the_dead_letter_queues_redrive_allow_policy() -> None:
    """SQS refuses a redrive policy whose dead-letter queue does not allow its queue: when priorities are added
    to a deployed module, the allow policy must list the new queues before they are created."""
    priority = _blocks(MODULE / "priorities.tf", "resource")["aws_sqs_queue.priority"]
    assert "${aws_sqs_queue_redrive_allow_policy.dead_letter_queue}" in priority.get("depends_on", [])


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_examples_put_no_depends_on_on_the_module(example: Path) -> None:
    """depends_on on a module call defers every data source in it to the apply, so each plan shows changes."""
    for path in example.glob("*.tf"):
        for name, module in _blocks(path, "module").items():
            assert "depends_on" not in module, f"{_id(path)}: module {name} has depends_on"


def test_time_budget_locals_mirror_the_runtime() -> None:
    """The module budgets the consumer with the runtime's own figures: a drift would pass plans the runtime refuses."""
    module = _locals(MODULE / "locals.tf")
    assert module["lambda_init_seconds"] == limits.LAMBDA_INIT_SECONDS
    assert module["invoke_response_slack_seconds"] == limits.INVOKE_RESPONSE_SLACK_SECONDS
    assert module["default_time_margin_seconds"] == ConsumerConfig.time_margin_seconds
    assert module["worker_max_task_concurrency"] == limits.WORKER_MAX_TASK_CONCURRENCY
    assert module["worker_start_reserve_seconds"] == budget.MIN_REMAINING_SECONDS_TO_START


def test_scheduling_locals_mirror_the_runtime() -> None:
    """A periodic task's message must fit where the producer's would: the same limits on both sides."""
    module = _locals(MODULE / "scheduler.tf")
    assert module["scheduler_max_input_bytes"] == limits.SCHEDULER_MAX_INPUT_BYTES
    assert module["dead_letter_room_bytes"] == DEAD_LETTER_ROOM_BYTES


def test_time_zones_are_the_databases() -> None:
    """Every name the module accepts is a zone; the common ones are there (`python -m tools.time_zones`)."""
    listed = time_zones.listed()
    assert listed == sorted(listed) and len(listed) > 400
    assert set(listed) <= zoneinfo.available_timezones()
    assert {"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"} <= set(listed)
    assert not set(listed) & time_zones.NOT_ZONES


def _console(
    initialised: Initialised,
    terraform_setup: tf.TerraformSetup,
    variables: Path,
    settings: dict[str, Any],
    expression: str,
) -> Any:
    """The module's ``jsonencode(expression)`` under ``settings``, by `terraform console`, decoded."""
    variables.write_text(json.dumps(settings))
    terraform = initialised(MODULE)
    result = subprocess.run(
        [terraform_setup.binary, "console", f"-var-file={variables}"],
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        cwd=MODULE,
        env={**os.environ, **{name: value for name, value in terraform.env.items() if value is not None}},
        timeout=120,
        check=True,
    )
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


def test_periodic_task_message_is_the_runtimes(
    initialised: Initialised, terraform_setup: tf.TerraformSetup, placeholder_dist: Path, tmp_path: Path
) -> None:
    """The module's periodic task input, evaluated by `terraform console`, is the runtime's (taskqueue.schedules)."""
    payload = {
        "kind": "daily",
        "note": "<aws.scheduler.schedule-arn> & <b>",
        "items": [1, 2.5, None, True],
        "text": "é ✓",
    }
    module_input = _console(
        initialised,
        terraform_setup,
        tmp_path / "periodic.tfvars.json",
        {
            "name": "orders",
            "consumer_package": {"filename": str(placeholder_dist / "consumer.zip")},
            "worker_package": {"filename": str(placeholder_dist / "worker.zip")},
            "periodic_tasks": {"nightly_report": {"schedule": "rate(1 day)", "task": "report", "payload": payload}},
        },
        'local.periodic_tasks["nightly_report"].input',
    )
    runtime_input = periodic_task_input("nightly_report", "report", payload)
    expected = {"task": "report", "payload": payload, "id": f"nightly_report@{SCHEDULED_TIME_KEYWORD}"}
    assert json.loads(module_input) == json.loads(runtime_input) == expected
    # Each keeps the run's time keyword live, once, and the payload's keywords disarmed.
    for text in (module_input, runtime_input):
        assert text.count("<") == 1 and text.endswith(f'"id":"nightly_report@{SCHEDULED_TIME_KEYWORD}"}}')


def test_priority_mapping_concurrency_is_the_benchmarks(
    initialised: Initialised, terraform_setup: tf.TerraformSetup, placeholder_dist: Path, tmp_path: Path
) -> None:
    """bench/priorities.py shares MaximumConcurrency out as the module does (`terraform console`): shares
    rounded down (high), and raised to Lambda's 2 (normal, low), which can add up to more than the cap."""
    weights = {"high": 10, "normal": 3, "low": 1}
    module_shares = _console(
        initialised,
        terraform_setup,
        tmp_path / "priorities.tfvars.json",
        {
            "name": "orders",
            "trigger_mode": "event_source_mapping",
            "consumer_package": None,
            "worker_package": {"filename": str(placeholder_dist / "worker.zip")},
            "priorities": [{"name": name, "weight": weight} for name, weight in weights.items()],
            "event_source_mapping_maximum_concurrency": 10,
        },
        "local.priority_mapping_concurrency",
    )
    assert module_shares == bench_priorities.mapping_concurrency(10, weights) == {"high": 7, "normal": 2, "low": 2}


def _runs(text: str) -> tuple[str, dict[str, str]]:
    """A test file's text before its first run block, and each run block's text by name."""
    start = text.index("\nrun ")
    blocks = re.findall(r'^(run "([^"]+)" \{.*?^\})', text[start:], flags=re.MULTILINE | re.DOTALL)
    return text[: start + 1], {name: block for block, name in blocks}


def _expected_failures(block: str) -> list[str]:
    match = re.search(r"^ *expect_failures = \[(.*)\]$", block, flags=re.MULTILINE)
    assert match is not None, f"no single-line expect_failures in:\n{block}"
    return [item.strip() for item in match[1].split(",") if item.strip()]


def test_each_precondition_case_trips_exactly_one_precondition(initialised: Initialised) -> None:
    """expect_failures names a resource, not one of its preconditions: another tripped one could stand in.

    Each case runs with its resource left out of expect_failures (a check's warning stays expected),
    one file per case so that one failure skips no other; the resource must report one failed
    precondition, at one place in the module, and the run no other error (what its expect_failures
    would have checked: this test stands for ``terraform test`` of preconditions.tftest.hcl).
    """
    header, runs = _runs(PRECONDITION_TESTS.read_text())
    assert len(runs) >= 20, "the precondition cases were not found"
    expected: dict[str, str] = {}
    directory = Path(tempfile.mkdtemp(prefix=".precondition-cases-", dir=MODULE))
    try:
        for name, block in runs.items():
            failures = _expected_failures(block)
            resources = [item for item in failures if not item.startswith("check.")]
            assert len(resources) == 1, f"run {name} expects {failures}: one resource, and checks at most"
            expected[name] = resources[0]
            kept = ", ".join(item for item in failures if item.startswith("check."))
            replacement = f"\\1expect_failures = [{kept}]" if kept else ""
            case = re.sub(r"^( *)expect_failures = \[.*\]$", replacement, block, flags=re.MULTILINE)
            (directory / f"{name}.tftest.hcl").write_text(header + case + "\n")
        try:
            tf.run(initialised(MODULE), "test", test_directory=directory.name, json=tf.IsFlagged)
        except tf.TerraformError as error:
            messages = [json.loads(line) for line in error.stdout.splitlines() if line.startswith("{")]
        else:
            pytest.fail("every case passed without its expected failure")
    finally:
        shutil.rmtree(directory)
    tripped: dict[str, set[tuple[str, str]]] = {name: set() for name in expected}
    errors: dict[str, list[str]] = {name: [] for name in expected}
    for message in messages:
        diagnostic = message.get("diagnostic", {})
        if message.get("type") == "diagnostic" and diagnostic.get("severity") == "error":
            errors[message["@testrun"]].append(diagnostic.get("summary", ""))
        if message.get("type") == "diagnostic" and diagnostic.get("summary") == "Resource precondition failed":
            place = f"{diagnostic['range']['filename']}:{diagnostic['range']['start']['line']}"
            # The snippet's context is the block: resource "terraform_data" "worker_settings".
            kind, label = re.findall(r'"([^"]+)"', diagnostic["snippet"]["context"])
            tripped[message["@testrun"]].add((place, f"{kind}.{label}"))
    for name, resource in expected.items():
        assert {address for _, address in tripped[name]} == {resource}, f"run {name} trips {sorted(tripped[name])}"
        assert len(tripped[name]) == 1, f"run {name} trips {len(tripped[name])} preconditions of {resource}"
        assert set(errors[name]) == {"Resource precondition failed"}, f"run {name} errors: {errors[name]}"


def test_every_example_is_tested() -> None:
    assert {path.name for path in EXAMPLES} >= {"basic", "fifo", "event-source-mapping", "custom-tasks", "complete"}
    for example in EXAMPLES:
        for name in ("main.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (example / name).is_file(), f"{_id(example)} has no {name}"
