"""Hypothesis settings of the model-based tests: bounded in ``make test``, long in ``make soak``.

``TASKQUEUE_FAULT_MODEL_PROFILE=long`` selects the long profile; anything else, or nothing, the bounded one.

The bounded profile is deterministic: derandomized (the same examples on every run, drawn from a hash of
the test) and without Hypothesis's example database (a failure saved by one run would be replayed first by
the next, so two runs of one checkout would differ). A bounded run fails only when the code changed. The
long profile explores: a new random draw each run, failures saved in ``.hypothesis/`` and replayed first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings

PROFILE_VARIABLE = "TASKQUEUE_FAULT_MODEL_PROFILE"
PROFILES = ("bounded", "long")


@dataclass(frozen=True)
class Budget:
    """Examples and steps per example of one model-based test, in each profile."""

    bounded_examples: int
    long_examples: int
    steps: int = 50


def profile_name() -> str:
    name = os.environ.get(PROFILE_VARIABLE, "").strip() or "bounded"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={name!r} is not one of {', '.join(PROFILES)}")
    return name


# Read once, at import: the tests' autouse fixture clears TASKQUEUE_* variables before each test runs.
PROFILE = profile_name()


def is_long() -> bool:
    return PROFILE == "long"


_COMMON: dict[str, Any] = {
    # Simulated time: a step's real duration says nothing about the code under test (and a deadline
    # would fail by chance on a loaded machine).
    "deadline": None,
    # Each example builds boto3 clients; that is slow by Hypothesis's measure, not a problem.
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
    "report_multiple_bugs": False,
}
settings.register_profile("bounded", derandomize=True, database=None, **_COMMON)
settings.register_profile("long", derandomize=False, **_COMMON)


def load_profile() -> None:
    """Makes the selected profile every test's default, so that any ``@given`` follows it (conftest)."""
    settings.load_profile(PROFILE)


def model_settings(budget: Budget) -> settings:
    """A model-based test's settings: its budget, in the selected profile."""
    return settings(
        settings.get_profile(PROFILE),
        max_examples=budget.long_examples if is_long() else budget.bounded_examples,
        stateful_step_count=budget.steps,
    )
