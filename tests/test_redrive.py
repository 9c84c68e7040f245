"""``python -m taskqueue redrive``: the copy path (no move task) within SQS's batch limits, and the pairing
of the queue with its DLQ (issue 10, defect 9 and the redrive suspicion)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from taskqueue.operations.cli import main

LARGE_BODY_BYTES = 110 * 1024


@pytest.fixture(autouse=True)
def journal_home(tmp_path, monkeypatch):
    """The redrive journal lives under $XDG_STATE_HOME: keep it in the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def send_large_dead_letters(sqs, dlq_url: str, count: int) -> None:
    for n in range(count):
        body = json.dumps({"task": "big", "payload": f"{n:02d}" + "x" * LARGE_BODY_BYTES})
        sqs.send_message(QueueUrl=dlq_url, MessageBody=body)


def drain(sqs, url: str) -> list[dict]:
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages"
    ):
        received += batch
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return received


def payload_tags(messages: list[dict]) -> list[str]:
    return sorted(json.loads(m["Body"])["payload"][:2] for m in messages)


def test_copy_sends_ten_large_dead_letters_in_batches_within_one_mib(sqs, queues, capsys):
    send_large_dead_letters(sqs, queues.dlq_url, 10)

    code = main(["redrive", "--copy", "--queue-url", queues.url], sqs=sqs)

    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["moved"] == 10
    assert payload_tags(drain(sqs, queues.url)) == [f"{n:02d}" for n in range(10)]
    assert drain(sqs, queues.dlq_url) == []


def test_copy_failing_midway_releases_what_it_could_not_send_and_exits_non_zero(sqs, queues, capsys):
    send_large_dead_letters(sqs, queues.dlq_url, 10)
    calls = []

    def fail_second_send(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "SendMessageBatch")

    sqs.meta.events.register("before-call.sqs.SendMessageBatch", fail_second_send)
    code = main(["redrive", "--copy", "--queue-url", queues.url], sqs=sqs)

    output = capsys.readouterr()
    assert code == 1
    assert json.loads(output.out)["moved"] == 9  # 9 x 110 KB fit in one 1 MiB batch; the tenth did not go
    assert "ServiceUnavailable" in output.err
    # Released at once, not left in flight: a rerun right away moves it.
    sqs.meta.events.unregister("before-call.sqs.SendMessageBatch", fail_second_send)
    assert main(["redrive", "--copy", "--queue-url", queues.url], sqs=sqs) == 0
    assert json.loads(capsys.readouterr().out)["moved"] == 1
    assert payload_tags(drain(sqs, queues.url)) == [f"{n:02d}" for n in range(10)]


def test_redrive_refuses_a_dlq_that_is_not_the_queues_dlq(sqs, make_queues, capsys):
    first = make_queues("first")
    second = make_queues("second")
    sqs.send_message(QueueUrl=second.dlq_url, MessageBody=json.dumps({"task": "t"}))

    code = main(["redrive", "--copy", "--queue-url", first.url, "--dlq-url", second.dlq_url], sqs=sqs)

    assert code == 2
    error = capsys.readouterr().err
    assert second.dlq_arn in error and first.dlq_arn in error
    assert drain(sqs, first.url) == []
    assert len(drain(sqs, second.dlq_url)) == 1
