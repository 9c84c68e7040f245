"""The long-running half of the local stack: the Lambda endpoint, the rules' scheduler and the schedule runner."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from taskqueue_local.lambda_endpoint import LambdaEndpoint
from taskqueue_local.lambda_service import ArtifactIndex, LocalLambda
from taskqueue_local.runtime_layer import ensure_boto3_layer
from taskqueue_local.schedule_runner import ScheduleRunner
from taskqueue_local.scheduler import ScheduledTarget, Scheduler, scheduled_targets
from taskqueue_local.stack import CREDENTIALS, local_client

log = logging.getLogger("taskqueue_local")


def serve(
    emulator_url: str,
    port: int,
    artifacts: list[Path],
    speedup: float,
    work_dir: Path,
    stop: threading.Event,
    schedule_speedup: float | None = None,
) -> None:
    """``speedup`` scales the rules (the consumer's schedule); ``schedule_speedup`` (default: the same)
    EventBridge Scheduler's schedules."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    control = local_client("lambda", emulator_url)
    layer = ensure_boto3_layer()
    service = LocalLambda(control, ArtifactIndex(artifacts), work_dir, {}, [layer])
    endpoint = LambdaEndpoint(service, emulator_url, port=port)
    # What Lambda gives every function: credentials, and here the emulator's and our endpoints.
    service.function_environment = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": emulator_url,
        "AWS_ENDPOINT_URL_LAMBDA": endpoint.url,
    }
    targets = scheduled_targets(local_client("events", emulator_url), control)
    for target in targets:
        log.info(
            "schedule %s (%s) -> %s, every %.1f s",
            target.rule_name,
            target.schedule,
            target.function_arn,
            target.period_seconds / speedup,
        )

    def fire(target: ScheduledTarget, event: bytes) -> None:
        log.info("rule %s fired", target.rule_name)
        endpoint.invoke_async(target.function_arn, event)

    scheduler = Scheduler(targets, fire, speedup)
    schedule_speedup = speedup if schedule_speedup is None else schedule_speedup
    runner = ScheduleRunner(
        local_client("scheduler", emulator_url), local_client("sqs", emulator_url), schedule_speedup
    )
    endpoint.start()
    try:
        scheduler.start()
        runner.start()
        log.info(
            "Lambda endpoint listening on %s; EventBridge Scheduler schedules run %gx faster",
            endpoint.url,
            schedule_speedup,
        )
        stop.wait()
    finally:
        # Also when a signal ends the wait (taskqueue_local.shutdown): the endpoint stops its environments.
        runner.stop()
        scheduler.stop()
        endpoint.stop()
