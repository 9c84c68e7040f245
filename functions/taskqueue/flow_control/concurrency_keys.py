"""Concurrency per key, shared by every worker: one lease item per slot, ``limit`` slots per key.

A run takes a free slot with one conditional ``PutItem`` (the slot's item does not exist, or its lease has
expired), and gives it back with a conditional ``DeleteItem`` (the lease is still its own). DynamoDB applies
each conditional write atomically, so a slot has at most one holder at a time, and a key at most ``limit``
runs. A lease expires when its run's invocation must be over (its remaining time at the start, plus a
margin): a worker that crashes or times out never holds a slot for ever.

Slots are tried from a random one on, so that workers spread over them; each try is one write. A take that
finds no slot free is "not now": the message comes back later, with no attempt used.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from taskqueue.limits import DYNAMODB_MAX_BATCH_GET_KEYS

KEY_PREFIX = "lease#"
# A lease outlives its invocation's deadline by this much: the clocks of two environments may differ a little.
LEASE_MARGIN_SECONDS = 5
# An expired lease item lingers until the table's TTL removes it; its expiry in the item is what counts.
TTL_AFTER_EXPIRY_SECONDS = 3_600
_CONDITION_FAILED = "ConditionalCheckFailedException"


def slot_id(task: str, key: str, slot: int) -> str:
    # JSON-encoded, as task identities are: no choice of task names and keys makes two slots one.
    return KEY_PREFIX + json.dumps([task, slot, key], ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class Lease:
    """A slot held by one run: given back by :meth:`KeyLeases.give_back`, or expired at ``expires``."""

    task: str
    key: str
    slot: int
    holder: str
    expires: float


@dataclass(frozen=True)
class LeaseState:
    """A running lease, as the CLI's ``limits`` reads it."""

    task: str
    key: str
    slot: int
    expires: float


class KeyLeases:
    """Leases of the keys' slots in ``table_name`` (key ``id``, TTL attribute ``expiration``)."""

    def __init__(
        self,
        table_name: str,
        client: Any,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.clock = clock
        self.rng = rng

    def take(self, task: str, key: str, limit: int, seconds: float, first: int | None = None) -> Lease | None:
        """A free slot of ``key`` for a run of at most ``seconds``, or None when all ``limit`` are held; slots
        are tried from ``first`` on (one seen free), else from a random one. Raises what DynamoDB raises but
        a failed condition; a write whose answer was lost is undone first."""
        now = self.clock()
        if first is None:
            first = int(self.rng() * limit) % limit
        for offset in range(limit):
            slot = (first + offset) % limit
            lease = Lease(task, key, slot, uuid.uuid4().hex, now + seconds + LEASE_MARGIN_SECONDS)
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        "id": {"S": slot_id(task, key, slot)},
                        "holder": {"S": lease.holder},
                        **_expiry(lease.expires),
                        "task": {"S": task},
                        "lease_key": {"S": key},
                        "slot": {"N": str(slot)},
                    },
                    ConditionExpression="attribute_not_exists(id) OR expires < :now",
                    ExpressionAttributeValues={":now": {"N": repr(round(now, 3))}},
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                    continue
                self._undo(lease)
                raise
            except BotoCoreError:
                self._undo(lease)
                raise
            return lease
        return None

    def free_slot(self, task: str, key: str, limit: int) -> int | None:
        """A slot of ``key`` that looks free now (absent, or its lease expired), for a take to try first; None
        when every one is held. One consistent read of the key's slots: cheaper than a failed write per slot
        when a waiting start looks again. The first slot when it cannot tell (some left unread)."""
        if limit > DYNAMODB_MAX_BATCH_GET_KEYS:
            return 0
        keys = [{"id": {"S": slot_id(task, key, slot)}} for slot in range(limit)]
        answer = self.client.batch_get_item(
            RequestItems={
                self.table_name: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "slot, expires"}
            }
        )
        if answer.get("UnprocessedKeys"):
            return 0
        now = self.clock()
        held = {
            int(item["slot"]["N"])
            for item in answer.get("Responses", {}).get(self.table_name, [])
            if float(item["expires"]["N"]) >= now
        }
        return next((slot for slot in range(limit) if slot not in held), None)

    def extend(self, lease: Lease, seconds: float) -> bool:
        """The run goes on longer than its lease was taken for: hold its slot ``seconds`` more from now. False when
        the slot is no longer its own (given back, or its lease expired and another run took it)."""
        expiry = _expiry(self.clock() + seconds + LEASE_MARGIN_SECONDS)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": slot_id(lease.task, lease.key, lease.slot)}},
                UpdateExpression="SET expires = :expires, expiration = :expiration",
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={
                    ":holder": {"S": lease.holder},
                    ":expires": expiry["expires"],
                    ":expiration": expiry["expiration"],
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise
        return True

    def give_back(self, lease: Lease) -> None:
        """The run is over: its slot is free (unless its lease expired and another run holds it now)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"id": {"S": slot_id(lease.task, lease.key, lease.slot)}},
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":holder": {"S": lease.holder}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise

    def _undo(self, lease: Lease) -> None:
        """A put whose answer was lost may have taken the slot: give it back, or it waits for its expiry."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self.give_back(lease)


def _expiry(expires: float) -> dict[str, dict[str, str]]:
    """A lease's end as its item keeps it: ``expires`` (what counts) and the TTL's ``expiration`` after it."""
    return {
        "expires": {"N": repr(round(expires, 3))},
        "expiration": {"N": str(int(expires) + TTL_AFTER_EXPIRY_SECONDS)},
    }


def lease_from_item(item: dict[str, Any]) -> LeaseState | None:
    """A lease item as the CLI reads it; None for an item that is not one."""
    try:
        return LeaseState(
            item["task"]["S"], item["lease_key"]["S"], int(item["slot"]["N"]), float(item["expires"]["N"])
        )
    except (KeyError, ValueError):
        return None
