"""Task status: one record per task identity, in the module's table, saying what became of the task.

The module's ``track_status`` turns it on (``TASKQUEUE_TRACK_STATUS``; off by default). Each task, by its
identity (:func:`taskqueue.message.task_identity`: task name and ``id``, or task name and SQS message id
for a task without an id), has one item under the key prefix :data:`KEY_PREFIX`, written by:

- the producer: ``scheduled`` (a one-time schedule created; tasks with an id only: one without gets its
  message id when its schedule fires), ``queued`` (after SQS took the message, or a redrive sent it back),
  ``cancelled`` (its schedule deleted);
- the worker: ``running`` (after its run was recorded, before the task is called), ``retrying`` (with the
  next attempt's time), ``succeeded`` (with the stored result, if the task asked for it), ``dead_lettered``
  (with the reason, the error's first line and the DLQ message's id).

Every write is conditional (:func:`allowed` says which, and the DynamoDB conditions here say the same):
a final state (succeeded, dead-lettered, cancelled) is never overwritten by a copy of the same message
(SQS delivers at least once; a late duplicate says nothing new); a ``queued`` write never overwrites what
the worker already wrote for that message. A new message of the identity (enqueued again, redriven) starts
it over. A status write that fails is logged and does not fail the task: the status lags, it never lies
(the next write of the task corrects it).

Items expire through the table's TTL attribute ``expiration`` (:data:`DEFAULT_TTL_SECONDS` after their
last write unless the module says otherwise; a scheduled task's from its due time). The index
:data:`STATE_INDEX` (partition ``task_state``, sort ``state_changed_at``) answers "which tasks are in this
state since then".
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from botocore.exceptions import ClientError

from taskqueue.config import TRACK_MODES
from taskqueue.message import task_identity

KEY_PREFIX: Final = "taskqueue-status#"
# Where the CLI (and anything else that wants to) finds the table: the module's status_table_name output.
STATUS_TABLE_ENV: Final = "TASKQUEUE_STATUS_TABLE"
STATE_INDEX: Final = "taskqueue-status-by-state"
STATE_ATTRIBUTE: Final = "task_state"
STATE_CHANGED_AT_ATTRIBUTE: Final = "state_changed_at"
TTL_ATTRIBUTE: Final = "expiration"
# The index carries these besides its keys and the table's: enough to list tasks without reading each.
INDEX_PROJECTED_ATTRIBUTES: Final = ("task", "task_id", "message_id", "attempts", "reason", "last_error")

SCHEDULED: Final = "scheduled"
QUEUED: Final = "queued"
RUNNING: Final = "running"
RETRYING: Final = "retrying"
SUCCEEDED: Final = "succeeded"
DEAD_LETTERED: Final = "dead_lettered"
CANCELLED: Final = "cancelled"
STATES: Final = (SCHEDULED, QUEUED, RUNNING, RETRYING, SUCCEEDED, DEAD_LETTERED, CANCELLED)
FINAL_STATES: Final = (SUCCEEDED, DEAD_LETTERED, CANCELLED)

# How the module tracks (TASKQUEUE_TRACK_STATUS): not at all, the tasks that ask (@task(track_status=True)),
# or all but those that refuse.
TRACK_OFF, TRACK_OPTED_IN, TRACK_ALL = TRACK_MODES

DEFAULT_TTL_SECONDS: Final = 30 * 86_400
# A stored result (@task(store_result=True)), as JSON text: a DynamoDB item holds 400 KB; this leaves the
# rest of the record, and its copy of nothing in the index (results are not projected), far within it.
MAX_RESULT_BYTES: Final = 64 * 1024
# The last error's first line is kept, cut to this many characters: a record stays within one 1 KB write unit.
MAX_ERROR_CHARS: Final = 500
_CONDITION_FAILED = "ConditionalCheckFailedException"


def first_line(error: str) -> str:
    return (error.strip().splitlines() or [""])[0][:MAX_ERROR_CHARS]


# DynamoDB's limit on a partition key's size.
MAX_KEY_BYTES: Final = 2048


@dataclass(frozen=True)
class TaskKey:
    """Which task a status is of: (task, id), or (task, SQS message id) for a task without an id."""

    task: str
    task_id: str | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a non-empty string, got {self.task!r}")
        if self.task_id is None and not self.message_id:
            raise ValueError(
                f"task {self.task!r} has no id: a task without an id is tracked by its SQS message id, so give "
                "either (its task name and id) or the handle enqueue returned"
            )

    @property
    def item_id(self) -> str:
        item_id = KEY_PREFIX + task_identity(self.task, self.task_id, str(self.message_id))
        if len(item_id) <= MAX_KEY_BYTES:  # ASCII: task_identity escapes the rest
            return item_id
        # A key DynamoDB can hold, for an identity it cannot: its digest (every writer and reader computes it).
        return KEY_PREFIX + "sha256:" + hashlib.sha256(item_id.encode("ascii")).hexdigest()


# -- what a write says ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusWrite:
    """One change of a task's status, as its writer knows it; ``at`` in epoch seconds."""

    state: str
    at: float
    message_id: str | None = None
    attempt: int | None = None
    enqueued_at: float | None = None  # queued; running (if_not_exists: from the message's SentTimestamp)
    due_at: float | None = None  # scheduled
    next_attempt_at: float | None = None  # retrying
    error: str | None = None  # retrying, dead_lettered (its first line is kept)
    reason: str | None = None  # dead_lettered
    dlq_message_id: str | None = None  # dead_lettered
    result: str | None = None  # succeeded: the JSON text of what the task returned (store_result)
    result_error: str | None = None  # succeeded: why the result was not stored

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state={self.state!r} is not one of {', '.join(STATES)}")


def allowed(current: Mapping[str, Any] | None, write: StatusWrite) -> bool:
    """Whether ``write`` may change the item ``current`` (None: no item); the DynamoDB conditions of
    :class:`StatusTable` say the same (``tests/test_status.py`` holds them to it)."""
    state = None if current is None else current.get(STATE_ATTRIBUTE)
    message_id = None if current is None else current.get("message_id")
    if write.state == SCHEDULED:  # a new request; never hides a copy on the queue or running
        return state not in (QUEUED, RUNNING, RETRYING)
    if write.state == QUEUED:  # never over what the worker wrote for this very message
        return message_id is None or message_id != write.message_id
    if write.state == CANCELLED:
        return state == SCHEDULED
    # The worker's: never over a final state of the same message (a late duplicate).
    return not (state in FINAL_STATES and message_id == write.message_id)


# -- the record read back ---------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True)
class StatusRecord:
    """What the table says of one task."""

    task: str
    task_id: str | None
    state: str
    state_changed_at: datetime
    message_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    reason: str | None = None  # dead_lettered: the dead letter's reason (taskqueue.dead_letter_queue.REASONS)
    dlq_message_id: str | None = None
    next_attempt_at: datetime | None = None  # retrying
    due_at: datetime | None = None  # scheduled
    enqueued_at: datetime | None = None
    first_started_at: datetime | None = None
    last_started_at: datetime | None = None
    finished_at: datetime | None = None
    result_json: str | None = field(default=None, repr=False)
    result_error: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def result(self) -> Any:
        """The task's stored return value (None when none was stored: see ``result_error``)."""
        return None if self.result_json is None else json.loads(self.result_json)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StatusRecord:
        """From an item as the resource layer or a plain dict gives it (numbers as Decimal or float)."""
        return cls(
            task=str(item["task"]),
            task_id=item.get("task_id"),
            state=str(item[STATE_ATTRIBUTE]),
            state_changed_at=_time(item[STATE_CHANGED_AT_ATTRIBUTE]) or datetime.fromtimestamp(0, UTC),
            message_id=item.get("message_id"),
            attempts=int(item.get("attempts", 0)),
            last_error=item.get("last_error"),
            reason=item.get("reason"),
            dlq_message_id=item.get("dlq_message_id"),
            next_attempt_at=_time(item.get("next_attempt_at")),
            due_at=_time(item.get("due_at")),
            enqueued_at=_time(item.get("enqueued_at")),
            first_started_at=_time(item.get("first_started_at")),
            last_started_at=_time(item.get("last_started_at")),
            finished_at=_time(item.get("finished_at")),
            result_json=item.get("result"),
            result_error=item.get("result_error"),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name == "result_json":
                continue
            document[name] = value.isoformat() if isinstance(value, datetime) else value
        if self.result_json is not None:
            document["result"] = self.result
        return document


class NotTracked(LookupError):
    """The table holds no status of the task: not tracked, not enqueued (yet), or expired."""


# -- DynamoDB ---------------------------------------------------------------------------------------

_WORKER_CONDITION = (
    "attribute_not_exists(#state) OR NOT (#state IN (:succeeded, :dead_lettered, :cancelled) AND message_id = :m)"
)
_CLEARED_BY_A_NEW_REQUEST = (
    "attempts",
    "last_error",
    "reason",
    "dlq_message_id",
    "next_attempt_at",
    "first_started_at",
    "last_started_at",
    "finished_at",
    "#result",
    "result_error",
)


def _number(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3))}


def _update(write: StatusWrite) -> tuple[str, str | None, dict[str, Any]]:
    """(UpdateExpression, ConditionExpression, values) for ``write`` (with its key's task and id set apart)."""
    values: dict[str, Any] = {":state": {"S": write.state}, ":at": _number(write.at)}
    sets = ["#state = :state", "#changed = :at"]
    removes: list[str] = []
    condition: str | None
    if write.message_id is not None:
        values[":m"] = {"S": write.message_id}
    if write.state == SCHEDULED:
        assert write.due_at is not None
        values[":due"] = _number(write.due_at)
        values.update({":queued": {"S": QUEUED}, ":running": {"S": RUNNING}, ":retrying": {"S": RETRYING}})
        sets.append("due_at = :due")
        removes += ["message_id", "enqueued_at", *_CLEARED_BY_A_NEW_REQUEST]
        condition = "attribute_not_exists(#state) OR NOT #state IN (:queued, :running, :retrying)"
    elif write.state == QUEUED:
        values[":enqueued"] = _number(write.enqueued_at if write.enqueued_at is not None else write.at)
        sets += ["message_id = :m", "enqueued_at = :enqueued"]
        removes += ["due_at", *_CLEARED_BY_A_NEW_REQUEST]
        condition = "attribute_not_exists(message_id) OR message_id <> :m"
    elif write.state == CANCELLED:
        values[":scheduled"] = {"S": SCHEDULED}
        sets.append("finished_at = :at")
        condition = "#state = :scheduled"
    else:
        values.update(
            {":succeeded": {"S": SUCCEEDED}, ":dead_lettered": {"S": DEAD_LETTERED}, ":cancelled": {"S": CANCELLED}}
        )
        sets.append("message_id = :m")
        condition = _WORKER_CONDITION
        if write.attempt is not None:
            values[":attempt"] = {"N": str(write.attempt)}
            sets.append("attempts = :attempt")
        if write.state == RUNNING:
            sets += ["last_started_at = :at", "first_started_at = if_not_exists(first_started_at, :at)"]
            if write.enqueued_at is not None:
                values[":enqueued"] = _number(write.enqueued_at)
                sets.append("enqueued_at = if_not_exists(enqueued_at, :enqueued)")
            removes += ["next_attempt_at", "due_at"]
        elif write.state == RETRYING:
            assert write.next_attempt_at is not None
            values[":next"] = _number(write.next_attempt_at)
            sets.append("next_attempt_at = :next")
        else:
            sets.append("finished_at = :at")
            removes.append("next_attempt_at")
        if write.error is not None:
            values[":error"] = {"S": first_line(write.error)}
            sets.append("last_error = :error")
        for name, value in (
            ("reason", write.reason),
            ("dlq_message_id", write.dlq_message_id),
            ("#result", write.result),
            ("result_error", write.result_error),
        ):
            if value is not None:
                placeholder = ":" + name.lstrip("#")
                values[placeholder] = {"S": value}
                sets.append(f"{name} = {placeholder}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return expression, condition, values


class StatusTable:
    """The status records in DynamoDB: writes (conditional), reads, and the query by state and time."""

    def __init__(
        self,
        table_name: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        dynamodb_client: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(table_name, str) or not table_name:
            raise ValueError(f"table_name must be the module's table name, got {table_name!r}")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 60:
            raise ValueError(f"ttl_seconds={ttl_seconds!r} must be a whole number of seconds, at least 60")
        self.table_name = table_name
        self.ttl_seconds = ttl_seconds
        self._client = dynamodb_client
        self.clock = clock

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StatusTable | None:
        """From $TASKQUEUE_STATUS_TABLE; None when it is not set."""
        import os  # noqa: PLC0415

        name = (os.environ if environ is None else environ).get(STATUS_TABLE_ENV)
        return cls(name) if name else None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - created on first use

            self._client = boto3.client("dynamodb")
        return self._client

    def write(self, key: TaskKey, write: StatusWrite) -> bool:
        """Apply ``write``; False when its condition refused it (see :func:`allowed`). Other errors raise."""
        expression, condition, values = _update(write)
        # The record outlives the task's last write (a scheduled one its due time) by the TTL.
        values[":expiration"] = {"N": str(int(max(write.at, write.due_at or 0.0)) + self.ttl_seconds)}
        values[":task"] = {"S": key.task}
        expression = expression.replace("SET ", "SET #task = :task, expiration = :expiration, ", 1)
        if key.task_id is not None:
            values[":task_id"] = {"S": key.task_id}
            expression = expression.replace("SET ", "SET task_id = :task_id, ", 1)
        names = {"#state": STATE_ATTRIBUTE, "#changed": STATE_CHANGED_AT_ATTRIBUTE, "#task": "task"}
        if "#result" in expression:
            names["#result"] = "result"
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"id": {"S": key.item_id}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if condition is not None:
            arguments["ConditionExpression"] = condition
        try:
            self.client.update_item(**arguments)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise
        return True

    def read(self, key: TaskKey) -> StatusRecord | None:
        item = self.client.get_item(TableName=self.table_name, Key={"id": {"S": key.item_id}}, ConsistentRead=True).get(
            "Item"
        )
        return None if item is None else StatusRecord.from_item(_plain(item))

    def in_state(self, state: str, since: datetime | None = None, limit: int | None = None) -> Iterator[StatusRecord]:
        """Tasks in ``state`` whose state changed at or after ``since``, the latest first (the index: eventually
        consistent, a second or so behind the table)."""
        if state not in STATES:
            raise ValueError(f"state={state!r} is not one of {', '.join(STATES)}")
        values: dict[str, Any] = {":state": {"S": state}}
        condition = "#state = :state"
        if since is not None:
            values[":since"] = _number(since.timestamp())
            condition += " AND #changed >= :since"
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": STATE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#state": STATE_ATTRIBUTE, "#changed": STATE_CHANGED_AT_ATTRIBUTE}
            if since is not None
            else {"#state": STATE_ATTRIBUTE},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        found = 0
        for page in self.client.get_paginator("query").paginate(**arguments):
            for item in page.get("Items", []):
                yield StatusRecord.from_item(_plain(item))
                found += 1
                if limit is not None and found >= limit:
                    return


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain values (strings, floats, booleans)."""
    plain: dict[str, Any] = {}
    for name, typed in item.items():
        (kind, value), *_ = typed.items()
        if kind == "N":
            plain[name] = float(Decimal(value))
        elif kind in ("S", "BOOL"):
            plain[name] = value
    return plain


# -- results ----------------------------------------------------------------------------------------


def encode_result(task: str, value: Any) -> tuple[str | None, str | None]:
    """(the JSON text to store, None) or (None, why it is not stored): not JSON, or over :data:`MAX_RESULT_BYTES`."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:  # RecursionError: nested too deep for json
        return None, f"the result of task {task!r} is not stored: it is not JSON-serialisable: {error}"
    size = len(text.encode("utf-8"))
    if size > MAX_RESULT_BYTES:
        return None, (
            f"the result of task {task!r} is not stored: it is {size} bytes as JSON, over the {MAX_RESULT_BYTES} "
            "bytes a status keeps (store a reference to it instead, e.g. an S3 key)"
        )
    return text, None
