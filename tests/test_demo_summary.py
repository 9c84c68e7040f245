"""The demo's summary, from a run's outcomes, without a stack: what it prints of the rate-limited task and how
its check takes it (the run itself: tests/test_local_stack.py)."""

from __future__ import annotations

from collections import Counter

from taskqueue.observability import TASKS_HELD_BACK
from taskqueue_local.deployment.outcomes import Outcomes
from taskqueue_local.deployment.terraform_stack import DEMO_RATE_LIMITED_TASK
from taskqueue_local.scenarios import demo

SCENARIO = demo.Scenario(
    succeed=1, flaky=0, rate_limited=0, exhausted=0, permanent=0, malformed=0, unknown=0, limited=4
)


def _summary(held_back: int, runs: dict[str, int]) -> demo.Summary:
    kinds = {"m-ok": "succeed", **{f"m-limited-{n}": "limited" for n in range(SCENARIO.limited)}}
    outcomes = Outcomes(
        succeeded=set(kinds),
        succeeded_queue_ms={"m-ok": 40.0, **{f"m-limited-{n}": 1000.0 * n + 120 for n in range(SCENARIO.limited)}},
        held_back=Counter({DEMO_RATE_LIMITED_TASK: held_back, "other_task": 7}),
    )
    summary = demo.summarize("schedule", kinds, outcomes, {}, 0, 5.0)
    summary.limited_runs = Counter(runs)
    return summary


def test_the_summary_shows_the_rate_limited_task_its_runs_and_its_held_back_starts():
    summary = _summary(3, dict.fromkeys(SCENARIO.limited_ids(), 1))
    assert (summary.limited_expected, summary.held_back) == (4, 3)
    assert summary.ok
    rows = {row[0].strip(): row[1].strip() for row in _rows(summary.table())}
    assert rows[f"rate-limited {DEMO_RATE_LIMITED_TASK}"] == "4/4 ran, each once, 0.1-3.1 s after the enqueue"
    assert rows[f"starts held back ({TASKS_HELD_BACK})"] == "3"


def test_the_demo_fails_its_check_when_nothing_was_held_back_or_a_start_ran_twice_or_not_at_all():
    ids = SCENARIO.limited_ids()
    assert not _summary(0, dict.fromkeys(ids, 1)).ok  # past the burst, sent at once: some must be held back
    assert not _summary(3, {**dict.fromkeys(ids, 1), ids[0]: 2}).ok
    assert not _summary(3, {**dict.fromkeys(ids, 1), ids[0]: 0}).ok


def _rows(table: str) -> list[list[str]]:
    """The table's body rows, split at its column separator."""
    return [line.strip("│").split("│") for line in table.splitlines() if line.startswith("│")]
