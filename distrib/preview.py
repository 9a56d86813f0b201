"""What `distrib preview` shows: the timeline and every post per channel, as JSON data or a report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import channels
from distrib.config import Settings
from distrib.models import Post, Release, iso_z
from distrib.plan import PlannedPost, ReminderPolicy, format_offset, timeline
from distrib.render import Renderer
from distrib.timefmt import stamps


@dataclass(frozen=True, slots=True)
class Preview:
    release: Release
    channels: tuple[str, ...]
    timeline: tuple[PlannedPost, ...]
    posts: tuple[tuple[PlannedPost, Post], ...]


def build(release: Release, settings: Settings, *, all_channels: bool = False) -> Preview:
    """Plan and render every post of `release` for its channels; nothing is stored or sent."""
    names = channels.names() if all_channels else channels.enabled(release.channels, settings)
    items = timeline(release, ReminderPolicy.from_env(settings.env))
    renderer = Renderer.from_settings(settings)
    built = [channels.build(name, settings) for name in names]
    posts = [
        (item, renderer.planned(release, channel, item))
        for channel in built
        for item in items
        if not item.skipped
    ]
    return Preview(release, tuple(names), tuple(items), tuple(posts))


def to_json(preview: Preview) -> dict[str, Any]:
    """The `preview --json` document (DESIGN §9); fields may be added, never renamed or removed."""
    r = preview.release
    return {
        "release": {
            "id": r.id,
            "title": r.title,
            "language": r.language,
            "published": iso_z(r.published),
            "show_timezones": list(r.show_timezones),
            "events": [
                {
                    "id": e.id,
                    "title": e.title,
                    "start": iso_z(e.start),
                    "end": iso_z(e.end) if e.end else None,
                    "timezone": e.timezone,
                }
                for e in r.events
            ],
            "deadlines": [{"id": d.id, "title": d.title, "due": iso_z(d.due)} for d in r.deadlines],
        },
        "channels": list(preview.channels),
        "timeline": [
            {
                "kind": item.kind.value,
                "target": item.target,
                "offset": format_offset(item.offset) if item.offset else "0",
                "due": iso_z(item.due),
                "not_after": iso_z(item.not_after) if item.not_after else None,
                "skip_reason": item.skip_reason,
            }
            for item in preview.timeline
        ],
        "posts": [_post_json(item, post) for item, post in preview.posts],
    }


def _post_json(item: PlannedPost, post: Post) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": post.channel,
        "kind": post.kind.value,
        "target": post.target,
        "key": post.key,
        "due": iso_z(item.due),
        "not_after": iso_z(item.not_after) if item.not_after else None,
        "parts": [
            {"text": p.text, "length": p.length, "limit": p.limit, "facets": [dict(f) for f in p.facets]}
            for p in post.parts
        ],
        "link": post.link,
    }
    if post.subject is not None:
        data["subject"] = post.subject
    if post.html is not None:
        data["html"] = post.html
    return data


def report(preview: Preview, now: datetime | None = None) -> str:
    """The readable preview: timeline in UTC and the release's zones, then each post with its length."""
    r = preview.release
    zones = r.show_timezones
    lines = [r.title, f"  id {r.id} · language {r.language} · zones {', '.join(zones)}"]
    lines.append(f"  channels: {', '.join(preview.channels)}")
    if now is not None and now > r.published:
        lines.append(
            "  note: published is in the past; queued now, the announcement would go out late and "
            "reminders past their grace would be skipped"
        )
    lines += ["", "Timeline"]
    for item in preview.timeline:
        what = item.kind.value + ("" if item.target == r.id else f" {item.target}")
        if item.offset:
            what += f" ({format_offset(item.offset)} before)"
        lines.append(f"  {what}")
        lines.append(f"    due {stamps(item.due, zones)}")
        if item.skip_reason:
            lines.append(f"    skipped: {item.skip_reason}")
    lines += ["", "Posts"]
    for name in preview.channels:
        lines.append(f"== {name} ==")
        for item, post in (pair for pair in preview.posts if pair[1].channel == name):
            head = item.kind.value + ("" if item.target == r.id else f" {item.target}")
            if item.offset:
                head += f" ({format_offset(item.offset)} before)"
            lines.append(f"-- {head}, due {stamps(item.due, zones)}")
            if post.subject:
                lines.append(f"   subject: {post.subject}")
            lines += _parts(post)
        lines.append("")
    lines += ["Feed entry", *_feed_entry(r)]
    return "\n".join(lines).rstrip()


def _parts(post: Post) -> list[str]:
    out: list[str] = []
    count = len(post.parts)
    for number, part in enumerate(post.parts, 1):
        label = f"thread part {number}/{count}, " if count > 1 else ""
        out.append(f"   [{label}{part.length}/{part.limit}]")
        out += [f"   | {line}" if line else "   |" for line in part.text.splitlines()]
    return out


def _feed_entry(release: Release) -> Sequence[str]:
    zones = release.show_timezones
    lines = [f"  title      {release.title}", f"  published  {stamps(release.published, zones)}"]
    if release.summary:
        lines.append(f"  summary    {release.summary}")
    lines.append(f"  link       {release.url or '- (none given)'}")
    for event in release.events:
        lines.append(f"  calendar   {event.title}: {stamps(event.start, zones)}")
    for deadline in release.deadlines:
        lines.append(f"  calendar   {deadline.title}: until {stamps(deadline.due, zones)}")
    return lines
