"""Lambda's synchronous Invoke, modelled on a simulated clock, answering a real boto3 Lambda client.

Timing follows the Lambda developer guide:
- an invocation may spend up to ``LAMBDA_INIT_SECONDS`` in init (a cold start), not counted in the
  function's timeout;
- the function is stopped at its timeout: work past the deadline never happens, and the answer is a
  ``Sandbox.Timedout`` function error;
- the client's read timeout does not stop the function: past it, the caller gets a botocore
  ``ReadTimeoutError`` while the invocation goes on to its end.

The function runs synchronously, on its own timeline: a clock that starts at the Invoke's global time
plus the init, which the Lambda context reads and the work advances. The global clock then moves by
``min(invocation length, read timeout)`` before the caller sees the answer or the read timeout.

Each invocation runs in an execution environment, as on Lambda: a warm one that is idle at the time of
the Invoke when there is one and the plan has no init, else a new one (a cold start), with its own
handler from ``new_handler``, so what a handler keeps in memory lives as long as its environment. An
environment whose invocation timed out or crashed is reset (dropped), as Lambda does.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody

from taskqueue.concurrency import TaskCancelled
from taskqueue.limits import LAMBDA_INIT_SECONDS

__all__ = [
    "Environment",
    "Invocation",
    "InvocationCrashed",
    "InvocationKilled",
    "InvokePlan",
    "LambdaModel",
    "Timeline",
]

ENDPOINT = "https://lambda.us-east-1.amazonaws.com"


class InvocationKilled(BaseException):
    """Lambda stopped the function at its timeout (a BaseException: no handler may catch it)."""


class InvocationCrashed(BaseException):
    """The function's runtime died (out of memory, say): the invocation ends with Runtime.ExitError."""


class Timeline:
    """One invocation's clock: from the Invoke's global time, through init, to the function's deadline."""

    def __init__(self, started: float, init_seconds: float, timeout_seconds: float) -> None:
        self.started = started
        self.now = started + init_seconds
        self.deadline = self.now + timeout_seconds
        self.killed = False
        # A concurrent batch's cancel point (tests/support/concurrency_model.py): a task still working then is cancelled.
        self.cancel_at: float | None = None
        # A concurrent batch's answer point, whether the work being spent is a threads=True task's (which no cancel
        # point stops), and what becomes of that work when it runs past the answer point (set by the batch).
        self.answer_at: float | None = None
        self.uncancellable: Callable[[], bool] = lambda: False
        self.overrun: Callable[[float], None] | None = None

    def spend(self, seconds: float) -> None:
        """Work for ``seconds``; raises :class:`InvocationKilled` at the deadline if that comes first, or
        :class:`TaskCancelled` at a concurrent batch's cancel point before it. A threads=True task's work is not
        cancelled: past the batch's answer point it is handed to ``overrun``, which returns once it is done."""
        if self.uncancellable():
            if self.answer_at is not None and self.overrun is not None and self.now + seconds > self.answer_at:
                self.overrun(self.now + seconds)
                return
        elif self.cancel_at is not None and self.now + seconds > self.cancel_at and self.cancel_at < self.deadline:
            self.now = max(self.now, self.cancel_at)
            raise TaskCancelled(f"cancelled at the batch's cancel point, {seconds:.3f} s of work asked for")
        if self.now + seconds > self.deadline:
            self.now = self.deadline
            self.killed = True
            raise InvocationKilled(f"killed at the timeout, {seconds:.3f} s of work asked for")
        self.now += seconds

    def remaining_millis(self) -> int:
        return max(0, int((self.deadline - self.now) * 1000))


@dataclass
class InvocationContext:
    """The Lambda context the function gets; its remaining time reads the invocation's timeline."""

    timeline: Timeline
    aws_request_id: str
    function_name: str = "worker"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:worker"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/worker"
    log_stream_name: str = "model"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeline.remaining_millis()


KINDS = ("run", "throttle", "error", "crash", "answer", "cannot_start")


@dataclass(frozen=True)
class InvokePlan:
    """How one invocation goes.

    ``kind``: "run" (the function runs), "throttle" (429 before it runs), "error" (the function raises
    before any task), "crash" (the runtime dies once ``crash_after_tasks`` tasks started, or before
    answering if the batch has fewer), "answer" (some other function answers ``answer`` without running),
    "cannot_start" (the worker cannot start, its task modules failing to import: the model's
    ``start_failure_handler`` answers, running no task).
    """

    kind: str = "run"
    init_seconds: float = 0.0
    crash_after_tasks: int = 0
    answer: bytes = b""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"InvokePlan.kind={self.kind!r} is not one of {', '.join(KINDS)}")
        if not 0 <= self.init_seconds <= LAMBDA_INIT_SECONDS:
            raise ValueError(f"InvokePlan.init_seconds={self.init_seconds!r} is outside 0..{LAMBDA_INIT_SECONDS}")


@dataclass
class Invocation:
    """One invocation as it ran: its plan, timeline and what the caller saw."""

    number: int
    plan: InvokePlan
    timeline: Timeline
    message_ids: list[str] = field(default_factory=list)
    tasks_started: int = 0
    outcome: str = ""  # "answered", "function error", "timed out", "crashed", "throttled", "read timeout"
    answer: Any = None  # what the function returned, when it did


def _http(status: int) -> AWSResponse:
    return AWSResponse(ENDPOINT, status, HTTPHeaders(), None)


def _payload(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def _function_error(error_type: str, message: str) -> dict[str, Any]:
    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
    return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _payload(body)}


@dataclass
class Environment:
    """One execution environment: its handler (built at its cold start) and when it is next idle."""

    handler: Callable[[dict[str, Any], Any], Any]
    busy_until: float = 0.0


@dataclass
class LambdaModel:
    """Answers Invoke calls made through the attached client by running a handler on a timeline.

    ``now`` reads the global clock and ``wait`` moves it (the caller's wait for the answer; it may
    raise, for a caller that dies while waiting). ``plans`` are used in order, one per invocation;
    when they run out, invocations run with no init. ``max_init_seconds`` caps the plans' init.
    """

    new_handler: Callable[[], Callable[[dict[str, Any], Any], Any]]
    timeout_seconds: float
    now: Callable[[], float]
    wait: Callable[[float], None]
    plans: list[InvokePlan] = field(default_factory=list)
    max_init_seconds: float = LAMBDA_INIT_SECONDS
    # Runs before each Invoke (a caller that dies at that call raises here).
    guard: Callable[[], None] | None = None
    # Invocation numbers; models that share one number their invocations apart.
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    invocations: list[Invocation] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    current: Invocation | None = None
    # The handler of a worker that cannot start (InvokePlan kind "cannot_start").
    start_failure_handler: Callable[[dict[str, Any], Any], Any] | None = None
    # Told of each environment Lambda resets, with the invocation that ended it (at its timeline's end).
    on_reset: Callable[[Environment, Invocation], None] | None = None

    def attach(self, client: Any) -> Any:
        read_timeout = float(client.meta.config.read_timeout)

        def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            return self._invoke(json.loads(params["body"]), read_timeout)

        client.meta.events.register("before-call.lambda.Invoke", invoke)
        return client

    def task_started(self) -> None:
        """Called by a task as it starts: the place a planned crash happens."""
        invocation = self.current
        if invocation is None:
            return
        if invocation.plan.kind == "crash" and invocation.tasks_started >= invocation.plan.crash_after_tasks:
            raise InvocationCrashed(f"runtime exited after {invocation.tasks_started} tasks")
        invocation.tasks_started += 1

    def _invoke(self, event: dict[str, Any], read_timeout: float) -> tuple[AWSResponse, dict[str, Any]]:
        if self.guard is not None:
            self.guard()
        plan = self.plans.pop(0) if self.plans else InvokePlan()
        started = self.now()
        timeline = Timeline(started, min(plan.init_seconds, self.max_init_seconds), self.timeout_seconds)
        invocation = Invocation(next(self.numbers), plan, timeline)
        invocation.message_ids = [record.get("messageId", "") for record in event.get("Records", [])]
        self.invocations.append(invocation)
        if plan.kind == "throttle":
            invocation.outcome = "throttled"
            error = {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
            return _http(429), {
                "Error": error,
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "ResponseMetadata": {"HTTPStatusCode": 429},
            }
        if plan.kind == "answer":
            invocation.outcome = "answered"
            return _http(200), {"StatusCode": 200, "Payload": _payload(plan.answer)}
        environment = self._environment(started, cold=timeline.now > started)
        answer = self._run(invocation, environment, event)
        environment.busy_until = timeline.now
        if invocation.outcome in ("timed out", "crashed"):
            # Lambda resets an environment whose invocation timed out or crashed: what its handler kept in
            # memory is gone (threads still running in it too), and the next invocation meets a new one.
            self.environments.remove(environment)
            if self.on_reset is not None:
                self.on_reset(environment, invocation)
        length = timeline.now - started
        if length > read_timeout:
            invocation.outcome = "read timeout"
            self.wait(read_timeout)
            raise ReadTimeoutError(endpoint_url=f"{ENDPOINT}/2015-03-31/functions/worker/invocations")
        self.wait(length)
        return _http(200), answer

    def _environment(self, now: float, cold: bool) -> Environment:
        """A warm environment idle at ``now``, or a new one for a cold start (or when none is idle)."""
        idle = [environment for environment in self.environments if environment.busy_until <= now]
        if idle and not cold:
            return idle[-1]
        environment = Environment(self.new_handler())
        self.environments.append(environment)
        return environment

    def _run(self, invocation: Invocation, environment: Environment, event: dict[str, Any]) -> dict[str, Any]:
        context = InvocationContext(invocation.timeline, aws_request_id=f"invocation-{invocation.number}")
        self.current = invocation
        try:
            if invocation.plan.kind == "error":
                raise RuntimeError("worker failed before running any task (injected)")
            if invocation.plan.kind == "cannot_start":
                if self.start_failure_handler is None:
                    raise ValueError("an InvokePlan of kind cannot_start needs the model's start_failure_handler")
                result = self.start_failure_handler(event, context)
            else:
                result = environment.handler(event, context)
            invocation.answer = result
            if invocation.plan.kind == "crash":
                raise InvocationCrashed("runtime exited before answering")
        except InvocationKilled:
            invocation.outcome = "timed out"
            return _function_error("Sandbox.Timedout", f"Task timed out after {self.timeout_seconds:.2f} seconds")
        except InvocationCrashed as crash:
            invocation.outcome = "crashed"
            return _function_error("Runtime.ExitError", str(crash))
        except Exception as error:
            invocation.outcome = "function error"
            return _function_error(type(error).__name__, str(error))
        finally:
            self.current = None
        invocation.outcome = "answered"
        return {"StatusCode": 200, "Payload": _payload(json.dumps(result).encode())}
