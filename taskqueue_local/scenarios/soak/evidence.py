"""What a soak run left behind, collected once it is over: the tasks' side effects, the dead letters,
the faults injected and the queue's depth."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskqueue.operations.dlq_message import REDRIVE
from taskqueue_local.deployment.deployment import Deployment
from taskqueue_local.deployment.outcomes import read_dead_letters
from taskqueue_local.scenarios.fault_proxy import FaultProxy
from taskqueue_local.scenarios.soak.faults import DUPLICATES, SLOW_RECEIVES, THROTTLES, Faults, Observations
from taskqueue_local.scenarios.soak.plan import TaskMix
from taskqueue_local.scenarios.soak_tasks import InjectedFault, read_injected, read_ledger

# The reason recorded for a dead letter that nothing explains (see ``dead_letters``).
UNEXPLAINED = ""


@dataclass(frozen=True)
class InjectedCounts:
    """Faults the soak injected from its own process (the tasks' crashes and timeouts are in ``injected``)."""

    throttles: int
    duplicates: int
    slow_receives: int
    sqs_errors_before: int  # SQS 500s returned before the call took effect
    sqs_errors_after: int  # ... and after it did
    sqs_calls: int


@dataclass(frozen=True)
class Evidence:
    runs: Counter[str]  # task id -> runs of its side effect
    dead: dict[str, set[str]]  # task id -> the reasons of its dead letters (UNEXPLAINED for none)
    stuck: int  # messages still in the queue
    injected: list[InjectedFault]
    counts: InjectedCounts
    observed: Observations


def collect(
    tasks: TaskMix,
    max_receive_count: int,
    ledger: Path,
    injected_file: Path,
    deployment: Deployment,
    faults: Faults,
    proxy: FaultProxy,
    observed: Observations,
) -> Evidence:
    counts = InjectedCounts(
        throttles=faults.count(THROTTLES),
        duplicates=faults.count(DUPLICATES),
        slow_receives=faults.count(SLOW_RECEIVES),
        sqs_errors_before=proxy.injected["before"],
        sqs_errors_after=proxy.injected["after"],
        sqs_calls=proxy.sqs_calls,
    )
    sqs = deployment.client("sqs", direct=True)
    return Evidence(
        runs=read_ledger(ledger),
        dead=dead_letters(sqs, deployment.queues.dlq_url, max_receive_count, tasks),
        stuck=deployment.depth(),
        injected=read_injected(injected_file),
        counts=counts,
        observed=observed,
    )


def dead_letters(sqs: Any, dlq_url: str, max_receive_count: int, tasks: TaskMix) -> dict[str, set[str]]:
    """Task id -> reasons, over every DLQ message (its body names the task it was sent for)."""
    found: dict[str, set[str]] = {}
    for message in read_dead_letters(sqs, dlq_url):
        task_id = tasks.task_id_of(message.body) or f"unidentified:{message.message_id}"
        # No reason attached and not past maxReceiveCount: nothing explains why it is there.
        unexplained = message.reason == REDRIVE and message.receive_count <= max_receive_count
        found.setdefault(task_id, set()).add(UNEXPLAINED if unexplained else message.reason)
    return found
