"""Issue 23: async def tasks run together inside a batch, threads=True tasks in the pool, plain ones alone;
and every promise of the worker holds for them, behind the consumer and behind an event source mapping."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from taskqueue import PermanentError, Retry
from taskqueue import observability as fields
from taskqueue.attempts import AttemptLedger
from taskqueue.batch import log as worker_log
from taskqueue.batch.overruns import OVERRAN_HOLD_SECONDS
from taskqueue.batch_response import ANSWER_KEY
from taskqueue.concurrency import TaskCancelled, TaskOverran
from taskqueue.config import WorkerConfig
from taskqueue.dead_letter_queue import ERROR_ATTRIBUTE, REASON_ATTRIBUTE
from taskqueue.flow_control.concurrency_keys import KeyLeases
from taskqueue.flow_control.gate import FlowGate
from taskqueue.idempotency import IdempotentRunner
from taskqueue.metrics import MetricsLine
from taskqueue.registry import TaskRegistry
from taskqueue.worker import Worker
from tests.support.aws_fakes import CallRecorder, FakeClock, LambdaContext, LogCapture, received_event
from tests.support.aws_settings import STATE_TABLE

MODES = ["consumer", "event_source_mapping"]
# How long a task waits for the others of its batch to be under way before it gives up (and fails the test).
TOGETHER_SECONDS = 5.0


def body(task: str, payload: Any = None, **fields: Any) -> str:
    return json.dumps({"task": task, "payload": payload, **fields})


def config(queues: Any, mode: str, **settings: Any) -> WorkerConfig:
    esm = mode == "event_source_mapping"
    return WorkerConfig(
        dlq_url=queues.dlq_url, behind_event_source_mapping=esm, queue_url=queues.url if esm else None, **settings
    )


def failed_ids(answer: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


def id_of(event: dict[str, Any], payload: Any) -> str:
    return next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["payload"] == payload)


def dead_letters(sqs: Any, queues: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )


class InFlight:
    """Counts runs under way (from any thread) and keeps the peak."""

    def __init__(self) -> None:
        self.now = self.peak = self.started = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.started += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


async def together(flight: InFlight, expected: int) -> None:
    """Wait (on the event loop) until ``expected`` runs are under way at once: only concurrent runs get there."""
    give_up = time.monotonic() + TOGETHER_SECONDS
    while flight.peak < expected:
        if time.monotonic() > give_up:
            raise AssertionError(f"only {flight.peak} of {expected} runs were under way together")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("mode", MODES)
def test_async_tasks_of_a_batch_run_together_on_one_reused_event_loop(sqs, queues, mode):
    registry = TaskRegistry()
    flight, loops, threads = InFlight(), set(), set()

    async def fetch(payload):
        flight.enter()
        loops.add(id(asyncio.get_running_loop()))
        threads.add(threading.get_ident())
        await together(flight, 10)
        flight.leave()

    registry.register("fetch", fetch)
    worker = Worker(config(queues, mode), sqs, registry)
    for round_number in range(2):  # the second batch: a warm invocation of the same environment
        event = received_event(sqs, queues, [body("fetch", round_number * 10 + n) for n in range(10)])
        assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert flight.started == 20 and flight.peak == 10
    assert len(loops) == 1, "one event loop per execution environment, reused by warm invocations"
    assert threads and threading.get_ident() not in threads


def test_a_task_limit_caps_its_runs_at_once(sqs, queues):
    registry = TaskRegistry()
    narrow, wide = InFlight(), InFlight()

    async def narrow_task(payload):
        narrow.enter()
        await asyncio.sleep(0.05)
        narrow.leave()

    async def wide_task(payload):
        wide.enter()
        await together(wide, 3)
        wide.leave()

    registry.register("narrow", narrow_task, concurrency=2)
    registry.register("wide", wide_task)
    worker = Worker(config(queues, "consumer"), sqs, registry)
    event = received_event(sqs, queues, [body("narrow", n) for n in range(6)] + [body("wide", n) for n in range(3)])
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert narrow.started == 6 and narrow.peak == 2
    assert wide.peak == 3


def test_the_worker_limit_caps_the_runs_at_once(sqs, queues):
    registry = TaskRegistry()
    flight = InFlight()

    async def run(payload):
        flight.enter()
        await asyncio.sleep(0.03)
        flight.leave()

    registry.register("run", run)
    worker = Worker(config(queues, "consumer", task_concurrency=3), sqs, registry)
    event = received_event(sqs, queues, [body("run", n) for n in range(9)])
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert flight.started == 9 and flight.peak == 3


def test_plain_tasks_stay_sequential_in_the_invocations_thread_and_threads_true_run_together(sqs, queues):
    registry = TaskRegistry()
    plain, pooled = InFlight(), InFlight()
    plain_threads: set[int] = set()
    all_pooled = threading.Barrier(4, timeout=TOGETHER_SECONDS)

    def sequential(payload):
        plain.enter()
        plain_threads.add(threading.get_ident())
        time.sleep(0.02)
        plain.leave()

    def threaded(payload):
        pooled.enter()
        all_pooled.wait()  # breaks (and fails the run) unless the four run at once
        pooled.leave()

    async def awaited(payload):
        await asyncio.sleep(0)

    registry.register("sequential", sequential)
    registry.register("threaded", threaded, threads=True)
    registry.register("awaited", awaited)
    worker = Worker(config(queues, "consumer"), sqs, registry)
    bodies = [body("sequential", n) for n in range(3)] + [body("threaded", n) for n in range(4)] + [body("awaited")]
    event = received_event(sqs, queues, bodies)
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert plain.started == 3 and plain.peak == 1
    assert plain_threads == {threading.get_ident()}, "plain tasks run in the invocation's own thread"
    assert pooled.peak == 4


@pytest.mark.parametrize("mode", MODES)
def test_partial_failure_retry_after_and_permanent_error_in_a_concurrent_batch(sqs, queues, mode):
    registry = TaskRegistry()
    records = CallRecorder(sqs)

    async def job(payload):
        await asyncio.sleep(0.01)
        if payload == "fail":
            raise RuntimeError("upstream 503")
        if payload == "retry":
            raise Retry(after=120)
        if payload == "permanent":
            raise PermanentError("order does not exist")

    registry.register("job", job)
    worker = Worker(config(queues, mode), sqs, registry)
    event = received_event(sqs, queues, [body("job", p) for p in ("ok", "fail", "retry", "permanent", "ok2")])
    metrics = MetricsLine("worker")
    with LogCapture(worker_log.logger) as log:
        answer = worker.handle(event, LambdaContext(), metrics)

    assert failed_ids(answer) == {id_of(event, "fail"), id_of(event, "retry")}
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "permanent_error"
    assert "PermanentError: order does not exist" in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]
    if mode == "consumer":
        delays = answer["taskqueue"]["retryDelays"]
    else:
        [call] = records.named("ChangeMessageVisibilityBatch")
        receipts = {r["receiptHandle"]: r["messageId"] for r in event["Records"]}
        delays = {receipts[e["ReceiptHandle"]]: e["VisibilityTimeout"] for e in call["Entries"]}
    assert delays[id_of(event, "retry")] == 120
    assert set(delays) == failed_ids(answer)
    # Logs and metrics per task, as in a sequential batch.
    outcomes = sorted(line[fields.OUTCOME] for line in log.lines() if fields.OUTCOME in line)
    assert outcomes == sorted([fields.DEAD_LETTERED, fields.RETRIED, fields.RETRIED])
    assert metrics.counts[fields.TASKS_SUCCEEDED, "job"] == 2
    assert metrics.counts[fields.TASKS_RETRIED, "job"] == 2
    assert metrics.counts[fields.TASKS_DEAD_LETTERED, "job"] == 1
    assert len(metrics.values[fields.TASK_DURATION]) == 5


@pytest.mark.parametrize("mode", MODES)
def test_the_attempts_table_counts_concurrent_runs_and_dead_letters_the_last(sqs, make_queues, state_table, mode):
    queues = make_queues(max_receive_count=2)
    registry = TaskRegistry()

    async def flaky(payload):
        await asyncio.sleep(0.01)
        raise RuntimeError(f"failed {payload}")

    registry.register("flaky", flaky)
    worker = Worker(
        config(queues, mode, max_receive_count=2), sqs, registry, ledger=AttemptLedger(STATE_TABLE, state_table)
    )
    event = received_event(sqs, queues, [body("flaky", n) for n in range(4)])
    assert len(failed_ids(worker.handle(event, LambdaContext()))) == 4
    assert dead_letters(sqs, queues) == []
    # The second attempt of each is its last: dead-lettered with its error, not left to SQS's redrive.
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    dead = dead_letters(sqs, queues)
    assert len(dead) == 4
    assert {d["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] for d in dead} == {"retries_exhausted"}
    assert all("attempt 2 of 2" in d["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"] for d in dead)


@pytest.mark.parametrize("mode", MODES)
def test_two_copies_of_one_task_in_a_batch_never_overlap_and_run_once_with_idempotency(sqs, queues, state_table, mode):
    registry = TaskRegistry()
    flight, ran = InFlight(), []

    async def charge(payload):
        flight.enter()
        await asyncio.sleep(0.05)
        ran.append(payload)
        flight.leave()

    registry.register("charge", charge)
    # Without idempotency: the copies share a lane, one after the other, while other tasks run beside them.
    worker = Worker(config(queues, mode), sqs, registry)
    event = received_event(sqs, queues, [body("charge", "a", id="same"), body("charge", "b", id="same")])
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert sorted(ran) == ["a", "b"] and flight.peak == 1
    # With idempotency: the second copy finds the first completed and does not run.
    ran.clear()
    worker = Worker(config(queues, mode), sqs, registry, IdempotentRunner(STATE_TABLE, 3600, state_table))
    bodies = [body("charge", "c", id="once"), body("charge", "d", id="once"), body("charge", "e", id="other")]
    event = received_event(sqs, queues, bodies)
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert sorted(ran) == ["c", "e"]


@pytest.mark.parametrize("mode", MODES)
def test_a_copy_in_a_concurrent_invocation_is_released_while_the_first_runs(sqs, queues, state_table, mode):
    registry = TaskRegistry()
    first_running, copy_answered = threading.Event(), threading.Event()
    ran = []

    async def charge(payload):
        first_running.set()
        ran.append(payload)
        while not copy_answered.is_set():
            await asyncio.sleep(0.01)

    async def other(payload):
        await asyncio.sleep(0)

    registry.register("charge", charge)
    registry.register("other", other)
    event = received_event(sqs, queues, [body("charge", 1, id="same"), body("other")])
    copy = {"Records": [json.loads(json.dumps(event["Records"][0]))]}  # SQS delivered the charge twice
    first = Worker(config(queues, mode), sqs, registry, IdempotentRunner(STATE_TABLE, 3600, state_table))
    second = Worker(config(queues, mode), sqs, registry, IdempotentRunner(STATE_TABLE, 3600, state_table))
    answers: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: answers.update(first=first.handle(event, LambdaContext())))
    thread.start()
    assert first_running.wait(TOGETHER_SECONDS)
    with LogCapture(worker_log.logger) as log:
        answers["copy"] = second.handle(copy, LambdaContext(remaining_seconds=30))
    copy_answered.set()
    thread.join(TOGETHER_SECONDS)
    assert failed_ids(answers["first"]) == set()
    assert failed_ids(answers["copy"]) == {id_of(event, 1)}
    assert ran == [1]
    [released] = [line for line in log.lines() if line.get(fields.OUTCOME) == fields.RELEASED]
    assert "another copy of this task is running" in released["message"]


@pytest.mark.parametrize("mode", MODES)
def test_near_the_deadline_running_tasks_are_cancelled_and_settled_ones_answered(sqs, make_queues, mode):
    """Runs for about 1.1 s: the invocation has 1.6 s; runs are cancelled 1 s before its end, answered at 0.5 s."""
    queues = make_queues(max_receive_count=3)
    registry = TaskRegistry()
    stuck_thread_may_end = threading.Event()

    async def quick(payload):
        await asyncio.sleep(0.01)

    async def slow(payload):
        await asyncio.sleep(60)

    def stuck(payload):  # a thread cannot be cancelled: it is still running when the answer goes out
        stuck_thread_may_end.wait(60)

    registry.register("quick", quick)
    registry.register("slow", slow)
    registry.register("stuck", stuck, threads=True)
    worker = Worker(config(queues, mode, max_receive_count=3), sqs, registry)
    event = received_event(sqs, queues, [body("quick", 1), body("slow", 2), body("stuck", 3), body("quick", 4)])
    context = LambdaContext(remaining_seconds=1.6)
    with LogCapture(worker_log.logger) as log:
        answer = worker.handle(event, context)
    try:
        assert context.get_remaining_time_in_millis() > 300, "the worker answered in time"
        assert failed_ids(answer) == {id_of(event, 2), id_of(event, 3)}
        lines = {json.loads(r["body"])["payload"]: None for r in event["Records"]}
        for line in log.lines():
            for record in event["Records"]:
                if line.get(fields.MESSAGE_ID) == record["messageId"] and fields.OUTCOME in line:
                    lines[json.loads(record["body"])["payload"]] = line
        assert lines[2][fields.OUTCOME] == fields.RETRIED and TaskCancelled.__name__ in lines[2][fields.ERROR]
        assert lines[3][fields.OUTCOME] == fields.RETRIED and TaskOverran.__name__ in lines[3][fields.ERROR]
        assert lines[1] is None and lines[4] is None  # succeeded (logged at DEBUG only)
    finally:
        stuck_thread_may_end.set()


def test_a_cancelled_run_on_its_last_attempt_is_dead_lettered_with_why(sqs, make_queues):
    """Runs for about 0.8 s."""
    queues = make_queues(max_receive_count=1)
    registry = TaskRegistry()

    async def slow(payload):
        await asyncio.sleep(60)

    registry.register("slow", slow)
    worker = Worker(config(queues, "consumer", max_receive_count=1), sqs, registry)
    event = received_event(sqs, queues, [body("slow")])
    assert failed_ids(worker.handle(event, LambdaContext(remaining_seconds=1.3))) == set()
    [dead] = dead_letters(sqs, queues)
    assert dead["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"] == "retries_exhausted"
    assert TaskCancelled.__name__ in dead["MessageAttributes"][ERROR_ATTRIBUTE]["StringValue"]


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "the run did not end"
        time.sleep(0.01)


def run_ignoring_its_cancellation(kind: str, may_end: threading.Event, effects: list[str]) -> Any:
    """An async task that goes on past its cancellation until ``may_end``: one that never awaits (it holds the
    event loop, so the cancellation cannot even reach it), or one that swallows its CancelledError."""

    async def holds_the_loop(payload):
        may_end.wait(10)  # a blocking call: the coroutine never awaits
        effects.append("done")

    async def swallows(payload):
        while not may_end.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue
        effects.append("done")

    return {"holds_the_loop": holds_the_loop, "swallows": swallows}[kind]


@pytest.mark.parametrize("kind", ["holds_the_loop", "swallows"])
def test_a_coroutine_that_ignores_its_cancellation_is_answered_as_overran_never_dead_lettered_before_its_end(
    sqs, make_queues, kind
):
    """Runs for about 1.1 s. On its last attempt: cancelled, it went on; it must not be settled as a cancelled
    run (a dead letter while its effect is still to come) but answered as a run still going, as a timeout."""
    queues = make_queues(max_receive_count=1)
    registry = TaskRegistry()
    may_end = threading.Event()
    effects: list[str] = []
    registry.register("charge", run_ignoring_its_cancellation(kind, may_end, effects))
    worker = Worker(config(queues, "consumer", max_receive_count=1), sqs, registry)
    event = received_event(sqs, queues, [body("charge", 1)])
    try:
        with LogCapture(worker_log.logger) as log:
            answer = worker.handle(event, LambdaContext(remaining_seconds=1.6))
        assert effects == [], "still running when the answer went out"
        assert dead_letters(sqs, queues) == []
        assert failed_ids(answer) == {id_of(event, 1)}
        [line] = [line for line in log.lines() if fields.OUTCOME in line]
        assert line[fields.OUTCOME] == fields.RETRIED and TaskOverran.__name__ in line[fields.ERROR]
    finally:
        may_end.set()
        wait_for(lambda: effects == ["done"])


def test_a_coroutine_that_ignores_its_cancellation_keeps_its_keys_slot_while_it_runs(sqs, queues, state_table):
    """Runs for about 1.1 s. key_concurrency=1: its one slot is not given back while the run goes on."""
    registry = TaskRegistry()
    may_end = threading.Event()
    effects: list[str] = []
    task = run_ignoring_its_cancellation("holds_the_loop", may_end, effects)
    registry.register("export", task, key_concurrency=1, key=lambda payload: payload["customer"])
    ledger = AttemptLedger(STATE_TABLE, state_table)
    settings = config(queues, "consumer", attempts_table=STATE_TABLE, max_receive_count=3)
    clock = FakeClock()  # the lease cannot expire with the wall clock, however slow the machine
    worker = Worker(settings, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table, clock))
    event = received_event(sqs, queues, [body("export", {"customer": "c1"})])
    leases = KeyLeases(STATE_TABLE, state_table, clock)  # what another worker's gate does for key c1
    try:
        answer = worker.handle(event, LambdaContext(remaining_seconds=1.6))
        assert failed_ids(answer) == {event["Records"][0]["messageId"]}
        assert effects == [], "still running when the answer went out"
        assert leases.take("export", "c1", 1, seconds=60) is None, "another worker got the slot of a run going on"
    finally:
        may_end.set()
        wait_for(lambda: effects == ["done"])
    wait_for(lambda: leases.take("export", "c1", 1, seconds=60) is not None)  # given back once the run ended


@pytest.mark.parametrize("mode", MODES)
def test_a_thread_still_running_at_the_answer_holds_its_message_until_it_ends(sqs, queues, state_table, mode):
    """Runs for about 1.1 s. A threads=True task cannot be stopped: answered as failed (TaskOverran) while it runs,
    its message is held in the attempts table; a receive of it meanwhile (another environment, its backoff over)
    is released unrun until the hold runs out, and once the run ended the hold is lifted and it runs again."""
    registry = TaskRegistry()
    may_end = threading.Event()
    runs: list[int] = []

    def export(payload):
        runs.append(payload)
        may_end.wait(10)

    registry.register("export", export, threads=True)
    ledger = AttemptLedger(STATE_TABLE, state_table)
    settings = config(queues, mode, attempts_table=STATE_TABLE, max_receive_count=3)
    event = received_event(sqs, queues, [body("export", 1)])
    message_id = event["Records"][0]["messageId"]
    try:
        answer = Worker(settings, sqs, registry, ledger=ledger).handle(event, LambdaContext(remaining_seconds=1.6))
        assert failed_ids(answer) == {message_id}
        with LogCapture(worker_log.logger) as log:
            again = Worker(settings, sqs, registry, ledger=ledger).handle(event, LambdaContext(remaining_seconds=30))
        assert failed_ids(again) == {message_id}
        assert runs == [1], "it ran again beside the run still going"
        [released] = [line for line in log.lines() if line.get(fields.OUTCOME) == fields.RELEASED]
        assert released[fields.RETRY_IN_SECONDS] > 60, "released until the hold runs out"
    finally:
        may_end.set()
    wait_for(lambda: ledger.read(message_id).overran_until is None)  # the lane lifted the hold as its run ended
    assert failed_ids(Worker(settings, sqs, registry, ledger=ledger).handle(event, LambdaContext())) == set()
    assert runs == [1, 1]


class SlowHolds(AttemptLedger):
    """The attempts table as DynamoDB slowed down (throttled, botocore retrying): the hold's write takes 1.5 s, past
    the invocation's end."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lifted = threading.Event()

    def hold_overran(self, message_id: str, seconds: float) -> None:
        time.sleep(1.5)
        super().hold_overran(message_id, seconds)

    def overran_ended(self, message_id: str) -> None:
        super().overran_ended(message_id)
        self.lifted.set()


def test_a_slow_hold_does_not_hold_the_answer_back_and_the_answer_hides_the_message_instead(sqs, queues, state_table):
    """Runs for about 2.6 s (the slow write, then the run's end). The hold is written as the answer goes out: a write
    DynamoDB slows down must not make the answer late (past the timeout it would be lost); the record's delay hides
    the message instead."""
    registry = TaskRegistry()
    may_end = threading.Event()
    registry.register("export", lambda payload: may_end.wait(10), threads=True)
    settings = config(queues, "consumer", attempts_table=STATE_TABLE, max_receive_count=3)
    ledger = SlowHolds(STATE_TABLE, state_table)
    worker = Worker(settings, sqs, registry, ledger=ledger)
    event = received_event(sqs, queues, [body("export", 1)])
    message_id = event["Records"][0]["messageId"]
    context = LambdaContext(remaining_seconds=1.6)
    try:
        answer = worker.handle(event, context)
        assert context.get_remaining_time_in_millis() > 0, "the answer waited for the hold's write"
        assert failed_ids(answer) == {message_id}
        assert answer[ANSWER_KEY]["retryDelays"][message_id] >= OVERRAN_HOLD_SECONDS
    finally:
        may_end.set()
        assert ledger.lifted.wait(10), "the run ended and its late hold was lifted"


@pytest.mark.parametrize("mode", MODES)
def test_fifo_groups_run_in_order_one_at_a_time_and_side_by_side(sqs, make_queues, mode):
    queues = make_queues(fifo=True)
    registry = TaskRegistry()
    order: list[tuple[str, int]] = []
    flights: dict[str, InFlight] = {"a": InFlight(), "b": InFlight()}
    both = InFlight()

    async def step(payload):
        group, n = payload
        flights[group].enter()
        both.enter()
        if n == 0:
            await together(both, 2)  # the first of each group run at once
        await asyncio.sleep(0.01)
        order.append((group, n))
        flights[group].leave()
        both.leave()
        if payload == ["b", 1]:
            raise RuntimeError("b1 fails: b2 waits behind it")

    registry.register("step", step)
    worker = Worker(config(queues, mode), sqs, registry)
    payloads = [["a", 0], ["b", 0], ["a", 1], ["b", 1], ["a", 2], ["b", 2]]
    event = received_event(sqs, queues, [body("step", p) for p in payloads], group_ids=[p[0] for p in payloads])
    answer = worker.handle(event, LambdaContext())
    assert [n for g, n in order if g == "a"] == [0, 1, 2]
    assert [n for g, n in order if g == "b"] == [0, 1]  # b2 held back behind the failed b1
    assert flights["a"].peak == 1 and flights["b"].peak == 1 and both.peak == 2
    assert failed_ids(answer) == {id_of(event, ["b", 1]), id_of(event, ["b", 2])}


def test_a_batch_of_plain_tasks_runs_as_before(sqs, queues, monkeypatch):
    """No async or threads=True task in the batch: no lane, no pool, no event loop."""
    registry = TaskRegistry()
    ran: list[int] = []
    registry.register("plain", lambda payload: ran.append(payload))

    async def awaited(payload):  # registered, not in this batch
        return None

    registry.register("awaited", awaited)
    worker = Worker(config(queues, "consumer"), sqs, registry)
    monkeypatch.setattr(worker.batch_runner, "start", lambda *a, **k: pytest.fail("a plain batch went concurrent"))
    event = received_event(sqs, queues, [body("plain", n) for n in range(3)])
    assert failed_ids(worker.handle(event, LambdaContext())) == set()
    assert sorted(ran) == [0, 1, 2]


def test_the_bench_io_tasks_run_through_the_worker(sqs, queues, monkeypatch):
    """The bench's I/O-bound tasks (bench/io_tasks): 10 runs of 0.1 s each; async and threaded ones end together."""
    import sys
    from pathlib import Path

    from taskqueue.registry import default_registry, import_task_modules

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import_task_modules(["io_tasks"])
    try:
        import io_tasks

        worker = Worker(config(queues, "consumer"), sqs, default_registry)
        elapsed = {}
        for name in io_tasks.IO_TASKS:
            event = received_event(sqs, queues, [body(name, {"seconds": 0.1}) for _ in range(10)])
            started = time.monotonic()
            assert failed_ids(worker.handle(event, LambdaContext())) == set()
            elapsed[name] = time.monotonic() - started
        assert elapsed["io_sequential"] >= 1.0
        assert elapsed["io_async"] < 0.5 and elapsed["io_threads"] < 0.5, elapsed
    finally:
        for name in ("io_async", "io_threads", "io_sequential"):
            default_registry.unregister(name)
        sys.modules.pop("io_tasks", None)


def test_a_plain_task_that_returns_after_the_answer_point_is_answered_as_it_settled(sqs, queues, state_table):
    """A plain task of a concurrent batch runs on the invocation's thread. One that returned after the answer point,
    before the timeout, was answered as still running (TaskOverran) and came back to run again: the thread found
    its record unsettled, its lane not having recorded it yet (found by a probe). About 3 s."""
    registry = TaskRegistry()
    ran: list[Any] = []

    async def ping(payload: Any) -> None:
        return None

    def charge(payload: Any) -> None:
        time.sleep(2.6)  # starts with 3 s left: returns with 0.4 s left, past the 0.5 s answer point
        ran.append(payload)

    registry.register("ping", ping)
    registry.register("charge", charge)
    ledger = AttemptLedger(STATE_TABLE, state_table)
    worker = Worker(config(queues, "consumer", attempts_table=STATE_TABLE), sqs, registry, ledger=ledger)
    event = received_event(sqs, queues, [body("charge", 1), body("ping", 2)])
    answer = worker.handle(event, LambdaContext(remaining_seconds=3.0))
    assert ran == [1]
    assert failed_ids(answer) == set()


def test_the_holds_of_many_runs_still_going_are_written_before_the_answer(sqs, queues, state_table):
    """Ten threads=True runs holding key slots still go on at the answer, DynamoDB answering each write in 30 ms: the
    answer waits for the holds' writes only until its margin is half gone (0.25 s). Written one after another, each
    run's hold then its lease extension, 3 of 10 holds landed in time, and 7 messages were hidden 900 s instead of
    their backoff (found by a probe). About 3 s."""
    registry = TaskRegistry()
    may_end = threading.Event()
    registry.register("export", lambda payload: may_end.wait(30), threads=True, key_concurrency=10, key=lambda p: "c")

    def slow_write(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "UpdateItem":
            time.sleep(0.03)

    state_table.meta.events.register("before-parameter-build.dynamodb", slow_write)
    settings = config(queues, "consumer", attempts_table=STATE_TABLE, task_concurrency=10)
    ledger = AttemptLedger(STATE_TABLE, state_table)
    worker = Worker(settings, sqs, registry, ledger=ledger, flow=FlowGate(STATE_TABLE, state_table))
    event = received_event(sqs, queues, [body("export", n, id=f"x{n}") for n in range(10)])
    try:
        answer = worker.handle(event, LambdaContext(remaining_seconds=2.5))
    finally:
        may_end.set()
    delays = answer[ANSWER_KEY]["retryDelays"]
    assert len(failed_ids(answer)) == 10
    assert [delay for delay in delays.values() if delay >= OVERRAN_HOLD_SECONDS] == []  # each held by its table write
