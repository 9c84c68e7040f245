"""The task registry: task functions registered by name with the ``@task`` decorator."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from taskqueue.backoff import Backoff
from taskqueue.errors import PermanentError, UnknownTask
from taskqueue.flow_control.spec import FlowLimits, flow_limits
from taskqueue.limits import SQS_MAX_RECEIVE_COUNT

TaskFunction = Callable[..., Any]


@dataclass(frozen=True)
class TaskContext:
    """What a task may learn about the message it runs for, if it asks for a ``context`` argument.

    ``attempt`` is this run's number, 1 for the first. Where failed attempts are counted (the module's
    ``track_attempts``), receives that did not run the task are left out; elsewhere it is the receive count.
    """

    task: str
    message_id: str
    receive_count: int
    task_id: str | None = None
    message_group_id: str | None = None
    attempt: int = 1
    get_remaining_time_in_millis: Callable[[], int] = field(default=lambda: 0, repr=False)


# How a task takes its context: not at all, as the second positional argument, or as ``context=``.
NO_CONTEXT, POSITIONAL_CONTEXT, KEYWORD_CONTEXT = "none", "positional", "keyword"


@dataclass(frozen=True)
class RegisteredTask:
    name: str
    function: TaskFunction
    context_argument: str
    # The task's own retry policy; None takes the queue's (its max receive count, TASKQUEUE_BACKOFF_*).
    max_attempts: int | None = None
    backoff: Backoff | None = None
    # An ``async def`` task: the worker awaits it on its event loop, beside the batch's other async tasks.
    is_async: bool = False
    # A synchronous task that may run in the worker's thread pool, beside the batch's other tasks.
    threads: bool = False
    # At most this many runs of this task at once in one worker (None: the worker's limit alone).
    concurrency: int | None = None
    # Its rate limit and concurrency per key, held across every worker (taskqueue.flow_control); None: none.
    flow: FlowLimits | None = None
    # Status tracking (taskqueue.status): None follows the module's track_status; True/False opts in or out.
    track_status: bool | None = None
    # Keep the return value in the task's status (JSON, up to taskqueue.status.MAX_RESULT_BYTES).
    store_result: bool = False

    @property
    def runs_concurrently(self) -> bool:
        """Whether the worker may run this task beside others of its batch (else it runs alone, in order)."""
        return self.is_async or self.threads

    def _call(self, payload: Any, context: TaskContext) -> Any:
        if self.context_argument == POSITIONAL_CONTEXT:
            return self.function(payload, context)
        if self.context_argument == KEYWORD_CONTEXT:
            return self.function(payload, context=context)
        return self.function(payload)

    def run(self, payload: Any, context: TaskContext) -> Any:
        """Call a synchronous task."""
        result = self._call(payload, context)
        _refuse_unrun_work(self.name, result)
        return result

    def coroutine(self, payload: Any, context: TaskContext) -> Any:
        """An ``async def`` task's run, to be awaited."""
        result = self._call(payload, context)
        if not inspect.isawaitable(result):
            raise NotRunnable(
                f"task {self.name!r} is registered as async def but returned {type(result).__name__}, not an awaitable"
            )
        return result


class NotRunnable(PermanentError, TypeError):
    """A task returned work the worker cannot run (a coroutine, a generator): it did not run, and never will
    here, so its message is dead-lettered with this error instead of being taken for done."""


def _refuse_unrun_work(name: str, result: Any) -> None:
    """Registration refuses async and generator functions; a plain function can still hand one back (a
    decorator that does not await, say). Its body never ran: that must not count as the task's success."""
    kind = _unrun_kind(result)
    if kind is None:
        return
    close = getattr(result, "close", None)
    if callable(close):
        close()  # no "never awaited" warning: it is reported here, with the task's name
    raise NotRunnable(
        f"task {name!r} returned {kind} instead of running: it is registered as a plain function, so the worker "
        "did not await it (register the async def function itself; generators are never run)"
    )


def _unrun_kind(result: Any) -> str | None:
    if inspect.iscoroutine(result):
        return "a coroutine"
    if inspect.isasyncgen(result):
        return "an async generator"
    if inspect.isgenerator(result):
        return "a generator"
    if inspect.isawaitable(result):
        return f"an awaitable ({type(result).__name__})"
    return None


def _targets(function: Any) -> list[Any]:
    # An object whose __call__ is async, or a partial of an async function, is a coroutine function too.
    return [function, type(function).__call__] if not inspect.isroutine(function) else [function]


def _is_async(function: Any) -> bool:
    return any(inspect.iscoroutinefunction(target) for target in _targets(function))


def _unrunnable(function: Any) -> str | None:
    """Why the worker cannot run ``function`` (it calls or awaits it and takes its return for done), or None."""
    if not callable(function):
        return f"{function!r} is not callable"
    targets = _targets(function)
    if any(inspect.isasyncgenfunction(target) for target in targets):
        return "it is an async generator function"
    if any(inspect.isgeneratorfunction(target) for target in targets):
        return "it is a generator function: its body would not run"
    return None


def _context_argument(function: TaskFunction) -> str:
    """A task takes a context when it has a parameter named ``context`` or a second positional one."""
    parameters = list(inspect.signature(function).parameters.values())
    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in parameters if p.kind in positional_kinds]
    if not positional:
        raise TypeError(f"task function {function.__qualname__} must take the payload as its first argument")
    named = next((p for p in parameters if p.name == "context"), None)
    if named is not None and named.kind is inspect.Parameter.KEYWORD_ONLY:
        return KEYWORD_CONTEXT
    if named is not None or len(positional) >= 2 or any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return POSITIONAL_CONTEXT
    return NO_CONTEXT


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, RegisteredTask] = {}

    def register(
        self,
        name: str,
        function: TaskFunction,
        *,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        concurrency: int | None = None,
        threads: bool = False,
        rate_limit: str | None = None,
        burst: int | None = None,
        key_concurrency: int | None = None,
        key: Callable[[Any], Any] | None = None,
        track_status: bool | None = None,
        store_result: bool = False,
    ) -> RegisteredTask:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"task name must be a non-empty string, got {name!r}")
        if max_attempts is not None and (
            isinstance(max_attempts, bool)
            or not isinstance(max_attempts, int)
            or not 1 <= max_attempts <= SQS_MAX_RECEIVE_COUNT
        ):
            raise ValueError(
                f"task {name!r}: max_attempts={max_attempts!r} must be an integer from 1 to {SQS_MAX_RECEIVE_COUNT}"
            )
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ValueError(f"task {name!r}: backoff={backoff!r} must be a taskqueue.Backoff")
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise ValueError(f"task {name!r}: concurrency={concurrency!r} must be a whole number, 1 or more")
        if not isinstance(threads, bool):
            raise ValueError(f"task {name!r}: threads={threads!r} must be True or False")
        flow = flow_limits(name, rate_limit, burst, key_concurrency, key)
        if track_status is not None and not isinstance(track_status, bool):
            raise ValueError(f"task {name!r}: track_status={track_status!r} must be True, False or None")
        if not isinstance(store_result, bool):
            raise ValueError(f"task {name!r}: store_result={store_result!r} must be True or False")
        if store_result and track_status is False:
            raise ValueError(f"task {name!r}: store_result=True keeps the result in its status, and track_status=False")
        unrunnable = _unrunnable(function)
        if unrunnable is not None:
            raise TypeError(
                f"task {name!r} cannot be registered: {unrunnable}. The worker runs plain functions and async def "
                "functions (no generators)"
            )
        is_async = _is_async(function)
        if is_async and threads:
            raise ValueError(
                f"task {name!r}: threads=True is for synchronous tasks; an async def task runs on the worker's "
                "event loop, beside the batch's other async tasks, without it"
            )
        existing = self._tasks.get(name)
        if existing is not None and existing.function is not function:
            raise ValueError(
                f"task {name!r} is registered twice: by {existing.function.__module__}."
                f"{existing.function.__qualname__} and by {function.__module__}.{function.__qualname__}"
            )
        registered = RegisteredTask(
            name,
            function,
            _context_argument(function),
            max_attempts,
            backoff,
            is_async,
            threads,
            concurrency,
            flow,
            track_status,
            store_result,
        )
        self._tasks[name] = registered
        return registered

    def unregister(self, name: str) -> None:
        self._tasks.pop(name, None)

    def tasks(self) -> list[RegisteredTask]:
        return [self._tasks[name] for name in sorted(self._tasks)]

    def get(self, name: str) -> RegisteredTask:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(f"no task is registered under the name {name!r}") from None

    def find(self, name: str | None) -> RegisteredTask | None:
        """The task registered under ``name``; None when there is none."""
        return None if name is None else self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def any_concurrent(self) -> bool:
        """Whether some task may run beside others (async def, or threads=True)."""
        return any(registered.runs_concurrently for registered in self._tasks.values())


# Task modules register into this registry when the worker imports them.
default_registry = TaskRegistry()


def task(
    name: str | TaskFunction | None = None,
    *,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    concurrency: int | None = None,
    threads: bool = False,
    rate_limit: str | None = None,
    burst: int | None = None,
    key_concurrency: int | None = None,
    key: Callable[[Any], Any] | None = None,
    track_status: bool | None = None,
    store_result: bool = False,
) -> Any:
    """Register a task function: ``@task("name")``, or ``@task`` / ``@task()`` to use the function's name.

    ``max_attempts`` and ``backoff`` set the task's own retry policy; unset, the queue's apply.
    An ``async def`` task runs beside the batch's other async tasks, on the worker's event loop; a plain
    function runs alone, in order, unless ``threads=True`` lets it run in the worker's thread pool (for
    thread-safe code). ``concurrency`` caps how many runs of this task go at once in one worker.
    See docs/concurrency.md.

    Flow limits, held across every worker (they need the module's ``flow_control = true``):
    ``rate_limit="10/s"`` (or ``/m``, ``/h``) with ``burst=N`` starts at once from idle, and
    ``key_concurrency=N, key=lambda payload: ...``: at most N runs at once per key. A start over a limit is
    released unrun, with no attempt used, to come back later.

    ``track_status`` opts the task in (True) or out (False) of the module's status tracking (None: as the
    module's ``track_status`` says); ``store_result`` keeps its return value in its status (JSON, up to
    ``taskqueue.status.MAX_RESULT_BYTES``; a larger one is not stored, with the error in its log and status).
    """
    if callable(name):
        default_registry.register(getattr(name, "__name__", repr(name)), name)
        return name

    def decorator(function: TaskFunction) -> TaskFunction:
        default_registry.register(
            name if name is not None else function.__name__,
            function,
            max_attempts=max_attempts,
            backoff=backoff,
            concurrency=concurrency,
            threads=threads,
            rate_limit=rate_limit,
            burst=burst,
            key_concurrency=key_concurrency,
            key=key,
            track_status=track_status,
            store_result=store_result,
        )
        return function

    return decorator


def import_task_modules(
    modules: Iterable[str], max_receive_count: int | None = None, registry: TaskRegistry = default_registry
) -> None:
    """Import the modules that register tasks (``TASKQUEUE_TASKS``); a missing one fails the start.

    A module that fails halfway leaves none of its tasks registered, so the next attempt (Lambda retries
    a failed init) shows the module's own error again rather than "registered twice". A task asking for
    more attempts than the queue's ``max_receive_count`` allows is refused: SQS would move its message
    to the DLQ first.
    """
    for module in modules:
        before = set(registry.names())
        try:
            importlib.import_module(module)
        except BaseException as error:
            for name in set(registry.names()) - before:
                registry.unregister(name)
            if isinstance(error, ImportError):
                raise ImportError(
                    f"TASKQUEUE_TASKS names module {module!r}, which cannot be imported: {error}"
                ) from error
            raise
    if max_receive_count is not None:
        for registered in registry.tasks():
            if registered.max_attempts is not None and registered.max_attempts > max_receive_count:
                raise ValueError(
                    f"task {registered.name!r} asks for max_attempts={registered.max_attempts}, more than the "
                    f"queue's max_receive_count={max_receive_count} (TASKQUEUE_MAX_RECEIVE_COUNT): SQS would "
                    "dead-letter its message first. Lower max_attempts or raise the module's max_receive_count."
                )
