"""The database: releases and their versions, the outbox and the delivery log (SQLAlchemy Core).

SQLite by default (WAL, synchronous=FULL, writes under BEGIN IMMEDIATE); PostgreSQL when
DISTRIB_DATABASE_URL says so. The schema is versioned with Alembic and upgraded on open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from distrib.errors import StoreError
from distrib.models import (
    Delivery,
    OutboxItem,
    Post,
    PostKind,
    Release,
    ReleaseState,
    Status,
    StoredRelease,
    iso_z,
    utc,
)

# The newest migration in distrib/migrations/versions; a test keeps it equal to Alembic's head.
SCHEMA_HEAD = "0002"


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        # SQLite has no zone type: store naive UTC text, which also sorts correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("parsed", sa.Text, nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False, index=True),
    sa.Column("horizon_at", UTCDateTime, nullable=True, index=True),
    sa.Column("queued_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=True),
)

release_versions = sa.Table(
    "release_versions",
    metadata,
    sa.Column("release_id", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("source_text", sa.Text, nullable=False),
    sa.Column("parsed", sa.Text, nullable=False),
    sa.Column("queued_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, unique=True),
    sa.Column("release_id", sa.String(128), nullable=False, index=True),
    sa.Column("release_version", sa.Integer, nullable=False),
    sa.Column("release_hash", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("offset_seconds", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("not_after", UTCDateTime, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("worker_id", sa.String(128), nullable=True),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("remote_id", sa.Text, nullable=True),
    sa.Column("remote_url", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Leads with the state so "what is due?" never walks the sent history (reference C.2).
    sa.Index("ix_outbox_due", "state", "next_attempt_at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False, index=True),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker_id", sa.String(128), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("remote_id", sa.Text, nullable=True),
    sa.Column("remote_url", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("release_hash", sa.String(64), nullable=False),
)


@dataclass(frozen=True, slots=True)
class QueueResult:
    release_id: str
    version: int
    outcome: str  # "new" | "unchanged" | "updated" | "requeued"
    previous: StoredRelease | None
    current: StoredRelease


# Called inside the queue transaction (the delivery engine plans the outbox here).
QueueHook = Callable[[Connection, QueueResult, datetime], None]


def engine_url(url: str) -> str:
    """postgresql:// means psycopg 3 (the driver we install), not SQLAlchemy's psycopg2 default."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = engine_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the database directory {Path(path).parent}: {exc.strerror}"
                ) from exc
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's BEGIN below be the only transaction control (pysqlite's own is off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed 'sending' survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front so two of them never deadlock upgrading a read lock.
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """All database access goes through here; methods take `now` rather than reading a clock."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            self.migrate()

    def close(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema; a no-op (and no Alembic import) when it is already current."""
        try:
            if revision == "head" and self.schema_version() == SCHEMA_HEAD:
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            with self.engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open or upgrade the database: {_short(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite)."""
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- releases -----------------------------------------------------------------------------

    def queue(
        self, release: Release, source: str, source_text: str, now: datetime,
        hook: QueueHook | None = None,
    ) -> QueueResult:  # fmt: skip
        """Store a release (a new version when its content changed) in one transaction."""
        now = utc(now)
        digest = release.content_hash()
        with self.write() as conn:
            row = conn.execute(sa.select(releases).where(releases.c.id == release.id)).first()
            previous = _stored(row) if row else None
            if previous and previous.version_hash == digest and previous.state == ReleaseState.QUEUED:
                unchanged = QueueResult(release.id, previous.version, "unchanged", previous, previous)
                if hook is not None:
                    hook(conn, unchanged, now)  # the content is the same, but the channels may not be
                return unchanged
            version = previous.version + 1 if previous else 1
            outcome = "new"
            if previous:
                outcome = "requeued" if previous.state == ReleaseState.CANCELLED else "updated"
            parsed = json.dumps(release.to_dict(), ensure_ascii=False, sort_keys=True)
            conn.execute(
                release_versions.insert().values(
                    release_id=release.id, version=version, version_hash=digest,
                    state=ReleaseState.QUEUED.value, source_text=source_text, parsed=parsed,
                    queued_at=now,
                )
            )  # fmt: skip
            values = {
                "version": version,
                "version_hash": digest,
                "state": ReleaseState.QUEUED.value,
                "source": source,
                "parsed": parsed,
                "language": release.language,
                "published_at": release.published,
                "horizon_at": _horizon(release),
                "updated_at": now,
                "cancelled_at": None,
                "cancel_reason": None,
            }
            if previous:
                conn.execute(releases.update().where(releases.c.id == release.id).values(**values))
            else:
                conn.execute(releases.insert().values(id=release.id, queued_at=now, **values))
            current = StoredRelease(
                release=release, version=version, version_hash=digest, state=ReleaseState.QUEUED,
                source=source, queued_at=previous.queued_at if previous else now, updated_at=now,
            )  # fmt: skip
            result = QueueResult(release.id, version, outcome, previous, current)
            if hook is not None:
                hook(conn, result, now)
            return result

    def cancel(
        self, release_id: str, reason: str | None, now: datetime,
        hook: Callable[[Connection, StoredRelease, datetime], None] | None = None,
    ) -> tuple[StoredRelease, bool]:  # fmt: skip
        """Mark a release cancelled (a new version, so calendars see SEQUENCE rise).

        Returns the release and whether anything changed (False: it was already cancelled).
        """
        now = utc(now)
        with self.write() as conn:
            row = conn.execute(sa.select(releases).where(releases.c.id == release_id)).first()
            if row is None:
                raise KeyError(release_id)
            stored = _stored(row)
            if stored.state == ReleaseState.CANCELLED:
                return stored, False
            version = stored.version + 1
            source_text = conn.execute(
                sa.select(release_versions.c.source_text).where(
                    release_versions.c.release_id == release_id,
                    release_versions.c.version == stored.version,
                )
            ).scalar_one()
            conn.execute(
                release_versions.insert().values(
                    release_id=release_id, version=version, version_hash=stored.version_hash,
                    state=ReleaseState.CANCELLED.value, source_text=source_text, parsed=row.parsed,
                    queued_at=now,
                )
            )  # fmt: skip
            conn.execute(
                releases.update()
                .where(releases.c.id == release_id)
                .values(
                    version=version, state=ReleaseState.CANCELLED.value, updated_at=now,
                    cancelled_at=now, cancel_reason=reason,
                )
            )  # fmt: skip
            cancelled = StoredRelease(
                release=stored.release, version=version, version_hash=stored.version_hash,
                state=ReleaseState.CANCELLED, source=stored.source, queued_at=stored.queued_at,
                updated_at=now, cancelled_at=now, cancel_reason=reason,
            )  # fmt: skip
            if hook is not None:
                hook(conn, cancelled, now)
            return cancelled, True

    def release(self, release_id: str) -> StoredRelease | None:
        with self.read() as conn:
            row = conn.execute(sa.select(releases).where(releases.c.id == release_id)).first()
        return _stored(row) if row else None

    def releases(
        self,
        *,
        visible_at: datetime | None = None,
        language: str | None = None,
        limit: int | None = None,
    ) -> list[StoredRelease]:
        """Stored releases, newest publication first.

        visible_at: only those whose embargo has lifted by then (published <= visible_at).
        """
        query = sa.select(releases).order_by(releases.c.published_at.desc(), releases.c.id)
        if visible_at is not None:
            query = query.where(releases.c.published_at <= utc(visible_at))
        if language is not None:
            query = query.where(releases.c.language == language)
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return [_stored(row) for row in conn.execute(query)]

    def versions(self, release_id: str) -> list[dict[str, Any]]:
        """The audit trail of one release: every version with its hash, state and time."""
        query = (
            sa.select(
                release_versions.c.version,
                release_versions.c.version_hash,
                release_versions.c.state,
                release_versions.c.queued_at,
            )
            .where(release_versions.c.release_id == release_id)
            .order_by(release_versions.c.version)
        )
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def outbox_rows(self, release_id: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows in the `status --json` shape (DESIGN §9), soonest first."""
        query = sa.select(
            outbox.c.key, outbox.c.release_id, outbox.c.channel, outbox.c.kind, outbox.c.due_at,
            outbox.c.state, outbox.c.attempts, outbox.c.remote_id, outbox.c.remote_url,
            outbox.c.error, outbox.c.sent_at,
        ).order_by(outbox.c.due_at, outbox.c.id)  # fmt: skip
        if release_id is not None:
            query = query.where(outbox.c.release_id == release_id)
        with self.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "key": row.key,
                "release_id": row.release_id,
                "channel": row.channel,
                "kind": row.kind,
                "due": iso_z(row.due_at),
                "state": row.state,
                "attempts": row.attempts,
                "remote_id": row.remote_id,
                "remote_url": row.remote_url,
                "error": row.error,
                "sent_at": iso_z(row.sent_at) if row.sent_at else None,
            }
            for row in rows
        ]


def _horizon(release: Release) -> datetime:
    """The last moment the release speaks about (for 'upcoming events' queries)."""
    moments = [release.published]
    moments += [e.end or e.start for e in release.events]
    moments += [d.due for d in release.deadlines]
    return max(moments)


def _stored(row: sa.Row[Any]) -> StoredRelease:
    return StoredRelease(
        release=Release.from_dict(json.loads(row.parsed)),
        version=row.version,
        version_hash=row.version_hash,
        state=ReleaseState(row.state),
        source=row.source,
        queued_at=row.queued_at,
        updated_at=row.updated_at,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
    )


def _short(exc: BaseException) -> str:
    """The first line of a driver error, without SQL or parameters (which may hold data)."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


# -- the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """A row the planner wants in the outbox (state pending, or skipped with a reason)."""

    key: str
    release_id: str
    release_version: int
    release_hash: str
    channel: str
    kind: PostKind
    target: str
    offset_seconds: int
    due: datetime
    not_after: datetime | None
    post: Post
    skip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlanChange:
    inserted: int = 0
    updated: int = 0
    kept: int = 0
    withdrawn: int = 0


# States of rows that never reached a channel: re-planning may rewrite them.
_NEVER_SENT = (Status.PENDING.value, Status.CANCELLED.value, Status.SKIPPED.value)


def plan_items(conn: Connection, release_id: str, items: list[PlannedItem], now: datetime) -> PlanChange:
    """Make the release's outbox match `items` inside the caller's transaction.

    Rows that never went out (pending, withdrawn, skipped) are replaced by the new plan, or withdrawn
    when it no longer has them; rows sent, being sent, failed or uncertain are kept as they are: what
    went out stays on record and is never sent again.
    """
    existing = {
        row.key: row
        for row in conn.execute(
            sa.select(outbox.c.id, outbox.c.key, outbox.c.state).where(outbox.c.release_id == release_id)
        )
    }
    inserted = updated = kept = 0
    wanted = set()
    for item in items:
        wanted.add(item.key)
        values = {
            "release_version": item.release_version,
            "release_hash": item.release_hash,
            "due_at": item.due,
            "not_after": item.not_after,
            "next_attempt_at": item.due,
            "post": json.dumps(item.post.to_dict(), ensure_ascii=False, sort_keys=True),
            "state": (Status.SKIPPED if item.skip_reason else Status.PENDING).value,
            "error": item.skip_reason,
            "updated_at": now,
        }
        row = existing.get(item.key)
        if row is None:
            conn.execute(
                outbox.insert().values(
                    key=item.key, release_id=item.release_id, channel=item.channel, kind=item.kind.value,
                    target=item.target, offset_seconds=item.offset_seconds, attempts=0, created_at=now,
                    **values,
                )
            )  # fmt: skip
            inserted += 1
        elif row.state in _NEVER_SENT:
            conn.execute(
                outbox.update().where(outbox.c.id == row.id, outbox.c.state == row.state).values(**values)
            )
            updated += 1
        else:
            kept += 1
    withdrawn = conn.execute(
        outbox.update()
        .where(
            outbox.c.release_id == release_id,
            outbox.c.state == Status.PENDING.value,
            outbox.c.key.not_in(wanted) if wanted else sa.true(),
        )
        .values(state=Status.CANCELLED.value, error="withdrawn: no longer planned", updated_at=now)
    ).rowcount
    return PlanChange(inserted, updated, kept, withdrawn)


def withdraw_pending(conn: Connection, release_id: str, reason: str, now: datetime) -> int:
    """Cancel every unsent row of a release (used by `distrib cancel`, before planning cancellations)."""
    return conn.execute(
        outbox.update()
        .where(outbox.c.release_id == release_id, outbox.c.state == Status.PENDING.value)
        .values(state=Status.CANCELLED.value, error=reason, updated_at=now)
    ).rowcount


@dataclass(frozen=True, slots=True)
class Transition:
    """One outbox row changing state, as the worker reports it (JSON lines in --simulate)."""

    at: datetime
    item: OutboxItem
    state: Status
    error: str | None = None
    remote_url: str | None = None


class Outbox:
    """The outbox operations the worker uses; each is one short transaction, none calls a channel."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def next_due(self) -> datetime | None:
        with self.store.read() as conn:
            return conn.execute(
                sa.select(sa.func.min(outbox.c.next_attempt_at)).where(outbox.c.state == Status.PENDING.value)
            ).scalar()

    def expire_late(self, now: datetime) -> list[Transition]:
        """Due rows past their grace become skipped (a reminder after its moment is worse than none)."""
        now = utc(now)
        with self.store.write() as conn:
            rows = conn.execute(
                sa.select(outbox).where(
                    outbox.c.state == Status.PENDING.value,
                    outbox.c.next_attempt_at <= now,
                    outbox.c.not_after.is_not(None),
                    outbox.c.not_after < now,
                )
            ).all()
            out = []
            for row in rows:
                item = _item(row)
                assert item.not_after is not None
                reason = (
                    f"missed: due {iso_z(item.due)}, not sent before {iso_z(item.not_after)} "
                    f"(now {iso_z(now)})"
                )
                done = conn.execute(
                    outbox.update()
                    .where(outbox.c.id == item.id, outbox.c.state == Status.PENDING.value)
                    .values(state=Status.SKIPPED.value, error=reason, updated_at=now)
                ).rowcount
                if done:
                    out.append(Transition(now, item, Status.SKIPPED, reason))
            return out

    def claim(self, now: datetime, worker_id: str, lease: timedelta, limit: int = 50) -> list[OutboxItem]:
        """Take due rows: commit `sending` with a lease and open an attempt record, before any send."""
        now = utc(now)
        with self.store.write() as conn:
            query = (
                sa.select(outbox.c.id)
                .where(outbox.c.state == Status.PENDING.value, outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                # Several workers share the outbox: each takes rows nobody else holds.
                query = query.with_for_update(skip_locked=True)
            ids = [row.id for row in conn.execute(query)]
            if not ids:
                return []
            conn.execute(
                outbox.update()
                .where(outbox.c.id.in_(ids), outbox.c.state == Status.PENDING.value)
                .values(
                    state=Status.SENDING.value, worker_id=worker_id, lease_until=now + lease,
                    attempts=outbox.c.attempts + 1, updated_at=now,
                )
            )  # fmt: skip
            rows = conn.execute(
                sa.select(outbox)
                .where(outbox.c.id.in_(ids), outbox.c.worker_id == worker_id)
                .order_by(outbox.c.due_at, outbox.c.id)
            ).all()
            return [_item(row) for row in rows if row.state == Status.SENDING.value]

    def begin_attempt(self, item: OutboxItem, now: datetime, lease: timedelta) -> bool:
        """Commit the intent to call the channel now (the attempt record), renewing the lease.

        False when the claim was lost meanwhile: the caller must not send. A row still `sending`
        without an attempt record was never tried, so a sweep can safely return it to pending.
        """
        now = utc(now)
        with self.store.write() as conn:
            still_ours = conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == item.id,
                    outbox.c.worker_id == item.worker_id,
                    outbox.c.attempts == item.attempts,
                    outbox.c.state == Status.SENDING.value,
                )
                .values(lease_until=now + lease, updated_at=now)
            ).rowcount
            if not still_ours:
                return False
            conn.execute(
                deliveries.insert().values(
                    outbox_id=item.id, key=item.key, attempt=item.attempts, worker_id=item.worker_id or "",
                    started_at=now, outcome="sending", release_hash=item.release_hash,
                )
            )  # fmt: skip
            return True

    def finish(
        self,
        item: OutboxItem,
        state: Status,
        now: datetime,
        *,
        error: str | None = None,
        remote_id: str | None = None,
        remote_url: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set the row this worker claimed; False if it lost the lease meanwhile."""
        now = utc(now)
        values: dict[str, Any] = {
            "state": state.value,
            "error": error,
            "updated_at": now,
            "lease_until": None,
        }
        if state == Status.SENT:
            values.update(remote_id=remote_id, remote_url=remote_url, sent_at=now)
        if state == Status.PENDING:
            assert next_attempt_at is not None
            values["next_attempt_at"] = next_attempt_at
        with self.store.write() as conn:
            # The row is ours only while it is still this worker's attempt; a sweep that declared it
            # uncertain is overruled when we learn it was sent (the truth beats the guess).
            allowed = [Status.SENDING.value] + ([Status.UNCERTAIN.value] if state == Status.SENT else [])
            changed = conn.execute(
                outbox.update()
                .where(
                    outbox.c.id == item.id,
                    outbox.c.worker_id == item.worker_id,
                    outbox.c.attempts == item.attempts,
                    outbox.c.state.in_(allowed),
                )
                .values(**values)
            ).rowcount
            outcome = state.value if changed else f"{state.value} (lease lost)"
            conn.execute(
                deliveries.update()
                .where(deliveries.c.outbox_id == item.id, deliveries.c.attempt == item.attempts)
                .values(
                    finished_at=now, outcome=outcome, error=error, remote_id=remote_id, remote_url=remote_url
                )
            )
            return bool(changed)

    def sweep(self, now: datetime, idempotent: Callable[[str], bool]) -> list[Transition]:
        """Rows whose lease expired mid-send: retry where the channel is idempotent, else uncertain."""
        now = utc(now)
        with self.store.write() as conn:
            rows = conn.execute(
                sa.select(outbox).where(outbox.c.state == Status.SENDING.value, outbox.c.lease_until < now)
            ).all()
            out = []
            attempted = {
                (d.outbox_id, d.attempt)
                for d in conn.execute(
                    sa.select(deliveries.c.outbox_id, deliveries.c.attempt).where(
                        deliveries.c.outbox_id.in_([row.id for row in rows]),
                        deliveries.c.finished_at.is_(None),
                    )
                )
            }
            for row in rows:
                item = _item(row)
                if (item.id, item.attempts) not in attempted:
                    # Claimed but never tried: nothing can have reached the platform.
                    state, error = Status.PENDING, f"worker {item.worker_id} stopped before sending; requeued"
                elif idempotent(item.channel):
                    state = Status.PENDING
                    error = f"worker {item.worker_id} stopped mid-send; retrying safely (idempotent channel)"
                else:
                    state = Status.UNCERTAIN
                    error = (
                        f"worker {item.worker_id} stopped mid-send (attempt {item.attempts}); the post may "
                        f"or may not be out: check {item.channel}, then "
                        f"`distrib resolve {item.key} --sent|--resend`"
                    )
                changed = conn.execute(
                    outbox.update()
                    .where(
                        outbox.c.id == item.id,
                        outbox.c.state == Status.SENDING.value,
                        outbox.c.attempts == item.attempts,
                    )
                    .values(
                        state=state.value, error=error, lease_until=None, next_attempt_at=now, updated_at=now
                    )
                ).rowcount
                if changed:
                    conn.execute(
                        deliveries.update()
                        .where(deliveries.c.outbox_id == item.id, deliveries.c.attempt == item.attempts,
                               deliveries.c.finished_at.is_(None))
                        .values(finished_at=now, outcome="lost", error="lease expired")
                    )  # fmt: skip
                    out.append(Transition(now, item, state, error))
            return out

    def resolve(self, key: str, *, sent: bool, now: datetime) -> OutboxItem:
        """The operator settles an uncertain (or failed) row: it did go out, or send it again now."""
        now = utc(now)
        with self.store.write() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.key == key)).first()
            if row is None:
                raise KeyError(key)
            if row.state not in (Status.UNCERTAIN.value, Status.FAILED.value):
                raise ValueError(f"{key} is {row.state}; only uncertain or failed posts can be resolved")
            if sent:
                values: dict[str, Any] = {
                    "state": Status.SENT.value,
                    "error": "confirmed sent by the operator",
                    "sent_at": now,
                }
            else:
                values = {"state": Status.PENDING.value, "error": None, "next_attempt_at": now}
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row.id, outbox.c.state == row.state)
                .values(updated_at=now, **values)
            )
            return _item(conn.execute(sa.select(outbox).where(outbox.c.id == row.id)).one())

    def item(self, key: str) -> OutboxItem | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.key == key)).first()
        return _item(row) if row else None

    def items(self, release_id: str | None = None) -> list[OutboxItem]:
        query = sa.select(outbox).order_by(outbox.c.due_at, outbox.c.id)
        if release_id is not None:
            query = query.where(outbox.c.release_id == release_id)
        with self.store.read() as conn:
            return [_item(row) for row in conn.execute(query)]

    def deliveries(self, key: str | None = None) -> list[Delivery]:
        query = sa.select(deliveries).order_by(deliveries.c.id)
        if key is not None:
            query = query.where(deliveries.c.key == key)
        with self.store.read() as conn:
            return [
                Delivery(
                    outbox_id=row.outbox_id, key=row.key, attempt=row.attempt, worker_id=row.worker_id,
                    started_at=row.started_at, finished_at=row.finished_at, outcome=row.outcome,
                    release_hash=row.release_hash, remote_id=row.remote_id, remote_url=row.remote_url,
                    error=row.error,
                )
                for row in conn.execute(query)
            ]  # fmt: skip


def _item(row: sa.Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        key=row.key,
        release_id=row.release_id,
        release_version=row.release_version,
        release_hash=row.release_hash,
        channel=row.channel,
        kind=PostKind(row.kind),
        target=row.target,
        offset_seconds=row.offset_seconds,
        due=row.due_at,
        not_after=row.not_after,
        state=Status(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        post=Post.from_dict(json.loads(row.post)),
        lease_until=row.lease_until,
        worker_id=row.worker_id,
        remote_id=row.remote_id,
        remote_url=row.remote_url,
        error=row.error,
        sent_at=row.sent_at,
    )


# -- feeds: read-only queries for distrib.feeds ---------------------------------------------------
# Each reads only the rows a feed or calendar shows, through the indexes on published_at and
# horizon_at, so building feeds costs the same with 100 or 100,000 stored releases.


def _public(visible_at: datetime) -> sa.ColumnElement[bool]:
    """Embargo lifted, and not withdrawn before it ever went public (nobody saw it: nothing to retract)."""
    return sa.and_(
        releases.c.published_at <= visible_at,
        sa.or_(
            releases.c.state != ReleaseState.CANCELLED.value,
            releases.c.cancelled_at.is_(None),
            releases.c.cancelled_at >= releases.c.published_at,
        ),
    )


def feed_releases(
    store: Store, visible_at: datetime, *, limit: int, language: str | None = None
) -> list[StoredRelease]:
    """The newest `limit` public releases (optionally of one language), newest publication first."""
    query = (
        sa.select(releases)
        .where(_public(utc(visible_at)))
        .order_by(releases.c.published_at.desc(), releases.c.id)
        .limit(limit)
    )
    if language is not None:
        query = query.where(releases.c.language == language)
    with store.read() as conn:
        return [_stored(row) for row in conn.execute(query)]


def calendar_releases(
    store: Store, visible_at: datetime, since: datetime, *, language: str | None = None
) -> list[StoredRelease]:
    """Public releases speaking about a moment at or after `since` (upcoming and recent events), unordered.

    No ORDER BY: sorting by publication would make SQLite walk the published_at index over every
    release instead of the few horizon_at finds (15 ms instead of 2 ms at 10,000 releases).
    """
    query = sa.select(releases).where(releases.c.horizon_at >= utc(since), _public(utc(visible_at)))
    if language is not None:
        query = query.where(releases.c.language == language)
    with store.read() as conn:
        return [_stored(row) for row in conn.execute(query)]


def public_languages(store: Store, visible_at: datetime) -> list[str]:
    """The languages of the public releases, sorted."""
    query = sa.select(releases.c.language).where(_public(utc(visible_at))).distinct()
    with store.read() as conn:
        return sorted(conn.execute(query).scalars())


def next_publication(store: Store, after: datetime) -> datetime | None:
    """When the next embargo lifts after `after` (feeds must be rebuilt then), if one is pending."""
    query = sa.select(sa.func.min(releases.c.published_at, type_=UTCDateTime)).where(
        releases.c.published_at > utc(after)
    )
    with store.read() as conn:
        value: datetime | None = conn.execute(query).scalar()
    return value
