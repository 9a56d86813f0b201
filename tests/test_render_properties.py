"""Property: for any release, every post fits its channel and keeps its required elements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import channels
from distrib.config import Settings
from distrib.models import Deadline, Event, PostKind, Release
from distrib.plan import timeline
from distrib.render import Renderer, clean
from distrib.timefmt import when

RENDERER = Renderer()
CHANNELS = [channels.build(name, Settings.from_env({})) for name in channels.names()]
PIECES = [
    "ExoMars", "Mars", "<script>alert(1)</script>", "R&D", "&amp;", "🚀", "👩‍🚀", "🇪🇺", "火星探测", "ロ",
    "\u200fשלום\u200f", "\u202bمرحبا\u202c", "https://www.esa.int/exomars", "esa.int", '"quoted"', "]]>",
    "Ünïcödé", "—", "…",
]  # fmt: skip
ZONES = ["Europe/Paris", "Europe/Moscow", "Asia/Tokyo", "America/New_York", "Asia/Dubai", "UTC"]

words = st.one_of(
    st.sampled_from(PIECES),
    st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8),
)


@st.composite
def phrases(draw: st.DrawFn, max_words: int) -> str:
    return " ".join(draw(st.lists(words, min_size=1, max_size=max_words)))


@st.composite
def releases(draw: st.DrawFn) -> Release:
    title = draw(phrases(5).filter(lambda t: 0 < len(t) <= 40))
    published = datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 60 * 24 * 20)))
    start = published + timedelta(minutes=draw(st.integers(60 * 24 * 4, 60 * 24 * 40)))
    zones = tuple(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)))
    event = Event(
        id="briefing",
        title=draw(st.sampled_from(["Press briefing", "Launch", "Пресс-конференция"])),
        start=start,
        end=start + timedelta(minutes=draw(st.sampled_from([30, 60, 90]))),
        timezone=zones[0],
        location=draw(st.none() | phrases(6)),
        stream_url=draw(st.none() | st.just("https://www.esa.int/live")),
    )
    deadline = Deadline(
        id="accreditation",
        title="Media accreditation",
        due=start - timedelta(days=draw(st.integers(2, 4))),
        timezone=zones[-1],
        how=draw(st.none() | phrases(40)),
    )
    return Release(
        id="r-1",
        title=title,
        published=published,
        timezone=zones[0],
        show_timezones=zones,
        url=draw(
            st.none() | st.sampled_from(["https://www.esa.int/exomars", "https://example.org/a?b=1&c=2"])
        ),
        summary=draw(st.none() | phrases(150)),
        handles=tuple(
            draw(st.lists(st.from_regex(r"@[A-Za-z_]{1,12}", fullmatch=True), max_size=2, unique=True))
        ),
        hashtags=tuple(
            draw(st.lists(st.from_regex(r"#[A-Za-z]{1,12}", fullmatch=True), max_size=2, unique=True))
        ),
        events=(event,),
        deadlines=(deadline,),
        body=draw(phrases(300)),
    )


def _check_facets(text: str, facets: tuple) -> None:  # type: ignore[type-arg]
    data = text.encode("utf-8")
    for facet in facets:
        piece = data[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode("utf-8")
        feature = facet["features"][0]
        if feature["$type"].endswith("#link"):
            assert piece == feature["uri"]
        elif feature["$type"].endswith("#tag"):
            assert piece[1:] == feature["tag"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(releases())
def test_every_post_fits_and_keeps_its_required_elements(release: Release) -> None:
    for item in timeline(release):
        if item.skipped:
            continue
        for channel in CHANNELS:
            post = RENDERER.planned(release, channel, item)
            for part in post.parts:
                assert channel.length(part.text) == part.length <= part.limit
                _check_facets(part.text, part.facets)
            first = channel.visible_text(post.parts[0].text)
            required = [clean(release.title), *release.handles, *release.hashtags]
            if post.link:
                required.append(post.link)
            event, deadline = release.events[0], release.deadlines[0]
            zones, lang = release.show_timezones, release.language
            if item.kind in (PostKind.ANNOUNCEMENT, PostKind.EVENT_REMINDER):
                required.append(when(event.start, event.end, zones, lang, reference=item.due))
            if item.kind is PostKind.DEADLINE_REMINDER:
                required.append(when(deadline.due, None, zones, lang, reference=item.due))
            for element in required:
                assert element in first, (channel.name, item.kind, element)
