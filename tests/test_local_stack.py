"""The local stack end to end: the module applied onto the emulator, tasks flowing, every one accounted for.

This is `make demo` on a short scenario, in a temporary directory of its own.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from taskqueue.schedules import periodic_run
from taskqueue_local import demo, stack
from tools import terraform as tf

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    try:
        tf.setup()
    except tf.TerraformUnavailable as error:
        pytest.skip(f"Terraform is not available: {error}")
    work_dir = tmp_path_factory.mktemp("local-stack")
    running = stack.up("basic", speedup=20, work_dir=work_dir, log=print)
    yield running
    stack.down(work_dir)
    assert not any(stack.is_ours(pid) for pid in running.pids.values()), "down left a process running"


def test_short_scenario_accounts_for_every_task(local_stack):
    scenario = demo.Scenario(succeed=6, flaky=2, exhausted=1, permanent=2, malformed=1, unknown=1)
    summary = demo.run(local_stack, scenario, timeout=120)
    print(summary.table())

    assert summary.enqueued == scenario.total == 13
    assert (summary.lost, summary.stuck) == (0, 0)
    assert summary.succeeded == scenario.succeed + scenario.flaky
    assert summary.retried_then_succeeded == scenario.flaky
    assert summary.dead_lettered == summary.expected_dead_letters
    assert summary.kinds_dead_lettered == Counter(permanent=2, malformed=1, unknown=1, exhausted=1)
    assert len(summary.latency_ms) >= scenario.succeed
    # A task 30 minutes out (a one-time schedule, 120x faster here) ran exactly once.
    assert summary.scheduled_expected == scenario.scheduled == 1
    assert summary.scheduled_runs == Counter({"later-0": 1})
    assert summary.periodic_runs >= 1
    assert summary.ok


def test_the_periodic_task_runs_on_each_tick(local_stack):
    """The module's periodic task (rate(10 minutes), every 5 s at 120x): each run once, none skipped."""
    worker_log = Path(local_stack.work_dir) / "logs" / f"{local_stack.outputs['worker_function_name']}.log"
    deadline = time.monotonic() + 60  # three ticks take 15 s; the worker's runs trail them by a poll
    while True:
        runs = {
            run[1]: count
            for task_id, count in demo.task_runs(worker_log).items()
            if (run := periodic_run(task_id)) is not None and run[0] == stack.DEMO_PERIODIC_TASK
        }
        if len(runs) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"periodic runs: {runs}")
    times = sorted(datetime.fromisoformat(when) for when in runs)
    assert len(times) >= 3 and set(runs.values()) == {1}
    assert all(later - earlier == timedelta(minutes=10) for earlier, later in itertools.pairwise(times))


def test_the_deployed_functions_are_what_the_module_declares(local_stack):
    lambda_client = stack.local_client("lambda", local_stack.emulator_url)
    worker = lambda_client.get_function(FunctionName=local_stack.outputs["worker_function_name"])["Configuration"]
    consumer = lambda_client.get_function(FunctionName=local_stack.outputs["consumer_function_name"])["Configuration"]
    assert worker["Handler"] == "taskqueue.worker.handler"
    assert consumer["Handler"] == "taskqueue.consumer.handler"
    assert consumer["Environment"]["Variables"]["TASKQUEUE_WORKER_FUNCTION"] == worker["FunctionArn"]
    sqs = stack.local_client("sqs", local_stack.emulator_url)
    attributes = sqs.get_queue_attributes(QueueUrl=local_stack.outputs["queue_url"], AttributeNames=["All"])
    assert "deadLetterTargetArn" in attributes["Attributes"]["RedrivePolicy"]
    assert "aws:SecureTransport" in attributes["Attributes"]["Policy"]
