"""What every scenario runs against: one deployed task queue on the local stack.

A :class:`Deployment` names the queue and its dead-letter queue, the worker (and, in schedule mode, the
consumer), where the emulator and the local Lambda endpoint answer, and where the functions' logs go.
The Terraform-applied stack (``terraform_stack``) and the direct harness (``direct_stack``) both produce
one; it is immutable, so a scenario cannot change what it runs against halfway.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskqueue.operations.queue_attributes import queue_depths
from taskqueue.producer import TaskQueue
from taskqueue.schedules import SchedulingConfig
from taskqueue.status import StatusTable
from taskqueue_local.deployment.outcomes import WorkerLog
from taskqueue_local.infrastructure.clients import Endpoints

# The module's trigger modes (its trigger_mode input).
SCHEDULE = "schedule"
EVENT_SOURCE_MAPPING = "event_source_mapping"
TRIGGER_MODES = (SCHEDULE, EVENT_SOURCE_MAPPING)


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str
    max_receive_count: int

    @classmethod
    def read(cls, sqs: Any, url: str, dlq_url: str) -> Queues:
        """The queue and its DLQ as SQS describes them (the redrive policy gives the receive count)."""
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
        return cls(url, attributes["QueueArn"], dlq_url, dlq_arn, int(redrive.get("maxReceiveCount", 0)))


@dataclass(frozen=True)
class Deployment:
    name: str
    trigger_mode: str
    queues: Queues
    worker_function: str
    # None in schedule mode too when the scenario runs the consumer in its own process.
    consumer_function: str | None
    endpoints: Endpoints
    logs_dir: Path
    # Where the producer schedules tasks due later than SQS can delay them (None: the example has none),
    # and how much faster than the wall the local stack runs those schedules.
    scheduling: SchedulingConfig | None = None
    schedule_speedup: float = 1.0
    status_table: str | None = None  # the module's status table (its track_status), None when off

    def __post_init__(self) -> None:
        if self.trigger_mode not in TRIGGER_MODES:
            raise ValueError(f"trigger_mode={self.trigger_mode!r} is not one of {', '.join(TRIGGER_MODES)}")
        if self.trigger_mode == EVENT_SOURCE_MAPPING and self.consumer_function is not None:
            raise ValueError(
                f"deployment {self.name!r}: trigger_mode={EVENT_SOURCE_MAPPING!r} has no consumer, "
                f"got consumer_function={self.consumer_function!r}"
            )

    def client(self, service: str, *, direct: bool = False, **config: Any) -> Any:
        """A boto3 client for this deployment (see :meth:`Endpoints.client`)."""
        return self.endpoints.client(service, direct=direct, **config)

    @property
    def worker_log(self) -> WorkerLog:
        return WorkerLog(self.logs_dir / f"{self.worker_function}.log")

    def producer(self) -> TaskQueue:
        """The producer of this deployment's tasks, as an application would build it: with the Scheduler
        for tasks due beyond SQS's 900 s where the example schedules."""
        status = (
            None
            if self.status_table is None
            else StatusTable(self.status_table, dynamodb_client=self.client("dynamodb"))
        )
        if self.scheduling is None:
            return TaskQueue(self.queues.url, sqs=self.client("sqs"), status=status)
        return TaskQueue(
            self.queues.url,
            sqs=self.client("sqs"),
            scheduler=self.client("scheduler"),
            scheduling=self.scheduling,
            queue_arn=self.queues.arn,
            status=status,
        )

    @functools.cached_property
    def _depth_sqs(self) -> Any:
        # Scenarios poll the depth every half second: one client for it, not one per call.
        return self.client("sqs", direct=True)

    def depth(self, url: str | None = None) -> int:
        """Messages visible, in flight and delayed in the queue (or in ``url``)."""
        return sum(queue_depths(self._depth_sqs, url or self.queues.url).values())
