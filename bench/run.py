"""``make bench``: our consumer against the original single-receive design and the raw SQS bound.

Everything runs on the local stack in one run, side by side: moto's server for SQS, the local Lambda
endpoint (its own process) running a no-op worker from the built zip, and the consumers in this
process. API calls are counted with boto3's event hooks: in this process on the consumers' clients,
and inside the function processes by the benchmark's task module (``bench/noop_tasks``). Durations
come from the REPORT lines the local Lambda endpoint writes, as Lambda does.

Output: a table, ``bench/results.json``, ``bench/results.png``; ``docs/performance.md`` explains them.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.baseline import scheduler as baseline
from taskqueue.config import BackoffConfig, ConsumerConfig
from taskqueue.consumer import Consumer
from taskqueue.limits import invoke_read_timeout
from taskqueue_local.harness import Harness, Queues
from taskqueue_local.shutdown import exit_on_signals

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"

# US$ list prices, us-east-1, first pricing tier, as published on aws.amazon.com/sqs/pricing and
# aws.amazon.com/lambda/pricing (read 2026-11-24; unchanged since arm64 Lambda pricing of 2021).
PRICES_AS_OF = {"as_of": "2026-11-24", "region": "us-east-1"}
PRICES: dict[str, float] = {
    "sqs_standard_per_million_requests": 0.40,
    "lambda_per_million_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
}
# The module's default memory sizes (terraform/variables.tf).
CONSUMER_MEMORY_GB = 256 / 1024
WORKER_MEMORY_GB = 512 / 1024
TICKS_PER_MONTH = 30 * 24 * 60  # rate(1 minute)
WORKER_TIMEOUT = 10
FEED = "pre-filled to {backlog} visible messages, then topped up by a feeder thread (SendMessageBatch of 10) whenever fewer than {backlog} were visible"


class CallCounter:
    """API calls made through the given clients, by service.operation (one per call, not per retry)."""

    def __init__(self, *clients: Any) -> None:
        self.counts: Counter[str] = Counter()
        self.deleted = 0
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register("provide-client-params", self._count)

    def _count(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.removeprefix("provide-client-params.")
        with self._lock:
            self.counts[operation] += 1
            if operation == "sqs.DeleteMessageBatch":
                self.deleted += len(params["Entries"])


@dataclass
class Measurement:
    design: str
    concurrency: int | None
    tasks: int
    seconds: float
    calls: dict[str, int]
    lambda_billed_ms: float = 0.0
    consumer_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds

    @property
    def requests_per_task(self) -> float:
        return sum(self.calls.values()) / self.tasks

    def cost_per_million(self) -> dict[str, float]:
        sqs = sum(n for op, n in self.calls.items() if op.startswith("sqs.")) / self.tasks
        invokes = sum(n for op, n in self.calls.items() if op.startswith("lambda.")) / self.tasks
        compute = (
            self.lambda_billed_ms / 1000 * WORKER_MEMORY_GB + self.consumer_seconds * CONSUMER_MEMORY_GB
        ) / self.tasks
        parts = {
            "sqs_requests": sqs * PRICES["sqs_standard_per_million_requests"],
            "lambda_requests": invokes * PRICES["lambda_per_million_requests"],
            "lambda_compute": compute * 1e6 * PRICES["lambda_arm64_per_gb_second"],
        }
        parts["total"] = sum(parts.values())
        return parts


@dataclass
class Bench:
    harness: Harness
    work_dir: Path
    tasks: int
    backlog: int
    calls_files: dict[str, Path] = field(default_factory=dict)
    baseline_ticks: int = 0
    _queues: int = 0

    def queues(self) -> Queues:
        self._queues += 1
        return self.harness.create_queues(f"bench-{self._queues}", max_receive_count=5, visibility_timeout=60)

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, queues: Queues, total: int, stop: threading.Event) -> threading.Thread:
        sqs = self.harness.client("sqs", direct=True)
        body = json.dumps({"task": "noop", "payload": None})

        def run() -> None:
            sent = 0
            while sent < total and not stop.is_set():
                visible = int(
                    sqs.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["ApproximateNumberOfMessages"])[
                        "Attributes"
                    ]["ApproximateNumberOfMessages"]
                )
                if visible >= self.backlog:
                    time.sleep(0.02)  # each look costs the emulator a scan of the queue
                    continue
                for _ in range(min((self.backlog - visible + 9) // 10, (total - sent + 9) // 10)):
                    count = min(10, total - sent)
                    entries = [{"Id": str(i), "MessageBody": body} for i in range(count)]
                    sqs.send_message_batch(QueueUrl=queues.url, Entries=entries)
                    sent += count

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def prefill(self, queues: Queues, stop: threading.Event) -> threading.Thread:
        feeder = self.feed(queues, self.tasks, stop)
        sqs = self.harness.client("sqs", direct=True)
        while _visible(sqs, queues.url) < min(self.backlog, self.tasks):
            time.sleep(0.01)
        return feeder

    def worker_calls(self, function: str) -> Counter[str]:
        path = self.calls_files[function]
        return Counter(path.read_text().split()) if path.exists() else Counter()

    def billed_ms(self, function: str) -> float:
        log = self.work_dir / "logs" / f"{function}.log"
        if not log.exists():
            return 0.0
        return sum(float(m) for m in re.findall(r"Billed Duration: (\d+) ms", log.read_text(errors="replace")))

    def reset_function_counters(self, function: str) -> None:
        self.calls_files[function].write_text("")
        log = self.work_dir / "logs" / f"{function}.log"
        if log.exists():
            log.write_text("")

    # -- the designs ----------------------------------------------------------------------------

    def raw_bound(self) -> Measurement:
        """A bare loop: receive 10, delete them in one batch. No invoke, no work."""
        queues = self.queues()
        stop = threading.Event()
        feeder = self.prefill(queues, stop)
        sqs = self.harness.client("sqs", direct=True)
        counter = CallCounter(sqs)
        done = 0
        started = time.perf_counter()
        while done < self.tasks:
            messages = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=queues.url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
                done += len(messages)
        seconds = time.perf_counter() - started
        stop.set()
        feeder.join()
        return Measurement("raw bound", None, done, seconds, dict(counter.counts))

    def ours(self, concurrency: int) -> Measurement:
        queues = self.queues()
        stop = threading.Event()
        self.reset_function_counters("noop-worker")
        feeder = self.prefill(queues, stop)
        consumer, counter = self._consumer(queues, concurrency, mode="continuous", wait=1)
        context = StoppableContext()

        def watch() -> None:
            while counter.deleted < self.tasks:
                time.sleep(0.002)
            context.stop()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        started = time.perf_counter()
        consumer.run(context)
        seconds = context.stopped_at - started
        run_seconds = time.perf_counter() - started
        stop.set()
        feeder.join()
        calls = Counter(counter.counts) + self.worker_calls("noop-worker")
        return Measurement(
            "ours",
            concurrency,
            counter.deleted,
            seconds,
            dict(calls),
            lambda_billed_ms=self.billed_ms("noop-worker"),
            consumer_seconds=run_seconds,
        )

    def baseline(self, tasks: int) -> Measurement:
        """Scheduled ticks run back to back (no minute between them); the output also states the rate as scheduled."""
        queues = self.queues()
        stop = threading.Event()
        self.reset_function_counters("baseline-worker")
        feeder = self.feed(queues, tasks, stop)
        sqs = self.harness.client("sqs", direct=True)
        lambda_client = self.harness.client("lambda", retries={"total_max_attempts": 1})
        counter = CallCounter(sqs, lambda_client)
        handed_out = ticks = 0
        started = time.perf_counter()
        while handed_out < tasks:
            handed_out += baseline.tick(sqs, lambda_client, queues.url, "baseline-worker")
            ticks += 1
        while self.worker_calls("baseline-worker")["sqs.DeleteMessage"] < tasks:
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        stop.set()
        feeder.join()
        calls = Counter(counter.counts) + self.worker_calls("baseline-worker")
        measurement = Measurement(
            "baseline", None, tasks, seconds, dict(calls), lambda_billed_ms=self.billed_ms("baseline-worker")
        )
        measurement.consumer_seconds = 0.0  # one short tick per minute; counted in idle cost, not per task
        self.baseline_ticks = ticks
        return measurement

    def _consumer(self, queues: Queues, concurrency: int, mode: str, wait: int) -> tuple[Consumer, CallCounter]:
        pool = concurrency + 4
        sqs = self.harness.client("sqs", direct=True, max_pool_connections=pool)
        lambda_client = self.harness.client(
            "lambda",
            retries={"total_max_attempts": 1},
            read_timeout=invoke_read_timeout(WORKER_TIMEOUT),
            max_pool_connections=pool,
        )
        config = ConsumerConfig(
            queue_url=queues.url,
            worker_function="noop-worker",
            max_concurrency=concurrency,
            wait_time_seconds=wait,
            mode=mode,
            worker_timeout_seconds=WORKER_TIMEOUT,
            time_margin_seconds=2,
            backoff=BackoffConfig(),
        )
        return Consumer(config, sqs, lambda_client), CallCounter(sqs, lambda_client)

    # -- latency and idle cost ----------------------------------------------------------------

    def latency(self, rate: float, seconds: float) -> dict[str, Any]:
        """Continuous mode under a steady trickle: enqueue -> task start, from the worker's TaskQueueTime metric."""
        queues = self.queues()
        log = self.work_dir / "logs" / "noop-worker.log"
        log.write_text("")
        consumer, _ = self._consumer(queues, concurrency=4, mode="continuous", wait=20)
        context = StoppableContext()
        run = threading.Thread(target=consumer.run, args=(context,), daemon=True)
        run.start()
        time.sleep(1.0)  # the consumer's first long poll is waiting
        sqs = self.harness.client("sqs", direct=True)
        body = json.dumps({"task": "noop", "payload": None})
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            sqs.send_message(QueueUrl=queues.url, MessageBody=body)
            sent += 1
            time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
        deadline = time.monotonic() + 30
        while len(queue_times(log)) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        context.stop()
        run.join()
        latencies = queue_times(log)
        ordered = sorted(latencies)
        return {
            "tasks": sent,
            "rate_per_second": rate,
            "measured": len(latencies),
            "p50_ms": statistics.median(ordered) if ordered else None,
            "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] if ordered else None,
            "max_ms": ordered[-1] if ordered else None,
        }

    def idle(self, mode: str, budget: float) -> dict[str, Any]:
        """A scheduled run on an empty queue, in a warm environment: its duration and calls, priced
        per month at rate(1 minute)."""
        queues = self.queues()
        consumer, counter = self._consumer(queues, concurrency=4, mode=mode, wait=1 if mode == "drain" else 20)
        _ = consumer.queue_arn  # the cold start's one-off look-up of the queue's ARN
        counter.counts.clear()
        started = time.perf_counter()
        consumer.run(_Budget(budget))
        seconds = time.perf_counter() - started
        sqs_calls = sum(n for op, n in counter.counts.items() if op.startswith("sqs."))
        monthly = TICKS_PER_MONTH * (
            seconds * CONSUMER_MEMORY_GB * PRICES["lambda_arm64_per_gb_second"]
            + PRICES["lambda_per_million_requests"] / 1e6
            + sqs_calls * PRICES["sqs_standard_per_million_requests"] / 1e6
        )
        return {
            "mode": mode,
            "budget_seconds": budget,
            "seconds_per_tick": seconds,
            "sqs_calls_per_tick": sqs_calls,
            "usd_per_month": monthly,
        }

    def baseline_idle(self) -> dict[str, Any]:
        queues = self.queues()
        sqs = self.harness.client("sqs", direct=True)
        lambda_client = self.harness.client("lambda")
        started = time.perf_counter()
        baseline.tick(sqs, lambda_client, queues.url, "baseline-worker")
        seconds = time.perf_counter() - started
        monthly = TICKS_PER_MONTH * (
            seconds * CONSUMER_MEMORY_GB * PRICES["lambda_arm64_per_gb_second"]
            + PRICES["lambda_per_million_requests"] / 1e6
            + PRICES["sqs_standard_per_million_requests"] / 1e6
        )
        return {"mode": "baseline", "seconds_per_tick": seconds, "sqs_calls_per_tick": 1, "usd_per_month": monthly}


class StoppableContext:
    """A Lambda context whose remaining time drops to zero when the benchmark says so."""

    def __init__(self) -> None:
        self.stopped_at = 0.0
        self._stopped = threading.Event()

    def stop(self) -> None:
        self.stopped_at = time.perf_counter()
        self._stopped.set()

    def get_remaining_time_in_millis(self) -> int:
        return 0 if self._stopped.is_set() else 900_000


class _Budget:
    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def queue_times(log: Path) -> list[float]:
    """Every task's queue time (enqueue to start, ms), from the TaskQueueTime values of the worker's metric lines."""
    times: list[float] = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"TaskQueueTime"' in line:
                times += json.loads(line)["TaskQueueTime"]
    return times


def _visible(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _build(tasks: list[Path], out: Path) -> Path:
    command = [sys.executable, str(ROOT / "build.py"), "worker", "--out", str(out)]
    for directory in tasks:
        command += ["--tasks", str(directory)]
    subprocess.run(command, check=True, capture_output=True)
    return out / "worker.zip"


def _warm(harness: Harness, function: str, concurrency: int) -> None:
    """Start ``concurrency`` execution environments before anything is timed."""
    client = harness.client("lambda", retries={"total_max_attempts": 1}, max_pool_connections=concurrency)

    def invoke(_: int) -> Any:
        return client.invoke(FunctionName=function, Payload=b'{"Records": []}')

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(invoke, range(concurrency)))


def run(
    tasks: int,
    backlog: int,
    repeats: int,
    concurrencies: tuple[int, ...],
    work_dir: Path,
    idle_budget: float = 60.0,
    latency_seconds: float = 15.0,
) -> dict[str, Any]:
    dist = work_dir / "dist"
    ours_zip = _build([BENCH_DIR / "noop_tasks"], dist / "ours")
    baseline_zip = _build([BENCH_DIR / "noop_tasks", BENCH_DIR / "baseline"], dist / "baseline")
    with Harness(work_dir, [ours_zip.parent, baseline_zip.parent], separate_endpoint=True) as harness:
        bench = Bench(harness, work_dir, tasks, backlog)
        for function, zip_path, handler in (
            ("noop-worker", ours_zip, "taskqueue.worker.handler"),
            ("baseline-worker", baseline_zip, "baseline.worker.handler"),
        ):
            bench.calls_files[function] = work_dir / f"{function}.calls"
            environment = {
                "TASKQUEUE_DLQ_URL": bench.queues().dlq_url,
                "TASKQUEUE_TASKS": "noop_tasks",
                "BENCH_CALLS_FILE": str(bench.calls_files[function]),
            }
            harness.deploy_function(function, zip_path, handler, environment, WORKER_TIMEOUT)
        _warm(harness, "noop-worker", max(concurrencies))
        _warm(harness, "baseline-worker", 10)

        measurements: dict[str, list[Measurement]] = {}
        for repeat in range(repeats):
            # Interleaved, so a slow spell of this shared machine hits every design alike.
            runs: list[tuple[str, Callable[[], Measurement]]] = [("raw bound", bench.raw_bound)]
            runs += [(f"ours c={c}", functools.partial(bench.ours, c)) for c in concurrencies]
            runs += [("baseline", functools.partial(bench.baseline, tasks))]
            for name, measure in runs:
                result = measure()
                measurements.setdefault(name, []).append(result)
                print(
                    f"  [{repeat + 1}/{repeats}] {name:<12} {result.rate:8.1f} tasks/s  "
                    f"{result.requests_per_task:.3f} requests/task",
                    flush=True,
                )
        latency = bench.latency(rate=10, seconds=latency_seconds)
        idle = [bench.idle("drain", idle_budget), bench.idle("continuous", idle_budget), bench.baseline_idle()]
        ticks_per_task = bench.baseline_ticks / tasks
    return _results(measurements, latency, idle, ticks_per_task, tasks, backlog, repeats)


def _median(results: list[Measurement]) -> Measurement:
    return sorted(results, key=lambda m: m.rate)[len(results) // 2]


def _results(
    measurements: dict[str, list[Measurement]],
    latency: dict[str, Any],
    idle: list[dict[str, Any]],
    baseline_ticks_per_task: float,
    tasks: int,
    backlog: int,
    repeats: int,
) -> dict[str, Any]:
    raw = _median(measurements["raw bound"])
    designs = {}
    for name, results in measurements.items():
        chosen = _median(results)
        designs[name] = {
            **{k: v for k, v in asdict(chosen).items() if k != "calls"},
            "calls": chosen.calls,
            "rates": [round(m.rate, 1) for m in results],
            "tasks_per_second": chosen.rate,
            "ratio_to_raw_bound": chosen.rate / raw.rate,
            "requests_per_task": chosen.requests_per_task,
            "usd_per_million_tasks": chosen.cost_per_million(),
        }
    # As designed, the baseline runs one tick a minute: its rate is capped by ticks, not by SQS.
    baseline = designs["baseline"]
    baseline["tasks_per_second_back_to_back"] = baseline["tasks_per_second"]
    baseline["tasks_per_second"] = 1 / baseline_ticks_per_task / 60
    baseline["ratio_to_raw_bound"] = baseline["tasks_per_second"] / raw.rate
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": sys.version.split()[0], "cpus": _cpus()},
        "method": {
            "tasks_per_measurement": tasks,
            "repeats": repeats,
            "median_of_repeats": True,
            "feed": FEED.format(backlog=backlog),
            "counting": "boto3 event hooks: provide-client-params on this process's clients, before-call inside the function processes",
            "worker": "no-op task, taskqueue.worker from the built zip, run by the local Lambda endpoint in its own process",
        },
        "prices": {**PRICES_AS_OF, **PRICES},
        "designs": designs,
        "latency_continuous": latency,
        "idle": idle,
    }


def _cpus() -> int:
    import os  # noqa: PLC0415

    return os.cpu_count() or 0


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'design':<14}{'tasks/s':>10}{'x raw':>8}{'req/task':>10}{'US$/M tasks':>13}   calls per task",
    ]
    for name, design in results["designs"].items():
        calls = ", ".join(f"{op.split('.')[1]} {n / design['tasks']:.2f}" for op, n in sorted(design["calls"].items()))
        lines.append(
            f"{name:<14}{design['tasks_per_second']:>10.{1 if design['tasks_per_second'] >= 10 else 3}f}"
            f"{design['ratio_to_raw_bound']:>8.3f}"
            f"{design['requests_per_task']:>10.3f}{design['usd_per_million_tasks']['total']:>13.2f}   {calls}"
        )
    baseline = results["designs"]["baseline"]
    lines.append(
        f"baseline tasks/s is as designed, one tick a minute; its ticks run back to back (not how it runs) "
        f"reach {baseline['tasks_per_second_back_to_back']:.1f} tasks/s"
    )
    latency = results["latency_continuous"]
    lines.append(
        f"latency, continuous mode, {latency['rate_per_second']:g} tasks/s trickle: "
        f"p50 {latency['p50_ms']:.0f} ms, p95 {latency['p95_ms']:.0f} ms ({latency['measured']} tasks)"
    )
    for entry in results["idle"]:
        lines.append(
            f"idle, {entry['mode']:<10}: {entry['seconds_per_tick']:.2f} s and {entry['sqs_calls_per_tick']} SQS calls"
            f" per empty tick -> US$ {entry['usd_per_month']:.3f}/month"
        )
    prices = results["prices"]
    lines.append(
        f"prices ({prices['region']}, as of {prices['as_of']}): SQS US$ {prices['sqs_standard_per_million_requests']}/M requests, "
        f"Lambda US$ {prices['lambda_per_million_requests']}/M requests + US$ {prices['lambda_arm64_per_gb_second']}/GB-s (arm64)"
    )
    lines.append(f"feed: {results['method']['feed']}")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = list(results["designs"])
    rates = [results["designs"][n]["tasks_per_second"] for n in names]
    requests = [results["designs"][n]["requests_per_task"] for n in names]
    colours = ["#888888" if n == "raw bound" else "#c44e52" if n == "baseline" else "#4c72b0" for n in names]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.bar(names, rates, color=colours)
    left.set_title("Drain rate (tasks/s, higher is better)")
    left.tick_params(axis="x", rotation=30)
    for x, rate in enumerate(rates):
        left.annotate(f"{rate:.3g}", (x, rate), ha="center", va="bottom", fontsize=8)
    right.bar(names, requests, color=colours)
    right.set_title("API requests per task (lower is better)")
    right.tick_params(axis="x", rotation=30)
    for x, value in enumerate(requests):
        right.annotate(f"{value:.2f}", (x, value), ha="center", va="bottom", fontsize=8)
    figure.suptitle(f"Local stack (moto + local Lambda), {results['method']['tasks_per_measurement']} tasks per run")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per drain measurement")
    parser.add_argument("--backlog", type=int, default=100, help="visible messages the feeder keeps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-budget", type=float, default=60.0, help="consumer budget of the idle ticks (s)")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="length of the latency trickle (s)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    # A SIGTERM (`timeout`) or Ctrl-C stops the emulator and the Lambda endpoint this run started.
    with exit_on_signals(), tempfile.TemporaryDirectory(prefix="taskqueue-bench-") as work:
        results = run(
            args.tasks, args.backlog, args.repeats, (1, 4, 16), Path(work), args.idle_budget, args.latency_seconds
        )
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    chart(results, args.out / "results.png")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
