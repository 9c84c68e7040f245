"""An orderly exit on SIGTERM and SIGINT for the long-running entry points (soak, bench, demo, serve).

Python's default SIGTERM ends a process at once: no ``finally`` clause and no ``with`` block runs, so
the emulator and the Lambda processes it started, each in a process group of its own, keep running.
Inside :func:`exit_on_signals`, SIGTERM and SIGINT raise :class:`SystemExit` in the main thread, so
the clean-up written in context managers and ``finally`` clauses runs; when the run is cut short so
(or by an error), any child process still running (a Terraform apply, say) and everything below it
is stopped too. A run that ends normally keeps its children: ``up`` leaves the stack running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A child gets this long to stop after SIGTERM (Terraform cancels its operations), then SIGKILL.
CHILD_GRACE_SECONDS = 10.0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Once: the clean-up this starts must not be cut short by a second Ctrl-C.
    for each in SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    print(f"{signal.Signals(signum).name}: stopping everything this run started", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT become ``SystemExit(128 + signal)``; a run cut short so, or by an error,
    stops its child processes on the way out."""
    previous = {each: signal.signal(each, _exit_on_signal) for each in SIGNALS}
    try:
        yield
    except BaseException:
        stop_children()
        raise
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every living process (Linux /proc; zombies have exited already)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Living processes below ``pid``."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: set[int] = set()
    pending = list(children.get(pid, []))
    while pending:
        child = pending.pop()
        if child not in found:
            found.add(child)
            pending += children.get(child, [])
    return found


def _signal(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_children(grace: float = CHILD_GRACE_SECONDS) -> set[int]:
    """SIGTERM to this process's children, SIGKILL to whatever below it still runs after ``grace``;
    returns the processes that had to be stopped."""
    me = os.getpid()
    below = descendants(me)
    if not below:
        return below
    parents = _parents()
    _signal({pid for pid in below if parents.get(pid) == me}, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while descendants(me) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(descendants(me) | (below & _parents().keys()), signal.SIGKILL)
    return below
