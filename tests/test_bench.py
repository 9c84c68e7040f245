"""The benchmark's own arithmetic and counting: the cost model, the metric series, the runtime probe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cost_model, metric_series, runtime_cost

ROOT = Path(__file__).resolve().parents[1]


def test_per_million_tasks_prices_each_line():
    usage = cost_model.TaskUsage(
        sqs_requests=0.2, lambda_requests=0.1, gb_seconds=0.001, function_log_bytes=50, invocations=0.1
    )
    parts = cost_model.per_million_tasks(usage)
    assert parts["sqs_requests"] == pytest.approx(0.2 * 0.40)
    assert parts["lambda_requests"] == pytest.approx(0.1 * 0.20)
    assert parts["lambda_duration"] == pytest.approx(1000 * 0.0000133334)
    log_bytes = 50 + 0.1 * cost_model.PLATFORM_LOG_BYTES_PER_INVOCATION
    assert parts["logs"] == pytest.approx(log_bytes * 1e6 / 1024**3 * 0.50)
    assert parts["total"] == pytest.approx(
        sum(parts[k] for k in ("sqs_requests", "lambda_requests", "lambda_duration", "logs"))
    )
    assert parts["total_logs_infrequent_access"] == pytest.approx(parts["total"] - parts["logs"] / 2)
    assert parts["scheduler_if_due_beyond_900s"] == 1.00  # one Scheduler invocation per task, not in the total


def test_a_periodic_task_costs_its_schedule_and_its_runs():
    usage = cost_model.TaskUsage(
        sqs_requests=0.3, lambda_requests=0.1, gb_seconds=0.0, function_log_bytes=0, invocations=0
    )
    per_run = 1.00 / 1e6 + cost_model.per_million_tasks(usage)["total"] / 1e6
    assert cost_model.periodic_task_per_month(usage, 43_200) == pytest.approx(43_200 * per_run)


def test_idle_month_prices_runs_polls_and_metric_series():
    idle = cost_model.per_month_idle(cost_model.IdleUsage(runs=43_200, sqs_requests=43_200, metric_series=7))
    assert idle["lambda_requests"] == pytest.approx(43_200 * 0.20 / 1e6)
    assert idle["custom_metrics"] == pytest.approx(7 * 0.30)
    assert idle["eventbridge"] == 0.0


def test_metric_series_are_bounded_by_task_names():
    one, three = metric_series.worker_series(1), metric_series.worker_series(3)
    assert len(one) == 8 and len(three) == 14  # 5 + 3 per task name
    dimension_names = {name for _, _, dimensions in three for name, _ in dimensions}
    assert dimension_names == {"service", "task"}  # never a message id or a payload value
    assert len(metric_series.consumer_series()) == 7


def test_the_runtime_probe_measures_a_built_worker(tmp_path):
    out = tmp_path / "dist"
    command = [sys.executable, str(ROOT / "build.py"), "worker", "--out", str(out)]
    for tasks in ("noop_tasks", "baseline", "bare_handler"):
        command += ["--tasks", str(ROOT / "bench" / tasks)]
    subprocess.run(command, check=True, capture_output=True)
    figures = runtime_cost.measure(out / "worker.zip", repeats=1, batches=5)
    assert figures.log_bytes_per_task["bare handler"] == 0
    assert (
        0 < figures.log_bytes_per_task[runtime_cost.WORKER.name] < 1000
    )  # the batch's metrics line, shared by its tasks
    assert figures.cpu_us_per_task[runtime_cost.WORKER.name] > 0 and figures.cpu_us_per_task["bare handler"] > 0
    assert set(figures.cold_start_seconds) == {
        runtime_cost.WORKER.name,
        "bare handler",
        "baseline",
        runtime_cost.REFERENCE.name,
    }
