"""Run a fake server on loopback in a thread for the length of a `with` block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import BaseServer
from typing import TypeVar

S = TypeVar("S", bound=BaseServer)


@contextmanager
def running(server: S, *release: threading.Event) -> Iterator[S]:
    """Serve until the block ends; `release` events are set first, freeing requests a test held open."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        for event in release:
            event.set()
        server.shutdown()
        server.server_close()
