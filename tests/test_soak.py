"""The short form of the reliability soak (`make soak` runs 2,000 tasks): faults injected, invariants hold."""

from __future__ import annotations

import json

import pytest

from taskqueue.message import TaskMessage
from taskqueue_local.infrastructure.invocations import Invocation, InvocationRecord
from taskqueue_local.scenarios import soak
from taskqueue_local.scenarios.soak.sizing import Measurement, SizingRules, size


@pytest.mark.acceptance
def test_short_soak_loses_nothing_under_faults(tmp_path):
    # More slow receives than the long run, so that a short run meets a few.
    result = soak.run(soak.SoakConfig(tasks=300, slow_receive_rate=0.05, timeout=240), work_dir=tmp_path)
    print(result.table())

    failed = [invariant for invariant in result.invariants if not invariant.ok]
    assert not failed, failed
    # The run must have met the faults it claims to survive.
    counts = result.counts
    assert counts["injected throttles"] > 0
    assert counts["injected duplicate deliveries"] > 0
    assert counts["messages released by consumers out of time"] > 0
    assert not counts["injected SQS 500s (before / after taking effect)"].startswith("0 / 0")
    assert counts["kinds"]["crash"] >= 1 and counts["kinds"]["timeout"] >= 1
    assert counts["failed worker invocations (crash, timeout, throttle, SQS error)"] >= 3
    assert counts["shortest backoff (s)"] >= 1
    assert counts["injected worker timeouts (invocations killed at the timeout)"] >= 1
    assert counts["injected worker crashes (the environment exits mid-batch)"] >= 1


def test_the_task_mix_has_every_kind_in_its_share():
    mix = soak.task_mix(soak.SoakConfig(tasks=1000))
    kinds = list(mix.kinds.values())
    assert kinds.count("transient") == 200
    assert kinds.count("permanent") == 20
    assert kinds.count("malformed") == 10
    assert all(kinds.count(kind) >= 1 for kind in ("exhausted", "crash", "timeout"))
    assert len(mix.bodies) == 1000


def test_sizing_follows_what_was_measured():
    sizing = size(SizingRules(), Measurement(warm_seconds=[0.6, 1.0, 0.8], init_seconds=[0.7, 1.3]))
    assert sizing.worker_timeout == 6  # 4 x 1.0 (slowest warm batch) + 1.3 (slowest init) = 5.3 -> 6
    assert sizing.read_timeout == 6 + 10 + 2  # taskqueue.limits.invoke_read_timeout
    assert sizing.consumer_budget == 18 + 2 + 1 + 10  # read timeout + settle + poll + receive window
    assert sizing.per_run_concurrency * SizingRules().max_live_runs <= SizingRules().max_in_flight
    assert sizing.visibility_timeout == 31 + 10 + 2
    assert "-> 6 s" in sizing.describe()


def test_sizing_never_goes_below_its_floor_and_needs_measurements():
    assert size(SizingRules(), Measurement([0.05], [0.1])).worker_timeout == SizingRules().worker_timeout_floor
    with pytest.raises(ValueError, match="nothing measured"):
        size(SizingRules(), Measurement([], [0.1]))
    with pytest.raises(ValueError, match="max_in_flight=1 is less than max_live_runs=2"):
        SizingRules(max_in_flight=1)


def _worker_invocation(records, **outcome):
    event = json.dumps({"Records": records}).encode()
    return InvocationRecord(soak.WORKER, event, Invocation(b"", **outcome))


def test_timeouts_and_throttles_of_the_worker_are_recorded_with_their_tasks():
    mix = soak.task_mix(soak.SoakConfig(tasks=1000))
    malformed_id, malformed_body = next((i, body) for i, body in mix.bodies if isinstance(body, str))
    observed = soak.Observations(mix.task_id_of)
    records = [
        {"body": json.dumps({"task": "soak", "id": "soak-000007"}), "attributes": {"ApproximateReceiveCount": "1"}},
        {"body": malformed_body, "attributes": {"ApproximateReceiveCount": "3"}},
        # A body the soak never sent names no task of its, whatever it says.
        {"body": "not json: soak-000008", "attributes": {"ApproximateReceiveCount": "2"}},
    ]
    observed.invocation(_worker_invocation(records, function_error="Unhandled", timed_out=True))
    observed.invocation(_worker_invocation(records, throttled=True))
    observed.invocation(_worker_invocation(records, function_error="Unhandled"))  # a crash: neither
    assert observed.timed_out == [{("soak-000007", 1), (malformed_id, 3)}]
    assert observed.throttled == 1


def test_a_task_id_is_read_from_the_body_the_soak_sent_not_matched_in_its_text():
    mix = soak.task_mix(soak.SoakConfig(tasks=1000))
    for task_id, body in mix.bodies:
        # What the producer sends for a task (its message body), or the raw body as it is.
        sent = body if isinstance(body, str) else TaskMessage(body.name, body.payload, body.id).to_body()
        assert mix.task_id_of(sent) == task_id
    assert mix.task_id_of('{"task": "soak", "id": "soak-000001"}') == "soak-000001"
    assert mix.task_id_of("not json at all: soak-000001") is None  # not a body this mix sent


def test_a_crash_or_timeout_is_injected_once_per_task_and_recorded_first(tmp_path, monkeypatch):
    from taskqueue import TaskContext
    from taskqueue_local.scenarios.soak_tasks import _first_run

    injected = tmp_path / "injected.jsonl"
    monkeypatch.setenv("SOAK_INJECTED", str(injected))
    second_receive = TaskContext(task="soak", message_id="m1", receive_count=2, task_id="soak-000001")
    assert _first_run("timeout", second_receive)  # its first receive never reached it (throttled, say)
    assert not _first_run("timeout", TaskContext(task="soak", message_id="m1", receive_count=3, task_id="soak-000001"))
    assert _first_run("crash", TaskContext(task="soak", message_id="m2", receive_count=1, task_id="soak-000002"))
    assert [json.loads(line) for line in injected.read_text().splitlines()] == [
        {"kind": "timeout", "task_id": "soak-000001", "receive_count": 2},
        {"kind": "crash", "task_id": "soak-000002", "receive_count": 1},
    ]
