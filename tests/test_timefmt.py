"""Times in every zone of the release, with each zone's own abbreviation and the offset of that date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from distrib.timefmt import format_day, relative, when, when_day, zone_abbreviation

MOSCOW_PARIS = ("Europe/Moscow", "Europe/Paris")
START = datetime(2020, 3, 12, 11, tzinfo=UTC)
END = datetime(2020, 3, 12, 12, tzinfo=UTC)


def test_exomars_briefing() -> None:
    assert when(START, END, MOSCOW_PARIS, "en") == "Thu 12 March, 14:00–15:00 MSK (12:00–13:00 CET)"


def test_dates_are_localized_with_babel() -> None:
    assert when(START, END, MOSCOW_PARIS, "fr") == "jeu. 12 mars, 14:00–15:00 MSK (12:00–13:00 CET)"
    assert format_day(START, "Europe/Berlin", "de") == "Do., 12. März"
    assert format_day(START, "UTC", "en-US") == "Thu, March 12"


def test_year_shown_only_when_it_differs_from_the_post() -> None:
    assert "2020" not in when(START, END, MOSCOW_PARIS, reference=datetime(2020, 1, 1, tzinfo=UTC))
    assert "12 March 2020" in when(START, END, MOSCOW_PARIS, reference=datetime(2019, 12, 1, tzinfo=UTC))


def test_dst_night_in_paris() -> None:
    # 29 March 2026: Paris goes from CET (+1) to CEST (+2) at 01:00 UTC.
    before, after = datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert when(before, None, ("Europe/Paris",)) == "Sun 29 March, 01:30 CET"
    assert when(after, None, ("Europe/Paris",)) == "Sun 29 March, 03:30 CEST"
    assert (
        when(before, after, ("Europe/Paris", "UTC")) == "Sun 29 March, 01:30 CET–03:30 CEST (00:30–01:30 UTC)"
    )
    # Moscow stays at +3, so it is 2 hours ahead of Paris before the change and 1 hour after.
    assert when(after, None, ("Europe/Moscow", "Europe/Paris")) == "Sun 29 March, 04:30 MSK (03:30 CEST)"


def test_a_zone_on_another_date_shows_its_date() -> None:
    late = datetime(2020, 3, 12, 21, 30, tzinfo=UTC)
    assert when(late, late + timedelta(hours=1), MOSCOW_PARIS) == (
        "Fri 13 March, 00:30–01:30 MSK (Thu 12 March, 22:30–23:30 CET)"
    )


def test_numeric_zone_names_become_utc_offsets() -> None:
    assert zone_abbreviation(START, "Asia/Dubai") == "UTC+04"
    assert when(START, None, ("Asia/Dubai",)) == "Thu 12 March, 15:00 UTC+04"


def test_date_only_deadline() -> None:
    assert when_day(date(2020, 2, 28), "Europe/Paris") == "Fri 28 February (end of day, CET)"


@pytest.mark.parametrize(
    ("before", "words"),
    [
        (timedelta(minutes=10), "in 10 minutes"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(hours=3), "in 3 hours"),
        (timedelta(days=1), "tomorrow"),
        (timedelta(days=3), "in 3 days"),
        (timedelta(0), "now"),
    ],
)
def test_relative_phrases(before: timedelta, words: str) -> None:
    assert relative(START, START - before, zone="Europe/Moscow") == words


def test_relative_phrases_are_localized() -> None:
    assert relative(START, START - timedelta(days=1), zone="Europe/Paris", language="fr") == "demain"
    assert relative(START, START - timedelta(hours=3), zone="Europe/Paris", language="de") == "in 3 Stunden"


def test_date_only_deadline_counts_calendar_days_to_its_last_day() -> None:
    due = datetime(2020, 2, 28, 23, tzinfo=UTC)  # end of 28 February in Paris
    last = date(2020, 2, 28)
    assert relative(due, due - timedelta(days=1), zone="Europe/Paris", last_day=last) == "today"
    assert relative(due, due - timedelta(days=2), zone="Europe/Paris", last_day=last) == "tomorrow"
    assert relative(due, due - timedelta(hours=3), zone="Europe/Paris", last_day=last) == "in 3 hours"
