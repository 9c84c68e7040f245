"""The worker Lambda's entry point: :func:`handler` (``taskqueue.worker.handler``).

It builds the worker once per execution environment (its configuration, task modules, idempotency layer
and attempts ledger) and hands each batch to :class:`taskqueue.batch.loop.Worker`, whose package holds the
batch's handling one concern per module (:mod:`taskqueue.batch`).

A worker that cannot start (its task modules fail to import) runs no task: it counts WorkerStartFailed,
logs its error in full, holds each record back for its backoff, and dead-letters one on its last receive
with the reason ``worker_cannot_start``; an empty batch (a start probe) raises :class:`WorkerCannotStart`.
A bad configuration raises it for every batch: with no configuration there is no DLQ to say why with.
"""

from __future__ import annotations

import functools
import gc
import traceback
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from taskqueue import concurrency, status
from taskqueue.attempts import AttemptLedger
from taskqueue.batch import log
from taskqueue.batch.log import describe
from taskqueue.batch.loop import WORKER_CANNOT_START_MESSAGE, Worker
from taskqueue.batch.release import NotRun, OutOfTime
from taskqueue.config import ConfigError, WorkerConfig
from taskqueue.errors import WorkerCannotStart
from taskqueue.flow_control.gate import FlowGate, check_configured
from taskqueue.metrics import MetricsLine
from taskqueue.observability import ERROR, TASKS, WORKER_START_FAILED
from taskqueue.registry import TaskRegistry, default_registry, import_task_modules
from taskqueue.telemetry import service_name

if TYPE_CHECKING:
    from taskqueue.worker_status import WorkerStatus

# The worker's first line in an execution environment (DEBUG level), with the names of its tasks.
WORKER_STARTED_MESSAGE = "worker started"
# The worker's logger (taskqueue.batch.log.logger), under the name callers know.
logger = log.logger
# What makes the batch's metrics line a log line too (Lambda's JSON log format filters by "level").
BATCH_SUMMARY = {"level": "INFO", "message": "batch done"}


def _cannot_start(what: str, error: BaseException) -> WorkerCannotStart:
    """The start failure, with the cause's traceback in its message: Lambda's error and the consumer's log
    line then show where the task module failed, not only that it did."""
    trace = "".join(traceback.format_exception(error)).rstrip()
    failure = WorkerCannotStart(f"{what}: {describe(error)}\n{trace}")
    failure.__cause__ = error
    return failure


def _config_and_sqs() -> tuple[WorkerConfig, Any]:
    """Not cached on its own: the worker that was built from it is (a worker that cannot start builds it again)."""
    try:
        config = WorkerConfig.from_env()
    except ConfigError as error:
        raise _cannot_start("bad configuration", error) from error
    pool = concurrency.connection_pool_size(config.task_concurrency)
    return config, boto3.client("sqs", config=Config(retries={"mode": "standard"}, max_pool_connections=pool))


def _table_client_config(config: WorkerConfig) -> Config:
    """A DynamoDB client's settings: as many pooled connections as tasks may run at once (each lane makes
    its own table calls; botocore keeps 10 by default and opens, then drops, any more)."""
    return Config(max_pool_connections=concurrency.connection_pool_size(config.task_concurrency))


@functools.cache
def _worker() -> Worker:
    """Built once per execution environment. One that cannot start is not cached: each invocation tries again."""
    config, sqs = _config_and_sqs()
    try:
        import_task_modules(config.task_modules, config.max_receive_count)
        idempotency = None
        if config.idempotency_table:
            # Imported only where configured: Powertools' idempotency utility costs a cold start time.
            from taskqueue.idempotency import IdempotentRunner  # noqa: PLC0415

            idempotency = IdempotentRunner(
                config.idempotency_table, config.idempotency_ttl_seconds, client_config=_table_client_config(config)
            )
        check_configured(default_registry.tasks(), config.flow_control_table, config.attempts_table)
        limited = config.flow_control_table is not None and any(t.flow for t in default_registry.tasks())
        # One client for the module's tables (attempts, flow control, status), its pool sized for the lanes.
        dynamodb = _table_client(config) if config.attempts_table or limited or _tracks_status(config) else None
        ledger = AttemptLedger(config.attempts_table, dynamodb) if config.attempts_table else None
        flow = FlowGate(str(config.flow_control_table), dynamodb) if limited else None
    except Exception as error:
        raise _cannot_start(f"the task modules TASKQUEUE_TASKS={','.join(config.task_modules)!r}", error) from error
    log.logger.debug(WORKER_STARTED_MESSAGE, extra={TASKS: default_registry.names()})
    task_status = _task_status(config, dynamodb)
    worker = Worker(config, sqs, default_registry, idempotency, ledger, flow=flow, task_status=task_status)
    # What the start built (modules, clients, tasks) lives as long as the environment: kept out of the
    # collector's full passes, each of which would otherwise walk all of it (tens of ms) inside some batch,
    # or while the lane threads start.
    gc.freeze()
    worker.prepare_concurrency()
    return worker


def _table_client(config: WorkerConfig) -> Any:
    return boto3.client("dynamodb", config=_table_client_config(config))


def _tracks_status(config: WorkerConfig) -> bool:
    return bool(config.status_table) and config.track_status != status.TRACK_OFF


def _task_status(config: WorkerConfig, dynamodb: Any | None = None) -> WorkerStatus | None:
    """Where the worker writes task status, when the module tracks it (``TASKQUEUE_TRACK_STATUS``)."""
    if not _tracks_status(config):
        return None
    from taskqueue.worker_status import WorkerStatus  # noqa: PLC0415 - only where the module tracks

    table = status.StatusTable(
        str(config.status_table), config.status_ttl_seconds, dynamodb if dynamodb is not None else _table_client(config)
    )
    return WorkerStatus(table, config.track_status, log.logger)


def _worker_that_cannot_start(failure: WorkerCannotStart, metrics: MetricsLine) -> Worker:
    """A worker that runs no task, for a batch that arrived while the worker cannot start."""
    try:
        config, sqs = _config_and_sqs()
    except WorkerCannotStart as bad_configuration:
        metrics.count(WORKER_START_FAILED)
        log.logger.error(WORKER_CANNOT_START_MESSAGE, extra={ERROR: str(bad_configuration)})
        raise
    # Its dead letters (worker_cannot_start) are written to the tasks' status too (under track_status "all":
    # a worker that cannot start knows no task's own choice).
    return Worker(config, sqs, TaskRegistry(), start_failure=failure, task_status=_task_status(config))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    log.logger.bind(context)
    metrics = MetricsLine(service_name("worker"))
    try:
        try:
            worker = _worker()
        except WorkerCannotStart as failure:
            worker = _worker_that_cannot_start(failure, metrics)
        return worker.handle(event, context, metrics)
    finally:
        # The batch's one line: its metrics (EMF), whose counts per task are its summary. Successes are
        # counted there, not logged one by one.
        metrics.flush(BATCH_SUMMARY)


__all__ = [
    "WORKER_CANNOT_START_MESSAGE",
    "WORKER_STARTED_MESSAGE",
    "NotRun",
    "OutOfTime",
    "Worker",
    "WorkerCannotStart",
    "handler",
    "logger",
]
