"""Atom, RSS and iCalendar for journalists from the stored releases: embargo-safe, stable, deterministic."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import logging
import mimetypes
import os
import re
import tempfile
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import nh3
from feedgen.feed import FeedGenerator
from icalendar import STATUS, Alarm, Calendar, Timezone, vDuration
from icalendar import Event as VEvent
from icalendar import __version__ as icalendar_version
from markdown_it import MarkdownIt

from distrib import __version__, disk_cache
from distrib.disk_cache import DiskCache
from distrib.errors import ConfigError
from distrib.models import Deadline, Event, Release, ReleaseState, StoredRelease, utc

if TYPE_CHECKING:
    from distrib.config import Settings
    from distrib.store import Store

log = logging.getLogger("distrib.feeds")

ATOM, RSS, ICS, INDEX = "feed.atom", "feed.rss", "events.ics", "index.html"
FEED_FILES = (ATOM, RSS, ICS)
# How far back the calendar keeps events: long enough that a journalist still finds last week's briefing,
# short enough that the calendar stays small however many releases are stored.
CALENDAR_PAST = timedelta(days=30)
EVENT_ALARM = timedelta(hours=-1)
TIMED_DEADLINE_ALARM = timedelta(days=-1)
# An all-day deadline starts at midnight (floating): -15 h is 09:00 on the day before it.
DAY_DEADLINE_ALARM = timedelta(hours=-15)
# `updated` of a feed with no entry yet: fixed, so an empty feed is byte-identical too.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRODID = "-//distrib//press releases//EN"
DEFAULT_DESCRIPTION = "Press releases with their events and deadlines"

_RSS_LOCK = threading.Lock()
# Python's built-in table only, not the host's /etc/mime.types: the same bytes on every machine.
_MIME = mimetypes.MimeTypes()
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_TAG = re.compile(r"^[A-Za-z0-9.-]+(?:@[A-Za-z0-9.-]+)?,\d{4}(?:-\d{2}(?:-\d{2})?)?$")
# XML 1.0 refuses these (feedgen raises on them): C0 controls but tab/LF/CR, DEL, lone surrogates, U+FFFE/F.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")

_HTML_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
_HTML_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}


# -- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """What the feeds say about themselves; from settings (see .env.example), defaults for tests."""

    base_url: str = "http://127.0.0.1:8080"
    title: str = "Press releases"
    description: str = DEFAULT_DESCRIPTION
    author_name: str = "Press releases"
    author_email: str | None = None
    logo: str | None = None
    language: str = "en"
    limit: int = 50
    tag: str = "127.0.0.1,2020"  # the authority and date of every tag: id
    hub: str | None = None
    feed_language: str | None = field(default=None)  # set for a per-language feed (/fr/feed.atom)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedConfig:
        base = settings.public_url.rstrip("/")
        host = urlsplit(base).hostname or "localhost"
        title = settings.get("DISTRIB_FEED_TITLE", "Press releases") or "Press releases"
        name, email = parseaddr(settings.get("DISTRIB_FEED_AUTHOR", "") or "")
        if settings.get("DISTRIB_FEED_AUTHOR") and not (name or email):
            raise ConfigError("DISTRIB_FEED_AUTHOR must look like 'Press office <press@example.org>'")
        language = settings.get("DISTRIB_FEED_LANGUAGE", "en") or "en"
        if not _LANGUAGE.match(language):
            raise ConfigError(
                f"DISTRIB_FEED_LANGUAGE must be a language tag like 'en' or 'pt-BR', not {language!r}"
            )
        tag = settings.get("DISTRIB_FEED_TAG", f"{host},2020") or ""
        if not _TAG.match(tag):
            raise ConfigError(f"DISTRIB_FEED_TAG must be 'domain,YYYY[-MM[-DD]]' (RFC 4151), not {tag!r}")
        return cls(
            base_url=base,
            title=title,
            description=settings.get("DISTRIB_FEED_DESCRIPTION") or DEFAULT_DESCRIPTION,
            author_name=name or title,
            author_email=email or None,
            logo=_setting_url(settings, "DISTRIB_FEED_LOGO"),
            language=language,
            limit=settings.feed_limit,
            tag=tag,
            hub=_setting_url(settings, "DISTRIB_WEBSUB_HUB"),
        )

    @property
    def domain(self) -> str:
        """The tag authority without its date (the right-hand side of calendar UIDs)."""
        return self.tag.split(",", 1)[0].split("@")[-1]

    def for_language(self, language: str) -> FeedConfig:
        return replace(self, feed_language=language, language=language, title=f"{self.title} ({language})")

    def path(self, name: str) -> str:
        """A file's path under the public dir: 'feed.atom', or 'fr/feed.atom' for a per-language feed."""
        return f"{self.feed_language}/{name}" if self.feed_language else name

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    @property
    def home(self) -> str:
        return f"{self.base_url}/"

    def feed_id(self) -> str:
        suffix = f":{self.feed_language}" if self.feed_language else ""
        return f"tag:{self.tag}:feed{suffix}"

    def entry_id(self, release_id: str) -> str:
        """The permanent id of a release's entry: the same in every feed, whatever changes."""
        return f"tag:{self.tag}:release/{release_id}"

    def release_ics(self, release_id: str) -> str:
        return self.url(f"releases/{release_id}.ics")


def _setting_url(settings: Settings, name: str) -> str | None:
    value = settings.get(name)
    if value is None:
        return None
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ConfigError(f"{name} must be an http(s) URL, not {value!r}")
    return value


# -- what is public, and when it last changed --------------------------------------------------------


def is_public(stored: StoredRelease, now: datetime) -> bool:
    """The embargo has lifted; a release withdrawn before it ever went public stays out for good."""
    published = stored.release.published
    if published > utc(now):
        return False
    return not (
        stored.state == ReleaseState.CANCELLED
        and stored.cancelled_at is not None
        and stored.cancelled_at < published
    )


def changed_at(stored: StoredRelease) -> datetime:
    """When the public version last changed: publication, or a later update or cancellation.

    Edits made while still under embargo were never seen, so they do not count.
    """
    return max(stored.updated_at, stored.release.published)


def horizon(release: Release) -> datetime:
    """The last moment the release speaks about (the store's horizon_at)."""
    moments = [release.published]
    moments += [e.end or e.start for e in release.events]
    moments += [d.due for d in release.deadlines]
    return max(moments)


def _select(
    releases: Iterable[StoredRelease], now: datetime, language: str | None, limit: int | None = None
) -> list[StoredRelease]:
    """Public releases (of one language), newest publication first, the same order as the store's."""
    chosen = [
        s for s in releases if is_public(s, now) and (language is None or s.release.language == language)
    ]
    chosen.sort(key=lambda s: s.release.id)
    chosen.sort(key=lambda s: s.release.published, reverse=True)
    return chosen[:limit] if limit is not None else chosen


# -- text and HTML -----------------------------------------------------------------------------------


def clean_text(text: str, *, single_line: bool = False) -> str:
    """Text XML can carry: no control characters; titles on one line."""
    text = _NOT_XML.sub("", text)
    return _LINE_BREAKS.sub(" ", text).strip() if single_line else text


def safe_url(url: str | None) -> str | None:
    """An http(s) URL, or None: a `javascript:` or relative link never reaches a feed reader."""
    if not url:
        return None
    url = clean_text(url, single_line=True)
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@functools.cache
def _markdown() -> MarkdownIt:
    # Raw HTML in the body is shown as text, never passed through; nh3 then keeps only an allow-list.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@functools.lru_cache(maxsize=1024)
def body_html(markdown_text: str) -> str:
    """The release body (Markdown) as safe HTML: allow-listed tags, http/https/mailto links only."""
    rendered = _markdown().render(clean_text(markdown_text))
    cleaned: str = nh3.clean(
        rendered, tags=_HTML_TAGS, attributes=_HTML_ATTRIBUTES, url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )  # fmt: skip
    return cleaned.strip()


def _esc(text: str) -> str:
    return html.escape(clean_text(text), quote=True)


def _abbr(moment: datetime, zone: str) -> str:
    name = moment.astimezone(ZoneInfo(zone)).tzname() or zone
    return f"UTC{name}" if name[:1] in "+-" else name


def _zones(release: Release, own: str) -> list[str]:
    """The release's zones, leading one first, plus the item's own zone if the release omits it."""
    zones = list(release.show_timezones) or [release.timezone]
    return zones if own in zones else [*zones, own]


def when(start: datetime, end: datetime | None, zones: Sequence[str]) -> str:
    """'2020-03-12 14:00–15:00 MSK (12:00–13:00 CET)': the first zone leads, dates only where they differ."""
    shown: list[str] = []
    lead_day: date | None = None
    for zone in zones:
        s = start.astimezone(ZoneInfo(zone))
        text = f"{s:%H:%M}" if lead_day == s.date() else f"{s:%Y-%m-%d %H:%M}"
        if end is not None:
            e = end.astimezone(ZoneInfo(zone))
            if _abbr(start, zone) != _abbr(end, zone):
                text += f" {_abbr(start, zone)}"
            text += f"–{e:%H:%M}" if e.date() == s.date() else f"–{e:%Y-%m-%d %H:%M}"
            text += f" {_abbr(end, zone)}"
        else:
            text += f" {_abbr(start, zone)}"
        shown.append(text)
        lead_day = lead_day or s.date()
    return shown[0] + (f" ({', '.join(shown[1:])})" if len(shown) > 1 else "")


def deadline_when(deadline: Deadline, zones: Sequence[str]) -> str:
    if deadline.date_only:
        last = deadline.due - timedelta(microseconds=1)
        return f"by {deadline.due_date.isoformat()}, end of day {_abbr(last, deadline.timezone)}"
    return f"by {when(deadline.due, None, zones)}"


def entry_html(stored: StoredRelease, cache: DiskCache | None = None) -> str:
    """The entry's HTML: a cancellation notice, the events and deadlines in the release's zones, the body.

    With a `cache`, the body's HTML comes from / goes to its directory (the same text either way).
    """
    release = stored.release
    parts: list[str] = []
    if stored.state == ReleaseState.CANCELLED:
        reason = f": {_esc(stored.cancel_reason)}" if stored.cancel_reason else "."
        parts.append(f"<p><strong>Cancelled</strong>{reason}</p>")
    items: list[str] = []
    for event in release.events:
        shown = when(event.start, event.end, _zones(release, event.timezone))
        line = f"<strong>{_esc(event.title)}</strong>: {_esc(shown)}"
        if event.location:
            line += f", {_esc(event.location)}"
        for label, url in (("stream", event.stream_url), ("details", event.url)):
            if safe := safe_url(url):
                line += f' — <a href="{_esc(safe)}">{label}</a>'
        items.append(line)
    for deadline in release.deadlines:
        shown = deadline_when(deadline, _zones(release, deadline.timezone))
        line = f"<strong>{_esc(deadline.title)}</strong>: {_esc(shown)}"
        if deadline.how:
            line += f". {_esc(deadline.how)}"
        if safe := safe_url(deadline.url):
            line += f' — <a href="{_esc(safe)}">details</a>'
        items.append(line)
    if items:
        parts.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
    if release.body.strip():
        parts.append(body_html(release.body) if cache is None else _cached_body_html(cache, release.body))
    return "\n".join(parts)


def entry_title(stored: StoredRelease) -> str:
    title = clean_text(stored.release.title, single_line=True)
    return f"Cancelled: {title}" if stored.state == ReleaseState.CANCELLED else title


def _enclosures(release: Release) -> list[tuple[str, str, str]]:
    """(url, type, length) for the media, the lead image first unless it is also listed."""
    found: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    media = list(release.media)
    candidates: list[tuple[str, str | None, int | None]] = (
        [(release.image, None, None)] if release.image else []
    )
    candidates += [(m.url, m.type, m.length) for m in media]
    for url, kind, length in candidates:
        safe = safe_url(url)
        if safe is None or safe in seen:
            continue
        seen.add(safe)
        guessed = kind or _MIME.guess_type(urlsplit(safe).path)[0] or "application/octet-stream"
        found.append((safe, clean_text(guessed, single_line=True), str(length or 0)))
    return found


# -- Atom and RSS ------------------------------------------------------------------------------------


def build_atom(
    releases: Iterable[StoredRelease], config: FeedConfig, now: datetime, *, language: str | None = None,
    cache: DiskCache | None = None,
) -> bytes:  # fmt: skip
    """Atom 1.0: the newest `config.limit` public releases, newest first (`cache`: see `feed_cache`)."""
    return _build_feed(releases, config, now, language, "atom", cache)


def build_rss(
    releases: Iterable[StoredRelease], config: FeedConfig, now: datetime, *, language: str | None = None,
    cache: DiskCache | None = None,
) -> bytes:  # fmt: skip
    """RSS 2.0 with the same entries as the Atom feed."""
    return _build_feed(releases, config, now, language, "rss", cache)


def _build_feed(
    releases: Iterable[StoredRelease], config: FeedConfig, now: datetime, language: str | None, kind: str,
    cache: DiskCache | None,
) -> bytes:  # fmt: skip
    language = language or config.feed_language
    entries = _select(releases, now, language, config.limit)
    # Never "now": the newest visible change, so an unchanged feed is byte-identical (ETag/304).
    updated = max((_updated(s, now) for s in entries), default=EPOCH)
    name, mime = (ATOM, "application/atom+xml") if kind == "atom" else (RSS, "application/rss+xml")

    fg = FeedGenerator()
    fg.id(config.feed_id())
    fg.title(clean_text(config.title, single_line=True))
    fg.subtitle(clean_text(config.description, single_line=True))
    fg.author(
        {
            "name": clean_text(config.author_name),
            **({"email": config.author_email} if config.author_email else {}),
        }
    )
    fg.language(config.language)
    fg.generator("distrib", version=__version__)
    fg.link(href=config.url(config.path(name)), rel="self", type=mime)
    if config.hub and kind == "atom":
        fg.link(href=config.hub, rel="hub")
    if config.logo:
        fg.logo(config.logo)
        if kind == "rss":
            fg.image(url=config.logo, title=clean_text(config.title, single_line=True), link=config.home)
    if kind == "atom":
        fg.register_extension("distrib_links", _NoFeedExtension, _AtomLinks, rss=False)
    if kind == "rss":
        if config.hub:
            fg.register_extension("websub", _hub_extension(config.hub), _NoEntryExtension, atom=False)
        if config.author_email:
            fg.managingEditor(f"{config.author_email} ({clean_text(config.author_name, single_line=True)})")
        fg.lastBuildDate(updated)
        fg.pubDate(updated)
    fg.updated(updated)
    # feedgen makes the RSS <channel><link> the last link added: the site, not the feed (reference §5.3).
    fg.link(href=config.home, rel="alternate", type="text/html")

    for stored in entries:
        _add_entry(fg, stored, config, kind, now, cache)
    if kind == "atom":
        atom: bytes = fg.atom_str(pretty=True)
        return atom
    # feedgen switches the process-wide locale to C around RSS dates (reference §5.3 #8): one at a time.
    with _RSS_LOCK:
        rss: bytes = fg.rss_str(pretty=True)
    return rss


def _updated(stored: StoredRelease, now: datetime) -> datetime:
    """changed_at, but never after `now`: a writer whose clock runs ahead cannot date a feed in the future."""
    return min(changed_at(stored), utc(now))


def _add_entry(
    fg: Any, stored: StoredRelease, config: FeedConfig, kind: str, now: datetime, cache: DiskCache | None
) -> None:
    release = stored.release
    fe = fg.add_entry(order="append")
    fe.id(config.entry_id(release.id))
    fe.title(entry_title(stored))
    fe.published(release.published)
    fe.updated(_updated(stored, now))
    content = entry_html(stored, cache)
    summary = clean_text(release.summary) if release.summary else None
    if kind == "atom":
        fe.content(content, type="html")
        if summary:
            fe.summary(summary)
    else:
        # RSS: <description> is the summary (the body when there is none), content:encoded the full text.
        fe.description(summary or content)
        if summary:
            fe.content(content)
    for tag in release.hashtags:
        term = clean_text(tag.lstrip("#"), single_line=True)
        if term:
            # RSS shows the label, Atom the term and the label.
            fe.category(term=term, label=clean_text(tag, single_line=True) if kind == "atom" else term)
    links: list[dict[str, str]] = []
    if url := safe_url(release.url):
        links.append({"href": url, "rel": "alternate", "type": "text/html"})
    for url, mime, length in _enclosures(release):
        links.append({"href": url, "rel": "enclosure", "type": mime, "length": length})
    if release.events or release.deadlines:
        ics = config.release_ics(release.id)
        links.append({"href": ics, "rel": "related", "type": "text/calendar", "title": "Calendar (.ics)"})
    if kind == "atom":
        # feedgen 1.0.0 drops rel/type/length of entry links in Atom (it reads them from the new element
        # instead of the link): our extension writes them.
        fe.distrib_links.links = links
    else:
        # RSS keeps one link and one enclosure, the last of each added: the first medium goes last.
        for link in reversed([x for x in links if x["rel"] == "enclosure"]):
            fe.link(href=link["href"], rel="enclosure", type=link["type"], length=link["length"])
        if links and links[0]["rel"] == "alternate":
            fe.link(href=links[0]["href"], rel="alternate")


class _AtomLinks:
    """Entry links for Atom with every attribute (see _add_entry)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, entry: Any) -> Any:
        from lxml import etree

        # Where feedgen puts links: after <content>, keeping the element order it always had.
        anchor = entry.find("content")
        position = list(entry).index(anchor) + 1 if anchor is not None else len(entry)
        for offset, link in enumerate(self.links):
            element = etree.Element("link", attrib=link)  # feedgen writes Atom elements without a prefix
            entry.insert(position + offset, element)
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


class _NoFeedExtension:
    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, feed: Any) -> Any:
        return feed

    def extend_rss(self, feed: Any) -> Any:
        return feed


class _NoEntryExtension:
    """feedgen wants an entry class for every extension; ours only touches the channel."""

    def extend_atom(self, entry: Any) -> Any:
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item

    def extend_ns(self) -> dict[str, str]:
        return {}


def _hub_extension(hub: str) -> type:
    """An RSS extension adding <atom:link rel="hub">, which feedgen writes for Atom only (reference §5.3)."""

    class HubExtension(_NoEntryExtension):
        def extend_rss(self, item: Any) -> Any:
            from lxml import etree

            channel = item[0]
            link = etree.SubElement(channel, "{http://www.w3.org/2005/Atom}link")
            link.attrib["href"] = hub
            link.attrib["rel"] = "hub"
            return item

    return HubExtension


# -- iCalendar ---------------------------------------------------------------------------------------


def build_calendar(
    releases: Iterable[StoredRelease], config: FeedConfig, now: datetime, *, language: str | None = None,
    cache: DiskCache | None = None,
) -> bytes:  # fmt: skip
    """events.ics: every event and deadline of the public releases that are upcoming or recent.

    With a `cache` (see `feed_cache`), the VEVENTs and VTIMEZONEs come from / go to its directory;
    the bytes are the same with or without it.
    """
    language = language or config.feed_language
    since = utc(now) - CALENDAR_PAST
    chosen = [s for s in _select(releases, now, language) if horizon(s.release) >= since]
    suffix = f"-{config.feed_language}" if config.feed_language else ""
    return _calendar(
        chosen,
        config,
        uid=f"calendar{suffix}@{config.domain}",
        name=clean_text(config.title, single_line=True),
        cache=cache,
    )


def build_release_calendar(
    stored: StoredRelease, config: FeedConfig | None = None, *, cache: DiskCache | None = None
) -> bytes:
    """One release's events and deadlines as a .ics (served at /releases/<id>.ics, attached to emails).

    The UIDs are those of events.ics, so a calendar that has both shows each event once.
    The caller checks the embargo (`is_public`): this builds whatever it is given.
    """
    config = config or FeedConfig()
    return _calendar(
        [stored], config, uid=f"{stored.release.id}@{config.domain}",
        name=clean_text(stored.release.title, single_line=True), cache=cache,
    )  # fmt: skip


def _calendar(
    releases: Sequence[StoredRelease], config: FeedConfig, *, uid: str, name: str, cache: DiskCache | None
) -> bytes:
    """The calendar's bytes: its header, one VTIMEZONE per zone used, the VEVENTs by start time.

    Each part is serialized by icalendar; Calendar.to_ical() is the same concatenation (a test checks),
    done here piecewise so unchanged releases and zones reuse their bytes instead of re-folding them:
    from the in-process caches, or from the disk `cache` when one is given.
    """
    events: list[tuple[datetime, str, bytes]] = []
    zones: set[str] = set()
    for stored in releases:
        parts = _release_vevents(stored, config) if cache is None else _cached_vevents(cache, stored, config)
        for start, event_uid, chunk, zone in parts:
            events.append((start, event_uid, chunk))
            if zone:
                zones.add(zone)
    events.sort(key=lambda e: (e[0], e[1]))
    end = b"END:VCALENDAR\r\n"
    vtimezones = [_vtimezone(z) if cache is None else _cached_vtimezone(cache, z) for z in sorted(zones)]
    body = b"".join(vtimezones + [chunk for _, _, chunk in events])
    head = _calendar_head(uid, name) if cache is None else _cached_calendar_head(cache, uid, name)
    return head[: -len(end)] + body + end


@functools.lru_cache(maxsize=1024)
def _calendar_head(uid: str, name: str) -> bytes:
    """An empty VCALENDAR with our properties; _calendar puts the components before its END line."""
    head = Calendar.new(prodid=PRODID, method="PUBLISH", uid=uid, name=name)
    # How often subscribed calendars should look again (RFC 7986; Outlook reads the X- one).
    head.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    head.add("x-published-ttl", vDuration(timedelta(hours=1)))
    data: bytes = head.to_ical()
    assert data.endswith(b"END:VCALENDAR\r\n")
    return data


def _build_vtimezone(zone: str) -> bytes:
    """VTIMEZONE for a zone from the zoneinfo data (1970–2038); the same bytes every time."""
    data: bytes = Timezone.from_tzid(zone).to_ical()
    return data


_vtimezone = functools.lru_cache(maxsize=64)(_build_vtimezone)

# (start, uid, VEVENT bytes, TZID) for each event and deadline of one release version.
VEvents = tuple[tuple[datetime, str, bytes, str | None], ...]


def _build_release_vevents(stored: StoredRelease, config: FeedConfig) -> VEvents:
    """(start, uid, VEVENT bytes, TZID) for each event and deadline of one release version."""
    release = stored.release
    out: list[tuple[datetime, str, bytes, str | None]] = []
    for event in release.events:
        vevent = event_vevent(stored, event, config)
        out.append((event.start, str(vevent["UID"]), vevent.to_ical(), event.timezone))
    for deadline in release.deadlines:
        vevent = deadline_vevent(stored, deadline, config)
        out.append(
            (
                deadline.due,
                str(vevent["UID"]),
                vevent.to_ical(),
                None if deadline.date_only else deadline.timezone,
            )
        )
    return tuple(out)


_release_vevents = functools.lru_cache(maxsize=2048)(_build_release_vevents)


# -- the expensive pieces on disk (a fresh process reuses what an earlier run built) -----------------


def feed_cache(settings: Settings) -> DiskCache:
    """<data dir>/cache/feeds: calendar pieces and body HTML built by earlier runs; safe to delete.

    What makes a one-shot `distrib feeds` (cron) nearly as fast as a running service: icalendar's
    serialization and the Markdown rendering are most of a cold build.
    """
    return DiskCache(settings.data_dir / "cache" / "feeds")


def _cached_body_html(cache: DiskCache, markdown_text: str) -> str:
    return cache.get(
        disk_cache.cache_key("html", _code_version(), _html_version(), markdown_text),
        lambda: body_html(markdown_text),
        lambda html_text: html_text.encode("utf-8", "surrogatepass"),
        lambda data: data.decode("utf-8", "surrogatepass"),
    )


@functools.cache
def _html_version() -> tuple[str, str]:
    from markdown_it import __version__ as markdown_it_version

    return markdown_it_version, str(getattr(nh3, "__version__", "?"))


def _cached_vevents(cache: DiskCache, stored: StoredRelease, config: FeedConfig) -> VEvents:
    return cache.get(
        _vevents_key(stored, config),
        lambda: _build_release_vevents(stored, config),
        _encode_vevents,
        _decode_vevents,
    )


def _cached_calendar_head(cache: DiskCache, uid: str, name: str) -> bytes:
    return cache.get(
        disk_cache.cache_key("head", _code_version(), uid, name),
        lambda: _calendar_head(uid, name),
        lambda data: data,
        functools.partial(_check_ics, b"BEGIN:VCALENDAR\r\n", b"END:VCALENDAR\r\n"),
    )


def _cached_vtimezone(cache: DiskCache, zone: str) -> bytes:
    return cache.get(
        disk_cache.cache_key("vtimezone", _code_version(), zone, _zone_digest(zone)),
        lambda: _build_vtimezone(zone),
        lambda data: data,
        functools.partial(_check_ics, b"BEGIN:VTIMEZONE\r\n", b"END:VTIMEZONE\r\n"),
    )


@functools.lru_cache(maxsize=4096)
def _vevents_key(stored: StoredRelease, config: FeedConfig) -> str:
    """Everything the VEVENT bytes of a release version depend on: its content, version, state and dates,
    the whole feed config, the zone data of every zone it shows, and the code and library versions."""
    release = stored.release
    zones = sorted(
        {release.timezone, *release.show_timezones}
        | {e.timezone for e in release.events}
        | {d.timezone for d in release.deadlines}
    )
    return disk_cache.cache_key(
        "vevents", _code_version(), release.content_hash(), stored.version, stored.state.value,
        stored.updated_at, stored.cancelled_at, stored.cancel_reason, config,
        tuple((zone, _zone_digest(zone)) for zone in zones),
    )  # fmt: skip


@functools.cache
def _code_version() -> tuple[str, str, str]:
    """Ours and icalendar's versions, and a digest of this module: editing how VEVENTs are made misses."""
    try:
        source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:
        source = "?"
    return __version__, icalendar_version, source


@functools.lru_cache(maxsize=256)
def _zone_digest(zone: str) -> str:
    """sha256 of the TZif data zoneinfo loads for `zone` (system TZPATH first, then the tzdata package).

    A tzdata upgrade changes it for the zones whose rules changed, so their calendar pieces are rebuilt.
    """
    if zone.startswith("/") or ".." in zone.split("/"):
        return "invalid"
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / zone
        if path.is_file():
            try:
                return hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                return "unreadable"
    try:
        from importlib import resources

        *package, name = zone.split("/")
        data = resources.files(".".join(["tzdata.zoneinfo", *package])).joinpath(name).read_bytes()
    except (ImportError, OSError, ValueError):
        return "missing"
    return hashlib.sha256(data).hexdigest()


def _encode_vevents(parts: VEvents) -> bytes:
    items = [
        [start.isoformat(), uid, base64.b64encode(chunk).decode("ascii"), zone]
        for start, uid, chunk, zone in parts
    ]
    return json.dumps(items, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _decode_vevents(payload: bytes) -> VEvents:
    """The inverse of _encode_vevents; raises ValueError on anything else."""
    out: list[tuple[datetime, str, bytes, str | None]] = []
    items = json.loads(payload)
    if not isinstance(items, list):
        raise ValueError("not a list")
    for item in items:
        if not (isinstance(item, list) and len(item) == 4):
            raise ValueError("not a 4-item list")
        start, uid, chunk, zone = item
        if not (isinstance(start, str) and isinstance(uid, str) and isinstance(chunk, str)):
            raise ValueError("wrong types")
        if not (zone is None or isinstance(zone, str)):
            raise ValueError("wrong zone")
        moment = datetime.fromisoformat(start)
        if moment.tzinfo is None:
            raise ValueError("naive start")
        data = base64.b64decode(chunk, validate=True)
        out.append((moment, uid, _check_ics(b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n", data), zone))
    return tuple(out)


def _check_ics(begin: bytes, end: bytes, payload: bytes) -> bytes:
    """`payload` if it is one whole component (a cache file's content); ValueError otherwise."""
    if not (payload.startswith(begin) and payload.endswith(end)):
        raise ValueError(f"not a {begin[6:-2].decode()}")
    return payload


def forget_in_process_caches() -> None:
    """Empty every in-process cache of this module (what a fresh process starts with); disk caches stay."""
    for cached in (body_html, _release_vevents, _vtimezone, _calendar_head, _vevents_key, _zone_digest):
        cached.cache_clear()
    _code_version.cache_clear()
    _html_version.cache_clear()
    disk_cache.forget_memory()


def item_uid(release_id: str, kind: str, item_id: str, config: FeedConfig) -> str:
    """Stable per release and item: the same in events.ics, the release's .ics and every email."""
    return f"{release_id}.{kind}.{item_id}@{config.domain}"


def _common(stored: StoredRelease, uid: str, summary: str, config: FeedConfig) -> Any:
    release = stored.release
    cancelled = stored.state == ReleaseState.CANCELLED
    vevent: Any = VEvent.new(
        uid=uid,
        stamp=changed_at(stored),
        last_modified=changed_at(stored),
        # Every change (a new time, a new place, a cancellation) is a new version: SEQUENCE rises with it.
        sequence=stored.version,
        summary=("Cancelled: " if cancelled else "") + clean_text(summary, single_line=True),
        status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
        categories=[clean_text(t.lstrip("#"), single_line=True) for t in release.hashtags if t.lstrip("#")],
    )
    return vevent


def _details(stored: StoredRelease, first: Sequence[str | None]) -> str:
    release = stored.release
    lines = [line for line in first if line]
    if stored.state == ReleaseState.CANCELLED:
        lines.insert(0, "Cancelled" + (f": {stored.cancel_reason}" if stored.cancel_reason else "."))
    lines.append(release.title + (f" ({release.reference})" if release.reference else ""))
    if release.summary:
        lines.append(release.summary)
    for contact in release.contacts:
        parts = [p for p in (contact.name, contact.role, contact.phone, contact.email) if p]
        if parts:
            lines.append("Contact: " + ", ".join(parts))
    if url := safe_url(release.url):
        lines.append(url)
    return clean_text("\n\n".join(lines))


def event_vevent(stored: StoredRelease, event: Event, config: FeedConfig) -> Any:
    """A VEVENT in the event's own zone (TZID) with a display alarm one hour before."""
    release = stored.release
    zone = ZoneInfo(event.timezone)
    summary = f"{event.title} — {release.title}"
    vevent = _common(stored, item_uid(release.id, "event", event.id, config), summary, config)
    vevent.add("dtstart", event.start.astimezone(zone))
    if event.end is not None:
        vevent.add("dtend", event.end.astimezone(zone))
    if event.location:
        vevent.add("location", clean_text(event.location))
    if url := safe_url(event.url) or safe_url(release.url) or safe_url(event.stream_url):
        vevent.add("url", url)
    stream = safe_url(event.stream_url)
    vevent.add(
        "description",
        _details(stored, [
            event.description,
            f"When: {when(event.start, event.end, _zones(release, event.timezone))}",
            f"Stream: {stream}" if stream else None,
        ]),
    )  # fmt: skip
    vevent.add_component(_alarm(EVENT_ALARM, f"In one hour: {clean_text(event.title, single_line=True)}"))
    return vevent


def deadline_vevent(stored: StoredRelease, deadline: Deadline, config: FeedConfig) -> Any:
    """A deadline: an all-day event on its day (date-only) or a moment in its zone, with its own alarm."""
    release = stored.release
    summary = f"Deadline: {deadline.title} — {release.title}"
    vevent = _common(stored, item_uid(release.id, "deadline", deadline.id, config), summary, config)
    if deadline.date_only:
        vevent.add("dtstart", deadline.due_date)
        vevent.add("dtend", deadline.due_date + timedelta(days=1))
        trigger = DAY_DEADLINE_ALARM
    else:
        vevent.add("dtstart", deadline.due.astimezone(ZoneInfo(deadline.timezone)))
        trigger = TIMED_DEADLINE_ALARM
    vevent.add("transp", "TRANSPARENT")  # a deadline does not make anyone busy
    if url := safe_url(deadline.url) or safe_url(release.url):
        vevent.add("url", url)
    vevent.add(
        "description",
        _details(
            stored, [deadline.how, _sentence(deadline_when(deadline, _zones(release, deadline.timezone)))]
        ),
    )
    vevent.add_component(_alarm(trigger, f"Deadline: {clean_text(deadline.title, single_line=True)}"))
    return vevent


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _alarm(trigger: timedelta, text: str) -> Any:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", text)
    alarm.add("trigger", trigger)
    return alarm


# -- the index page ----------------------------------------------------------------------------------


def build_index(config: FeedConfig, languages: Sequence[str] = ()) -> bytes:
    """A small page that feed readers and browsers discover the feeds from (<link rel="alternate">)."""
    title = _esc(config.title)
    feeds: list[tuple[str, str, str, str | None]] = [
        (ATOM, "application/atom+xml", "Atom feed", None),
        (RSS, "application/rss+xml", "RSS feed", None),
        (ICS, "text/calendar", "Calendar: events and deadlines", None),
    ]
    for lang in languages:
        feeds += [
            (f"{lang}/{ATOM}", "application/atom+xml", f"Atom feed ({lang})", lang),
            (f"{lang}/{RSS}", "application/rss+xml", f"RSS feed ({lang})", lang),
            (f"{lang}/{ICS}", "text/calendar", f"Calendar ({lang})", lang),
        ]
    head_links = "\n".join(
        f'<link rel="alternate" type="{mime}" title="{_esc(label)}" href="{_esc(config.url(path))}"'
        + (f' hreflang="{lang}"' if lang else "")
        + ">"
        for path, mime, label, lang in feeds
    )
    items = "\n".join(
        f'<li><a href="{_esc(config.url(path))}">{_esc(label)}</a> <code>{_esc(config.url(path))}</code></li>'
        for path, _, label, _ in feeds
    )
    page = f"""<!doctype html>
<html lang="{config.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head_links}
</head>
<body>
<h1>{title}</h1>
<p>{_esc(config.description)}. Subscribe once in a feed reader or calendar; embargoed releases appear at
their publication time, updates keep their entry, cancellations are marked.</p>
<ul>
{items}
</ul>
</body>
</html>
"""
    return page.encode("utf-8")


# -- writing the files (the I/O edge) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedsWritten:
    """What `write_feeds` did: files rewritten, files left as they were, stale files removed."""

    out_dir: Path
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    entries: int
    calendar_releases: int
    languages: tuple[str, ...]
    pinged: tuple[str, ...] = ()


def render_all(
    store: Store, config: FeedConfig, now: datetime, *, cache: DiskCache | None = None
) -> tuple[dict[str, bytes], int, int, list[str]]:
    """Every public file by its path under the public dir; reads only what the feeds show.

    `cache`: where calendar pieces and body HTML are reused from and stored (`feed_cache`); None: in memory.
    """
    from distrib.store import calendar_releases, feed_releases, public_languages

    now = utc(now)
    since = now - CALENDAR_PAST
    entries = feed_releases(store, now, limit=config.limit)
    upcoming = calendar_releases(store, now, since)
    languages = public_languages(store, now)
    # Per-language feeds only when there is more than one language: otherwise they would repeat the main feed.
    per_language = languages if len(languages) > 1 else []
    files = {
        ATOM: build_atom(entries, config, now, cache=cache),
        RSS: build_rss(entries, config, now, cache=cache),
        ICS: build_calendar(upcoming, config, now, cache=cache),
        INDEX: build_index(config, per_language),
    }
    with_calendar = {s.release.id: s for s in [*entries, *upcoming]}
    for lang in per_language:
        lang_config = config.for_language(lang)
        lang_entries = feed_releases(store, now, limit=config.limit, language=lang)
        lang_upcoming = [s for s in upcoming if s.release.language == lang]
        files[lang_config.path(ATOM)] = build_atom(lang_entries, lang_config, now, cache=cache)
        files[lang_config.path(RSS)] = build_rss(lang_entries, lang_config, now, cache=cache)
        files[lang_config.path(ICS)] = build_calendar(lang_upcoming, lang_config, now, cache=cache)
        with_calendar.update({s.release.id: s for s in lang_entries})
    for release_id, stored in sorted(with_calendar.items()):
        if stored.release.events or stored.release.deadlines:
            files[f"releases/{release_id}.ics"] = build_release_calendar(stored, config, cache=cache)
    return files, len(entries), len(upcoming), languages


def write_feeds(
    store: Store, settings: Settings, now: datetime, out_dir: Path | None = None, *, ping: bool = True
) -> FeedsWritten:
    """Build every feed file, write the changed ones atomically, tell the WebSub hub about changed feeds.

    Calendar pieces and body HTML are reused from <data dir>/cache/feeds: a one-shot run (cron) is fast too.
    """
    config = FeedConfig.from_settings(settings)
    out = Path(out_dir or settings.public_dir)
    cache = feed_cache(settings)
    files, n_entries, n_calendar, languages = render_all(store, config, now, cache=cache)
    cache.prune()
    written: list[str] = []
    unchanged: list[str] = []
    for path, data in files.items():
        (written if write_atomic(out / path, data) else unchanged).append(path)
    removed = _remove_stale(out, {p for p in files if p.startswith("releases/")})
    pinged: list[str] = []
    if ping and config.hub:
        topics = [config.url(p) for p in written if p.endswith((".atom", ".rss"))]
        pinged = ping_hub(config.hub, topics)
    return FeedsWritten(
        out_dir=out, written=tuple(written), unchanged=tuple(unchanged), removed=tuple(removed),
        entries=n_entries, calendar_releases=n_calendar, languages=tuple(languages), pinged=tuple(pinged),
    )  # fmt: skip


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` (temp file in the same directory, fsync, rename); False if already equal.

    Readers see the old file or the new one, never half of one. Leaving an equal file alone keeps its
    mtime, so Last-Modified (here and in any static server) moves only when the content does.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; web servers run as other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return True


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale(out: Path, keep: set[str]) -> list[str]:
    """Per-release calendars of releases no longer shown (e.g. moved back under embargo)."""
    removed: list[str] = []
    folder = out / "releases"
    if not folder.is_dir():
        return removed
    for file in sorted(folder.glob("*.ics")):
        rel = f"releases/{file.name}"
        if rel not in keep:
            file.unlink(missing_ok=True)
            removed.append(rel)
    return removed


def ping_hub(hub: str, topics: Sequence[str], *, timeout: float = 10.0) -> list[str]:
    """Tell a WebSub hub the topics changed (`hub.mode=publish`); failures are logged, never raised.

    Returns the topics the hub accepted (2xx).
    """
    import requests

    accepted: list[str] = []
    for topic in topics:
        try:
            response = requests.post(
                hub, data={"hub.mode": "publish", "hub.url": topic}, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.warning("WebSub hub %s not reached for %s: %s", hub, topic, exc)
            continue
        if 200 <= response.status_code < 300:
            accepted.append(topic)
        else:
            log.warning("WebSub hub %s answered %s for %s", hub, response.status_code, topic)
    return accepted


def refresh_delay(store: Store, now: datetime, interval: float) -> float:
    """Seconds until feeds must be rebuilt: at the next embargo lift, and at least every `interval`."""
    from distrib.store import next_publication

    upcoming = next_publication(store, now)
    if upcoming is None:
        return interval
    # A hair past the moment, so the rebuild sees `published <= now` even on a coarse clock.
    return max(0.0, min(interval, (upcoming - utc(now)).total_seconds() + 0.05))


def refresh_loop(
    store: Store, settings: Settings, stop_event: threading.Event, *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC), interval: float = 60.0,
    out_dir: Path | None = None,
) -> None:  # fmt: skip
    """Rebuild the feeds until `stop_event` is set: every `interval` seconds and when an embargo lifts.

    A failed rebuild is logged and retried at the next turn; the files already written keep being served.
    """
    while not stop_event.is_set():
        now = clock()
        delay = interval
        try:
            result = write_feeds(store, settings, now, out_dir)
            if result.written:
                log.info("feeds rebuilt: %s", ", ".join(result.written))
            delay = refresh_delay(store, now, interval)
        except Exception:
            log.exception("feed rebuild failed; the previous files stay in place")
        stop_event.wait(delay)
