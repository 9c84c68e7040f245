"""A local stack assembled in-process, without Terraform: for the benchmarks and the soak.

The emulator runs as its own process, the Lambda endpoint in this one; queues, tables and
functions are created directly with boto3, so a run starts in seconds rather than the minute
and a half a Terraform apply takes on the emulator.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskqueue_local.lambda_endpoint import LambdaEndpoint
from taskqueue_local.lambda_service import ArtifactIndex, LocalLambda
from taskqueue_local.runtime_layer import ensure_boto3_layer
from taskqueue_local.stack import CREDENTIALS, local_client, start_emulator, start_lambda_endpoint, stop_process_group


@dataclass
class LambdaContext:
    """Lambda's context object, for functions run in-process; time runs on a real or a fake clock."""

    remaining_seconds: float = 60.0
    function_name: str = "taskqueue-test"
    clock: Callable[[], float] = time.monotonic
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:taskqueue-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/taskqueue-test"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self.clock()) * 1000))


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str
    max_receive_count: int


class Harness:
    """``separate_endpoint`` runs the Lambda endpoint in its own process (``serve``), as the local
    stack does, so that it does not share this process's interpreter lock: the benchmarks want
    that. In-process (the default) allows fault injection into it: the soak wants that."""

    def __init__(
        self, work_dir: Path, artifacts: list[Path], account_concurrency: int = 100, separate_endpoint: bool = False
    ) -> None:
        self.work_dir = work_dir
        self.artifacts = artifacts
        self.account_concurrency = account_concurrency
        self.separate_endpoint = separate_endpoint
        self.emulator_url = ""
        self.aws_url = ""  # what functions and clients use; a fault proxy may stand in front of the emulator
        self.lambda_url = ""
        self._pids: list[int] = []
        self.endpoint: LambdaEndpoint | None = None
        self.service: LocalLambda | None = None

    def __enter__(self) -> Harness:
        log_dir = self.work_dir / "logs"
        pid, self.emulator_url = start_emulator(log_dir)
        self._pids.append(pid)
        self.aws_url = self.emulator_url
        try:
            if self.separate_endpoint:
                pid, self.lambda_url = start_lambda_endpoint(self.emulator_url, self.artifacts, self.work_dir, log_dir)
                self._pids.append(pid)
            else:
                self.service = LocalLambda(
                    self.client("lambda", direct=True),
                    ArtifactIndex(self.artifacts),
                    self.work_dir,
                    {},
                    [ensure_boto3_layer()],
                    account_concurrency=self.account_concurrency,
                )
                self.endpoint = LambdaEndpoint(self.service, self.emulator_url).start()
                self.lambda_url = self.endpoint.url
                self.route_through(self.emulator_url)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def route_through(self, url: str) -> None:
        """Send functions' and clients' AWS calls to ``url`` (the emulator, or a proxy in front of it)."""
        if self.service is None:
            raise RuntimeError("route_through needs the in-process Lambda endpoint")
        self.aws_url = url
        self.service.function_environment = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
        }

    def __exit__(self, *exc: object) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        for pid in reversed(self._pids):
            stop_process_group(pid)

    # -- clients and resources ----------------------------------------------------------------

    def client(self, service: str, direct: bool = False, **config: Any) -> Any:
        """A boto3 client; Lambda goes to the local endpoint unless ``direct`` (the emulator's control plane)."""
        if service == "lambda" and not direct:
            return local_client(service, self.lambda_url, **config)
        return local_client(service, self.emulator_url if direct else self.aws_url, **config)

    def create_queues(self, name: str, max_receive_count: int, visibility_timeout: int = 30) -> Queues:
        sqs = self.client("sqs", direct=True)
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = sqs.create_queue(
            QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout)}
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Queues(url, arn, dlq_url, dlq_arn, max_receive_count)

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
