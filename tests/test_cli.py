"""``python -m taskqueue``: enqueue, stats and redrive, against a moto server over HTTP."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest

from taskqueue.operations.cli import main
from tests.support.aws_settings import REGION

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
    assert main(["stats"]) == 2
    assert "--queue-url is required" in capsys.readouterr().err
    assert main(["dlq", "list"]) == 2
    assert "--queue-url or --dlq-url is required" in capsys.readouterr().err


# -- dlq: the triage commands, against moto in-process ------------------------------------------


def worker_dead_letter(sqs, dlq_url: str, task: str, payload, reason: str = "permanent_error") -> str:
    attributes = {
        "taskqueue.reason": {"DataType": "String", "StringValue": reason},
        "taskqueue.error": {"DataType": "String", "StringValue": f"{task} failed\nTraceback (most recent call last)"},
        "taskqueue.task": {"DataType": "String", "StringValue": task},
        "trace": {"DataType": "String", "StringValue": f"trace-{payload}"},
    }
    body = json.dumps({"task": task, "payload": payload})
    return sqs.send_message(QueueUrl=dlq_url, MessageBody=body, MessageAttributes=attributes)["MessageId"]


@pytest.fixture
def filled(sqs, queues):
    ids = [worker_dead_letter(sqs, queues.dlq_url, "charge", n) for n in range(3)]
    ids.append(worker_dead_letter(sqs, queues.dlq_url, "report", 9, reason="retries_exhausted"))
    return ids


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_dlq_list_prints_json_lines_off_a_terminal(sqs, queues, filled, capsys):
    assert main(["dlq", "list", "--queue-url", queues.url, "--reason", "permanent_error", "--limit", "2"], sqs=sqs) == 0
    *rows, summary = json_lines(capsys.readouterr().out)
    assert [row["kind"] for row in rows] == ["dead_letter", "dead_letter"]
    assert {row["task"] for row in rows} == {"charge"} and rows[0]["error"].startswith("charge failed\n")
    assert set(rows[0]) >= {"message_id", "reason", "first_enqueued", "receive_count", "size"}
    assert (summary["kind"], summary["matched"], summary["released"]) == ("summary", 2, 4)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_dlq_list_on_a_terminal_is_a_table_with_rich_and_plain_text_without(sqs, queues, filled, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    for rich_installed in (True, False):
        if not rich_installed:
            for name in [name for name in sys.modules if name.split(".")[0] == "rich"]:
                monkeypatch.setitem(sys.modules, name, None)  # importing rich fails, as without the extra
            monkeypatch.delitem(sys.modules, "taskqueue.operations.rich_output", raising=False)
        terminal = Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        assert main(["dlq", "list", "--dlq-url", queues.dlq_url, "--task", "report"], sqs=sqs) == 0
        shown = terminal.getvalue()
        assert "message id" in shown and "first enqueued" in shown, shown
        assert f"{filled[3]}  report" in shown and "retries_exhausted" in shown and "report failed" in shown
        assert "Traceback" not in shown  # the first line of the error only
        assert "list: read 4 dead letters of about 4, 1 matched" in shown
        assert ("\x1b[" in shown) is rich_installed  # rich styles the terminal; plain text does not


def test_dlq_list_help_says_peeking_raises_the_receive_count(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["dlq", "list", "--help"])
    assert raised.value.code == 0
    assert "raises its receive count" in " ".join(capsys.readouterr().out.split())


def test_dlq_show_prints_body_every_attribute_and_the_full_error(sqs, queues, filled, capsys):
    assert main(["dlq", "show", filled[1], "--queue-url", queues.url], sqs=sqs) == 0
    [shown] = json_lines(capsys.readouterr().out)
    assert json.loads(shown["body"]) == {"task": "charge", "payload": 1}
    assert shown["error"] == "charge failed\nTraceback (most recent call last)"
    assert set(shown["message_attributes"]) == {"taskqueue.reason", "taskqueue.error", "taskqueue.task", "trace"}
    assert {"SentTimestamp", "ApproximateReceiveCount"} <= set(shown["attributes"])


def test_dlq_show_of_a_message_id_not_in_the_dlq_is_a_clear_error(sqs, queues, filled, capsys):
    assert main(["dlq", "show", "no-such-id", "--queue-url", queues.url], sqs=sqs) == 1
    error = capsys.readouterr().err
    assert f"message id 'no-such-id' is not in the DLQ {queues.dlq_url} (read 4 messages)" in error


def test_dlq_list_and_show_say_what_a_fifo_group_kept_out_of_reach(sqs, make_queues, capsys):
    """SQS delivers no more of a FIFO group until its earlier messages are deleted: a listing reads the first 10."""
    queues = make_queues("orders", fifo=True)
    ids = [
        sqs.send_message(
            QueueUrl=queues.dlq_url, MessageBody=f"dead {n}", MessageGroupId="customer-1", MessageDeduplicationId=str(n)
        )["MessageId"]
        for n in range(11)
    ]
    assert main(["dlq", "list", "--queue-url", queues.url], sqs=sqs) == 1
    *rows, summary = json_lines(capsys.readouterr().out)
    assert [row["message_id"] for row in rows] == ids[:10]
    assert (summary["unread"], summary["out_of_reach"]) == (1, 1)
    assert any("a FIFO DLQ delivers no more of a message group" in note for note in summary["notes"])

    assert main(["dlq", "show", ids[10], "--queue-url", queues.url], sqs=sqs) == 1
    error = capsys.readouterr().err
    assert f"message id {ids[10]!r} was not found in the DLQ" in error
    assert "about 1 more were out of reach behind earlier messages of their FIFO group" in error


def test_dlq_redrive_finds_the_source_queue_of_the_dlq(sqs, queues, filled, capsys):
    assert main(["dlq", "redrive", "--dlq-url", queues.dlq_url, "--task", "charge"], sqs=sqs) == 0
    *rows, summary = json_lines(capsys.readouterr().out)
    assert sorted(row["message_id"] for row in rows if row["outcome"] == "moved") == sorted(filled[:3])
    assert (summary["moved"], summary["destination_url"]) == (3, queues.url)
    moved = sqs.receive_message(QueueUrl=queues.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(moved) == 3 and all(set(m["MessageAttributes"]) == {"trace"} for m in moved)


def test_dlq_redrive_refuses_a_dlq_that_is_not_the_queues(sqs, make_queues, capsys):
    first, second = make_queues("first"), make_queues("second")
    assert main(["dlq", "redrive", "--queue-url", first.url, "--dlq-url", second.dlq_url], sqs=sqs) == 2
    assert f"is not the dead-letter queue of --queue-url {first.url}" in capsys.readouterr().err


def test_dlq_redrive_of_a_dlq_shared_by_two_queues_needs_queue_url(sqs, queues, capsys):
    policy = json.dumps({"deadLetterTargetArn": queues.dlq_arn, "maxReceiveCount": 3})
    other = sqs.create_queue(QueueName="other", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    assert main(["dlq", "redrive", "--dlq-url", queues.dlq_url], sqs=sqs) == 2
    error = capsys.readouterr().err
    assert "2 queues use" in error and other in error and queues.url in error and "pass --queue-url" in error


def test_dlq_purge_needs_a_filter_and_yes_then_deletes_only_matches(sqs, queues, filled, capsys):
    assert main(["dlq", "purge", "--queue-url", queues.url, "--task", "report"], sqs=sqs) == 2
    assert "add --yes" in capsys.readouterr().err
    assert main(["dlq", "purge", "--queue-url", queues.url, "--yes"], sqs=sqs) == 2
    assert "needs a filter" in capsys.readouterr().err

    assert main(["dlq", "purge", "--queue-url", queues.url, "--task", "report", "--yes"], sqs=sqs) == 0
    *rows, summary = json_lines(capsys.readouterr().out)
    assert [(row["message_id"], row["outcome"]) for row in rows] == [(filled[3], "deleted")]
    assert summary["deleted"] == 1
    assert main(["dlq", "list", "--queue-url", queues.url], sqs=sqs) == 0
    assert json_lines(capsys.readouterr().out)[-1]["scanned"] == 3


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--limit", "0", "argument --limit: must be a whole number of at least 1, got '0'"),
        ("--since", "3 weeks", "argument --since: must be a duration such as 30m, 2h, 7d or 1d12h, got '3 weeks'"),
    ],
)
def test_dlq_bad_input_names_the_option_and_the_value(option, value, message, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["dlq", "list", "--dlq-url", "https://sqs.invalid/q", option, value])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_rich_stays_out_of_the_lambda_zips_and_is_the_cli_extra():
    for lock in ("functions/worker/requirements.txt", "functions/consumer/requirements.txt"):
        assert "rich==" not in (ROOT / lock).read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(spec.startswith("rich") for spec in pyproject["project"]["optional-dependencies"]["cli"])


# -- issue 19: the operator's tools never make a bad day worse ----------------------------------


def test_every_dlq_command_refuses_a_dlq_url_that_is_no_dead_letter_queue(sqs, queues, capsys, monkeypatch):
    """Defect 10: pointed at the task queue, dlq purge deleted live tasks."""
    monkeypatch.delenv("TASKQUEUE_QUEUE_URL", raising=False)
    live = [
        sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"task": "t", "payload": n})) for n in range(3)
    ]
    commands = [
        ["list"],
        ["show", live[0]["MessageId"]],
        ["purge", "--since", "1h", "--yes"],
        ["redrive", "--queue-url", queues.url],  # checked against the queue's redrive policy already
    ]
    for command in commands:
        assert main(["dlq", command[0], "--dlq-url", queues.url, *command[1:]], sqs=sqs) == 2, command
        error = capsys.readouterr().err
        assert "is not a dead-letter queue" in error or "is not the dead-letter queue of" in error, error
    depths = sqs.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["All"])["Attributes"]
    assert (depths["ApproximateNumberOfMessages"], depths["ApproximateNumberOfMessagesNotVisible"]) == ("3", "0")


def test_a_schedule_dlq_is_read_when_it_is_the_configured_one(sqs, capsys, monkeypatch):
    schedule_dlq = sqs.create_queue(QueueName="orders-schedule-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=schedule_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=schedule_dlq, MessageBody=json.dumps({"task": "t", "payload": 1}))
    monkeypatch.delenv("TASKQUEUE_QUEUE_URL", raising=False)
    monkeypatch.delenv("TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN", raising=False)
    assert main(["dlq", "list", "--dlq-url", schedule_dlq], sqs=sqs) == 2
    assert "is not a dead-letter queue" in capsys.readouterr().err
    monkeypatch.setenv("TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN", arn)
    assert main(["dlq", "list", "--dlq-url", schedule_dlq], sqs=sqs) == 0
    assert json_lines(capsys.readouterr().out)[-1]["scanned"] == 1


class StrictStdout(io.TextIOWrapper):
    """A real stdout: UTF-8 bytes, strict, so text a terminal or a pipe cannot take raises."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)

    def text(self) -> str:
        return self.buffer.getvalue().decode("utf-8")


def raw_dead_letter(sqs, dlq_url: str, task: str, payload, **attributes: str) -> str:
    """A dead letter whose body names ``task`` (JSON-escaped, so any character gets through SQS)."""
    body = json.dumps({"task": task, "payload": payload})
    values = {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
    arguments = {"QueueUrl": dlq_url, "MessageBody": body} | ({"MessageAttributes": values} if values else {})
    return sqs.send_message(**arguments)["MessageId"]


def test_a_task_name_with_a_lone_surrogate_neither_stops_list_nor_purge_midway(sqs, queues, monkeypatch):
    """Defect 12: json.dumps(ensure_ascii=False) wrote the surrogate, and stdout refused it midway."""
    odd = "charge\ud800"
    ids = [raw_dead_letter(sqs, queues.dlq_url, task, n) for n, task in enumerate(["charge", odd, "charge", odd])]
    for command in (["list"], ["purge", "--since", "1h", "--yes"]):
        stdout = StrictStdout()
        monkeypatch.setattr(sys, "stdout", stdout)
        assert main(["dlq", *command, "--dlq-url", queues.dlq_url, "--json"], sqs=sqs) == 0, command
        *rows, summary = json_lines(stdout.text())
        assert sorted(row["message_id"] for row in rows) == sorted(ids)
        assert sorted(row["task"] for row in rows) == sorted(["charge", odd] * 2)  # exact, escaped in JSON
        assert summary["kind"] == "summary" and summary["tasks_seen"][odd] == 2
    assert summary["deleted"] == 4


ATTACKS = ("\x1b[2J", "\x1b]0;owned\x07", "\u009b31m", "\r", "\u202e")


def test_task_names_and_errors_reach_a_terminal_with_control_characters_escaped(sqs, queues, monkeypatch):
    """Defect 13: a producer could write escape sequences into the operator's terminal."""
    monkeypatch.setenv("COLUMNS", "400")
    task = "charge" + "".join(ATTACKS)
    error = "failed " + "".join(a for a in ATTACKS if "\x1b" not in a)  # SQS attributes take no ESC
    message_id = raw_dead_letter(
        sqs, queues.dlq_url, task, 1, **{"taskqueue.reason": "permanent_error", "taskqueue.error": error}
    )
    for rich_installed in (True, False):
        if not rich_installed:
            for name in [name for name in sys.modules if name.split(".")[0] == "rich"]:
                monkeypatch.setitem(sys.modules, name, None)
            monkeypatch.delitem(sys.modules, "taskqueue.operations.rich_output", raising=False)
        for command in (["list"], ["show", message_id]):
            terminal = Terminal()
            monkeypatch.setattr(sys, "stdout", terminal)
            assert main(["dlq", *command, "--dlq-url", queues.dlq_url], sqs=sqs) == 0
            shown = terminal.getvalue()
            for attack in ATTACKS:
                assert attack not in shown, (rich_installed, command, attack, shown)
            assert "\\x9b31m" in shown, shown  # the error, escaped; the body's ESC as JSON writes it
            assert ("\\x1b[2J" if command == ["list"] else "\\u001b[2J") in shown, shown
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["dlq", "list", "--dlq-url", queues.dlq_url, "--json"], sqs=sqs) == 0
    assert not any(attack in terminal.getvalue() for attack in ATTACKS)
    assert json_lines(terminal.getvalue())[0]["task"] == task


@pytest.mark.parametrize("since", ["99999999999d", "999999999d", "9999999999999999999999s"])
def test_a_huge_since_is_bad_input_naming_the_option(since, sqs, queues, capsys):
    """Defect 16: an OverflowError traceback instead of error: and exit 2."""
    try:
        code = main(["dlq", "list", "--dlq-url", queues.dlq_url, "--since", since], sqs=sqs)
    except SystemExit as exit_:  # argparse's refusals
        code = int(exit_.code or 0)
    assert code == 2
    assert "--since" in capsys.readouterr().err


# -- priorities: --priority picks a queue from $TASKQUEUE_QUEUE_URLS ----------------------------------


def test_enqueue_stats_and_dlq_take_a_priority_from_the_modules_queue_urls(sqs, make_queues, monkeypatch, capsys):
    high, normal = make_queues("tasks-high"), make_queues("tasks")
    monkeypatch.setenv("TASKQUEUE_QUEUE_URLS", json.dumps({"high": high.url, "normal": normal.url}))
    assert main(["enqueue", "reset_password", "--priority", "high", "--tenant", "customer-42"], sqs=sqs) == 0
    capsys.readouterr()
    assert main(["stats", "--priority", "high"], sqs=sqs) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["queue"]["url"] == high.url and stats["dead_letter_queue"]["url"] == high.dlq_url
    [message] = sqs.receive_message(QueueUrl=high.url, MessageSystemAttributeNames=["All"])["Messages"]
    assert message["Attributes"]["MessageGroupId"] == "customer-42"
    worker_dead_letter(sqs, high.dlq_url, "reset_password", 1)
    assert main(["dlq", "list", "--priority", "high"], sqs=sqs) == 0
    *rows, summary = json_lines(capsys.readouterr().out)
    assert [row["task"] for row in rows] == ["reset_password"] and summary["matched"] == 1


def test_an_unknown_priority_or_no_queue_urls_is_bad_input(monkeypatch, capsys):
    assert main(["stats", "--priority", "high"]) == 2
    assert "--priority high needs $TASKQUEUE_QUEUE_URLS" in capsys.readouterr().err
    monkeypatch.setenv("TASKQUEUE_QUEUE_URLS", '{"normal": "https://sqs.example/1/tasks"}')
    assert main(["dlq", "list", "--priority", "urgent"]) == 2
    assert "priority='urgent' is not one of the queue's priorities (normal)" in capsys.readouterr().err


def test_dlq_show_does_not_say_a_message_is_absent_when_another_reader_held_some(sqs, queues, capsys):
    """Another reader takes 5 dead letters (the one asked for among them) after the run counted the DLQ: the run
    read 15 of about 20, so it cannot say the message is not there (found by a probe)."""
    ids = [sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=f"dead {n}")["MessageId"] for n in range(20)]
    other = boto3.client("sqs", region_name=REGION)
    taken: list[str] = []

    def another_reader_takes_five(params: dict, model: Any, **_: Any) -> None:
        if model.name == "ReceiveMessage" and not taken:  # the run's first receive, after its count
            answer = other.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=5, VisibilityTimeout=600)
            taken.extend(message["MessageId"] for message in answer["Messages"])

    sqs.meta.events.register("before-parameter-build.sqs", another_reader_takes_five)
    assert main(["dlq", "show", ids[0], "--queue-url", queues.url], sqs=sqs) == 1
    assert ids[0] in taken and len(taken) == 5
    error = capsys.readouterr().err
    assert f"message id {ids[0]!r} was not found in the DLQ" in error
    assert "about 5 more visible at the start were not read" in error
