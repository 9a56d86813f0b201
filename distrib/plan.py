"""The timeline of a release (pure): what goes out when — announcement, reminders, live-now (DESIGN §5).

`update` and `cancellation` are not on the timeline: the Delivery engine plans them when a queued
release changes or is cancelled; their text is rendered by distrib.render all the same.

Reminders never leak before the embargo lifts: a reminder due before `published` is kept on the
timeline as skipped, with the reason, so the preview shows why it will not go out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from distrib.errors import ConfigError
from distrib.models import PostKind, Release, utc

DEFAULT_DEADLINE_REMINDERS = "3d,1d,3h"
DEFAULT_EVENT_REMINDERS = "1d,1h,10m"
MAX_GRACE = timedelta(hours=1)

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_OFFSET = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$")


def parse_offsets(text: str, setting: str = "offsets") -> tuple[timedelta, ...]:
    """'3d,1d,3h' -> (3 days, 1 day, 3 hours), longest first; '' or 'none' -> no reminders."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    offsets: list[timedelta] = []
    for piece in text.split(","):
        match = _OFFSET.match(piece)
        if match is None or int(match.group(1)) == 0:
            raise ConfigError(
                f"{setting}: {piece.strip()!r} is not a lead time; "
                "write e.g. 3d,1d,3h (w, d, h or m, above 0)"
            )
        offsets.append(timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}))
    return tuple(sorted(set(offsets), reverse=True))


def format_offset(offset: timedelta) -> str:
    """timedelta(days=1) -> '1d', timedelta(minutes=90) -> '90m' (the form the settings use)."""
    seconds = int(offset.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """How long before each deadline and event reminders go out, and whether live-now posts do."""

    deadline_offsets: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1), timedelta(hours=3))
    event_offsets: tuple[timedelta, ...] = (timedelta(days=1), timedelta(hours=1), timedelta(minutes=10))
    live_now: bool = True
    max_grace: timedelta = MAX_GRACE

    @classmethod
    def from_env(cls, env: Mapping[str, str | None]) -> ReminderPolicy:
        """From DISTRIB_DEADLINE_REMINDERS, DISTRIB_EVENT_REMINDERS, DISTRIB_LIVE_NOW (.env.example)."""
        return cls(
            deadline_offsets=parse_offsets(
                env.get("DISTRIB_DEADLINE_REMINDERS") or DEFAULT_DEADLINE_REMINDERS,
                "DISTRIB_DEADLINE_REMINDERS",
            ),
            event_offsets=parse_offsets(
                env.get("DISTRIB_EVENT_REMINDERS") or DEFAULT_EVENT_REMINDERS, "DISTRIB_EVENT_REMINDERS"
            ),
            live_now=_truthy(env.get("DISTRIB_LIVE_NOW"), True),
        )

    def grace(self, offset: timedelta) -> timedelta:
        """How late a reminder may still go out: a quarter of its lead time, at most an hour."""
        return min(offset / 4, self.max_grace)


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """One post on the timeline, for every channel alike."""

    kind: PostKind
    target: str  # the release id for the announcement, else the event or deadline id
    offset: timedelta  # how long before the target moment (zero for announcement and live-now)
    due: datetime  # aware UTC
    moment: datetime  # the moment it is about: published, the deadline, the event start
    not_after: datetime | None  # past this a reminder is skipped instead of sent; None: no limit
    skip_reason: str | None = None
    late: bool = False  # the announcement goes out late, once, as soon as possible

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    @property
    def offset_seconds(self) -> int:
        return int(self.offset.total_seconds())

    def key(self, release_id: str, channel: str) -> str:
        """The outbox key: one row per (release, kind, target, offset, channel) (DESIGN §6)."""
        return f"{release_id}:{self.kind.value}:{self.target}:{self.offset_seconds}:{channel}"


def timeline(
    release: Release, policy: ReminderPolicy | None = None, *, now: datetime | None = None
) -> list[PlannedPost]:
    """Every post of the release in due order, skipped ones included with their reason.

    Pure: `now` (aware) only decides lateness — an announcement past `published` is marked late
    and still goes out; a reminder past its grace is skipped. Without `now` nothing is late.
    """
    policy = policy or ReminderPolicy()
    published = utc(release.published)
    current = utc(now) if now is not None else None
    items = [
        PlannedPost(
            kind=PostKind.ANNOUNCEMENT,
            target=release.id,
            offset=timedelta(0),
            due=published,
            moment=published,
            not_after=None,
            late=current is not None and current > published,
        )
    ]
    for deadline in release.deadlines:
        for offset in policy.deadline_offsets:
            items.append(_reminder(PostKind.DEADLINE_REMINDER, deadline.id, deadline.due, offset, policy))
    for event in release.events:
        for offset in policy.event_offsets:
            items.append(_reminder(PostKind.EVENT_REMINDER, event.id, event.start, offset, policy))
        if policy.live_now and event.stream_url:
            start = utc(event.start)
            # Live-now is worth sending while the event runs; without an end, for its first hour.
            until = utc(event.end) if event.end else start + MAX_GRACE
            items.append(PlannedPost(PostKind.LIVE_NOW, event.id, timedelta(0), start, start, until))
    checked = [_check(item, published, current) for item in items]
    order = {kind: i for i, kind in enumerate(PostKind)}
    return sorted(checked, key=lambda p: (p.due, order[p.kind], p.target))


def _reminder(
    kind: PostKind, target: str, moment: datetime, offset: timedelta, policy: ReminderPolicy
) -> PlannedPost:
    moment = utc(moment)
    due = moment - offset
    # Never after the moment it reminds about, and never more than its grace late.
    not_after = min(due + policy.grace(offset), moment)
    return PlannedPost(kind, target, offset, due, moment, not_after)


def _check(item: PlannedPost, published: datetime, now: datetime | None) -> PlannedPost:
    if item.kind is PostKind.ANNOUNCEMENT:
        return item
    reason = None
    if item.due < published:
        reason = "due before the release is published (embargo); not sent"
    elif item.due >= item.moment and item.kind is not PostKind.LIVE_NOW:
        reason = "due after the moment it reminds about"
    elif now is not None and item.not_after is not None and now > item.not_after:
        reason = "missed: more than its grace late"
    if reason is None:
        return item
    return PlannedPost(
        item.kind, item.target, item.offset, item.due, item.moment, item.not_after, skip_reason=reason
    )
