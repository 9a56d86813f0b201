"""Worker memory with 100,000 pending outbox rows. Target: <= 100 MB RSS.

The rows are inserted by this script; the worker runs in a separate process, which reports its own
peak RSS after half an hour of (virtual) heartbeats.
Run: .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import NOW, fill, scratch_store


def worker_process(db_url: str) -> None:
    from distrib.store import Store
    from distrib.worker import VirtualClock, Worker

    logging.disable(logging.CRITICAL)
    clock = VirtualClock(NOW)
    worker = Worker(Store(db_url), {}, clock=clock)
    for _ in range(30):  # 30 beats a virtual minute apart: a row comes due each minute
        clock.advance(timedelta(minutes=1))
        worker.tick()
        worker.outbox.next_due()
    print(peak_rss_mb())


def peak_rss_mb() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across fork+exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_process(sys.argv[2])
        raise SystemExit
    store = scratch_store("memory.sqlite3")
    fill(store, 100_000, state="pending", due=lambda n: NOW + timedelta(minutes=1 + n), prefix="p")
    url = store.url
    store.close()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", url], capture_output=True, text=True, check=True
    )
    rss = float(out.stdout.strip())
    print(f"worker peak RSS with 100,000 pending rows: {rss:.1f} MB")
    print("target: <= 100 MB ->", "OK" if rss <= 100 else "MISSED")
