"""The data distrib passes around: releases, posts, outbox items, deliveries (frozen, typed, UTC inside)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any


class PostKind(StrEnum):
    """What a post says; also the template file name under templates/<channel>/."""

    ANNOUNCEMENT = "announcement"
    DEADLINE_REMINDER = "deadline-reminder"
    EVENT_REMINDER = "event-reminder"
    LIVE_NOW = "live-now"
    UPDATE = "update"
    CANCELLATION = "cancellation"


class Status(StrEnum):
    """Life of one outbox row: pending -> sending -> sent | failed | uncertain | skipped | cancelled."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (Status.PENDING, Status.SENDING)


class ReleaseState(StrEnum):
    QUEUED = "queued"
    CANCELLED = "cancelled"


def utc(dt: datetime) -> datetime:
    """The same instant in UTC; refuses naive datetimes, which would silently mean 'local time'."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} has no time zone")
    return dt.astimezone(UTC)


def iso_z(dt: datetime) -> str:
    """UTC ISO-8601 with a trailing Z, the form every --json output uses."""
    return utc(dt).isoformat().replace("+00:00", "Z")


def parse_iso_z(text: str) -> datetime:
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """An image, video or document that belongs to the release (feed enclosures, channel attachments)."""

    url: str
    type: str | None = None
    title: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happens at a time: a briefing, a launch, a livestream."""

    id: str
    title: str
    start: datetime  # aware UTC
    timezone: str  # IANA zone the start/end were written in
    end: datetime | None = None
    location: str | None = None
    stream_url: str | None = None
    url: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A moment journalists must act by (accreditation, registration)."""

    id: str
    title: str
    due: datetime  # aware UTC; for a date-only deadline the end of that day in `timezone`
    timezone: str
    date_only: bool = False
    how: str | None = None
    event: str | None = None  # id of the event it gates; None gates every event
    url: str | None = None

    @property
    def due_date(self) -> date:
        """The calendar day the deadline falls on, in its own zone (date-only deadlines end at 24:00)."""
        from zoneinfo import ZoneInfo

        local = self.due.astimezone(ZoneInfo(self.timezone))
        if self.date_only:
            local = local - timedelta(microseconds=1)
        return local.date()


@dataclass(frozen=True, slots=True)
class Release:
    """One press release, parsed and validated; every datetime is aware UTC."""

    id: str
    title: str
    published: datetime
    timezone: str
    show_timezones: tuple[str, ...]
    language: str = "en"
    reference: str | None = None
    url: str | None = None
    summary: str | None = None
    handles: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    contacts: tuple[Contact, ...] = ()
    channels: tuple[str, ...] | None = None  # None: every configured channel
    image: str | None = None
    media: tuple[Media, ...] = ()
    body: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form with UTC `...Z` times; the stored and hashed representation."""
        data: dict[str, Any] = _jsonable(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        return Release(
            id=data["id"],
            title=data["title"],
            published=parse_iso_z(data["published"]),
            timezone=data["timezone"],
            show_timezones=tuple(data["show_timezones"]),
            language=data.get("language", "en"),
            reference=data.get("reference"),
            url=data.get("url"),
            summary=data.get("summary"),
            handles=tuple(data.get("handles", ())),
            hashtags=tuple(data.get("hashtags", ())),
            events=tuple(
                Event(
                    **{
                        **e,
                        "start": parse_iso_z(e["start"]),
                        "end": parse_iso_z(e["end"]) if e.get("end") else None,
                    }
                )
                for e in data.get("events", ())
            ),
            deadlines=tuple(
                Deadline(**{**d, "due": parse_iso_z(d["due"])}) for d in data.get("deadlines", ())
            ),
            contacts=tuple(Contact(**c) for c in data.get("contacts", ())),
            channels=tuple(data["channels"]) if data.get("channels") is not None else None,
            image=data.get("image"),
            media=tuple(Media(**m) for m in data.get("media", ())),
            body=data.get("body", ""),
        )

    def content_hash(self) -> str:
        """sha256 of the canonical JSON form: equal for equal content, whatever the file's layout."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def event(self, event_id: str) -> Event | None:
        return next((e for e in self.events if e.id == event_id), None)

    def deadline(self, deadline_id: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.id == deadline_id), None)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return iso_z(obj)
    if isinstance(obj, tuple | list):
        return [_jsonable(x) for x in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {name: _jsonable(getattr(obj, name)) for name in obj.__dataclass_fields__}
    return obj


@dataclass(frozen=True, slots=True)
class StoredRelease:
    """A release as the store keeps it: the current version plus its bookkeeping."""

    release: Release
    version: int
    version_hash: str
    state: ReleaseState
    source: str
    queued_at: datetime  # first queued
    updated_at: datetime  # when the current version was queued (content last changed)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PostPart:
    """One message of a post (a thread has several), measured in the channel's own counting."""

    text: str
    length: int
    limit: int
    facets: tuple[Mapping[str, Any], ...] = ()  # Bluesky rich-text facets, UTF-8 byte offsets


@dataclass(frozen=True, slots=True)
class Post:
    """A rendered post for one channel: what goes out, exactly as previewed."""

    channel: str
    kind: PostKind
    release_id: str
    target: str  # the release id, or the event / deadline id a reminder is about
    parts: tuple[PostPart, ...]
    key: str = ""  # the outbox key, also the idempotency key sent to channels that take one
    due: datetime | None = None
    subject: str | None = None  # email subject, webhook/slack title
    html: str | None = None  # HTML alternative (email)
    link: str | None = None
    image: str | None = None
    language: str = "en"
    release_hash: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)  # structured facts for webhooks

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(self)
        data["data"] = dict(self.data)
        data["parts"] = [{**p, "facets": [dict(f) for f in p["facets"]]} for p in data["parts"]]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Post:
        return Post(
            channel=data["channel"],
            kind=PostKind(data["kind"]),
            release_id=data["release_id"],
            target=data["target"],
            parts=tuple(
                PostPart(p["text"], p["length"], p["limit"], tuple(p.get("facets", ())))
                for p in data["parts"]
            ),
            key=data.get("key", ""),
            due=parse_iso_z(data["due"]) if data.get("due") else None,
            subject=data.get("subject"),
            html=data.get("html"),
            link=data.get("link"),
            image=data.get("image"),
            language=data.get("language", "en"),
            release_hash=data.get("release_hash", ""),
            data=data.get("data", {}),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a channel answers when a post went out."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One row of the outbox: one post, for one channel, due at one moment."""

    id: int
    key: str
    release_id: str
    release_version: int
    release_hash: str
    channel: str
    kind: PostKind
    target: str
    offset_seconds: int  # how long before the target moment (0 for announcements)
    due: datetime
    not_after: datetime | None  # past this moment a reminder is skipped instead of sent
    state: Status
    attempts: int
    next_attempt_at: datetime
    post: Post
    lease_until: datetime | None = None
    worker_id: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to send an outbox item: the audit trail."""

    outbox_id: int
    key: str
    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    release_hash: str
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
