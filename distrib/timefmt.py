"""Show UTC instants in IANA zones with the zone's own abbreviation and the offset of that date."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from distrib.models import utc


def zone_abbreviation(moment: datetime, zone: str) -> str:
    """MSK, CET, CEST...; zones without letters (e.g. Asia/Dubai '+04') become 'UTC+04'."""
    name = utc(moment).astimezone(ZoneInfo(zone)).tzname() or zone
    if name[:1] in "+-":
        return f"UTC{name}"
    return name


def local(moment: datetime, zone: str) -> datetime:
    return utc(moment).astimezone(ZoneInfo(zone))


def stamp(moment: datetime, zone: str) -> str:
    """'2020-03-12 14:00 MSK' — the date is the local date in that zone."""
    return f"{local(moment, zone):%Y-%m-%d %H:%M} {zone_abbreviation(moment, zone)}"


def stamp_utc(moment: datetime) -> str:
    return f"{utc(moment):%Y-%m-%d %H:%M} UTC"


def stamps(moment: datetime, zones: tuple[str, ...] | list[str]) -> str:
    """'2020-03-12 11:00 UTC, 2020-03-12 14:00 MSK, 2020-03-12 12:00 CET'."""
    return ", ".join([stamp_utc(moment), *(stamp(moment, z) for z in zones)])


# -- localized text for posts (Babel is imported lazily: `distrib check` must not pay for it) ----------

# CLDR's relative day names ("tomorrow") are not exposed by Babel; these cover the languages our
# press offices publish in, and any other language falls back to Babel's "in 1 day".
_TODAY_TOMORROW = {
    "en": ("today", "tomorrow"),
    "fr": ("aujourd’hui", "demain"),
    "de": ("heute", "morgen"),
    "es": ("hoy", "mañana"),
    "it": ("oggi", "domani"),
    "pt": ("hoje", "amanhã"),
    "nl": ("vandaag", "morgen"),
    "ru": ("сегодня", "завтра"),
}
_NOW_WORD = {"en": "now", "fr": "maintenant", "de": "jetzt", "es": "ahora", "it": "ora", "ru": "сейчас"}


def babel_locale(language: str) -> Any:
    """The Babel locale for a release language; a bare 'en' is British English (12 March, 14:00),
    the usage of European press offices; 'en-US' gives March 12. Unknown languages fall back to it."""
    from babel import Locale, UnknownLocaleError

    tag = "en_GB" if language.lower() == "en" else language.replace("-", "_")
    try:
        return Locale.parse(tag)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_GB")


def format_day(moment: datetime, zone: str, language: str, *, with_year: bool = False) -> str:
    """'Thu 12 March' (localized; the date in that zone), with the year when asked."""
    from babel.dates import format_date, match_skeleton

    loc = babel_locale(language)
    skeleton = match_skeleton("yMMMEd" if with_year else "MMMEd", loc.datetime_skeletons) or "MMMEd"
    pattern = loc.datetime_skeletons[skeleton].pattern
    # CLDR ships no full-month-name skeleton with weekday; widening MMM to MMMM is the adjustment
    # its skeleton matching prescribes ('12 March', not '12 Mar').
    pattern = re.sub(r"(?<![ML])([ML])\1\1(?![ML])", r"\1\1\1\1", pattern)
    return str(format_date(local(moment, zone).date(), pattern, locale=loc))


def format_clock(moment: datetime, zone: str, language: str) -> str:
    """'14:00': the 24-hour clock in that zone, as the release language writes it."""
    from babel.dates import format_skeleton

    return str(format_skeleton("Hm", local(moment, zone).replace(tzinfo=None), locale=babel_locale(language)))


def _one_zone(
    start: datetime, end: datetime | None, zone: str, language: str, lead_day: date | None, year: bool
) -> str:
    s, s_abbr = local(start, zone), zone_abbreviation(start, zone)
    day = format_day(start, zone, language, with_year=year)
    clock = format_clock(start, zone, language)
    if end is None:
        core = f"{clock} {s_abbr}"
    else:
        e, e_abbr = local(end, zone), zone_abbreviation(end, zone)
        end_clock = format_clock(end, zone, language)
        if e.date() != s.date():
            end_day = format_day(end, zone, language, with_year=year)
            first = f"{clock} {s_abbr} " if e_abbr != s_abbr else f"{clock} "
            core = f"{first}– {end_day}, {end_clock} {e_abbr}"
        elif e_abbr != s_abbr:  # the clocks change during the event
            core = f"{clock} {s_abbr}–{end_clock} {e_abbr}"
        else:
            core = f"{clock}–{end_clock} {s_abbr}"
    if lead_day is not None and s.date() == lead_day:
        return core
    return f"{day}, {core}"


def when(
    start: datetime,
    end: datetime | None,
    zones: Sequence[str],
    language: str = "en",
    *,
    reference: datetime | None = None,
) -> str:
    """'Thu 12 March, 14:00–15:00 MSK (12:00–13:00 CET)': the first zone leads, the others follow in
    parentheses, each with its own abbreviation and the offset of that date; a zone whose date
    differs from the leading one shows its date too. The year appears when it is not the year of
    `reference` (the moment the post goes out)."""
    if not zones:
        zones = ("UTC",)
    lead = zones[0]
    year = reference is not None and local(start, lead).year != local(reference, lead).year
    first = _one_zone(start, end, lead, language, None, year)
    lead_day = local(start, lead).date()
    others: list[str] = []
    for zone in zones[1:]:
        text = _one_zone(start, end, zone, language, lead_day, year)
        if text not in others and text != first:
            others.append(text)
    return f"{first} ({'; '.join(others)})" if others else first


def when_day(day: date, zone: str, language: str = "en", *, reference: datetime | None = None) -> str:
    """'Fri 28 February (end of day, CET)': a date-only deadline, which ends at midnight in its zone."""
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(zone))
    year = reference is not None and day.year != local(reference, zone).year
    day_text = format_day(moment, zone, language, with_year=year)
    return f"{day_text} (end of day, {zone_abbreviation(moment, zone)})"


def relative(
    target: datetime,
    sent: datetime,
    *,
    zone: str,
    language: str = "en",
    last_day: date | None = None,
) -> str:
    """How long from `sent` until `target`, in words: 'in 10 minutes', 'in 3 hours', 'today',
    'tomorrow', 'in 3 days'. Days are counted on the calendar of `zone` (a reader's 'tomorrow'),
    and for a date-only deadline up to its `last_day`. Computed from the planned send time, so the
    preview says exactly what goes out."""
    from babel.dates import format_timedelta

    loc = babel_locale(language)
    delta = utc(target) - utc(sent)
    words = _TODAY_TOMORROW.get(loc.language)
    if delta <= timedelta(0):
        return _NOW_WORD.get(loc.language, str(format_timedelta(timedelta(0), locale=loc)))
    if delta < timedelta(hours=20) and last_day is None:
        return str(format_timedelta(delta, add_direction=True, locale=loc))
    sent_day = local(sent, zone).date()
    target_day = last_day if last_day is not None else local(target, zone).date()
    days = (target_day - sent_day).days
    if delta < timedelta(hours=20) and days <= 0:
        return str(format_timedelta(delta, add_direction=True, locale=loc))
    if words and days <= 1:
        return words[max(days, 0)]
    return str(format_timedelta(timedelta(days=max(days, 1)), add_direction=True, locale=loc))
