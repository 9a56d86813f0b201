"""The store on SQLite and PostgreSQL: one version per content, cancellation, audit trail, durability."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa

from distrib.models import Release, ReleaseState
from distrib.store import Store, release_versions, releases
from tests.conftest import NOW


def test_queue_is_idempotent_for_the_same_content(store: Store, exomars: Release) -> None:
    first = store.queue(exomars, "f.md", "text", NOW)
    again = store.queue(exomars, "f.md", "text v2 layout", NOW + timedelta(minutes=5))
    assert (first.outcome, first.version) == ("new", 1)
    assert (again.outcome, again.version) == ("unchanged", 1)
    (stored,) = store.releases()
    assert stored.release == exomars
    assert stored.updated_at == NOW
    assert [v["version"] for v in store.versions(exomars.id)] == [1]


def test_changed_content_is_a_new_version_with_the_same_id(store: Store, exomars: Release) -> None:
    store.queue(exomars, "f.md", "v1", NOW)
    moved = dataclasses.replace(
        exomars,
        events=(dataclasses.replace(exomars.events[0], start=exomars.events[0].start + timedelta(hours=1)),),
    )
    later = NOW + timedelta(days=1)
    result = store.queue(moved, "f.md", "v2", later)
    assert (result.outcome, result.version) == ("updated", 2)
    assert result.previous is not None
    assert result.previous.release == exomars
    stored = store.release(exomars.id)
    assert stored is not None
    assert stored.release == moved
    assert (stored.queued_at, stored.updated_at) == (NOW, later)
    history = store.versions(exomars.id)
    assert [(v["version"], v["version_hash"]) for v in history] == [
        (1, exomars.content_hash()),
        (2, moved.content_hash()),
    ]


def test_cancel_is_a_new_version_and_idempotent(store: Store, exomars: Release) -> None:
    store.queue(exomars, "f.md", "v1", NOW)
    cancelled, changed = store.cancel(exomars.id, "postponed", NOW + timedelta(hours=1))
    assert changed
    assert (cancelled.state, cancelled.version, cancelled.cancel_reason) == (
        ReleaseState.CANCELLED,
        2,
        "postponed",
    )
    again, changed_again = store.cancel(exomars.id, "twice", NOW + timedelta(hours=2))
    assert not changed_again
    assert again.cancel_reason == "postponed"
    assert [v["state"] for v in store.versions(exomars.id)] == ["queued", "cancelled"]


def test_requeue_after_cancel_reinstates_with_a_higher_version(store: Store, exomars: Release) -> None:
    store.queue(exomars, "f.md", "v1", NOW)
    store.cancel(exomars.id, None, NOW)
    result = store.queue(exomars, "f.md", "v1", NOW + timedelta(hours=1))
    assert (result.outcome, result.version) == ("requeued", 3)
    stored = store.release(exomars.id)
    assert stored is not None
    assert (stored.state, stored.cancelled_at) == (ReleaseState.QUEUED, None)


def test_cancel_unknown_release_raises_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.cancel("nope", None, NOW)


def test_queue_hook_failure_rolls_back_everything(store: Store, exomars: Release) -> None:
    def failing_planner(*_: object) -> None:
        raise RuntimeError("planner broke")

    with pytest.raises(RuntimeError):
        store.queue(exomars, "f.md", "v1", NOW, hook=failing_planner)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(releases)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(release_versions)).scalar() == 0


def test_visible_releases_respect_the_embargo(store: Store, exomars: Release) -> None:
    store.queue(exomars, "f.md", "v1", NOW)
    assert store.releases(visible_at=exomars.published - timedelta(seconds=1)) == []
    assert [s.release.id for s in store.releases(visible_at=exomars.published)] == [exomars.id]


def test_sqlite_is_durable_wal_full(tmp_path: object, exomars: Release) -> None:
    from tests.conftest import sqlite_url

    store = Store(sqlite_url(tmp_path))  # type: ignore[arg-type]
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()


def test_due_rows_query_uses_the_state_index(tmp_path: object) -> None:
    from tests.conftest import sqlite_url

    store = Store(sqlite_url(tmp_path))  # type: ignore[arg-type]
    try:
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE state = 'pending' "
                "AND next_attempt_at <= '2020-01-01' ORDER BY next_attempt_at LIMIT 10"
            ).all()
        assert any("ix_outbox_due" in str(row) for row in plan), plan
    finally:
        store.close()
