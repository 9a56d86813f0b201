"""Finding due work among 1,000 and 1,000,000 outbox rows (mostly sent). Target: <= 1 ms, <= 2x.

Run: .venv/bin/python bench/due_rows.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench._common import NOW, fill, median_seconds, minutes, ms, scratch_store
from distrib.store import outbox


def measure(total: int) -> float:
    store = scratch_store(f"due-{total}.sqlite3")
    pending = 50
    fill(store, total - pending, state="sent", due=lambda n: NOW - minutes(n % 50_000), prefix="sent")
    fill(store, pending, state="pending", due=lambda n: NOW + minutes(n - 10), prefix="pending")  # 10 due now
    # The exact query the worker's claim runs, on a read connection.
    query = (
        sa.select(outbox.c.id)
        .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= NOW)
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(50)
    )
    with store.engine.connect() as conn:
        assert len(conn.execute(query).all()) == 11
        took = median_seconds(lambda: conn.execute(query).all(), repeat=500)
    store.close()
    return took


if __name__ == "__main__":
    small = measure(1_000)
    large = measure(1_000_000)
    print(f"due rows among 1,000:     {ms(small)}")
    print(f"due rows among 1,000,000: {ms(large)}  ({large / small:.2f}x the 1,000-row time)")
    print("target: <= 1 ms and <= 2x ->", "OK" if large <= 0.001 and large <= 2 * small else "MISSED")
