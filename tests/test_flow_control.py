"""Flow control (issue 24): a rate limit per task and a concurrency limit per key, held in DynamoDB across
every worker; a start over a limit is released unrun, with no attempt used, in both trigger modes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskqueue import batch_response, task
from taskqueue import worker as worker_module
from taskqueue.attempts import AttemptLedger
from taskqueue.batch.budget import MIN_REMAINING_SECONDS_TO_START
from taskqueue.batch_response import ANSWER_KEY
from taskqueue.config import WorkerConfig
from taskqueue.flow_control.concurrency_keys import KeyLeases
from taskqueue.flow_control.gate import START_DELAY_SECONDS, FlowControlNotConfigured, FlowGate, check_configured
from taskqueue.flow_control.rate_limit import RateLimiter
from taskqueue.flow_control.spec import RateLimit, flow_limits
from taskqueue.limits import SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
from taskqueue.metrics import MetricsLine
from taskqueue.observability import TASKS_HELD_BACK
from taskqueue.operations.cli import main
from taskqueue.operations.dlq_message import read_reason
from taskqueue.registry import TaskRegistry, default_registry
from taskqueue.worker import Worker
from tests.support.aws_fakes import CallRecorder, FailingCalls, FakeClock, LambdaContext, received_event
from tests.support.aws_settings import STATE_TABLE


def body(name: str, payload: Any = None) -> str:
    return json.dumps({"task": name, "payload": payload})


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


# -- what a task declares ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rate_limit": "10"}, "rate_limit='10' must be a count per second"),
        ({"rate_limit": "0/s"}, "rate_limit='0/s'"),
        ({"rate_limit": "10/d"}, "rate_limit='10/d'"),
        ({"rate_limit": 10}, "rate_limit=10"),
        ({"rate_limit": "10/s", "burst": -1}, "burst=-1 must be a whole number"),
        ({"rate_limit": "10/s", "burst": 1.5}, "burst=1.5"),
        ({"burst": 3}, "burst=3 needs a rate_limit"),
        ({"key_concurrency": 0, "key": str}, "key_concurrency=0 must be a whole number from 1"),
        ({"key_concurrency": True, "key": str}, "key_concurrency=True"),
        ({"key_concurrency": 2}, "key=None must be a function of the payload"),
        ({"key": str}, "key_concurrency=None"),
    ],
)
def test_a_bad_flow_limit_is_refused_naming_the_argument_and_value(arguments, message):
    with pytest.raises(ValueError, match="task 'charge'") as refused:
        TaskRegistry().register("charge", lambda payload: None, **arguments)
    assert message in str(refused.value)


def test_rate_limits_read_per_second_minute_and_hour():
    assert flow_limits("t", "10/s").rate == RateLimit(10, 1, 0)
    assert flow_limits("t", "600 / m", 5).rate == RateLimit(600, 60, 5)
    assert flow_limits("t", "3/hour").rate == RateLimit(3, 3600, 0)
    assert RateLimit(3, 1).emission_micros == 333_334  # rounded up: never above the limit
    assert flow_limits("t") is None


# -- the rate limiter and the leases, against moto's DynamoDB ----------------------------------------


def test_the_bucket_allows_the_burst_then_the_rate_and_says_when_a_token_will_be_there(state_table):
    clock = FakeClock()
    limiter = RateLimiter(STATE_TABLE, state_table, clock)
    limit = RateLimit(5, 1, burst=2)
    assert [limiter.take("charge", limit).granted for _ in range(2)] == [True, True]  # the burst: the bucket's size
    refused = limiter.take("charge", limit)
    assert not refused.granted
    assert refused.retry_in_seconds == pytest.approx(0.2)
    clock.advance(0.1)
    assert not limiter.take("charge", limit).granted
    clock.advance(0.1)
    assert limiter.take("charge", limit).granted
    # Idle for long: full again, with no more than the burst at once.
    clock.advance(60)
    assert [limiter.take("charge", limit).granted for _ in range(3)] == [True, True, False]
    assert limiter.read("charge").tokens(clock()) == 0


@pytest.mark.parametrize("burst", [0, 1, 3])
def test_a_closed_window_of_one_period_holds_at_most_limit_plus_burst_starts(state_table, burst):
    # Taking as fast as allowed, from idle: the burst at once, then one start per emission. With a bucket one
    # start larger than the burst, a start on the window's closing edge made limit + burst + 1 (seen failing).
    clock = FakeClock()
    limiter = RateLimiter(STATE_TABLE, state_table, clock)
    limit = RateLimit(5, 1, burst=burst)
    grants = []
    for step in range(301):  # 3 s, every 10 ms
        clock.now = 1_000 + step / 100
        while limiter.take("charge", limit).granted:
            grants.append(step)
    most = max(sum(1 for other in grants if step <= other <= step + 100) for step in grants)
    assert most == limit.limit + max(burst, 1)
    # A half-open window has one fewer: a start seen up to one emission after its grant is within the bound.
    assert max(sum(1 for other in grants if step <= other < step + 100) for step in grants) <= limit.limit + burst


def test_a_bucket_ahead_by_more_than_a_day_is_kept_until_it_is_full_again(state_table):
    # 1/h with a burst of 48 runs the bucket 48 h ahead; its TTL a day after the write deleted it a day early,
    # and the bucket came back full: 96 starts in a day and a second (seen failing: expiration 24 h after the
    # write, tat 48 h ahead).
    clock = FakeClock()
    limiter = RateLimiter(STATE_TABLE, state_table, clock)
    limit = RateLimit(1, 3600, burst=48)
    while limiter.take("report", limit).granted:
        pass
    item = state_table.get_item(TableName=STATE_TABLE, Key={"id": {"S": "rate#report"}})["Item"]
    tat_seconds = int(item["tat"]["N"]) / 1_000_000
    assert tat_seconds - clock() == pytest.approx(48 * 3600)
    assert int(item["expiration"]["N"]) >= tat_seconds + 86_400 - 1


def test_held_back_starts_are_told_to_come_back_one_emission_apart(state_table):
    clock = FakeClock()
    limiter = RateLimiter(STATE_TABLE, state_table, clock)
    limit = RateLimit(2, 1)
    assert limiter.take("t", limit).granted
    waits = [limiter.take("t", limit).retry_in_seconds for _ in range(3)]
    assert waits == pytest.approx([0.5, 1.0, 1.5])


def test_a_key_has_at_most_its_limit_of_leases_and_a_lease_expires(state_table):
    clock = FakeClock()
    leases = KeyLeases(STATE_TABLE, state_table, clock)
    first = leases.take("export", "customer-1", 2, seconds=60)
    second = leases.take("export", "customer-1", 2, seconds=60)
    assert first is not None and second is not None and first.slot != second.slot
    assert leases.take("export", "customer-1", 2, seconds=60) is None
    assert leases.take("export", "customer-2", 2, seconds=60) is not None  # another key, its own slots
    leases.give_back(first)
    third = leases.take("export", "customer-1", 2, seconds=60)
    assert third is not None
    clock.advance(60 + 6)  # past the leases' expiry (plus the margin): a crashed run holds no slot
    assert leases.take("export", "customer-1", 2, seconds=60) is not None
    leases.give_back(second)  # expired and taken by another run meanwhile: not taken from it
    assert leases.take("export", "customer-1", 2, seconds=60) is not None
    assert leases.take("export", "customer-1", 2, seconds=60) is None


def test_a_look_at_a_keys_slots_names_one_free_or_expired_and_none_while_all_are_held(state_table):
    clock = FakeClock()
    leases = KeyLeases(STATE_TABLE, state_table, clock, rng=lambda: 0.0)
    assert leases.free_slot("export", "c1", 3) == 0
    held = [leases.take("export", "c1", 3, seconds=10) for _ in range(3)]
    assert [lease.slot for lease in held if lease is not None] == [0, 1, 2]
    assert leases.free_slot("export", "c1", 3) is None
    leases.give_back(held[1])  # slot 1's run ended
    assert leases.free_slot("export", "c1", 3) == 1
    assert leases.take("export", "c1", 3, seconds=100, first=1) is not None
    assert leases.free_slot("export", "c1", 3) is None
    clock.advance(10 + 5 + 1)  # slots 0 and 2: their runs' leases expired
    assert leases.free_slot("export", "c1", 3) == 0


def test_no_choice_of_task_names_and_keys_makes_two_slots_one(state_table):
    """Task names and keys may hold the separator a slot's id would be joined with."""
    leases = KeyLeases(STATE_TABLE, state_table, FakeClock())
    assert leases.take("a", "1#x", 1, seconds=60) is not None
    taken = [leases.take("a#0", "x", 2, seconds=60) for _ in range(2)]
    assert all(lease is not None for lease in taken), taken


# -- in the worker -----------------------------------------------------------------------------------


def limited_worker(sqs, queues, state_table, registry, clock=None, sleep=None, **config: Any) -> Worker:
    clock = clock or FakeClock()
    gate = FlowGate(STATE_TABLE, state_table, clock, sleep=sleep or clock.advance)
    return Worker(WorkerConfig(dlq_url=queues.dlq_url, **config), sqs, registry, flow=gate)


def test_a_start_over_the_rate_limit_is_released_unrun_with_no_attempt_used(sqs, queues, state_table):
    registry = TaskRegistry()
    ran: list[Any] = []
    registry.register("charge", ran.append, rate_limit="1/m")
    ledger = AttemptLedger(STATE_TABLE, state_table)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE, max_receive_count=3)
    worker = Worker(config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table, FakeClock()))
    event = received_event(sqs, queues, [body("charge", n) for n in range(3)])
    metrics = MetricsLine("worker")
    response = worker.handle(event, LambdaContext(), metrics)

    assert ran == [0]
    held = {r["messageId"] for r in event["Records"][1:]}
    assert failed_ids(response) == held
    delays = response[ANSWER_KEY]["retryDelays"]
    assert sorted(delays[m] for m in held) == [60, 120]  # when their tokens will be there, one after the other
    assert metrics.counts[TASKS_HELD_BACK, "charge"] == 2
    assert [ledger.read(m).runs for m in held] == [0, 0]  # the write-ahead did not count them


def test_behind_an_event_source_mapping_the_held_back_start_is_hidden_until_its_token(sqs, queues, state_table):
    registry = TaskRegistry()
    registry.register("charge", lambda payload: None, rate_limit="1/m")
    worker = limited_worker(sqs, queues, state_table, registry, behind_event_source_mapping=True, queue_url=queues.url)
    recorder = CallRecorder(sqs)
    event = received_event(sqs, queues, [body("charge", 1), body("charge", 2)])
    worker.handle(event, LambdaContext())
    [call] = recorder.named("ChangeMessageVisibilityBatch")
    [entry] = call["Entries"]
    assert entry["ReceiptHandle"] == event["Records"][1]["receiptHandle"]
    assert entry["VisibilityTimeout"] == 60


def test_a_start_whose_token_is_due_within_a_second_waits_for_it_and_runs_in_the_same_invocation(
    sqs, queues, state_table
):
    """At 10/s with no burst, a batch of 5 runs in one invocation, 0.1 s apart: released, each would have come
    back a whole second later (a receive each, and the tokens of that second unused)."""
    registry = TaskRegistry()
    clock = FakeClock()
    starts: list[float] = []
    registry.register("charge", lambda payload: starts.append(clock()), rate_limit="10/s")
    ledger = AttemptLedger(STATE_TABLE, state_table)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    gate = FlowGate(STATE_TABLE, state_table, clock, sleep=clock.advance)
    worker = Worker(config, sqs, registry, ledger=ledger, flow=gate)
    metrics = MetricsLine("worker")
    response = worker.handle(
        received_event(sqs, queues, [body("charge", n) for n in range(5)]), LambdaContext(), metrics
    )
    assert failed_ids(response) == set()
    assert [round(start - starts[0], 3) for start in starts] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert starts[0] == pytest.approx(1000.1)  # START_DELAY_SECONDS after its grant, at the clock's start
    assert metrics.counts.get((TASKS_HELD_BACK, "charge"), 0) == 0


def test_a_start_waits_no_longer_than_its_invocation_has_time_for(sqs, queues, state_table):
    """With 1.3 s left (1 s is kept to start a task) the second start's token, 0.4 s away at 2/s with no
    burst (the first start began 0.1 s after its grant), cannot be waited for: it is released, to come back
    when its token will be there."""
    registry = TaskRegistry()
    ran: list[Any] = []
    registry.register("charge", ran.append, rate_limit="2/s")
    worker = limited_worker(sqs, queues, state_table, registry)
    event = received_event(sqs, queues, [body("charge", n) for n in range(2)])
    response = worker.handle(event, LambdaContext(remaining_seconds=1.3))
    assert ran == [0]
    assert failed_ids(response) == {event["Records"][1]["messageId"]}


def test_a_rate_limited_start_begins_its_start_delay_after_its_grant_whatever_its_write_ahead_took(
    sqs, queues, state_table
):
    """Between a grant and its task's call come the run's write-ahead and status writes, whose times vary
    (80 ms for the first here, none for the others): each start begins START_DELAY_SECONDS (0.1 s) after its
    grant, so starts keep their grants' spacing; a quick write-ahead after a slow one in another worker would
    otherwise bunch them."""
    registry = TaskRegistry()
    clock = FakeClock()
    starts: list[float] = []
    registry.register("charge", lambda payload: starts.append(clock()), rate_limit="20/s", burst=3)
    ledger = AttemptLedger(STATE_TABLE, state_table, clock=clock)
    slow = [0.08]

    def start_run(*arguments: Any, **named: Any) -> int:
        clock.advance(slow.pop() if slow else 0.0)
        return AttemptLedger.start_run(ledger, *arguments, **named)

    ledger.start_run = start_run  # type: ignore[method-assign]
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    worker = Worker(
        config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table, clock, sleep=clock.advance)
    )
    response = worker.handle(received_event(sqs, queues, [body("charge", n) for n in range(3)]), LambdaContext())
    assert failed_ids(response) == set()
    # Granted at 1000.0 (the burst's first), 1000.1 and 1000.2, each as the run before it began.
    assert [round(start - START_DELAY_SECONDS, 3) for start in starts] == [1000.0, 1000.1, 1000.2]


@pytest.mark.parametrize(("remaining", "starts"), [(1.05, 1), (1.51, 2), (1.61, 1)])
def test_a_rate_limited_start_never_begins_with_less_than_the_second_the_worker_keeps(
    sqs, queues, state_table, remaining, starts
):
    """Its 0.1 s start delay counts against the invocation's time like its waits: with 1.05 s left it is not
    started (released at once, no attempt used); a start whose token is 0.4 s away with 1.51 s left, or whose
    key's slot frees 0.6 s on with 1.61 s left, waits only if it keeps its second (found by a probe: 0.95 and
    0.91 s left at the start)."""
    registry = TaskRegistry()
    clock = FakeClock()
    context = LambdaContext(remaining_seconds=remaining, clock=clock)
    left: list[float] = []
    keyed = remaining == 1.61
    limits: dict[str, Any] = {"key_concurrency": 1, "key": lambda payload: "k"} if keyed else {}
    registry.register(
        "charge", lambda payload: left.append(context.get_remaining_time_in_millis() / 1000), rate_limit="2/s", **limits
    )
    leases = KeyLeases(STATE_TABLE, state_table, clock)
    outside = leases.take("charge", "k", 1, seconds=600) if keyed else None

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        if outside is not None and clock() >= 1000.59:
            leases.give_back(outside)  # the other worker's run ends 0.6 s on

    ledger = AttemptLedger(STATE_TABLE, state_table, clock=clock)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    worker = Worker(config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table, clock, sleep=sleep))
    event = received_event(sqs, queues, [body("charge", n) for n in range(starts)])
    response = worker.handle(event, context)
    assert all(seconds >= MIN_REMAINING_SECONDS_TO_START for seconds in left), left
    assert len(left) + len(failed_ids(response)) == starts
    assert [ledger.read(record["messageId"]).runs for record in event["Records"]].count(1) == len(left)


def test_a_start_held_back_at_a_slow_rate_comes_back_within_what_sqs_allows(sqs, queues, state_table):
    """At 1/h, the line of held-back starts runs past SQS's 12 hours: each is told to come back at most then (to
    look again), or the consumer would refuse the worker's whole answer (found by a probe)."""
    registry = TaskRegistry()
    ran: list[Any] = []
    registry.register("charge", ran.append, rate_limit="1/h")
    event = received_event(sqs, queues, [body("charge", n) for n in range(10)])
    worker = limited_worker(sqs, queues, state_table, registry, attempts_table=STATE_TABLE)
    for _ in range(2):  # two batches: the second's line starts 9 hours on
        response = worker.handle(event, LambdaContext())
        delays = response[ANSWER_KEY]["retryDelays"]
        assert max(delays.values()) <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
        batch_response.parse(json.dumps(response).encode(), [record["messageId"] for record in event["Records"]])
        event = received_event(sqs, queues, [body("charge", n) for n in range(10, 20)])


def test_a_start_whose_key_frees_a_slot_while_it_waits_runs_in_the_same_invocation(sqs, queues, state_table):
    registry = TaskRegistry()
    clock = FakeClock()
    leases = KeyLeases(STATE_TABLE, state_table, clock)
    outside = leases.take("export", "c1", 1, seconds=600)  # another worker runs the one export c1 may run
    assert outside is not None
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        if len(waits) == 3:
            leases.give_back(outside)  # the other worker's run ends

    ran: list[Any] = []
    registry.register("export", ran.append, key_concurrency=1, key=lambda payload: payload["customer"])
    worker = limited_worker(sqs, queues, state_table, registry, clock=clock, sleep=sleep)
    response = worker.handle(received_event(sqs, queues, [body("export", {"customer": "c1"})]), LambdaContext())
    assert ran == [{"customer": "c1"}]
    assert failed_ids(response) == set()
    assert len(waits) == 3


def test_a_key_held_through_a_whole_wait_is_not_waited_for_again_by_the_next_starts(sqs, queues, state_table):
    """A batch of a key whose runs are long: the first start waits a second and is released, the rest at once."""
    registry = TaskRegistry()
    clock = FakeClock()
    assert KeyLeases(STATE_TABLE, state_table, clock).take("export", "c1", 1, seconds=600) is not None
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    registry.register("export", lambda payload: None, key_concurrency=1, key=lambda payload: payload["customer"])
    worker = limited_worker(sqs, queues, state_table, registry, clock=clock, sleep=sleep)
    event = received_event(sqs, queues, [body("export", {"customer": "c1", "n": n}) for n in range(4)])
    response = worker.handle(event, LambdaContext())
    assert failed_ids(response) == {record["messageId"] for record in event["Records"]}
    assert sum(waits) == pytest.approx(1.0)
    # Starts released at once meanwhile do not keep the key from being waited for: a second on, one waits again.
    clock.advance(0.5)
    worker.handle(received_event(sqs, queues, [body("export", {"customer": "c1"})]), LambdaContext())
    assert sum(waits) == pytest.approx(1.0)
    clock.advance(0.6)
    worker.handle(received_event(sqs, queues, [body("export", {"customer": "c1"})]), LambdaContext())
    assert sum(waits) == pytest.approx(2.0)


def test_a_key_runs_at_most_its_limit_at_once_and_gives_its_slot_back_after_a_success_or_a_failure(
    sqs, queues, state_table
):
    registry = TaskRegistry()
    leases = KeyLeases(STATE_TABLE, state_table, FakeClock())
    held_outside = leases.take("export", "c1", 2, seconds=600)  # another worker runs one export of c1
    assert held_outside is not None
    ran: list[Any] = []

    def export(payload):
        ran.append(payload)
        if payload["fail"]:
            raise RuntimeError("export failed")

    registry.register("export", export, key_concurrency=2, key=lambda payload: payload["customer"])
    worker = limited_worker(sqs, queues, state_table, registry)
    payloads = [{"customer": "c1", "fail": True}, {"customer": "c1", "fail": False}, {"customer": "c2", "fail": False}]
    event = received_event(sqs, queues, [body("export", p) for p in payloads])
    response = worker.handle(event, LambdaContext())
    # The first c1 ran (and failed), giving its slot back, so the second ran too; c2 has its own slots.
    assert ran == payloads
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert leases.take("export", "c1", 2, seconds=600) is not None  # both slots back but the outside one
    assert leases.take("export", "c1", 2, seconds=600) is None


def test_a_start_finding_every_slot_of_its_key_held_is_released_unrun(sqs, queues, state_table):
    registry = TaskRegistry()
    leases = KeyLeases(STATE_TABLE, state_table, FakeClock())
    assert leases.take("export", "c1", 1, seconds=600) is not None
    ran: list[Any] = []
    registry.register("export", ran.append, key_concurrency=1, key=lambda payload: payload["customer"])
    worker = limited_worker(sqs, queues, state_table, registry)
    event = received_event(sqs, queues, [body("export", {"customer": "c1"})])
    response = worker.handle(event, LambdaContext())
    assert ran == []
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert response[ANSWER_KEY]["retryDelays"][event["Records"][0]["messageId"]] >= 1


def test_a_key_function_failing_on_a_payload_dead_letters_it_unrun_with_the_reason(sqs, queues, state_table):
    registry = TaskRegistry()
    registry.register("export", lambda payload: None, key_concurrency=1, key=lambda payload: payload["customer"])
    worker = limited_worker(sqs, queues, state_table, registry)
    event = received_event(sqs, queues, [body("export", {"other": 1})])
    response = worker.handle(event, LambdaContext())
    assert failed_ids(response) == set()
    [letter] = sqs.receive_message(QueueUrl=queues.dlq_url, MessageAttributeNames=["All"])["Messages"]
    reason = read_reason(letter)
    assert reason.reason == "malformed"
    assert "key(payload) of task 'export'" in reason.error and "customer" in reason.error


@pytest.mark.parametrize("operation", ["UpdateItem", "GetItem", "PutItem"])
def test_a_failing_limiter_holds_the_start_back_never_runs_it_and_uses_no_attempt(sqs, queues, state_table, operation):
    registry = TaskRegistry()
    ran: list[Any] = []
    registry.register(
        "charge", ran.append, rate_limit="100/s", key_concurrency=5, key=lambda payload: payload["customer"]
    )
    ledger = AttemptLedger(STATE_TABLE, state_table)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    worker = Worker(config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table, FakeClock()))
    failing = FailingCalls(state_table, operation, from_call=1)
    event = received_event(sqs, queues, [body("charge", {"customer": "c"})])
    response = worker.handle(event, LambdaContext())
    failing.stop()
    message_id = event["Records"][0]["messageId"]
    assert ran == []
    assert failed_ids(response) == {message_id}
    assert ledger.read(message_id).runs == 0
    # No slot stays held by the start that did not run.
    leases = KeyLeases(STATE_TABLE, state_table, FakeClock())
    assert all(leases.take("charge", "c", 5, seconds=60) is not None for _ in range(5))


def test_a_worker_whose_task_declares_a_limit_without_the_table_cannot_start(monkeypatch, queues):
    registry = TaskRegistry()
    registry.register("charge", lambda payload: None, rate_limit="10/s", burst=5)
    with pytest.raises(FlowControlNotConfigured, match=r"'charge' \(rate_limit='10/s burst 5'\).*flow_control = true"):
        check_configured(registry.tasks(), None, STATE_TABLE)
    check_configured(registry.tasks(), STATE_TABLE, STATE_TABLE)

    monkeypatch.setenv("TASKQUEUE_DLQ_URL", queues.dlq_url)
    monkeypatch.setattr(worker_module, "import_task_modules", lambda *args: None)
    worker_module._worker.cache_clear()
    task("flow_control_test_charge", rate_limit="10/s")(lambda payload: None)
    try:
        with pytest.raises(worker_module.WorkerCannotStart, match="TASKQUEUE_FLOW_CONTROL_TABLE is not set"):
            worker_module._worker()
    finally:
        default_registry.unregister("flow_control_test_charge")
        worker_module._worker.cache_clear()


def test_a_failed_condition_is_not_mistaken_for_a_limiter_failure(state_table):
    """The bucket's conditional writes fail by design under contention: only other errors propagate."""
    limiter = RateLimiter(STATE_TABLE, state_table, FakeClock())
    limit = RateLimit(1, 1)
    assert limiter.take("x", limit).granted  # a busy bucket's take fails its condition, then reads...
    FailingCalls(state_table, "GetItem", from_call=1, code="ProvisionedThroughputExceededException")
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        limiter.take("x", limit)  # ...and a read that fails is the limiter's failure


# -- seen from the CLI -------------------------------------------------------------------------------


def test_the_limits_command_shows_each_limited_task_its_tokens_and_its_running_leases(state_table, capsys):
    limiter = RateLimiter(STATE_TABLE, state_table)
    limit = RateLimit(1, 60, burst=2)
    taken_at = time.monotonic()
    assert limiter.take("charge", limit).granted
    leases = KeyLeases(STATE_TABLE, state_table)
    assert leases.take("export", "c1", 2, seconds=30) is not None
    assert leases.take("export", "c1", 2, seconds=30) is not None
    expired = KeyLeases(STATE_TABLE, state_table, clock=lambda: 0.0)
    assert expired.take("export", "c2", 1, seconds=30) is not None  # long over: not shown

    assert main(["limits", "--table", STATE_TABLE]) == 0
    refilled = (time.monotonic() - taken_at) / 60  # a token a minute comes back while this runs
    shown = json.loads(capsys.readouterr().out)
    [rate] = shown["rate_limits"]
    assert rate["task"] == "charge" and rate["rate_limit"] == "1/m" and rate["burst"] == 2
    assert 0.99 <= rate["tokens"] <= 1.0 + refilled + 0.005  # 2 when full (the burst), one taken; shown to 2 places
    [running] = shown["running_leases"]
    assert running["task"] == "export" and running["key"] == "c1" and running["running"] == 2
    assert 30 < running["longest_lease_ends_in_seconds"] <= 35


def test_the_limits_command_without_a_table_says_how_to_get_one(capsys):
    assert main(["limits"]) == 2
    assert "TASKQUEUE_FLOW_CONTROL_TABLE" in capsys.readouterr().err


# -- what it costs -----------------------------------------------------------------------------------


def test_the_cost_model_counts_the_requests_the_limiter_sends(sqs, queues, state_table):
    from bench.cost_model import FLOW_REQUESTS, PRICES, flow_control_per_million

    recorder = CallRecorder(state_table)

    def sent() -> tuple[int, int]:
        writes = sum(recorder.count(name) for name in ("UpdateItem", "PutItem", "DeleteItem"))
        reads = recorder.count("GetItem")
        recorder.calls.clear()
        return writes, reads

    def expected(path: str) -> tuple[int, int]:
        return int(FLOW_REQUESTS[path].writes), int(FLOW_REQUESTS[path].consistent_reads)

    clock = FakeClock()
    limiter = RateLimiter(STATE_TABLE, state_table, clock)
    limit = RateLimit(10, 1, burst=5)
    assert limiter.take("t", limit).granted
    assert sent() == expected("rate_limited_start_idle")
    assert limiter.take("t", limit).granted
    assert sent() == expected("rate_limited_start")
    for _ in range(3):
        limiter.take("t", limit)
    sent()
    assert not limiter.take("t", limit).granted
    assert sent() == expected("rate_held_back")  # the first in the line to come back
    assert not limiter.take("t", limit).granted
    writes, reads = expected("rate_held_back")
    assert sent() == (writes - 1, reads)  # the next: one write fewer
    clock.advance(60)
    for _ in range(5):
        limiter.take("t", limit)  # the burst
    sent()
    assert not limiter.take("t", limit, wait_seconds=1.0).granted  # due in 0.1 s: waited for, not in the line
    clock.advance(0.1)
    assert limiter.take("t", limit).granted
    assert sent() == expected("rate_waited_for_its_token")
    leases = KeyLeases(STATE_TABLE, state_table, clock)
    lease = leases.take("e", "k", 3, seconds=10)
    assert lease is not None
    leases.give_back(lease)
    assert sent() == expected("key_limited_start")
    assert leases.free_slot("e", "k", 3) == 0
    reads_per_slot = int(FLOW_REQUESTS["key_look_again_per_slot"].consistent_reads)
    assert [call["RequestItems"][STATE_TABLE]["ConsistentRead"] for call in recorder.named("BatchGetItem")] == [True]
    assert sum(len(call["RequestItems"][STATE_TABLE]["Keys"]) for call in recorder.named("BatchGetItem")) == (
        3 * reads_per_slot
    )
    # US$ per million: 1 write, and 2 writes for a key-limited start.
    assert flow_control_per_million(FLOW_REQUESTS["rate_limited_start"]) == PRICES.dynamodb_per_million_writes
    assert flow_control_per_million(FLOW_REQUESTS["key_limited_start"]) == 2 * PRICES.dynamodb_per_million_writes


@pytest.fixture
def default_registry_restored():
    """bench.flow imports its tasks (bench.flow_tasks), which register in this process's default registry: a
    later test's worker would find limited tasks there and refuse to start without a flow-control table."""
    before = set(default_registry.names())
    yield
    for name in set(default_registry.names()) - before:
        default_registry.unregister(name)


def test_make_flow_reads_the_rate_and_the_runs_per_key_from_the_tasks_own_times(default_registry_restored):
    from bench.flow import _most_in_window, _most_running

    assert _most_in_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # [0, 1) holds three; 1.0 starts the next window
    assert _most_in_window([]) == 0
    runs = [
        {"key": "a", "start": 0.0, "end": 1.0},
        {"key": "a", "start": 0.5, "end": 1.5},
        {"key": "a", "start": 1.0, "end": 2.0},  # starts as the first ends: two at once, not three
        {"key": "b", "start": 0.2, "end": 0.4},
    ]
    assert _most_running(runs) == 2
    assert _most_running([*runs, {"key": "a", "start": 0.9, "end": 1.1}]) == 3


def test_a_limit_without_the_attempts_table_fails_the_start_as_held_back_starts_would_use_up_attempts():
    """Without the attempts table a receive is an attempt: held-back starts would be dead-lettered as
    retries_exhausted after max_attempts releases (make flow saw 31 of 500 so)."""
    registry = TaskRegistry()
    registry.register("charge", lambda payload: None, rate_limit="10/s")
    with pytest.raises(FlowControlNotConfigured, match=r"'charge'.*TASKQUEUE_ATTEMPTS_TABLE.*track_attempts"):
        check_configured(registry.tasks(), STATE_TABLE, attempts_table=None)
    check_configured(registry.tasks(), STATE_TABLE, attempts_table=STATE_TABLE)


# -- in a concurrent batch (issue 23's lanes) --------------------------------------------------------------


def test_plain_rate_limited_starts_in_a_concurrent_batch_keep_the_bound_behind_a_slow_plain_task(
    sqs, queues, state_table
):
    """A batch with an async task runs in lanes; its plain tasks run on the invocation's thread, one at a time. A
    plain rate-limited task took its token in its lane, then waited for that thread: behind a slow plain task,
    starts granted 0.25 s apart all began at once when it ended, beside another worker's starts on time (a probe
    saw 10 starts in a second against limit + burst = 6). Real threads and clock: about 3 s."""
    registry = TaskRegistry()
    starts: list[float] = []

    async def ping(payload: Any) -> None:
        return None

    registry.register("ping", ping)
    registry.register("slow", lambda payload: time.sleep(1.2))
    registry.register("charge", lambda payload: starts.append(time.time()), rate_limit="4/s")
    ledger = AttemptLedger(STATE_TABLE, state_table)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    concurrent = received_event(sqs, queues, [body("ping"), body("slow")] + [body("charge", n) for n in range(4)])
    sequential = received_event(sqs, queues, [body("charge", n) for n in range(4, 8)])
    workers = [Worker(config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table)) for _ in "ab"]

    def other_worker() -> None:
        time.sleep(0.9)  # starts taking tokens as the first worker's grants run out
        workers[1].handle(sequential, LambdaContext(remaining_seconds=60))

    other = threading.Thread(target=other_worker)
    other.start()
    workers[0].handle(concurrent, LambdaContext(remaining_seconds=60))
    other.join()
    assert len(starts) >= 6, starts  # enough started for the bound to be at stake (others may be released)
    starts.sort()
    for index, start in enumerate(starts):
        within = [later for later in starts[index:] if later <= start + 1.0]
        # limit + 1 over a closed window with no burst (docs/flow-control.md)
        assert len(within) <= 5, f"{len(within)} starts in the second from {start}: {[s - starts[0] for s in starts]}"


def test_a_threads_run_still_going_at_its_batchs_answer_keeps_its_keys_slot_until_it_ends(sqs, queues, state_table):
    """A threads=True run cannot be stopped: answered as failed at the deadline, it goes on. Its slot was a lease
    until its invocation's deadline plus 5 s, and nothing renewed it: another run of its key could start beside it
    (found by a probe). About 1.5 s."""
    registry = TaskRegistry()
    may_end = threading.Event()
    registry.register(
        "export", lambda payload: may_end.wait(30), threads=True, key_concurrency=1, key=lambda payload: "c1"
    )
    ledger = AttemptLedger(STATE_TABLE, state_table)
    config = WorkerConfig(dlq_url=queues.dlq_url, attempts_table=STATE_TABLE)
    worker = Worker(config, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table))
    event = received_event(sqs, queues, [body("export", 1)])
    response = worker.handle(event, LambdaContext(remaining_seconds=2.0))
    assert failed_ids(response) == {event["Records"][0]["messageId"]}  # answered as still running
    try:
        # A minute on, and ten: a worker elsewhere finds the slot still held, as the run still goes on.
        for later in (60, 600):
            elsewhere = KeyLeases(STATE_TABLE, state_table, clock=lambda later=later: time.time() + later)
            assert elsewhere.take("export", "c1", 1, seconds=60) is None, f"the slot was free {later} s on"
    finally:
        may_end.set()
    deadline = time.monotonic() + 10
    while KeyLeases(STATE_TABLE, state_table).take("export", "c1", 1, seconds=60) is None:  # given back at its end
        assert time.monotonic() < deadline, "the run ended and its slot was not given back"
        time.sleep(0.05)
