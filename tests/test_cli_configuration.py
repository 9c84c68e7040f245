"""``python -m taskqueue`` with its configuration missing: one line naming what to set, for every command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from taskqueue.operations import cli
from taskqueue.operations.arguments import LOCAL_TASKS_ENV

# The arguments each command needs to get as far as talking to AWS.
POSITIONALS = {
    "enqueue": ["checksum"],
    "dlq show": ["m-1"],
    "dlq purge": ["--reason", "malformed", "--yes"],
    "scheduled cancel": ["s-1"],
    "status": ["job", "1"],
}
# Commands that read a DynamoDB table of the module's, not the queue: what each needs set.
TABLE_COMMANDS = {"limits": "TASKQUEUE_FLOW_CONTROL_TABLE", "status": "TASKQUEUE_STATUS_TABLE"}


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command the CLI's parser has, as the words that name it (``dlq list``)."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        yield prefix
        return
    for group in groups:
        for name, subparser in group.choices.items():
            yield from _commands(subparser, (*prefix, name))


COMMANDS = sorted(_commands(cli._parser()))


def test_every_command_is_covered():
    assert len(COMMANDS) >= 9
    assert {" ".join(command) for command in COMMANDS} >= set(POSITIONALS)


@pytest.fixture
def no_region(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    # No config file to find a region in.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("TASKQUEUE_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/111122223333/orders")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_region_is_one_line_saying_what_to_set(no_region, capsys, command):
    argv = [*command, *POSITIONALS.get(" ".join(command), [])]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("error: ")
    assert 'eval "$(python -m taskqueue_local env)"' in line
    assert "AWS_REGION" in line and "AWS_DEFAULT_REGION" in line and "--queue-url" in line
    assert captured.out == ""


@pytest.mark.parametrize(
    "command", [command for command in COMMANDS if " ".join(command) not in TABLE_COMMANDS], ids=" ".join
)
def test_no_queue_url_is_one_line_saying_what_to_set(monkeypatch, capsys, command):
    monkeypatch.delenv("TASKQUEUE_QUEUE_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    argv = [*command, *POSITIONALS.get(" ".join(command), [])]
    assert cli.main(argv) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "--queue-url" in line and "TASKQUEUE_QUEUE_URL" in line
    assert 'eval "$(python -m taskqueue_local env)"' in line


@pytest.mark.parametrize("command", sorted(TABLE_COMMANDS))
def test_no_table_is_one_line_saying_what_to_set(monkeypatch, capsys, command):
    for name in TABLE_COMMANDS.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert cli.main([command, *POSITIONALS.get(command, [])]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and TABLE_COMMANDS[command] in line


# -- enqueue against the local stack, whose worker's tasks are known -----------------------------


@pytest.mark.parametrize(("task", "warned"), [("checksum", False), ("chekcsum", True)])
def test_enqueue_warns_of_a_task_the_local_worker_does_not_have(sqs, queues, monkeypatch, capsys, task, warned):
    monkeypatch.setenv(LOCAL_TASKS_ENV, "checksum,flaky")
    assert cli.main(["enqueue", task, "--queue-url", queues.url], sqs=sqs) == 0
    captured = capsys.readouterr()
    assert "message_id" in captured.out  # sent all the same: a producer may know tasks the stack does not
    if warned:
        [line] = captured.err.splitlines()
        assert line.startswith("warning: ") and repr(task) in line and "checksum, flaky" in line
        assert "unknown_task" in line
    else:
        assert captured.err == ""


def test_enqueue_off_the_local_stack_does_not_warn(sqs, queues, monkeypatch, capsys):
    monkeypatch.delenv(LOCAL_TASKS_ENV, raising=False)
    assert cli.main(["enqueue", "anything", "--queue-url", queues.url], sqs=sqs) == 0
    assert capsys.readouterr().err == ""
