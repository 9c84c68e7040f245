"""A local stack assembled in-process, without Terraform: for the soak and the benchmark.

The emulator runs as its own process; the data plane (the local Lambda endpoint) either in this
process, where a run can inject faults into it and watch every invocation (the soak), or in its own
process, so that it does not share this interpreter's lock (the benchmark). Queues, tables and
functions are created directly with boto3, so a run starts in seconds rather than the minute and a
half a Terraform apply takes on the emulator. Everything is set when the stack is built: ``front``
(a proxy in front of the emulator, given its URL) and the local Lambda's hooks included.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from taskqueue_local.deployment.deployment import SCHEDULE, Deployment, Queues
from taskqueue_local.infrastructure.clients import Endpoints
from taskqueue_local.infrastructure.data_plane import DataPlane
from taskqueue_local.infrastructure.lambda_service import LambdaHooks, LocalLambda
from taskqueue_local.infrastructure.processes import start_data_plane, start_emulator, stop_process_group


class Front(Protocol):
    """Something that answers in front of the emulator (the soak's fault proxy)."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


class DirectStack:
    def __init__(
        self,
        work_dir: Path,
        artifacts: Sequence[Path],
        *,
        account_concurrency: int = 100,
        separate_data_plane: bool = False,
        front: Callable[[str], Front] | None = None,
        hooks: LambdaHooks | None = None,
    ) -> None:
        if separate_data_plane and (front or (hooks and hooks.any)):
            raise ValueError("a front and the local Lambda's hooks need the data plane in this process")
        self.work_dir = work_dir
        self.artifacts = tuple(artifacts)
        self._account_concurrency = account_concurrency
        self._separate = separate_data_plane
        self._front_factory = front
        self._hooks = hooks
        self._pids: list[int] = []
        self._front: Front | None = None
        self._data_plane: DataPlane | None = None
        self.endpoints = Endpoints("", "")

    def __enter__(self) -> DirectStack:
        log_dir = self.work_dir / "logs"
        try:
            pid, emulator_url = start_emulator(log_dir)
            self._pids.append(pid)
            if self._front_factory is not None:
                self._front = self._front_factory(emulator_url)
            aws_url = self._front.url if self._front else emulator_url
            if self._separate:
                # Its event source mappings, if any, are polled by the run itself (it counts their calls).
                pid, lambda_url = start_data_plane(
                    emulator_url, self.artifacts, self.work_dir, log_dir, poll_event_source_mappings=False
                )
                self._pids.append(pid)
            else:
                self._data_plane = DataPlane(
                    emulator_url,
                    self.artifacts,
                    self.work_dir,
                    aws_url=aws_url,
                    account_concurrency=self._account_concurrency,
                    poll_event_source_mappings=False,
                    hooks=self._hooks,
                ).start()
                lambda_url = self._data_plane.url
            self.endpoints = Endpoints(emulator_url, lambda_url, aws_url)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._data_plane is not None:
            self._data_plane.stop()
        if self._front is not None:
            self._front.stop()
        for pid in reversed(self._pids):
            stop_process_group(pid)

    @property
    def local_lambda(self) -> LocalLambda:
        """The local Lambda of the in-process data plane."""
        if self._data_plane is None:
            raise RuntimeError("the local Lambda runs in this process only without separate_data_plane")
        return self._data_plane.service

    # -- clients and resources ----------------------------------------------------------------

    def client(self, service: str, direct: bool = False, **config: Any) -> Any:
        """A boto3 client of this stack (see :meth:`Endpoints.client`)."""
        return self.endpoints.client(service, direct=direct, **config)

    def create_queues(self, name: str, max_receive_count: int, visibility_timeout: int = 30) -> Queues:
        sqs = self.client("sqs", direct=True)
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = sqs.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout)}
        )["QueueUrl"]
        return Queues.read(sqs, url, dlq_url)

    def create_idempotency_table(self, name: str) -> str:
        self.client("dynamodb", direct=True).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def deploy_function(
        self,
        name: str,
        zip_path: Path,
        handler: str,
        environment: dict[str, str],
        timeout: int,
        reserved_concurrency: int | None = None,
    ) -> str:
        iam = self.client("iam", direct=True)
        role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        control = self.client("lambda", direct=True)
        arn = control.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler=handler,
            Timeout=timeout,
            Code={"ZipFile": zip_path.read_bytes()},
            Environment={"Variables": environment},
            MemorySize=256,
        )["FunctionArn"]
        if reserved_concurrency:
            control.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved_concurrency)
        return str(arn)

    def deployment(
        self, name: str, queues: Queues, worker: str, trigger_mode: str = SCHEDULE, consumer: str | None = None
    ) -> Deployment:
        """The queues and functions created here, as a :class:`Deployment`. In schedule mode without a
        consumer function, the run itself runs the consumer."""
        return Deployment(
            name=name,
            trigger_mode=trigger_mode,
            queues=queues,
            worker_function=worker,
            consumer_function=consumer,
            endpoints=self.endpoints,
            logs_dir=self.work_dir / "logs",
        )
