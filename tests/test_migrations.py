"""Schema migrations upgrade an empty database and an older one, keeping its data."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from distrib.store import SCHEMA_HEAD, Store


def test_schema_head_matches_alembic_scripts() -> None:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import distrib.store

    config = Config()
    config.set_main_option("script_location", str(Path(distrib.store.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_empty_database_upgrades_to_head(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert store.schema_version() == SCHEMA_HEAD
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {"releases", "release_versions", "outbox", "deliveries"} <= tables
    finally:
        store.close()


def test_previous_version_database_upgrades_and_keeps_its_releases(db_url: str) -> None:
    old = Store(db_url, migrate=False)
    old.migrate("0001")
    assert old.schema_version() == "0001"
    assert "outbox" not in sa.inspect(old.engine).get_table_names()
    moment = datetime(2020, 2, 24, 8, tzinfo=UTC)
    with old.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO releases (id, version, version_hash, state, source, parsed, language, "
                "published_at, queued_at, updated_at) VALUES ('old', 1, 'h', 'queued', 's', :parsed, "
                "'en', :t, :t, :t)"
            ),
            {"parsed": '{"id": "old", "title": "Old", "published": "2020-02-24T08:00:00Z", '
             '"timezone": "UTC", "show_timezones": ["UTC"]}', "t": moment.replace(tzinfo=None)},
        )  # fmt: skip
    old.close()

    upgraded = Store(db_url)
    try:
        assert upgraded.schema_version() == SCHEMA_HEAD
        (stored,) = upgraded.releases()
        assert (stored.release.id, stored.release.title, stored.release.published) == ("old", "Old", moment)
        assert upgraded.outbox_rows() == []
    finally:
        upgraded.close()
