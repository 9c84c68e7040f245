"""The local stack's fixes to moto (taskqueue_local.infrastructure.emulator), seen over HTTP as Terraform sees them."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.aws_settings import REGION


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_create_function_sent_again_identical_is_answered_as_the_first(moto_server):
    # The provider's SDK resends a CreateFunction whose answer it lost; moto answered 409, which the provider
    # retried for five minutes before failing the local stack's apply (seen failing here with the 409).
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_server)
    role = iam.create_role(
        RoleName="create-retry",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=REGION, endpoint_url=moto_server)
    spec = {
        "FunctionName": "create-retry",
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "handler.handler",
        "Code": {"ZipFile": _zip()},
    }
    first = lambda_client.create_function(**spec, Publish=True)
    lambda_client.update_function_configuration(FunctionName="create-retry", Timeout=30)
    again = lambda_client.create_function(**spec, Publish=True)
    # The first answer as it was: its published version, and the settings it had then.
    drop = ("ResponseMetadata",)
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in first.items() if k not in drop}
    assert again["Version"] == "1" and again["Timeout"] == first["Timeout"] != 30
    # Another function by the same name is still a conflict, as on AWS.
    with pytest.raises(ClientError) as conflict:
        lambda_client.create_function(**{**spec, "Description": "another"}, Publish=True)
    assert conflict.value.response["Error"]["Code"] == "ResourceConflictException"


def test_a_receive_does_not_compute_the_queues_attributes_for_each_message(server_sqs, monkeypatch):
    """moto checks each received message against the retention period by computing every attribute of its
    queue, each a scan of all its messages: a receive of 10 cost 20 scans of the queue, and at the
    benchmark's backlog of 200 the emulator drained 60 tasks/s. The check reads the period alone."""
    from moto.sqs.models import Queue

    url = server_sqs.create_queue(QueueName="retention-scan")["QueueUrl"]
    for batch in range(5):
        entries = [{"Id": str(i), "MessageBody": f"{batch}-{i}"} for i in range(10)]
        server_sqs.send_message_batch(QueueUrl=url, Entries=entries)
    computed = []
    attributes = Queue.attributes

    def counted(queue):
        computed.append(queue.name)
        return attributes.fget(queue)

    monkeypatch.setattr(Queue, "attributes", property(counted))
    messages = server_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 10
    assert computed == []


def test_a_message_past_the_retention_period_is_not_received(server_sqs):
    """The retention check above keeps moto's rule: a message older than its queue's period is not handed out."""
    url = server_sqs.create_queue(QueueName="retention-past", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    server_sqs.send_message(QueueUrl=url, MessageBody="kept")
    from moto.sqs.models import sqs_backends

    (queue,) = [
        q
        for backend in sqs_backends.values()
        for region in backend.values()
        for q in region.queues.values()
        if q.name == "retention-past"
    ]
    queue._messages[0].sent_timestamp -= 61_000  # sent 61 s ago, past its 60 s
    assert server_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
