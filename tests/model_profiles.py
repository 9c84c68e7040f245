"""Hypothesis settings of the model-based tests: bounded in ``make test``, long in ``make soak``.

``TASKQUEUE_FAULT_MODEL_PROFILE=long`` selects the long profile; anything else, or nothing, the bounded one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def model_settings(budget: Budget) -> settings:
    long = is_long()
    return settings(
        max_examples=budget.long_examples if long else budget.bounded_examples,
        stateful_step_count=budget.steps,
        # Simulated time: a step's real duration says nothing about the code under test.
        deadline=None,
        # Each example builds boto3 clients; that is slow by Hypothesis's measure, not a problem.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
        report_multiple_bugs=False,
    )
