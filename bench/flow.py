"""``make flow``: flow control measured on the local stack, in both trigger modes (issue 24).

- Rate limit: 500 tasks limited to 20/s (burst 5), 4 concurrent workers. Goals: the most starts in any 1 s
  window <= 20 + burst; throughput >= 90% of the limit; none dead-lettered or lost.
- Concurrency per key: 3 keys x key_concurrency 2, each run 0.5 s, 8 concurrent workers. Goals: never more than 2 running for a
  key (from the tasks' own start and end times); throughput >= 90% of 3 x 2 slots.

Behind the scheduled consumer (continuous mode, max_concurrency 4) and behind the local event source
mapping (MaximumConcurrency 4). Output: a table and ``bench/flow_results.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.drain import WORKER_TIMEOUT, MappingShape, polled
from bench.flow_tasks import BURST, KEY_CONCURRENCY, KEYED_RUN_SECONDS, RATE_LIMIT, RATE_LIMIT_ENV
from taskqueue.backoff import Backoff
from taskqueue.config import ConsumerConfig, WorkerConfig
from taskqueue.flow_control.spec import parse_rate
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.deployment import EVENT_SOURCE_MAPPING, SCHEDULE, Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.deployment.instrumented_consumer import instrumented_consumer
from taskqueue_local.infrastructure.lambda_context import LambdaContext
from taskqueue_local.infrastructure.shutdown import exit_on_signals

BENCH_DIR = Path(__file__).resolve().parent
WORKERS = 4
# The keyed scenario needs a worker per slot (3 keys x 2) and some to spare, or the workers are its limit.
KEY_WORKERS = 8
RATE_TASKS = 500
KEYS = ("k1", "k2", "k3")
# 40 a key: 10 s of runs at the slots' rate, so that the consumer's first seconds (its receive loops scale up
# from one, a loop every 0.5 s) weigh less than in 5 s.
KEYED_TASKS_PER_KEY = 40
# Held-back starts come back many times: leave room above the attempts a task gets.
MAX_RECEIVE_COUNT = 100


@dataclass
class FlowResult:
    mode: str
    scenario: str
    tasks: int
    ran: int
    dead_lettered: int
    seconds: float
    throughput: float  # tasks a second, first start to last start
    goal_throughput: float
    most_in_one_second: int = 0  # rate scenario
    most_running_per_key: int = 0  # key scenario


def _send(deployment: Deployment, bodies: list[dict[str, Any]]) -> None:
    sqs = deployment.client("sqs", direct=True)
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps(body)} for i, body in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=deployment.queues.url, Entries=entries)


def _times(path: Path, task: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [line for line in map(json.loads, path.read_text().splitlines()) if line["task"] == task]


def _most_in_window(starts: list[float], window: float = 1.0) -> int:
    starts = sorted(starts)
    most, first = 0, 0
    for last, start in enumerate(starts):
        while starts[first] <= start - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def _most_running(runs: list[dict[str, Any]]) -> int:
    by_key: defaultdict[str, list[tuple[float, int]]] = defaultdict(list)
    for run in runs:
        by_key[run["key"]] += [(run["start"], 1), (run["end"], -1)]
    most = 0
    for edges in by_key.values():
        running = 0
        for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # an end before a start at one time
            running += step
            most = max(most, running)
    return most


def _run(
    stack: DirectStack,
    mode: str,
    scenario: str,
    rate: str,
    zip_path: Path,
    work: Path,
    index: int,
) -> FlowResult:
    name = f"flow-{index}"
    limit = parse_rate("flow_rate_limited", rate, BURST)
    per_second = limit.limit / limit.period_seconds
    workers = WORKERS if scenario == "rate" else KEY_WORKERS
    queues = stack.create_queues(name, MAX_RECEIVE_COUNT, visibility_timeout=WORKER_TIMEOUT + 5)
    table = stack.create_idempotency_table(f"{name}-flow")
    attempts = stack.create_idempotency_table(f"{name}-state")
    times = work / f"{name}.times"
    settings = WorkerConfig(
        dlq_url=queues.dlq_url,
        task_modules=("flow_tasks",),
        attempts_table=attempts,
        flow_control_table=table,
        behind_event_source_mapping=mode == EVENT_SOURCE_MAPPING,
        queue_url=queues.url,
        max_receive_count=MAX_RECEIVE_COUNT,
        max_attempts=3,
    )
    worker = f"{name}-worker"
    stack.deploy_function(
        worker,
        zip_path,
        "taskqueue.worker.handler",
        {**settings.to_env(), "FLOW_TIMES_FILE": str(times), RATE_LIMIT_ENV: rate},
        WORKER_TIMEOUT,
    )
    deployment = stack.deployment(name, queues, worker, trigger_mode=mode)
    if scenario == "rate":
        task, total, goal = "flow_rate_limited", RATE_TASKS, 0.9 * per_second
        bodies = [{"task": task, "payload": {"id": n}} for n in range(total)]
    else:
        task, total = "flow_per_key", KEYED_TASKS_PER_KEY * len(KEYS)
        goal = 0.9 * len(KEYS) * KEY_CONCURRENCY / KEYED_RUN_SECONDS
        bodies = [{"task": task, "payload": {"id": n, "key": KEYS[n % len(KEYS)]}} for n in range(total)]
    _send(deployment, bodies)
    started = time.monotonic()
    deadline = started + 10 * total / goal + 60

    def finished() -> bool:
        return len({run["id"] for run in _times(times, task)}) + deployment.depth(queues.dlq_url) >= total

    if mode == SCHEDULE:
        config = ConsumerConfig(
            queue_url=queues.url,
            worker_function=worker,
            max_concurrency=workers,
            # A worker runs its batch's tasks one after another: one task a batch lets the keyed runs overlap.
            batch_size=10 if scenario == "rate" else 1,
            wait_time_seconds=1,
            mode="continuous",
            worker_timeout_seconds=WORKER_TIMEOUT,
            time_margin_seconds=2,
            backoff=Backoff(),
        )
        consumer = instrumented_consumer(deployment, config)
        context = LambdaContext(remaining_seconds=deadline - started)
        thread = threading.Thread(target=consumer.run_quietly, args=(context,), daemon=True)
        thread.start()
        try:
            while not finished() and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            context.stop()
            thread.join()
    else:
        # As behind the consumer: one task a batch, so that a key-held start does not hold up the others.
        with polled(deployment, workers, MappingShape(batch_size=10 if scenario == "rate" else 1)):
            while not finished() and time.monotonic() < deadline:
                time.sleep(0.5)
    runs = _times(times, task)
    starts = sorted(run["start"] for run in runs)
    span = (starts[-1] - starts[0]) if len(starts) > 1 else 0.0
    # Throughput: tasks per second from the first start to the last (plus one run's length for the keyed ones).
    seconds = span + (KEYED_RUN_SECONDS if scenario == "key" else 1 / per_second)
    return FlowResult(
        mode=mode,
        scenario=scenario,
        tasks=total,
        ran=len({run["id"] for run in runs}),
        dead_lettered=deployment.depth(queues.dlq_url),
        seconds=round(time.monotonic() - started, 1),
        throughput=round(len(runs) / seconds, 2) if seconds else 0.0,
        goal_throughput=goal,
        most_in_one_second=_most_in_window(starts) if scenario == "rate" else 0,
        most_running_per_key=_most_running(runs) if scenario == "key" else 0,
    )


def table(results: list[FlowResult], rate: str) -> str:
    lines = [
        f"flow control: {RATE_TASKS} tasks at {rate} burst {BURST} ({WORKERS} workers); {len(KEYS)} keys x "
        f"key_concurrency {KEY_CONCURRENCY}, {KEYED_RUN_SECONDS} s runs ({KEY_WORKERS} workers)",
        f"{'mode':<22} {'scenario':<6} {'ran':>9} {'DLQ':>4} {'tasks/s':>8} {'goal':>6} {'max/1s':>7} {'max/key':>8}",
    ]
    for r in results:
        lines.append(
            f"{r.mode:<22} {r.scenario:<6} {r.ran:>4}/{r.tasks:<4} {r.dead_lettered:>4} {r.throughput:>8.2f} "
            f"{r.goal_throughput:>6.1f} {r.most_in_one_second or '-':>7} {r.most_running_per_key or '-':>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flow", description=__doc__)
    parser.add_argument("--modes", default=f"{SCHEDULE},{EVENT_SOURCE_MAPPING}")
    parser.add_argument("--scenarios", default="rate,key")
    parser.add_argument("--rate", default=RATE_LIMIT, help="the rate-limited task's limit (default: 20/s)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR)
    args = parser.parse_args(argv)
    results: list[FlowResult] = []
    with exit_on_signals(), tempfile.TemporaryDirectory(prefix="taskqueue-flow-") as directory:
        work = Path(directory)
        zip_path = build("worker", work / "dist", [BENCH_DIR / "flow_tasks"]) / "worker.zip"
        with DirectStack(work, [zip_path.parent], separate_data_plane=True) as stack:
            index = 0
            for mode in args.modes.split(","):
                for scenario in args.scenarios.split(","):
                    index += 1
                    result = _run(stack, mode, scenario, args.rate, zip_path, work, index)
                    print(f"  {mode} {scenario}: {asdict(result)}", flush=True)
                    results.append(result)
    print(table(results, args.rate))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "flow_results.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
