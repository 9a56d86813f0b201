"""Release versions -> outbox rows: the timeline rendered for each channel, plus updates and cancellations.

Runs inside the queue (or cancel) transaction, so a release and its planned posts are stored
together or not at all. Posts are rendered now, so what `distrib preview` shows is what goes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import channels
from channels.base import Channel
from distrib.config import Settings
from distrib.models import Post, PostKind, Release, StoredRelease, utc
from distrib.plan import PlannedPost, ReminderPolicy, timeline
from distrib.render import Change, Renderer, changes_between
from distrib.store import PlannedItem, QueueResult, outbox, plan_items, release_versions, withdraw_pending

# Kinds whose sent rows mean "followers were told about this version".
_TELLING = (PostKind.ANNOUNCEMENT.value, PostKind.UPDATE.value, PostKind.CANCELLATION.value)


@dataclass(frozen=True)
class Planner:
    """What planning needs from the settings, built once per command."""

    renderer: Renderer
    policy: ReminderPolicy
    channel_names: tuple[str, ...] | None = None  # None: decided per release from the settings
    settings: Settings | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Planner:
        return cls(Renderer.from_settings(settings), ReminderPolicy.from_env(settings.env), settings=settings)

    def channels_for(self, release: Release) -> list[Channel]:
        settings = self.settings or Settings()
        names = self.channel_names or tuple(channels.enabled(release.channels, settings))
        return [channels.build(name, settings) for name in names]

    # -- hooks for Store.queue / Store.cancel --------------------------------------------------------

    def on_queued(self, conn: Connection, result: QueueResult, now: datetime) -> None:
        current = result.current
        if result.outcome == "unchanged":
            # Same content: re-plan only if the channels it goes to changed since it was planned
            # (a channel configured or removed since), keeping everything already sent.
            planned = set(
                conn.scalars(sa.select(outbox.c.channel).where(outbox.c.release_id == current.release.id))
            )
            wanted = {channel.name for channel in self.channels_for(current.release)}
            if planned == wanted:
                return

        items = self.timeline_items(current, now)
        if result.outcome != "unchanged":
            items += self.update_items(conn, current, now)
        plan_items(conn, current.release.id, items, now)

    def on_cancelled(self, conn: Connection, cancelled: StoredRelease, now: datetime) -> None:
        release = cancelled.release
        withdraw_pending(conn, release.id, "release cancelled", now)
        told = _last_told(conn, release.id)
        due = max(utc(now), release.published)
        items = []
        for channel in self.channels_for(release):
            if channel.name not in told:
                continue  # nothing went out there: there is nothing to take back
            post = self.renderer.cancellation(release, channel, cancelled.cancel_reason, due=due)
            target = f"v{cancelled.version}"
            key = post_key(release.id, PostKind.CANCELLATION, target, 0, channel.name)
            items.append(_item(cancelled, post, key=key, target=target, due=due))
        plan_items(conn, release.id, items, now)

    # -- the rows ------------------------------------------------------------------------------------

    def timeline_items(self, stored: StoredRelease, now: datetime) -> list[PlannedItem]:
        release = stored.release
        items = []
        for channel in self.channels_for(release):
            # Lateness is judged by the worker at send time (grace), not here: a past campaign
            # simulated with `run --simulate` then behaves as it would have live.
            for planned in timeline(release, self.policy):
                key = planned_key(release.id, planned, channel.name)
                post = self.renderer.planned(release, channel, planned)
                items.append(
                    _item(
                        stored,
                        post,
                        key=key,
                        target=planned.target,
                        due=planned.due,
                        offset_seconds=planned.offset_seconds,
                        not_after=planned.not_after,
                        skip_reason=planned.skip_reason,
                    )
                )
        return items

    def update_items(self, conn: Connection, stored: StoredRelease, now: datetime) -> list[PlannedItem]:
        """An update per channel whose followers were told an earlier version that differs."""
        release = stored.release
        told = _last_told(conn, release.id)
        due = max(utc(now), release.published)
        items = []
        for channel in self.channels_for(release):
            if channel.name not in told:
                continue  # the announcement has not gone out there: it will carry the new version
            version, kind = told[channel.name]
            changes: list[Change] = []
            if kind == PostKind.CANCELLATION.value:
                changes.append(Change("Status", "cancelled", "going ahead"))
            old = _version(conn, release.id, version)
            if old is not None:
                changes += changes_between(old, release)
            if not changes:
                continue
            post = self.renderer.update(release, channel, changes, due=due)
            target = f"v{stored.version}"
            key = post_key(release.id, PostKind.UPDATE, target, 0, channel.name)
            items.append(_item(stored, post, key=key, target=target, due=due))
        return items


def post_key(release_id: str, kind: PostKind, target: str, offset_seconds: int, channel: str) -> str:
    """One row per (release, kind, target, offset, channel): the outbox key and idempotency key."""
    return f"{release_id}:{kind.value}:{target}:{offset_seconds}:{channel}"


def planned_key(release_id: str, planned: PlannedPost, channel: str) -> str:
    """Reminders also name the moment they are about, so a rescheduled event gets fresh reminders
    while those already sent for the old time stay on record."""
    target = planned.target
    if planned.kind != PostKind.ANNOUNCEMENT:
        target = f"{target}@{utc(planned.moment):%Y%m%dT%H%MZ}"
    return post_key(release_id, planned.kind, target, planned.offset_seconds, channel)


def _item(
    stored: StoredRelease,
    post: Post,
    *,
    key: str,
    target: str,
    due: datetime,
    offset_seconds: int = 0,
    not_after: datetime | None = None,
    skip_reason: str | None = None,
) -> PlannedItem:
    return PlannedItem(
        key=key,
        release_id=stored.release.id,
        release_version=stored.version,
        release_hash=stored.version_hash,
        channel=post.channel,
        kind=post.kind,
        target=target,
        offset_seconds=offset_seconds,
        due=due,
        not_after=not_after,
        post=replace(post, key=key),
        skip_reason=skip_reason,
    )


def _last_told(conn: Connection, release_id: str) -> dict[str, tuple[int, str]]:
    """Per channel: the newest release version (and the kind) its followers received."""
    rows = conn.execute(
        sa.select(outbox.c.channel, outbox.c.release_version, outbox.c.kind, outbox.c.sent_at)
        .where(outbox.c.release_id == release_id, outbox.c.state == "sent", outbox.c.kind.in_(_TELLING))
        .order_by(outbox.c.sent_at, outbox.c.id)
    )
    told: dict[str, tuple[int, str]] = {}
    for row in rows:
        told[row.channel] = (row.release_version, row.kind)
    return told


def _version(conn: Connection, release_id: str, version: int) -> Release | None:
    parsed = conn.execute(
        sa.select(release_versions.c.parsed).where(
            release_versions.c.release_id == release_id, release_versions.c.version == version
        )
    ).scalar()
    return Release.from_dict(json.loads(parsed)) if parsed else None
