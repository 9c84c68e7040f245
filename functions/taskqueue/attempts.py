"""Runs and dead-letter verdicts per message, kept in DynamoDB: every run is recorded before it starts.

SQS counts receives, not runs: a FIFO message held back behind a failing message of its group is
received without running, and a run cut off by its invocation's timeout or a crash reports nothing.
So a run is written ahead (one conditional write, before the task is called): a run that never
returns still counts, and the write itself refuses a run the message is no longer owed (its runs
used up, a dead-letter verdict on it, its last allowed run completed). The same item remembers a
dead-letter verdict whose DLQ send failed, so the task is not run again when the message comes back,
and when the last run it may start is under way (its invocation's deadline), so that a copy arriving
meanwhile is not taken for a run that never returned. A run that asked ``Retry(after=...)`` writes the time
before which no run may start: the delay travels in the invocation's answer, and when a later task of the
batch kills the invocation, that answer is lost and the message comes back sooner than asked. A run still going
when its concurrent batch was answered (a ``threads=True`` task, which cannot be stopped) holds the message: no
run starts until that run ended (its lane says so) or its hold ran out.

Items live in the module's idempotency table (key ``id``, TTL attribute ``expiration``), under a key
prefix of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from taskqueue.dead_letter_queue import MAX_ERROR_CHARS, MAX_TASK_CHARS, DeadLetter
from taskqueue.limits import SQS_MAX_RETENTION_SECONDS

KEY_PREFIX = "taskqueue-attempts#"
# A message lives at most 14 days in SQS (its maximum retention); its record outlives it by a day.
TTL_SECONDS = SQS_MAX_RETENTION_SECONDS + 86_400
_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class LedgerEntry:
    runs: int = 0  # runs started: each written before it started
    verdict: DeadLetter | None = None  # a dead letter whose send may have failed
    completed: bool = False  # its last allowed run returned (marked only for that run)
    running_until: float | None = None  # the deadline (epoch seconds) of the invocation of its latest run
    run_token: str | None = None  # the token of the write that recorded its latest run
    verdict_sent: bool = False  # its verdict's dead letter went out: the message is not dead-lettered twice
    not_before: float | None = None  # a run asked Retry(after=...): no run starts before this (epoch seconds)
    # A run went on past its batch's answer (a thread cannot be stopped): no run starts before this (epoch seconds)
    # unless that run ended, which removes it.
    overran_until: float | None = None


class RunRefused(Exception):
    """The table refused to record a run: the message is not owed one (see ``entry``). Not an error of the task."""

    def __init__(
        self,
        entry: LedgerEntry,
        still_running_seconds: float,
        retry_in_seconds: float = 0.0,
        overran_seconds: float = 0.0,
    ) -> None:
        self.entry = entry
        # How long the latest run's invocation may still be going (0: its deadline has passed).
        self.still_running_seconds = still_running_seconds
        # How long until the time its latest run asked to be retried at (0: that time has come).
        self.retry_in_seconds = retry_in_seconds
        # How long a run that went on past its batch's answer still holds the message (0: none does).
        self.overran_seconds = overran_seconds
        super().__init__(
            f"run refused by the attempts table: {entry.runs} runs recorded, verdict "
            f"{entry.verdict.reason if entry.verdict else None}, completed {entry.completed}, "
            f"retry in {retry_in_seconds:.0f} s"
        )


def refusal(entry: LedgerEntry, now: float) -> RunRefused:
    """The refusal of a run at ``now`` (epoch seconds), with how long the entry's times still hold."""
    running = 0.0 if entry.running_until is None else max(0.0, entry.running_until - now)
    retry_in = 0.0 if entry.not_before is None else max(0.0, entry.not_before - now)
    overran = 0.0 if entry.overran_until is None else max(0.0, entry.overran_until - now)
    return RunRefused(entry, running, retry_in, overran)


class AttemptLedger:
    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any | None = None,
        clock: Callable[[], float] = time.time,
        client_config: Any | None = None,
    ) -> None:
        """``client_config``: the botocore Config of the client made on first use (its connection pool)."""
        self.table_name = table_name
        self._client = dynamodb_client
        self._client_config = client_config
        # Epoch seconds: deadlines written by one execution environment are read by another.
        self.clock = clock

    @property
    def client(self) -> Any:
        # Created on first use: an invocation whose records never run a task does not need it.
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("dynamodb", config=self._client_config)
        return self._client

    def _key(self, message_id: str) -> dict[str, Any]:
        return {"id": {"S": KEY_PREFIX + message_id}}

    def _expiration(self) -> dict[str, str]:
        return {"N": str(int(self.clock()) + TTL_SECONDS)}

    def start_run(self, message_id: str, max_attempts: int | None, seconds_left: float) -> int:
        """Record a run before it starts, in an invocation with ``seconds_left``; returns its attempt number.

        Raises :class:`RunRefused` when the message is not owed a run: ``max_attempts`` runs recorded
        already, a dead-letter verdict, its last allowed run completed, or the time its latest run asked to
        be retried at not come yet. Any other error (a throttle, say) propagates: the run is not recorded,
        so it must not start.
        """
        now = self.clock()
        # botocore sends the same request again when its answer is lost (a read timeout): the token makes
        # that second copy fail the condition, and the read below tells it was this write that took.
        token = uuid.uuid4().hex
        condition = (
            "attribute_not_exists(verdict) AND attribute_not_exists(completed)"
            " AND (attribute_not_exists(run_token) OR run_token <> :token)"
            " AND (attribute_not_exists(not_before) OR not_before <= :now)"
            " AND (attribute_not_exists(overran_until) OR overran_until <= :now)"
        )
        values: dict[str, Any] = {
            ":now": {"N": repr(round(now, 3))},
            ":one": {"N": "1"},
            ":token": {"S": token},
            ":until": {"N": repr(round(now + seconds_left, 3))},
            ":expiration": self._expiration(),
        }
        if max_attempts is not None:
            condition += " AND (attribute_not_exists(runs) OR runs < :max)"
            values[":max"] = {"N": str(max_attempts)}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=self._key(message_id),
                UpdateExpression="ADD runs :one SET running_until = :until, run_token = :token, expiration = :expiration",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise
            entry = self.read(message_id)
            if entry.run_token == token:
                return entry.runs  # an earlier copy of this very write took effect
            raise refusal(entry, now) from None
        return int(response["Attributes"]["runs"]["N"])

    def read(self, message_id: str) -> LedgerEntry:
        item = self.client.get_item(TableName=self.table_name, Key=self._key(message_id), ConsistentRead=True).get(
            "Item", {}
        )
        verdict = item.get("verdict", {}).get("M")
        running_until = item.get("running_until", {}).get("N")
        run_token = item.get("run_token", {}).get("S")
        not_before = item.get("not_before", {}).get("N")
        overran_until = item.get("overran_until", {}).get("N")
        return LedgerEntry(
            runs=int(item.get("runs", {}).get("N", 0)),
            verdict=None
            if verdict is None
            else DeadLetter(
                reason=verdict["reason"]["S"],
                error=verdict.get("error", {}).get("S", ""),
                task=verdict.get("task", {}).get("S"),
                ran=verdict.get("ran", {}).get("BOOL"),
            ),
            completed="completed" in item,
            running_until=None if running_until is None else float(running_until),
            run_token=run_token,
            verdict_sent="verdict_sent" in item,
            not_before=None if not_before is None else float(not_before),
            overran_until=None if overran_until is None else float(overran_until),
        )

    def mark_completed(self, message_id: str) -> None:
        """The message's last allowed run returned: if the message comes back (its delete was lost, a later
        task killed its batch), it is done, not a run that never returned."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="SET completed = :true, expiration = :expiration",
            ExpressionAttributeValues={":true": {"BOOL": True}, ":expiration": self._expiration()},
        )

    def remember_retry(self, message_id: str, delay_seconds: float) -> None:
        """A run asked ``Retry(after=delay_seconds)``: no run of the message starts sooner, even when the answer
        carrying the delay is lost (a later task of the batch killed the invocation)."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="SET not_before = :not_before, expiration = :expiration",
            ExpressionAttributeValues={
                ":not_before": {"N": repr(round(self.clock() + delay_seconds, 3))},
                ":expiration": self._expiration(),
            },
        )

    def hold_overran(self, message_id: str, seconds: float) -> None:
        """The message's run is still going when its batch must be answered (a thread cannot be stopped): no run
        of it starts for ``seconds``, unless :meth:`overran_ended` says the run ended first."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="SET overran_until = :until, expiration = :expiration",
            ExpressionAttributeValues={
                ":until": {"N": repr(round(self.clock() + seconds, 3))},
                ":expiration": self._expiration(),
            },
        )

    def overran_ended(self, message_id: str) -> None:
        """The run that went on past its batch's answer ended: the message may run again."""
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="REMOVE overran_until SET expiration = :expiration",
            ExpressionAttributeValues={":expiration": self._expiration()},
        )

    def remember_verdict(self, message_id: str, verdict: DeadLetter, sent: bool = False) -> None:
        """Keep a dead-letter verdict: no run of the message starts after it. ``sent``: its dead letter went out
        too, so that if the message comes back (its batch was killed after the send, its delete was lost), it is
        deleted, not dead-lettered a second time. The worker writes it before the send and again, with ``sent``,
        after it: one write of the two that takes is enough for the verdict to outlive its environment."""
        value: dict[str, Any] = {"reason": {"S": verdict.reason}, "error": {"S": verdict.error[:MAX_ERROR_CHARS]}}
        if verdict.task:
            value["task"] = {"S": verdict.task[:MAX_TASK_CHARS]}
        if verdict.ran is not None:
            value["ran"] = {"BOOL": verdict.ran}
        update = "SET verdict = :verdict, expiration = :expiration"
        values: dict[str, Any] = {":verdict": {"M": value}, ":expiration": self._expiration()}
        if sent:
            update += ", verdict_sent = :true"
            values[":true"] = {"BOOL": True}
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )
