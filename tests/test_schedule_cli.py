"""``python -m taskqueue enqueue --at/--delay``, ``scheduled list`` and ``scheduled cancel`` against a moto server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest

from taskqueue.operations.cli import main
from tests.support.aws_settings import REGION

GROUP = "cli-schedules"
ROLE = "arn:aws:iam::123456789012:role/cli-scheduler"


@pytest.fixture
def queue_url(server_sqs, monkeypatch):
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=GROUP)
    url = server_sqs.create_queue(QueueName="cli-scheduled")["QueueUrl"]
    dlq_url = server_sqs.create_queue(QueueName="cli-scheduled-dlq")["QueueUrl"]
    dlq_arn = server_sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", url)
    monkeypatch.setenv("TASKQUEUE_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("TASKQUEUE_SCHEDULER_ROLE_ARN", ROLE)
    monkeypatch.setenv("TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN", dlq_arn)
    return url


def next_minute(moment: datetime) -> datetime:
    """The Scheduler's whole minute at or after ``moment``: when a task due then is scheduled."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def listed(capsys, *argv: str) -> tuple[list[dict], str]:
    assert main(["scheduled", "list", *argv]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_enqueue_later_list_and_cancel(queue_url, server_sqs, capsys):
    before = datetime.now(UTC)
    code, out, err = run(capsys, "enqueue", "report", "--payload", '{"month": 1}', "--id", "jan", "--delay", "2h30m")
    after = datetime.now(UTC)
    assert code == 0, err
    assert out["schedule_name"].startswith("report.")
    due = datetime.fromisoformat(out["due"])
    in_2h30m = timedelta(hours=2, minutes=30)
    assert next_minute(before + in_2h30m) <= due <= next_minute(after + in_2h30m)

    in_three_days = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    paris = in_three_days.astimezone(timezone(timedelta(hours=1))).isoformat()
    code, out, err = run(capsys, "enqueue", "report", "--id", "feb", "--at", paris)
    assert (code, out["due"]) == (0, next_minute(in_three_days).isoformat()), err

    schedules, err = listed(capsys, "--task", "report")
    assert sorted(item["id"] for item in schedules) == ["feb", "jan"] and err == ""
    schedules, err = listed(capsys, "--limit", "1")
    assert len(schedules) == 1 and "more than 1 schedules: showing the first 1" in err

    code, out, err = run(capsys, "scheduled", "cancel", "--task", "report", "--id", "jan")
    assert (code, out["cancelled"]["id"]) == (0, "jan"), err
    code, out, err = run(capsys, "scheduled", "cancel", "--task", "report", "--id", "jan")
    assert code == 1 and out is None
    assert "has fired (a one-time schedule deletes itself after firing), was cancelled, or never existed" in err
    assert "Messages" not in server_sqs.receive_message(QueueUrl=queue_url)


def test_a_short_delay_is_an_sqs_delay(queue_url, capsys):
    code, out, err = run(capsys, "enqueue", "report", "--delay", "90")
    assert code == 0 and set(out) == {"message_id"}, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--at", "2030-01-01T10:00:00"], "argument --at: '2030-01-01T10:00:00' has no UTC offset"),
        (["--at", "tomorrow"], "argument --at: must be an ISO 8601 time such as 2030-01-31T09:00:00Z, got 'tomorrow'"),
        (["--delay", "soon"], "argument --delay: must be seconds (90) or a duration such as 2h30m or 1d, got 'soon'"),
        (["--delay", "1h", "--at", "2030-01-01T10:00:00Z"], "not allowed with argument"),
        (["--at", "2000-01-01T00:00:00Z"], "is in the past"),
        (["--delay", "400d"], "400.0 days ahead; tasks can be scheduled at most 366 days ahead"),
        # Defect 16 of issue 19: huge values ended in OverflowError tracebacks.
        (["--delay", "99999999999999999999"], "argument --delay: 99999999999999999999 seconds is too far ahead"),
        (["--delay", "999999999d"], "days ahead; tasks can be scheduled at most 366 days ahead"),
        (["--delay", "99999999999d"], "argument --delay: 99999999999d is too far ahead"),
        (["--at", "9999-12-31T23:59:59-01:00"], "days ahead; tasks can be scheduled at most 366 days ahead"),
    ],
)
def test_bad_times_are_refused_naming_the_option(queue_url, capsys, argv, message):
    try:
        code = main(["enqueue", "report", *argv])
    except SystemExit as exit_:  # argparse's refusals
        code = int(exit_.code or 0)
    assert code == 2 and message in capsys.readouterr().err


def test_scheduling_without_a_dead_letter_queue_says_what_to_set(queue_url, monkeypatch, capsys):
    monkeypatch.delenv("TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN")
    code, out, err = run(capsys, "enqueue", "report", "--delay", "1h")
    assert code == 2 and out is None and "no dead_letter_arn ($TASKQUEUE_SCHEDULE_DEAD_LETTER_ARN" in err
    assert boto3.client("scheduler", region_name=REGION).list_schedules(GroupName=GROUP)["Schedules"] == []


def test_scheduling_without_a_group_says_what_to_set(queue_url, monkeypatch, capsys):
    monkeypatch.delenv("TASKQUEUE_SCHEDULE_GROUP")
    code, _, err = run(capsys, "enqueue", "report", "--delay", "1h")
    assert code == 2 and "$TASKQUEUE_SCHEDULER_ROLE_ARN is set but $TASKQUEUE_SCHEDULE_GROUP is not" in err
    monkeypatch.delenv("TASKQUEUE_SCHEDULER_ROLE_ARN")
    code, _, err = run(capsys, "enqueue", "report", "--delay", "1h")
    assert code == 2 and "scheduling is not configured" in err and "$TASKQUEUE_SCHEDULE_GROUP" in err
    code, _, err = run(capsys, "scheduled", "list")
    assert code == 2 and "$TASKQUEUE_SCHEDULE_GROUP is not set" in err
