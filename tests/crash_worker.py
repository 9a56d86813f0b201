"""A worker process for the crash tests: delivers to the fake platform over HTTP.

Usage: python -m tests.crash_worker DB_URL API_URL IDEMPOTENT(0|1) MODE(run|drain) WORKER_ID
run: the real long-running loop (killed by the test). drain: a clock one hour ahead (so every
lease has expired) ticks until nothing is due, then exits.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

import requests

from channels.errors import PermanentError, TransientError
from distrib.models import Post, Receipt
from distrib.store import Store
from distrib.worker import Worker, WorkerConfig


class HttpChannel:
    name = "fake"

    def __init__(self, base_url: str, idempotent: bool) -> None:
        self.base_url = base_url
        self.idempotent = idempotent
        self.session = requests.Session()

    def send(self, post: Post) -> Receipt:
        try:
            response = self.session.post(
                f"{self.base_url}/posts",
                json={"key": post.key, "text": post.text},
                headers={"Idempotency-Key": post.key} if self.idempotent else {},
                timeout=(2, 10),
            )
        except requests.ConnectionError as exc:
            raise TransientError(f"connection failed: {exc}") from exc
        except requests.Timeout as exc:
            raise TransientError("no answer in time", maybe_sent=True) from exc
        if response.status_code >= 400:
            raise PermanentError(f"HTTP {response.status_code}")
        data = response.json()
        return Receipt(data["id"], data["url"])


class AheadClock:
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(hours=1)


def main() -> None:
    db_url, api_url, idempotent, mode, worker_id = sys.argv[1:6]
    store = Store(db_url)
    channel = HttpChannel(api_url, idempotent == "1")
    config = WorkerConfig(lease=timedelta(minutes=5), batch=5)
    if mode == "drain":
        worker = Worker(store, {"fake": channel}, clock=AheadClock(), config=config, worker_id=worker_id)
        while worker.tick():
            pass
        return
    worker = Worker(store, {"fake": channel}, config=config, worker_id=worker_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.run(stop)


if __name__ == "__main__":
    main()
