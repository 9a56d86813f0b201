"""Table-driven tests for the date, clock and zone phrases real releases use."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from distrib import extract_time as xt

PUBLISHED = date(2020, 2, 24)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 March 2020", date(2020, 3, 12)),
        ("March 12, 2020", date(2020, 3, 12)),
        ("Thursday, 12 March", date(2020, 3, 12)),
        ("Thursday, March 12", date(2020, 3, 12)),
        ("12/03/2020", date(2020, 3, 12)),
        ("28/02/2020", date(2020, 2, 28)),
        ("12.03.2020", date(2020, 3, 12)),
        ("2020-03-12", date(2020, 3, 12)),
        ("Sept. 2", date(2020, 9, 2)),
        ("Sep 2", date(2020, 9, 2)),
        ("Feb. 24, 2020", date(2020, 2, 24)),
        ("the 3rd of June", date(2020, 6, 3)),
        ("1st April 2021", date(2021, 4, 1)),
        ("12 March", date(2020, 3, 12)),
        ("10 January", date(2021, 1, 10)),  # year missing: the next such date after publication
        ("24 February", date(2020, 2, 24)),  # on the publication day itself
        ("29 February", date(2020, 2, 29)),
        ("13–17 May 2019", date(2019, 5, 17)),
        ("DECEMBER 3, 2020", date(2020, 12, 3)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    found = xt.find_dates(text)
    assert len(found) == 1, found
    resolved = xt.resolve_date(found[0], PUBLISHED)
    assert resolved is not None
    assert resolved.day == expected


@pytest.mark.parametrize(
    "text",
    [
        "N° 5–2020",
        "4 Khoromny lane",
        "may 5 people",
        "22 Member States",
        "in 2016",
        "version 1.2.3",
        "March 2020",
    ],
)
def test_not_dates(text: str) -> None:
    assert [d for d in xt.find_dates(text) if not d.weekday_only] == []


def test_weekday_only_is_the_next_one_after_publication_and_flagged() -> None:
    (found,) = xt.find_dates("by 1 p.m. Tuesday")
    resolved = xt.resolve_date(found, PUBLISHED)
    assert resolved is not None
    assert resolved.day == date(2020, 2, 25)
    assert resolved.warning is not None
    assert "only a weekday" in resolved.warning


def test_weekday_on_publication_day_means_next_week() -> None:
    (found,) = xt.find_dates("Monday")
    resolved = xt.resolve_date(found, PUBLISHED)
    assert resolved is not None
    assert resolved.day == date(2020, 3, 2)


def test_year_missing_without_publication_cannot_be_completed() -> None:
    (found,) = xt.find_dates("12 March")
    assert xt.resolve_date(found, None) is None


def test_year_missing_is_noted() -> None:
    (found,) = xt.find_dates("Sept. 2")
    resolved = xt.resolve_date(found, PUBLISHED)
    assert resolved is not None
    assert resolved.note is not None
    assert "no year written" in resolved.note


def test_weekday_that_contradicts_the_date_is_flagged() -> None:
    (found,) = xt.find_dates("Friday, 12 March 2020")  # a Thursday
    resolved = xt.resolve_date(found, PUBLISHED)
    assert resolved is not None
    assert resolved.warning is not None
    assert "Thursday" in resolved.warning


@pytest.mark.parametrize(
    ("text", "order", "expected", "ambiguous"),
    [
        ("03/04/2020", "dmy", date(2020, 4, 3), True),
        ("03/04/2020", "mdy", date(2020, 3, 4), True),
        ("12/03/2020", "dmy", date(2020, 3, 12), True),
        ("28/02/2020", "dmy", date(2020, 2, 28), False),
        ("02/28/2020", "dmy", date(2020, 2, 28), True),  # only month-first works: said so
        ("05/05/2020", "dmy", date(2020, 5, 5), False),
    ],
)
def test_slash_dates_day_first_by_default_and_flagged(
    text: str, order: str, expected: date, ambiguous: bool
) -> None:
    (found,) = xt.find_dates(text, order)
    resolved = xt.resolve_date(found, PUBLISHED)
    assert resolved is not None
    assert resolved.day == expected
    assert (resolved.warning is not None) is ambiguous
    if ambiguous and order == "dmy" and text != "02/28/2020":
        assert resolved.warning is not None
        assert "day-first" in resolved.warning


def test_date_order_follows_the_release() -> None:
    assert xt.date_order("On March 12, 2020 and April 3, 2020 we meet; see 03/04/2020.") == "mdy"
    assert xt.date_order("On 12 March 2020 we meet.") == "dmy"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("14:00", (14, 0), None),
        ("14.00 CET", (14, 0), None),
        ("at 14.00", (14, 0), None),
        ("1400 hours", (14, 0), None),
        ("1400 GMT", (14, 0), None),
        ("2 p.m.", (14, 0), None),
        ("2pm", (14, 0), None),
        ("2:30 PM", (14, 30), None),
        ("9:15 a.m.", (9, 15), None),
        ("12 a.m.", (0, 0), None),
        ("12:30 p.m.", (12, 30), None),
        ("noon", (12, 0), None),
        ("midday", (12, 0), None),
        ("14h00", (14, 0), None),
        ("14:00–15:00", (14, 0), (15, 0)),
        ("14:00 - 15:00", (14, 0), (15, 0)),
        ("from 10:00 to 12:00", (10, 0), (12, 0)),
        ("between 10:00 and 11:30", (10, 0), (11, 30)),
        ("2–3 p.m.", (14, 0), (15, 0)),
        ("11 a.m.–1 p.m.", (11, 0), (13, 0)),
        ("10 a.m. to noon", (10, 0), (12, 0)),
        ("23:00–01:00", (23, 0), (1, 0)),
    ],
)
def test_clocks(text: str, start: tuple[int, int], end: tuple[int, int] | None) -> None:
    (clock,) = xt.find_clocks(text)
    assert (clock.hour, clock.minute) == start
    assert ((clock.end_hour, clock.end_minute) if clock.is_range else None) == end


@pytest.mark.parametrize(
    "text",
    ["costs 14.00 euros", "version 10.15 is out", "ratio 16:9x", "call 12.345", "in 2020", "3 to 4 people"],
)
def test_not_clocks(text: str) -> None:
    assert xt.find_clocks(text) == []


def test_midnight_is_flagged() -> None:
    (clock,) = xt.find_clocks("until midnight")
    assert clock.hour == 0
    assert clock.note is not None


def test_bare_early_hour_is_flagged_as_two_readings() -> None:
    (clock,) = xt.find_clocks("at 2:30 CET")
    assert clock.note is not None
    assert "14:30" in clock.note


def test_bare_hour_flagged_in_twelve_hour_releases() -> None:
    (clock,) = xt.find_clocks("at 9:30", twelve_hour_style=True)
    assert clock.note is not None
    (clock24,) = xt.find_clocks("at 09:30", twelve_hour_style=True)
    assert clock24.note is None


@pytest.mark.parametrize(
    ("text", "zone", "claimed"),
    [
        ("14:00 CET", "Europe/Paris", 60),
        ("14:00 CEST", "Europe/Paris", 120),
        ("14:00 GMT", "UTC", 0),
        ("14:00 UTC", "UTC", 0),
        ("14:00 BST", "Europe/London", 60),
        ("2 p.m. EST", "America/New_York", -300),
        ("2 p.m. EDT", "America/New_York", -240),
        ("2 p.m. ET", "America/New_York", None),
        ("11 a.m. PST", "America/Los_Angeles", -480),
        ("11 a.m. PDT", "America/Los_Angeles", -420),
        ("10:00 JST", "Asia/Tokyo", 540),
        ("14:00 MSK", "Europe/Moscow", 180),
        ("14:00 Moscow standard time", "Europe/Moscow", None),
        ("14:00 Moscow time", "Europe/Moscow", None),
        ("14:00 Paris time", "Europe/Paris", None),
        ("21:23 Kourou time", "America/Cayenne", None),
        ("14:00 Central European Time", "Europe/Paris", 60),
        ("2 p.m. Eastern Daylight Time", "America/New_York", -240),
        ("2 p.m. Eastern time", "America/New_York", None),
        ("14:00 Houston time", "America/Chicago", None),
        ("09:30 UTC+3", "Etc/GMT-3", 180),
        ("1100Z", "UTC", 0),
        ("14:00 (CET)", "Europe/Paris", 60),
    ],
)
def test_zones(text: str, zone: str, claimed: int | None) -> None:
    (clock,) = xt.find_clocks(text)
    assert clock.zone is not None
    assert clock.zone.name == zone
    assert clock.zone.claimed_offset == claimed


def test_local_time_waits_for_a_place() -> None:
    (clock,) = xt.find_clocks("21:23 local time")
    assert clock.zone is not None
    assert clock.zone.local
    assert clock.zone.resolve("America/Cayenne").name == "America/Cayenne"


def test_cet_in_a_german_place_keeps_the_german_zone() -> None:
    (clock,) = xt.find_clocks("10:00 CET")
    assert clock.zone is not None
    assert clock.zone.resolve("Europe/Berlin").name == "Europe/Berlin"
    assert clock.zone.resolve("Europe/Moscow").name == "Europe/Paris"  # Moscow never writes CET


def test_two_zones_for_one_instant_are_both_read() -> None:
    clocks = xt.find_clocks("Time: 14:00–15:00 Moscow standard time (12:00–13:00 CET)")
    assert [(c.hour, c.end_hour, c.zone.name if c.zone else None) for c in clocks] == [
        (14, 15, "Europe/Moscow"),
        (12, 13, "Europe/Paris"),
    ]


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Programme (all times CET)", "Europe/Paris"),
        ("All times are UTC.", "UTC"),
        ("Times are given in Moscow time.", "Europe/Moscow"),
        ("All times are local.", None),
    ],
)
def test_programme_zone(text: str, zone: str | None) -> None:
    found = xt.programme_zone(text)
    assert found is not None
    assert found[0].name == zone


def test_no_programme_zone_in_ordinary_prose() -> None:
    assert xt.programme_zone("At times the team met in Paris.") is None


@pytest.mark.parametrize(
    ("day", "clock", "zone", "utc"),
    [
        (date(2020, 3, 12), (14, 0), "Europe/Moscow", datetime(2020, 3, 12, 11, 0, tzinfo=UTC)),
        (date(2020, 3, 12), (12, 0), "Europe/Paris", datetime(2020, 3, 12, 11, 0, tzinfo=UTC)),
        (date(2020, 7, 12), (12, 0), "Europe/Paris", datetime(2020, 7, 12, 10, 0, tzinfo=UTC)),
        (date(2020, 7, 30), (14, 0), "America/New_York", datetime(2020, 7, 30, 18, 0, tzinfo=UTC)),
        (date(2021, 12, 2), (21, 23), "America/Cayenne", datetime(2021, 12, 3, 0, 23, tzinfo=UTC)),
    ],
)
def test_wall_to_utc_is_dst_correct(day: date, clock: tuple[int, int], zone: str, utc: datetime) -> None:
    assert xt.wall_to_utc(day, *clock, zone) == utc


def test_abbreviation_that_contradicts_its_date_is_flagged() -> None:
    (clock,) = xt.find_clocks("14:00 CEST")
    assert clock.zone is not None
    january = xt.wall_to_utc(date(2021, 1, 15), 14, 0, "Europe/Paris")
    message = xt.abbreviation_conflict(clock.zone, january)
    assert message is not None
    assert "CET" in message
    assert "kept the time as written" in message
    july = xt.wall_to_utc(date(2021, 7, 15), 14, 0, "Europe/Paris")
    assert xt.abbreviation_conflict(clock.zone, july) is None


def test_place_lookup() -> None:
    assert xt.place_zone("4 Khoromny lane, Moscow") == ("Moscow", "Europe/Moscow")
    assert xt.place_zone("ESOC, Darmstadt, Germany") == ("Darmstadt", "Europe/Berlin")
    assert xt.place_zone("somewhere nice") is None
