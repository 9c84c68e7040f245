"""The reliability soak: many tasks through the real consumer and worker while faults are injected.

Runs on the local stack assembled in-process (moto's server, the local Lambda endpoint running the
built worker zip, consumers started on a schedule) with these faults:

- tasks: transient failures, permanent failures, tasks that fail every time, malformed messages,
  worker crashes (the execution environment exits mid-batch) and worker timeouts;
- Lambda: throttling (``TooManyRequestsException``) on a share of the worker invocations;
- SQS: 500 errors on a share of all SQS calls, before or after they took effect (via a proxy);
- duplicate deliveries: a message made visible again while its first delivery is in flight;
- consumers stopped by their time budget with messages in hand (receives that return too late).

Only these faults: timeouts and concurrency are sized from what the machine measures at the start
(``sizing``), so no invocation times out or is throttled unless injected, and the soak fails when one does. At the end it checks the invariants and prints them with their counts.
``python -m taskqueue_local soak --tasks 2000`` (``make soak``) exits non-zero when one fails.

The package, in the order a run goes: ``plan`` (settings and the task mix), ``sizing``, ``faults`` (what
is injected, what is observed), ``traffic`` (the producer and the scheduled consumer runs), ``runner``
(one run), ``evidence`` (what the run left), ``verify`` (the invariants and counts), ``report``. The
tasks themselves are ``taskqueue_local.scenarios.soak_tasks``, packed into the soak's worker zip.
"""

from __future__ import annotations

from pathlib import Path

from taskqueue_local.infrastructure.shutdown import exit_on_signals
from taskqueue_local.scenarios.soak.faults import Faults, Observations
from taskqueue_local.scenarios.soak.plan import WORKER, SoakConfig, TaskMix, task_mix
from taskqueue_local.scenarios.soak.report import SoakResult
from taskqueue_local.scenarios.soak.runner import run
from taskqueue_local.scenarios.soak.verify import Invariant


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m taskqueue_local soak", description=__doc__)
    parser.add_argument("--tasks", type=int, default=SoakConfig.tasks)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--no-idempotency", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    config = SoakConfig(tasks=args.tasks, seed=args.seed, idempotency=not args.no_idempotency)
    with exit_on_signals():  # a SIGTERM (`timeout`) or Ctrl-C stops the emulator and the Lambda processes
        result = run(config)
    print(f"soak of {config.tasks} tasks finished in {result.seconds:.0f} s (after the sizing)")
    print(result.table())
    if args.json:
        result.write_json(args.json)
    return 0 if result.ok else 1


__all__ = [
    "WORKER",
    "Faults",
    "Invariant",
    "Observations",
    "SoakConfig",
    "SoakResult",
    "TaskMix",
    "main",
    "run",
    "task_mix",
]
