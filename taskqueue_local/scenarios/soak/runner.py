"""One soak run: the stack with its fault hooks, the sizing, the worker, then traffic until the queue drains."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from taskqueue.backoff import Backoff
from taskqueue.config import WorkerConfig
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.direct_stack import DirectStack
from taskqueue_local.infrastructure.invocations import InvocationRecord
from taskqueue_local.infrastructure.lambda_service import LambdaHooks
from taskqueue_local.infrastructure.processes import ROOT
from taskqueue_local.scenarios.fault_proxy import FaultProxy
from taskqueue_local.scenarios.soak.evidence import collect
from taskqueue_local.scenarios.soak.faults import THROTTLES, Faults, Observations
from taskqueue_local.scenarios.soak.plan import WORKER, SoakConfig, TaskMix, task_mix
from taskqueue_local.scenarios.soak.report import SoakResult
from taskqueue_local.scenarios.soak.sizing import Calibration, Sizing, measure, size
from taskqueue_local.scenarios.soak.traffic import fault_injecting_consumer, produce, schedule_consumers
from taskqueue_local.scenarios.soak.verify import account, counts, invariants
from taskqueue_local.scenarios.soak_tasks import INJECTED_VARIABLE, LEDGER_VARIABLE, read_ledger

SOAK_TASKS = Path(__file__).parent.parent / "soak_tasks"
# The soak's worker zip: build.py reuses it while its inputs are unchanged (build/ is git-ignored).
SOAK_BUILD = ROOT / "build" / "soak"
# Checks of the queue that must find it empty (and the producer done) in a row before the run ends.
QUIET_CHECKS = 3


@dataclass(frozen=True)
class Files:
    """Where the soak tasks write from the worker's processes (see ``soak_tasks``)."""

    ledger: Path
    injected: Path
    calibration_ledger: Path

    @classmethod
    def under(cls, work_dir: Path) -> Files:
        files = cls(work_dir / "ledger.txt", work_dir / "injected-faults.jsonl", work_dir / "calibration-ledger.txt")
        files.ledger.write_text("")
        files.injected.write_text("")
        return files


def run(config: SoakConfig, work_dir: Path | None = None, log: Callable[[str], None] = print) -> SoakResult:
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="taskqueue-soak-"))
    zip_path = build("worker", SOAK_BUILD, [SOAK_TASKS]) / "worker.zip"
    files = Files.under(work_dir)
    tasks = task_mix(config)
    faults = Faults(config)
    observed = Observations(tasks.task_id_of)
    calibration = Calibration()
    proxies: list[FaultProxy] = []

    def fault_proxy(emulator_url: str) -> FaultProxy:
        proxies.append(FaultProxy(emulator_url, config.sqs_error_rate).start())
        return proxies[-1]

    def on_invocation(record: InvocationRecord) -> None:
        observed.invocation(record)
        calibration.observe(record)

    # The local Lambda's account concurrency is the soak's bound: a throttle it was not told to inject
    # means the bound was passed, and fails the soak.
    with DirectStack(
        work_dir,
        [zip_path.parent],
        account_concurrency=config.sizing.max_in_flight,
        front=fault_proxy,
        hooks=LambdaHooks(
            inject_throttle=lambda function: function.name == WORKER and faults.inject(THROTTLES),
            on_invocation=on_invocation,
        ),
    ) as stack:
        started = time.monotonic()
        sizing, deployment = _deploy(config, stack, zip_path, files, calibration)
        sized_at = time.monotonic()
        log(f"sizing, from what this machine measured ({sized_at - started:.0f} s):\n{sizing.describe()}")
        _drive(config, sizing, deployment, tasks, faults, observed, files, started, sized_at, log)
        seconds = time.monotonic() - sized_at
        found = collect(
            tasks, config.max_receive_count, files.ledger, files.injected, deployment, faults, proxies[0], observed
        )
    fate = account(tasks, found)
    return SoakResult(config, sizing, invariants(config, found, fate), counts(config, tasks, found, fate), seconds)


def _deploy(
    config: SoakConfig, stack: DirectStack, zip_path: Path, files: Files, calibration: Calibration
) -> tuple[Sizing, Deployment]:
    """Size the soak from what this machine measures, then deploy its worker and queues so sized."""
    worker_settings = WorkerConfig(
        dlq_url="",  # set per queue below
        task_modules=("soak_tasks",),
        max_receive_count=config.max_receive_count,
        backoff=Backoff(1, 4),
    )
    environment = {
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        INJECTED_VARIABLE: str(files.injected),  # the crashes and timeouts the soak tasks inject
    }
    if config.idempotency:
        worker_settings = replace(worker_settings, idempotency_table=stack.create_idempotency_table("soak-idempotency"))
    measured = measure(
        stack, config.sizing, zip_path, worker_settings, environment, files.calibration_ledger, calibration
    )
    sizing = size(config.sizing, measured)
    queues = stack.create_queues("soak", config.max_receive_count, visibility_timeout=sizing.visibility_timeout)
    worker_env = {
        **replace(worker_settings, dlq_url=queues.dlq_url).to_env(),
        **environment,
        LEDGER_VARIABLE: str(files.ledger),
    }
    stack.deploy_function(WORKER, zip_path, "taskqueue.worker.handler", worker_env, sizing.worker_timeout)
    return sizing, stack.deployment("soak", queues, WORKER)


def _drive(
    config: SoakConfig,
    sizing: Sizing,
    deployment: Deployment,
    tasks: TaskMix,
    faults: Faults,
    observed: Observations,
    files: Files,
    started: float,
    sized_at: float,
    log: Callable[[str], None],
) -> None:
    """The producer and the scheduled consumer runs, until the queue stays empty after the last enqueue
    (or the timeout); every thread started is joined before it returns."""
    consumer = fault_injecting_consumer(sizing, deployment, faults, observed)
    producer_done = threading.Event()
    stop = threading.Event()
    producer = threading.Thread(target=produce, args=(config, deployment, tasks, observed, producer_done, stop))
    producer.start()
    runs: list[threading.Thread] = []
    scheduler = threading.Thread(target=schedule_consumers, args=(config, sizing, consumer, observed, stop, runs))
    scheduler.start()
    quiet_checks = 0
    try:
        while time.monotonic() - sized_at < config.timeout:
            time.sleep(1.0)
            depth = deployment.depth()
            log(
                f"  {time.monotonic() - started:6.1f} s  completed {len(read_ledger(files.ledger)):5d}  "
                f"queued {depth:5d}  dead-lettered {deployment.depth(deployment.queues.dlq_url):4d}"
            )
            quiet_checks = quiet_checks + 1 if producer_done.is_set() and depth == 0 else 0
            if quiet_checks >= QUIET_CHECKS:
                break
    finally:
        # Also on a signal: no more enqueues and no new consumer run, so the process can exit.
        stop.set()
    scheduler.join()
    producer.join()
    for thread in runs:
        thread.join()
