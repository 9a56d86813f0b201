"""Shared helpers for the benchmarks: a scratch store filled fast with outbox rows."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from distrib.models import Post, PostKind, PostPart
from distrib.store import Store, outbox

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def scratch_store(name: str) -> Store:
    return Store(f"sqlite:///{Path(tempfile.mkdtemp(prefix='distrib-bench-')) / name}")


def post_json(key: str, channel: str = "fake") -> str:
    post = Post(channel, PostKind.ANNOUNCEMENT, "r", "r", (PostPart("bench post", 10, 500),), key=key)
    return json.dumps(post.to_dict())


def fill(
    store: Store,
    count: int,
    *,
    state: str,
    due: Callable[[int], datetime],
    prefix: str,
    channel: str = "fake",
) -> None:
    """Insert rows in large batches (a benchmark fixture, not how distrib plans)."""
    batch = []
    for n in range(count):
        key = f"{prefix}:{n}"
        moment = due(n)
        batch.append({
            "key": key, "release_id": f"r{n // 10}", "release_version": 1, "release_hash": "h",
            "channel": channel,
            "kind": "announcement", "target": "r", "offset_seconds": 0, "due_at": moment, "not_after": None,
            "state": state, "attempts": 1 if state == "sent" else 0, "next_attempt_at": moment,
            "post": post_json(key, channel), "created_at": NOW, "updated_at": NOW,
        })  # fmt: skip
        if len(batch) == 20_000:
            with store.write() as conn:
                conn.execute(outbox.insert(), batch)
            batch = []
    if batch:
        with store.write() as conn:
            conn.execute(outbox.insert(), batch)


def median_seconds(fn: Callable[[], object], repeat: int = 200) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
