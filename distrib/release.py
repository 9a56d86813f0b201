"""Parse and validate release files (Markdown with YAML front matter) into Release objects.

Every problem is collected, not just the first, so a comms officer fixes a file in one pass;
each names the file, the line and the field. Only safe YAML is read: anchors, aliases and tags
are refused before anything is built, so an alias bomb never expands.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from distrib.errors import Problem, ReleaseError
from distrib.models import Contact, Deadline, Event, Media, Release

MAX_FILE_BYTES = 1_000_000
KNOWN_CHANNELS = ("x", "telegram", "mastodon", "bluesky", "webhook", "email", "outbox-dir")

TOP_KEYS = (
    "id", "title", "reference", "published", "timezone", "show_timezones", "language", "url",
    "summary", "handles", "hashtags", "events", "deadlines", "contacts", "channels", "image", "media",
)  # fmt: skip
EVENT_KEYS = (
    "id",
    "title",
    "start",
    "end",
    "timezone",
    "location",
    "stream_url",
    "url",
    "description",
)
DEADLINE_KEYS = ("id", "title", "due", "timezone", "how", "event", "url")
CONTACT_KEYS = ("name", "role", "phone", "email")
MEDIA_KEYS = ("url", "type", "title", "length")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d{1,2}-\d{1,2})(?:[T ]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)"
    r"\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?)?$"
)
_HANDLE = re.compile(r"^@[\w.-]+(?:@[\w.-]+)?$")
_HASHTAG = re.compile(r"^#\w+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class _Val:
    """A YAML value with the line it was written on (1-based, in the whole file)."""

    value: Any  # str | None | bool | int | list[_Val] | dict[str, _Val]
    line: int
    key_lines: dict[str, int] | None = None


def load_release(path: str | Path) -> Release:
    """Read and parse one release file; raises ReleaseError listing every problem."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReleaseError([Problem(name, 0, "file", exc.strerror or str(exc))]) from exc
    return parse_release(data, name)


def parse_release(data: bytes | str, source: str = "<release>") -> Release:
    """Parse release text (bytes are checked for size and UTF-8 first)."""
    problems = _Problems(source)
    text = _decode(data, problems)
    if text is None:
        raise ReleaseError(problems.items)
    split = _split_front_matter(text, problems)
    if split is None:
        raise ReleaseError(problems.items)
    yaml_text, first_line, body = split
    root = _load_yaml(yaml_text, first_line, problems)
    if root is None:
        raise ReleaseError(problems.items)
    release = _build(root, body, problems)
    if problems.items or release is None:
        raise ReleaseError(problems.items)
    return release


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Problem] = []

    def add(self, line: int, field: str, message: str) -> None:
        self.items.append(Problem(self.source, line, field, message))


def _decode(data: bytes | str, problems: _Problems) -> str | None:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_FILE_BYTES:
        problems.add(1, "file", f"is {len(raw):,} bytes; a release file may be at most 1 MB")
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.add(line, "file", f"is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8")
        return None


def _split_front_matter(text: str, problems: _Problems) -> tuple[str, int, str] | None:
    # Split on newlines only: str.splitlines() would also break at U+000B, U+2028... and shift lines.
    lines = [piece for piece in re.split(r"(?<=\n)", text) if piece]
    if not lines or lines[0].strip() != "---":
        problems.add(1, "file", "must start with a '---' line opening the YAML front matter")
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") in ("---", "..."):
            return "".join(lines[1:index]), 2, "".join(lines[index + 1 :]).strip("\n")
    problems.add(len(lines), "file", "the front matter is never closed by a '---' line")
    return None


def _load_yaml(yaml_text: str, first_line: int, problems: _Problems) -> _Val | None:
    # YAML's reader refuses control characters with an offset, not a line: find them ourselves.
    bad_lines = False
    for number, source_line in enumerate(yaml_text.split("\n"), start=first_line):
        control = _CONTROL.search(source_line)
        if control:
            key = source_line.split(":", 1)[0].strip(" -{") if ":" in source_line else "yaml"
            problems.add(
                number, key or "yaml", f"contains a control character (U+{ord(control.group(0)):04X})"
            )
            bad_lines = True
    if bad_lines:
        return None
    # Refuse anchors, aliases and tags at the token level: nothing is composed, so no bomb expands
    # and no tag reaches a constructor.
    try:
        for token in yaml.scan(yaml_text, Loader=yaml.SafeLoader):
            line = token.start_mark.line + first_line
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                problems.add(line, "yaml", "anchors and aliases (&, *) are not allowed in release files")
                return None
            if isinstance(token, yaml.TagToken):
                problems.add(line, "yaml", "YAML tags (!...) are not allowed in release files")
                return None
        node = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line if mark else 0) + first_line
        problems.add(line, "yaml", f"{exc.problem or exc.context or 'cannot be read'}")
        return None
    except yaml.YAMLError as exc:
        problems.add(first_line, "yaml", str(exc))
        return None
    if node is None:
        problems.add(first_line, "file", "the front matter is empty")
        return None
    return _convert(node, first_line, problems)


def _convert(node: yaml.Node, first_line: int, problems: _Problems) -> _Val:
    line = node.start_mark.line + first_line
    if isinstance(node, yaml.MappingNode):
        values: dict[str, _Val] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_line = key_node.start_mark.line + first_line
            if key in values:
                problems.add(key_line, key, f"is given twice (first on line {key_lines[key]})")
                continue
            key_lines[key] = key_line
            values[key] = _convert(value_node, first_line, problems)
        return _Val(values, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Val([_convert(item, first_line, problems) for item in node.value], line)
    # Scalars stay text (dates included) so we parse them ourselves; only null, bools and ints resolve.
    tag = node.tag.rsplit(":", 1)[-1]
    raw = node.value
    if not getattr(node, "style", None):
        if tag == "null":
            return _Val(None, line)
        if tag == "bool":
            return _Val(raw.lower() in ("true", "yes", "on"), line)
        if tag == "int":
            try:
                return _Val(int(raw), line)
            except ValueError:
                return _Val(raw, line)
    return _Val(raw, line)


class _Fields:
    """Typed access to one mapping, recording problems against the right line and field path."""

    def __init__(self, val: _Val, path: str, allowed: tuple[str, ...], problems: _Problems) -> None:
        self.map: dict[str, _Val] = val.value
        self.lines = val.key_lines or {}
        self.line = val.line
        self.path = path
        self.problems = problems
        for key in self.map:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(allowed)})"
                problems.add(self.lines.get(key, self.line), self.name(key), f"unknown key{suggestion}")

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line_of(self, key: str) -> int:
        item = self.map.get(key)
        return item.line if item is not None else self.lines.get(key, self.line)

    def error(self, key: str, message: str) -> None:
        self.problems.add(self.line_of(key), self.name(key), message)

    def text(self, key: str, *, required: bool = False, single_line: bool = True) -> str | None:
        item = self.map.get(key)
        if item is None or item.value is None or (isinstance(item.value, str) and not item.value.strip()):
            if required:
                self.error(key, "is missing" if item is None else "is empty")
            return None
        if not isinstance(item.value, str | int):
            self.error(key, "must be text")
            return None
        value = str(item.value).strip()
        control = _CONTROL.search(value) or (single_line and re.search(r"[\r\n]", value))
        if control:
            char = control.group(0)
            self.error(key, f"contains a control character (U+{ord(char):04X})")
            return None
        return unicodedata.normalize("NFC", value)

    def url(self, key: str) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.error(key, f"'{value}' is not an http(s) URL")
            return None
        return value

    def zone(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return default
        return _check_zone(value, partial(self.error, key))

    def items(self, key: str) -> list[_Val]:
        item = self.map.get(key)
        if item is None or item.value is None:
            return []
        if not isinstance(item.value, list):
            self.error(key, "must be a list")
            return []
        return list(item.value)

    def text_list(self, key: str) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for entry in self.items(key):
            if not isinstance(entry.value, str) or not entry.value.strip():
                self.problems.add(entry.line, self.name(key), "every entry must be non-empty text")
                continue
            out.append((entry.value.strip(), entry.line))
        return out


_ZONES: set[str] | None = None


def _check_zone(value: str, report: Callable[[str], None]) -> str | None:
    global _ZONES
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        if _ZONES is None:
            _ZONES = available_timezones()
        hint = difflib.get_close_matches(value, sorted(_ZONES), n=1, cutoff=0.6)
        report(
            f"unknown time zone '{value}'"
            + (f"; did you mean '{hint[0]}'?" if hint else " (use an IANA name such as Europe/Paris)")
        )
        return None
    return value


def _parse_moment(
    raw: str, zone: str, report: Callable[[str], None], *, allow_date_only: bool
) -> tuple[datetime, bool] | None:
    """Wall-clock text in `zone` -> aware UTC. Returns (moment, date_only)."""
    match = _DATETIME.match(raw.strip())
    if not match:
        report(f"'{raw}' is not a date and time (write YYYY-MM-DD HH:MM)")
        return None
    try:
        day = date.fromisoformat(_pad_date(match["date"]))
    except ValueError:
        report(f"'{raw}' is not a real date")
        return None
    tz = ZoneInfo(zone)
    if match["time"] is None:
        if not allow_date_only:
            report(f"'{raw}' has no time of day (write YYYY-MM-DD HH:MM)")
            return None
        # A date-only deadline ends with that day in its zone: the next local midnight.
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        return end.astimezone(UTC), True
    try:
        clock = time.fromisoformat(_pad_time(match["time"]))
    except ValueError:
        report(f"'{raw}' is not a real time of day")
        return None
    if match["offset"]:
        offset = match["offset"].replace("Z", "+00:00")
        if ":" not in offset:
            offset = offset[:3] + ":" + offset[3:]
        moment = datetime.fromisoformat(f"{day.isoformat()}T{clock.isoformat()}{offset}")
        return moment.astimezone(UTC), False
    local = datetime.combine(day, clock, tzinfo=tz)
    # zoneinfo accepts wall times that do not exist or happen twice; a release must not guess.
    round_trip = local.astimezone(UTC).astimezone(tz)
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        report(f"{raw} does not exist in {zone} (the clocks jump forward); check the time")
        return None
    other = local.replace(fold=1)
    if other.utcoffset() != local.utcoffset():
        report(
            f"{raw} happens twice in {zone} (the clocks go back); add the offset, "
            f"e.g. '{raw} {_fmt_offset(local)}' or '{raw} {_fmt_offset(other)}'"
        )
        return None
    return local.astimezone(UTC), False


def _start_of_day(day_end: datetime, zone: str) -> datetime:
    tz = ZoneInfo(zone)
    day = (day_end.astimezone(tz) - timedelta(microseconds=1)).date()
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _fmt_offset(dt: datetime) -> str:
    offset = dt.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _pad_date(text: str) -> str:
    y, m, d = text.split("-")
    return f"{y}-{int(m):02d}-{int(d):02d}"


def _pad_time(text: str) -> str:
    pieces = text.split(":")
    return ":".join([f"{int(pieces[0]):02d}", *pieces[1:]])


def _build(root: _Val, body: str, problems: _Problems) -> Release | None:
    if not isinstance(root.value, dict):
        problems.add(root.line, "file", "the front matter must be a mapping of keys to values")
        return None
    top = _Fields(root, "", TOP_KEYS, problems)
    release_id = top.text("id", required=True)
    if release_id is not None and not _ID.match(release_id):
        top.error("id", f"'{release_id}' may hold only letters, digits, '.', '_' and '-'")
    title = top.text("title", required=True)
    zone = top.zone("timezone", required=True)
    published = None
    published_raw = top.text("published", required=True)
    if published_raw is not None and zone is not None:
        parsed = _parse_moment(published_raw, zone, partial(top.error, "published"), allow_date_only=True)
        if parsed:
            moment, date_only = parsed
            # A release dated only by its day is public from the start of that day in its zone
            # (computed in local time: a DST day is not 24 hours long).
            published = _start_of_day(moment, zone) if date_only else moment

    language = top.text("language") or "en"
    if not _LANGUAGE.match(language):
        top.error("language", f"'{language}' is not a language code such as en, fr or pt-BR")

    handles = _tags(top, "handles", _HANDLE, "a handle starts with @, e.g. @ESA_ExoMars")
    hashtags = _tags(top, "hashtags", _HASHTAG, "a hashtag starts with # and has no spaces")

    events = _events(top, zone, problems)
    deadlines = _deadlines(top, zone, events, problems)
    contacts = _contacts(top, problems)
    media = _media(top, problems)

    channels: tuple[str, ...] | None = None
    if "channels" in top.map and top.map["channels"].value is not None:
        names = []
        for name, line in top.text_list("channels"):
            if name not in KNOWN_CHANNELS:
                hint = difflib.get_close_matches(name, KNOWN_CHANNELS, n=1)
                problems.add(
                    line,
                    "channels",
                    f"unknown channel '{name}'"
                    + (f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(KNOWN_CHANNELS)})"),
                )
            names.append(name)
        channels = tuple(dict.fromkeys(names))

    show: list[str] = []
    for name, line in top.text_list("show_timezones"):
        checked = _check_zone(name, partial(problems.add, line, "show_timezones"))
        if checked:
            show.append(checked)
    if not show and zone is not None:
        # Default: where things happen first (each event's zone), then the release's own zone.
        show = [e.timezone for e in events] + [zone]
    show_timezones = tuple(dict.fromkeys(show))

    reference = top.text("reference")
    url = top.url("url")
    summary = top.text("summary", single_line=False)
    image = top.url("image")
    if _CONTROL.search(body):
        problems.add(1, "body", "contains a control character; remove it")

    if problems.items or None in (release_id, title, zone, published):
        return None
    assert release_id is not None
    assert title is not None
    assert zone is not None
    assert published is not None
    return Release(
        id=release_id,
        title=title,
        published=published,
        timezone=zone,
        show_timezones=show_timezones,
        language=language,
        reference=reference,
        url=url,
        summary=summary,
        handles=handles,
        hashtags=hashtags,
        events=tuple(events),
        deadlines=tuple(deadlines),
        contacts=tuple(contacts),
        channels=channels,
        image=image,
        media=tuple(media),
        body=unicodedata.normalize("NFC", body),
    )


def _tags(top: _Fields, key: str, pattern: re.Pattern[str], rule: str) -> tuple[str, ...]:
    out = []
    for value, line in top.text_list(key):
        if not pattern.match(value):
            top.problems.add(line, key, f"'{value}': {rule}")
        out.append(value)
    return tuple(dict.fromkeys(out))


def _mappings(top: _Fields, key: str, problems: _Problems) -> Iterable[tuple[int, _Val]]:
    for index, item in enumerate(top.items(key)):
        if not isinstance(item.value, dict):
            problems.add(item.line, f"{key}[{index}]", "must be a mapping (key: value lines)")
            continue
        yield index, item


def _unique_id(fields: _Fields, seen: dict[str, int], kind: str) -> str | None:
    item_id = fields.text("id", required=True)
    if item_id is None:
        return None
    if not _ID.match(item_id):
        fields.error("id", f"'{item_id}' may hold only letters, digits, '.', '_' and '-'")
    if item_id in seen:
        fields.error("id", f"duplicate {kind} id '{item_id}' (first on line {seen[item_id]})")
    else:
        seen[item_id] = fields.line_of("id")
    return item_id


def _events(top: _Fields, default_zone: str | None, problems: _Problems) -> list[Event]:
    events: list[Event] = []
    seen: dict[str, int] = {}
    for index, item in _mappings(top, "events", problems):
        f = _Fields(item, f"events[{index}]", EVENT_KEYS, problems)
        event_id = _unique_id(f, seen, "event")
        title = f.text("title", required=True)
        zone = f.zone("timezone", default=default_zone)
        start = end = None
        if zone is not None:
            start_raw = f.text("start", required=True)
            if start_raw is not None:
                parsed = _parse_moment(start_raw, zone, partial(f.error, "start"), allow_date_only=False)
                start = parsed[0] if parsed else None
            end_raw = f.text("end")
            if end_raw is not None:
                parsed = _parse_moment(end_raw, zone, partial(f.error, "end"), allow_date_only=False)
                end = parsed[0] if parsed else None
            if start is not None and end is not None and end <= start:
                f.error("end", f"{end_raw} is not after the start ({start_raw})")
        location = f.text("location")
        stream_url = f.url("stream_url")
        url = f.url("url")
        description = f.text("description", single_line=False)
        if event_id and title and zone and start:
            events.append(Event(event_id, title, start, zone, end, location, stream_url, url, description))
    return events


def _deadlines(
    top: _Fields, default_zone: str | None, events: list[Event], problems: _Problems
) -> list[Deadline]:
    deadlines: list[Deadline] = []
    seen: dict[str, int] = {}
    for index, item in _mappings(top, "deadlines", problems):
        f = _Fields(item, f"deadlines[{index}]", DEADLINE_KEYS, problems)
        deadline_id = _unique_id(f, seen, "deadline")
        title = f.text("title", required=True)
        zone = f.zone("timezone", default=default_zone)
        gated = f.text("event")
        if gated is not None and all(e.id != gated for e in events):
            known = ", ".join(e.id for e in events) or "none"
            f.error("event", f"no event has the id '{gated}' (events: {known})")
        due = None
        date_only = False
        due_raw = f.text("due", required=True)
        if due_raw is not None and zone is not None:
            parsed = _parse_moment(due_raw, zone, partial(f.error, "due"), allow_date_only=True)
            if parsed:
                due, date_only = parsed
        if due is not None:
            for event in events:
                if (gated is None or event.id == gated) and due > event.start:
                    f.error("due", f"{due_raw} is after the start of the event '{event.id}' it gates")
                    break
        how = f.text("how", single_line=False)
        url = f.url("url")
        if deadline_id and title and zone and due:
            deadlines.append(Deadline(deadline_id, title, due, zone, date_only, how, gated, url))
    return deadlines


def _contacts(top: _Fields, problems: _Problems) -> list[Contact]:
    contacts = []
    for index, item in _mappings(top, "contacts", problems):
        f = _Fields(item, f"contacts[{index}]", CONTACT_KEYS, problems)
        name, role, phone, email = f.text("name"), f.text("role"), f.text("phone"), f.text("email")
        if phone is not None and not _PHONE.match(phone):
            f.error("phone", f"'{phone}' is not a phone number")
        if email is not None and not _EMAIL.match(email):
            f.error("email", f"'{email}' is not an e-mail address")
        if not (name or phone or email):
            problems.add(item.line, f"contacts[{index}]", "needs at least a name, a phone or an email")
        contacts.append(Contact(name, role, phone, email))
    return contacts


def _media(top: _Fields, problems: _Problems) -> list[Media]:
    media = []
    for index, item in _mappings(top, "media", problems):
        f = _Fields(item, f"media[{index}]", MEDIA_KEYS, problems)
        url = f.url("url")
        if url is None and "url" not in f.map:
            f.error("url", "is missing")
        length_val = f.map.get("length")
        length = None
        if length_val is not None and length_val.value is not None:
            if isinstance(length_val.value, int) and length_val.value >= 0:
                length = length_val.value
            else:
                f.error("length", "must be a size in bytes")
        if url:
            media.append(Media(url, f.text("type"), f.text("title"), length))
    return media


def check_same_ids(releases: list[tuple[str, Release]]) -> list[Problem]:
    """Two files given together with one id must say the same thing."""
    problems = []
    first: dict[str, tuple[str, Release]] = {}
    for source, release in releases:
        if release.id in first and first[release.id][1].content_hash() != release.content_hash():
            problems.append(
                Problem(
                    source,
                    1,
                    "id",
                    f"'{release.id}' is also the id of {first[release.id][0]} with different content",
                )
            )
        first.setdefault(release.id, (source, release))
    return problems
