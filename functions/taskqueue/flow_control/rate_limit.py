"""The rate limit of a task, shared by every worker: GCRA (a token bucket kept as one time) in DynamoDB.

One item per task holds ``tat``, the "theoretical arrival time" (epoch microseconds): the time at which the
bucket will be full again. A start at ``now`` is allowed when ``tat - now <= (burst - 1) * T`` (``T`` = the
time one start uses up; a burst of 0 is 1), and moves ``tat`` to ``max(tat, now) + T``. So over any closed
window of ``w`` seconds, at most ``floor(w * limit / period) + burst`` starts are allowed (``limit + burst``
over one period), and over a half-open window one fewer: starts seen less than one ``T`` after their grants
still hold ``limit + burst`` in any half-open window of one period.

Why this and not a token count with a read and a conditional write: under load (``tat >= now``) a take is
one ``UpdateItem`` whose condition and arithmetic DynamoDB applies atomically (``SET tat = tat + :T`` if
``tat`` is between ``now`` and ``now + (burst - 1) * T``), with no read and no lost race between workers: two
workers taking at once both succeed while tokens last, in DynamoDB's order. Only an idle bucket (``tat``
in the past) or a full one needs a consistent read to tell which, and then a second write.

A held-back start comes back when its token will be there. So that a crowd of held-back messages does not
come back in the same second (each receive counts toward the queue's ``maxReceiveCount``), the item keeps
a second time, ``queue_end``: the end of the line of messages already told when to come back; each new one
takes the next emission after it. It is only a hint: a message back at its time checks the bucket again.

Every failure of DynamoDB (throttle, error, an answer lost) is "not now" for the caller: a take that may
have happened and was not used only lowers the rate. Workers' clocks (Lambda's, NTP-synchronised) are
the time: a skew of a few milliseconds moves the bound by as much.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from taskqueue.flow_control.spec import MICROS, RateLimit

KEY_PREFIX = "rate#"
# A bucket is gone (the table's TTL) a day after the latest ``tat`` a write can leave; gone, it is full.
TTL_SECONDS = 86_400
# Reads and retries of one take before it gives up as "not now" (the bucket changed under it each time).
MAX_ROUNDS = 3
_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Take:
    """A take's answer: ``granted``, else how long until the caller should look again (seconds, > 0)."""

    granted: bool
    retry_in_seconds: float = 0.0
    granted_at: float = 0.0  # the limiter's time of the grant (epoch seconds)


@dataclass(frozen=True)
class BucketState:
    """A bucket as read (the CLI's ``limits``): its limit as written by the last take, and ``tat``."""

    task: str
    limit: RateLimit
    tat_micros: int

    def tokens(self, now: float) -> float:
        """Starts allowed at once at ``now``: the bucket's capacity when full, less as ``tat`` runs ahead."""
        ahead = self.tat_micros - micros(now)
        free = (self.limit.tolerance_micros - ahead) / self.limit.emission_micros + 1
        return max(0.0, min(float(self.limit.capacity), free))


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def _expiration(latest_tat: int) -> int:
    """The item's TTL (epoch seconds): a day after the bucket is full again, not after the write. A bucket
    more than a day ahead (``1/h`` with a burst of 48) expiring sooner would come back full: more starts."""
    return latest_tat // MICROS + TTL_SECONDS


def micros(seconds: float) -> int:
    """Epoch microseconds, rounded down: a start is never counted before its time. Rounded to nanoseconds first,
    so that a float's error (1000.1 is 1000.0999999...) does not cost a whole microsecond: a start that waited
    exactly until its token would otherwise find it one microsecond away."""
    return math.floor(round(seconds * MICROS, 3))


def item_id(task: str) -> str:
    return KEY_PREFIX + task


class RateLimiter:
    """Takes from the tasks' buckets in ``table_name`` (key ``id``, TTL attribute ``expiration``)."""

    def __init__(self, table_name: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock
        # The last ``tat`` seen per task in this environment: says which write to try first.
        self._last_tat: dict[str, int] = {}

    def take(self, task: str, limit: RateLimit, wait_seconds: float = 0.0) -> Take:
        """One start of ``task`` under ``limit``, now: granted, or when to look again. A token due within
        ``wait_seconds`` is answered with its time, for the caller to wait for it; a later one puts the start
        in the line to come back. Raises what DynamoDB raises but a failed condition (the caller takes that
        as "not now")."""
        busy_first = self._last_tat.get(task, 0) >= micros(self.clock())
        for _ in range(MAX_ROUNDS):
            # The time of each round, not of the first: a grant's time is as near to its start as it can be.
            now = micros(self.clock())
            if busy_first and self._take_busy(task, limit, now):
                return Take(True, granted_at=now / MICROS)
            tat = self._read_tat(task)
            if tat is not None:
                self._last_tat[task] = tat
            if tat is not None and tat - now > limit.tolerance_micros:
                earliest = tat - limit.tolerance_micros
                if earliest - now <= wait_seconds * MICROS:  # the caller waits for it: no place in the line
                    return Take(False, (earliest - now) / MICROS)
                return Take(False, self._come_back_in(task, limit, now, earliest))
            if (tat is None or tat < now) and self._take_idle(task, limit, now):
                return Take(True, granted_at=now / MICROS)
            busy_first = True  # tat was in [now, now + tolerance], or moved there meanwhile
        return Take(False, limit.emission_micros / MICROS)

    def _take_busy(self, task: str, limit: RateLimit, now: int) -> bool:
        """``tat`` in [now, now + tolerance]: move it one emission on, in one conditional write."""
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": item_id(task)}},
                UpdateExpression="SET tat = tat + :emission, expiration = :expiration, " + _LIMIT_SET,
                ConditionExpression="tat BETWEEN :now AND :latest",
                ExpressionAttributeValues={
                    ":emission": {"N": str(limit.emission_micros)},
                    ":now": {"N": str(now)},
                    ":latest": {"N": str(now + limit.tolerance_micros)},
                    ":expiration": {"N": str(_expiration(now + limit.tolerance_micros + limit.emission_micros))},
                    **_limit_values(limit),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            return False
        self._last_tat[task] = int(answer["Attributes"]["tat"]["N"])
        return True

    def _take_idle(self, task: str, limit: RateLimit, now: int) -> bool:
        """``tat`` in the past (or no bucket yet): the bucket is full; the start sets ``tat`` to now + one emission."""
        tat = now + limit.emission_micros
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": item_id(task)}},
                UpdateExpression="SET tat = :tat, expiration = :expiration, " + _LIMIT_SET,
                ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                ExpressionAttributeValues={
                    ":tat": {"N": str(tat)},
                    ":now": {"N": str(now)},
                    ":expiration": {"N": str(_expiration(tat))},
                    **_limit_values(limit),
                },
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            return False
        self._last_tat[task] = tat
        return True

    def _read_tat(self, task: str) -> int | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"id": {"S": item_id(task)}}, ConsistentRead=True
        ).get("Item", {})
        tat = item.get("tat", {}).get("N")
        return None if tat is None else int(tat)

    def _come_back_in(self, task: str, limit: RateLimit, now: int, earliest: int) -> float:
        """Seconds until a held-back start should look again: when the next token will be there, or, with
        others already told to come back, one emission after the last of them. Never sooner than ``earliest``.
        The line is a hint: when it cannot be written, the start comes back at ``earliest``."""
        when = earliest
        key = {"id": {"S": item_id(task)}}
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET queue_end = queue_end + :emission",
                ConditionExpression="queue_end >= :earliest",
                ExpressionAttributeValues={
                    ":emission": {"N": str(limit.emission_micros)},
                    ":earliest": {"N": str(earliest)},
                },
                ReturnValues="UPDATED_NEW",
            )
            when = max(earliest, int(answer["Attributes"]["queue_end"]["N"]) - limit.emission_micros)
        except ClientError as error:
            if _condition_failed(error):  # the line is empty: this start heads it
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.client.update_item(
                        TableName=self.table_name,
                        Key=key,
                        UpdateExpression="SET queue_end = :end",
                        ConditionExpression="attribute_not_exists(queue_end) OR queue_end < :earliest",
                        ExpressionAttributeValues={
                            ":end": {"N": str(earliest + limit.emission_micros)},
                            ":earliest": {"N": str(earliest)},
                        },
                    )
        except BotoCoreError:
            pass
        return max(when - now, 1) / MICROS

    def read(self, task: str) -> BucketState | None:
        """The bucket of ``task`` as the last take left it, or None if there is none."""
        item = self.client.get_item(
            TableName=self.table_name, Key={"id": {"S": item_id(task)}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else bucket_from_item(item)


# Each take writes the limit it applied, so that `python -m taskqueue limits` can tell the tokens left.
_LIMIT_SET = "rate_limit = :limit, rate_period = :period, rate_burst = :burst"


def _limit_values(limit: RateLimit) -> dict[str, Any]:
    return {
        ":limit": {"N": str(limit.limit)},
        ":period": {"N": str(limit.period_seconds)},
        ":burst": {"N": str(limit.burst)},
    }


def bucket_from_item(item: dict[str, Any]) -> BucketState | None:
    """A bucket item as the CLI reads it; None for an item that is not one (or is missing its limit)."""
    key = item.get("id", {}).get("S", "")
    try:
        limit = RateLimit(
            int(item["rate_limit"]["N"]), int(item["rate_period"]["N"]), int(item.get("rate_burst", {"N": "0"})["N"])
        )
        tat = int(item["tat"]["N"])
    except (KeyError, ValueError):
        return None
    return BucketState(key.removeprefix(KEY_PREFIX), limit, tat)


def ceil_seconds(seconds: float) -> int:
    """A wait as SQS's visibility takes it (whole seconds), rounded up: never back sooner."""
    return max(1, math.ceil(seconds))
