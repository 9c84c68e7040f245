"""What one task costs inside the worker: log bytes, CPU and cold start, against a bare handler.

Each figure comes from ``bench/runtime_probe.py`` run in a fresh interpreter (``python -I -S``) on the
built zip, unpacked, with the runtime's boto3 layer: the way the local Lambda runs a function, without
the endpoint in between. Each is a median over repeats in one run:

- log bytes and CPU per successful no-op task: batches of 10, at the module's default settings
  (``POWERTOOLS_LOG_LEVEL=INFO``, metrics on), against the bare handler (``bench/bare_handler``);
- cold start: importing the handler's module and building the worker, against the reference
  ``import boto3; boto3.client("sqs")``, in paired runs (one of each, back to back) so that a slow
  spell of this shared machine hits both.

Lambda's own lines per invocation (START, END, REPORT) are not the function's output; the cost model
adds them (``bench.cost_model.PLATFORM_LOG_BYTES_PER_INVOCATION``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from taskqueue.config import WorkerConfig
from taskqueue_local.infrastructure.clients import CREDENTIALS, REGION
from taskqueue_local.infrastructure.runtime_layer import ensure_boto3_layer

PROBE = Path(__file__).with_name("runtime_probe.py")


@dataclass(frozen=True)
class Target:
    """A handler the probe measures; ``build`` is the module-level function its first invocation calls."""

    name: str
    handler: str
    build: str | None = None


WORKER = Target("taskqueue worker", "taskqueue.worker.handler", "_worker")
BARE = Target("bare handler", "bare_handler.handler")
BASELINE = Target("baseline", "baseline.worker.handler")
REFERENCE = Target("import boto3; boto3.client('sqs')", "reference")


@dataclass(frozen=True)
class RuntimeFigures:
    """Medians over ``repeats``; ratios are the taskqueue worker's against the bare handler (cold: against the reference)."""

    repeats: int
    log_bytes_per_task: dict[str, float]
    cpu_us_per_task: dict[str, float]
    cold_start_seconds: dict[str, float]
    cold_start_ratio: float  # median of the paired ratios worker / reference
    cold_start_pairs: list[float]

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_us_per_task[WORKER.name] / self.cpu_us_per_task[BARE.name]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_ratio": self.cpu_ratio}


def probe_environment() -> dict[str, str]:
    """The worker's settings at the module's defaults, with the emulator's dummy credentials; no call
    leaves the process for a task that succeeds."""
    worker = WorkerConfig(
        dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/bench-dlq", task_modules=("noop_tasks",)
    )
    return {
        **worker.to_env(),
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "bench",
        **CREDENTIALS,
        "AWS_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "PATH": "/usr/bin:/bin",
    }


def _probe(code: Path, layer: Path, target: Target, *arguments: str) -> dict[str, float]:
    command = [sys.executable, "-I", "-S", str(PROBE), "--code", str(code), "--layer", str(layer)]
    command += ["--handler", target.handler, *arguments]
    if target.build:
        command += ["--build", target.build]
    result = subprocess.run(command, capture_output=True, text=True, env=probe_environment(), check=False, cwd=code)
    if result.returncode != 0:
        raise RuntimeError(f"the probe of {target.name} failed:\n{result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def measure(zip_path: Path, repeats: int, batches: int = 200) -> RuntimeFigures:
    layer = ensure_boto3_layer()
    with tempfile.TemporaryDirectory(prefix="taskqueue-bench-code-") as unpacked:
        code = Path(unpacked)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(code)
        cold: dict[str, list[float]] = {}
        pairs = []
        for _ in range(repeats):
            for target in (REFERENCE, WORKER, BARE, BASELINE):
                cold.setdefault(target.name, []).append(_probe(code, layer, target, "--mode", "cold")["seconds"])
            pairs.append(cold[WORKER.name][-1] / cold[REFERENCE.name][-1])
        cpu: dict[str, list[float]] = {}
        logs: dict[str, list[float]] = {}
        for _ in range(repeats):
            for target in (WORKER, BARE):
                warm = _probe(code, layer, target, "--mode", "warm", "--batches", str(batches))
                cpu.setdefault(target.name, []).append(warm["cpu_seconds_per_task"] * 1e6)
                logs.setdefault(target.name, []).append(warm["log_bytes_per_task"])
    return RuntimeFigures(
        repeats=repeats,
        log_bytes_per_task={name: statistics.median(values) for name, values in logs.items()},
        cpu_us_per_task={name: statistics.median(values) for name, values in cpu.items()},
        cold_start_seconds={name: statistics.median(values) for name, values in cold.items()},
        cold_start_ratio=statistics.median(pairs),
        cold_start_pairs=[round(pair, 3) for pair in pairs],
    )
