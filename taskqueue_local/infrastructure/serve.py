"""The long-running half of the local stack: the data plane in a process of its own, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from taskqueue_local.infrastructure.data_plane import DataPlane


def serve(
    emulator_url: str,
    port: int,
    artifacts: Sequence[Path],
    speedup: float,
    work_dir: Path,
    schedule_speedup: float | None = None,
    poll_event_source_mappings: bool = True,
) -> None:
    """``speedup`` scales the rules (the consumer's schedule); ``schedule_speedup`` (default: the same)
    EventBridge Scheduler's schedules."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    data_plane = DataPlane(
        emulator_url,
        artifacts,
        work_dir,
        port=port,
        speedup=speedup,
        schedule_speedup=schedule_speedup,
        poll_event_source_mappings=poll_event_source_mappings,
    ).start()
    try:
        threading.Event().wait()  # until a signal ends it (infrastructure.shutdown raises SystemExit)
    finally:
        # Also when a signal ends the wait (infrastructure.shutdown): the endpoint stops its environments.
        data_plane.stop()
