"""The worker's answer: Lambda's partial-batch response, plus what the consumer needs from it.

Behind an event source mapping the worker answers ``{"batchItemFailures": [...]}`` as Lambda expects.
Behind the consumer it adds ``"taskqueue": {"version": 1, "retryDelays": {message id: seconds}}``: the
delay each failed message asked for (its task's backoff, or ``Retry(after=...)``; 0 for a message that
did not run). The marker is also how the consumer knows the answer came from the worker at all: any
other answer (another function's, an empty one) fails the whole batch, so nothing is deleted unrun.
A worker that could not start adds ``"workerCannotStart": its error``, so that the consumer backs off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskqueue.limits import SQS_MAX_VISIBILITY_TIMEOUT_SECONDS

ANSWER_KEY = "taskqueue"
ANSWER_VERSION = 1
START_FAILURE_KEY = "workerCannotStart"


class InvalidWorkerResponse(ValueError):
    """The worker answered with something that is not its answer for this batch."""


@dataclass(frozen=True)
class WorkerAnswer:
    failed: frozenset[str] = frozenset()
    # Seconds to keep each failed message hidden, as the worker decided; a failed message missing
    # here gets the consumer's default backoff.
    retry_delays: Mapping[str, int] = field(default_factory=dict)
    # The worker's error when it could not start (it ran no task of the batch).
    start_failure: str | None = None


def encode(
    failed_ids: Iterable[str], retry_delays: Mapping[str, int], for_consumer: bool, start_failure: str | None = None
) -> dict[str, Any]:
    """The worker's response; ``for_consumer`` adds the extension (an event source mapping does not read it)."""
    response: dict[str, Any] = {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in failed_ids]}
    if for_consumer:
        response[ANSWER_KEY] = {"version": ANSWER_VERSION, "retryDelays": dict(retry_delays)}
        if start_failure is not None:
            response[ANSWER_KEY][START_FAILURE_KEY] = start_failure
    return response


def parse(payload: bytes, message_ids: Iterable[str]) -> WorkerAnswer:
    """The worker's answer for this batch; anything else raises :class:`InvalidWorkerResponse`."""
    batch = set(message_ids)
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidWorkerResponse(f"worker response is not JSON: {text[:200]!r}") from None
    if not isinstance(document, dict):
        raise InvalidWorkerResponse(f"worker response is not an object: {text[:200]!r}")
    marker = document.get(ANSWER_KEY)
    if not isinstance(marker, dict) or marker.get("version") != ANSWER_VERSION:
        raise InvalidWorkerResponse(
            f"the answer is not the task queue worker's (no {ANSWER_KEY!r} version {ANSWER_VERSION}): {text[:200]!r}; "
            "does TASKQUEUE_WORKER_FUNCTION name the worker?"
        )
    failures = document.get("batchItemFailures")
    if not isinstance(failures, list):
        raise InvalidWorkerResponse(f"batchItemFailures is not a list: {failures!r:.200}")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            raise InvalidWorkerResponse(f"batchItemFailures names no message of this batch: {item!r:.200}")
        failed.add(identifier)
    delays = marker.get("retryDelays", {})
    if not isinstance(delays, dict):
        raise InvalidWorkerResponse(f"retryDelays is not an object: {delays!r:.200}")
    for identifier, seconds in delays.items():
        if identifier not in failed:
            raise InvalidWorkerResponse(f"retryDelays names a message that did not fail: {identifier!r:.200}")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not 0 <= seconds <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS
        ):
            raise InvalidWorkerResponse(f"retryDelays[{identifier!r}] is not 0-43200 seconds: {seconds!r:.50}")
    start_failure = marker.get(START_FAILURE_KEY)
    if start_failure is not None and not isinstance(start_failure, str):
        raise InvalidWorkerResponse(f"{START_FAILURE_KEY} is not a string: {start_failure!r:.200}")
    return WorkerAnswer(frozenset(failed), dict(delays), start_failure)
