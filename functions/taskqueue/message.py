"""The task message format: a JSON object ``{"task": str, "payload": any, "id": str (optional)}``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from taskqueue.errors import MalformedMessage


@dataclass(frozen=True)
class TaskMessage:
    task: str
    payload: Any = None
    id: str | None = None

    def to_body(self) -> str:
        """Serialise for SQS; refuses what JSON cannot carry faithfully (NaN, bytes, objects).

        ASCII-only, so no character that SQS refuses in a body (lone surrogates, U+FFFE) gets through.
        """
        document: dict[str, Any] = {"task": self.task, "payload": self.payload}
        if self.id is not None:
            document["id"] = self.id
        try:
            return json.dumps(document, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"payload of task {self.task!r} is not JSON-serialisable: {error}") from None


def validate_fields(task: Any, task_id: Any) -> None:
    if not isinstance(task, str) or not task.strip():
        raise MalformedMessage(f"'task' must be a non-empty string, got {task!r:.100}")
    if task_id is not None and (not isinstance(task_id, str) or not task_id):
        raise MalformedMessage(f"'id' must be a non-empty string when present, got {task_id!r:.100}")


def parse_body(body: Any) -> TaskMessage:
    """Parse a message body, raising :class:`MalformedMessage` with the reason when it is not a task."""
    if not isinstance(body, str):
        raise MalformedMessage(f"body must be a string, got {type(body).__name__}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedMessage(f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedMessage(f"body must be a JSON object, got {type(document).__name__}")
    if "task" not in document:
        raise MalformedMessage("body has no 'task' field")
    validate_fields(document["task"], document.get("id"))
    return TaskMessage(task=document["task"], payload=document.get("payload"), id=document.get("id"))


# -- the identity of a task ------------------------------------------------------------------------
# A task with an ``id`` is the pair (task name, id): two tasks of different names may share an id.
# Every place that recognises "the same task" uses these, so they can never disagree.


def _identity(task: str, kind: str, value: str) -> str:
    # JSON-encoded, so no choice of names and ids can make two different tasks collide.
    return json.dumps(["task", task, kind, value], ensure_ascii=True, separators=(",", ":"))


def task_identity(task: str, task_id: str | None, message_id: str) -> str:
    """An unambiguous key: (task, id) when the task has an id, else (task, SQS message id)."""
    return _identity(task, "id", task_id) if task_id is not None else _identity(task, "message", message_id)


def task_identity_digest(task: str, task_id: str) -> str:
    """The identity (task, id) as 64 hex digits: fits where only short, plain names are allowed."""
    return hashlib.sha256(_identity(task, "id", task_id).encode("ascii")).hexdigest()


def fifo_deduplication_id(task: str, task_id: str) -> str:
    """A FIFO MessageDeduplicationId for (task, id): 64 hex digits, within SQS's 128 allowed characters."""
    return task_identity_digest(task, task_id)
