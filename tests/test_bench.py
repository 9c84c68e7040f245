"""The benchmark's own arithmetic and counting: the cost model, the metric series, the runtime probe, the figures
and the results file."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import cost_model, drain, figures, io_bound, io_report, metric_series, report, runtime_cost
from taskqueue import observability
from taskqueue.config import ConsumerConfig

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
    # A busy consumer writes its 6 counts; an idle one none (zeros are left out, issue 23).
    assert {metric for _, metric, _ in metric_series.busy_consumer_series()} == set(observability.CONSUMER_METRICS) - {
        observability.CONSUMER_MISCONFIGURED
    }


def test_an_idle_consumer_run_publishes_no_metric_series():
    assert metric_series.idle_consumer_series() == set()


def test_an_idle_month_of_the_consumer_at_its_defaults_costs_at_most_30_cents():
    """A run a minute, each one empty long poll of the drain mode's default 1 s at the module's 256 MB, its
    log line as written, and the metric series it publishes (none)."""
    config = ConsumerConfig.from_env({"TASKQUEUE_QUEUE_URL": "q", "TASKQUEUE_WORKER_FUNCTION": "w"})
    log_bytes = len(metric_series.idle_consumer_run().encode())
    runs = cost_model.MONTH_MINUTES
    idle = cost_model.per_month_idle(
        cost_model.IdleUsage(
            runs=runs,
            gb_seconds=runs * config.wait_time_seconds * 256 / 1024,
            sqs_requests=runs,
            function_log_bytes=runs * log_bytes,
            metric_series=len(metric_series.idle_consumer_series()),
        )
    )
    assert idle["custom_metrics"] == 0
    assert idle["total"] <= 0.30, idle


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


def _run(design: str, setting: str, tasks: int, seconds: float, calls: int) -> drain.Measurement:
    return drain.Measurement(design, setting, tasks, seconds, {"sqs.ReceiveMessage": calls}, invocations=tasks // 10)


def _figures() -> figures.Results:
    measured = {
        "ceiling 1": [_run("emulator ceiling", "clients=1", 100, 1.0, 10)],
        "ceiling 8": [_run("emulator ceiling", "clients=8", n, 1.0, 20) for n in (180, 200, 190)],
        report.DEFAULT_CONSUMER: [_run("scheduled consumer", "4/1", n, 1.0, 20) for n in (150, 120, 130)],
        "consumer 8/8": [_run("scheduled consumer", "8/8", n, 1.0, 40) for n in (170, 160, 175)],
        "esm 4": [_run("event source mapping", "4", 140, 1.0, 30)],
        "baseline": [_run("baseline", "tick", 30, 1.0, 60)],
    }
    idle = figures.IdleRun(seconds=1.0, sqs_calls=1, log_bytes=800)
    latency = {"scheduled consumer": [100.0, 200.0, 300.0], "event source mapping": [50.0, 60.0]}
    runtime = runtime_cost.RuntimeFigures(
        repeats=3,
        log_bytes_per_task={runtime_cost.WORKER.name: 40.0, runtime_cost.BARE.name: 0.0},
        cpu_us_per_task={runtime_cost.WORKER.name: 300.0, runtime_cost.BARE.name: 100.0},
        cold_start_seconds={
            runtime_cost.WORKER.name: 0.2,
            runtime_cost.BARE.name: 0.1,
            runtime_cost.REFERENCE.name: 0.19,
            "baseline": 0.15,
        },
        cold_start_ratio=1.05,
        cold_start_pairs=[1.05],
    )
    drained = figures.Drained(measured, latency, idle, idle)
    return figures.figures(drained, runtime, drain.Window(), drain.Trickle(), repeats=3)


def test_the_figures_take_each_runs_median_and_each_design_at_its_fastest():
    results = _figures()
    assert results.ceiling.tasks == 190  # the median of ceiling 8's repeats, faster than ceiling 1
    defaults = results.measurement(report.DEFAULT_CONSUMER)
    assert (defaults.median.tasks, defaults.rates) == (130, [150.0, 120.0, 130.0])
    assert defaults.fraction_of_ceiling == pytest.approx(130 / 190)
    consumer = results.designs["scheduled consumer"]
    assert (consumer.best, consumer.tasks_per_second) == ("consumer 8/8", 170)
    assert consumer.usage_per_task.function_log_bytes == 40.0 and consumer.usage_per_task.invocations == 0.1
    assert (consumer.latency.p50_ms, consumer.latency.tasks) == (200.0, 3)
    baseline = results.designs["baseline"]
    assert baseline.tasks_per_second == pytest.approx(10 / 60) and baseline.tasks_per_second_measured == 30
    assert baseline.usage_per_task.function_log_bytes == 0.0  # its worker logs nothing of its own
    assert baseline.latency.modelled


def test_the_results_file_keeps_the_shape_of_the_stored_one():
    """bench/results.json as the last `make bench` wrote it, key for key (docs/performance.md reads it)."""

    def shape(value: object) -> object:
        if isinstance(value, dict):  # calls_per_task is keyed by the operations a run made: its values are data
            return {key: "dict" if key == "calls_per_task" else shape(item) for key, item in value.items()}
        if isinstance(value, list):
            return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
        return type(value).__name__ if isinstance(value, str | bool) or value is None else "number"

    stored = json.loads((ROOT / "bench" / "results.json").read_text())
    written = json.loads(json.dumps(replace(_figures(), seconds=1.0).as_json()))
    assert shape(written) == shape(stored)
    shown = report.tables(_figures())
    assert "Goals" in shown and "consumer 8/8" in shown and "prices (us-east-1" in shown


def test_status_tracking_costs_its_writes_and_nothing_when_off():
    assert cost_model.status_writes(False) == cost_model.StatusWrites(0, 0, 0)
    assert cost_model.status_per_million_tasks(cost_model.status_writes(False))["total"] == 0
    first_time = cost_model.status_writes(True)
    # queued, running, succeeded: 3 writes; the index: 1 entry created, 2 state changes of 2 units each.
    assert (first_time.requests, first_time.table_write_units, first_time.index_write_units) == (3, 3, 5)
    assert cost_model.status_per_million_tasks(first_time)["total"] == pytest.approx(8 * 0.625)
    once_retried = cost_model.status_writes(True, failed_runs=1)  # + retrying, + running
    assert (once_retried.requests, once_retried.write_units) == (5, 5 + 9)
    with_result = cost_model.status_writes(True, result_bytes=64 * 1024)
    assert with_result.table_write_units == 2 + 65 and with_result.index_write_units == 5


def test_io_rows_the_worker_cannot_run_say_why_and_carry_no_figure():
    measured = io_bound.IoMeasurement(
        io_bound.SEQUENTIAL.name, io_bound.CONSUMER, 2, tasks=100, seconds=5.0, worker_billed_ms=10_000, invocations=10
    )
    missing = io_bound.IoMeasurement(
        io_bound.CONCURRENT.name, io_bound.CONSUMER, 2, not_measured=io_bound.NOT_MEASURED_SEQUENTIAL_WORKER
    )
    rows = io_report.results([measured, missing])
    assert rows[0]["tasks_per_second_per_unit"] == 10.0 and rows[0]["tasks_per_worker_second"] == 10.0
    assert rows[1] == {
        "row": io_bound.CONCURRENT.name,
        "trigger": io_bound.CONSUMER,
        "not_measured": io_bound.NOT_MEASURED_SEQUENTIAL_WORKER,
    }
    lines = io_report.goals(rows, cpu_now=None, cpu_before=None)
    assert all(met is None for _, _, _, met in lines)
    assert io_bound.NOT_MEASURED_SEQUENTIAL_WORKER in io_report.tables(rows, lines)


def test_io_goals_compare_concurrent_with_sequential_per_unit_and_per_gb_second():
    def row(name: str, tasks_per_second: float, billed_ms: float) -> io_bound.IoMeasurement:
        return io_bound.IoMeasurement(
            name, io_bound.CONSUMER, 1, tasks=100, seconds=100 / tasks_per_second, worker_billed_ms=billed_ms
        )

    rows = io_report.results([row(io_bound.SEQUENTIAL.name, 10, 10_000), row(io_bound.CONCURRENT.name, 90, 1_100)])
    goals = {goal: (measured, met) for goal, _, measured, met in io_report.goals(rows, 12.0, 12.2)}
    assert goals["I/O-bound, batch 10: tasks/s per unit in use, concurrent / sequential"] == ("9.1x", True)
    assert goals["I/O-bound, batch 10: billed GB-s per task, concurrent / sequential"] == ("0.110x", True)
    assert goals["no-op: worker CPU per task / the previous results.json"][1] is True


class _SlowSendSqs:
    """SendMessageBatch as the loaded emulator answers it (20 ms); counts the messages sent."""

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, list[object]]:
        time.sleep(0.02)
        with self._lock:
            self.sent += len(Entries)
        return {"Successful": [], "Failed": []}


def test_the_feeder_holds_the_backlog_while_a_design_drains_faster_than_one_sender():
    """A design draining 1,000 tasks/s while each send takes 20 ms: one sender at a time (500 tasks/s) let
    the stated backlog of 200 run dry, and the ceiling measured the feeder, not the emulator."""
    sqs = _SlowSendSqs()
    deployment = SimpleNamespace(client=lambda *args, **kwargs: sqs, queues=SimpleNamespace(url="queue"))
    bench = drain.DrainBench(stack=None, window=drain.Window(backlog=200))  # type: ignore[arg-type]
    done = 0
    waiting: list[int] = []
    with bench.fed(deployment, lambda: done):  # type: ignore[arg-type]
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            if sqs.sent - done >= 10:
                done += 10  # a batch of 10 taken and done every 10 ms, while the queue holds one
            time.sleep(0.01)
            if time.monotonic() - started > 0.5:
                waiting.append(sqs.sent - done)
    assert min(waiting) >= 100, f"the queue held {min(waiting)} to {max(waiting)} messages, not the backlog of 200"


class _FakeClient:
    """An SQS or Lambda client of a fake deployment: its calls can be counted, its sends are."""

    def __init__(self) -> None:
        self.meta = SimpleNamespace(events=SimpleNamespace(register=lambda *args, **kwargs: None))
        self.sent = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, list[object]]:
        self.sent += len(Entries)
        return {"Successful": [], "Failed": []}


def test_a_baseline_measurement_counts_the_deletes_of_its_own_window(tmp_path, monkeypatch):
    """The baseline's worker counts its deletes in one file for the whole benchmark: a second measurement
    took the first one's deletes for its own, handed out messages without bound and fed the queue by as
    many (seen: 12 tasks/s from the second repeat on, the emulator busy with a queue of a thousand)."""
    calls_file = tmp_path / "baseline.calls"
    calls_file.write_text("sqs.DeleteMessage\n" * 500)  # the measurements before this one
    sqs = _FakeClient()
    deployment = SimpleNamespace(client=lambda *args, **kwargs: sqs, queues=SimpleNamespace(url="queue"))
    bench = drain.DrainBench(stack=None, window=drain.Window(warmup_seconds=0, seconds=0.3, backlog=200))  # type: ignore[arg-type]
    bench.calls_files[drain.BASELINE_WORKER] = calls_file
    monkeypatch.setattr(bench, "deployment", lambda *args, **kwargs: deployment)
    monkeypatch.setattr(bench, "reports", lambda functions: (0.0, 0))
    handed_out = []

    def tick(*args: object) -> int:
        handed_out.append(10)  # none of them deleted yet
        time.sleep(0.001)
        return 10

    monkeypatch.setattr(drain.baseline, "tick", tick)
    bench.baseline()
    assert sum(handed_out) <= drain.MAX_HANDED_OUT + 10
    assert sqs.sent <= 200  # the backlog, none done
