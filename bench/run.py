"""``make bench``: the task queue's designs side by side on the local stack, and what a task costs.

In one run, each a median over repeats:

- drain rate, requests per task and US$ per million tasks of the scheduled consumer (this project's design, at several
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
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from bench import consumer_scaling, io_bound, io_report, runtime_cost
from bench.baseline import scheduler as baseline
from bench.drain import (
    BASELINE_WORKER,
    WORKER,
    WORKER_TIMEOUT,
    DrainBench,
    Measurement,
    Trickle,
    Window,
    trickle_latency,
)
from bench.figures import Drained, IdleRun, figures
from bench.report import chart, tables
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.call_counter import CallCounter
from taskqueue_local.infrastructure.lambda_context import LambdaContext
from taskqueue_local.infrastructure.shutdown import exit_on_signals

BENCH_DIR = Path(__file__).resolve().parent
# The task packages of the benchmark's one zip: the no-op task, the baseline's worker, the bare handler.
BENCH_TASKS = ("noop_tasks", "baseline", "bare_handler")
# Issue 23's figures (the consumer at its defaults, the I/O-bound workload), beside results.json's.
CONCURRENCY_RESULTS = "results-concurrency.json"
CEILING_CLIENTS = (1, 4, 8)
# (max_concurrency, receivers); (4, 1) is the module's default. A run scales its loops up to its concurrency:
# 8/1 shows that, 8/8 the same slots with every loop kept from the start.
CONSUMER_SETTINGS = ((1, 1), (4, 1), (8, 1), (8, 8))
ESM_CONCURRENCIES = (4, 8)
IDLE_CONSUMER_BUDGET = 60.0  # the module's default consumer timeout


def _warm(deployment: Deployment, concurrency: int) -> None:
    """Start ``concurrency`` execution environments of the deployment's worker before anything is timed."""
    client = deployment.client("lambda", retries={"total_max_attempts": 1}, max_pool_connections=concurrency)
    invoke = functools.partial(client.invoke, FunctionName=deployment.worker_function, Payload=b'{"Records": []}')
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: invoke(), range(concurrency)))


def idle_consumer_run(bench: DrainBench) -> IdleRun:
    """A drain-mode run (the default) on an empty queue: seconds, SQS calls and log bytes of one run."""
    deployment = bench.deployment()
    config = ConsumerConfig(
        queue_url=deployment.queues.url,
        worker_function=WORKER,
        wait_time_seconds=1,
        worker_timeout_seconds=WORKER_TIMEOUT,
    )
    consumer = instrumented_consumer(deployment, config)
    _ = consumer.consumer.queue_arn  # a cold start's one-off look-up, not what each run costs
    calls_before = consumer.calls.total("sqs.")
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        consumer.consumer.run(LambdaContext(IDLE_CONSUMER_BUDGET))
    return IdleRun(
        seconds=time.perf_counter() - started,
        sqs_calls=consumer.calls.total("sqs.") - calls_before,
        log_bytes=len(output.getvalue().encode()),
    )


def idle_baseline_tick(bench: DrainBench) -> IdleRun:
    deployment = bench.deployment(BASELINE_WORKER)
    sqs, lambda_client = deployment.client("sqs", direct=True), deployment.client("lambda")
    counter = CallCounter(sqs)
    started = time.perf_counter()
    baseline.tick(sqs, lambda_client, deployment.queues.url, BASELINE_WORKER)
    return IdleRun(seconds=time.perf_counter() - started, sqs_calls=counter.total(), log_bytes=0)


@dataclass(frozen=True)
class ConcurrencyRuns:
    """Issue 23's runs: the consumer at its defaults on a slow trickle, and the I/O-bound workload."""

    slow_trickle: consumer_scaling.TrickleCost
    io: list[io_bound.IoMeasurement]


def drain(
    work_dir: Path,
    zip_path: Path,
    window: Window,
    trickle: Trickle,
    slow_trickle: consumer_scaling.SlowTrickle,
    repeats: int,
) -> tuple[Drained, ConcurrencyRuns]:
    with DirectStack(work_dir, [zip_path.parent], separate_data_plane=True) as stack:
        bench = DrainBench(stack, window)
        dlq_url = stack.create_queues("bench-functions", max_receive_count=5).dlq_url
        for function, handler in ((WORKER, "taskqueue.worker.handler"), (BASELINE_WORKER, "baseline.worker.handler")):
            bench.calls_files[function] = work_dir / f"{function}.calls"
            settings = WorkerConfig(dlq_url=dlq_url, task_modules=("noop_tasks",))
            environment = {**settings.to_env(), "BENCH_CALLS_FILE": str(bench.calls_files[function])}
            stack.deploy_function(function, zip_path, handler, environment, WORKER_TIMEOUT)
        _warm(bench.deployment(), max(c for c, _ in CONSUMER_SETTINGS))
        _warm(bench.deployment(BASELINE_WORKER), 10)

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
        drained = Drained(measured, latency, idle_consumer_run(bench), idle_baseline_tick(bench))
        print("== the consumer at its defaults on a trickle of 1 task/s", flush=True)
        slow_cost = consumer_scaling.trickle_cost(bench, slow_trickle)
        print("== I/O-bound tasks, sequential and concurrent", flush=True)
        if io_bound.io_tasks_present() and io_bound.concurrent_worker():
            io_bound.deploy(stack, zip_path, dlq_url)
        io = io_bound.measure_all(bench, _warm)
        return drained, ConcurrencyRuns(slow_cost, io)


def _previous_cpu(out: Path) -> float | None:
    """The worker's CPU per no-op task in the results this run replaces, if any (the no-op must not slow)."""
    try:
        previous = json.loads((out / "results.json").read_text())
        return float(previous["runtime"]["cpu_us_per_task"][runtime_cost.WORKER.name])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--window", type=float, default=Window.seconds, help="seconds each drain measurement counts")
    parser.add_argument("--warmup", type=float, default=Window.warmup_seconds, help="seconds before each window")
    parser.add_argument("--backlog", type=int, default=Window.backlog, help="visible messages the feeder keeps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runtime-repeats", type=int, default=7, help="paired runs of the worker-inside figures")
    parser.add_argument("--trickle-seconds", type=float, default=Trickle.seconds)
    parser.add_argument("--slow-trickle-warmup", type=float, default=consumer_scaling.SlowTrickle.warmup_seconds)
    parser.add_argument("--slow-trickle-seconds", type=float, default=consumer_scaling.SlowTrickle.seconds)
    parser.add_argument("--out", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    window = Window(args.warmup, args.window, args.backlog)
    trickle = Trickle(seconds=args.trickle_seconds)
    slow_trickle = consumer_scaling.SlowTrickle(
        warmup_seconds=args.slow_trickle_warmup, seconds=args.slow_trickle_seconds
    )
    started = time.monotonic()
    # A SIGTERM (`timeout`) or Ctrl-C stops the emulator and the Lambda endpoint this run started.
    with exit_on_signals(), tempfile.TemporaryDirectory(prefix="taskqueue-bench-") as work:
        packages = [BENCH_DIR / name for name in BENCH_TASKS] + io_bound.task_packages()
        zip_path = build("worker", Path(work) / "dist", packages) / "worker.zip"
        print("== inside the worker: log bytes, CPU, cold start", flush=True)
        runtime = runtime_cost.measure(zip_path, args.runtime_repeats)
        print("== drain rate, each design over fixed windows", flush=True)
        drained, concurrency = drain(Path(work), zip_path, window, trickle, slow_trickle, args.repeats)
    result = replace(figures(drained, runtime, window, trickle, args.repeats), seconds=time.monotonic() - started)
    consumer_defaults = consumer_scaling.results(
        result.measurements, result.ceiling, slow_trickle, concurrency.slow_trickle
    )
    io_rows = io_report.results(concurrency.io)
    io_goals = io_report.goals(io_rows, runtime.cpu_us_per_task[runtime_cost.WORKER.name], _previous_cpu(args.out))
    print(tables(result))
    print()
    print(consumer_scaling.tables(consumer_defaults))
    print()
    print(io_report.tables(io_rows, io_goals))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    concurrency_figures = {
        "consumer_defaults": consumer_defaults,
        "io_bound": io_rows,
        "io_bound_goals": [
            {"goal": goal, "target": target, "measured": measured, "met": met}
            for goal, target, measured, met in io_goals
        ],
    }
    (args.out / CONCURRENCY_RESULTS).write_text(json.dumps(concurrency_figures, indent=2) + "\n")
    chart(result, args.out / "results.png")
    print(
        f"wrote {args.out / 'results.json'}, {args.out / CONCURRENCY_RESULTS} and {args.out / 'results.png'} "
        f"in {result.seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
