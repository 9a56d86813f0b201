"""Crash safety with real processes: kill -9 mid-send, and two workers sharing a PostgreSQL outbox.

The fake platform holds one chosen request open and the test kills the worker while that request is
in flight, so every kill lands mid-send without the test sleeping on a timer.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from distrib.models import Status
from distrib.store import Outbox, Store, plan_items
from tests.conftest import ROOT, sqlite_url
from tests.fakeapi import FakePlatform, running
from tests.fakes import planned

pytestmark = pytest.mark.slow

POSTS = 300
KILLS = 30


def start_worker(
    db_url: str, api: FakePlatform, idempotent: bool, mode: str, worker_id: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.crash_worker",
            db_url,
            api.url,
            "1" if idempotent else "0",
            mode,
            worker_id,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def queue_posts(db_url: str, count: int, due: datetime) -> None:
    store = Store(db_url)
    with store.write() as conn:
        plan_items(conn, "r1", [planned(f"r1:post:{n:04d}", due) for n in range(count)], due)
    store.close()


def finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


@pytest.mark.parametrize("idempotent", [False, True], ids=["uncertain-policy", "idempotency-key"])
def test_kill_9_mid_send_never_duplicates_or_loses(tmp_path: Path, idempotent: bool) -> None:
    db_url = sqlite_url(tmp_path)
    queue_posts(db_url, POSTS, datetime.now(UTC) - timedelta(minutes=1))
    rng = random.Random(5)
    with running(FakePlatform(idempotent=idempotent)) as api:
        for kill in range(KILLS):
            api.held.clear()
            api.release.clear()
            api.hold_at = len(api.records) + rng.randint(1, 6)
            proc = start_worker(db_url, api, idempotent, "run", f"w{kill}")
            assert api.held.wait(timeout=60), "the worker never reached the held request"
            proc.send_signal(signal.SIGKILL)  # the platform has the post; the worker never hears back
            proc.communicate(timeout=30)
            api.release.set()
        api.hold_at = None
        finish(start_worker(db_url, api, idempotent, "drain", "drainer"))
        records = list(api.records)

    store = Store(db_url)
    items = Outbox(store).items()
    store.close()
    by_state = Counter(i.state for i in items)
    delivered = Counter(records)
    assert max(delivered.values()) == 1, "a post was delivered twice"
    assert set(by_state) <= {Status.SENT, Status.UNCERTAIN}, by_state
    sent_keys = {i.key for i in items if i.state == Status.SENT}
    uncertain_keys = {i.key for i in items if i.state == Status.UNCERTAIN}
    assert sent_keys <= set(delivered), "marked sent but never delivered"
    assert set(delivered) | uncertain_keys == {i.key for i in items}, "lost: neither delivered nor reported"
    if idempotent:
        assert uncertain_keys == set()
        assert len(delivered) == POSTS
    else:
        assert len(uncertain_keys) <= KILLS
        assert uncertain_keys <= set(delivered)  # each kill landed after the platform had the post


def test_two_workers_on_postgresql_never_claim_the_same_post(pg_url: str) -> None:
    count = 2000
    queue_posts(pg_url, count, datetime.now(UTC) - timedelta(minutes=1))
    with running(FakePlatform()) as api:
        workers = [start_worker(pg_url, api, False, "drain", f"pg{n}") for n in range(2)]
        for proc in workers:
            finish(proc)
        records = list(api.records)
    store = Store(pg_url)
    items = Outbox(store).items()
    deliveries = Outbox(store).deliveries()
    store.close()
    assert len(records) == count
    assert Counter(records).most_common(1)[0][1] == 1
    assert {i.state for i in items} == {Status.SENT}
    assert {i.attempts for i in items} == {1}
    assert len({d.worker_id for d in deliveries}) == 2  # both really worked
