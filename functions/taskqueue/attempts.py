"""Failed attempts and dead-letter verdicts per message, kept in DynamoDB.

SQS counts receives, not attempts: a FIFO message held back behind a failing message of its group is
received without running. Counting failed attempts here (one write per failure, none for a success)
lets a task have every attempt it was promised. The same item remembers a dead-letter verdict whose
DLQ send failed, so the task is not run again when the message comes back.

Items live in the module's idempotency table (key ``id``, TTL attribute ``expiration``), under a key
prefix of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from taskqueue.dead_letter_queue import MAX_ERROR_CHARS, MAX_TASK_CHARS, DeadLetter
from taskqueue.limits import SQS_MAX_RETENTION_SECONDS

KEY_PREFIX = "taskqueue-attempts#"
# A message lives at most 14 days in SQS (its maximum retention); its record outlives it by a day.
TTL_SECONDS = SQS_MAX_RETENTION_SECONDS + 86_400


@dataclass(frozen=True)
class LedgerEntry:
    failed_attempts: int = 0
    verdict: DeadLetter | None = None  # a dead letter whose send failed


class AttemptLedger:
    def __init__(self, table_name: str, dynamodb_client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    @property
    def client(self) -> Any:
        # Created on first use: most invocations (no failure, first receives) never need it.
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("dynamodb")
        return self._client

    def _key(self, message_id: str) -> dict[str, Any]:
        return {"id": {"S": KEY_PREFIX + message_id}}

    def read(self, message_id: str) -> LedgerEntry:
        item = self.client.get_item(TableName=self.table_name, Key=self._key(message_id), ConsistentRead=True).get(
            "Item", {}
        )
        verdict = item.get("verdict", {}).get("M")
        return LedgerEntry(
            failed_attempts=int(item.get("failed_attempts", {}).get("N", 0)),
            verdict=None
            if verdict is None
            else DeadLetter(
                reason=verdict["reason"]["S"],
                error=verdict.get("error", {}).get("S", ""),
                task=verdict.get("task", {}).get("S"),
            ),
        )

    def record_failure(self, message_id: str) -> int:
        """Count one more failed attempt; returns the count."""
        response = self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="ADD failed_attempts :one SET expiration = :expiration",
            ExpressionAttributeValues={":one": {"N": "1"}, ":expiration": {"N": str(int(time.time()) + TTL_SECONDS)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["failed_attempts"]["N"])

    def remember_verdict(self, message_id: str, verdict: DeadLetter) -> None:
        value: dict[str, Any] = {"reason": {"S": verdict.reason}, "error": {"S": verdict.error[:MAX_ERROR_CHARS]}}
        if verdict.task:
            value["task"] = {"S": verdict.task[:MAX_TASK_CHARS]}
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(message_id),
            UpdateExpression="SET verdict = :verdict, expiration = :expiration",
            ExpressionAttributeValues={
                ":verdict": {"M": value},
                ":expiration": {"N": str(int(time.time()) + TTL_SECONDS)},
            },
        )
