"""Whole releases through the importer: what it finds, what it flags, and that the draft parses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from distrib.draft_file import render_draft, yaml_str
from distrib.importer import Draft, draft_from_source
from distrib.release import parse_release

SHARED = (
    Path(__file__).resolve().parents[2] / "shared" / "releases" / "esa-n5-2020-exomars-call-for-media.txt"
)
HERE = Path(__file__).resolve().parent / "releases"
EXOMARS_TEXT = (
    SHARED.read_text(encoding="utf-8")
    if SHARED.exists()
    else (HERE / "esa-n5-2020-exomars-call-for-media.txt").read_text(encoding="utf-8")
)


def draft_of(text: str, **kw: object) -> tuple[Draft, str]:
    draft = draft_from_source(text, **kw)  # type: ignore[arg-type]
    return draft, render_draft(draft, "test")


def front_matter(text: str) -> dict[str, object]:
    data = yaml.safe_load(text.split("---\n")[1])
    assert isinstance(data, dict)
    return data


def warned(draft: Draft, *words: str) -> bool:
    return any(all(w.lower() in m.lower() for w in words) for m in draft.warnings)


# -- the worked example --------------------------------------------------------------------------


def test_exomars_briefing() -> None:
    draft, _ = draft_of(EXOMARS_TEXT)
    (event,) = draft.events
    assert event.id == "briefing"
    assert event.start == datetime(2020, 3, 12, 11, 0, tzinfo=UTC)
    assert event.end == datetime(2020, 3, 12, 12, 0, tzinfo=UTC)
    assert event.timezone == "Europe/Moscow"
    assert event.location == "4 Khoromny lane, Moscow"
    assert event.stream_url is None
    assert warned(draft, "stream URL not found")
    assert not warned(draft, "disagree")


def test_exomars_header_and_tags() -> None:
    draft, _ = draft_of(EXOMARS_TEXT)
    assert draft.title == "Call for Media: ESA and Roscosmos to discuss ExoMars plans"
    assert draft.reference == "N° 5–2020"
    assert draft.published == date(2020, 2, 24)
    assert draft.timezone == "Europe/Paris"
    assert draft.show_timezones == ["Europe/Moscow", "Europe/Paris"]
    assert draft.handles == ["@ESA_ExoMars"]
    assert draft.hashtags == ["#ExoMars"]
    assert draft.language == "en"


def test_exomars_deadline_is_date_only_and_gates_the_briefing() -> None:
    draft, _ = draft_of(EXOMARS_TEXT)
    (deadline,) = draft.deadlines
    assert deadline.due == date(2020, 2, 28)
    assert deadline.timezone is None  # the release's zone applies
    assert deadline.event == "briefing"
    assert deadline.how is not None
    assert "passport scan" in deadline.how


def test_exomars_contacts() -> None:
    draft, _ = draft_of(EXOMARS_TEXT)
    assert [c.phone for c in draft.contacts] == ["+31715656409", "+74956319707"]
    assert draft.contacts[0].name == "ESA Media Relations Office"
    assert warned(draft, "no contact email")


def test_exomars_draft_passes_check_as_is() -> None:
    _, text = draft_of(EXOMARS_TEXT)
    release = parse_release(text, "draft.md")
    (event,) = release.events
    assert event.start == datetime(2020, 3, 12, 11, 0, tzinfo=UTC)
    assert event.timezone == "Europe/Moscow"
    assert event.location == "4 Khoromny lane, Moscow"
    assert event.stream_url is None
    (deadline,) = release.deadlines
    assert deadline.date_only
    assert deadline.due_date == date(2020, 2, 28)
    assert [c.phone for c in release.contacts] == ["+31715656409", "+74956319707"]
    assert release.handles == ("@ESA_ExoMars",)
    assert release.hashtags == ("#ExoMars",)


def test_exomars_draft_quotes_its_sources_and_warns_at_the_top() -> None:
    _, text = draft_of(EXOMARS_TEXT)
    head = text.split("\n---\n")[0]
    assert "# Warnings:" in head
    assert '"Time: 14:00–15:00 Moscow standard time (12:00–13:00 CET)"' in head
    assert 'stream_url: null  # NOT FOUND: "The briefing will be streamed at" gives no address' in head
    assert '"Location: 4 Khoromny lane, Moscow"' in head


def test_exomars_body_drops_page_chrome() -> None:
    draft, _ = draft_of(EXOMARS_TEXT)
    assert "Back to Index" not in draft.body
    assert "ESA title" not in draft.body
    assert draft.body.startswith("The heads of ESA and Russian state space corporation Roscosmos")
    assert "## Press Briefing" in draft.body
    assert "## About ExoMars" in draft.body


def test_output_is_deterministic() -> None:
    assert draft_of(EXOMARS_TEXT)[1] == draft_of(EXOMARS_TEXT)[1]


# -- releases of other shapes ----------------------------------------------------------------------

NASA = (HERE / "nasa-advisory.txt").read_text(encoding="utf-8")
KOUROU = (HERE / "kourou-launch.txt").read_text(encoding="utf-8")


def test_nasa_advisory_with_edt_and_weekday_deadline() -> None:
    draft, text = draft_of(NASA)
    assert draft.reference == "M20-112"
    assert draft.title == "NASA to Discuss Mars Perseverance Rover Landing Plans"
    assert draft.published == date(2020, 7, 27)
    (event,) = draft.events
    assert event.start == datetime(2020, 7, 30, 18, 0, tzinfo=UTC)  # 2 p.m. EDT
    assert event.timezone == "America/New_York"
    assert event.stream_url == "https://www.nasa.gov/live"
    (deadline,) = draft.deadlines
    assert deadline.due == datetime(2020, 7, 28, 17, 0, tzinfo=UTC)  # 1 p.m. Tuesday, Eastern
    assert warned(draft, "only a weekday")
    assert warned(draft, "no zone next to", "America/New_York")
    (contact,) = draft.contacts
    assert contact.name == "Grey Hautaluoma"
    assert contact.role == "Headquarters, Washington"
    assert contact.phone == "+12023580668"
    assert contact.email == "grey.hautaluoma-1@nasa.gov"
    assert draft.handles == ["@NASAPersevere"]
    assert draft.hashtags == ["#CountdownToMars"]
    parse_release(text)


def test_launch_with_local_time_and_utc_next_day() -> None:
    draft, text = draft_of(KOUROU)
    (launch,) = draft.events  # "streamed live ... from 20:50 local time" is the launch's stream, not an event
    assert launch.id == "launch"
    assert launch.timezone == "America/Cayenne"
    assert launch.start == datetime(2021, 12, 3, 0, 23, tzinfo=UTC)
    assert launch.location == "Europe's Spaceport in Kourou, French Guiana"
    assert launch.stream_url == "https://www.esa.int/ESA_Multimedia/ESA_Web_TV"
    assert not warned(draft, "disagree")
    assert draft.timezone == "Europe/Paris"  # the dateline
    (deadline,) = draft.deadlines
    assert deadline.due == datetime(2021, 11, 25, 16, 0, tzinfo=UTC)
    assert deadline.timezone == "Europe/Paris"
    (contact,) = draft.contacts
    assert (contact.name, contact.phone, contact.email) == (
        "Jane Doe",
        "+33160876000",
        "press@arianespace.com",
    )
    parse_release(text)


ARIANE = (HERE / "ariane-launch.txt").read_text(encoding="utf-8")


def test_ariane_launch_stream_belongs_to_the_launch_only() -> None:
    draft, text = draft_of(ARIANE)
    assert [e.id for e in draft.events] == ["launch", "conference"]  # "starting at 17:30" is no event
    launch, conference = draft.events
    assert launch.start == datetime(2025, 11, 4, 21, 2, tzinfo=UTC)  # 18:02 in Kourou
    assert launch.timezone == "America/Cayenne"
    assert launch.stream_url == "https://www.esa.int/ESA_Multimedia/ESA_Web_TV"
    # The stream's start is read on the launch's day and in its zone, not the conference's day in Paris.
    assert "17:30 local time (2025-11-04 17:30 America/Cayenne)" in launch.notes["stream_url"]
    assert conference.start == datetime(2025, 11, 5, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert conference.end == datetime(2025, 11, 5, 10, 0, tzinfo=UTC)
    assert conference.timezone == "Europe/Paris"
    assert conference.location == "ESA Headquarters, 8-10 rue Mario Nikis, Paris"
    assert conference.stream_url is None
    (deadline,) = draft.deadlines
    assert deadline.due == datetime(2025, 10, 31, 11, 0, tzinfo=UTC)  # 12:00 CET
    assert deadline.timezone == "Europe/Paris"
    (contact,) = draft.contacts
    assert (contact.name, contact.email, contact.phone) == ("ESA Newsroom", "media@esa.int", "+33153697299")
    assert not warned(draft, "not attributed")
    release = parse_release(text)
    assert [(e.id, e.stream_url) for e in release.events] == [
        ("launch", "https://www.esa.int/ESA_Multimedia/ESA_Web_TV"),
        ("conference", None),
    ]
    assert release.events[1].location == "ESA Headquarters, 8-10 rue Mario Nikis, Paris"
    assert 'location: "ESA Headquarters, 8-10 rue Mario Nikis, Paris"' in text


PROGRAMME = """\
Living Planet Symposium 2022: media programme

Frascati, 2 May 2022

Journalists are invited to the opening of the Living Planet Symposium in Bonn.

Monday, 23 May (all times CEST)

09:30–10:30 Opening ceremony
11:00 Press conference with the ESA Director General
14:00–14:45 Media briefing on Earth Explorers

Registration for media closes on 16 May 2022 at 18:00 CEST.

Contact: media@esa.int
"""


def test_conference_programme_with_all_times_stated_once() -> None:
    draft, text = draft_of(PROGRAMME)
    starts = [(e.title, e.start, e.timezone) for e in draft.events]
    assert starts == [
        ("Opening ceremony", datetime(2022, 5, 23, 7, 30, tzinfo=UTC), "Europe/Paris"),
        (
            "Press conference with the ESA Director General",
            datetime(2022, 5, 23, 9, 0, tzinfo=UTC),
            "Europe/Paris",
        ),
        ("Media briefing on Earth Explorers", datetime(2022, 5, 23, 12, 0, tzinfo=UTC), "Europe/Paris"),
    ]
    assert draft.events[0].end == datetime(2022, 5, 23, 8, 30, tzinfo=UTC)
    assert draft.timezone == "Europe/Paris"
    (deadline,) = draft.deadlines
    assert deadline.id == "registration"
    assert deadline.due == datetime(2022, 5, 16, 16, 0, tzinfo=UTC)
    assert draft.contacts[0].email == "media@esa.int"
    assert not warned(draft, "no contact email")
    parse_release(text)


CEST_IN_JANUARY = """\
ESA to present new astronaut class

Paris, 5 January 2021

ESA will hold a press conference on 15 January 2021 at 14:00 CEST at ESA headquarters.

Location: 8-10 rue Mario Nikis, Paris
"""


def test_abbreviation_contradicting_its_date_is_kept_and_flagged() -> None:
    draft, text = draft_of(CEST_IN_JANUARY)
    (event,) = draft.events
    assert event.timezone == "Europe/Paris"
    assert event.start == datetime(2021, 1, 15, 13, 0, tzinfo=UTC)  # 14:00 as written, Paris wall clock (CET)
    assert warned(draft, "CEST", "kept the time as written")
    assert "start: 2021-01-15 14:00" in text


MISMATCH = """\
Roscosmos and ESA sign agreement

24 February 2020

The signing ceremony takes place on 12 March 2020 at 14:00 Moscow time (13:00 CET).
"""


def test_two_zones_that_disagree_are_flagged() -> None:
    draft, _ = draft_of(MISMATCH)
    (event,) = draft.events
    assert event.timezone == "Europe/Moscow"
    assert event.start == datetime(2020, 3, 12, 11, 0, tzinfo=UTC)  # the first zone is kept
    assert warned(draft, "disagree")


STREAM_AND_EMAIL = """\
Webb telescope first images: media event

Baltimore, 1 July 2022

NASA will hold a media briefing at 10:30 a.m. EDT on July 12, 2022. Watch live at https://www.youtube.com/nasa.

To register, email press@stsci.edu by July 8.

For more information:
Christine Pulliam, Space Telescope Science Institute
cpulliam@stsci.edu
+1 410-338-4366
"""


def test_release_with_stream_url_and_email_contact() -> None:
    draft, text = draft_of(STREAM_AND_EMAIL)
    (event,) = draft.events
    assert event.stream_url == "https://www.youtube.com/nasa"
    assert event.start == datetime(2022, 7, 12, 14, 30, tzinfo=UTC)
    (deadline,) = draft.deadlines
    assert deadline.due == date(2022, 7, 8)
    (contact,) = draft.contacts
    assert contact.email == "cpulliam@stsci.edu"
    assert contact.phone == "+14103384366"
    assert not warned(draft, "stream URL not found")
    assert not warned(draft, "no contact email")
    parse_release(text)


NO_ZONE = """\
Open day at the test centre

1 March 2023

The open day starts at 12:00 on 18 March 2023.
"""


def test_time_without_any_zone_is_flagged_not_guessed() -> None:
    draft, text = draft_of(NO_ZONE)
    (event,) = draft.events
    assert event.start is None
    assert event.timezone is None
    assert warned(draft, "no time zone")
    assert warned(draft, "release time zone not found")
    assert "start: null  # NOT FOUND" in text
    assert front_matter(text)["timezone"] is None


SLASH = """\
Satellite data workshop

Noordwijk, 10 February 2020

The workshop will open at 09:00 CET on 03/04/2020.
"""


def test_ambiguous_slash_date_read_day_first_and_flagged() -> None:
    draft, _ = draft_of(SLASH)
    (event,) = draft.events
    assert event.start == datetime(2020, 4, 3, 7, 0, tzinfo=UTC)  # 3 April, CEST
    assert warned(draft, "03/04/2020", "day-first")
    # CET written on a CEST date: flagged too.
    assert warned(draft, "CET", "kept the time as written")


def test_nothing_found_gives_nulls_and_warnings_not_inventions() -> None:
    draft, text = draft_of("hello\n")
    assert draft.title is None
    assert draft.published is None
    assert draft.events == []
    data = front_matter(text)
    assert data["title"] is None
    assert data["published"] is None
    assert data["events"] == []
    for message in ("title not found", "publication date not found", "no events found", "no contacts found"):
        assert warned(draft, message)


# -- HTML ----------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head>
<title>ESA - Call for Media: Vega launch | ESA</title>
<meta property="og:image" content="/images/vega.jpg">
<link rel="canonical" href="https://www.example.org/media/vega">
<script>document.write('14:00 CET tracking script #notatag @nobody');</script>
<style>.x { color: red }</style>
</head><body>
<div id="cookie-banner">We use cookies. <button>Accept all</button></div>
<nav><ul><li><a href="/">Home</a></li><li>Back to Index French German</li></ul></nav>
<main><article>
<h1>Call for Media: Vega launch with "Sentinel" & friends #1</h1>
<p class="date">3 November 2020</p>
<p>Vega flight VV17 is scheduled to lift off on 16 November at 22:52 local time (01:52 GMT on 17 November)
from Europe's Spaceport in Kourou, French Guiana.</p>
<p>Watch the launch live on <a href="https://www.esa.int/live">ESA Web TV</a>.</p>
<h2>Contacts</h2>
<p>ESA Media Relations<br>Tel: +31 71 565 6409<br><a href="mailto:media@esa.int">media@esa.int</a></p>
<div class="share-buttons"><a href="https://twitter.com/share">Share on X @sharebot</a></div>
</article></main>
<footer>Copyright 2020 ESA</footer>
</body></html>
"""


def test_html_page_keeps_the_article_only() -> None:
    draft, text = draft_of(PAGE, url="https://www.example.org/media/vega?x=1")
    assert draft.title == 'Call for Media: Vega launch with "Sentinel" & friends #1'
    assert draft.url == "https://www.example.org/media/vega"
    assert draft.image == "https://www.example.org/images/vega.jpg"
    assert draft.published == date(2020, 11, 3)
    (event,) = draft.events
    assert event.start == datetime(2020, 11, 17, 1, 52, tzinfo=UTC)
    assert event.timezone == "America/Cayenne"
    assert event.stream_url == "https://www.esa.int/live"
    assert draft.contacts[0].email == "media@esa.int"
    assert draft.contacts[0].phone == "+31715656409"
    for chrome in (
        "cookies",
        "Accept all",
        "Back to Index",
        "Home",
        "Copyright",
        "tracking script",
        "Share on",
    ):
        assert chrome not in draft.body
    assert draft.handles == []  # @nobody / @sharebot were in a script and a share bar
    assert draft.hashtags == []
    assert "[ESA Web TV](https://www.esa.int/live)" in draft.body
    release = parse_release(text)
    assert release.title == draft.title


# -- YAML safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        'Call for Media: "quotes" & #hash: colon',
        "- starts like a list",
        "yes",
        "null",
        "*alias &anchor !tag",
        "line\u2028separator and \u0085 next line",
        "back\\slash \t tab",
        "emoji 🚀 and ümlaut",
        "'single' quotes",
    ],
)
def test_yaml_strings_round_trip(value: str) -> None:
    assert yaml.safe_load(f"k: {yaml_str(value)}")["k"] == value


def test_tricky_title_survives_the_release_parser() -> None:
    text = 'Update: ESA\'s "Hera" #mission & @partners — 50% done: see you!\n\n12 June 2024\n\n' + (
        "A long enough lead paragraph that explains everything about the mission in question today.\n"
    )
    draft, out = draft_of(text)
    assert draft.title == 'Update: ESA\'s "Hera" #mission & @partners — 50% done: see you!'
    data = front_matter(out)
    assert data["title"] == draft.title
    assert data["timezone"] is None  # no zone anywhere: a person fills it in
    release = parse_release(out.replace("timezone: null", 'timezone: "Europe/Paris"', 1))
    assert release.title == draft.title
