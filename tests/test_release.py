"""Release files: the ExoMars example parses to the right instants; every bad input is reported in full."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from distrib.errors import ReleaseError
from distrib.models import Release
from distrib.release import MAX_FILE_BYTES, check_same_ids, parse_release

MINIMAL = """\
---
id: r1
title: A release
published: 2026-03-01 09:00
timezone: Europe/Paris
"""


def release_text(extra: str = "", body: str = "Body.") -> str:
    return MINIMAL + textwrap.dedent(extra) + "---\n" + body + "\n"


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(ReleaseError) as info:
        parse_release(text, "rel.md")
    return [str(p) for p in info.value.problems]


def test_exomars_briefing_and_deadline_are_exact_instants(exomars: Release) -> None:
    assert exomars.id == "esa-2020-05-exomars-call-for-media"
    assert exomars.published == datetime(2020, 2, 24, 8, 0, tzinfo=UTC)  # 09:00 Paris (CET)
    (briefing,) = exomars.events
    assert briefing.start == datetime(2020, 3, 12, 11, 0, tzinfo=UTC)
    assert briefing.end == datetime(2020, 3, 12, 12, 0, tzinfo=UTC)
    assert briefing.timezone == "Europe/Moscow"
    assert briefing.location == "4 Khoromny lane, Moscow"
    assert briefing.stream_url is None
    (accreditation,) = exomars.deadlines
    assert accreditation.date_only
    assert accreditation.due == datetime(2020, 2, 28, 23, 0, tzinfo=UTC)  # end of 28 Feb in Paris
    assert accreditation.due_date.isoformat() == "2020-02-28"
    assert exomars.handles == ("@ESA_ExoMars",)
    assert exomars.hashtags == ("#ExoMars",)
    assert exomars.show_timezones == ("Europe/Moscow", "Europe/Paris")
    assert [c.phone for c in exomars.contacts] == ["+31715656409", "+74956319707"]
    assert exomars.body.startswith("The heads of ESA")


def test_parsed_form_round_trips_and_hash_ignores_layout(exomars: Release) -> None:
    assert Release.from_dict(exomars.to_dict()) == exomars
    relaid = release_text("summary: Same thing\n")
    assert (
        parse_release(relaid).content_hash()
        == parse_release(
            relaid.replace("summary: Same thing", "summary:   'Same thing'   # a comment")
        ).content_hash()
    )


def test_all_times_are_aware_utc(exomars: Release) -> None:
    moments = [exomars.published, *(e.start for e in exomars.events), *(d.due for d in exomars.deadlines)]
    assert all(m.tzinfo is UTC for m in moments)


def test_defaults_show_event_zones_then_release_zone() -> None:
    release = parse_release(
        release_text("""\
        events:
          - {id: launch, title: Launch, start: 2026-03-10 21:00, timezone: America/Cayenne}
        """)
    )
    assert release.show_timezones == ("America/Cayenne", "Europe/Paris")
    assert release.language == "en"
    assert release.channels is None


def test_date_only_published_is_start_of_that_day_even_on_dst_day() -> None:
    release = parse_release(release_text().replace("2026-03-01 09:00", "2026-03-29"))
    assert release.published == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET


def test_explicit_offset_disambiguates_a_repeated_wall_time() -> None:
    release = parse_release(
        release_text("""\
        events:
          - {id: e, title: Night event, start: "2026-10-25 02:30 +01:00"}
        """)
    )
    assert release.events[0].start == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_title_with_html_stays_plain_text() -> None:
    release = parse_release(release_text().replace("title: A release", 'title: "<script>x</script> & Co"'))
    assert release.title == "<script>x</script> & Co"


BAD_CASES = [
    pytest.param(
        MINIMAL.replace("title: A release\n", "") + "---\n", "rel.md:2: title: is missing", id="no-title"
    ),
    pytest.param(MINIMAL.replace("A release", '""') + "---\n", "rel.md:3: title: is empty", id="empty-title"),
    pytest.param(
        MINIMAL.replace("Europe/Paris", "Europe/Pariss") + "---\n",
        "rel.md:5: timezone: unknown time zone 'Europe/Pariss'; did you mean 'Europe/Paris'?",
        id="unknown-zone",
    ),
    pytest.param(
        MINIMAL.replace("2026-03-01 09:00", "2026-02-30 09:00") + "---\n",
        "rel.md:4: published: '2026-02-30 09:00' is not a real date",
        id="impossible-date",
    ),
    pytest.param(
        MINIMAL.replace("2026-03-01 09:00", "next Tuesday") + "---\n",
        "rel.md:4: published: 'next Tuesday' is not a date and time (write YYYY-MM-DD HH:MM)",
        id="malformed-date",
    ),
    pytest.param(
        MINIMAL.replace("2026-03-01 09:00", "2026-03-01 25:00") + "---\n",
        "rel.md:4: published: '2026-03-01 25:00' is not a real time of day",
        id="impossible-time",
    ),
    pytest.param(
        release_text("events:\n  - {id: e, title: E, start: 2026-03-29 02:30}\n"),
        "rel.md:7: events[0].start: 2026-03-29 02:30 does not exist in Europe/Paris",
        id="dst-gap",
    ),
    pytest.param(
        release_text("events:\n  - {id: e, title: E, start: 2026-10-25 02:30}\n"),
        "rel.md:7: events[0].start: 2026-10-25 02:30 happens twice in Europe/Paris",
        id="dst-overlap",
    ),
    pytest.param(
        release_text("events:\n  - {id: e, title: E, start: 2026-03-10 15:00, end: 2026-03-10 14:00}\n"),
        "rel.md:7: events[0].end: 2026-03-10 14:00 is not after the start (2026-03-10 15:00)",
        id="end-before-start",
    ),
    pytest.param(
        release_text(
            "events:\n  - {id: e, title: E, start: 2026-03-10 15:00}\n"
            "deadlines:\n  - {id: d, title: D, due: 2026-03-11}\n"
        ),
        "rel.md:9: deadlines[0].due: 2026-03-11 is after the start of the event 'e' it gates",
        id="deadline-after-event",
    ),
    pytest.param(
        release_text(
            "events:\n  - {id: e, title: E, start: 2026-03-10 15:00}\n"
            "  - {id: e, title: F, start: 2026-03-11 15:00}\n"
        ),
        "rel.md:8: events[1].id: duplicate event id 'e' (first on line 7)",
        id="duplicate-event-id",
    ),
    pytest.param(
        release_text("hashtag: ['#x']\n"),
        "rel.md:6: hashtag: unknown key; did you mean 'hashtags'?",
        id="unknown-key",
    ),
    pytest.param(
        release_text("events:\n  - {id: e, title: E, strat: 2026-03-10 15:00}\n"),
        "rel.md:7: events[0].strat: unknown key; did you mean 'start'?",
        id="unknown-nested-key",
    ),
    pytest.param(
        release_text("title: again\n"), "rel.md:6: title: is given twice (first on line 3)", id="dup-key"
    ),
    pytest.param(
        release_text("url: javascript:alert(1)\n"),
        "rel.md:6: url: 'javascript:alert(1)' is not an http(s) URL",
        id="bad-url",
    ),
    pytest.param(
        release_text("handles: [ESA]\n"),
        "rel.md:6: handles: 'ESA': a handle starts with @",
        id="bad-handle",
    ),
    pytest.param(
        release_text("hashtags: ['#Exo Mars']\n"),
        "rel.md:6: hashtags: '#Exo Mars': a hashtag starts with # and has no spaces",
        id="bad-hashtag",
    ),
    pytest.param(
        release_text("channels: [twiter]\n"),
        "rel.md:6: channels: unknown channel 'twiter'",
        id="unknown-channel",
    ),
    pytest.param(
        release_text("deadlines:\n  - {id: d, title: D, due: 2026-03-09, event: nope}\n"),
        "rel.md:7: deadlines[0].event: no event has the id 'nope'",
        id="unknown-gated-event",
    ),
    pytest.param(
        release_text("a: &x [1]\nb: *x\n"),
        "rel.md:6: yaml: anchors and aliases (&, *) are not allowed",
        id="anchor",
    ),
    pytest.param(
        release_text("summary: !!python/object/apply:os.system ['echo hi']\n"),
        "rel.md:6: yaml: YAML tags (!...) are not allowed",
        id="tag",
    ),
    pytest.param(release_text("summary: [unclosed\n"), "rel.md:", id="yaml-syntax"),
    pytest.param(
        "title: no front matter\n", "rel.md:1: file: must start with a '---' line", id="no-front-matter"
    ),
    pytest.param("---\nid: x\n", "rel.md:2: file: the front matter is never closed", id="unclosed"),
    pytest.param(
        release_text().replace("A release", "A\x0brelease"),
        "rel.md:3: title: contains a control character (U+000B)",
        id="control-char",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CASES)
def test_bad_input_is_located_and_explained(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    text = """\
---
id: "bad id!"
title: ""
published: 2026-13-01 09:00
timezone: Mars/Olympus
colour: red
---
"""
    found = problems(text)
    assert found[:1] == ["rel.md:6: colour: unknown key (known: id, title, reference, published, timezone, "
                         "show_timezones, language, url, summary, handles, hashtags, events, deadlines, "
                         "contacts, channels, image, media)"]  # fmt: skip
    fields = {p.split(": ")[1] for p in found}
    assert {"id", "title", "timezone", "colour"} <= fields


def test_non_utf8_names_the_line() -> None:
    data = release_text().encode() + b"caf\xe9\n"
    assert problems(data) == ["rel.md:8: file: is not UTF-8 (byte 0xe9); save it as UTF-8"]


def test_oversized_file_is_refused_before_parsing() -> None:
    data = release_text(body="x" * (MAX_FILE_BYTES + 1)).encode()
    assert problems(data) == [f"rel.md:1: file: is {len(data):,} bytes; a release file may be at most 1 MB"]


def test_alias_bomb_is_refused_without_expanding() -> None:
    bomb = "".join(f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}]\n" for i in range(1, 30))
    found = problems(release_text("l0: &l0 [lol]\n" + bomb))
    assert found == ["rel.md:6: yaml: anchors and aliases (&, *) are not allowed in release files"]


def test_two_files_with_one_id_and_different_content_conflict() -> None:
    a = parse_release(release_text(), "a.md")
    b = parse_release(release_text(body="Other body."), "b.md")
    (conflict,) = check_same_ids([("a.md", a), ("b.md", b)])
    assert str(conflict) == "b.md:1: id: 'r1' is also the id of a.md with different content"
    assert check_same_ids([("a.md", a), ("c.md", a)]) == []


def test_zone_rules_come_from_the_tzdata_package_not_the_host() -> None:
    import zoneinfo

    import distrib  # noqa: F401  (importing distrib pins the rules)

    assert zoneinfo.TZPATH == ()
