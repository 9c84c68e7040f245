"""``make bench``: the task queue's designs side by side on the local stack, and what a task costs.

In one run, each a median over repeats:

- drain rate, requests per task and US$ per million tasks of the scheduled consumer (ours, at several
  concurrencies and receive loops), the worker behind the local event source mapping (what most teams
  pick instead) and the 2017 baseline, each as a fraction of the emulator's own ceiling (receive and
  delete with as many parallel clients as gives the most); latency p50/p95 under a trickle;
- inside the worker, against a bare handler: log bytes and CPU per successful task, cold start;
- the whole bill per million tasks and per month at idle (``bench.cost_model``).

Output: tables, ``bench/results.json``, ``bench/results.png``; ``docs/performance.md`` explains them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import cost_model, metric_series, runtime_cost
from bench.baseline import scheduler as baseline
from bench.drain import (
    BASELINE_WORKER,
    CONSUMER_MEMORY_GB,
    WORKER,
    WORKER_TIMEOUT,
    CallCounter,
    DrainBench,
    Measurement,
    Trickle,
    Window,
    trickle_latency,
)
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.consumer import Consumer
from taskqueue_local.harness import Harness
from taskqueue_local.shutdown import exit_on_signals

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
CEILING_CLIENTS = (1, 2, 4, 8)
CONSUMER_SETTINGS = ((1, 1), (4, 1), (4, 2), (8, 4))  # (max_concurrency, receivers)
ESM_CONCURRENCIES = (4, 8)
IDLE_CONSUMER_BUDGET = 60.0  # the module's default consumer timeout
TASK_NAMES = 1  # the no-op task: metric series per task name are counted for this many


def _build(out: Path) -> Path:
    command = [sys.executable, str(ROOT / "build.py"), "worker", "--out", str(out)]
    for tasks in ("noop_tasks", "baseline", "bare_handler"):
        command += ["--tasks", str(BENCH_DIR / tasks)]
    subprocess.run(command, check=True, capture_output=True)
    return out / "worker.zip"


def _warm(harness: Harness, function: str, concurrency: int) -> None:
    """Start ``concurrency`` execution environments before anything is timed."""
    client = harness.client("lambda", retries={"total_max_attempts": 1}, max_pool_connections=concurrency)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: client.invoke(FunctionName=function, Payload=b'{"Records": []}'), range(concurrency)))


class _Budget:
    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def idle_consumer_run(bench: DrainBench) -> dict[str, float]:
    """A drain-mode run (the default) on an empty queue: seconds, SQS calls and log bytes of one run."""
    queues = bench.queues()
    sqs = bench.harness.client("sqs", direct=True)
    config = ConsumerConfig(
        queue_url=queues.url, worker_function=WORKER, wait_time_seconds=1, worker_timeout_seconds=WORKER_TIMEOUT
    )
    consumer = Consumer(config, sqs, bench.harness.client("lambda"))
    _ = consumer.queue_arn  # a cold start's one-off look-up, not what each run costs
    counter = CallCounter(sqs)
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        consumer.run(_Budget(IDLE_CONSUMER_BUDGET))
    return {
        "seconds": time.perf_counter() - started,
        "sqs_calls": sum(counter.counts.values()),
        "log_bytes": len(output.getvalue().encode()),
    }


def idle_baseline_tick(bench: DrainBench) -> dict[str, float]:
    queues = bench.queues()
    sqs, lambda_client = bench.harness.client("sqs", direct=True), bench.harness.client("lambda")
    counter = CallCounter(sqs)
    started = time.perf_counter()
    baseline.tick(sqs, lambda_client, queues.url, BASELINE_WORKER)
    return {"seconds": time.perf_counter() - started, "sqs_calls": sum(counter.counts.values()), "log_bytes": 0}


def drain(work_dir: Path, zip_path: Path, window: Window, trickle: Trickle, repeats: int) -> dict[str, Any]:
    with Harness(work_dir, [zip_path.parent], separate_endpoint=True) as harness:
        bench = DrainBench(harness, window)
        for function, handler in ((WORKER, "taskqueue.worker.handler"), (BASELINE_WORKER, "baseline.worker.handler")):
            bench.calls_files[function] = work_dir / f"{function}.calls"
            settings = WorkerConfig(dlq_url=bench.queues().dlq_url, task_modules=("noop_tasks",))
            environment = {**settings.to_env(), "BENCH_CALLS_FILE": str(bench.calls_files[function])}
            harness.deploy_function(function, zip_path, handler, environment, WORKER_TIMEOUT)
        _warm(harness, WORKER, max(c for c, _ in CONSUMER_SETTINGS))
        _warm(harness, BASELINE_WORKER, 10)

        runs: list[tuple[str, Callable[[], Measurement]]] = []
        runs += [(f"ceiling {c}", functools.partial(bench.ceiling, c)) for c in CEILING_CLIENTS]
        runs += [(f"consumer {c}/{r}", functools.partial(bench.consumer, c, r)) for c, r in CONSUMER_SETTINGS]
        runs += [(f"esm {c}", functools.partial(bench.event_source_mapping, c)) for c in ESM_CONCURRENCIES]
        runs += [("baseline", bench.baseline)]
        measured: dict[str, list[Measurement]] = {}
        for repeat in range(repeats):
            # Interleaved, so a slow spell of this shared machine hits every design alike.
            for name, measure in runs:
                result = measure()
                measured.setdefault(name, []).append(result)
                print(
                    f"  [{repeat + 1}/{repeats}] {result.design:<22} {result.setting:<28} {result.rate:7.1f} tasks/s "
                    f"{result.requests_per_task:.3f} requests/task",
                    flush=True,
                )
        latency = {
            design: trickle_latency(bench, design, trickle) for design in ("scheduled consumer", "event source mapping")
        }
        idle = {"consumer": idle_consumer_run(bench), "baseline": idle_baseline_tick(bench)}
    return {"measured": measured, "latency": latency, "idle": idle}


def _median(results: list[Measurement]) -> Measurement:
    return sorted(results, key=lambda m: m.rate)[len(results) // 2]


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def results(
    drained: dict[str, Any], runtime: runtime_cost.RuntimeFigures, window: Window, trickle: Trickle, repeats: int
) -> dict[str, Any]:
    medians = {name: _median(results) for name, results in drained["measured"].items()}
    ceiling = max((m for m in medians.values() if m.design == "emulator ceiling"), key=lambda m: m.rate)
    rows = []
    for name, chosen in medians.items():
        rows.append(
            {
                **{k: v for k, v in asdict(chosen).items() if k != "calls"},
                "name": name,
                "calls_per_task": {op: n / max(1, chosen.tasks) for op, n in sorted(chosen.calls.items())},
                "rates": [round(m.rate, 1) for m in drained["measured"][name]],
                "tasks_per_second": chosen.rate,
                "fraction_of_ceiling": chosen.rate / ceiling.rate,
                "requests_per_task": chosen.requests_per_task,
            }
        )
    best = {
        design: max((m for m in medians.values() if m.design == design), key=lambda m: m.rate)
        for design in ("scheduled consumer", "event source mapping", "baseline")
    }
    function_log_bytes = runtime.log_bytes_per_task["ours"]
    usage = {
        design: cost_model.TaskUsage(
            sqs_requests=m.per_task("sqs."),
            lambda_requests=m.per_task("lambda."),
            gb_seconds=m.gb_seconds_per_task,
            function_log_bytes=0.0 if design == "baseline" else function_log_bytes,
            invocations=m.invocations / max(1, m.tasks),
        )
        for design, m in best.items()
    }
    idle_consumer, idle_baseline = drained["idle"]["consumer"], drained["idle"]["baseline"]
    months = cost_model.MONTH_MINUTES
    worker_series = len(metric_series.worker_series(TASK_NAMES))
    consumer_series = len(metric_series.consumer_series())
    idle_usage = {
        "scheduled consumer": cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * idle_consumer["seconds"] * CONSUMER_MEMORY_GB,
            sqs_requests=months * idle_consumer["sqs_calls"],
            function_log_bytes=months * idle_consumer["log_bytes"],
            metric_series=consumer_series,
        ),
        "event source mapping": cost_model.IdleUsage(sqs_requests=months * cost_model.ESM_IDLE_RECEIVES_PER_MINUTE),
        "baseline": cost_model.IdleUsage(
            runs=months,
            gb_seconds=months * idle_baseline["seconds"] * CONSUMER_MEMORY_GB,
            sqs_requests=months * idle_baseline["sqs_calls"],
        ),
    }
    busy_series = {
        "scheduled consumer": worker_series + consumer_series,
        "event source mapping": worker_series,
        "baseline": 0,
    }
    # As designed, the baseline runs one tick a minute: at most 10 tasks a minute, whatever SQS allows.
    latency: dict[str, dict[str, Any]] = {
        design: {"p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95), "tasks": len(values)}
        for design, values in drained["latency"].items()
    }
    latency["baseline"] = {"p50_ms": 30_000.0, "p95_ms": 57_000.0, "tasks": 0, "modelled": "one tick a minute"}
    designs = {
        design: {
            "best": _name(medians, best[design]),
            "tasks_per_second": 10 / 60 if design == "baseline" else best[design].rate,
            "tasks_per_second_measured": best[design].rate,
            "fraction_of_ceiling": (10 / 60 if design == "baseline" else best[design].rate) / ceiling.rate,
            "requests_per_task": best[design].requests_per_task,
            "usage_per_task": asdict(usage[design]),
            "usd_per_million_tasks": cost_model.per_million_tasks(usage[design]),
            "usd_per_month_idle": cost_model.per_month_idle(idle_usage[design]),
            "metric_series_while_busy": busy_series[design],
            "usd_per_month_metrics_while_busy": cost_model.metrics_per_month(busy_series[design]),
            "latency": latency[design],
        }
        for design in best
    }
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count() or 0},
        "method": {
            "window": asdict(window),
            "trickle": asdict(trickle),
            "repeats": repeats,
            "median_of_repeats": True,
            "feed": f"a fresh queue per measurement, kept at {window.backlog} visible messages by a feeder thread "
            "(SendMessageBatch of 10, not counted)",
            "counting": "boto3 event hooks: provide-client-params on this process's clients, before-call inside "
            "the function processes",
            "worker": "no-op task, taskqueue.worker from the built zip, run by the local Lambda endpoint in its own process",
        },
        "ceiling": {"tasks_per_second": ceiling.rate, "setting": ceiling.setting},
        "measurements": rows,
        "designs": designs,
        "runtime": runtime.as_dict(),
        "idle_runs": drained["idle"],
        "metric_series": {
            "worker_per_task_names": f"5 + 3 x task names ({worker_series} for {TASK_NAMES})",
            "consumer": consumer_series,
        },
        "prices": cost_model.prices_as_dict(),
    }


def _name(medians: dict[str, Measurement], chosen: Measurement) -> str:
    return next(name for name, m in medians.items() if m is chosen)


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    runtime = result["runtime"]
    ours = result["designs"]["scheduled consumer"]
    logs = runtime["log_bytes_per_task"]["ours"]
    return [
        ("drain rate, ours at its best / emulator ceiling", ">= 0.8", f"{ours['fraction_of_ceiling']:.2f}", ours["fraction_of_ceiling"] >= 0.8),
        ("requests per task, ours", "<= 0.30", f"{ours['requests_per_task']:.3f}", ours["requests_per_task"] <= 0.30),
        ("log bytes per successful task (the worker's own)", "<= 60", f"{logs:.1f}", logs <= 60),
        ("worker CPU per no-op task / bare handler", "<= 10x", f"{runtime['cpu_ratio']:.1f}x", runtime["cpu_ratio"] <= 10),
        ("cold start / import boto3 + client", "<= 1.10x", f"{runtime['cold_start_ratio']:.2f}x", runtime["cold_start_ratio"] <= 1.10),
    ]  # fmt: skip


def tables(result: dict[str, Any]) -> str:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(record=True, width=140, file=io.StringIO())
    ceiling = result["ceiling"]
    drain = Table(title=f"Drain rate (window {result['method']['window']['seconds']:g} s, backlog "
                        f"{result['method']['window']['backlog']}; ceiling {ceiling['tasks_per_second']:.1f} tasks/s "
                        f"at {ceiling['setting']})")  # fmt: skip
    for column in ("design", "setting", "tasks/s", "x ceiling", "req/task", "calls per task"):
        drain.add_column(column, justify="left" if column in ("design", "setting", "calls per task") else "right")
    for row in result["measurements"]:
        calls = ", ".join(f"{op.split('.')[1]} {n:.2f}" for op, n in row["calls_per_task"].items())
        drain.add_row(row["design"], row["setting"], f"{row['tasks_per_second']:.1f}", f"{row['fraction_of_ceiling']:.2f}",
                      f"{row['requests_per_task']:.3f}", calls)  # fmt: skip
    console.print(drain)

    designs = Table(title="Each design at its best: rate, latency and the bill")
    for column in ("", *result["designs"]):
        designs.add_column(column, justify="left" if not column else "right")
    d = result["designs"]

    def add(label: str, value: Callable[[dict[str, Any]], str]) -> None:
        designs.add_row(label, *(value(d[name]) for name in d))

    add("best setting", lambda x: x["best"])
    add("tasks/s (baseline: as scheduled)", lambda x: f"{x['tasks_per_second']:.3g}")
    add("x emulator ceiling", lambda x: f"{x['fraction_of_ceiling']:.3f}")
    add("requests per task", lambda x: f"{x['requests_per_task']:.3f}")
    add("latency p50 / p95 (ms)", lambda x: f"{x['latency']['p50_ms']:.0f} / {x['latency']['p95_ms']:.0f}")
    for line in ("sqs_requests", "lambda_requests", "lambda_duration", "logs"):
        add(f"US$/M tasks: {line.replace('_', ' ')}", functools.partial(_usd_per_million, line))
    add("US$/M tasks: total", lambda x: f"{x['usd_per_million_tasks']['total']:.3f}")
    add(
        "  with logs in infrequent access",
        lambda x: f"{x['usd_per_million_tasks']['total_logs_infrequent_access']:.3f}",
    )
    add(
        "log bytes per task (with Lambda's lines)",
        lambda x: (
            f"{x['usage_per_task']['function_log_bytes'] + x['usage_per_task']['invocations'] * result['prices']['platform_log_bytes_per_invocation']:.0f}"
        ),
    )
    add(
        "metric series while busy / US$ a month",
        lambda x: f"{x['metric_series_while_busy']} / {x['usd_per_month_metrics_while_busy']:.2f}",
    )
    add("US$ per month at idle", lambda x: f"{x['usd_per_month_idle']['total']:.2f}")
    add("  of which custom metrics", lambda x: f"{x['usd_per_month_idle']['custom_metrics']:.2f}")
    console.print(designs)

    runtime = result["runtime"]
    inside = Table(title=f"Inside the worker (medians of {runtime['repeats']} runs each)")
    for column in ("", "ours", "bare handler", "ratio", "baseline"):
        inside.add_column(column, justify="left" if not column else "right")
    inside.add_row("log bytes per successful task", f"{runtime['log_bytes_per_task']['ours']:.1f}",
                   f"{runtime['log_bytes_per_task']['bare handler']:.1f}", "", "0 (+ Lambda's lines per task)")  # fmt: skip
    inside.add_row("CPU µs per no-op task", f"{runtime['cpu_us_per_task']['ours']:.1f}",
                   f"{runtime['cpu_us_per_task']['bare handler']:.1f}", f"{runtime['cpu_ratio']:.1f}x", "")  # fmt: skip
    cold = runtime["cold_start_seconds"]
    inside.add_row("cold start, import + build (ms)", f"{cold['ours'] * 1000:.0f}", f"{cold['bare handler'] * 1000:.0f}",
                   f"{runtime['cold_start_ratio']:.2f}x vs import boto3 + client "
                   f"({cold[runtime_cost.REFERENCE.name] * 1000:.0f} ms)", f"{cold['baseline'] * 1000:.0f}")  # fmt: skip
    console.print(inside)

    goal_table = Table(title="Goals")
    for column in ("goal", "target", "measured", "met"):
        goal_table.add_column(column)
    for goal, target, measured, met in goals(result):
        goal_table.add_row(goal, target, measured, "yes" if met else "NO")
    console.print(goal_table)
    prices = result["prices"]
    console.print(
        f"prices ({prices['region']}, read {prices['as_of']}): SQS US$ {prices['sqs_per_million_requests']}/M requests; "
        f"Lambda US$ {prices['lambda_per_million_requests']}/M requests + US$ {prices['lambda_arm64_per_gb_second']}/GB-s "
        f"(arm64); CloudWatch Logs US$ {prices['logs_standard_per_gb']}/GB (standard), "
        f"{prices['logs_infrequent_access_per_gb']}/GB (infrequent access); custom metrics US$ "
        f"{prices['custom_metric_per_month']}/metric-month; EventBridge scheduled rules free; EventBridge Scheduler "
        f"US$ {prices['scheduler_per_million_invocations']}/M invocations (tasks due beyond 900 s, any design). "
        f"Lambda's own lines: {prices['platform_log_bytes_per_invocation']} bytes per invocation (JSON format, system "
        "level INFO: the module's default)."
    )
    return console.export_text()


def _usd_per_million(line: str, design: dict[str, Any]) -> str:
    return f"{design['usd_per_million_tasks'][line]:.3f}"


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = result["measurements"]
    names = [f"{r['design']}\n{r['setting']}" for r in rows]
    colours = {
        "emulator ceiling": "#888888",
        "scheduled consumer": "#4c72b0",
        "event source mapping": "#55a868",
        "baseline": "#c44e52",
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    left.barh(names, [r["fraction_of_ceiling"] for r in rows], color=[colours[r["design"]] for r in rows])
    left.axvline(0.8, color="black", linestyle=":", linewidth=1)
    left.set_title("Drain rate, x the emulator's ceiling (higher is better)")
    left.invert_yaxis()
    right.barh(names, [r["requests_per_task"] for r in rows], color=[colours[r["design"]] for r in rows])
    right.set_title("API requests per task (lower is better)")
    right.invert_yaxis()
    right.set_yticklabels([])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--window", type=float, default=Window.seconds, help="seconds each drain measurement counts")
    parser.add_argument("--warmup", type=float, default=Window.warmup_seconds, help="seconds before each window")
    parser.add_argument("--backlog", type=int, default=Window.backlog, help="visible messages the feeder keeps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runtime-repeats", type=int, default=7, help="paired runs of the worker-inside figures")
    parser.add_argument("--trickle-seconds", type=float, default=Trickle.seconds)
    parser.add_argument("--out", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    window = Window(args.warmup, args.window, args.backlog)
    trickle = Trickle(seconds=args.trickle_seconds)
    started = time.monotonic()
    # A SIGTERM (`timeout`) or Ctrl-C stops the emulator and the Lambda endpoint this run started.
    with exit_on_signals(), tempfile.TemporaryDirectory(prefix="taskqueue-bench-") as work:
        zip_path = _build(Path(work) / "dist")
        print("== inside the worker: log bytes, CPU, cold start", flush=True)
        runtime = runtime_cost.measure(zip_path, args.runtime_repeats)
        print("== drain rate, each design over fixed windows", flush=True)
        drained = drain(Path(work), zip_path, window, trickle, args.repeats)
    result = results(drained, runtime, window, trickle, args.repeats)
    result["seconds"] = time.monotonic() - started
    print(tables(result))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(result, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.png'} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
