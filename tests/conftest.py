"""Shared fixtures: the ExoMars example, and a real store on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from distrib.models import Release
from distrib.release import load_release
from distrib.store import Store, engine_url

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "esa-n5-2020-exomars-call-for-media.md"
PG_URL = os.environ.get("DISTRIB_TEST_DATABASE_URL")

SETTING_PREFIXES = ("DISTRIB_", "X_", "TELEGRAM_", "MASTODON_", "BLUESKY_", "WEBHOOK_", "SMTP_", "EMAIL_")

SETTING_PREFIXES = ("DISTRIB_", "X_", "TELEGRAM_", "MASTODON_", "BLUESKY_", "WEBHOOK_", "SMTP_", "EMAIL_")

# A fixed "now" a few minutes before the ExoMars release goes public.
NOW = datetime(2020, 2, 24, 7, 55, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs in its own directory with no stray distrib/channel settings."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES) and name != "DISTRIB_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def exomars_path() -> Path:
    return EXAMPLE


@pytest.fixture
def exomars() -> Release:
    return load_release(EXAMPLE)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'distrib.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not PG_URL:
        pytest.skip("DISTRIB_TEST_DATABASE_URL is not set (.ci/run sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(engine_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    try:
        yield s
    finally:
        s.close()
