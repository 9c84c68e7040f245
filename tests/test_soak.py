"""The short form of the reliability soak (`make soak` runs 2,000 tasks): faults injected, invariants hold."""

from __future__ import annotations

from taskqueue_local import soak


def test_short_soak_loses_nothing_under_faults(tmp_path):
    # More slow receives than the long run, so that a short run meets a few.
    result = soak.run(soak.SoakConfig(tasks=300, slow_receive_rate=0.1, timeout=240), work_dir=tmp_path)
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


def test_the_plan_has_every_kind_in_its_share():
    plan = soak.plan(soak.SoakConfig(tasks=1000))
    kinds = list(plan.kinds.values())
    assert kinds.count("transient") == 200
    assert kinds.count("permanent") == 20
    assert kinds.count("malformed") == 10
    assert all(kinds.count(kind) >= 1 for kind in ("exhausted", "crash", "timeout"))
    assert len(plan.bodies) == 1000
