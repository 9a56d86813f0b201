"""Rendering: per-channel escaping, the template sandbox, template errors, shortening and threads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

import channels
from channels.telegram import visible_text
from distrib.config import Settings
from distrib.errors import RenderError
from distrib.models import PostKind, Release
from distrib.plan import timeline
from distrib.render import Renderer, Templates, changes_between

SETTINGS = Settings.from_env({})
HOSTILE = [
    "<script>alert(1)</script>",
    "R&D & ESA",
    "He said \"go\" & 'went'",
    "]]> end of CDATA",
    "Launch 🚀👨‍👩‍👧‍👦",
    "\u202eRTL override \u200f mark",
    "<b>bold</b> &amp; entity",
]


def _titled(release: Release, title: str) -> Release:
    return dataclasses.replace(release, title=title, summary=f"Summary: {title}")


@pytest.mark.parametrize("title", HOSTILE)
@pytest.mark.parametrize("channel_name", ["x", "mastodon", "bluesky", "webhook", "outbox-dir", "email"])
def test_plain_text_channels_never_html_escape(exomars: Release, channel_name: str, title: str) -> None:
    post = Renderer().render(
        _titled(exomars, title), channels.build(channel_name, SETTINGS), PostKind.ANNOUNCEMENT
    )
    assert title in post.parts[0].text  # exactly as written: no &amp;, no &lt;
    if post.subject is not None:
        assert title in post.subject


@pytest.mark.parametrize("title", HOSTILE)
def test_telegram_html_escapes_every_value(exomars: Release, title: str) -> None:
    post = Renderer().render(
        _titled(exomars, title), channels.build("telegram", SETTINGS), PostKind.ANNOUNCEMENT
    )
    html = post.parts[0].text
    assert title in visible_text(html)  # the reader sees the title as written
    assert "<script>" not in html  # only the template's own tags are markup
    assert "<b>bold</b>" not in html


@pytest.mark.parametrize("title", HOSTILE)
def test_email_html_escapes_every_value(exomars: Release, title: str) -> None:
    post = Renderer().render(
        _titled(exomars, title), channels.build("email", SETTINGS), PostKind.ANNOUNCEMENT
    )
    assert post.html is not None
    assert "<script>" not in post.html
    assert "<b>bold</b>" not in post.html
    assert (
        "&lt;" in post.html
        or "&amp;" in post.html
        or "&#34;" in post.html
        or title.isprintable() is False
        or ("<" not in title and "&" not in title and '"' not in title)
    )


@pytest.mark.parametrize("channel_name", channels.names())
def test_control_characters_never_reach_a_post(exomars: Release, channel_name: str) -> None:
    release = _titled(exomars, "Bad\x00 bytes\x07 and \ufeffBOM")
    post = Renderer().render(release, channels.build(channel_name, SETTINGS), PostKind.ANNOUNCEMENT)
    assert "Bad bytes and BOM" in channels.build(channel_name, SETTINGS).visible_text(post.parts[0].text)
    assert not any(c in post.text for c in "\x00\x07\ufeff")


def test_link_in_telegram_href_is_quoted(exomars: Release) -> None:
    release = dataclasses.replace(exomars, url='https://esa.int/?a=1&b="2"')
    html = (
        Renderer().render(release, channels.build("telegram", SETTINGS), PostKind.ANNOUNCEMENT).parts[0].text
    )
    assert 'href="https://esa.int/?a=1&amp;b=&#34;2&#34;"' in html
    assert 'https://esa.int/?a=1&b="2"' in visible_text(html)


def _templates(tmp_path: Path, source: str, channel: str = "x", kind: str = "announcement") -> Path:
    (tmp_path / channel).mkdir(parents=True)
    (tmp_path / channel / f"{kind}.txt.j2").write_text(source, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ handles.append('x') }}",
        "{{ '{0.__class__.__mro__}'.format(title) }}",
    ],
)
def test_ssti_payloads_are_refused(exomars: Release, tmp_path: Path, payload: str) -> None:
    root = _templates(tmp_path, "{{ title }}\n" + payload + "\n{{ tags }}\n")
    with pytest.raises(RenderError, match=r"x/announcement\.txt\.j2:2: "):
        Renderer(root).render(exomars, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT)


@pytest.mark.parametrize("payload", ["{{ title|attr('format')('{0.__class__.__mro__}') }}"])
def test_format_payloads_do_not_leak(exomars: Release, tmp_path: Path, payload: str) -> None:
    root = _templates(tmp_path, "{{ title }}\n" + payload + "\n{{ tags }}\n")
    text = Renderer(root).render(exomars, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT).parts[0].text
    assert "class" not in text
    assert "mro" not in text


def test_template_errors_name_the_file_and_line(exomars: Release, tmp_path: Path) -> None:
    root = _templates(tmp_path, "{{ title }}\n\n{{ no_such_thing }}\n")
    with pytest.raises(RenderError, match=r"x/announcement\.txt\.j2:3: 'no_such_thing' is undefined"):
        Renderer(root).render(exomars, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT)
    broken = _templates(tmp_path / "b", "{{ title }}\n{% if %}\n")
    with pytest.raises(RenderError, match=r"x/announcement\.txt\.j2:2: "):
        Renderer(broken).render(exomars, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT)


def test_missing_template_names_what_was_looked_for(exomars: Release, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"default/announcement\.txt\.j2"):
        Renderer(tmp_path).render(exomars, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT)


def test_channel_template_falls_back_to_default(tmp_path: Path) -> None:
    root = _templates(tmp_path, "x: {{ title }}")
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "announcement.txt.j2").write_text("default: {{ title }}", encoding="utf-8")
    templates = Templates(root)
    assert templates.render("x", "announcement", "txt", {"title": "T"}) == "x: T"
    assert templates.render("mastodon", "announcement", "txt", {"title": "T"}) == "default: T"


def test_shortening_cuts_the_summary_at_a_word_with_an_ellipsis(exomars: Release) -> None:
    summary = " ".join(["Mars"] * 200)
    post = Renderer().render(
        dataclasses.replace(exomars, summary=summary), channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT
    )
    assert len(post.parts) == 1
    text = post.parts[0].text
    assert "Mars Mars…" in text
    assert post.parts[0].length <= 280
    assert exomars.title in text
    assert "@ESA_ExoMars #ExoMars" in text


def test_long_posts_become_threads_whose_first_part_has_every_required_element(exomars: Release) -> None:
    place = "Conference hall B, " + "Roscosmos headquarters building, " * 8 + "4 Khoromny lane, Moscow"
    event = dataclasses.replace(exomars.events[0], location=place)
    release = dataclasses.replace(exomars, events=(event,), url="https://www.esa.int/exomars", summary="")
    item = next(p for p in timeline(release) if p.kind is PostKind.EVENT_REMINDER)
    x = channels.build("x", SETTINGS)
    post = Renderer().planned(release, x, item)
    assert len(post.parts) >= 2
    first = post.parts[0].text
    for required in (
        release.title,
        "Thu 12 March, 14:00–15:00 MSK (12:00–13:00 CET)",
        release.url,
        "@ESA_ExoMars",
        "#ExoMars",
    ):
        assert required is not None
        assert required in first
    assert all(part.length <= 280 for part in post.parts)
    assert "Roscosmos headquarters building" in " ".join(p.text for p in post.parts)
    single = Renderer(threads=False).planned(release, x, item)
    assert len(single.parts) == 1
    assert single.parts[0].length <= 280


def test_title_too_long_for_the_channel_is_shortened_last(exomars: Release) -> None:
    release = dataclasses.replace(exomars, title="ExoMars " * 60)
    post = Renderer().render(release, channels.build("x", SETTINGS), PostKind.ANNOUNCEMENT)
    assert post.parts[0].length <= 280
    assert "ExoMars ExoMars" in post.parts[0].text
    assert "…" in post.parts[0].text
    assert post.parts[0].text.endswith("@ESA_ExoMars #ExoMars")


def test_telegram_caption_limit_applies_with_an_image(exomars: Release) -> None:
    release = dataclasses.replace(exomars, image="https://esa.int/i.jpg", body="Mars " * 2000)
    post = Renderer().render(release, channels.build("telegram", SETTINGS), PostKind.ANNOUNCEMENT)
    assert post.parts[0].limit == 1024
    assert post.parts[0].length <= 1024


def test_relative_time_is_computed_from_the_send_time(exomars: Release) -> None:
    x = channels.build("x", SETTINGS)
    texts = [
        Renderer().planned(exomars, x, p).parts[0].text
        for p in timeline(exomars)
        if p.kind is PostKind.EVENT_REMINDER
    ]
    assert [t.split(":")[0] for t in texts] == [
        "Press briefing starts tomorrow",
        "Press briefing starts in 1 hour",
        "Press briefing starts in 10 minutes",
    ]


def test_dst_night_event_is_shown_with_the_offset_of_its_date(exomars: Release) -> None:
    night = dataclasses.replace(
        exomars.events[0],
        start=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        end=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        timezone="Europe/Paris",
    )
    release = dataclasses.replace(
        exomars, events=(night,), deadlines=(), show_timezones=("Europe/Paris", "Europe/Moscow"),
        published=datetime(2026, 3, 1, 9, tzinfo=UTC),
    )  # fmt: skip
    text = (
        Renderer().render(release, channels.build("mastodon", SETTINGS), PostKind.ANNOUNCEMENT).parts[0].text
    )
    assert "Sun 29 March, 01:30 CET–03:30 CEST (03:30–04:30 MSK)" in text


def test_update_and_cancellation(exomars: Release) -> None:
    moved = dataclasses.replace(
        exomars,
        url="https://www.esa.int/exomars",
        events=(dataclasses.replace(exomars.events[0], location="Roscosmos HQ, Moscow"),),
    )
    changes = changes_between(exomars, moved)
    assert [c.what for c in changes] == ["Link", "Press briefing place"]
    x = channels.build("x", SETTINGS)
    update = Renderer().update(moved, x, changes, due=datetime(2020, 3, 1, tzinfo=UTC)).parts[0].text
    assert (
        "Press briefing place changed: Roscosmos HQ, Moscow. Previously: 4 Khoromny lane, Moscow." in update
    )
    cancel = Renderer().cancellation(exomars, x, "Postponed.", due=datetime(2020, 3, 1, tzinfo=UTC))
    assert cancel.parts[0].text.startswith(f"Cancelled: {exomars.title}\n\nPostponed.")
    assert cancel.kind is PostKind.CANCELLATION


def test_a_location_that_repeats_the_link_does_not_crowd_the_title_out_of_the_first_part() -> None:
    """Found by the property test: the location held the release link, so the whole location
    paragraph counted as required and the title was cut instead of moving the location on."""
    from channels.x import XChannel
    from distrib.models import Deadline, Event

    release = Release(
        id="r-1", title="ExoMars ExoMars esa.int 火星探测",
        published=datetime(2026, 3, 2, 20, 31, tzinfo=UTC),
        timezone="Europe/Paris", show_timezones=("Europe/Paris", "Europe/Moscow"),
        url="https://www.esa.int/exomars", handles=("@A",), hashtags=("#A", "#AAAA"),
        events=(Event("briefing", "Press briefing", datetime(2026, 4, 11, 20, 30, tzinfo=UTC), "Europe/Paris",
                      datetime(2026, 4, 11, 22, 0, tzinfo=UTC),
                      location="ExoMars ExoMars ExoMars \u202bمرحبا\u202c \u202bمرحبا\u202c https://www.esa.int/exomars"),),
        deadlines=(Deadline("accreditation", "Media accreditation", datetime(2026, 4, 9, 20, 30, tzinfo=UTC),
                            "Europe/Moscow"),),
        body="ExoMars",
    )  # fmt: skip
    post = Renderer().render(
        release,
        XChannel(),
        PostKind.EVENT_REMINDER,
        target="briefing",
        due=datetime(2026, 4, 11, 20, 20, tzinfo=UTC),
    )
    first = post.parts[0].text
    assert release.title in first
    assert "https://www.esa.int/exomars" in first
    assert "@A #A #AAAA" in first
    assert all(part.length <= 280 for part in post.parts)
