"""The local data plane: Lambda's Invoke run from the built zips, and what invokes or sends on its own:
EventBridge rules on their schedule, the SQS event source mappings, and EventBridge Scheduler's schedules
(tasks due later, periodic tasks) sent to their queues.

``serve`` runs one in a process of its own (the Terraform-applied stack, the benchmark); the direct
harness may run one in its own process, where a run can inject faults into the local Lambda.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from taskqueue_local.infrastructure.clients import function_environment, local_client
from taskqueue_local.infrastructure.event_source_mapping import EventSourceMappings
from taskqueue_local.infrastructure.lambda_endpoint import LambdaEndpoint
from taskqueue_local.infrastructure.lambda_service import ArtifactIndex, LambdaHooks, LocalLambda
from taskqueue_local.infrastructure.processes import free_port
from taskqueue_local.infrastructure.rules import RuleFirer, RuleTarget, rule_targets
from taskqueue_local.infrastructure.runtime_layer import ensure_boto3_layer
from taskqueue_local.infrastructure.schedule_runner import ScheduleRunner

log = logging.getLogger("taskqueue_local")


class DataPlane:
    """``aws_url`` is where the functions' own AWS calls go (the emulator, or a proxy in front of it);
    ``hooks`` go to the local Lambda (see :class:`LambdaHooks`). ``speedup`` runs the rules that many
    times faster; ``schedule_speedup`` (default: the same) the Scheduler's schedules, each from its creation."""

    def __init__(
        self,
        emulator_url: str,
        artifacts: Sequence[Path],
        work_dir: Path,
        *,
        port: int = 0,
        aws_url: str | None = None,
        speedup: float = 1.0,
        schedule_speedup: float | None = None,
        account_concurrency: int = 100,
        poll_event_source_mappings: bool = True,
        hooks: LambdaHooks | None = None,
    ) -> None:
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.speedup = speedup
        aws_url = aws_url or emulator_url
        self.control = local_client("lambda", emulator_url)
        self.service = LocalLambda(
            self.control,
            ArtifactIndex(list(artifacts)),
            work_dir,
            function_environment(aws_url, self.url),
            [ensure_boto3_layer()],
            account_concurrency=account_concurrency,
            hooks=hooks,
        )
        self.endpoint = LambdaEndpoint(self.service, emulator_url, port=port)
        self.events = local_client("events", emulator_url)
        self.mappings = (
            EventSourceMappings(self.control, local_client("sqs", aws_url), self.service.invoke)
            if poll_event_source_mappings
            else None
        )
        self.rules: RuleFirer | None = None
        self.schedule_speedup = speedup if schedule_speedup is None else schedule_speedup
        self.schedules = ScheduleRunner(
            local_client("scheduler", emulator_url), local_client("sqs", aws_url), self.schedule_speedup
        )

    def start(self) -> DataPlane:
        self.endpoint.start()
        targets = rule_targets(self.events, self.control)
        for target in targets:
            log.info(
                "schedule %s (%s) -> %s, every %.1f s",
                target.rule_name,
                target.schedule,
                target.function_arn,
                target.period_seconds / self.speedup,
            )
        self.rules = RuleFirer(targets, self._fire, self.speedup).start()
        if self.mappings is not None:
            self.mappings.start()
        self.schedules.start()
        log.info(
            "Lambda endpoint listening on %s; EventBridge Scheduler schedules run %gx faster",
            self.url,
            self.schedule_speedup,
        )
        return self

    def _fire(self, target: RuleTarget, event: bytes) -> None:
        log.info("rule %s fired", target.rule_name)
        self.endpoint.invoke_async(target.function_arn, event)

    def stop(self) -> None:
        """Stops sending, polling and firing, then the endpoint, which stops the functions' environments."""
        self.schedules.stop()
        if self.mappings is not None:
            self.mappings.stop()
        if self.rules is not None:
            self.rules.stop()
        self.endpoint.stop()
