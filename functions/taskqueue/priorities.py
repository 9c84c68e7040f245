"""Priorities: one SQS queue per priority (the Terraform module's ``priorities``), and which to receive from next.

The module lists its priority queues, highest first, in ``TASKQUEUE_PRIORITY_QUEUES`` (JSON: a list of
``{"priority", "queue_url", "queue_arn", "weight"}``) for the functions, and its ``queue_urls`` output maps
each priority to its queue for producers (``TASKQUEUE_QUEUE_URLS`` for the CLI). Without priorities
neither is set and everything here stays out of the way: one queue, as before.

Behind the consumer, :class:`ReceiveOrder` decides which queue each receive tries first:

- ``strict``: the highest priority queue that has messages, always. A lower priority waits while a higher
  one has a backlog.
- ``weighted``: receives are shared out by weight (smooth weighted round robin: weights 3 and 1 give
  high, high, low, high, ...); a receive whose turn falls on an empty queue takes from the next ones in
  priority order, so no capacity is left idle.

Behind event source mappings there is one mapping per queue; the module sizes their MaximumConcurrency
in proportion to the weights, so weighted is what they do, with no receive order to choose.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PRIORITY_QUEUES_ENV = "TASKQUEUE_PRIORITY_QUEUES"
RECEIVE_ORDER_ENV = "TASKQUEUE_RECEIVE_ORDER"
# What producers read (the CLI): the module's queue_urls output, {"high": "https://...", ...}.
QUEUE_URLS_ENV = "TASKQUEUE_QUEUE_URLS"
STRICT, WEIGHTED = "strict", "weighted"
RECEIVE_ORDERS = (STRICT, WEIGHTED)
# A priority names a queue ("<name>-<priority>"): lower-case letters, digits and hyphens, as the module checks.
PRIORITY_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
MAX_WEIGHT = 100


class PriorityError(ValueError):
    """The priorities' configuration, or a priority asked for, is not valid."""


@dataclass(frozen=True)
class PriorityQueue:
    """One priority's queue: its name, URL, ARN (for the records an event source mapping delivers) and weight."""

    priority: str
    queue_url: str
    queue_arn: str | None = None
    weight: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.priority, str) or not PRIORITY_NAME.match(self.priority):
            raise PriorityError(
                f"priority {self.priority!r} is not a priority name: 1-20 lower-case letters, digits or hyphens, "
                "starting with a letter"
            )
        if not isinstance(self.queue_url, str) or not self.queue_url.startswith(("https://", "http://")):
            raise PriorityError(f"priority {self.priority!r}: queue_url={self.queue_url!r} is not an SQS queue URL")
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or not 1 <= self.weight <= MAX_WEIGHT:
            raise PriorityError(
                f"priority {self.priority!r}: weight={self.weight!r} must be a whole number from 1 to {MAX_WEIGHT}"
            )


@dataclass(frozen=True)
class Priorities:
    """The priority queues, highest first, and the consumer's receive order."""

    queues: tuple[PriorityQueue, ...]
    order: str = STRICT

    def __post_init__(self) -> None:
        if not self.queues:
            raise PriorityError("priorities need at least one queue")
        if self.order not in RECEIVE_ORDERS:
            raise PriorityError(f"receive order {self.order!r} is not one of {', '.join(RECEIVE_ORDERS)}")
        for what, values in (
            ("priority", [q.priority for q in self.queues]),
            ("queue_url", [q.queue_url for q in self.queues]),
        ):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise PriorityError(f"priorities: {what} {', '.join(map(repr, repeated))} appears more than once")
        kinds = {q.queue_url.endswith(".fifo") for q in self.queues}
        if len(kinds) > 1:
            raise PriorityError("priorities: the queues must be all FIFO or all standard, not a mix")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Priorities | None:
        """From TASKQUEUE_PRIORITY_QUEUES and TASKQUEUE_RECEIVE_ORDER; None when there are no priorities."""
        text = (env.get(PRIORITY_QUEUES_ENV) or "").strip()
        if not text:
            return None
        order = (env.get(RECEIVE_ORDER_ENV) or "").strip() or STRICT
        try:
            return cls.from_json(text, order)
        except PriorityError as error:
            raise PriorityError(f"{PRIORITY_QUEUES_ENV}/{RECEIVE_ORDER_ENV}: {error}") from None

    @classmethod
    def from_json(cls, text: str, order: str = STRICT) -> Priorities:
        try:
            items = json.loads(text)
        except ValueError as error:
            raise PriorityError(f"{text[:200]!r} is not JSON: {error}") from None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise PriorityError(f"{text[:200]!r} is not a list of priority queues (objects)")
        queues = []
        for item in items:
            unknown = sorted(set(item) - {"priority", "queue_url", "queue_arn", "weight"})
            if unknown or "priority" not in item or "queue_url" not in item:
                raise PriorityError(
                    f"{item!r}: a priority queue has priority, queue_url, and optionally queue_arn and weight"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else "")
                )
            queues.append(
                PriorityQueue(item["priority"], item["queue_url"], item.get("queue_arn"), item.get("weight", 1))
            )
        return cls(tuple(queues), order)

    def to_json(self) -> str:
        return json.dumps(
            [
                {"priority": q.priority, "queue_url": q.queue_url, "queue_arn": q.queue_arn, "weight": q.weight}
                for q in self.queues
            ]
        )

    def queue_url_for_arn(self, queue_arn: str) -> str | None:
        """The URL of the priority queue with this ARN (an event source mapping's record names its queue so)."""
        return next((q.queue_url for q in self.queues if q.queue_arn == queue_arn), None)


def queue_url_for_priority(queue_urls: Mapping[str, str], priority: str) -> str:
    """The queue of ``priority`` in a producer's map (the module's queue_urls output), or a clear error."""
    url = queue_urls.get(priority)
    if url is None:
        known = ", ".join(sorted(queue_urls)) or "none"
        raise PriorityError(f"priority={priority!r} is not one of the queue's priorities ({known})")
    return url


def queue_urls_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The producer's map from TASKQUEUE_QUEUE_URLS (JSON object, priority -> queue URL); {} when unset."""
    text = (env.get(QUEUE_URLS_ENV) or "").strip()
    if not text:
        return {}
    try:
        urls = json.loads(text)
    except ValueError as error:
        raise PriorityError(f"{QUEUE_URLS_ENV}={text[:200]!r} is not JSON: {error}") from None
    if not isinstance(urls, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items()):
        raise PriorityError(f"{QUEUE_URLS_ENV}={text[:200]!r} is not an object of priority names to queue URLs")
    return urls


class ReceiveOrder:
    """Which priority queues a receive tries, in order: a small policy with no I/O.

    ``next_round()`` gives the queues for one receive; the caller takes the first that returns messages.
    It is thread-safe: a consumer may run several receive loops.
    """

    def __init__(self, queues: Sequence[PriorityQueue], order: str = STRICT) -> None:
        if order not in RECEIVE_ORDERS:
            raise PriorityError(f"receive order {order!r} is not one of {', '.join(RECEIVE_ORDERS)}")
        if not queues:
            raise PriorityError("a receive order needs at least one queue")
        self.queues = tuple(queues)
        self.order = order
        self._credit = [0] * len(self.queues)
        self._lock = threading.Lock()

    def next_round(self) -> list[PriorityQueue]:
        if self.order == STRICT or len(self.queues) == 1:
            return list(self.queues)
        with self._lock:
            # Smooth weighted round robin: each queue gains its weight, the richest is picked and pays the total.
            total = sum(q.weight for q in self.queues)
            for index, queue in enumerate(self.queues):
                self._credit[index] += queue.weight
            picked = max(range(len(self.queues)), key=lambda index: (self._credit[index], -index))
            self._credit[picked] -= total
        return [self.queues[picked], *(q for i, q in enumerate(self.queues) if i != picked)]
