"""Feeds and calendars for journalists: valid, ordered, embargo-safe, stable across updates, deterministic."""

from __future__ import annotations

import dataclasses
import http.server
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from distrib import feeds
from distrib.cli import main
from distrib.config import Settings
from distrib.errors import ConfigError
from distrib.feeds import (
    EPOCH,
    FeedConfig,
    build_atom,
    build_calendar,
    build_release_calendar,
    build_rss,
    write_feeds,
)
from distrib.models import Deadline, Event, Media, Release, ReleaseState, StoredRelease
from distrib.store import Store, next_publication
from tests.conftest import NOW

PUBLISHED = datetime(2020, 2, 24, 8, 0, tzinfo=UTC)  # 09:00 Paris: when the ExoMars embargo lifts
AFTER = datetime(2020, 2, 25, 9, 0, tzinfo=UTC)
BRIEFING_UTC = datetime(2020, 3, 12, 11, 0, tzinfo=UTC)
ENTRY_ID = "tag:127.0.0.1,2020:release/esa-2020-05-exomars-call-for-media"


def settings_for(tmp_path: Path, **extra: str) -> Settings:
    env = {"DISTRIB_PUBLIC_DIR": str(tmp_path / "public"), **extra}
    return Settings.from_env(env)


def variant(
    release: Release, n: int, *, published: datetime, language: str = "en", **changes: Any
) -> Release:
    """Another release shaped like ExoMars: its own id, title and publication time."""
    changes.setdefault("title", f"Release number {n}")
    return dataclasses.replace(release, id=f"release-{n}", published=published, language=language, **changes)


def stored(
    release: Release, *, version: int = 1, updated_at: datetime | None = None, **kw: Any
) -> StoredRelease:
    at = updated_at or release.published - timedelta(days=1)
    state = kw.pop("state", ReleaseState.QUEUED)
    return StoredRelease(
        release=release, version=version, version_hash=release.content_hash(), state=state,
        source="test.md", queued_at=at, updated_at=at, **kw,
    )  # fmt: skip


def read(public: Path, name: str) -> bytes:
    return (public / name).read_bytes()


def vevents(ics: bytes) -> dict[str, Any]:
    cal = icalendar.Calendar.from_ical(ics)
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


# -- Atom and RSS ------------------------------------------------------------------------------------


def test_atom_and_rss_parse_cleanly_with_ids_dates_and_order(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    older = variant(exomars, 1, published=PUBLISHED - timedelta(days=3))
    newer = variant(exomars, 2, published=PUBLISHED + timedelta(hours=2), hashtags=("#Mars", "#ESA"))
    for release in (older, exomars, newer):
        store.queue(release, "f.md", "text", NOW - timedelta(days=5))
    settings = settings_for(tmp_path)
    write_feeds(store, settings, AFTER)

    for name in ("feed.atom", "feed.rss"):
        parsed = feedparser.parse(read(settings.public_dir, name))
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        ids = [e.id for e in parsed.entries]
        assert ids == [
            "tag:127.0.0.1,2020:release/release-2",
            ENTRY_ID,
            "tag:127.0.0.1,2020:release/release-1",
        ]
        exo = parsed.entries[1]
        assert exo.title == exomars.title
        assert datetime(*exo.published_parsed[:6], tzinfo=UTC) == PUBLISHED
        assert [t.term for t in exo.tags] == ["ExoMars"]
        assert "2020-03-12 14:00–15:00 MSK (12:00–13:00 CET)" in exo.content[0].value
        assert "4 Khoromny lane, Moscow" in exo.content[0].value
        assert "<h2>Press briefing</h2>" in exo.content[0].value  # the Markdown body, as HTML
        assert exo.summary.startswith("The heads of ESA and Roscosmos meet in Moscow")
        # Nothing changed after publication: updated is the publication time, not the queue time.
        feed_updated = parsed.feed.get("updated_parsed")
        assert datetime(*feed_updated[:6], tzinfo=UTC) == newer.published

    atom = feedparser.parse(read(settings.public_dir, "feed.atom"))
    assert atom.feed.id == "tag:127.0.0.1,2020:feed"
    assert atom.feed.language == "en"
    assert [link.rel for link in atom.feed.links] == ["self", "alternate"]
    assert atom.feed.links[0].href == "http://127.0.0.1:8080/feed.atom"
    assert datetime(*atom.entries[1].updated_parsed[:6], tzinfo=UTC) == PUBLISHED
    calendar_link = next(link for link in atom.entries[1].links if link.rel == "related")
    assert calendar_link.href == "http://127.0.0.1:8080/releases/esa-2020-05-exomars-call-for-media.ics"
    assert calendar_link.type == "text/calendar"

    rss = feedparser.parse(read(settings.public_dir, "feed.rss"))
    assert rss.feed.link == "http://127.0.0.1:8080/"  # the site, not the feed (feedgen's last-link quirk)
    assert rss.entries[1].guidislink is False


def test_feed_settings_title_author_logo_language(exomars: Release, tmp_path: Path) -> None:
    config = FeedConfig.from_settings(
        settings_for(
            tmp_path,
            DISTRIB_PUBLIC_URL="https://press.example.org/",
            DISTRIB_FEED_TITLE="ESA press releases",
            DISTRIB_FEED_AUTHOR="ESA Media Relations <media@esa.int>",
            DISTRIB_FEED_LOGO="https://press.example.org/logo.png",
            DISTRIB_FEED_LANGUAGE="en-GB",
            DISTRIB_FEED_TAG="esa.example,2020",
        )
    )
    entries = [stored(exomars)]
    atom = feedparser.parse(build_atom(entries, config, AFTER))
    assert atom.bozo == 0
    assert atom.feed.title == "ESA press releases"
    assert atom.feed.author_detail == {"name": "ESA Media Relations", "email": "media@esa.int"}
    assert atom.feed.logo == "https://press.example.org/logo.png"
    assert atom.feed.language == "en-GB"
    assert atom.entries[0].id == "tag:esa.example,2020:release/esa-2020-05-exomars-call-for-media"
    rss = feedparser.parse(build_rss(entries, config, AFTER))
    assert rss.bozo == 0
    assert rss.feed.image.href == "https://press.example.org/logo.png"
    assert rss.feed.author_detail.email == "media@esa.int"
    assert {
        "rel": "self",
        "type": "application/rss+xml",
        "href": "https://press.example.org/feed.rss",
    } in rss.feed.links


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISTRIB_FEED_LOGO", "javascript:alert(1)"),
        ("DISTRIB_WEBSUB_HUB", "ftp://hub.example"),
        ("DISTRIB_FEED_LANGUAGE", "English"),
        ("DISTRIB_FEED_TAG", "no date here"),
    ],
)
def test_bad_feed_settings_are_refused(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        FeedConfig.from_settings(settings_for(tmp_path, **{name: value}))


def test_at_most_the_feed_limit_newest_first(store: Store, exomars: Release, tmp_path: Path) -> None:
    for n in range(8):
        store.queue(variant(exomars, n, published=PUBLISHED + timedelta(hours=n)), "f.md", "t", NOW)
    settings = settings_for(tmp_path, DISTRIB_FEED_LIMIT="5")
    result = write_feeds(store, settings, AFTER)
    assert result.entries == 5
    for name in ("feed.atom", "feed.rss"):
        parsed = feedparser.parse(read(settings.public_dir, name))
        assert [e.id.rsplit("/", 1)[1] for e in parsed.entries] == [f"release-{n}" for n in (7, 6, 5, 4, 3)]


def test_media_become_enclosures(exomars: Release) -> None:
    release = dataclasses.replace(
        exomars,
        url="https://www.esa.int/exomars",
        image="https://www.esa.int/lead.jpg",
        media=(Media(url="https://www.esa.int/briefing.mp4", type="video/mp4", length=1234),),
    )
    atom = feedparser.parse(build_atom([stored(release)], FeedConfig(), AFTER))
    entry = atom.entries[0]
    assert entry.link == "https://www.esa.int/exomars"
    assert [(e.href, e.type) for e in entry.enclosures] == [
        ("https://www.esa.int/lead.jpg", "image/jpeg"),
        ("https://www.esa.int/briefing.mp4", "video/mp4"),
    ]
    rss = feedparser.parse(build_rss([stored(release)], FeedConfig(), AFTER))
    assert rss.bozo == 0
    assert rss.entries[0].link == "https://www.esa.int/exomars"
    # RSS allows one enclosure: the lead one.
    assert [e.href for e in rss.entries[0].enclosures] == ["https://www.esa.int/lead.jpg"]


# -- iCalendar ---------------------------------------------------------------------------------------


def test_events_ics_has_the_briefing_with_zone_and_alarm(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    store.queue(exomars, "f.md", "text", NOW)
    settings = settings_for(tmp_path)
    write_feeds(store, settings, AFTER)
    data = read(settings.public_dir, "events.ics")
    cal = icalendar.Calendar.from_ical(data)
    assert cal.get_missing_tzids() == set()
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Moscow"]
    assert str(cal["METHOD"]) == "PUBLISH"

    events = vevents(data)
    briefing = events["esa-2020-05-exomars-call-for-media.event.briefing@127.0.0.1"]
    start = briefing.decoded("DTSTART")
    assert start.astimezone(UTC) == BRIEFING_UTC
    assert start.tzinfo == ZoneInfo("Europe/Moscow")
    assert briefing["DTSTART"].params["TZID"] == "Europe/Moscow"
    assert briefing.decoded("DTEND").astimezone(UTC) == BRIEFING_UTC + timedelta(hours=1)
    assert str(briefing["LOCATION"]) == "4 Khoromny lane, Moscow"
    assert str(briefing["STATUS"]) == "CONFIRMED"
    assert int(briefing["SEQUENCE"]) == 1
    assert briefing.decoded("DTSTAMP") == PUBLISHED
    assert "Press briefing" in str(briefing["SUMMARY"])
    assert "12:00–13:00 CET" in str(briefing["DESCRIPTION"])
    [alarm] = briefing.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(hours=-1)

    deadline = events["esa-2020-05-exomars-call-for-media.deadline.accreditation@127.0.0.1"]
    assert str(deadline.decoded("DTSTART")) == "2020-02-28"  # the whole day, as the release says
    assert "Media accreditation" in str(deadline["SUMMARY"])
    assert "passport scan" in str(deadline["DESCRIPTION"])
    [deadline_alarm] = deadline.walk("VALARM")
    assert deadline_alarm.decoded("TRIGGER") < timedelta(0)

    # The release's own .ics (what the email channel attaches) carries the same UIDs.
    own = read(settings.public_dir, "releases/esa-2020-05-exomars-call-for-media.ics")
    assert own == build_release_calendar(store.release(exomars.id), FeedConfig.from_settings(settings))  # type: ignore[arg-type]
    assert set(vevents(own)) == set(events)


def test_timed_deadline_in_its_own_zone_with_its_alarm(exomars: Release) -> None:
    due = datetime(2020, 3, 2, 16, 0, tzinfo=UTC)
    release = dataclasses.replace(
        exomars,
        deadlines=(Deadline(id="register", title="Registration", due=due, timezone="Europe/Paris"),),
    )
    events = vevents(build_calendar([stored(release)], FeedConfig(), AFTER))
    deadline = events["esa-2020-05-exomars-call-for-media.deadline.register@127.0.0.1"]
    assert deadline.decoded("DTSTART").astimezone(UTC) == due
    assert deadline["DTSTART"].params["TZID"] == "Europe/Paris"
    [alarm] = deadline.walk("VALARM")
    assert alarm.decoded("TRIGGER") == timedelta(days=-1)


def test_calendar_keeps_upcoming_and_recent_events_only(exomars: Release) -> None:
    old = variant(exomars, 1, published=PUBLISHED - timedelta(days=400))
    old = dataclasses.replace(
        old,
        events=tuple(
            dataclasses.replace(e, start=e.start - timedelta(days=400), end=None) for e in old.events
        ),
        deadlines=tuple(dataclasses.replace(d, due=d.due - timedelta(days=400)) for d in old.deadlines),
    )
    events = vevents(build_calendar([stored(old), stored(exomars)], FeedConfig(), AFTER))
    assert all(uid.startswith("esa-2020-05-exomars-call-for-media.") for uid in events)
    assert len(events) == 2


def test_calendar_bytes_equal_icalendar_own_serialization(exomars: Release) -> None:
    """The calendar is assembled from cached component bytes; it must be what icalendar itself writes."""
    other = variant(exomars, 1, published=PUBLISHED - timedelta(hours=1))
    releases = [stored(exomars), stored(other, version=3)]
    ours = build_calendar(releases, FeedConfig(), AFTER)
    reparsed = icalendar.Calendar.from_ical(ours)
    assert reparsed.to_ical() == ours


# -- embargo -----------------------------------------------------------------------------------------


def test_embargoed_release_appears_nowhere(store: Store, exomars: Release, tmp_path: Path) -> None:
    public = variant(exomars, 1, published=PUBLISHED - timedelta(days=2))
    store.queue(public, "f.md", "t", NOW - timedelta(days=3))
    store.queue(exomars, "f.md", "t", NOW - timedelta(days=1))
    settings = settings_for(tmp_path)
    write_feeds(store, settings, NOW)  # five minutes before the embargo lifts

    files = sorted(p for p in settings.public_dir.rglob("*") if p.is_file())
    assert [p.relative_to(settings.public_dir).as_posix() for p in files] == [
        "events.ics", "feed.atom", "feed.rss", "index.html", "releases/release-1.ics",
    ]  # fmt: skip
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert exomars.id not in text
        assert "ESA and Roscosmos to discuss" not in text
        assert "2020-02-24" not in text
        assert "24 Feb 2020" not in text
        assert "20200224" not in text
    rss = feedparser.parse(read(settings.public_dir, "feed.rss"))
    assert datetime(*rss.feed.updated_parsed[:6], tzinfo=UTC) == public.published
    assert next_publication(store, NOW) == PUBLISHED

    result = write_feeds(store, settings, PUBLISHED)  # the embargo lifts
    assert "feed.atom" in result.written
    assert feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0].id == ENTRY_ID


def test_empty_feed_is_valid_and_stable(tmp_path: Path) -> None:
    atom = build_atom([], FeedConfig(), NOW)
    parsed = feedparser.parse(atom)
    assert parsed.bozo == 0
    assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) == EPOCH
    assert build_atom([], FeedConfig(), NOW + timedelta(days=1)) == atom


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(min_value=-5000, max_value=5000), min_size=1, max_size=6, unique=True))
def test_property_no_trace_of_any_embargoed_release(exomars: Release, offsets: list[int]) -> None:
    """Random publication times around `now`: feeds and calendars hold nothing published after it."""
    now = PUBLISHED
    releases = [
        stored(variant(exomars, i, published=now + timedelta(minutes=m))) for i, m in enumerate(offsets)
    ]
    config = FeedConfig()
    outputs = [
        build_atom(releases, config, now),
        build_rss(releases, config, now),
        build_calendar(releases, config, now),
    ]
    for i, minutes in enumerate(offsets):
        if minutes > 0:  # still under embargo at `now`
            for data in outputs:
                assert f"release-{i}<".encode() not in data
                assert f"release-{i}.".encode() not in data
                assert f"Release number {i}".encode() not in data
    for data in outputs[:2]:
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0
        newest = datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC)
        assert newest <= now
        assert len(parsed.entries) == sum(1 for m in offsets if m <= 0)


# -- updates, cancellations, determinism -------------------------------------------------------------


def test_update_keeps_the_id_with_a_new_updated_and_a_higher_sequence(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    store.queue(exomars, "f.md", "v1", NOW)
    write_feeds(store, settings, AFTER)
    before_atom = feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0]
    before_ics = vevents(read(settings.public_dir, "events.ics"))

    changed_at = AFTER + timedelta(hours=1)
    moved = dataclasses.replace(
        exomars,
        events=tuple(
            dataclasses.replace(e, location="Roscosmos HQ, 42 Shchepkina St, Moscow") for e in exomars.events
        ),
    )
    assert store.queue(moved, "f.md", "v2", changed_at).outcome == "updated"
    result = write_feeds(store, settings, changed_at + timedelta(minutes=1))
    assert {"feed.atom", "feed.rss", "events.ics"} <= set(result.written)

    after_atom = feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0]
    assert after_atom.id == before_atom.id == ENTRY_ID
    assert datetime(*after_atom.updated_parsed[:6], tzinfo=UTC) == changed_at
    assert after_atom.published == before_atom.published
    assert "Shchepkina" in after_atom.content[0].value

    after_ics = vevents(read(settings.public_dir, "events.ics"))
    assert set(after_ics) == set(before_ics)
    uid = "esa-2020-05-exomars-call-for-media.event.briefing@127.0.0.1"
    assert int(after_ics[uid]["SEQUENCE"]) > int(before_ics[uid]["SEQUENCE"])
    assert after_ics[uid].decoded("DTSTAMP") == changed_at
    assert "Shchepkina" in str(after_ics[uid]["LOCATION"])


def test_edits_under_embargo_do_not_count_as_updates(store: Store, exomars: Release, tmp_path: Path) -> None:
    store.queue(exomars, "f.md", "v1", NOW - timedelta(days=2))
    store.queue(dataclasses.replace(exomars, summary="Corrected before anyone saw it."), "f.md", "v2", NOW)
    settings = settings_for(tmp_path)
    write_feeds(store, settings, AFTER)
    entry = feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0]
    assert datetime(*entry.updated_parsed[:6], tzinfo=UTC) == PUBLISHED


def test_cancel_marks_the_entry_and_cancels_the_events(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    store.queue(exomars, "f.md", "v1", NOW)
    write_feeds(store, settings, AFTER)
    cancelled_at = AFTER + timedelta(hours=3)
    store.cancel(exomars.id, "The briefing is postponed.", cancelled_at)
    write_feeds(store, settings, cancelled_at)

    for name in ("feed.atom", "feed.rss"):
        entry = feedparser.parse(read(settings.public_dir, name)).entries[0]
        assert entry.id == ENTRY_ID
        assert entry.title == f"Cancelled: {exomars.title}"
    atom_entry = feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0]
    assert datetime(*atom_entry.updated_parsed[:6], tzinfo=UTC) == cancelled_at
    assert "The briefing is postponed." in atom_entry.content[0].value

    for data in (
        read(settings.public_dir, "events.ics"),
        read(settings.public_dir, "releases/esa-2020-05-exomars-call-for-media.ics"),
    ):
        for event in vevents(data).values():
            assert str(event["STATUS"]) == "CANCELLED"
            assert int(event["SEQUENCE"]) == 2
            assert str(event["SUMMARY"]).startswith("Cancelled: ")


def test_a_writer_clock_ahead_never_dates_the_feed_in_the_future(exomars: Release) -> None:
    ahead = stored(exomars, updated_at=AFTER + timedelta(minutes=2))  # queued by a host two minutes ahead
    for data in (build_atom([ahead], FeedConfig(), AFTER), build_rss([ahead], FeedConfig(), AFTER)):
        parsed = feedparser.parse(data)
        assert datetime(*parsed.feed.updated_parsed[:6], tzinfo=UTC) == AFTER
    entry = feedparser.parse(build_atom([ahead], FeedConfig(), AFTER)).entries[0]
    assert datetime(*entry.updated_parsed[:6], tzinfo=UTC) == AFTER


def test_release_cancelled_before_publication_never_appears(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    store.queue(exomars, "f.md", "v1", NOW - timedelta(days=1))
    store.cancel(exomars.id, None, NOW)
    settings = settings_for(tmp_path)
    write_feeds(store, settings, AFTER)
    for name in ("feed.atom", "feed.rss", "events.ics"):
        assert exomars.id.encode() not in read(settings.public_dir, name)


def test_unchanged_input_gives_byte_identical_files_and_keeps_them(
    store: Store, exomars: Release, tmp_path: Path
) -> None:
    store.queue(exomars, "f.md", "t", NOW)
    store.queue(variant(exomars, 1, published=PUBLISHED - timedelta(days=1), language="fr"), "g.md", "t", NOW)
    settings = settings_for(tmp_path)
    first = write_feeds(store, settings, AFTER)
    snapshot = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in settings.public_dir.rglob("*") if p.is_file()
    }
    feeds.forget_in_process_caches()  # as a new `distrib feeds` would: pieces come from the disk cache
    second = write_feeds(store, settings, AFTER + timedelta(hours=5))
    assert second.written == ()
    assert sorted(second.unchanged) == sorted(first.written)
    again = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in settings.public_dir.rglob("*") if p.is_file()}
    assert again == snapshot
    assert not list(settings.public_dir.rglob(".*"))  # no temp files left behind
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in snapshot)


# -- languages ---------------------------------------------------------------------------------------


def test_per_language_feeds(store: Store, exomars: Release, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store.queue(exomars, "f.md", "t", NOW)
    write_feeds(store, settings, AFTER)
    assert not (settings.public_dir / "en").exists()  # one language: the main feed is enough

    french = variant(
        exomars, 1, published=PUBLISHED + timedelta(hours=1), language="fr", title="Appel aux médias"
    )
    store.queue(french, "fr.md", "t", NOW)
    result = write_feeds(store, settings, AFTER)
    assert result.languages == ("en", "fr")

    fr = feedparser.parse(read(settings.public_dir, "fr/feed.atom"))
    assert fr.bozo == 0
    assert fr.feed.language == "fr"
    assert fr.feed.links[0].href == "http://127.0.0.1:8080/fr/feed.atom"
    assert [e.title for e in fr.entries] == ["Appel aux médias"]
    en = feedparser.parse(read(settings.public_dir, "en/feed.rss"))
    assert [e.id for e in en.entries] == [ENTRY_ID]
    assert len(feedparser.parse(read(settings.public_dir, "feed.atom")).entries) == 2
    assert set(vevents(read(settings.public_dir, "fr/events.ics"))) == {
        "release-1.event.briefing@127.0.0.1", "release-1.deadline.accreditation@127.0.0.1",
    }  # fmt: skip
    index = read(settings.public_dir, "index.html").decode()
    assert '<link rel="alternate" type="application/atom+xml" title="Atom feed (fr)" ' in index
    assert 'href="http://127.0.0.1:8080/fr/feed.atom" hreflang="fr">' in index


# -- hostile content ---------------------------------------------------------------------------------


def test_hostile_content_comes_out_safe_and_well_formed(exomars: Release) -> None:
    evil = dataclasses.replace(
        exomars,
        title='<script>alert(1)</script> Tom & Jerry \x0b]]> "quoted"',
        summary="Summary with \x00 NUL, \x1b ESC & <b>tags</b>",
        url="javascript:alert(1)",
        hashtags=("#Ex<o>",),
        body=(
            "Hello <script>alert('x')</script> & <img src=x onerror=alert(1)>\n\n"
            "[click](javascript:alert(1)) [ok](https://www.esa.int/?a=1&b=2) ]]> \x07bell\n\n"
            '<a href="javascript:alert(2)">raw</a> [data](data:text/html;base64,PHNjcmlwdD4=)'
        ),
        events=(
            Event(
                id="briefing",
                title="Brief\x0bing <i>",
                start=BRIEFING_UTC,
                timezone="Europe/Moscow",
                location="Room 1; \\ back, slash",
                stream_url="javascript:alert(3)",
            ),
        ),
        media=(Media(url="javascript:alert(4)"),),
    )
    entries = [stored(evil)]
    for data in (build_atom(entries, FeedConfig(), AFTER), build_rss(entries, FeedConfig(), AFTER)):
        etree.fromstring(data)  # well-formed XML, or this raises
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0
        entry = parsed.entries[0]
        assert entry.title == '<script>alert(1)</script> Tom & Jerry ]]> "quoted"'  # text, shown as text
        html_content = entry.content[0].value
        assert "&lt;script&gt;" in html_content  # the body's raw HTML is shown as text, never run
        tree = lxml.html.fragment_fromstring(html_content, create_parent="div")
        assert not tree.xpath("//script | //iframe | //img | //@*[starts-with(name(), 'on')]")
        urls = tree.xpath("//@href | //@src")
        assert urls
        assert all(u.startswith("https://") for u in urls)
        links = [link.href for link in entry.get("links", [])] + [entry.get("link", "")]
        assert not [u for u in links if "javascript" in u]
        assert 'href="https://www.esa.int/?a=1&amp;b=2"' in html_content
        assert "\x07" not in html_content
    ics = build_calendar(entries, FeedConfig(), AFTER)
    assert b"javascript:" not in ics
    event = vevents(ics)["esa-2020-05-exomars-call-for-media.event.briefing@127.0.0.1"]
    assert str(event["LOCATION"]) == "Room 1; \\ back, slash"
    assert "\x0b" not in str(event["SUMMARY"])


# -- WebSub ------------------------------------------------------------------------------------------


class FakeHub:
    """A WebSub hub on loopback that records the publish pings it receives."""

    def __init__(self, status: int = 204) -> None:
        self.pings: list[dict[str, list[str]]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hub.pings.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    try:
        yield fake
    finally:
        fake.close()


def test_websub_hub_is_advertised_and_pinged_after_each_change(
    store: Store, exomars: Release, tmp_path: Path, hub: FakeHub
) -> None:
    settings = settings_for(tmp_path, DISTRIB_WEBSUB_HUB=hub.url)
    store.queue(exomars, "f.md", "t", NOW)
    result = write_feeds(store, settings, AFTER)
    topics = ["http://127.0.0.1:8080/feed.atom", "http://127.0.0.1:8080/feed.rss"]
    assert list(result.pinged) == topics
    assert hub.pings == [{"hub.mode": ["publish"], "hub.url": [t]} for t in topics]
    atom = read(settings.public_dir, "feed.atom")
    rss = read(settings.public_dir, "feed.rss")
    assert f'<link href="{hub.url}" rel="hub"/>'.encode() in atom
    assert f'<atom:link href="{hub.url}" rel="hub"/>'.encode() in rss
    assert feedparser.parse(rss).bozo == 0

    write_feeds(store, settings, AFTER + timedelta(hours=1))  # nothing changed: no ping
    assert len(hub.pings) == 2


def test_an_unreachable_hub_never_fails_the_write(
    store: Store, exomars: Release, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = FakeHub(status=503)
    down.close()  # nothing listens there any more
    settings = settings_for(tmp_path, DISTRIB_WEBSUB_HUB=down.url)
    store.queue(exomars, "f.md", "t", NOW)
    with caplog.at_level(logging.WARNING, logger="distrib.feeds"):
        result = write_feeds(store, settings, AFTER)
    assert "feed.atom" in result.written
    assert result.pinged == ()
    assert "not reached" in caplog.text


def test_a_hub_error_is_logged(
    store: Store, exomars: Release, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing = FakeHub(status=500)
    try:
        settings = settings_for(tmp_path, DISTRIB_WEBSUB_HUB=failing.url)
        store.queue(exomars, "f.md", "t", NOW)
        with caplog.at_level(logging.WARNING, logger="distrib.feeds"):
            result = write_feeds(store, settings, AFTER)
    finally:
        failing.close()
    assert result.pinged == ()
    assert len(failing.pings) == 2
    assert "answered 500" in caplog.text


# -- rebuild timing and the command line -------------------------------------------------------------


def test_rebuild_is_due_when_the_next_embargo_lifts(store: Store, exomars: Release) -> None:
    assert feeds.refresh_delay(store, NOW, 60.0) == 60.0  # nothing pending
    store.queue(exomars, "f.md", "t", NOW - timedelta(days=1))
    assert feeds.refresh_delay(store, NOW, 600.0) == pytest.approx(300.05)  # at 08:00, not at the next turn
    assert feeds.refresh_delay(store, NOW, 60.0) == 60.0
    assert feeds.refresh_delay(store, AFTER, 60.0) == 60.0


def test_refresh_loop_writes_then_stops(store: Store, exomars: Release, tmp_path: Path) -> None:
    store.queue(exomars, "f.md", "t", NOW)
    settings = settings_for(tmp_path)
    stop = threading.Event()
    calls: list[datetime] = []

    def clock() -> datetime:
        calls.append(AFTER)
        stop.set()  # one turn only
        return AFTER

    feeds.refresh_loop(store, settings, stop, clock=clock, interval=0.0)
    assert calls == [AFTER]
    assert feedparser.parse(read(settings.public_dir, "feed.atom")).entries[0].id == ENTRY_ID


def test_cli_feeds_writes_to_out(
    exomars_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISTRIB_DATA_DIR", str(tmp_path / "data"))
    assert main(["queue", str(exomars_path)]) == 0
    out = tmp_path / "site"
    assert main(["feeds", "--out", str(out)]) == 0
    assert "wrote     feed.atom" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"feed.atom", "feed.rss", "events.ics", "index.html"}
    assert feedparser.parse((out / "feed.atom").read_bytes()).entries[0].id == ENTRY_ID
    assert main(["feeds", "--out", str(out)]) == 0
    assert "unchanged 5 files" in capsys.readouterr().out


def test_cli_help_does_not_import_feed_libraries() -> None:
    code = (
        "import sys\n"
        "from distrib.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = {'feedgen', 'icalendar', 'waitress', 'markdown_it', 'distrib.feeds', 'distrib.web'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
