"""Fan-out: one release to 6 channels with 200 ms latency each. Target: <= 1.3 x one channel's latency.

Run: .venv/bin/python bench/fanout.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import NOW, fill, scratch_store
from distrib.models import Post, Receipt
from distrib.worker import VirtualClock, Worker

LATENCY = 0.2
CHANNELS = ["x", "telegram", "mastodon", "bluesky", "webhook", "email"]


class SlowChannel:
    idempotent = False

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, post: Post) -> Receipt:
        time.sleep(LATENCY)  # the API's round trip
        return Receipt(post.key)


def run(channels: list[str]) -> float:
    store = scratch_store("fanout.sqlite3")
    for name in channels:
        fill(store, 1, state="pending", due=lambda n: NOW, prefix=name, channel=name)
    worker = Worker(store, {n: SlowChannel(n) for n in channels}, clock=VirtualClock(NOW))
    start = time.perf_counter()
    sent = worker.tick()
    took = time.perf_counter() - start
    assert len(sent) == len(channels)
    store.close()
    return took


if __name__ == "__main__":
    one = min(run(CHANNELS[:1]) for _ in range(3))
    six = min(run(CHANNELS) for _ in range(3))
    print(f"one channel:  {one * 1000:.0f} ms (API latency {LATENCY * 1000:.0f} ms)")
    print(f"six channels: {six * 1000:.0f} ms = {six / LATENCY:.2f}x one channel's latency")
    print("target: <= 1.3x ->", "OK" if six <= 1.3 * LATENCY else "MISSED")
