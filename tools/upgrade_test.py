"""Upgrade test on the local stack: the previous release's module to this one, losing nothing.

1. examples/basic, as the previous release (``PREVIOUS_RELEASE``, the commit CHANGELOG.md names) had it,
   is applied onto the emulator (moto) with that release's module;
2. tasks are queued, one-time schedules created (due later than SQS can delay) and messages left in
   the dead-letter queue;
3. this checkout's examples/basic and module are planned over the same state: the plan must destroy
   no queue, dead-letter queue, table, schedule group or scheduler role; then applied;
4. every queued task, schedule and dead letter must still be there, and the dead letters are redriven
   into the queue.

Run it with ``make upgrade-test`` (about a minute; not part of ``make test``). It prints the figures
before and after, and exits non-zero on any loss. Nothing outside a temporary directory is written, and
the emulator it starts is stopped at the end, also on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from taskqueue.operations.queue_attributes import queue_depths
from taskqueue.operations.redrive import redrive
from taskqueue.producer import TaskQueue
from taskqueue.schedules import SchedulingConfig
from taskqueue_local.deployment import terraform_stack
from taskqueue_local.infrastructure import processes
from taskqueue_local.infrastructure.clients import REGION, local_client
from tools import terraform as tf

ROOT = Path(__file__).resolve().parent.parent
# The state an upgrade starts from: the last release, 1.0.0 (terraform/VERSION), as it landed.
PREVIOUS_RELEASE = "19eb9ef"
EXAMPLE = "basic"
# What a plan must never destroy: where queued tasks, dead letters, schedules and attempt counts live,
# and the role every pending schedule holds the ARN of.
PROTECTED_TYPES = frozenset({"aws_sqs_queue", "aws_dynamodb_table", "aws_scheduler_schedule_group"})
PROTECTED_ADDRESSES = frozenset({"aws_iam_role.scheduler"})
QUEUED_TASKS = 5
SCHEDULED_TASKS = 3
DEAD_LETTERS = 2


class UpgradeLost(RuntimeError):
    """The upgrade destroyed, or would destroy, what holds tasks."""


@dataclass(frozen=True)
class Holdings:
    """What the deployment holds: messages in each queue, and the pending schedules by name."""

    queued: int
    dead_letters: int
    schedules: frozenset[str]

    def describe(self) -> str:
        return f"{self.queued} queued, {len(self.schedules)} scheduled, {self.dead_letters} dead letters"


def export_previous_release(destination: Path) -> None:
    """terraform/ and examples/ as the previous release had them (git archive: no checkout touched)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, "terraform", "examples"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")


def workspace(source_root: Path, work_dir: Path) -> Path:
    """examples/basic of ``source_root`` in the work directory, its ../../terraform pointing at that
    tree's module, and the override that puts the provider on the emulator."""
    target = work_dir / "workspace" / "examples" / EXAMPLE
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source_root / "examples" / EXAMPLE, target, ignore=shutil.ignore_patterns(".terraform*"))
    module_link = work_dir / "workspace" / "terraform"
    if module_link.is_symlink():
        module_link.unlink()
    module_link.symlink_to(source_root / "terraform", target_is_directory=True)
    return target


def placeholder_packages(directory: Path) -> Path:
    """consumer.zip and worker.zip stand-ins: nothing runs them here, Terraform only uploads them."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("consumer", "worker"):
        with zipfile.ZipFile(directory / f"{name}.zip", "w") as archive:
            archive.writestr("README.txt", f"placeholder {name} package\n")
    return directory


class Stack:
    """One Terraform state on the emulator, applied from whichever tree's example and module."""

    def __init__(self, work_dir: Path, emulator_url: str) -> None:
        self.work_dir = work_dir
        self.emulator_url = emulator_url
        self.setup = tf.setup()
        self.state = work_dir / "upgrade.tfstate"
        self.variables = {"dist_dir": str(placeholder_packages(work_dir / "dist")), "region": REGION}

    def runner(self, source_root: Path) -> Any:
        example_dir = workspace(source_root, self.work_dir)
        settings = terraform_stack.module_settings_for(EXAMPLE)
        (example_dir / terraform_stack.OVERRIDE_NAME).write_text(
            terraform_stack.override_text(self.emulator_url, settings)
        )
        # A data directory of its own per tree: init links that tree's module.
        runner = self.setup.terraform(example_dir, data_dir=self.work_dir / "data" / source_root.name)
        tf.run(runner, "init", input=False)
        return runner

    def plan(self, runner: Any) -> list[dict[str, Any]]:
        """The plan's resource changes (terraform show -json)."""
        plan = self.work_dir / "upgrade.plan"
        tf.run(runner, "plan", input=False, state=str(self.state), var=self.variables, out=str(plan))
        return list(json.loads(tf.run(runner, "show", str(plan), json=tf.IsFlagged)).get("resource_changes", []))

    def apply(self, runner: Any) -> dict[str, Any]:
        tf.run(runner, "apply", auto_approve=tf.IsFlagged, input=False, state=str(self.state), var=self.variables)
        outputs = json.loads(self.state.read_text()).get("outputs", {})
        return {name: value["value"] for name, value in outputs.items()}


def destroyed(changes: list[dict[str, Any]]) -> list[str]:
    """The protected resources a plan would delete (replacements included)."""
    found = []
    for change in changes:
        if "delete" not in change["change"]["actions"]:
            continue
        # The module's resources: module.task_queue.aws_sqs_queue.this[0] -> aws_sqs_queue.this.
        local = change["address"].split("module.task_queue.", 1)[-1].split("[", 1)[0]
        if change["type"] in PROTECTED_TYPES or local in PROTECTED_ADDRESSES:
            found.append(f"{change['address']} ({'/'.join(change['change']['actions'])})")
    return found


def producer(outputs: dict[str, Any], emulator_url: str) -> TaskQueue:
    scheduling = SchedulingConfig.from_environment(terraform_stack.scheduling_environment(outputs))
    return TaskQueue(
        outputs["queue_url"],
        sqs=local_client("sqs", emulator_url),
        scheduler=local_client("scheduler", emulator_url),
        scheduling=scheduling,
    )


def holdings(outputs: dict[str, Any], emulator_url: str) -> Holdings:
    sqs = local_client("sqs", emulator_url)
    return Holdings(
        queued=sum(queue_depths(sqs, outputs["queue_url"]).values()),
        dead_letters=sum(queue_depths(sqs, outputs["dead_letter_queue_url"]).values()),
        schedules=frozenset(item.name for item in producer(outputs, emulator_url).scheduled() if not item.periodic),
    )


def fill(outputs: dict[str, Any], emulator_url: str) -> None:
    """Queued tasks, one-time schedules a day out, and dead letters (sent to the DLQ as the worker would)."""
    queue = producer(outputs, emulator_url)
    for number in range(QUEUED_TASKS):
        queue.enqueue("checksum", {"text": f"queued {number}"}, id=f"queued-{number}")
    for number in range(SCHEDULED_TASKS):
        queue.enqueue("checksum", {"text": f"scheduled {number}"}, id=f"scheduled-{number}", delay=timedelta(days=1))
    sqs = local_client("sqs", emulator_url)
    for number in range(DEAD_LETTERS):
        body = json.dumps({"task": "checksum", "payload": {"text": f"dead {number}"}, "id": f"dead-{number}"})
        sqs.send_message(QueueUrl=outputs["dead_letter_queue_url"], MessageBody=body)


@dataclass
class Emulator:
    pid: int
    url: str


def start_emulator(log_dir: Path) -> Emulator:
    # The module attaches AWS's managed policies (X-Ray, VPC access): moto knows them only when asked.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    pid, url = processes.start_emulator(log_dir)
    return Emulator(pid, url)


def run(work_dir: Path, log: Any = print) -> None:
    old_tree = work_dir / "previous"
    export_previous_release(old_tree)
    emulator = start_emulator(work_dir / "logs")
    try:
        stack = Stack(work_dir, emulator.url)
        started = time.monotonic()
        outputs = stack.apply(stack.runner(old_tree))
        log(f"examples/{EXAMPLE} applied from {PREVIOUS_RELEASE} in {time.monotonic() - started:.0f} s")
        fill(outputs, emulator.url)
        before = holdings(outputs, emulator.url)
        log(f"before the upgrade: {before.describe()}")
        expected = Holdings(QUEUED_TASKS, DEAD_LETTERS, before.schedules)
        if before != expected or len(before.schedules) != SCHEDULED_TASKS:
            raise UpgradeLost(f"the previous release did not hold what was sent: {before.describe()}")

        runner = stack.runner(ROOT)
        changes = stack.plan(runner)
        counts: dict[str, int] = {}
        for change in changes:
            key = "/".join(change["change"]["actions"])
            counts[key] = counts.get(key, 0) + 1
        log("upgrade plan: " + ", ".join(f"{count} {action}" for action, count in sorted(counts.items())))
        lost = destroyed(changes)
        if lost:
            raise UpgradeLost("the upgrade plan destroys what holds tasks: " + "; ".join(lost))
        started = time.monotonic()
        outputs = stack.apply(runner)
        log(f"upgraded to {outputs.get('module_version', '?')} in {time.monotonic() - started:.0f} s")

        after = holdings(outputs, emulator.url)
        log(f"after the upgrade: {after.describe()}")
        if after != before:
            raise UpgradeLost(f"before: {before.describe()}; after: {after.describe()}")
        sqs = local_client("sqs", emulator.url)
        result = redrive(sqs, outputs["queue_url"], outputs["dead_letter_queue_url"], force_copy=True)
        redriven = holdings(outputs, emulator.url)
        log(f"dead letters redriven ({result}): {redriven.describe()}")
        if redriven.queued != QUEUED_TASKS + DEAD_LETTERS or redriven.dead_letters != 0:
            raise UpgradeLost(f"the dead letters could not be redriven: {redriven.describe()}")
    finally:
        processes.stop_process_group(emulator.pid)


def main() -> int:
    # SIGTERM unwinds like Ctrl-C, so the emulator is stopped and the work directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="taskqueue-upgrade-") as work_dir:
        try:
            run(Path(work_dir))
        except (UpgradeLost, tf.TerraformError) as error:
            print(f"upgrade test FAILED: {error}", file=sys.stderr)
            return 1
    print("upgrade test passed: nothing destroyed, nothing lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
