"""The soak's invariants, checked on what a run left behind, and the counts printed with them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from taskqueue.operations.dlq_message import REDRIVE
from taskqueue_local.scenarios.soak.evidence import UNEXPLAINED, Evidence
from taskqueue_local.scenarios.soak.plan import EXPECTED_REASONS, SoakConfig, TaskMix
from taskqueue_local.scenarios.soak_tasks import CRASH, TIMEOUT


@dataclass(frozen=True)
class Invariant:
    name: str
    expected: str
    measured: str
    ok: bool


def check(name: str, expected: Any, measured: Any) -> Invariant:
    return Invariant(name, str(expected), str(measured), expected == measured)


@dataclass(frozen=True)
class Accounting:
    """Each task's fate, in the sets the invariants compare."""

    ids: set[str]
    completed: set[str]
    lost: set[str]  # neither completed nor in the DLQ
    transient: set[str]
    expected_dead: set[str]  # the kinds that must end in the DLQ
    without_reason: list[str]
    wrong_reason: list[str]
    twice: list[str]  # side effects run more than once
    released: int  # messages the consumers gave back unrun (visibility 0)
    zero_visibility: int
    unexpected_timeouts: list[set[tuple[str, int]]]
    unexpected_throttles: int


def account(tasks: TaskMix, evidence: Evidence) -> Accounting:
    kinds, dead, observed = tasks.kinds, evidence.dead, evidence.observed
    ids, completed = set(kinds), set(evidence.runs)
    # An invocation may time out only when it holds a task that slept past the timeout on purpose.
    injected_timeouts = {(fault.task_id, fault.receive_count) for fault in evidence.injected if fault.kind == TIMEOUT}
    return Accounting(
        ids=ids,
        completed=completed,
        lost=ids - completed - dead.keys(),
        transient={task_id for task_id, kind in kinds.items() if kind == "transient"},
        expected_dead={task_id for task_id, kind in kinds.items() if kind in EXPECTED_REASONS},
        without_reason=sorted(task_id for task_id, reasons in dead.items() if UNEXPLAINED in reasons),
        wrong_reason=sorted(
            task_id
            for task_id, reasons in dead.items()
            if kinds.get(task_id) in EXPECTED_REASONS and not reasons <= EXPECTED_REASONS[kinds[task_id]]
        ),
        twice=sorted(task_id for task_id, count in evidence.runs.items() if count > 1),
        released=sum(report.released for report in observed.reports),
        zero_visibility=observed.visibility_timeouts.count(0),
        unexpected_timeouts=[batch for batch in observed.timed_out if not batch & injected_timeouts],
        unexpected_throttles=observed.throttled - evidence.counts.throttles,
    )


def invariants(config: SoakConfig, evidence: Evidence, fate: Accounting) -> list[Invariant]:
    dead = evidence.dead.keys()
    twice = "side effects run twice" if config.idempotency else "side effects run twice (idempotency off)"
    return [
        check("lost (neither completed nor in the DLQ)", 0, len(fate.lost)),
        check("stuck in the queue after it drained", 0, evidence.stuck),
        check(twice, 0 if config.idempotency else len(fate.twice), len(fate.twice)),
        check("transient tasks completed", len(fate.transient), len(fate.transient & fate.completed)),
        check("transient tasks in the DLQ", 0, len(fate.transient & dead)),
        check("visibility 0 only on releases", fate.released, fate.zero_visibility),
        check("DLQ = permanent + malformed + exhausted", len(fate.expected_dead), len(dead & fate.ids)),
        check("DLQ entries of other tasks", 0, len(dead - fate.expected_dead)),
        check("DLQ entries without a reason", 0, len(fate.without_reason)),
        check("DLQ entries with the wrong reason", 0, len(fate.wrong_reason)),
        check("consumer runs that crashed", 0, len(evidence.observed.consumer_crashes)),
        check("worker timeouts not injected", 0, len(fate.unexpected_timeouts)),
        check("worker throttles not injected", 0, fate.unexpected_throttles),
    ]


def counts(config: SoakConfig, tasks: TaskMix, evidence: Evidence, fate: Accounting) -> dict[str, Any]:
    observed, injected = evidence.observed, evidence.counts
    reports, visibility = observed.reports, observed.visibility_timeouts
    found: dict[str, Any] = {
        "tasks": config.tasks,
        "kinds": dict(sorted(Counter(tasks.kinds.values()).items())),
        "completed": len(fate.completed),
        "dead-lettered": len(evidence.dead),
        "dead-lettered by SQS redrive (last receive never reached the task)": sum(
            REDRIVE in reasons for reasons in evidence.dead.values()
        ),
        "consumer runs": len(reports),
        "worker invocations": sum(r.invocations for r in reports),
        "failed worker invocations (crash, timeout, throttle, SQS error)": sum(r.failed_invocations for r in reports),
        "messages released by consumers out of time": fate.released,
        "retry backoffs applied": len(visibility) - fate.zero_visibility,
        "shortest backoff (s)": min((v for v in visibility if v), default=0),
        "injected throttles": injected.throttles,
        "injected worker timeouts (invocations killed at the timeout)": len(observed.timed_out)
        - len(fate.unexpected_timeouts),
        "injected worker crashes (the environment exits mid-batch)": sum(f.kind == CRASH for f in evidence.injected),
        "injected duplicate deliveries": injected.duplicates,
        "injected slow receives": injected.slow_receives,
        "injected SQS 500s (before / after taking effect)": f"{injected.sqs_errors_before} / "
        f"{injected.sqs_errors_after} of {injected.sqs_calls} SQS calls",
        "receive errors seen by consumers": sum(r.receive_errors for r in reports),
        "producer chunks retried": observed.enqueue_retries,
        "schedule ticks that found the live-run limit reached": observed.skipped_ticks,
        "examples": {
            "lost": sorted(fate.lost)[:5],
            "twice": fate.twice[:5],
            "wrong reason": fate.wrong_reason[:5],
            "timed out, not injected": [sorted(batch)[:3] for batch in fate.unexpected_timeouts[:3]],
        },
    }
    if observed.consumer_crashes:
        found["consumer crashes"] = observed.consumer_crashes[:3]
    return found
