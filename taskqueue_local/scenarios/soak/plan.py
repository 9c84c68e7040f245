"""What the soak sends: its settings, and the task mix (each task's kind, and the body sent for it)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from taskqueue.dead_letter_queue import MALFORMED, PERMANENT_ERROR, RETRIES_EXHAUSTED, UNKNOWN_TASK
from taskqueue.errors import MalformedMessage
from taskqueue.message import parse_body
from taskqueue.operations.dlq_message import REDRIVE
from taskqueue.producer import Task
from taskqueue_local.scenarios.soak.sizing import SizingRules

WORKER = "soak-worker"
# Bodies that are not task messages, one per kind of bad input the worker must dead-letter.
MALFORMED_BODIES = (
    "not json at all: {id}",
    '["a JSON array", "{id}"]',
    '{{"payload": "no task field", "id": "{id}"}}',
    '{{"task": 42, "id": "{id}"}}',
    '{{"task": "no_such_task", "id": "{id}"}}',
    '"just a JSON string: {id}"',
)
# SQS's redrive moves a message whose last allowed receive never reached the task (the invocation
# was throttled or crashed); it carries no reason attribute, but its receive count tells.
EXPECTED_REASONS = {
    "permanent": {PERMANENT_ERROR},
    "exhausted": {RETRIES_EXHAUSTED, REDRIVE},
    "malformed": {MALFORMED, UNKNOWN_TASK},
}


@dataclass(frozen=True)
class SoakConfig:
    tasks: int = 2000
    transient_rate: float = 0.20
    permanent_rate: float = 0.02
    malformed_rate: float = 0.01
    exhausted_rate: float = 0.005
    crash_rate: float = 0.003
    timeout_rate: float = 0.003
    duplicate_rate: float = 0.02
    throttle_rate: float = 0.05
    sqs_error_rate: float = 0.01
    slow_receive_rate: float = 0.03
    backlog: int = 200
    consumer_interval: float = 2.0  # a schedule tick; it starts a run when fewer than the live limit run
    sizing: SizingRules = field(default_factory=SizingRules)
    # Faults take receives too (a crashed batch, a throttle, a duplicate in flight, a release).
    max_receive_count: int = 8
    idempotency: bool = True
    seed: int = 7
    timeout: float = 900.0


@dataclass
class TaskMix:
    """The soak's tasks: each task id's kind, and what is sent for it."""

    kinds: dict[str, str] = field(default_factory=dict)  # task id -> kind
    bodies: list[tuple[str, str | Task]] = field(default_factory=list)  # (task id, raw body or task)
    raw_ids: dict[str, str] = field(default_factory=dict)  # raw body -> its task id

    def task_id_of(self, body: str) -> str | None:
        """The task id a message body was sent for: a task message's own id, or the raw body's."""
        try:
            return parse_body(body).id
        except MalformedMessage:
            return self.raw_ids.get(body)


def task_mix(config: SoakConfig) -> TaskMix:
    """Each kind gets its share of the tasks (at least one when its rate is not 0), shuffled."""
    rng = random.Random(config.seed)
    shares = {
        "transient": config.transient_rate,
        "permanent": config.permanent_rate,
        "malformed": config.malformed_rate,
        "exhausted": config.exhausted_rate,
        "crash": config.crash_rate,
        "timeout": config.timeout_rate,
    }
    kinds = [kind for kind, share in shares.items() for _ in range(max(1, round(share * config.tasks)) if share else 0)]
    kinds += ["ok"] * (config.tasks - len(kinds))
    rng.shuffle(kinds)
    result = TaskMix()
    for number, kind in enumerate(kinds):
        task_id = f"soak-{number:06d}"
        result.kinds[task_id] = kind
        if kind == "malformed":
            body = MALFORMED_BODIES[number % len(MALFORMED_BODIES)].format(id=task_id)
            result.bodies.append((task_id, body))
            result.raw_ids[body] = task_id
        else:
            payload = {"kind": kind, "fail_times": rng.choice((1, 2))}
            result.bodies.append((task_id, Task("soak", payload, id=task_id)))
    return result
