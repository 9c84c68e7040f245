"""A real boto3 SQS client answered by the in-memory SQS model, with server faults on chosen calls.

botocore's ``before-call`` hook answers each call: the client still checks and serialises the
parameters, and turns an error answer into the ClientError SQS would give. Retries are not run by
botocore on this path, so the endpoint replays them as the client's configuration would: a fault that
lasts fewer tries than the client makes is retried to success, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from tests.support.sqs_model import SqsError, SqsModel, decode_binary_attributes, server_error

__all__ = ["ServerFault", "SqsEndpoint", "client_attempts"]

# Tries botocore makes by retry mode when the configuration does not say (botocore.retries).
_DEFAULT_ATTEMPTS = {"standard": 3, "legacy": 5, "adaptive": 3}


@dataclass(frozen=True)
class ServerFault:
    """A 5xx answer to one call.

    ``when``: "before" the call took effect, "after" it (the answer is lost), or "entries" (a batch
    call whose every entry fails on SQS's side, SenderFault false, before it took effect).
    ``attempts``: how many tries in a row fail; the client retries while it has tries left.
    """

    when: str = "before"
    attempts: int = 1

    def __post_init__(self) -> None:
        if self.when not in ("before", "after", "entries"):
            raise ValueError(f"ServerFault.when={self.when!r} is not one of before, after, entries")
        if self.attempts < 1:
            raise ValueError(f"ServerFault.attempts={self.attempts!r} must be at least 1")


def client_attempts(client: Any) -> int:
    """How many tries the client makes for a call that keeps failing with a retryable error."""
    retries = client.meta.config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    return _DEFAULT_ATTEMPTS[retries.get("mode", "legacy")]


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://sqs.model.invalid", status, HTTPHeaders(), None)


class SqsEndpoint:
    """Serves the clients attached to it from ``model``, at the time ``clock`` tells.

    ``advance`` moves time by a long poll's wait. ``faults`` maps a call's number (from 0, counted over
    every attached client) to the fault it meets. ``guard``, when set, runs before each call with the
    operation's name: raising there stands for the caller dying at that call.
    """

    def __init__(self, model: SqsModel, clock: Callable[[], float], advance: Callable[[float], None]) -> None:
        self.model = model
        self.clock = clock
        self.advance = advance
        self.faults: dict[int, ServerFault] = {}
        self.guard: Callable[[str], None] | None = None
        self.calls: list[str] = []
        # (call number, operation, fault) of each call a fault was met on.
        self.hits: list[tuple[int, str, ServerFault]] = []
        self._attempts: int | None = None  # the fewest tries any attached client makes

    def lost(self, since: int, operations: tuple[str, ...]) -> bool:
        """Whether a call from number ``since`` on, of one of ``operations``, failed for good (its
        tries ran out, or its batch entries failed): its effect may be lost."""
        attempts = self._attempts or 1
        return any(
            number >= since
            and operation in operations
            and ((fault.when == "entries" and operation.endswith("Batch")) or fault.attempts >= attempts)
            for number, operation, fault in self.hits
        )

    def attach(self, client: Any) -> Any:
        attempts = client_attempts(client)
        self._attempts = attempts if self._attempts is None else min(self._attempts, attempts)

        def answer(params: dict[str, Any], model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            return self._answer(model.name, params, attempts)

        client.meta.events.register("before-call.sqs.*", answer)
        return client

    def _answer(self, operation: str, params: dict[str, Any], attempts: int) -> tuple[AWSResponse, dict[str, Any]]:
        if self.guard is not None:
            self.guard(operation)
        number = len(self.calls)
        self.calls.append(operation)
        api = decode_binary_attributes(json.loads(params["body"] or b"{}"))
        fault = self.faults.get(number)
        if fault is not None:
            self.hits.append((number, operation, fault))
        try:
            if fault is not None and fault.when == "entries" and "Entries" in api:
                # Per-entry failures are an answer, not an error: botocore does not retry them.
                result = self._failed_entries(api)
            else:
                failing = 0 if fault is None else min(fault.attempts, attempts)
                for _ in range(failing):
                    if fault is not None and fault.when == "after":
                        self._call(operation, api)
                if failing == attempts:
                    raise server_error()
                result = self._call(operation, api)
        except SqsError as error:
            return _http(error.status), error.response()
        return _http(200), {**result, "ResponseMetadata": {"HTTPStatusCode": 200}}

    def _call(self, operation: str, api: dict[str, Any]) -> dict[str, Any]:
        result = self.model.call(operation, api, self.clock())
        if operation == "ReceiveMessage" and self.model.last_wait:
            self.advance(self.model.last_wait)
        return result

    @staticmethod
    def _failed_entries(api: dict[str, Any]) -> dict[str, Any]:
        error = server_error()
        return {"Successful": [], "Failed": [error.batch_entry(entry["Id"]) for entry in api["Entries"]]}
