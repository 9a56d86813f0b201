"""A loopback fake platform that records posts; it can hold a request open so a test kills mid-send."""

from __future__ import annotations

import json
import threading
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests import loopback


class FakePlatform(ThreadingHTTPServer):
    """POST /posts {"key", "text"}: records it. With `idempotent`, an Idempotency-Key seen before
    returns the original post without recording it again (as Mastodon does)."""

    daemon_threads = True

    def __init__(self, idempotent: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.idempotent = idempotent
        self.records: list[str] = []  # keys, in arrival order, one per post actually created
        self.requests = 0
        self.by_key: dict[str, int] = {}
        self.changed = threading.Condition()
        self.hold_at: int | None = None  # the Nth created post is held open until `release` is set
        self.held = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.records) >= count, timeout)


class _Handler(BaseHTTPRequestHandler):
    server: FakePlatform

    def log_message(self, *args: object) -> None:  # keep test output clean
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers.get("Idempotency-Key") or body["key"]
        server = self.server
        hold = False
        with server.changed:
            server.requests += 1
            if server.idempotent and key in server.by_key:
                post_id = server.by_key[key]
            else:
                server.records.append(key)
                post_id = len(server.records)
                server.by_key.setdefault(key, post_id)
                hold = server.hold_at == post_id
            server.changed.notify_all()
        if hold:
            # The post exists on the platform, but its creator has not heard back yet.
            server.held.set()
            server.release.wait(timeout=30)
        payload = json.dumps({"id": str(post_id), "url": f"{server.url}/p/{post_id}"}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the worker was killed while we held its request


def running(platform: FakePlatform) -> AbstractContextManager[FakePlatform]:
    return loopback.running(platform, platform.release)
