"""Configuration read from the environment, checked once at start.

Every ``TASKQUEUE_*`` variable the functions read is declared here. An invalid
value raises :class:`ConfigError` naming the variable and the value, so a bad
deployment fails on its first (cold) start rather than on some later message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from taskqueue.backoff import Backoff
from taskqueue.limits import (
    LAMBDA_MAX_SYNC_PAYLOAD_BYTES,
    LAMBDA_MAX_TIMEOUT_SECONDS,
    SQS_MAX_RECEIVE_BATCH,
    SQS_MAX_RECEIVE_COUNT,
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
    SQS_MAX_WAIT_TIME_SECONDS,
    WORKER_MAX_TASK_CONCURRENCY,
)
from taskqueue.priorities import PRIORITY_QUEUES_ENV, RECEIVE_ORDER_ENV, Priorities, PriorityError

T = TypeVar("T")

MODES = ("drain", "continuous")
# Status tracking (taskqueue.status.TRACK_MODES; repeated here, as config imports no runtime module).
TRACK_MODES = ("off", "opted_in", "all")
MAX_RECEIVERS = 10
# Drain mode ends when the queue runs dry (an empty receive), so its long poll is what an idle run costs:
# keep it short (but not 0, so SQS checks all its servers). Continuous mode waits as long as SQS allows.
DEFAULT_WAIT_TIME_SECONDS = {"drain": 1, "continuous": SQS_MAX_WAIT_TIME_SECONDS}
# How long a run may wait for a batch to fill on a trickle (taskqueue.receive_scaling). Continuous mode runs
# its whole budget anyway, so waiting costs nothing there; a drain-mode run would pay for the wait, and the
# schedule's next run gathers a batch for free.
DEFAULT_BATCHING_WINDOW_SECONDS = {"drain": 0.0, "continuous": float(SQS_MAX_WAIT_TIME_SECONDS)}
MAX_BATCHING_WINDOW_SECONDS = 300.0  # as an event source mapping's MaximumBatchingWindowInSeconds


# The flow-control table (taskqueue.flow_control): the module sets it when flow_control = true.
FLOW_CONTROL_TABLE_ENV = "TASKQUEUE_FLOW_CONTROL_TABLE"


class ConfigError(ValueError):
    """An environment variable is missing or has an invalid value."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _required(env: Mapping[str, str], name: str) -> str:
    value = _raw(env, name)
    if value is None:
        raise ConfigError(f"{name} is required but is not set")
    return value


def _parsed(
    env: Mapping[str, str],
    name: str,
    default: T,
    parse: Callable[[str], T],
    what: str,
) -> T:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not {what}") from None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    result = _parsed(env, name, default, int, "an integer")
    if not low <= result <= high:
        raise ConfigError(f"{name}={result!r} is out of range: it must be between {low} and {high}")
    return result


def _optional_int(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    return _int(env, name, 0, low, high) if _raw(env, name) is not None else None


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    result = _parsed(env, name, default, float, "a number")
    if not low <= result <= high:
        raise ConfigError(f"{name}={result!r} is out of range: it must be between {low} and {high}")
    return result


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    return _parsed(env, name, default, _parse_bool, "a boolean (true/false)")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(env, name) or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def priorities_from_env(env: Mapping[str, str], queue_url: str | None) -> Priorities | None:
    """The priority queues (TASKQUEUE_PRIORITY_QUEUES), checked to include the function's own queue; None without."""
    try:
        priorities = Priorities.from_env(env)
    except PriorityError as error:
        raise ConfigError(str(error)) from None
    if priorities is None:
        if _raw(env, RECEIVE_ORDER_ENV) is not None:
            raise ConfigError(f"{RECEIVE_ORDER_ENV} is set, and {PRIORITY_QUEUES_ENV} is not: there are no priorities")
        return None
    if queue_url is not None and queue_url not in {q.queue_url for q in priorities.queues}:
        raise ConfigError(
            f"TASKQUEUE_QUEUE_URL={queue_url!r} is not one of the queues of {PRIORITY_QUEUES_ENV}: it must be the "
            "default priority's"
        )
    return priorities


def _priorities_env(priorities: Priorities | None) -> dict[str, str]:
    if priorities is None:
        return {}
    return {PRIORITY_QUEUES_ENV: priorities.to_json(), RECEIVE_ORDER_ENV: priorities.order}


def backoff_from_env(env: Mapping[str, str]) -> Backoff:
    """The queue's default backoff, from TASKQUEUE_BACKOFF_BASE_SECONDS and TASKQUEUE_BACKOFF_MAX_SECONDS."""
    base = _float(env, "TASKQUEUE_BACKOFF_BASE_SECONDS", Backoff.base_seconds, 1, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)
    maximum = _float(env, "TASKQUEUE_BACKOFF_MAX_SECONDS", Backoff.max_seconds, 1, SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)
    if base > maximum:
        raise ConfigError(
            f"TASKQUEUE_BACKOFF_BASE_SECONDS={base!r} is greater than TASKQUEUE_BACKOFF_MAX_SECONDS={maximum!r}"
        )
    return Backoff(base_seconds=base, max_seconds=maximum)


@dataclass(frozen=True)
class ConsumerConfig:
    """Settings of the scheduled consumer."""

    queue_url: str
    worker_function: str
    max_concurrency: int = 4
    # Receive loops kept while the queue is quiet. Under a backlog a run adds loops up to its worker slots
    # (taskqueue.receive_scaling): one loop's receives, one at a time, cap how fast it feeds its workers.
    receivers: int = 1
    batch_size: int = SQS_MAX_RECEIVE_BATCH
    wait_time_seconds: int = SQS_MAX_WAIT_TIME_SECONDS
    mode: str = "drain"
    # On a trickle, wait up to this long for a fuller batch before receiving (0: receive at once).
    batching_window_seconds: float = 0.0
    worker_timeout_seconds: float = 60.0
    # Kept free at the end of the budget for deletes, releases and the response.
    time_margin_seconds: float = 2.0
    max_invoke_payload_bytes: int = LAMBDA_MAX_SYNC_PAYLOAD_BYTES
    backoff: Backoff = field(default_factory=Backoff)
    # One queue per priority (the module's priorities), queue_url the default priority's; None: one queue.
    priorities: Priorities | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsumerConfig:
        env = os.environ if env is None else env
        mode = _choice(env, "TASKQUEUE_MODE", cls.mode, MODES)
        config = cls(
            queue_url=_required(env, "TASKQUEUE_QUEUE_URL"),
            worker_function=_required(env, "TASKQUEUE_WORKER_FUNCTION"),
            max_concurrency=_int(env, "TASKQUEUE_MAX_CONCURRENCY", cls.max_concurrency, 1, 1000),
            receivers=_int(env, "TASKQUEUE_RECEIVERS", cls.receivers, 1, MAX_RECEIVERS),
            batch_size=_int(env, "TASKQUEUE_BATCH_SIZE", cls.batch_size, 1, SQS_MAX_RECEIVE_BATCH),
            wait_time_seconds=_int(
                env, "TASKQUEUE_WAIT_TIME_SECONDS", DEFAULT_WAIT_TIME_SECONDS[mode], 0, SQS_MAX_WAIT_TIME_SECONDS
            ),
            mode=mode,
            batching_window_seconds=_float(
                env,
                "TASKQUEUE_BATCHING_WINDOW_SECONDS",
                DEFAULT_BATCHING_WINDOW_SECONDS[mode],
                0,
                MAX_BATCHING_WINDOW_SECONDS,
            ),
            worker_timeout_seconds=_float(
                env, "TASKQUEUE_WORKER_TIMEOUT_SECONDS", cls.worker_timeout_seconds, 1, LAMBDA_MAX_TIMEOUT_SECONDS
            ),
            time_margin_seconds=_float(env, "TASKQUEUE_TIME_MARGIN_SECONDS", cls.time_margin_seconds, 0, 60),
            max_invoke_payload_bytes=_int(
                env,
                "TASKQUEUE_MAX_INVOKE_PAYLOAD_BYTES",
                cls.max_invoke_payload_bytes,
                1024,
                LAMBDA_MAX_SYNC_PAYLOAD_BYTES,
            ),
            backoff=backoff_from_env(env),
            priorities=priorities_from_env(env, _required(env, "TASKQUEUE_QUEUE_URL")),
        )
        if config.receivers > config.max_concurrency:
            raise ConfigError(
                f"TASKQUEUE_RECEIVERS={config.receivers} is more than TASKQUEUE_MAX_CONCURRENCY="
                f"{config.max_concurrency}: a receive waits for a free worker slot, so the extra loops would only wait"
            )
        if config.mode == "continuous" and config.wait_time_seconds == 0:
            raise ConfigError(
                "TASKQUEUE_WAIT_TIME_SECONDS=0 with TASKQUEUE_MODE='continuous' would poll an empty queue in a "
                "busy loop: use a long poll of 1-20 seconds"
            )
        return config

    def to_env(self) -> dict[str, str]:
        """The ``TASKQUEUE_*`` variables that :meth:`from_env` reads back into this configuration."""
        return {
            "TASKQUEUE_QUEUE_URL": self.queue_url,
            "TASKQUEUE_WORKER_FUNCTION": self.worker_function,
            "TASKQUEUE_MAX_CONCURRENCY": str(self.max_concurrency),
            "TASKQUEUE_RECEIVERS": str(self.receivers),
            "TASKQUEUE_BATCH_SIZE": str(self.batch_size),
            "TASKQUEUE_WAIT_TIME_SECONDS": str(self.wait_time_seconds),
            "TASKQUEUE_MODE": self.mode,
            "TASKQUEUE_BATCHING_WINDOW_SECONDS": repr(float(self.batching_window_seconds)),
            "TASKQUEUE_WORKER_TIMEOUT_SECONDS": repr(float(self.worker_timeout_seconds)),
            "TASKQUEUE_TIME_MARGIN_SECONDS": repr(float(self.time_margin_seconds)),
            "TASKQUEUE_MAX_INVOKE_PAYLOAD_BYTES": str(self.max_invoke_payload_bytes),
            **_backoff_env(self.backoff),
            **_priorities_env(self.priorities),
        }


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of the worker."""

    dlq_url: str
    task_modules: tuple[str, ...] = ()
    idempotency_table: str | None = None
    idempotency_ttl_seconds: int = 86_400
    # A DynamoDB table (the module's idempotency table) where failed attempts are counted, so that a
    # receive that did not run the task (a FIFO message held back behind its group) is not an attempt.
    attempts_table: str | None = None
    # No consumer in front: the worker sets its retry delays itself (TASKQUEUE_APPLY_BACKOFF, the variable
    # the Terraform module sets in event-source-mapping mode).
    behind_event_source_mapping: bool = False
    queue_url: str | None = None
    log_payload: bool = False
    # The queue's maxReceiveCount: SQS moves a message received more often to the DLQ (with no reason).
    max_receive_count: int | None = None
    # Attempts a task gets unless it sets its own (default: max_receive_count): a task failing on its
    # last attempt is dead-lettered by the worker with its error. Counting attempts (attempts_table), a
    # FIFO queue's max_receive_count should leave room above it for receives that did not run the task.
    max_attempts: int | None = None
    backoff: Backoff = field(default_factory=Backoff)
    # Behind event source mappings with priorities: the queues, to settle each record on its own.
    priorities: Priorities | None = None
    # How many tasks of a batch may run at once when they can (async def, threads=True); None: the batch's
    # size, at most WORKER_MAX_TASK_CONCURRENCY.
    task_concurrency: int | None = None
    # The DynamoDB table of rate buckets and key leases (taskqueue.flow_control): set by the module's
    # flow_control = true; a task declaring a limit without it fails the worker's start.
    flow_control_table: str | None = None
    # Task status (taskqueue.status): the table (the module's), which tasks ("off", "opted_in", "all") and
    # how long a record outlives its last write.
    status_table: str | None = None
    track_status: str = "off"
    status_ttl_seconds: int = 30 * 86_400

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        env = os.environ if env is None else env
        modules = tuple(part.strip() for part in (_raw(env, "TASKQUEUE_TASKS") or "").split(",") if part.strip())
        for module in modules:
            if not all(piece.isidentifier() for piece in module.split(".")):
                raise ConfigError(f"TASKQUEUE_TASKS={env.get('TASKQUEUE_TASKS')!r}: {module!r} is not a module name")
        behind_event_source_mapping = _bool(env, "TASKQUEUE_APPLY_BACKOFF", cls.behind_event_source_mapping)
        queue_url = _raw(env, "TASKQUEUE_QUEUE_URL")
        max_receive_count = _optional_int(env, "TASKQUEUE_MAX_RECEIVE_COUNT", 1, SQS_MAX_RECEIVE_COUNT)
        max_attempts = _optional_int(env, "TASKQUEUE_MAX_ATTEMPTS", 1, SQS_MAX_RECEIVE_COUNT)
        if max_attempts is not None and max_receive_count is not None and max_attempts > max_receive_count:
            raise ConfigError(
                f"TASKQUEUE_MAX_ATTEMPTS={max_attempts} is more than TASKQUEUE_MAX_RECEIVE_COUNT={max_receive_count}: "
                "SQS would dead-letter a message before its last attempt"
            )
        if behind_event_source_mapping and queue_url is None:
            raise ConfigError("TASKQUEUE_APPLY_BACKOFF=true needs TASKQUEUE_QUEUE_URL to be set")
        status_table = _raw(env, "TASKQUEUE_STATUS_TABLE")
        track_status = _choice(env, "TASKQUEUE_TRACK_STATUS", "all" if status_table else "off", TRACK_MODES)
        if track_status != "off" and status_table is None:
            raise ConfigError(f"TASKQUEUE_TRACK_STATUS={track_status!r} needs TASKQUEUE_STATUS_TABLE to be set")
        return cls(
            dlq_url=_required(env, "TASKQUEUE_DLQ_URL"),
            task_modules=modules,
            idempotency_table=_raw(env, "TASKQUEUE_IDEMPOTENCY_TABLE"),
            idempotency_ttl_seconds=_int(
                env, "TASKQUEUE_IDEMPOTENCY_TTL_SECONDS", cls.idempotency_ttl_seconds, 60, 366 * 86_400
            ),
            attempts_table=_raw(env, "TASKQUEUE_ATTEMPTS_TABLE"),
            behind_event_source_mapping=behind_event_source_mapping,
            queue_url=queue_url,
            log_payload=_bool(env, "TASKQUEUE_LOG_PAYLOAD", cls.log_payload),
            max_receive_count=max_receive_count,
            max_attempts=max_attempts,
            backoff=backoff_from_env(env),
            priorities=priorities_from_env(env, queue_url),
            task_concurrency=_optional_int(env, "TASKQUEUE_TASK_CONCURRENCY", 1, WORKER_MAX_TASK_CONCURRENCY),
            flow_control_table=_raw(env, FLOW_CONTROL_TABLE_ENV),
            status_table=status_table,
            track_status=track_status,
            status_ttl_seconds=_int(env, "TASKQUEUE_STATUS_TTL_SECONDS", cls.status_ttl_seconds, 3600, 366 * 86_400),
        )

    def to_env(self) -> dict[str, str]:
        """The ``TASKQUEUE_*`` variables that :meth:`from_env` reads back into this configuration."""
        env = {
            "TASKQUEUE_DLQ_URL": self.dlq_url,
            "TASKQUEUE_IDEMPOTENCY_TTL_SECONDS": str(self.idempotency_ttl_seconds),
            "TASKQUEUE_APPLY_BACKOFF": "true" if self.behind_event_source_mapping else "false",
            "TASKQUEUE_LOG_PAYLOAD": "true" if self.log_payload else "false",
            **_backoff_env(self.backoff),
            **_priorities_env(self.priorities),
        }
        optional = {
            "TASKQUEUE_TASKS": ",".join(self.task_modules) or None,
            "TASKQUEUE_IDEMPOTENCY_TABLE": self.idempotency_table,
            "TASKQUEUE_ATTEMPTS_TABLE": self.attempts_table,
            FLOW_CONTROL_TABLE_ENV: self.flow_control_table,
            "TASKQUEUE_QUEUE_URL": self.queue_url,
            "TASKQUEUE_MAX_RECEIVE_COUNT": None if self.max_receive_count is None else str(self.max_receive_count),
            "TASKQUEUE_MAX_ATTEMPTS": None if self.max_attempts is None else str(self.max_attempts),
            "TASKQUEUE_TASK_CONCURRENCY": None if self.task_concurrency is None else str(self.task_concurrency),
            "TASKQUEUE_STATUS_TABLE": self.status_table,
            "TASKQUEUE_TRACK_STATUS": self.track_status if self.status_table else None,
            "TASKQUEUE_STATUS_TTL_SECONDS": str(self.status_ttl_seconds) if self.status_table else None,
        }
        return env | {name: value for name, value in optional.items() if value is not None}

    def queue_url_of(self, queue_arn: str | None) -> str | None:
        """The queue a record came from, by its eventSourceARN: with priorities, each mapping's own queue."""
        if self.priorities is not None and queue_arn:
            return self.priorities.queue_url_for_arn(queue_arn) or self.queue_url
        return self.queue_url


def _backoff_env(backoff: Backoff) -> dict[str, str]:
    return {
        "TASKQUEUE_BACKOFF_BASE_SECONDS": repr(float(backoff.base_seconds)),
        "TASKQUEUE_BACKOFF_MAX_SECONDS": repr(float(backoff.max_seconds)),
    }
