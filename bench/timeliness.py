"""Reminder timeliness on the real clock: 100 reminders due within a minute. Target: p99 lateness <= 0.5 s.

Run: .venv/bin/python bench/timeliness.py   (takes about 70 s)
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import fill, scratch_store
from distrib.models import Post, Receipt
from distrib.store import Outbox
from distrib.worker import Worker


class RecordingChannel:
    name = "fake"
    idempotent = False

    def __init__(self) -> None:
        self.sent_at: dict[str, datetime] = {}

    def send(self, post: Post) -> Receipt:
        self.sent_at[post.key] = datetime.now(UTC)
        return Receipt(post.key)


if __name__ == "__main__":
    store = scratch_store("timeliness.sqlite3")
    start = datetime.now(UTC) + timedelta(seconds=5)
    rng = random.Random(3)
    offsets = sorted(rng.uniform(0, 60) for _ in range(100))
    fill(store, 100, state="pending", due=lambda n: start + timedelta(seconds=offsets[n]), prefix="reminder")
    channel = RecordingChannel()
    stop = threading.Event()
    thread = threading.Thread(target=Worker(store, {"fake": channel}).run, args=(stop,))
    thread.start()
    stop.wait(70)
    stop.set()
    thread.join()
    items = {i.key: i for i in Outbox(store).items()}
    lateness = sorted((channel.sent_at[k] - items[k].due).total_seconds() for k in channel.sent_at)
    p99 = lateness[int(len(lateness) * 0.99) - 1]
    print(
        f"sent {len(lateness)}/100; lateness median {statistics.median(lateness) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {lateness[-1] * 1000:.1f} ms, earliest {lateness[0] * 1000:.1f} ms"
    )
    print("target: p99 <= 0.5 s and none early ->", "OK" if p99 <= 0.5 and lateness[0] >= 0 else "MISSED")
