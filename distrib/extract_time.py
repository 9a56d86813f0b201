"""Dates, clock times and time zones in release prose -> aware datetimes; doubtful readings are flagged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# -- zones ---------------------------------------------------------------------------------------

# Abbreviation -> (IANA zone, the UTC offset in minutes the abbreviation claims, or None when it names
# a region's clock without saying whether summer time is on, like "ET").
ABBREVIATIONS: dict[str, tuple[str, int | None]] = {
    "UTC": ("UTC", 0),
    "GMT": ("UTC", 0),
    "UT": ("UTC", 0),
    "Z": ("UTC", 0),
    "CET": ("Europe/Paris", 60),
    "CEST": ("Europe/Paris", 120),
    "MEZ": ("Europe/Berlin", 60),
    "MESZ": ("Europe/Berlin", 120),
    "WET": ("Europe/Lisbon", 0),
    "WEST": ("Europe/Lisbon", 60),
    "EET": ("Europe/Athens", 120),
    "EEST": ("Europe/Athens", 180),
    "BST": ("Europe/London", 60),
    "MSK": ("Europe/Moscow", 180),
    "EST": ("America/New_York", -300),
    "EDT": ("America/New_York", -240),
    "ET": ("America/New_York", None),
    "CST": ("America/Chicago", -360),
    "CDT": ("America/Chicago", -300),
    "CT": ("America/Chicago", None),
    "MST": ("America/Denver", -420),
    "MDT": ("America/Denver", -360),
    "MT": ("America/Denver", None),
    "PST": ("America/Los_Angeles", -480),
    "PDT": ("America/Los_Angeles", -420),
    "PT": ("America/Los_Angeles", None),
    "GFT": ("America/Cayenne", -180),
    "JST": ("Asia/Tokyo", 540),
    "KST": ("Asia/Seoul", 540),
    "HKT": ("Asia/Hong_Kong", 480),
    "SGT": ("Asia/Singapore", 480),
    "AEST": ("Australia/Sydney", 600),
    "AEDT": ("Australia/Sydney", 660),
    "NZST": ("Pacific/Auckland", 720),
    "NZDT": ("Pacific/Auckland", 780),
}
# Abbreviations that only ever mean UTC: a known location never turns them into a local zone.
UTC_ABBREVIATIONS = frozenset({"UTC", "GMT", "UT", "Z"})

# Zone names written as words (lower case, single spaces) -> (IANA zone, claimed offset or None).
ZONE_WORDS: dict[str, tuple[str, int | None]] = {
    "coordinated universal time": ("UTC", 0),
    "universal time": ("UTC", 0),
    "greenwich mean time": ("UTC", 0),
    "central european summer time": ("Europe/Paris", 120),
    "central european standard time": ("Europe/Paris", 60),
    "central european time": ("Europe/Paris", 60),
    "western european summer time": ("Europe/Lisbon", 60),
    "western european time": ("Europe/Lisbon", 0),
    "eastern european summer time": ("Europe/Athens", 180),
    "eastern european time": ("Europe/Athens", 120),
    "british summer time": ("Europe/London", 60),
    "eastern daylight time": ("America/New_York", -240),
    "eastern standard time": ("America/New_York", -300),
    "eastern time": ("America/New_York", None),
    "central daylight time": ("America/Chicago", -300),
    "central standard time": ("America/Chicago", -360),
    "mountain daylight time": ("America/Denver", -360),
    "mountain standard time": ("America/Denver", -420),
    "mountain time": ("America/Denver", None),
    "pacific daylight time": ("America/Los_Angeles", -420),
    "pacific standard time": ("America/Los_Angeles", -480),
    "pacific time": ("America/Los_Angeles", None),
    "japan standard time": ("Asia/Tokyo", 540),
    "japanese standard time": ("Asia/Tokyo", 540),
    "japan time": ("Asia/Tokyo", None),
    "french guiana time": ("America/Cayenne", -180),
    "moscow standard time": ("Europe/Moscow", None),
    "moscow time": ("Europe/Moscow", None),
}

# Places a release names -> the IANA zone of their clocks; resolves "local time" and "<place> time".
KNOWN_PLACES: dict[str, str] = {
    "moscow": "Europe/Moscow", "star city": "Europe/Moscow", "korolev": "Europe/Moscow",
    "plesetsk": "Europe/Moscow", "baikonur": "Asia/Almaty", "vostochny": "Asia/Yakutsk",
    "paris": "Europe/Paris", "toulouse": "Europe/Paris", "les mureaux": "Europe/Paris",
    "kourou": "America/Cayenne", "french guiana": "America/Cayenne", "cayenne": "America/Cayenne",
    "europe's spaceport": "America/Cayenne", "guiana space centre": "America/Cayenne",
    "darmstadt": "Europe/Berlin", "cologne": "Europe/Berlin", "köln": "Europe/Berlin",
    "berlin": "Europe/Berlin", "bremen": "Europe/Berlin", "munich": "Europe/Berlin",
    "oberpfaffenhofen": "Europe/Berlin", "friedrichshafen": "Europe/Berlin",
    "noordwijk": "Europe/Amsterdam", "amsterdam": "Europe/Amsterdam", "leiden": "Europe/Amsterdam",
    "the hague": "Europe/Amsterdam", "frascati": "Europe/Rome", "rome": "Europe/Rome",
    "turin": "Europe/Rome", "milan": "Europe/Rome", "brussels": "Europe/Brussels",
    "redu": "Europe/Brussels", "madrid": "Europe/Madrid", "villanueva de la cañada": "Europe/Madrid",
    "harwell": "Europe/London", "london": "Europe/London", "stevenage": "Europe/London",
    "vienna": "Europe/Vienna", "stockholm": "Europe/Stockholm", "kiruna": "Europe/Stockholm",
    "lisbon": "Europe/Lisbon", "geneva": "Europe/Zurich", "zurich": "Europe/Zurich",
    "bern": "Europe/Zurich", "andøya": "Europe/Oslo", "athens": "Europe/Athens",
    "washington": "America/New_York", "new york": "America/New_York",
    "cape canaveral": "America/New_York", "kennedy space center": "America/New_York",
    "greenbelt": "America/New_York", "wallops": "America/New_York", "houston": "America/Chicago",
    "huntsville": "America/Chicago", "vandenberg": "America/Los_Angeles",
    "pasadena": "America/Los_Angeles", "los angeles": "America/Los_Angeles",
    "hawthorne": "America/Los_Angeles", "mojave": "America/Los_Angeles",
    "montreal": "America/Toronto", "ottawa": "America/Toronto", "toronto": "America/Toronto",
    "tokyo": "Asia/Tokyo", "tanegashima": "Asia/Tokyo", "tsukuba": "Asia/Tokyo",
    "beijing": "Asia/Shanghai", "jiuquan": "Asia/Shanghai", "wenchang": "Asia/Shanghai",
    "bengaluru": "Asia/Kolkata", "bangalore": "Asia/Kolkata", "sriharikota": "Asia/Kolkata",
    "sydney": "Australia/Sydney", "canberra": "Australia/Sydney", "mahia": "Pacific/Auckland",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone as a release wrote it."""

    text: str
    name: str | None  # IANA; None for "local time" until a place resolves it
    claimed_offset: int | None = None  # minutes east of UTC the writing asserts (CEST: 120)
    local: bool = False
    from_abbreviation: bool = False

    def resolve(self, place_zone: str | None) -> Zone:
        """'local time' takes the place's zone; CET/EST... take it when the place keeps that clock."""
        if self.local:
            return Zone(self.text, place_zone, None, local=True)
        if (
            place_zone
            and self.from_abbreviation
            and self.text not in UTC_ABBREVIATIONS
            and place_zone != self.name
            and self.text in zone_abbreviations(place_zone)
        ):
            return Zone(self.text, place_zone, self.claimed_offset, from_abbreviation=True)
        return self


def zone_abbreviations(name: str) -> set[str]:
    """The abbreviations a zone has used recently (winter and summer)."""
    tz = ZoneInfo(name)
    out = set()
    for year in (2015, 2020, 2025):
        for month in (1, 7):
            out.add(datetime(year, month, 15, 12, tzinfo=tz).tzname() or "")
    return out


def place_zone(text: str) -> tuple[str, str] | None:
    """The first known place named in `text` -> (place as written, IANA zone)."""
    best: tuple[int, str, str] | None = None
    lowered = text.lower()
    for place, zone in KNOWN_PLACES.items():
        match = re.search(rf"(?<![\w-]){re.escape(place)}(?![\w-])", lowered)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), text[match.start() : match.end()], zone)
    return (best[1], best[2]) if best else None


_ABBR_RE = "|".join(sorted((re.escape(a) for a in ABBREVIATIONS if a != "Z"), key=len, reverse=True))
_ZONE_ABBR = re.compile(
    rf"(?P<abbr>{_ABBR_RE})(?![\w])(?:\s*(?P<sign>[+-])\s*(?P<oh>\d{{1,2}})(?::?(?P<om>\d{{2}}))?)?"
)
_ZONE_WORD = re.compile(
    r"(?P<words>(?:(?:coordinated\s+)?universal|greenwich\s+mean|(?:central|eastern|western)\s+european"
    r"(?:\s+(?:summer|standard))?|british\s+summer|(?:eastern|central|mountain|pacific)"
    r"(?:\s+(?:daylight|standard))?|japan(?:ese)?(?:\s+standard)?|french\s+guiana|moscow(?:\s+standard)?)"
    r"\s+time)\b",
    re.IGNORECASE,
)
_PLACE_TIME = re.compile(
    r"(?P<place>[A-ZÀ-Ý][\w'’-]+(?:\s+[A-ZÀ-Ý][\w'’-]+)?)\s+(?:(?:local|standard|summer)\s+)?time\b"
)
_LOCAL_TIME = re.compile(r"local\s+time\b", re.IGNORECASE)


def zone_at(text: str, pos: int) -> tuple[Zone, int] | None:
    """A zone written right at `pos` (after optional spaces/brackets) -> (zone, end position)."""
    lead = re.compile(r"[ \t]*(?:\(\s*)?").match(text, pos)
    start = lead.end() if lead else pos
    m = _ZONE_ABBR.match(text, start)
    if m:
        abbr = m["abbr"]
        name, claimed = ABBREVIATIONS[abbr]
        if m["sign"] and abbr in ("UTC", "GMT"):
            minutes = int(m["oh"]) * 60 + int(m["om"] or 0)
            minutes = -minutes if m["sign"] == "-" else minutes
            return Zone(m.group(0), fixed_offset_zone(minutes), minutes), m.end()
        return Zone(abbr, name, claimed, from_abbreviation=True), m.start() + len(abbr)
    m = _ZONE_WORD.match(text, start)
    if m:
        key = " ".join(m["words"].lower().split())
        if key in ZONE_WORDS:
            name, claimed = ZONE_WORDS[key]
            return Zone(m["words"], name, claimed), m.end()
    m = _LOCAL_TIME.match(text, start)
    if m:
        return Zone(m.group(0), None, None, local=True), m.end()
    m = _PLACE_TIME.match(text, start)
    if m:
        found = place_zone(m["place"])
        if found and found[0].lower() == m["place"].lower():
            return Zone(m.group(0), found[1]), m.end()
    return None


def fixed_offset_zone(minutes: int) -> str:
    """UTC+3 -> Etc/GMT-3 (POSIX signs are inverted); half hours have no Etc zone, so UTC is kept."""
    if minutes % 60:
        return "UTC"
    hours = minutes // 60
    return "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


_PROGRAMME_ZONE = re.compile(
    r"\b(?:all\s+times|times)\s+(?:(?:are|is|given|shown|listed|quoted|stated|indicated)\s+)*(?:in\s+)?",
    re.IGNORECASE,
)


def programme_zone(text: str) -> tuple[Zone, int, int] | None:
    """'(all times CET)', 'All times are local', 'Times are given in UTC' -> (zone, start, end)."""
    for m in _PROGRAMME_ZONE.finditer(text):
        if m.group(0).lower().startswith("times") and not re.search(r"\b(are|is|given|in)\b", m.group(0)):
            continue
        found = zone_at(text, m.end())
        if found is None and re.match(r"local\b", text[m.end() :], re.IGNORECASE):
            found = Zone("local time", None, None, local=True), m.end() + 5
        if found:
            return found[0], m.start(), found[1]
    return None


# -- dates ---------------------------------------------------------------------------------------

MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)"
    r"(?![a-z])\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_RANGE = r"\s*(?:[–—-]|to|and|until|till)\s*"
_DATE = re.compile(
    rf"""
    (?:(?P<wd>{_WEEKDAY}),?\s+(?:the\s+)?)?
    (?:
      (?P<iy>\d{{4}})-(?P<im>\d{{2}})-(?P<id>\d{{2}})(?![\d])
    | (?<![\d./:])(?P<na>\d{{1,2}})(?P<ns>[/.])(?P<nb>\d{{1,2}})(?P=ns)(?P<ny>\d{{4}}|\d{{2}})(?![\d/]|\.\d)
    | (?<![\d:.,])(?:(?P<d0>\d{{1,2}}){_ORD}{_RANGE})?(?P<d>\d{{1,2}}){_ORD}(?:\s+of)?\s+(?P<m>{_MONTH})
        (?:,?\s+(?P<y>\d{{4}})(?![\d:]))?
    | (?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}}){_ORD}(?![\d:]|\.\d)
        (?:{_RANGE}(?P<d3>\d{{1,2}}){_ORD}(?![\d:]|\.\d))?
        (?:,?\s+(?P<y2>\d{{4}})(?![\d:]))?
    )
    | (?P<wo>monday|tuesday|wednesday|thursday|friday|saturday|sunday)(?![a-z])
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date as written; fields the writing left out are None."""

    start: int
    end: int
    text: str
    year: int | None
    month: int | None
    day: int | None
    weekday: int | None = None
    first_day: int | None = None  # "12–14 March": 12 (the range's first day; `day` is the last)
    order_note: str | None = None  # how a numeric date's day/month order was chosen, when it was a choice
    weekday_only: bool = False


def _cap(word: str) -> bool:
    return word[:1].isupper()


def find_dates(text: str, order: str = "dmy") -> list[DateMention]:
    """Every date in `text`. `order` ('dmy' or 'mdy') reads numeric dates such as 03/04/2020."""
    out: list[DateMention] = []
    for m in _DATE.finditer(text):
        wd = WEEKDAYS.get(m["wd"].lower().rstrip(".")) if m["wd"] else None
        if m["wd"] and not _cap(m["wd"]):
            wd = None
        span = m.start(), m.end(), m.group(0)
        if m["iy"]:
            out.append(DateMention(*span, int(m["iy"]), int(m["im"]), int(m["id"]), wd))
        elif m["na"]:
            a, b = int(m["na"]), int(m["nb"])
            year = int(m["ny"]) + (2000 if len(m["ny"]) == 2 else 0)
            note = None
            if a > 12 >= b:
                day, month = a, b
            elif b > 12 >= a:
                day, month = b, a
                if order == "dmy":
                    note = f"'{m.group(0).strip()}' read month-first ({b} cannot be a month)"
            elif order == "mdy":
                day, month = b, a
                if a != b:
                    note = (
                        f"'{m.group(0).strip()}' could be {a} {_month_name(b)} or {_month_name(a)} {b}; "
                        f"read month-first ({_month_name(a)} {b}) as the release writes month-first dates"
                    )
            else:
                day, month = a, b
                if a != b:
                    note = (
                        f"'{m.group(0).strip()}' could be {a} {_month_name(b)} or {_month_name(a)} {b}; "
                        f"read day-first ({a} {_month_name(b)}), the European order"
                    )
            out.append(DateMention(*span, year, month, day, wd, None, note))
        elif m["m"]:
            if not _cap(m["m"]):
                continue
            out.append(
                DateMention(
                    *span,
                    int(m["y"]) if m["y"] else None,
                    MONTHS[m["m"].lower().rstrip(".")],
                    int(m["d"]),
                    wd,
                    int(m["d0"]) if m["d0"] else None,
                )
            )
        elif m["m2"]:
            if not _cap(m["m2"]):
                continue
            first = int(m["d2"])
            last = int(m["d3"]) if m["d3"] else None
            out.append(
                DateMention(
                    *span,
                    int(m["y2"]) if m["y2"] else None,
                    MONTHS[m["m2"].lower().rstrip(".")],
                    last if last is not None else first,
                    wd,
                    first if last is not None else None,
                )
            )
        elif m["wo"] and _cap(m["wo"]):
            start = m.start("wo")
            out.append(
                DateMention(
                    start, m.end(), m["wo"], None, None, None, WEEKDAYS[m["wo"].lower()], weekday_only=True
                )
            )
    return [d for d in out if d.weekday_only or _valid_day(d)]


def _valid_day(d: DateMention) -> bool:
    if d.month is None or d.day is None or not 1 <= d.month <= 12 or not 1 <= d.day <= 31:
        return False
    if d.first_day is not None and not 1 <= d.first_day <= d.day:
        return False
    try:
        date(d.year or 2000, d.month, d.day)  # 2000 is a leap year: 29 February stays possible
    except ValueError:
        return False
    return True


def _month_name(month: int) -> str:
    return date(2000, month, 1).strftime("%B") if 1 <= month <= 12 else str(month)


def date_order(text: str) -> str:
    """'mdy' when the release writes 'March 12' more often than '12 March', else 'dmy'."""
    dmy = mdy = 0
    for d in find_dates(text):
        if d.weekday_only or d.order_note is not None:
            continue
        written = d.text.lower()
        if re.search(r"\b\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+[a-z]", written):
            dmy += 1
        elif re.search(r"[a-z]\.?\s+\d", written):
            mdy += 1
    return "mdy" if mdy > dmy else "dmy"


@dataclass(frozen=True, slots=True)
class ResolvedDate:
    day: date
    first_day: date | None = None
    note: str | None = None  # how the date was completed (year inferred...), for the comment
    warning: str | None = None  # something a person must check


def resolve_date(mention: DateMention, published: date | None) -> ResolvedDate | None:
    """Complete a mention with the publication date: a missing year or a bare weekday is the next such
    date after publication. None when it cannot be completed without guessing."""
    if mention.weekday_only:
        assert mention.weekday is not None
        if published is None:
            return None
        ahead = (mention.weekday - published.weekday()) % 7 or 7
        day = published + timedelta(days=ahead)
        return ResolvedDate(
            day,
            warning=(
                f"'{mention.text}' gives only a weekday; took the next {WEEKDAY_NAMES[mention.weekday]} "
                f"after publication ({day.isoformat()}); check it"
            ),
        )
    assert mention.month is not None
    assert mention.day is not None
    note = mention.order_note
    warning = note
    if mention.year is not None:
        try:
            day = date(mention.year, mention.month, mention.day)
        except ValueError:
            return None
    else:
        if published is None:
            return None
        day = _next_date_on_or_after(published, mention.month, mention.day)
        note = f"no year written; took {day.year}, the next {day:%d %B} on or after publication"
    first = day.replace(day=mention.first_day) if mention.first_day else None
    if mention.weekday is not None and day.weekday() != mention.weekday:
        warning = _join(
            warning,
            f"'{mention.text.strip()}': {day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}, "
            f"not a {WEEKDAY_NAMES[mention.weekday]}; check the date",
        )
    return ResolvedDate(day, first, note, warning)


def _next_date_on_or_after(after: date, month: int, day: int) -> date:
    for year in range(after.year, after.year + 8):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= after:
            return candidate
    raise ValueError(f"no {month}-{day} after {after}")


def _join(a: str | None, b: str) -> str:
    return f"{a}; {b}" if a else b


# -- clocks --------------------------------------------------------------------------------------

_AP = r"(?P<{n}>[ap])\.?\s?m(?![a-z])\.?"
_CLOCK = re.compile(
    rf"""
      (?P<word>noon|midday|midnight)(?![a-z])
    | (?<![\d.:])(?P<h1>\d{{1,2}})(?:[:.h](?P<m1>[0-5]\d))?\s*{_AP.format(n="ap1")}
    | (?<![\d.:])(?P<h2>[01]?\d|2[0-4])(?P<sep>[:h])(?P<m2>[0-5]\d)(?![\d:])
    | (?<![\d.:/])(?P<h3>[01]?\d|2[0-3])\.(?P<m3>[0-5]\d)(?![\d.,]\d|\d)
    | (?<![\d.:])(?P<h4>[01]\d|2[0-3])(?P<m4>[0-5]\d)\s*(?P<unit>hours|hrs|hr|h)(?![a-z])
    | (?<![\d.:])(?P<h5>[01]\d|2[0-3])(?P<m5>[0-5]\d)(?=\s*(?:UTC|GMT|Z)\b|Z)
    | (?<![\d.:])(?P<h6>\d{{1,2}})(?::(?P<m6>[0-5]\d))?
        (?=\s*(?:[–—-]|to)\s*\d{{1,2}}(?:[:.]\d{{2}})?\s*[ap]\.?\s?m(?![a-z]))
    """,
    re.IGNORECASE | re.VERBOSE,
)
_RANGE_JOIN = re.compile(r"^\s*(?:[–—-]+|to|until|till|and|through)\s*$", re.IGNORECASE)
_DOT_CONTEXT_BEFORE = re.compile(
    r"(?:\b(?:at|from|to|until|till|by|between|and|time|starts?|begins?|opens?)\s*:?|[–—-])\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Clock:
    """A time of day, or a range, as written, with the zone written next to it."""

    start: int
    end: int
    text: str
    hour: int
    minute: int
    end_hour: int | None = None
    end_minute: int | None = None
    zone: Zone | None = None
    note: str | None = None  # a second reading the writing allows

    @property
    def is_range(self) -> bool:
        return self.end_hour is not None


@dataclass(frozen=True, slots=True)
class _Tok:
    start: int
    end: int
    hour: int
    minute: int
    ampm: str | None
    bare: bool  # an hour waiting for the a.m./p.m. of the range end ("2–3 p.m.")
    note: str | None


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _CLOCK.finditer(text):
        note = None
        if m["word"]:
            word = m["word"].lower()
            hour = 0 if word == "midnight" else 12
            if word == "midnight":
                note = "'midnight' read as 00:00 at the start of the day; check it is not the end of the day"
            toks.append(_Tok(m.start(), m.end(), hour, 0, None, False, note))
        elif m["h1"]:
            hour, minute, ap = int(m["h1"]), int(m["m1"] or 0), m["ap1"].lower()
            if not 1 <= hour <= 12:
                continue
            toks.append(
                _Tok(m.start(), m.end(), hour % 12 + (12 if ap == "p" else 0), minute, ap, False, None)
            )
        elif m["h2"]:
            hour, minute = int(m["h2"]), int(m["m2"])
            if hour == 24 and minute:
                continue
            toks.append(_Tok(m.start(), m.end(), hour % 24, minute, None, False, None))
        elif m["h3"]:
            after = text[m.end() : m.end() + 12]
            if not (
                _DOT_CONTEXT_BEFORE.search(text[max(0, m.start() - 14) : m.start()])
                or re.match(r"\s*(?:[–—-]\s*\d|to\s+\d|h\b|hrs?\b|hours\b)", after, re.IGNORECASE)
                or zone_at(text, m.end()) is not None
            ):
                continue  # "14.00" is a clock only where a clock is expected, not a price or a version
            toks.append(_Tok(m.start(), m.end(), int(m["h3"]), int(m["m3"]), None, False, None))
        elif m["h4"]:
            toks.append(_Tok(m.start(), m.end(), int(m["h4"]), int(m["m4"]), None, False, None))
        elif m["h5"]:
            toks.append(_Tok(m.start(), m.end(), int(m["h5"]), int(m["m5"]), None, False, None))
        elif m["h6"]:
            hour = int(m["h6"])
            if 1 <= hour <= 12:
                toks.append(_Tok(m.start(), m.end(), hour, int(m["m6"] or 0), None, True, None))
    return toks


def find_clocks(text: str, *, twelve_hour_style: bool = False) -> list[Clock]:
    """Every clock time or range in `text`, each with the zone written right after it (if any).

    `twelve_hour_style`: the release writes a.m./p.m. elsewhere, so a bare '2:30' could be either.
    """
    toks = _tokens(text)
    clocks: list[Clock] = []
    i = 0
    while i < len(toks):
        a = toks[i]
        b = toks[i + 1] if i + 1 < len(toks) else None
        between = text[a.end : b.start] if b else ""
        if b is not None and _RANGE_JOIN.match(between):
            if between.strip().lower() == "and" and not re.search(
                r"between\s*$", text[max(0, a.start - 9) : a.start], re.IGNORECASE
            ):
                b = None
        else:
            b = None
        if b is None and a.bare:
            i += 1
            continue
        start_h, start_m = a.hour, a.minute
        if b is not None and a.bare and b.ampm:
            # "2–3 p.m.": the start shares the end's half of the day unless that would end before it starts.
            start_h = a.hour % 12 + (12 if b.ampm == "p" else 0)
            if (start_h, start_m) > (b.hour, b.minute) and b.ampm == "p":
                start_h = a.hour % 12
        last = b or a
        zone_found = zone_at(text, last.end)
        if zone_found is None and re.match(r"Z\b", text[last.end : last.end + 2]):
            zone_found = Zone("Z", "UTC", 0, from_abbreviation=True), last.end + 1
        end_pos = zone_found[1] if zone_found else last.end
        notes = [t.note for t in (a, b) if t is not None and t.note]
        for t in (a, b):
            if t is None or t.ampm or t.bare or t.note:
                continue
            written = text[t.start : t.end]
            if re.match(r"[1-9][:.h]\d\d$", written) and (twelve_hour_style or 1 <= t.hour <= 7):
                notes.append(
                    f"'{written}' has no a.m./p.m.; read as {t.hour:02d}:{t.minute:02d} on a 24-hour clock "
                    f"(it could be {t.hour + 12:02d}:{t.minute:02d})"
                )
        clocks.append(
            Clock(
                a.start,
                end_pos,
                text[a.start : end_pos],
                start_h,
                start_m,
                b.hour if b else None,
                b.minute if b else None,
                zone_found[0] if zone_found else None,
                "; ".join(notes) or None,
            )
        )
        i += 2 if b is not None else 1
    return clocks


# -- instants ------------------------------------------------------------------------------------


def wall_to_utc(day: date, hour: int, minute: int, zone: str) -> datetime:
    """A wall-clock time in an IANA zone -> aware UTC (zoneinfo: DST-correct for that date)."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def offset_minutes(moment: datetime, zone: str) -> int:
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def fmt_offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")


def abbreviation_conflict(zone: Zone, moment: datetime) -> str | None:
    """'CEST' on a January date: the zone's clock then is CET. None when the writing fits the date."""
    if zone.claimed_offset is None or zone.name is None:
        return None
    actual = offset_minutes(moment, zone.name)
    if actual == zone.claimed_offset:
        return None
    local = moment.astimezone(ZoneInfo(zone.name))
    return (
        f"'{zone.text}' means {fmt_offset(zone.claimed_offset)}, but on {local.date().isoformat()} "
        f"{zone.name} is on {local.tzname()} ({fmt_offset(actual)}); kept the time as written "
        f"({local:%H:%M} {zone.name}); check it"
    )
