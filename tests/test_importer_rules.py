"""The importer's attribution rules, each with several wordings: which event a stream URL belongs to, what a
stream's start time is, and where a location phrase ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from distrib.draft_file import render_draft
from distrib.importer import Draft, DraftEvent, draft_from_source
from distrib.release import parse_release

URL = "https://example.org/live"

# A launch (4 May 2026, 18:02 Kourou = 21:02 UTC) and a press conference the next day in Paris.
LAUNCH = "Liftoff is scheduled for Monday, 4 May 2026 at 18:02 local time from Europe's Spaceport in Kourou."
CONFERENCE = (
    "A press conference will be held at ESA Headquarters, Paris, on 5 May 2026 from 10:00 to 11:00 CEST."
)
BRIEFING = "A media briefing will be held at ESTEC, Noordwijk, on 5 May 2026 at 15:00 CEST."
LAUNCH_START = datetime(2026, 5, 4, 21, 2, tzinfo=UTC)


def release(*paragraphs: str) -> Draft:
    text = "Satellite launch: call for media\n\nParis, 20 April 2026\n\n" + "\n\n".join(paragraphs) + "\n"
    return draft_from_source(text)


def by_kind(draft: Draft) -> dict[str, DraftEvent]:
    return {e.id: e for e in draft.events}


def warned(draft: Draft, *words: str) -> bool:
    return any(all(w.lower() in m.lower() for w in words) for m in draft.warnings)


# -- 1. a stream URL goes to the event its sentence (or paragraph) is about -----------------------


@pytest.mark.parametrize(
    ("paragraphs", "streamed"),
    [
        ((LAUNCH, CONFERENCE, f"The launch will be streamed live at {URL}."), {"launch"}),
        ((LAUNCH, CONFERENCE, f"Watch the launch live on {URL}."), {"launch"}),
        ((LAUNCH, CONFERENCE, f"Liftoff will be broadcast live on {URL}."), {"launch"}),
        ((LAUNCH, CONFERENCE, f"The press conference will be streamed at {URL}."), {"conference"}),
        ((LAUNCH, BRIEFING, f"The briefing will be webcast at {URL}."), {"briefing"}),
        # Another name for the same kind of event: a "news conference" read as the only briefing.
        ((LAUNCH, BRIEFING, f"The news conference will air live on {URL}."), {"briefing"}),
        # A later event word only qualifies the subject.
        ((LAUNCH, CONFERENCE, f"The press conference after the launch will be streamed at {URL}."),
         {"conference"}),
        # Two events joined as the subject: both.
        ((LAUNCH, CONFERENCE, f"The launch and the press conference will be streamed at {URL}."),
         {"launch", "conference"}),
        # No event word in the sentence: the event its paragraph is about.
        ((LAUNCH + f" Watch it live at {URL}.", CONFERENCE), {"launch"}),
        # One event only: "the event" is that one.
        ((LAUNCH, f"The event will be streamed at {URL}."), {"launch"}),
    ],
)  # fmt: skip
def test_stream_url_goes_to_the_event_its_sentence_is_about(
    paragraphs: tuple[str, ...], streamed: set[str]
) -> None:
    draft = release(*paragraphs)
    assert {e.id for e in draft.events if e.stream_url == URL} == streamed
    assert all(e.stream_url is None for e in draft.events if e.id not in streamed)
    assert not warned(draft, "not attributed")
    assert all(e.id != "livestream" for e in draft.events)


@pytest.mark.parametrize(
    "sentence",
    [
        f"The event will be streamed at {URL}.",
        f"Both will be webcast at {URL}.",
        f"A live stream will be available at {URL}.",
        f"Follow it live on {URL}.",
    ],
)
def test_a_stream_url_that_cannot_be_attributed_is_left_null_and_named(sentence: str) -> None:
    draft = release(LAUNCH, CONFERENCE, sentence)
    assert [e.id for e in draft.events] == ["launch", "conference"]
    assert all(e.stream_url is None for e in draft.events)
    assert warned(draft, URL, "not attributed", "'Liftoff'", "'Press conference'")
    assert "does not say which event" in draft.events[0].notes["stream_url"]


def test_a_stream_of_an_event_without_a_time_goes_nowhere() -> None:
    # The briefing is streamed, but the release gives the briefing no time: not the launch's stream.
    draft = release(LAUNCH, CONFERENCE, f"The briefing on Tuesday will be webcast at {URL}.")
    by = by_kind(draft)
    assert by["conference"].stream_url == URL  # "briefing" and "press conference": one family, one event
    draft = release(LAUNCH, f"The ministerial meeting will be webcast at {URL}.")
    assert draft.events[0].stream_url is None


# -- 2. a stream's start time: the covered event's date and zone, and not an event of its own -----


@pytest.mark.parametrize(
    ("paragraphs", "shown"),
    [
        # The conference's date (5 May) is nearer in the text; the sentence is about the launch.
        ((LAUNCH, CONFERENCE + f" The launch will be streamed live at {URL} starting at 17:30 local time."),
         "2026-05-04 17:30 America/Cayenne"),
        ((LAUNCH, CONFERENCE, f"Watch the launch live on {URL} from 21:30 CEST."),
         "2026-05-04 21:30 Europe/Paris"),
        # Written before the launch it is about.
        ((f"The launch will be webcast at {URL} from 17:15 local time.", LAUNCH, CONFERENCE),
         "2026-05-04 17:15 America/Cayenne"),
        ((LAUNCH, CONFERENCE, f"The press conference will be streamed at {URL} from 09:55 CEST."),
         "2026-05-05 09:55 Europe/Paris"),
        ((LAUNCH, BRIEFING, f"The briefing will be webcast at {URL} starting at 14:45."),
         "2026-05-05 14:45 Europe/Amsterdam"),  # the briefing's zone: CEST at Noordwijk
    ],
)  # fmt: skip
def test_a_stream_start_is_kept_on_the_event_it_belongs_to(paragraphs: tuple[str, ...], shown: str) -> None:
    draft = release(*paragraphs)
    assert all(e.id != "livestream" for e in draft.events)
    (event,) = [e for e in draft.events if e.stream_url == URL]
    assert "the stream starts at" in event.notes["stream_url"]
    assert shown in event.notes["stream_url"]
    parse_release(render_draft(draft, "test"))


@pytest.mark.parametrize(
    ("sentence", "start", "zone"),
    [
        ("Live coverage of the launch begins at 17:30 local time.", datetime(2026, 5, 4, 20, 30, tzinfo=UTC),
         "America/Cayenne"),
        ("Live coverage begins at 17:30 local time.", datetime(2026, 5, 4, 20, 30, tzinfo=UTC),
         "America/Cayenne"),
        (f"The launch webcast starts at 22:00 CEST on {URL}.", datetime(2026, 5, 4, 20, 0, tzinfo=UTC),
         "Europe/Paris"),
        ("ESA Web TV coverage of the launch begins at 17:00.", datetime(2026, 5, 4, 20, 0, tzinfo=UTC),
         "America/Cayenne"),
    ],
)  # fmt: skip
def test_a_stream_described_as_its_own_item_takes_the_date_and_zone_of_what_it_covers(
    sentence: str, start: datetime, zone: str
) -> None:
    # The conference sentence (5 May) sits in the same paragraph: its date must not be borrowed.
    draft = release(LAUNCH + " " + sentence, CONFERENCE)
    by = by_kind(draft)
    coverage = by["livestream"]
    assert (coverage.start, coverage.timezone) == (start, zone)
    assert "covers 'Liftoff'" in coverage.notes["title"]
    assert "which the sentence refers to" in coverage.notes["start"]
    assert warned(draft, "Livestream", "no date next to this time", "2026-05-04", "Liftoff")
    assert by["launch"].start == LAUNCH_START
    parse_release(render_draft(draft, "test"))


def test_a_stream_item_that_does_not_say_what_it_covers_is_flagged() -> None:
    draft = release(LAUNCH, CONFERENCE, f"The event will be streamed at {URL} from 09:00 CEST.")
    (stream,) = [e for e in draft.events if e.id == "livestream"]
    assert stream.stream_url == URL  # its own sentence
    assert stream.start == datetime(2026, 5, 5, 7, 0, tzinfo=UTC)  # the nearby paragraph's date, as noted
    assert "date from a nearby paragraph" in stream.notes["start"]
    assert warned(draft, URL, "not attributed", "'Liftoff'", "'Press conference'")
    assert all(e.stream_url is None for e in draft.events if e.id != "livestream")


# -- 3. a location ends before its date and time ------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "location"),
    [
        ("A press conference will be held at ESA Headquarters, 8-10 rue Mario Nikis, Paris, on 5 May 2026 "
         "from 10:00 to 11:00 CEST.", "ESA Headquarters, 8-10 rue Mario Nikis, Paris"),
        ("The briefing will be held in the Main Auditorium, ESTEC, Noordwijk, on Tuesday 12 May at "
         "14:00 CEST.",
         "Main Auditorium, ESTEC, Noordwijk"),
        ("The news conference will take place at the Kennedy Space Center Press Site, Florida, between 09:00 "
         "and 10:00 EDT on 12 May 2026.", "Kennedy Space Center Press Site, Florida"),
        ("The briefing will be hosted at ESOC, Darmstadt, 14 May 2026, 10:00 CEST.", "ESOC, Darmstadt"),
        ("The briefing takes place at St. Pancras Hall, London at 10:00 BST on 14 May 2026.",
         "St. Pancras Hall, London"),
        ("The briefing will be held at the Press Centre, Kourou, from 09:00 local time on 14 May 2026.",
         "Press Centre, Kourou"),
    ],
)  # fmt: skip
def test_a_location_phrase_ends_before_the_date_and_time(sentence: str, location: str) -> None:
    draft = release(sentence)
    (event,) = draft.events
    assert event.location == location
    assert event.start is not None


def test_a_labelled_location_is_trimmed_too() -> None:
    draft = release("The briefing starts at 10:00 CEST on 14 May 2026.", "Venue: ESOC, Darmstadt, on 14 May")
    (event,) = draft.events
    assert event.location == "ESOC, Darmstadt"
