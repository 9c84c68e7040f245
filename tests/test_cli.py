"""``python -m taskqueue``: enqueue, stats and redrive, against a moto server over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskqueue.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def journal_home(tmp_path, monkeypatch):
    """The redrive journal lives under $XDG_STATE_HOME: keep it in the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def queue_pair(server_sqs):
    dlq = server_sqs.create_queue(QueueName="cli-dlq")["QueueUrl"]
    dlq_arn = server_sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url = server_sqs.create_queue(QueueName="cli", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return url, dlq


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskqueue", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT / "functions")},
        timeout=60,
        check=False,
    )


def test_enqueue_and_stats_as_a_command(queue_pair, moto_server):
    import os

    url, _ = queue_pair
    env = {**os.environ, "TASKQUEUE_QUEUE_URL": url}
    sent = run_cli("enqueue", "checksum", "--payload", '{"text": "hi"}', "--id", "a1", env=env)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["message_id"]

    stats = run_cli("stats", env=env)
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    assert counts["queue"]["ApproximateNumberOfMessages"] == 1
    assert counts["dead_letter_queue"]["url"].endswith("/cli-dlq")

    bad = run_cli("enqueue", "checksum", "--payload", "{not json", env=env)
    assert bad.returncode == 2 and "--payload is not JSON" in bad.stderr


def test_redrive_moves_dead_letters_back_without_the_reason_attributes(queue_pair, server_sqs, capsys):
    url, dlq = queue_pair
    for n in range(12):
        server_sqs.send_message(
            QueueUrl=dlq,
            MessageBody=json.dumps({"task": "t", "payload": n}),
            MessageAttributes={
                "taskqueue.reason": {"DataType": "String", "StringValue": "permanent_error"},
                "trace": {"DataType": "String", "StringValue": str(n)},
            },
        )
    assert main(["redrive", "--queue-url", url], sqs=server_sqs) == 0
    result = json.loads(capsys.readouterr().out)
    # The emulator has no StartMessageMoveTask: the CLI falls back to copying.
    assert result == {"method": "copy", "moved": 12, "task_handle": None}
    moved = []
    while batch := server_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages"
    ):
        moved += batch
    assert sorted(json.loads(m["Body"])["payload"] for m in moved) == list(range(12))
    assert all(set(m["MessageAttributes"]) == {"trace"} for m in moved)
    assert "Messages" not in server_sqs.receive_message(QueueUrl=dlq)


def test_cli_needs_a_queue(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["stats"])
    assert raised.value.code == 2
    assert "--queue-url is required" in capsys.readouterr().err
