"""A model-based test of flow control (issue 24): the real worker and its real limiter (``taskqueue.flow_control``)
against moto's DynamoDB, with faults, on one simulated clock.

Rules deliver batches of a rate-limited task (``charge``) and of a key-limited one (``export``) to the real
``Worker`` (attempts counted in the attempts table), move the clock, and inject faults into the limiter's
DynamoDB calls: a throttle before the call took effect, or an answer lost after it did. Runs overlap as they
would in several workers at once: an ``export`` run may deliver another batch from inside its body (another
worker starting meanwhile), may crash (its slot is never given back: the run is over, its lease is not), and,
being a ``threads=True`` task, may overrun its batch's answer: the batch answers it as still running (the
worker's ``TaskOverran``) and the run goes on, parked on a thread of its own (``Strand``), until a rule ends it.

Invariants, after every step:

- the rate: over any window of one period, at most ``limit + burst`` starts of ``charge``;
- concurrency per key: at no time more than ``key_concurrency`` runs of one key of ``export``, counting the runs
  still going past their batch's answer (but one whose lease extension DynamoDB refused: a documented limit);
- nothing lost: each message is pending (back at its delay) or done (its run returned);
- a held-back start uses no attempt: the attempts table's runs of each message equal the times its task
  was called.

``TASKQUEUE_FAULT_MODEL_PROFILE=long`` runs the long profile (``make soak``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from moto import mock_aws

from taskqueue.attempts import AttemptLedger
from taskqueue.batch_response import ANSWER_KEY
from taskqueue.concurrency import ConcurrentBatchResult, Deadlines, OnInvocationThread, SettleRecord
from taskqueue.config import WorkerConfig
from taskqueue.flow_control.concurrency_keys import KEY_PREFIX, LEASE_MARGIN_SECONDS
from taskqueue.flow_control.gate import FlowGate
from taskqueue.registry import RegisteredTask, TaskContext, TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import FakeClock
from tests.support.aws_settings import REGION, STATE_TABLE
from tests.support.concurrency_model import RunAbandoned, Strand
from tests.support.model_profiles import Budget, is_long, model_settings

RATE_LIMIT, PERIOD, BURST = 3, 1, 1
KEY_CONCURRENCY = 2
KEYS = ("a", "b")
INVOCATION_SECONDS = 20.0
SHORT_INVOCATION_SECONDS = 1.2
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:tasks"
# Enough to crowd both limits; few enough that the end's drain (every message run) stays cheap.
MAX_MESSAGES = 24
BUDGET = Budget(bounded_examples=12, long_examples=500, steps=25)
# What the examples did (printed; the bounded run checks that both a wait and a release happened).
STATISTICS: Counter[str] = Counter()


class Crash(BaseException):
    """The run's invocation died: nothing after it in the worker runs, its answer never gets out."""


@dataclass
class FaultyDynamoDB:
    """The limiter's DynamoDB client, failing the calls the plan names: before they took effect, or after."""

    client: Any
    plan: dict[int, str] = field(default_factory=dict)
    calls: int = 0
    # While a run is crashing, its worker does nothing more: its slot is not given back.
    crashing: bool = False
    # The keys whose lease extension (a run going on past its batch's answer) was refused.
    refused_extensions: set[str] = field(default_factory=set)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**arguments: Any) -> Any:
            self.calls += 1
            if self.crashing and name == "delete_item":
                raise Crash
            fault = self.plan.pop(self.calls, None)
            if fault == "before" and name == "update_item" and arguments["Key"]["id"]["S"].startswith(KEY_PREFIX):
                self.refused_extensions.add(json.loads(arguments["Key"]["id"]["S"][len(KEY_PREFIX) :])[2])
            if fault == "before":
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, name)
            answer = method(**arguments)
            if fault == "after":
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "answer lost"}}, name)
            return answer

        return call


@dataclass
class Message:
    id: str
    task: str
    payload: dict[str, Any]
    visible_at: float = 0.0
    receives: int = 0
    done: bool = False


@dataclass
class OverranRun:
    """An ``export`` run going on past its batch's answer, parked until the model ends it."""

    strand: Strand
    key: str
    start: float
    protected: bool = True  # its lease was extended (the table did not refuse it)


class OverrunningBatchRunner:
    """The worker's concurrent batch, on the model's one thread: lanes one after the other, each record's path on a
    ``Strand``; a run that parks (its task overruns) is answered as still running, at the batch's answer point
    (the clock moves there), and goes on when the model resumes it."""

    def __init__(self, model: FlowControlModel) -> None:
        self.model = model

    def prepare(self, lanes: int, event_loop: bool) -> None:
        """Nothing to start ahead."""

    def start(self, lanes: list[list[int]], limit: int, deadlines: Deadlines) -> OverrunningBatch:
        return OverrunningBatch(self.model, lanes, deadlines)


class OverrunningBatch:
    def __init__(self, model: FlowControlModel, lanes: list[list[int]], deadlines: Deadlines) -> None:
        self.model = model
        self.lanes = lanes
        self.deadlines = deadlines

    def call_task(self, registered: RegisteredTask, payload: Any, context: TaskContext) -> Any:
        return registered.run(payload, context)

    def beside(self, call: Any, seconds: float | None) -> None:
        call()

    def run(
        self,
        settle: SettleRecord,
        hold_back_after_failure: bool = False,
        on_invocation_thread: OnInvocationThread | None = None,
    ) -> ConcurrentBatchResult:
        outcome = ConcurrentBatchResult()
        for lane in self.lanes:
            for position, index in enumerate(lane):
                strand = Strand(lambda index=index: settle(index, False))
                strand.start()
                if not strand.finished:  # its task overran: answered as running, its lane goes no further
                    outcome.running.append(index)
                    outcome.not_started.extend(lane[position + 1 :])
                    break
                if strand.error is not None:
                    raise strand.error
                if strand.result:
                    outcome.failed.add(index)
        if outcome.running:
            to_answer = self.deadlines.seconds_to_answer()
            self.model.clock.advance(max(0.0, to_answer or 0.0))  # the answer goes out at its point
        return outcome


class Context:
    def __init__(self, clock: FakeClock, seconds: float = INVOCATION_SECONDS) -> None:
        self.deadline = clock() + seconds
        self.clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


class FlowControlModel(RuleBasedStateMachine):
    # One moto and one client for every example (starting them costs a second); a table per example.
    dynamodb: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        dynamodb = self.dynamodb
        table = f"{STATE_TABLE}-{uuid.uuid4().hex[:8]}"
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.faulty = FaultyDynamoDB(dynamodb)
        self.ledger = AttemptLedger(table, dynamodb, clock=self.clock)
        registry = TaskRegistry()
        registry.register("charge", self._charge, rate_limit=f"{RATE_LIMIT}/s", burst=BURST)
        registry.register(
            "export", self._export, key_concurrency=KEY_CONCURRENCY, key=lambda payload: payload["key"], threads=True
        )
        config = WorkerConfig(dlq_url="unused: nothing is dead-lettered here", attempts_table=table)
        # A start waiting for its token or a slot (or paced after its grant) waits on the simulated clock.
        gate = FlowGate(table, self.faulty, self.clock, rng=lambda: 0.5, sleep=self._wait)
        self.worker = Worker(
            config,
            sqs=None,
            registry=registry,
            ledger=self.ledger,
            flow=gate,
            batch_runner=OverrunningBatchRunner(self),
        )
        self.messages: dict[str, Message] = {}
        self.charge_starts: list[float] = []
        self.export_runs: list[tuple[str, float, float]] = []  # key, start, end
        self.calls: dict[str, int] = {}
        self.nested: list[str] = []  # what each export run does inside: "deliver", "crash", "overrun" or "return"
        self.overran: list[OverranRun] = []

    def _wait(self, seconds: float) -> None:
        STATISTICS["waits in the gate"] += 1
        self.clock.advance(seconds)

    # -- the tasks ---------------------------------------------------------------------------------

    def _charge(self, payload: dict[str, Any]) -> None:
        self.calls[payload["id"]] = self.calls.get(payload["id"], 0) + 1
        self.charge_starts.append(self.clock())

    def _export(self, payload: dict[str, Any]) -> None:
        self.calls[payload["id"]] = self.calls.get(payload["id"], 0) + 1
        start = self.clock()
        action = self.nested.pop(0) if self.nested else "return"
        if action == "overrun":
            strand = Strand.current()
            assert strand is not None, "an export ran outside its batch's lane"
            run = OverranRun(strand, payload["key"], start)
            self.overran.append(run)
            try:
                strand.park()  # until the model ends it (end_overrun), or its environment dies; its batch answers
            finally:
                if run.protected:  # one whose lease extension was refused is outside the bound, ended too
                    self.export_runs.append((payload["key"], start, self.clock()))
            return
        try:
            if action == "deliver":
                self._deliver(1, "export")  # another worker starts an export meanwhile
            self.clock.advance(0.25)
        finally:
            self.export_runs.append((payload["key"], start, self.clock()))
        if action == "crash":
            self.faulty.crashing = True
            raise Crash

    # -- the rules ---------------------------------------------------------------------------------

    @precondition(lambda self: len(self.messages) < MAX_MESSAGES)
    @rule(task=st.sampled_from(["charge", "export"]), key=st.sampled_from(KEYS[:1] * 3 + KEYS), count=st.integers(1, 5))
    def enqueue(self, task: str, key: str, count: int) -> None:
        for _ in range(count):
            message_id = str(uuid.uuid4())
            self.messages[message_id] = Message(message_id, task, {"id": message_id, "key": key})

    @rule(
        task=st.sampled_from(["charge", "export", None]),
        size=st.integers(1, 6),
        faults=st.dictionaries(st.integers(1, 12), st.sampled_from(["before", "after"]), max_size=3),
        nested=st.lists(
            st.sampled_from(["deliver", "deliver", "deliver", "crash", "overrun", "return"]), min_size=2, max_size=5
        ),
        # A short invocation has no time to wait for a token or a slot: its starts over a limit are released.
        seconds=st.sampled_from([INVOCATION_SECONDS, SHORT_INVOCATION_SECONDS]),
    )
    def deliver(self, task: str | None, size: int, faults: dict[int, str], nested: list[str], seconds: float) -> None:
        self.faulty.plan = {self.faulty.calls + index: kind for index, kind in faults.items()}
        self.nested = list(nested)
        overran_before = len(self.overran)
        try:
            self._deliver(size, task, seconds)
        except Crash:
            self._cut_off(self.overran[overran_before:])
        finally:
            self.faulty.crashing = False
            self.faulty.plan = {}

    @precondition(lambda self: len(self.messages) < MAX_MESSAGES)
    @rule(
        key=st.sampled_from(KEYS),
        faults=st.dictionaries(st.integers(1, 12), st.sampled_from(["before", "after"]), max_size=2),
    )
    def crowd(self, key: str, faults: dict[int, str]) -> None:
        """More exports of one key than its limit, each started by another worker while the others run."""
        self.enqueue("export", key, KEY_CONCURRENCY + 1)
        self.deliver("export", 1, faults, ["deliver"] * (KEY_CONCURRENCY + 1), INVOCATION_SECONDS)

    @rule(seconds=st.sampled_from([0.1, 0.3, 1.0, 5.0, INVOCATION_SECONDS + LEASE_MARGIN_SECONDS]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def _cut_off(self, runs: list[OverranRun]) -> None:
        """Their environment died (a crash, before their batch answered): the runs still going there end with it,
        and their worker does nothing more (their slots are not given back)."""
        self.faulty.crashing = True
        try:
            for run in runs:
                self.overran.remove(run)
                run.strand.resume(Crash())
        finally:
            self.faulty.crashing = False

    @precondition(lambda self: self.overran)
    @rule(data=st.data())
    def end_overrun(self, data: st.DataObject) -> None:
        """A run that went on past its batch's answer ends: its worker gives its slot back and lifts its hold."""
        run = self.overran.pop(data.draw(st.integers(0, len(self.overran) - 1)))
        STATISTICS["export runs ended after their batch's answer"] += 1
        run.strand.resume()
        if run.strand.error is not None:
            raise run.strand.error

    def _deliver(self, size: int, task: str | None = None, seconds: float = INVOCATION_SECONDS) -> None:
        """A batch of up to ``size`` visible messages (of ``task`` only, if given) to the worker."""
        now = self.clock()
        visible = [m for m in self.messages.values() if not m.done and m.visible_at <= now and task in (None, m.task)]
        # Those received least first (a standard queue promises no order): a crowd's new messages run beside a held one.
        visible = sorted(visible, key=lambda m: m.receives)[:size]
        if not visible:
            return
        for message in visible:
            message.receives += 1
            message.visible_at = now + INVOCATION_SECONDS  # hidden while its batch runs (SQS's visibility)
        records = [self._record(message) for message in visible]
        calls_before = {message.id: self.calls.get(message.id, 0) for message in visible}
        overran_before = len(self.overran)
        self.faulty.refused_extensions = set()
        response = self.worker.handle({"Records": records}, Context(self.clock, seconds))  # a Crash leaves them hidden
        for run in self.overran[overran_before:]:
            STATISTICS["export runs going on past their batch's answer"] += 1
            if run.key in self.faulty.refused_extensions:
                run.protected = False  # outside the bound: the worker logged that its slot may be taken
                STATISTICS["export runs whose lease extension was refused"] += 1
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        delays = response[ANSWER_KEY]["retryDelays"]
        self.a_held_back_start_uses_no_attempt(visible)
        for message in visible:
            if message.id in failed:
                message.visible_at = self.clock() + delays.get(message.id, 0)
                if self.calls.get(message.id, 0) == calls_before[message.id]:
                    STATISTICS[f"{message.task} released unrun"] += 1
            else:
                assert self.calls.get(message.id, 0) >= 1, f"{message.task} {message.id} settled without running"
                message.done = True

    def _record(self, message: Message) -> dict[str, Any]:
        return {
            "messageId": message.id,
            "receiptHandle": f"handle-{message.id}-{message.receives}",
            "body": json.dumps({"task": message.task, "payload": message.payload}),
            "attributes": {"ApproximateReceiveCount": str(message.receives), "SentTimestamp": "0"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
        }

    # -- the invariants ----------------------------------------------------------------------------

    @invariant()
    def rate_over_any_period_is_at_most_limit_plus_burst(self) -> None:
        starts = sorted(self.charge_starts)
        for index, start in enumerate(starts):
            # A closed window: a start seen a little after its grant must still be within the bound.
            within = sum(1 for later in starts[index:] if later <= start + PERIOD)
            assert within <= RATE_LIMIT + BURST, f"{within} starts in [{start}, {start + PERIOD}]"

    @invariant()
    def runs_of_a_key_at_once_are_at_most_its_limit(self) -> None:
        going = [(run.key, run.start, math.inf) for run in self.overran if run.protected]
        runs = self.export_runs + going
        for key, start, _ in runs:
            running = [run for run in runs if run[0] == key and run[1] <= start < run[2]]
            assert len(running) <= KEY_CONCURRENCY, f"{len(running)} runs of key {key!r} at {start}: {running}"

    def a_held_back_start_uses_no_attempt(self, messages: list[Message] | None = None) -> None:
        """Checked for the messages of each delivery (a read each: after every step would cost too much)."""
        for message in self.messages.values() if messages is None else messages:
            runs = self.ledger.read(message.id).runs
            assert runs == self.calls.get(message.id, 0), f"{message.task}: {runs} attempts, called {self.calls}"

    def check_nothing_lost(self) -> None:
        """At the end: with time and no faults, every message runs."""
        for _ in range(200):
            pending = [m for m in self.messages.values() if not m.done]
            if not pending:
                return
            self.clock.advance(min(max(0.0, m.visible_at - self.clock()) for m in pending) + 0.01)
            self._deliver(10)
        raise AssertionError(f"lost: {[m for m in self.messages.values() if not m.done]}")


class FlowControlModelEnding(FlowControlModel):
    def teardown(self) -> None:
        try:
            self.nested = []
            while self.overran:  # the runs still going end, then every message must run
                self.overran.pop(0).strand.resume()
            self.check_nothing_lost()
            self.rate_over_any_period_is_at_most_limit_plus_burst()
            self.runs_of_a_key_at_once_are_at_most_its_limit()
            self.a_held_back_start_uses_no_attempt()
        finally:
            for run in self.overran:  # an example that failed: unwind the runs still parked, recording nothing
                run.strand.resume(RunAbandoned())
            self.dynamodb.delete_table(TableName=self.ledger.table_name)


# The long profile (make soak) runs for minutes: a start that waits looks at DynamoDB up to 20 times a second of
# simulated time, and 500 examples took past pytest's 300 s (a timeout, no invariant broken); the bounded
# profile takes seconds.
@pytest.mark.timeout(0 if is_long() else 300)
def test_flow_control_model() -> None:
    STATISTICS.clear()
    with mock_aws():
        FlowControlModel.dynamodb = boto3.client("dynamodb", region_name=REGION)
        try:
            run_state_machine_as_test(FlowControlModelEnding, settings=model_settings(BUDGET))
        finally:
            FlowControlModel.dynamodb = None
    print(f"\nflow-control model statistics: {dict(sorted(STATISTICS.items()))}")
    # Both ways a start over a limit goes: waited for in the invocation, and released unrun.
    assert STATISTICS["waits in the gate"] and STATISTICS["charge released unrun"], STATISTICS
    assert STATISTICS["export released unrun"], STATISTICS
    assert STATISTICS["export runs going on past their batch's answer"], STATISTICS


def test_a_run_going_on_past_its_batchs_answer_keeps_its_keys_slot_replayed() -> None:
    """The model's steps, replayed by hand: an export overruns its batch's answer, the clock moves past its
    invocation's lease, then more exports of its key than its limit start at once. Its lease was not extended:
    the third ran beside the two (found by a probe, then made an invariant here)."""
    with mock_aws():
        FlowControlModel.dynamodb = boto3.client("dynamodb", region_name=REGION)
        state = FlowControlModelEnding()
        try:
            state.enqueue("export", "a", 1)
            state.deliver("export", 1, {}, ["overrun"], INVOCATION_SECONDS)
            assert len(state.overran) == 1
            [held] = state.messages.values()
            state.wait(INVOCATION_SECONDS + LEASE_MARGIN_SECONDS)
            held.visible_at, back_at = math.inf, held.visible_at  # the crowd's deliveries take the new ones
            state.crowd("a", {})
            held.visible_at = back_at
            state.runs_of_a_key_at_once_are_at_most_its_limit()
            assert len(state.export_runs) == KEY_CONCURRENCY - 1  # one ran beside it; the others found no slot
        finally:
            state.teardown()
            FlowControlModel.dynamodb = None
