"""A threaded HTTP server on loopback that serves from a background thread until stopped."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer(ThreadingHTTPServer):
    """``start()`` serves on a daemon thread named ``name``; ``stop()`` stops serving and closes the socket."""

    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of invocations (a consumer's slots, a mapping's batches)
    # opens more connections at once, and the rest were reset or left waiting for a SYN retry.
    request_queue_size = 128

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__((host, port), handler)
        self.name = name

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]!s}:{self.server_address[1]}"

    def start(self) -> Self:
        threading.Thread(target=self.serve_forever, name=self.name, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
