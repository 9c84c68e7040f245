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
