"""A loop on a daemon thread of its own, started and stopped from outside (the rules' scheduler, the
schedule runner, the event source mappings' refresh)."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """Runs ``_run`` on a daemon thread from ``start()``; ``_run`` returns once ``_stop`` is set."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (a failed start-up may stop what never started)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError
