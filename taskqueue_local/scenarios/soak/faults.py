"""The faults the soak injects, and what it observes while it runs (the local Lambda's invocation records
of the worker, the consumers' reports and visibility calls)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from taskqueue.consumer import ConsumerReport
from taskqueue.sqs_event import receive_count
from taskqueue_local.infrastructure.invocations import InvocationRecord
from taskqueue_local.scenarios.fault_proxy import EvenlySpaced
from taskqueue_local.scenarios.soak.plan import WORKER, SoakConfig

DUPLICATES = "duplicates"
SLOW_RECEIVES = "slow_receives"
THROTTLES = "throttles"


class Faults:
    """Where and how often faults are injected (evenly spaced), and how many were."""

    def __init__(self, config: SoakConfig) -> None:
        self.schedules = {
            DUPLICATES: EvenlySpaced(config.duplicate_rate),
            SLOW_RECEIVES: EvenlySpaced(config.slow_receive_rate),
            THROTTLES: EvenlySpaced(config.throttle_rate),
        }

    def inject(self, name: str) -> bool:
        return self.schedules[name].hit()

    def count(self, name: str) -> int:
        schedule = self.schedules[name]
        return math.floor(schedule.calls * schedule.rate)


@dataclass
class Observations:
    """``task_id_of`` names the task a message body was sent for (:meth:`TaskMix.task_id_of`)."""

    task_id_of: Callable[[str], str | None]
    reports: list[ConsumerReport] = field(default_factory=list)
    consumer_crashes: list[str] = field(default_factory=list)
    visibility_timeouts: list[int] = field(default_factory=list)
    enqueue_retries: int = 0
    # Worker invocations the local Lambda killed at the timeout: the (task id, receive count) of each record.
    timed_out: list[set[tuple[str, int]]] = field(default_factory=list)
    throttled: int = 0
    skipped_ticks: int = 0  # schedule ticks that found the live-run limit reached
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invocation(self, record: InvocationRecord) -> None:
        """The local Lambda's record of a worker invocation (its on_invocation hook)."""
        invocation = record.invocation
        if record.function != WORKER or not (invocation.timed_out or invocation.throttled):
            return
        with self.lock:
            if invocation.throttled:
                self.throttled += 1
                return
            self.timed_out.append(
                {
                    (task_id, receive_count(message))
                    for message in record.records()
                    if (task_id := self.task_id_of(str(message.get("body", "")))) is not None
                }
            )
