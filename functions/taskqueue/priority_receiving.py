"""The consumer's SQS client when the queue has priorities: several queues, seen by the consumer as one.

The consumer receives, deletes and changes visibility on its one queue URL. This client, put in front of
boto3's, receives from the priority queues in the :class:`~taskqueue.priorities.ReceiveOrder` and sends
each delete or visibility change to the queue its receipt handle came from; every other call goes to
the default queue, unchanged. The consumer's own logic (budget, dispatch, settling) stays as it is.

Within a receive round, the queues tried before the last are short-polled (``WaitTimeSeconds=0``) so a
higher priority's check never waits; only the last try long-polls as the consumer asked. An empty round
is an empty receive: in drain mode the run ends only when every priority queue was empty. A short poll
samples some of SQS's servers, so a higher priority's message may be seen one receive later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from taskqueue.priorities import Priorities, ReceiveOrder


class PriorityQueuesClient:
    """An SQS client for the consumer that spreads its calls on the default queue over the priority queues."""

    def __init__(self, sqs: Any, priorities: Priorities) -> None:
        self.sqs = sqs
        self.priorities = priorities
        self.receive_order = ReceiveOrder(priorities.queues, priorities.order)
        # Receipt handle -> the queue it was received from, until the message is settled.
        self._handles: dict[str, str] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)  # GetQueueAttributes and the rest: the default queue, unchanged

    def receive_message(self, **arguments: Any) -> dict[str, Any]:
        wait = arguments.get("WaitTimeSeconds")
        queues = self.receive_order.next_round()
        response: dict[str, Any] = {}
        for index, queue in enumerate(queues):
            last = index == len(queues) - 1
            response = self.sqs.receive_message(
                **{**arguments, "QueueUrl": queue.queue_url, **({} if last or wait is None else {"WaitTimeSeconds": 0})}
            )
            messages = response.get("Messages") or []
            if messages:
                with self._lock:
                    for message in messages:
                        self._handles[message["ReceiptHandle"]] = queue.queue_url
                return response
        return response

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]], **rest: Any) -> dict[str, Any]:
        return self._routed(self.sqs.delete_message_batch, QueueUrl, Entries, rest)

    def change_message_visibility_batch(
        self,
        QueueUrl: str,
        Entries: list[dict[str, Any]],
        **rest: Any,
    ) -> dict[str, Any]:
        return self._routed(self.sqs.change_message_visibility_batch, QueueUrl, Entries, rest)

    def queue_of(self, receipt_handle: str, default: str) -> str:
        with self._lock:
            return self._handles.get(receipt_handle, default)

    def _routed(
        self, operation: Callable[..., Any], default: str, entries: list[dict[str, Any]], rest: dict[str, Any]
    ) -> dict[str, Any]:
        """One batch call per queue the entries' handles came from (one, as a receive is one queue's);
        the answers merged. A handle settled is forgotten; a failed entry's is kept for the caller's retry."""
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_queue.setdefault(self.queue_of(entry["ReceiptHandle"], default), []).append(entry)
        merged: dict[str, Any] = {"Successful": [], "Failed": []}
        for queue_url, queue_entries in by_queue.items():
            answer = operation(QueueUrl=queue_url, Entries=queue_entries, **rest)
            merged["Successful"] += answer.get("Successful", [])
            merged["Failed"] += answer.get("Failed", [])
        settled = {str(success["Id"]) for success in merged["Successful"]}
        with self._lock:
            for entry in entries:
                if str(entry["Id"]) in settled:
                    self._handles.pop(entry["ReceiptHandle"], None)
        return merged


def with_priorities(sqs: Any, priorities: Priorities | None) -> Any:
    """The consumer's SQS client: boto3's as it is without priorities, else one over every priority queue."""
    return sqs if priorities is None else PriorityQueuesClient(sqs, priorities)
