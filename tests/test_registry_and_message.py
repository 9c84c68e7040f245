"""Task registration by name, and the message format."""

from __future__ import annotations

import functools

import pytest

from taskqueue.errors import MalformedMessage, UnknownTask
from taskqueue.message import TaskMessage, parse_body
from taskqueue.registry import TaskContext, TaskRegistry, default_registry, import_task_modules, task


def test_decorator_forms_register_by_name():
    @task("named_for_test")
    def first(payload):
        return payload

    @task
    def second_for_test(payload):
        return payload

    assert default_registry.get("named_for_test").function is first
    assert default_registry.get("second_for_test").function is second_for_test


def test_context_is_passed_only_to_tasks_that_ask_for_it():
    registry = TaskRegistry()
    context = TaskContext(task="t", message_id="m", receive_count=2)
    plain = registry.register("plain", lambda payload: ("plain", payload))
    named = registry.register("named", lambda payload, *, context: ("named", context.receive_count))
    positional = registry.register("positional", lambda payload, ctx: ("positional", ctx.message_id))
    assert plain.run(1, context) == ("plain", 1)
    assert named.run(1, context) == ("named", 2)
    assert positional.run(1, context) == ("positional", "m")


def test_registry_refuses_duplicates_and_bad_functions():
    registry = TaskRegistry()
    registry.register("once", lambda payload: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("once", lambda payload: None)
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register("", lambda payload: None)
    with pytest.raises(TypeError, match="must take the payload"):
        registry.register("no_args", lambda: None)
    with pytest.raises(UnknownTask, match="'missing'"):
        registry.get("missing")


def test_importing_task_modules_registers_their_tasks():
    import_task_modules(["example_tasks"])
    assert {"checksum", "flaky", "validate_order", "sleep"} <= set(default_registry.names())
    with pytest.raises(ImportError, match="TASKQUEUE_TASKS names module 'no_such_module_here'"):
        import_task_modules(["no_such_module_here"])


def test_message_round_trip():
    message = TaskMessage("resize", {"key": "a.png", "sizes": [1, 2]}, id="job-1")
    assert parse_body(message.to_body()) == message
    assert parse_body('{"task": "t"}') == TaskMessage("t", None, None)


def test_message_body_is_ascii_so_sqs_accepts_any_payload_text():
    body = TaskMessage("t", "\ud800 lone surrogate, \ufffe and \u00e9").to_body()
    assert body.isascii()
    assert parse_body(body).payload == "\ud800 lone surrogate, \ufffe and \u00e9"


@pytest.mark.parametrize("payload", [b"bytes", float("nan"), object(), {1j}])
def test_message_refuses_payloads_json_cannot_carry(payload):
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        TaskMessage("t", payload).to_body()


@pytest.mark.parametrize("body", [None, b"{}", "[" * 100_000])
def test_parse_body_never_crashes_on_junk(body):
    with pytest.raises(MalformedMessage):
        parse_body(body)


def test_a_task_module_that_fails_halfway_shows_its_real_error_every_time(tmp_path, monkeypatch):
    (tmp_path / "half_registered_tasks.py").write_text(
        "from taskqueue import task\n\n"
        "@task('registered_before_the_failure')\n"
        "def first(payload):\n    return payload\n\n"
        "raise RuntimeError('SETTINGS_URL is not set')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for _ in range(2):  # a Lambda retries the failed init on its next invocation
            with pytest.raises(RuntimeError, match="SETTINGS_URL is not set"):
                import_task_modules(["half_registered_tasks"])
        assert "registered_before_the_failure" not in default_registry
    finally:
        default_registry.unregister("registered_before_the_failure")


async def _async_task(payload):
    return payload


async def _async_generator_task(payload):
    yield payload


def _generator_task(payload):
    yield payload


class _AsyncCallable:
    async def __call__(self, payload):
        return payload


@pytest.mark.parametrize(
    ("function", "kind"),
    [
        (_async_generator_task, "async generator function"),
        (_generator_task, "generator function"),
        (42, "not callable"),
        ("task_name", "not callable"),
    ],
)
def test_registration_refuses_what_the_worker_cannot_run(function, kind):
    """The worker calls or awaits a task and takes its return as done (issue 19, defect 15: an async task's
    coroutine was never awaited and its message deleted). Generators it cannot run: registration refuses them."""
    registry = TaskRegistry()
    with pytest.raises(TypeError, match=rf"task 'unrunnable'.*{kind}"):
        registry.register("unrunnable", function)
    with pytest.raises(TypeError, match=rf"task 'unrunnable'.*{kind}"):
        task("unrunnable")(function)
    assert "unrunnable" not in registry and "unrunnable" not in default_registry


@pytest.mark.parametrize("function", [_async_task, _AsyncCallable(), functools.partial(_async_task)])
def test_async_tasks_are_registered_as_async(function):
    """Issue 23: an async def task (or a callable object or partial of one) is awaited by the worker."""
    registered = TaskRegistry().register("awaited", function)
    assert registered.is_async and registered.runs_concurrently


def test_concurrency_options_are_checked_by_name():
    registry = TaskRegistry()
    assert registry.register("plain", lambda payload: None).runs_concurrently is False
    assert registry.any_concurrent() is False
    threaded = registry.register("threaded", lambda payload: None, threads=True, concurrency=3)
    assert threaded.runs_concurrently and threaded.concurrency == 3 and not threaded.is_async
    assert registry.any_concurrent() is True
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=rf"task 'x': concurrency={bad!r} must be"):
            registry.register("x", lambda payload: None, concurrency=bad)
    with pytest.raises(ValueError, match="task 'x': threads='yes' must be True or False"):
        registry.register("x", lambda payload: None, threads="yes")
    with pytest.raises(ValueError, match="task 'x': threads=True is for synchronous tasks"):
        registry.register("x", _async_task, threads=True)
    assert "x" not in registry
