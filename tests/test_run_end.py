"""A concurrent batch's lanes wait for their async runs on :class:`taskqueue.concurrency.RunEnd`, a bare lock let
go once (lighter than a ``concurrent.futures.Future``): it keeps a Future's answers."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from taskqueue.concurrency import RunEnd


def test_the_result_reaches_every_thread_waiting_for_it():
    end = RunEnd()
    seen: list[object] = []
    waiters = [threading.Thread(target=lambda: seen.append(end.result())) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    assert not end.done()
    end.set_result("value")
    for waiter in waiters:
        waiter.join(5)
    assert seen == ["value"] * 3
    assert end.done() and end.result() == "value"


def test_an_error_is_raised_to_the_waiter():
    end = RunEnd()
    end.set_exception(ValueError("upstream 503"))
    with pytest.raises(ValueError, match="upstream 503"):
        end.result()


def test_a_cancelled_run_raises_cancelled_error():
    end = RunEnd()
    end.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        end.result()


def test_the_first_end_counts():
    end = RunEnd()
    end.set_result(1)
    end.cancel()
    end.set_exception(RuntimeError("late"))
    assert end.result() == 1
