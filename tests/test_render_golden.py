"""Golden files: every post of the ExoMars release on every channel and kind, exactly as it goes out.

To regenerate after a deliberate template or wording change, run

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render_golden.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import channels
from distrib.config import Settings
from distrib.models import Post, PostKind, Release
from distrib.plan import format_offset, timeline
from distrib.release import load_release
from distrib.render import Renderer, changes_between
from tests.conftest import EXAMPLE

GOLDEN = Path(__file__).resolve().parent / "golden" / "exomars"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # read at import: the settings fixture clears DISTRIB_*


def _streamed(release: Release) -> Release:
    event = dataclasses.replace(release.events[0], stream_url="https://www.esa.int/ESA_Multimedia/ESA_Web_TV")
    return dataclasses.replace(release, events=(event,))


def _posts(channel_name: str) -> dict[str, Post]:
    release = load_release(EXAMPLE)
    channel = channels.build(channel_name, Settings.from_env({}))
    renderer = Renderer()
    posts: dict[str, Post] = {}
    for item in timeline(_streamed(release)):
        source = release if item.kind is not PostKind.LIVE_NOW else _streamed(release)
        suffix = f"-{format_offset(item.offset)}" if item.offset else ""
        posts[f"{item.kind.value}{suffix}"] = renderer.planned(source, channel, item)
    moved_event = dataclasses.replace(
        release.events[0],
        start=datetime(2020, 3, 13, 11, tzinfo=UTC),
        end=datetime(2020, 3, 13, 12, tzinfo=UTC),
    )
    moved = dataclasses.replace(release, events=(moved_event,))
    posts["update"] = renderer.update(
        moved, channel, changes_between(release, moved), due=datetime(2020, 3, 2, 9, tzinfo=UTC)
    )
    posts["cancellation"] = renderer.cancellation(
        release,
        channel,
        "The meeting of the heads of ESA and Roscosmos has been postponed; a new date will be announced.",
        due=datetime(2020, 3, 10, 9, tzinfo=UTC),
    )
    return posts


def _show(post: Post) -> str:
    lines = [
        f"channel: {post.channel}",
        f"kind: {post.kind.value}",
        f"due: {post.due.isoformat() if post.due else '-'}",
    ]
    if post.subject is not None:
        lines.append(f"subject: {post.subject}")
    for number, part in enumerate(post.parts, 1):
        lines.append(f"--- part {number}/{len(post.parts)}: {part.length}/{part.limit}")
        lines.append(part.text)
        if part.facets:
            lines.append("--- facets")
            lines += [json.dumps(dict(f), ensure_ascii=False, sort_keys=True) for f in part.facets]
    if post.html is not None:
        lines += ["--- html", post.html]
    return "\n".join(lines) + "\n"


KINDS = [
    "announcement",
    "deadline-reminder-3d",
    "deadline-reminder-1d",
    "deadline-reminder-3h",
    "event-reminder-1d",
    "event-reminder-1h",
    "event-reminder-10m",
    "live-now",
    "update",
    "cancellation",
]


@pytest.mark.parametrize("channel_name", channels.names())
def test_golden(channel_name: str) -> None:
    posts = _posts(channel_name)
    assert sorted(posts) == sorted(KINDS)
    for kind in PostKind:
        assert any(name.startswith(kind.value) for name in posts), kind
    mismatched = []
    for name, post in posts.items():
        path = GOLDEN / channel_name / f"{name}.txt"
        shown = _show(post)
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(shown, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != shown:
            mismatched.append(name)
    assert not mismatched, (
        f"{channel_name}: {mismatched} differ from tests/golden (UPDATE_GOLDEN=1 to rewrite)"
    )


def test_every_exomars_post_fits_and_carries_tags() -> None:
    for name in channels.names():
        for post in _posts(name).values():
            channel = channels.build(name, Settings.from_env({}))
            for part in post.parts:
                assert part.length == channel.length(part.text) <= part.limit
            first = channel.visible_text(post.parts[0].text)
            assert "Call for Media: ESA and Roscosmos to discuss ExoMars plans" in first
            assert "@ESA_ExoMars #ExoMars" in first


def test_the_exomars_x_announcement() -> None:
    post = _posts("x")["announcement"]
    assert len(post.parts) == 1
    text = post.parts[0].text
    assert "Thu 12 March, 14:00–15:00 MSK (12:00–13:00 CET)" in text
    assert text.endswith("@ESA_ExoMars #ExoMars")
    assert post.parts[0].length <= 280
