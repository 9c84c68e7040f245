from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from taskqueue_local.deployment.deployment import Queues
from tests.support.aws_settings import REGION, STATE_TABLE
from tests.support.model_profiles import load_profile

# Every @given runs in the selected profile: derandomized in make test, exploring in make soak.
load_profile()

# The longest test files, longest first. make test runs a file on one of two workers at a time
# (--dist loadfile --no-loadscope-reorder, which keeps this order): started first, they run beside the many
# short ones, instead of last (xdist's own order, by number of tests, put the terraform apply, the local
# stack and the soak at the end), each a long tail on one worker while the other has nothing left.
# Measured in one run here (2 cores, loaded): 440, 281, 199, 175, 134 and 118 s of 1,804 s in all. That run's
# durations replayed through xdist's schedule: workers end at 956 s and 849 s in the old order, at 911 s
# and 894 s in this one (half the total is 902 s). Keep it measured: `--durations` or `--junitxml`.
LONGEST_FILES_FIRST = (
    "test_terraform.py",
    "test_local_stack.py",
    "test_process_cleanup.py",
    "test_terraform_apply.py",
    "test_quickstart.py",
    "test_build.py",
    "test_soak.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's own order kept


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches a real AWS account or reads this machine's AWS or TASKQUEUE settings."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "TASKQUEUE_", "POWERTOOLS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture
def make_queues(sqs: Any) -> Callable[..., Queues]:
    """Creates a queue and its DLQ, wired by a redrive policy, like the Terraform module does."""

    def make(name: str = "tasks", fifo: bool = False, max_receive_count: int = 3, **attributes: str) -> Queues:
        suffix = ".fifo" if fifo else ""
        kind = {"FifoQueue": "true"} if fifo else {}
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=kind)["QueueUrl"]
        dlq_arn = _arn(sqs, dlq_url)
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        url = sqs.create_queue(
            QueueName=f"{name}{suffix}",
            Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30", **kind, **attributes},
        )["QueueUrl"]
        return Queues(url, _arn(sqs, url), dlq_url, dlq_arn, max_receive_count)

    return make


@pytest.fixture
def queues(make_queues: Callable[..., Queues]) -> Queues:
    return make_queues()


@pytest.fixture
def state_table(aws: None) -> Any:
    """The module's DynamoDB table (idempotency records and attempt counts); returns a client for it."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, for code that must reach AWS over HTTP, with the
    local stack's fixes to moto."""
    from moto.server import ThreadedMotoServer

    from taskqueue_local.infrastructure.emulator import apply_fixes

    apply_fixes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def server_sqs(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An SQS client that reaches the moto server through boto3's standard AWS_ENDPOINT_URL setting."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return boto3.client("sqs", region_name=REGION)
