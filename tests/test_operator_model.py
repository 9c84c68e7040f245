"""A model-based test of the operator's dead-letter commands (issue 19): list, purge and redrive, run while
workers run and crash, against the in-memory SQS model on a simulated clock.

A task queue and its dead-letter queue (standard or FIFO) fill with messages put there in every way the
runtime does: the worker's own dead letters with each reason (built by ``taskqueue.dead_letter_queue``),
SQS's redrive past maxReceiveCount (with ``DeadLetterQueueSourceArn``, as SQS sets it), the Scheduler's
failed deliveries, and tasks a hostile producer sent with forged ``taskqueue.*`` or Scheduler attributes.
Rules run the real ``list_dead_letters``, ``purge_dead_letters`` and ``redrive_dead_letters`` with filters
by reason, task, message id and limit, and dry runs; a run may meet an SQS 5xx (before or after it took
effect, or on every entry of a batch) or another exception at any call, or be killed there (nothing after
it runs: its leases just lapse); the clock jumps between its calls (so leases lapse mid-scan); workers
receive, complete, crash on and dead-letter tasks, and new dead letters arrive, in the middle of a run.

The model knows each message's provenance and checks, after each run and after every step:

- an operator command deletes or moves only dead-letter-queue messages its selection takes (by the
  provenance the model knows, not by what the message says), at most ``limit`` of them, none on a list or
  a dry run;
- nothing on the task queue is ever received, deleted or moved by an operator command;
- the reason and task shown are the truth: what the runtime wrote for that message, ``redrive`` for what
  SQS moved, whatever attributes a producer forged;
- a redrive sends each message it moves to the task queue once; a second copy only where the run was
  killed, met a fault or did not report success (at-least-once, journaled: a crash between send and delete
  may be reported, never loses); a run that reports success duplicates nothing;
- nothing is lost: every task is on the task queue, in the DLQ, completed by a worker, or purged;
- a run that reports success read every message that was visible in the DLQ at its start.

``TASKQUEUE_FAULT_MODEL_PROFILE=long`` (``make soak``) explores with new random cases; ``make test`` runs
the bounded profile, derandomized.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import currently_in_test_context, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from taskqueue.dead_letter_queue import REASONS, DeadLetter, entries
from taskqueue.operations.dlq_message import REDRIVE, DlqMessage
from taskqueue.operations.dlq_scan import ScanSettings
from taskqueue.operations.redrive_journal import RedriveJournal
from taskqueue.operations.triage import (
    MessageResult,
    Selection,
    TriageReport,
    list_dead_letters,
    purge_dead_letters,
    redrive_dead_letters,
)
from taskqueue.schedule_dead_letters import SCHEDULE_FAILED, ScheduleFailure
from tests.support.aws_settings import REGION
from tests.support.model_profiles import Budget, is_long, model_settings
from tests.support.sqs_endpoint import ServerFault, SqsEndpoint
from tests.support.sqs_model import SimClock, SqsModel

TASKS = ("send_email", "resize")
GROUPS = ("g1", "g2")
MAX_RECEIVE_COUNT = 2
VISIBILITY_SECONDS = 30
COMPLETE, CRASH = "complete", "crash"
WORKER_OUTCOMES = (COMPLETE, CRASH, *REASONS)
FORGERIES = (None, "taskqueue", "scheduler")
FAULTS = ("none", "5xx-before", "5xx-after", "5xx-entries", "exception", "kill")
COMMANDS = ("list", "purge", "redrive")
STATS: Counter[str] = Counter()


def _note(text: str) -> None:
    """Hypothesis's note, and nothing when a regression test replays steps outside Hypothesis."""
    if currently_in_test_context():
        note(text)


class Killed(BaseException):
    """The operator's process dies at this call: nothing after it runs, not even the release of what it held."""


class ConnectionLost(Exception):
    """An error of no SQS answer (a connection reset), raised at one call."""


@dataclass(frozen=True)
class Truth:
    """Who put a DLQ message there: the reason the runtime wrote (or ``redrive`` for SQS's move), its task."""

    reason: str
    task: str
    tag: int


def body(task: str, tag: int) -> str:
    return json.dumps({"task": task, "payload": {"tag": tag}})


def tag_of(text: str) -> int:
    return int(json.loads(text)["payload"]["tag"])


def text(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def schedule_failure(tag: int) -> ScheduleFailure:
    return ScheduleFailure(
        schedule_arn=f"arn:aws:scheduler:{REGION}:123456789012:schedule/default/task-{tag}",
        target_arn="arn:aws:sqs:us-east-1:123456789012:tasks",
        scheduled_time="2023-11-14T22:13:20Z",
        error_code="AWS.SimpleQueueService.NonExistentQueue",
        error_message="The specified queue does not exist.",
        exhausted_retry_condition="MaximumRetryAttempts",
        retry_attempts=2,
        execution_id=f"execution-{tag}",
    )


class Recorder:
    """The listener: every message a run reported, with its outcome."""

    def __init__(self) -> None:
        self.events: list[tuple[DlqMessage, MessageResult]] = []

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        self.events.append((dlq_message, outcome))

    def progress(self, report: TriageReport) -> None:
        """Nothing to check between batches."""


class Spy:
    """The operator's SQS client, recording each call's queue and every message id it received from it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, str | None]] = []
        self.received: dict[str, set[str]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**arguments: Any) -> Any:
            url = arguments.get("QueueUrl")
            self.calls.append((name, url))
            answer = method(**arguments)
            if name == "receive_message":
                ids = {m["MessageId"] for m in answer.get("Messages", [])}
                self.received.setdefault(str(url), set()).update(ids)
            return answer

        return call


@dataclass(frozen=True)
class Interruption:
    """What happens during one operator run, by the number of its SQS call (from 0)."""

    fault: str
    fault_at: int
    fault_attempts: int
    pauses: tuple[tuple[int, int], ...]  # (call, seconds the clock jumps before it)
    interleave_at: int | None
    interleave_outcomes: tuple[str, ...]  # a worker's step then; empty: a schedule failure arrives instead


interruptions = st.builds(
    Interruption,
    fault=st.sampled_from(FAULTS),
    fault_at=st.integers(0, 14),
    fault_attempts=st.sampled_from([1, 10]),
    pauses=st.lists(st.tuples(st.integers(0, 14), st.sampled_from([5, 20, 45, 100, 400])), max_size=3).map(tuple),
    interleave_at=st.none() | st.integers(0, 14),
    interleave_outcomes=st.lists(st.sampled_from(WORKER_OUTCOMES), max_size=3).map(tuple),
)


class OperatorModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # The journal syncs each write: in memory where the machine has it, so steps cost no disk flush.
        memory = Path("/dev/shm")
        self.directory = Path(tempfile.mkdtemp(prefix="operator-model-", dir=memory if memory.is_dir() else None))

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    @initialize(fifo=st.booleans())
    def set_up(self, fifo: bool) -> None:
        self.fifo = fifo
        self.clock = SimClock()
        self.sqs = SqsModel()
        self.endpoint = SqsEndpoint(self.sqs, self.clock, self.clock.advance)
        self.client = self.endpoint.attach(boto3.client("sqs", region_name=REGION))
        suffix = ".fifo" if fifo else ""
        kind = {"FifoQueue": "true"} if fifo else {}
        self.dlq_url = self.client.create_queue(QueueName=f"tasks-dlq{suffix}", Attributes=kind)["QueueUrl"]
        self.dlq_arn = self.sqs.queue(self.dlq_url).arn
        policy = json.dumps({"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        self.queue_url = self.client.create_queue(
            QueueName=f"tasks{suffix}",
            Attributes={**kind, "RedrivePolicy": policy, "VisibilityTimeout": str(VISIBILITY_SECONDS)},
        )["QueueUrl"]
        self.journal_path = self.directory / "journal.sqlite3"
        self.tags: dict[int, str] = {}
        self.completed: set[int] = set()
        self.purged: set[int] = set()
        self.truth: dict[str, Truth] = {}
        self.maybe_duplicated: set[int] = set()
        self.worker_deleted: set[str] = set()
        self.redriven_seen = 0
        self.serial = 0
        _note(f"{'FIFO' if fifo else 'standard'} queues")

    # -- what the runtime and producers do, straight on the model ---------------------------------------

    def _sqs(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.sqs.call(operation, params, self.clock.now)

    def _new_tag(self, task: str) -> int:
        tag = len(self.tags)
        self.tags[tag] = task
        return tag

    def _fifo_params(self, group: str) -> dict[str, str]:
        self.serial += 1
        return {"MessageGroupId": group, "MessageDeduplicationId": f"send-{self.serial}"} if self.fifo else {}

    def _learn_redrives(self) -> None:
        """SQS moved these from the task queue to the DLQ: their reason is ``redrive``, whatever they carry."""
        moved = self.sqs.queue(self.queue_url).redriven
        for redriven in moved[self.redriven_seen :]:
            stored = self.sqs.queue(self.dlq_url).messages[redriven.message_id]
            tag = tag_of(stored.body)
            self.truth[redriven.message_id] = Truth(REDRIVE, self.tags[tag], tag)
        self.redriven_seen = len(moved)

    def _worker_step(self, outcomes: tuple[str, ...]) -> None:
        """A worker receives a batch and, for each message, completes it, crashes (its lease lapses) or
        dead-letters it with a reason, as ``taskqueue.worker`` does (the dead letter first, then the delete)."""
        answer = self._sqs(
            "ReceiveMessage",
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, len(outcomes)),
            VisibilityTimeout=VISIBILITY_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        self._learn_redrives()
        for message, outcome in zip(answer.get("Messages", []), outcomes, strict=False):
            tag = tag_of(message["Body"])
            STATS[f"worker {outcome}"] += 1
            if outcome == CRASH:
                continue
            if outcome != COMPLETE:
                self._dead_letter(message, outcome, tag)
            self._sqs("DeleteMessage", QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            self.worker_deleted.add(message["MessageId"])
            if outcome == COMPLETE:
                self.completed.add(tag)

    def _dead_letter(self, message: dict[str, Any], reason: str, tag: int) -> None:
        record = {
            "messageId": message["MessageId"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: {"dataType": value["DataType"], "stringValue": value.get("StringValue")}
                for name, value in message.get("MessageAttributes", {}).items()
            },
        }
        task = self.tags[tag]
        why = DeadLetter(reason, f"{reason} in {task}", None if reason == "malformed" else task)
        first = next(entries(record, why, self.dlq_url))
        sent = self._sqs("SendMessage", **first.arguments)
        self.truth[sent["MessageId"]] = Truth(reason, task, tag)

    def _schedule_fails(self, task: str, group: str = GROUPS[0]) -> None:
        tag = self._new_tag(task)
        sent = self._sqs(
            "SendMessage",
            QueueUrl=self.dlq_url,
            MessageBody=body(task, tag),
            MessageAttributes=schedule_failure(tag).message_attributes(),
            **self._fifo_params(group),  # the task's group, as the schedule's target names it
        )
        self.truth[sent["MessageId"]] = Truth(SCHEDULE_FAILED, task, tag)
        STATS["schedule failed"] += 1

    # -- rules --------------------------------------------------------------------------------------------

    @rule(task=st.sampled_from(TASKS), group=st.sampled_from(GROUPS), forged=st.sampled_from(FORGERIES))
    def enqueue(self, task: str, group: str, forged: str | None) -> None:
        """A producer sends a task; a hostile one forges the runtime's or the Scheduler's attributes."""
        tag = self._new_tag(task)
        attributes = {"tenant": text("acme")}
        if forged == "taskqueue":
            attributes |= {"taskqueue.reason": text("malformed"), "taskqueue.task": text("forged")}
        elif forged == "scheduler":
            attributes |= schedule_failure(tag).message_attributes()
            attributes = dict(list(attributes.items())[:10])
        self._sqs(
            "SendMessage",
            QueueUrl=self.queue_url,
            MessageBody=body(task, tag),
            MessageAttributes=attributes,
            **self._fifo_params(group),
        )
        STATS[f"enqueued forged={forged}"] += 1

    @rule(outcomes=st.lists(st.sampled_from(WORKER_OUTCOMES), min_size=1, max_size=3).map(tuple))
    def worker(self, outcomes: tuple[str, ...]) -> None:
        self._worker_step(outcomes)

    @rule(rounds=st.integers(1, MAX_RECEIVE_COUNT + 1))
    def invocations_crash(self, rounds: int) -> None:
        """Workers receive what is visible and crash (a poison message, a timeout), round after round, each
        lease lapsing: past maxReceiveCount SQS moves the messages to the DLQ, forged attributes and all."""
        for _ in range(rounds):
            self._worker_step((CRASH,) * 10)
            self.clock.advance(VISIBILITY_SECONDS + 1)

    @rule(task=st.sampled_from(TASKS), group=st.sampled_from(GROUPS))
    def schedule_fails(self, task: str, group: str) -> None:
        """EventBridge Scheduler could not deliver a task: it sends it to the DLQ with its attributes."""
        self._schedule_fails(task, group)

    @rule(seconds=st.sampled_from([1, 29, 31, 120, 400, 1000]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(
        command=st.sampled_from(COMMANDS),
        reasons=st.sets(st.sampled_from((*REASONS, SCHEDULE_FAILED, REDRIVE)), max_size=2),
        tasks=st.sets(st.sampled_from(TASKS), max_size=1),
        by_id=st.none() | st.integers(0, 50),
        limit=st.none() | st.integers(1, 4),
        dry_run=st.booleans(),
        lease=st.sampled_from([30, 60, 900]),
        wait=st.sampled_from([0, 1]),
        interruption=interruptions,
    )
    def operate(
        self,
        command: str,
        reasons: set[str],
        tasks: set[str],
        by_id: int | None,
        limit: int | None,
        dry_run: bool,
        lease: int,
        wait: int,
        interruption: Interruption,
    ) -> None:
        known = sorted(self.truth)
        ids = frozenset({known[by_id % len(known)]}) if by_id is not None and known else frozenset()
        if command == "purge" and not (reasons or tasks or ids):
            reasons = {REDRIVE}
        selection = Selection(reasons=frozenset(reasons), tasks=frozenset(tasks), message_ids=ids, limit=limit)
        _note(f"{command} {selection} dry_run={dry_run} lease={lease} wait={wait} {interruption}")
        self._run(
            command, selection, dry_run and command == "redrive", ScanSettings(lease, wait, self.clock), interruption
        )

    # -- one operator run, and what it must not have done -------------------------------------------------

    def _selected(self, message_id: str, selection: Selection) -> bool:
        truth = self.truth[message_id]
        return (
            (not selection.reasons or truth.reason in selection.reasons)
            and (not selection.tasks or truth.task in selection.tasks)
            and (not selection.message_ids or message_id in selection.message_ids)
        )

    def _guard(self, base: int, interruption: Interruption) -> Any:
        killed = interruption.fault == "kill"
        pauses = dict(interruption.pauses)

        def guard(operation: str) -> None:
            # A call the guard stops is not counted by the endpoint: the next one has the same number.
            number = len(self.endpoint.calls) - base
            if killed and number >= interruption.fault_at:
                self.fault_met = True
                raise Killed(f"killed at call {number} ({operation})")
            if number == interruption.fault_at and interruption.fault == "exception" and not self.fault_met:
                self.fault_met = True
                raise ConnectionLost(f"connection reset at call {number} ({operation})")
            self.clock.advance(pauses.get(number, 0))
            if number == interruption.interleave_at:
                if interruption.interleave_outcomes:
                    self._worker_step(interruption.interleave_outcomes)
                else:
                    self._schedule_fails(TASKS[0])

        return guard

    def _run(
        self, command: str, selection: Selection, dry_run: bool, settings: ScanSettings, interruption: Interruption
    ) -> None:
        dlq = self.sqs.queue(self.dlq_url)
        started = self.clock.now
        visible_at_start = {i for i, m in dlq.messages.items() if m.visible(started)}
        dlq_before = dict(dlq.messages)
        queue_before = set(self.sqs.queue(self.queue_url).messages)
        deleted_before = set(dlq.deleted)
        known_before = set(self.truth)
        base = len(self.endpoint.calls)
        if interruption.fault.startswith("5xx"):
            when = interruption.fault.removeprefix("5xx-")
            self.endpoint.faults = {base + interruption.fault_at: ServerFault(when, interruption.fault_attempts)}
        self.fault_met = False
        self.endpoint.guard = self._guard(base, interruption)
        spy, recorder = Spy(self.client), Recorder()
        report: TriageReport | None = None
        try:
            if command == "list":
                report = list_dead_letters(spy, self.dlq_url, selection, recorder, settings)
            elif command == "purge":
                report = purge_dead_letters(spy, self.dlq_url, selection, recorder, settings)
            else:
                with RedriveJournal(self.journal_path, self.dlq_arn, clock=self.clock) as journal:
                    report = redrive_dead_letters(
                        spy, self.dlq_url, self.queue_url, selection, journal, recorder, settings, dry_run
                    )
        except Killed:
            STATS[f"{command} killed"] += 1
        except Exception as error:  # only before it took anything: the checks of the queue
            STATS[f"{command} refused"] += 1
            _note(f"raised {error!r}")
            assert not spy.received, f"{command} raised {error!r} after it received from the DLQ, with no report"
        finally:
            self.endpoint.guard = None
            self.endpoint.faults = {}
        faulted = self.fault_met or any(number >= base for number, _, _ in self.endpoint.hits)
        if report is not None:
            _note(f"report: {report.as_dict()}")
            STATS[f"{command} {'succeeded' if report.succeeded else 'failed'}"] += 1
            STATS["messages scanned"] += report.scanned
            STATS["messages moved"] += report.moved
            STATS["messages purged"] += report.deleted
            STATS["leases lapsed"] += report.leases_lapsed
        self._learn_redrives()
        arrived = set(self.truth) - known_before  # dead letters that came in during the run
        deleted = [i for i in dlq.deleted if i not in deleted_before]

        # The reason and task shown are the truth; only what the selection takes is reported.
        for dlq_message, outcome in recorder.events:
            truth = self.truth[dlq_message.message_id]
            assert (dlq_message.reason, dlq_message.task) == (truth.reason, truth.task), (
                f"{dlq_message.message_id} shown as {dlq_message.reason}/{dlq_message.task}, put there as {truth}"
            )
            assert self._selected(dlq_message.message_id, selection), (
                f"{outcome} of unselected {dlq_message.message_id}"
            )

        # Only DLQ messages the selection takes are deleted, at most limit, none by a list or a dry run.
        for message_id in deleted:
            assert self._selected(message_id, selection), f"{command} deleted {message_id} ({self.truth[message_id]})"
        if command == "list" or dry_run:
            assert not deleted, f"{command} (dry run {dry_run}) deleted {deleted}"
        if selection.limit is not None:
            assert len(deleted) <= selection.limit, f"{command} deleted {len(deleted)} > limit {selection.limit}"
        if command == "purge":
            self.purged.update(self.truth[i].tag for i in deleted)

        # Nothing on the task queue is touched, but the sends of a redrive.
        allowed = {"get_queue_attributes"} | ({"send_message_batch"} if command == "redrive" and not dry_run else set())
        touched = {name for name, url in spy.calls if url == self.queue_url}
        assert touched <= allowed, f"{command} called {touched - allowed} on the task queue"
        selected_tags = {
            self.truth[i].tag for i in [*dlq_before, *arrived] if i in self.truth and self._selected(i, selection)
        }
        copies = [m for i, m in self.sqs.queue(self.queue_url).messages.items() if i not in queue_before]
        for copy in copies:
            assert tag_of(copy.body) in selected_tags, f"{command} put tag {tag_of(copy.body)} on the task queue"
        if command == "redrive" and (faulted or report is None or not report.succeeded):
            # Sent, not yet deleted from the DLQ (killed, a fault, a lease that lapsed before the delete):
            # reported, journaled as sent, and finished by a rerun without sending again.
            self.maybe_duplicated |= selected_tags

        # A run that reports success read every message visible at its start.
        reached_limit = selection.limit is not None and report is not None and report.matched >= selection.limit
        if report is not None and report.succeeded and not reached_limit:
            unread = visible_at_start - spy.received.get(self.dlq_url, set())
            assert not unread, f"{command} reported success without reading {sorted(unread)}"

    # -- invariants ----------------------------------------------------------------------------------------

    def _copies(self) -> Counter[int]:
        found: Counter[int] = Counter()
        for url in (self.queue_url, self.dlq_url):
            found.update(tag_of(m.body) for m in self.sqs.queue(url).messages.values())
        return found

    @invariant()
    def nothing_is_lost(self) -> None:
        if not hasattr(self, "tags"):
            return
        copies = self._copies()
        lost = [t for t in self.tags if not copies[t] and t not in self.completed and t not in self.purged]
        assert not lost, f"tasks lost: {lost}"

    @invariant()
    def nothing_is_duplicated_by_a_clean_run(self) -> None:
        if not hasattr(self, "tags"):
            return
        twice = [t for t, n in self._copies().items() if n > 1 and t not in self.maybe_duplicated]
        assert not twice, f"tasks held twice without a fault to explain it: {twice}"

    @invariant()
    def only_workers_delete_from_the_task_queue(self) -> None:
        if not hasattr(self, "tags"):
            return
        deleted = set(self.sqs.queue(self.queue_url).deleted)
        assert deleted <= self.worker_deleted, (
            f"deleted from the task queue by no worker: {deleted - self.worker_deleted}"
        )

    @invariant()
    def the_model_knows_every_dead_letter(self) -> None:
        if not hasattr(self, "tags"):
            return
        self._learn_redrives()
        unknown = set(self.sqs.queue(self.dlq_url).messages) - set(self.truth)
        assert not unknown, f"DLQ messages of unknown provenance: {unknown}"


OPERATOR_MODEL = Budget(bounded_examples=100, long_examples=2000, steps=30)


@pytest.mark.timeout(0 if is_long() else 300)
def test_operator_commands_keep_their_promises_while_workers_run_and_crash() -> None:
    STATS.clear()
    # make test: the same cases on every run; make soak: new ones.
    bounded = settings(model_settings(OPERATOR_MODEL), derandomize=not is_long())
    run_state_machine_as_test(OperatorModel, settings=bounded)
    if is_long():
        print("\noperator model:", dict(sorted(STATS.items())))


def test_sqs_redrive_sets_dead_letter_queue_source_arn_and_names_its_sources() -> None:
    """As SQS does (moto leaves the attribute out): what the provenance rule reads."""
    clock = SimClock()
    model = SqsModel()
    client = SqsEndpoint(model, clock, clock.advance).attach(boto3.client("sqs", region_name=REGION))
    dlq = client.create_queue(QueueName="d")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": model.queue(dlq).arn, "maxReceiveCount": 1})
    url = client.create_queue(QueueName="q", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"})["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="m")
    assert client.receive_message(QueueUrl=url)["Messages"][0].get("Attributes") is None
    assert "Messages" not in client.receive_message(QueueUrl=url)
    [moved] = client.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == model.queue(url).arn
    assert client.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]
    assert client.list_dead_letter_source_queues(QueueUrl=url)["queueUrls"] == []


def test_regression_a_fifo_lease_lapsing_between_send_and_delete_is_reported_and_finished_by_a_rerun() -> None:
    """Found by the long profile: on FIFO, a pause longer than the lease between a redrive's send and its
    delete makes SQS refuse the stale receipt handle. The message is then on the task queue and still in the
    DLQ: the run must not report success, and a rerun deletes it without sending it again."""
    state = OperatorModel()
    try:
        state.set_up(fifo=True)
        state.schedule_fails(task="send_email", group="g1")
        first = Interruption("none", 0, 1, pauses=((5, 45),), interleave_at=None, interleave_outcomes=())
        settings = ScanSettings(30, 0, state.clock)
        state._run("redrive", Selection(), False, settings, first)
        assert state.sqs.queue(state.dlq_url).messages, "the lapsed lease did not stop the delete"
        state.clock.advance(31)
        clean = Interruption("none", 0, 1, pauses=(), interleave_at=None, interleave_outcomes=())
        state._run("redrive", Selection(), False, settings, clean)
        assert not state.sqs.queue(state.dlq_url).messages
        assert state._copies() == {0: 1}
    finally:
        state.teardown()


def test_regression_a_fifo_list_that_could_not_reach_a_groups_later_messages_is_no_success() -> None:
    """Found by the long profile: on FIFO, a scan reads the first 10 of a group (SQS delivers no more of it
    while they are held); a dead letter of another group arriving meanwhile made up the count, and `list`
    reported success without reading the eleventh."""
    state = OperatorModel()
    try:
        state.set_up(fifo=True)
        state.enqueue(task="resize", group="g2", forged=None)
        for _ in range(11):
            state.schedule_fails(task="send_email", group="g1")
        arrival = Interruption("none", 0, 1, pauses=(), interleave_at=3, interleave_outcomes=("malformed",))
        state._run("list", Selection(), False, ScanSettings(30, 0, state.clock), arrival)
        assert len(state.sqs.queue(state.dlq_url).messages) == 12, "the malformed dead letter did not arrive"
    finally:
        state.teardown()
