"""Published release text or HTML -> a Draft: each value quoted from its sentence; nothing is invented."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from distrib import extract_time as xt
from distrib.html_text import Page, TextBlock, html_to_page

# -- the draft -----------------------------------------------------------------------------------


@dataclass(slots=True)
class DraftEvent:
    id: str
    title: str
    start: datetime | None  # aware UTC
    end: datetime | None
    timezone: str | None
    location: str | None = None
    stream_url: str | None = None
    url: str | None = None
    description: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # field -> comment (the quote it came from)
    # The importer's own bookkeeping, not written to the draft: the event word it was named by
    # ("launch", "conference"), and where its time was read (block index, position), so that later
    # sentences ("The launch will be streamed at ...") can be matched to it.
    kind: str = ""
    source: tuple[int, int] | None = None


@dataclass(slots=True)
class DraftDeadline:
    id: str
    title: str
    due: datetime | date | None  # aware UTC, or a date: the whole day counts
    timezone: str | None
    how: str | None = None
    event: str | None = None
    url: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DraftContact:
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Draft:
    """What the importer found; None means not found (and is listed in `warnings`)."""

    id: str | None = None
    title: str | None = None
    reference: str | None = None
    published: datetime | date | None = None
    timezone: str | None = None
    show_timezones: list[str] = field(default_factory=list)
    language: str | None = None
    url: str | None = None
    summary: str | None = None
    handles: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    events: list[DraftEvent] = field(default_factory=list)
    deadlines: list[DraftDeadline] = field(default_factory=list)
    contacts: list[DraftContact] = field(default_factory=list)
    image: str | None = None
    body: str = ""
    notes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


# -- entry points --------------------------------------------------------------------------------


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:2000].lower()
    return bool(re.match(r"<(?:!doctype\s+html|html|head|body|article|main|div|p|meta)\b", head)) or (
        "<body" in head and "</" in head
    )


def draft_from_source(text: str, *, html: bool | None = None, url: str | None = None) -> Draft:
    """Text or HTML (guessed from the content when `html` is None) -> Draft."""
    if html is None:
        html = looks_like_html(text)
    if html:
        return draft_from_page(html_to_page(text, url), url=url)
    return draft_from_blocks(text_blocks(text), url=url)


def draft_from_page(page: Page, *, url: str | None = None) -> Draft:
    return draft_from_blocks(
        page.blocks,
        url=page.url or url,
        title_hint=page.title,
        published_hint=page.published,
        image=page.image,
        from_html=True,
    )


# -- text -> blocks ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…][\"”’)\]]*$")
_LABEL = re.compile(r"^(?P<label>[A-Z][\w /&-]{1,30}):\s*(?P<value>.*)$")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\ufeff", "").replace("\u00ad", "")
    return re.sub(r"[ \t\u00a0\u2009\u202f\u2007]+", " ", text)


def text_blocks(text: str) -> list[TextBlock]:
    """Plain text -> one block per paragraph. Hard-wrapped paragraphs are joined back; short lines
    (contacts, labels, headings) stay their own block."""
    lines = [line.strip() for line in normalize(text).split("\n")]
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line:
            if current:
                blocks.append(" ".join(current))
                current = []
            continue
        if current and _continues(current[-1], line):
            current.append(line)
            continue
        if current:
            blocks.append(" ".join(current))
        current = [line]
    if current:
        blocks.append(" ".join(current))
    out = []
    for index, block in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        out.append(TextBlock(block, heading=_is_heading(block, following)))
    return out


_STOPWORDS = {"a", "an", "the", "at", "to", "on", "of", "for", "and", "or", "in", "by", "with", "from", "via"}
_VERBISH = re.compile(r"\b(?:will|is|are|was|were|be|been|has|have|please|can|may)\b", re.IGNORECASE)


def _continues(previous: str, line: str) -> bool:
    """A wrapped line: the previous one is long and unfinished, or this one starts in lower case."""
    if _LABEL.match(line) or re.match(r"^(?:[-*•]|\d+[.)])\s", line) or _has_contact_detail(line):
        return False
    if _SENTENCE_END.search(previous) or previous.endswith(":"):
        return False
    return len(previous) >= 60 or bool(re.match(r"^[a-z(]", line))


def _is_heading(block: str, following: str | None) -> bool:
    words = block.split()
    if following is None or not 1 <= len(words) <= 7 or len(block) > 60:
        return False
    if _SENTENCE_END.search(block) or re.search(r"[,;]", block) or _LABEL.match(block):
        return False
    if (
        _has_contact_detail(block)
        or _has_contact_detail(following)
        or re.search(r"[\d@#]|https?:|www\.", block)
    ):
        return False
    if words[-1].lower() in _STOPWORDS or _VERBISH.search(block):
        return False  # "The briefing will be streamed at" is an unfinished sentence, not a heading
    if len(following.split()) < 6 and not _LABEL.match(following):
        return False  # a name over its address ("Grey Hautaluoma" / "Headquarters, Washington")
    return (block[0].isupper() and block.rstrip(":") == block) or (block.endswith(":") and len(words) <= 4)


# -- small text helpers --------------------------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'\[\]{}|\\^`]+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_PHONE_HINT = re.compile(r"(?:\+\s?\d[\d\s().-]{6,}\d|\b\d{3}[\s.-]\d{3}[\s.-]\d{4}\b)")
_HANDLE = re.compile(r"(?<![\w@./:+-])@[A-Za-z0-9_]{1,30}(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?(?![\w@])")
_HASHTAG = re.compile(r"(?<![\w#&/=?-])#[^\W\d_][\w]*")
_ABBREV_END = re.compile(
    r"(?:\b(?:[ap]\.m|no|nr|dr|mr|mrs|ms|prof|st|mt|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
    r"|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|approx|tel|ext|e\.g|i\.e|etc|vs|inc|ltd|co|u\.s|u\.k|fig)"
    r"|(?<![\w.])[A-Z])\.$",
    re.IGNORECASE,
)


def _url_clean(url: str) -> str:
    url = url.rstrip(".,;:!?")
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1]
    return url if url.lower().startswith("http") else "https://" + url


def find_urls(text: str) -> list[str]:
    return list(dict.fromkeys(_url_clean(m.group(0)) for m in _URL.finditer(text)))


def _has_contact_detail(text: str) -> bool:
    return bool(
        _EMAIL.search(text) or _PHONE_HINT.search(text) or re.match(r"(?i)^(?:tel|phone|fax)\b", text)
    )


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence boundaries, not splitting after 'p.m.', 'Sept.', 'No.' or initials."""
    spans = []
    start = 0
    for m in re.finditer(r"[.!?…]+[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9@#])", text):
        if _ABBREV_END.search(text[max(start, m.start() - 8) : m.start() + 1]):
            continue
        end = m.start() + len(m.group(0).rstrip())
        spans.append((start, end))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def quote(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _q(text: str, limit: int = 100) -> str:
    return f'"{quote(text, limit)}"'


def slug(text: str, limit: int = 60) -> str:
    text = re.sub(r"[°º]", "", re.sub(r"[–—/]", " ", text))
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
    words = re.sub(r"[^a-z0-9]+", " ", ascii_text.decode().lower()).split()
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out


def _mask(text: str, patterns: list[re.Pattern[str]]) -> str:
    for pattern in patterns:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


# -- the document model --------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    index: int
    text: str
    heading: bool
    item: bool
    section: int  # index of the heading block this block sits under (-1: none)
    sentences: list[tuple[int, int]]
    dates: list[xt.DateMention] = field(default_factory=list)
    day_line: int | None = None  # the latest "Monday, 23 May" line above it in its section (a programme day)

    def sentence_at(self, pos: int) -> tuple[int, int]:
        for span in self.sentences:
            if span[0] <= pos < span[1] or pos == span[1]:
                return span
        return (0, len(self.text))


@dataclass(slots=True)
class _Doc:
    blocks: list[_Block]
    published: date | None
    order: str
    media_context: bool
    twelve_hour: bool
    programme: xt.Zone | None = None
    programme_quote: str | None = None
    sole_zone: str | None = None  # the one zone every zoned time in the release is written in
    dateline: str | None = None  # the line the publication date was read from


_CHROME_LINE = re.compile(
    r"^(?:back to\b|skip to\b|home$|menu$|search$|share\b|print$|log ?in\b|sign in\b|subscribe\b|"
    r"cookies?\b|accept\b|you are here|follow us$|main navigation|related (?:articles|links))",
    re.IGNORECASE,
)
_LANGUAGES = {
    "english", "french", "german", "italian", "spanish", "dutch", "portuguese", "russian", "swedish",
    "danish", "norwegian", "finnish", "polish", "greek", "czech", "romanian", "hungarian", "français",
    "deutsch", "italiano", "español", "nederlands", "index", "back", "to",
}  # fmt: skip
_GENERIC_LABEL = re.compile(
    r"^(?:for immediate release|media advisory|news release|press release|press info|media release|"
    r"news|update|embargo(?:ed)?(?: until)?\b.*|call for media|invitation to media)\s*[:.!]?$",
    re.IGNORECASE,
)
_REFERENCE = re.compile(
    r"(?P<ref>(?:N[°º]|No\.|Nr\.|Number)\s*\d+\s*[–—/-]\s*\d{2,4})"
    r"|\b(?:RELEASE|ADVISORY|Release|Advisory)\s+(?:(?:NO\.?|No\.?|Number|#)\s*)?:?\s*(?P<code>[A-Z]{0,3}\d{2}[-–]\d{2,4}[A-Z]?)\b"
    r"|\b(?:Ref\.?|Reference)\s*:?\s*(?P<other>[A-Z0-9][\w/.-]*\d[\w/.-]*)"
)


def _is_chrome(text: str) -> bool:
    if _CHROME_LINE.match(text):
        return True
    words = [w.strip(".,|/·").lower() for w in text.split()]
    return len(words) >= 3 and sum(w in _LANGUAGES for w in words) >= len(words) - 1


# -- extraction ----------------------------------------------------------------------------------


def draft_from_blocks(
    raw_blocks: list[TextBlock],
    *,
    url: str | None = None,
    title_hint: str | None = None,
    published_hint: str | None = None,
    image: str | None = None,
    from_html: bool = False,
) -> Draft:
    """The pure core: article blocks -> Draft. Every value carries the sentence it came from."""
    draft = Draft(url=url, image=image)
    blocks = [TextBlock(normalize(b.text).strip(), b.heading, b.item) for b in raw_blocks]
    blocks = [b for b in blocks if b.text]
    whole = "\n".join(b.text for b in blocks)

    body_start, dateline = _header(draft, blocks, title_hint, published_hint, from_html)
    body_blocks = [b for b in blocks[body_start:] if not _is_chrome(b.text)]
    order = xt.date_order(whole)
    published_day = (
        draft.published
        if isinstance(draft.published, date) and not isinstance(draft.published, datetime)
        else None
    )
    if isinstance(draft.published, datetime):
        published_day = draft.published.date()
    doc = _build_doc(body_blocks, published_day, order, draft.title or "")
    doc.dateline = dateline

    _language(draft, whole)
    _events(draft, doc)
    _deadlines(draft, doc)
    _locations_and_streams(draft, doc)
    _timezone(draft, doc)
    _resolve_gating(draft)
    _contacts(draft, doc)
    _tags(draft, whole)
    _summary(draft, doc)
    draft.body = _markdown(doc)
    _identify(draft)
    _report_missing(draft)
    return draft


def _header(
    draft: Draft, blocks: list[TextBlock], title_hint: str | None, published_hint: str | None, from_html: bool
) -> tuple[int, str | None]:
    """Title, reference and publication date; returns the index where the body starts."""
    first_prose = next(
        (i for i, b in enumerate(blocks) if len(b.text.split()) >= 14 and _SENTENCE_END.search(b.text)),
        len(blocks),
    )
    header = list(range(min(first_prose, 12)))
    date_index = None
    for i in [*header, first_prose]:
        if i >= len(blocks):
            break
        text = blocks[i].text
        dates = [d for d in xt.find_dates(text) if d.year is not None and d.first_day is None]
        if dates and (i in header or (i == first_prose and dates[0].start < 40)):
            d = dates[0]
            assert d.month is not None
            assert d.day is not None
            day = date(d.year or 0, d.month, d.day)
            draft.published = _published_with_time(text, d, day)
            draft.notes["published"] = _q(text)
            date_index = i
            if d.weekday is not None and day.weekday() != d.weekday:
                draft.warn(
                    f"publication date '{d.text}': {day} is a {xt.WEEKDAY_NAMES[day.weekday()]}; check it"
                )
            break
    if published_hint:
        parsed = _parse_iso(published_hint)
        if parsed is not None:
            draft.published = parsed
            draft.notes["published"] = f"from the page's metadata: {_q(published_hint, 40)}"

    title_index = None
    if title_hint:
        draft.title = title_hint
        draft.notes["title"] = "the page's headline (<h1>)" if from_html else _q(title_hint)
        title_index = next((i for i, b in enumerate(blocks) if b.text == title_hint), None)
    else:
        candidates = [
            i
            for i in header
            if i != date_index
            and not _is_chrome(blocks[i].text)
            and not _GENERIC_LABEL.match(blocks[i].text)
            and len(blocks[i].text.split()) >= 3
            and not _has_contact_detail(blocks[i].text)
        ]
        near_date = [i for i in candidates if date_index is not None and abs(i - date_index) == 1]
        long_enough = [i for i in candidates if len(blocks[i].text.split()) >= 4]
        ranked = near_date or long_enough or candidates
        if ranked:
            pick = ranked[0]
            title_index = pick
            draft.title = blocks[pick].text
            draft.notes["title"] = _q(blocks[pick].text)
    for i in [*header, *([title_index] if title_index is not None else [])]:
        m = _REFERENCE.search(blocks[i].text)
        if m:
            draft.reference = (m["ref"] or m["code"] or m["other"]).strip()
            draft.notes["reference"] = _q(blocks[i].text)
            break
    if draft.title and draft.reference and draft.reference in draft.title:
        stripped = draft.title.replace(draft.reference, "", 1).strip(" :–—-|")
        draft.title = stripped or draft.title
    if draft.title:
        draft.title = re.sub(
            r"^(?:media advisory|news release|press release)\s*[:–—-]\s*", "", draft.title, flags=re.I
        )
    used = [i for i in (title_index, date_index) if i is not None and i < first_prose + 1]
    dateline = blocks[date_index].text if date_index is not None else None
    if from_html:
        return ((title_index + 1) if title_index is not None and title_index < 12 else 0), dateline
    return (max(used) + 1 if used else 0), dateline


def _published_with_time(text: str, mention: xt.DateMention, day: date) -> datetime | date:
    """'24 February 2020, 09:00 CET' -> an aware datetime; a date alone stays a date."""
    rest = text[mention.end : mention.end + 30]
    clocks = xt.find_clocks(rest)
    if clocks and clocks[0].start <= 4 and clocks[0].zone is not None and clocks[0].zone.name:
        c = clocks[0]
        assert c.zone is not None
        assert c.zone.name is not None
        return xt.wall_to_utc(day, c.hour, c.minute, c.zone.name)
    return day


def _parse_iso(text: str) -> datetime | date | None:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.date()  # a wall time without a zone: keep only the day rather than guess the zone
    return moment.astimezone(UTC)


def _build_doc(blocks: list[TextBlock], published: date | None, order: str, title: str) -> _Doc:
    out: list[_Block] = []
    section = -1
    masks = [_URL, _EMAIL]
    day_line: int | None = None
    for index, b in enumerate(blocks):
        if b.heading:
            section = index
            day_line = None
        block = _Block(index, b.text, b.heading, b.item, section, sentence_spans(b.text))
        block.dates = xt.find_dates(_mask(b.text, masks), order)
        block.day_line = day_line
        if _is_day_line(block):
            day_line = index
        out.append(block)
    whole = "\n".join(b.text for b in blocks)
    media = bool(re.search(r"\b(?:media|press|journalists?|reporters?|newsroom)\b", title, re.IGNORECASE))
    twelve = bool(re.search(r"\d\s?[ap]\.?\s?m\b", whole, re.IGNORECASE))
    doc = _Doc(out, published, order, media, twelve)
    written = set()
    for block in out:
        for clock in xt.find_clocks(_mask(block.text, [_URL, _EMAIL, _PHONE_HINT])):
            if clock.zone is not None and clock.zone.name:
                written.add(clock.zone.name)
    doc.sole_zone = written.pop() if len(written) == 1 else None
    for block in out:
        found = xt.programme_zone(block.text)
        if found:
            doc.programme = found[0]
            doc.programme_quote = block.text
            break
    return doc


def _is_day_line(block: _Block) -> bool:
    """'Monday, 23 May (all times CEST)': a date standing alone heads the lines below it."""
    dated = [d for d in block.dates if not d.weekday_only]
    if len(dated) != 1:
        return False
    rest = block.text[: dated[0].start] + block.text[dated[0].end :]
    rest = re.sub(r"\([^)]*\)|[^\w\s]", " ", rest)
    return len(rest.split()) <= 2


def _language(draft: Draft, whole: str) -> None:
    words = re.findall(r"[a-z]+", whole.lower())
    common = {"the", "and", "of", "to", "in", "will", "is", "for", "on", "with", "at", "be"}
    if words and sum(w in common for w in words) / len(words) > 0.06:
        draft.language = "en"
        draft.notes["language"] = "the text reads as English"
    else:
        draft.language = None


# -- dates for a position ------------------------------------------------------------------------


@dataclass(slots=True)
class _DateChoice:
    day: date
    first_day: date | None
    quote: str
    note: str | None
    warning: str | None


def _resolve(m: xt.DateMention, doc: _Doc) -> xt.ResolvedDate | None:
    return xt.resolve_date(m, doc.published)


def _date_for(
    doc: _Doc,
    block: _Block,
    pos: int,
    *,
    exclude: tuple[int, int] | None = None,
    refers: DraftEvent | None = None,
    zone: str | None = None,
) -> _DateChoice | None:
    """The date a clock at `pos` belongs to: its sentence; the event the sentence refers to (`refers`, its
    day in `zone`); its paragraph, its section, then (flagged) the nearest earlier date in the text that is
    not before publication."""
    sent = block.sentence_at(pos)
    sentence = block.text[sent[0] : sent[1]]

    def usable(m: xt.DateMention) -> bool:
        return exclude is None or not (exclude[0] <= m.start < exclude[1])

    def nearest(group: list[xt.DateMention]) -> _DateChoice | None:
        ranked = sorted(group, key=lambda m: (m.weekday_only, min(abs(m.start - pos), abs(m.end - pos))))
        for m in ranked:
            r = _resolve(m, doc)
            if r is not None:
                return _DateChoice(r.day, r.first_day, sentence, r.note, r.warning)
        return None

    found = nearest([m for m in block.dates if sent[0] <= m.start < sent[1] and usable(m)])
    if found is not None:
        return found
    if refers is not None and refers.start is not None:
        # "The launch will be streamed from 17:30": the launch's day, not a date the paragraph happens to
        # hold for something else. Still borrowed, so still flagged.
        day = refers.start.astimezone(ZoneInfo(zone or refers.timezone or "UTC")).date()
        origin = _source_sentence(doc, refers)
        return _DateChoice(
            day,
            None,
            origin,
            f"that of '{refers.title}', which the sentence refers to",
            f"no date next to this time; took {day.isoformat()} from '{refers.title}', which the sentence "
            f"refers to ({_q(origin, 70)}); check it",
        )
    found = nearest([m for m in block.dates if usable(m)])
    if found is not None:
        return found
    if block.day_line is not None:
        other = doc.blocks[block.day_line]
        m = next(d for d in other.dates if not d.weekday_only)
        r = _resolve(m, doc)
        if r is not None:
            return _DateChoice(
                r.day, r.first_day, other.text, _join(r.note, "the programme day above"), r.warning
            )
    if block.section >= 0 or block.index > 0:
        for other in _section_neighbours(doc, block):
            for m in other.dates:
                if m.weekday_only:
                    continue
                r = _resolve(m, doc)
                if r is not None:
                    return _DateChoice(
                        r.day,
                        r.first_day,
                        other.text,
                        _join(r.note, "date from a nearby paragraph"),
                        r.warning,
                    )
    for other in reversed(doc.blocks[: block.index]):
        for m in reversed(other.dates):
            if m.weekday_only:
                continue
            r = _resolve(m, doc)
            if r is not None and (doc.published is None or r.day >= doc.published):
                span = other.sentence_at(m.start)
                sentence = other.text[span[0] : span[1]]
                return _DateChoice(
                    r.day, r.first_day, sentence, r.note,
                    _join(r.warning, f"no date next to this time; took {r.day.isoformat()} from an earlier "
                          f"sentence "
                          f"({_q(sentence, 70)}); check it"),
                )  # fmt: skip
    return None


def _source_sentence(doc: _Doc, event: DraftEvent) -> str:
    if event.source is None:
        return ""
    block = doc.blocks[event.source[0]]
    s0, s1 = block.sentence_at(event.source[1])
    return block.text[s0:s1]


def _section_neighbours(doc: _Doc, block: _Block) -> list[_Block]:
    """Blocks of the same section, nearest first (before, then after)."""
    same = [b for b in doc.blocks if b.section == block.section and b.index != block.index]
    before = sorted((b for b in same if b.index < block.index), key=lambda b: -b.index)
    after = sorted((b for b in same if b.index > block.index), key=lambda b: b.index)
    if block.section < 0:
        before = before[:2]
        after = after[:1]
    return before + after[:3]


def _join(a: str | None, b: str | None) -> str | None:
    if a and b:
        return f"{a}; {b}"
    return a or b


# -- events --------------------------------------------------------------------------------------

_EVENT_WORDS = [
    ("news conference", "conference"), ("press conference", "conference"),
    ("media teleconference", "teleconference"), ("teleconference", "teleconference"),
    ("press briefing", "briefing"), ("media briefing", "briefing"), ("news briefing", "briefing"),
    ("briefing", "briefing"), ("lift-off", "launch"), ("lift off", "launch"), ("liftoff", "launch"),
    ("launch", "launch"),
    ("live stream", "livestream"), ("livestream", "livestream"), ("webcast", "webcast"),
    ("broadcast", "broadcast"), ("symposium", "symposium"), ("workshop", "workshop"),
    ("conference", "conference"), ("ceremony", "ceremony"), ("media day", "media-day"),
    ("open day", "open-day"), ("interviews", "interviews"), ("press event", "event"),
    ("event", "event"), ("meeting", "meeting"), ("keynote", "keynote"), ("panel", "panel"),
]  # fmt: skip
_EVENT_RE = re.compile(
    r"\b(" + "|".join(re.escape(w) for w, _ in _EVENT_WORDS) + r")(?:e?s|d)?\b", re.IGNORECASE
)
_DEADLINE_CUE = re.compile(
    r"\b(?P<cue>deadline|no later than|not later than|by|before|until|closes?|close on|due)\b", re.IGNORECASE
)
_DEADLINE_KIND = re.compile(
    r"\b(?P<kind>accredit\w*|regist\w*|sign(?:ing)?[ -]up|rsvp|apply|applications?|applicants?|submi\w+"
    r"|requests?)\b",
    re.IGNORECASE,
)
_ALTERNATE_JOIN = re.compile(
    r"^[\s,;/]*(?:\(|or\b|i\.e\.?|which is|that is|equivalent to)?[\s(]*$", re.IGNORECASE
)


def _deadline_cut(sentence: str) -> int | None:
    """Where the deadline part of a sentence begins (after its cue), when it is a deadline sentence."""
    if not (_DEADLINE_KIND.search(sentence) or re.search(r"\bdeadline\b", sentence, re.IGNORECASE)):
        return None
    for m in _DEADLINE_CUE.finditer(sentence):
        reach = 70 if m["cue"].lower() == "deadline" else 25
        window = sentence[m.end() : m.end() + reach]
        if xt.find_dates(window) or xt.find_clocks(window) or re.search(r"\b(?:today|tomorrow)\b", window):
            return m.start()
    return None


@dataclass(slots=True)
class _Stated:
    """One clock statement with its alternates: '14:00 Moscow time (12:00 CET)'."""

    block: _Block
    main: xt.Clock
    alternates: list[xt.Clock]
    span: tuple[int, int]


def _statements(doc: _Doc, block: _Block) -> list[_Stated]:
    masked = _mask(block.text, [_URL, _EMAIL, _PHONE_HINT])
    for m in block.dates:
        if not m.weekday_only:
            masked = masked[: m.start] + " " * (m.end - m.start) + masked[m.end :]
    clocks = xt.find_clocks(masked, twelve_hour_style=doc.twelve_hour)
    clocks = [
        xt.Clock(
            c.start,
            c.end,
            block.text[c.start : c.end],
            c.hour,
            c.minute,
            c.end_hour,
            c.end_minute,
            c.zone,
            c.note,
        )
        for c in clocks
    ]
    out: list[_Stated] = []
    i = 0
    while i < len(clocks):
        main = clocks[i]
        alternates = []
        j = i + 1
        last = main
        while (
            j < len(clocks)
            and clocks[j].zone is not None
            and _ALTERNATE_JOIN.match(block.text[last.end : clocks[j].start])
        ):
            alternates.append(clocks[j])
            last = clocks[j]
            j += 1
        end = last.end
        close = block.text.find(")", end)
        if alternates and close != -1 and close - end < 40:
            end = close + 1
        out.append(_Stated(block, main, alternates, (main.start, end)))
        i = j
    return out


def _events(draft: Draft, doc: _Doc) -> None:
    streamed: list[tuple[_Stated, str, tuple[int, int]]] = []
    for block in doc.blocks:
        for stated in _statements(doc, block):
            sent = block.sentence_at(stated.main.start)
            sentence = block.text[sent[0] : sent[1]]
            cut = _deadline_cut(sentence)
            if cut is not None and stated.main.start >= sent[0] + cut:
                continue  # the time of a deadline, read by _deadlines
            if (
                doc.programme is not None
                and stated.span[0] <= block.text.find(doc.programme.text) < stated.span[1]
                and stated.main.zone is None
            ):
                continue
            if _is_stream_sentence(sentence):
                streamed.append((stated, sentence, sent))
                continue
            event = _event_from(draft, doc, stated, sentence)
            if event is not None:
                _add_event(draft, event)
    # Times in stream sentences come second, so that "The launch will be streamed from 17:30" can be read
    # against the launch wherever the release states it.
    for stated, sentence, sent in streamed:
        targets, _candidates, _why = _covered_by(doc, stated.block, sent, draft.events)
        covered = targets[0] if len(targets) == 1 else None
        if covered is not None and not _stream_is_own_item(stated, sentence):
            _fold_stream_start(draft, doc, stated, sentence, covered)
            continue
        event = _event_from(draft, doc, stated, sentence, covers=covered)
        if event is not None:
            _add_event(draft, event)
    draft.events.sort(key=lambda e: e.source or (len(doc.blocks), 0))  # text order


# -- which event a sentence is about ------------------------------------------------------------

_STREAM_KINDS = {"livestream", "webcast", "broadcast"}
# Releases call one event by several names ("NASA will hold a news conference ... The briefing will air
# live"): a name that fits no event exactly may still fit one of its family.
_KIND_FAMILY = {"conference": "talk", "briefing": "talk", "teleconference": "talk"}
_COORDINATED = re.compile(
    r"\s*(?:,|and|&|or|as well as|plus)\s+(?:(?:the|a|an|its|their|both)\s+)?(?:[\w-]+\s+)?",
    re.IGNORECASE,
)
# The stream is the sentence's subject ("Live coverage begins at 17:30", "The launch webcast starts at
# 21:00", "NASA TV coverage begins ..."): a programme item of its own, not just how an event is shown.
_STREAM_SUBJECT = re.compile(
    r"^\W*(?:[\w'’+-]+\s+){0,3}?(?:live\s+)?(?:coverage|webcast|live[- ]?stream|stream|broadcast|"
    r"transmission)\b(?!\s+(?:of\s+)?(?:will|is|are)\s+(?:be\s+)?(?:streamed|webcast|broadcast))",
    re.IGNORECASE,
)
_IMPERATIVE = re.compile(r"^\W*(?:watch|follow|tune in|join|view|catch|see)\b", re.IGNORECASE)


def _is_stream_sentence(sentence: str) -> bool:
    return bool(_STREAM.search(sentence) or _STREAM_SUBJECT.match(sentence))


def _stream_is_own_item(stated: _Stated, sentence: str) -> bool:
    """Whether a time in a stream sentence starts a programme item of its own ("Live coverage begins at
    17:30", a programme line "17:30 Live coverage"), rather than saying when an event's stream starts ("The
    launch will be streamed live starting at 17:30", "Watch the launch live from 21:30 CET")."""
    if not stated.block.text[: stated.main.start].strip(" -–—:|"):
        return True  # a programme line
    return not _IMPERATIVE.match(sentence) and bool(_STREAM_SUBJECT.match(sentence))


def _named_kinds(text: str) -> list[str]:
    """The event kinds a sentence is about: its first event word and any joined to it ("the launch and the
    press conference"); a later one ("the conference after the launch") only qualifies the first."""
    kinds_of = dict(_EVENT_WORDS)
    found = [m for m in _EVENT_RE.finditer(text) if kinds_of[m.group(1).lower()] not in _STREAM_KINDS]
    if not found:
        return []
    kinds = [kinds_of[found[0].group(1).lower()]]
    last = found[0]
    for m in found[1:]:
        if not _COORDINATED.fullmatch(text[last.end() : m.start()]):
            break
        kinds.append(kinds_of[m.group(1).lower()])
        last = m
    return list(dict.fromkeys(kinds))


def _named_events(text: str, events: list[DraftEvent]) -> list[list[DraftEvent]]:
    """For each event `text` names: the events that name fits (one: attributed; several: ambiguous; none:
    the release gives that event no time). Titles first ("Opening ceremony"), then event words."""
    lower = text.lower()
    titled = [e for e in events if len(e.title.split()) >= 2 and e.title.lower() in lower]
    groups = []
    for kind in _named_kinds(text):
        if kind == "event":  # "the event": any of them
            group = [e for e in events if e.kind not in _STREAM_KINDS]
        else:
            exact = [e for e in events if e.kind == kind]
            family = _KIND_FAMILY.get(kind)
            kin = [e for e in events if family and _KIND_FAMILY.get(e.kind) == family]
            # An event no event word named ("Vega is scheduled to lift off at 22:52") may be the one meant.
            unnamed = [e for e in events if e.kind == "event"]
            group = exact or kin or (unnamed if len(unnamed) == 1 else [])
        by_title = [e for e in group if any(e is t for t in titled)]
        groups.append(by_title if len(group) > 1 and len(by_title) == 1 else group)
    for e in titled:  # a programme item named by its title ("The opening remarks will be streamed")
        if not any(e is x for g in groups for x in g):
            groups.append([e])
    return groups


def _covered_by(
    doc: _Doc, block: _Block, sent: tuple[int, int], events: list[DraftEvent]
) -> tuple[list[DraftEvent], list[DraftEvent], str]:
    """The events a stream sentence is about: (attributed events, candidates when it cannot tell, why).
    Its own programme item and the events it names; else the one event its paragraph names; else the only
    event. A sentence naming an event the release gives no time for is attributed to nothing."""
    sentence = block.text[sent[0] : sent[1]]
    own = [e for e in events if e.source and e.source[0] == block.index and sent[0] <= e.source[1] < sent[1]]
    groups = _named_events(sentence, [e for e in events if not any(e is o for o in own)])
    named = [g[0] for g in groups if len(g) == 1]
    ambiguous = [e for g in groups if len(g) > 1 for e in g]
    if ambiguous:
        return own, ambiguous, "the sentence"
    if own or named:
        return _unique([*own, *named]), [], "the sentence"
    if groups:
        return [], [], "the sentence names an event the release gives no time for"
    in_paragraph = [e for e in events if e.source and e.source[0] == block.index]
    for g in _named_events(block.text, events):
        in_paragraph.extend(g)
    in_paragraph = _unique(in_paragraph)
    if len(in_paragraph) == 1:
        return in_paragraph, [], "the event its paragraph is about"
    real = [e for e in events if e.kind not in _STREAM_KINDS]
    if len(real) == 1 and not in_paragraph:
        return real, [], "the only event"
    return [], in_paragraph or real, "the sentence does not say which event"


def _unique(events: list[DraftEvent]) -> list[DraftEvent]:
    out: list[DraftEvent] = []
    for e in events:
        if not any(e is o for o in out):
            out.append(e)
    return out


def _fold_stream_start(draft: Draft, doc: _Doc, stated: _Stated, sentence: str, event: DraftEvent) -> None:
    """'The launch will be streamed live starting at 17:30 local time': not an event of its own; the
    stream's start is kept in the comment of the launch's stream_url, read in the launch's day and zone."""
    main = stated.main
    zone, _why = _zone_for(doc, main, stated.alternates, None, [sentence], covers=event)
    choice = _date_for(doc, stated.block, main.start, refers=event, zone=zone)
    shown = main.text
    if zone is not None and choice is not None:
        start = xt.wall_to_utc(choice.day, main.hour, main.minute, zone)
        shown += f" ({choice.day.isoformat()} {main.hour:02d}:{main.minute:02d} {zone})"
        if event.start is not None and start > event.start:
            draft.warn(
                f"event '{event.title}': its stream starts ({_q(main.text, 30)}) after the event itself; "
                "check the stream's date"
            )
    borrowed = [
        what
        for what, taken in (
            ("day", choice is not None and choice.quote != sentence),
            ("zone", zone is not None and (main.zone is None or main.zone.local)),
        )
        if taken
    ]
    event.notes["stream_start"] = f"the stream starts at {shown}" + (
        f", {' and '.join(borrowed)} taken from '{event.title}'" if borrowed else ""
    )
    if zone is None:
        event.notes["stream_start"] += " (zone unknown)"


def _event_title(doc: _Doc, stated: _Stated, sentence: str) -> tuple[str, str, str]:
    """(id, title, why) for an event statement."""
    block = stated.block
    heading = doc.blocks[block.section].text.rstrip(":") if block.section >= 0 else None
    lead = block.text[: stated.main.start].strip(" -–—:|")
    if not lead and len(block.text) > stated.span[1] + 2:
        # A programme line: "09:30–10:00 Opening remarks".
        rest = block.text[stated.span[1] :].strip(" -–—:|,")
        if rest:
            m = _EVENT_RE.search(rest)
            ident = dict(_EVENT_WORDS).get(m.group(1).lower(), slug(rest, 30)) if m else slug(rest, 30)
            return ident or "event", quote(rest, 80), "the programme line"
    if _is_stream_sentence(sentence) and (
        _STREAM_SUBJECT.match(sentence)
        or not re.search(r"\b(?:briefing|conference)\b", sentence, re.IGNORECASE)
    ):
        return "livestream", "Livestream", "the sentence (it is about a stream)"
    for text, why in ((heading, "the section heading"), (sentence, "the sentence")):
        if not text:
            continue
        m = _EVENT_RE.search(text)
        if m:
            word = m.group(1)
            kind = dict(_EVENT_WORDS)[word.lower()]
            title = (
                text
                if why == "the section heading" and len(text) <= 60
                else word[0].upper() + word[1:].lower()
            )
            return kind, title, why
    return "event", heading or "Event", "the section heading" if heading else "no event word found"


def _event_from(
    draft: Draft, doc: _Doc, stated: _Stated, sentence: str, *, covers: DraftEvent | None = None
) -> DraftEvent | None:
    """`covers`: the event a stream item is the coverage of; its day and zone fill what the sentence lacks."""
    block = stated.block
    main = stated.main
    ident, title, why = _event_title(doc, stated, sentence)
    line_quote = block.text if len(block.text) < 120 else sentence
    event = DraftEvent(ident, title, None, None, None, kind=ident, source=(block.index, main.start))
    event.notes["title"] = f"from {why}" + (f": {_q(title, 60)}" if why != "no event word found" else "")
    if covers is not None:
        event.notes["title"] += f"; it covers '{covers.title}'"
    warnings: list[str] = []
    label = f"event '{title}'"

    place = _place_near(doc, block, sentence)
    zone, zone_why = _zone_for(
        doc, main, stated.alternates, place, _context(doc, block, sentence), covers=covers
    )
    exclude = (stated.alternates[0].start, stated.span[1]) if stated.alternates else None
    choice = _date_for(doc, block, main.start, exclude=exclude, refers=covers, zone=zone)
    if zone is None:
        warnings.append(f"{label}: no time zone for {_q(main.text, 40)}; fill in its timezone")
    elif zone_why.startswith(ASSUMED):
        warnings.append(f"{label}: {zone_why.removeprefix(ASSUMED).strip()}; check it")
    if main.note:
        warnings.append(f"{label}: {main.note}")
    if choice is None:
        warnings.append(f"{label}: no date found for {_q(main.text, 40)}; fill in start")
        event.notes["start"] = f"NOT FOUND: the date of {_q(line_quote, 80)}"
        event.timezone = zone
        for w in warnings:
            draft.warn(w)
        return event
    if choice.warning:
        warnings.append(f"{label}: {choice.warning}")
    day = choice.day
    event.timezone = zone
    if zone is not None:
        start = xt.wall_to_utc(day, main.hour, main.minute, zone)
        end = None
        if main.end_hour is not None and main.end_minute is not None:
            end_day = (
                day
                if (main.end_hour, main.end_minute) > (main.hour, main.minute)
                else day + timedelta(days=1)
            )
            end = xt.wall_to_utc(end_day, main.end_hour, main.end_minute, zone)
        event.start, event.end = start, end
        if main.zone is not None and main.zone.name == zone:
            conflict = xt.abbreviation_conflict(main.zone, start)
            if conflict:
                warnings.append(f"{label}: {conflict}")
        warnings.extend(f"{label}: {w}" for w in _check_alternates(stated, day, start, end, zone))
    else:
        # No zone: keep the wall time in UTC-less form by recording the day and clock in the comment only.
        event.notes["start"] = (
            f"NOT FOUND (zone): {day.isoformat()} {main.hour:02d}:{main.minute:02d} as written, "
            f"zone unknown: {_q(line_quote, 80)}"
        )
    if event.start is not None:
        event.notes["start"] = _q(line_quote, 90) + (f"; date: {choice.note}" if choice.note else "")
        if choice.quote not in line_quote and choice.quote != line_quote:
            event.notes["start"] += f"; date from {_q(choice.quote, 60)}"
        if event.end is not None:
            event.notes["end"] = "the end of the same range"
    event.notes["timezone"] = zone_why
    if place is not None:
        event.location, event.notes["location"] = place
    for w in warnings:
        draft.warn(w)
    return event


def _place_near(doc: _Doc, block: _Block, sentence: str) -> tuple[str, str] | None:
    """A labelled location (Location:, Venue:, Where:) in the event's section, else one in the whole text."""
    section = [b for b in doc.blocks if b.section == block.section] if block.section >= 0 else [block]
    labelled = [(b, m) for b in doc.blocks if (m := _LOCATION_LABEL.match(b.text))]
    for b, m in labelled:
        if b in section:
            return _trim_place(m["value"]), _q(b.text)
    if len(labelled) == 1:
        b, m = labelled[0]
        return _trim_place(m["value"]), _q(b.text)
    m2 = re.search(
        r"\b(?:held|take[sn]? place|takes? place|hosted)\s+(?:at|in)\s+(?P<place>[^;()]{3,160})", sentence
    )
    if m2 and _trim_place(m2["place"]):
        return _trim_place(m2["place"]), _q(sentence)
    # "from Europe's Spaceport in Kourou, French Guiana": a capitalised place phrase naming a known place.
    for m3 in _PLACE_PHRASE.finditer(sentence):
        if xt.place_zone(m3["place"]) and _trim_place(m3["place"]):
            return _trim_place(m3["place"]), _q(sentence)
    return None


# What may stand between a place and the date or time that follows it: "…, Paris, on 5 November",
# "… Noordwijk, on Tuesday", "… from 10:00", "… between 09:00 and 10:00", "… at 14:00".
_PLACE_TAIL = re.compile(
    r"(?:[\s,;:–—-]+|\b(?:on|from|at|between|starting|beginning|until|till|to|by|and|as of)\b)+$",
    re.IGNORECASE,
)


def _trim_place(text: str) -> str:
    """A location phrase ends before the first date, weekday or time in it, without the words leading
    to that date ("on", "from", "between"...) and without trailing punctuation."""
    cut = len(text)
    masked = _mask(text, [_URL, _EMAIL])
    for d in xt.find_dates(masked):
        cut = min(cut, d.start)
        break
    for c in xt.find_clocks(masked):
        cut = min(cut, c.start)
        break
    m = re.search(r"\b(?:today|tomorrow|tonight)\b", text, re.IGNORECASE)
    if m:
        cut = min(cut, m.start())
    head = _PLACE_TAIL.sub("", text[:cut]) if cut < len(text) else text
    # A lower-case article is not part of the name ("held in the Main Auditorium"; "The Hague" keeps it).
    head = re.sub(r"^the\s+", "", head.strip())
    return head.strip(" ,.;:–—-")


_PLACE_PHRASE = re.compile(
    r"\b(?:from|at|in)\s+(?P<place>(?:the\s+)?[A-Z][\w'’.-]*(?:(?:\s+|,\s+|\s+(?:of|in|de|the)\s+)[A-Z][\w'’.-]*)*)"
)


_LOCATION_LABEL = re.compile(r"^(?:location|venue|where|place|address)\s*:\s*(?P<value>.+)$", re.IGNORECASE)


ASSUMED = "ASSUMED:"


def _zone_for(
    doc: _Doc,
    main: xt.Clock,
    alternates: list[xt.Clock],
    place: tuple[str, str] | None,
    context: list[str],
    *,
    covers: DraftEvent | None = None,
) -> tuple[str | None, str]:
    """The IANA zone for a clock statement, and why (for the draft's comment). `covers`: the event the
    statement's sentence refers to, whose zone a 'local time' (or a missing zone) is read in."""
    known = None
    far = False
    if covers is not None and covers.timezone:
        known = (f"the place of '{covers.title}', which the sentence refers to", covers.timezone)
    for text in [] if known else [place[0] if place else "", *context]:
        if text == _ELSEWHERE:
            far = True
            continue
        known = xt.place_zone(text) if text else None
        if known:
            break
    zone = main.zone
    source = f"written {_q(main.zone.text, 30)}" if main.zone else ""
    if zone is None and doc.programme is not None:
        zone = doc.programme
        source = f"the programme says {_q(doc.programme_quote or doc.programme.text, 50)}"
    if zone is None:
        for alt in alternates:
            if alt.zone is not None and alt.zone.name:
                return alt.zone.name, f"written {_q(alt.zone.text, 30)} next to it"
        unzoned = f"{ASSUMED} no zone next to {_q(main.text, 30)}; took"
        if covers is not None and known:
            why = f"{unzoned} {known[1]}, the zone of '{covers.title}', which the sentence refers to"
            return known[1], why
        if doc.sole_zone:
            return doc.sole_zone, f"{unzoned} {doc.sole_zone}, the only zone the release writes"
        if known:
            return known[1], f"{unzoned} {known[1]}, the zone of {known[0]}"
        return None, "NOT FOUND: no zone written next to the time"
    resolved = zone.resolve(known[1] if known else None)
    if resolved.name is None:
        return None, f"NOT FOUND: {_q(zone.text, 20)} but the place is unknown"
    if zone.local:
        if far and known:
            return (
                resolved.name,
                f"{ASSUMED} {_q(zone.text, 20)} read as the time at {known[0]}, named elsewhere",
            )
        return resolved.name, f"{source}, at {known[0] if known else '?'}"
    if resolved.name != zone.name:
        source += f"; {known[0] if known else ''} keeps {zone.text}"
    return resolved.name, source


_ELSEWHERE = "\x00elsewhere"  # marks where the context leaves the statement's own section


def _context(doc: _Doc, block: _Block, sentence: str) -> list[str]:
    """Text that may name the place of a 'local time': the sentence, the paragraph, the section."""
    section = [b.text for b in doc.blocks if block.section >= 0 and b.section == block.section]
    return [sentence, block.text, *section, _ELSEWHERE, *(b.text for b in doc.blocks)]


def _check_alternates(
    stated: _Stated, day: date, start: datetime, end: datetime | None, zone: str
) -> list[str]:
    """Two zones for one instant must agree (the alternate may fall on the day before or after)."""
    out = []
    for alt in stated.alternates:
        assert alt.zone is not None
        if alt.zone.name is None:
            continue
        alt_starts = [
            xt.wall_to_utc(day + timedelta(days=k), alt.hour, alt.minute, alt.zone.name) for k in (0, -1, 1)
        ]
        if start not in alt_starts:
            shown = start.astimezone(ZoneInfo(alt.zone.name))
            out.append(
                f"the two zones disagree: {_q(stated.main.text, 40)} is {start:%H:%M} UTC "
                f"({shown:%H:%M} {shown.tzname()} in {alt.zone.name}) but {_q(alt.text, 40)} is "
                f"{alt_starts[0]:%H:%M} UTC; kept {stated.main.text.split()[0]} {zone}; check which is right"
            )
            continue
        conflict = xt.abbreviation_conflict(alt.zone, start)
        if conflict:
            out.append(conflict)
        if end is not None and alt.end_hour is not None and alt.end_minute is not None:
            alt_ends = [
                xt.wall_to_utc(day + timedelta(days=k), alt.end_hour, alt.end_minute, alt.zone.name)
                for k in (0, -1, 1)
            ]
            if end not in alt_ends:
                out.append(
                    f"the two zones disagree on the end: {_q(stated.main.text, 40)} vs {_q(alt.text, 40)}"
                )
    return out


def _add_event(draft: Draft, event: DraftEvent) -> None:
    for other in draft.events:
        if event.start is not None and other.start == event.start:
            if other.end is None and event.end is not None:
                other.end, other.notes["end"] = event.end, event.notes.get("end", "")
                other.notes["start"] = event.notes.get("start", other.notes.get("start", ""))
            if other.location is None and event.location is not None:
                other.location = event.location
                other.notes["location"] = event.notes.get("location", "")
            return
    ids = {e.id for e in draft.events}
    base = event.id or "event"
    n = 2
    while event.id in ids:
        event.id = f"{base}-{n}"
        n += 1
    draft.events.append(event)


# -- deadlines -----------------------------------------------------------------------------------


def _deadlines(draft: Draft, doc: _Doc) -> None:
    for block in doc.blocks:
        for s0, s1 in block.sentences:
            sentence = block.text[s0:s1]
            cut = _deadline_cut(sentence)
            if cut is None:
                continue
            deadline = _deadline_from(draft, doc, block, s0, s1, cut)
            if deadline is not None and not any(
                d.due == deadline.due and d.id.startswith(deadline.id) for d in draft.deadlines
            ):
                ids = {d.id for d in draft.deadlines}
                base, n = deadline.id, 2
                while deadline.id in ids:
                    deadline.id = f"{base}-{n}"
                    n += 1
                draft.deadlines.append(deadline)


def _deadline_from(
    draft: Draft, doc: _Doc, block: _Block, s0: int, s1: int, cut: int
) -> DraftDeadline | None:
    sentence = block.text[s0:s1]
    start = s0 + cut
    kind_m = _DEADLINE_KIND.search(sentence)
    kind = kind_m["kind"].lower() if kind_m else "deadline"
    media = doc.media_context or bool(re.search(r"\b(?:media|press|journalists?)\b", sentence, re.IGNORECASE))
    if kind.startswith("accredit"):
        ident, title = "accreditation", "Media accreditation"
    elif kind.startswith(("regist", "sign", "rsvp")):
        ident, title = "registration", "Media registration" if media else "Registration"
    elif kind == "deadline":
        ident, title = "deadline", "Deadline"
    elif media:
        ident, title = "accreditation", "Media accreditation"
    else:
        ident, title = "applications", "Applications"
    dates = [m for m in block.dates if start <= m.start < s1]
    if not dates:
        return None
    mention = dates[0]
    resolved = xt.resolve_date(mention, doc.published)
    deadline = DraftDeadline(ident, title, None, None)
    deadline.notes["title"] = f"from {_q(kind_m.group(0) if kind_m else 'deadline', 30)} in the sentence"
    label = f"deadline '{title}'"
    if resolved is None:
        draft.warn(
            f"{label}: cannot complete the date {_q(mention.text, 30)} (no publication date); fill in due"
        )
        deadline.notes["due"] = f"NOT FOUND: {_q(sentence)}"
        return deadline
    if resolved.warning:
        draft.warn(f"{label}: {resolved.warning}")
    clocks = [s for s in _statements(doc, block) if start <= s.main.start < s1]
    deadline.notes["due"] = _q(sentence) + (f"; {resolved.note}" if resolved.note else "")
    if clocks:
        c = clocks[0].main
        zone, why = _zone_for(doc, c, clocks[0].alternates, None, _context(doc, block, sentence))
        if c.note:
            draft.warn(f"{label}: {c.note}")
        if zone is not None and why.startswith(ASSUMED):
            draft.warn(f"{label}: {why.removeprefix(ASSUMED).strip()}; check it")
        if zone is None:
            draft.warn(f"{label}: no time zone for {_q(c.text, 30)}; the release's zone will apply, check it")
            deadline.notes["timezone"] = why
            # Without a zone the instant is unknown: keep the day, and say which clock time was written.
            deadline.due = resolved.day
            deadline.notes["due"] += (
                f"; the time {c.text} was written without a zone, so only the day is kept"
            )
        else:
            deadline.due = xt.wall_to_utc(resolved.day, c.hour, c.minute, zone)
            deadline.timezone = zone
            deadline.notes["timezone"] = why
            if c.zone is not None and c.zone.name == zone:
                conflict = xt.abbreviation_conflict(c.zone, deadline.due)
                if conflict:
                    draft.warn(f"{label}: {conflict}")
            for w in _check_alternates(clocks[0], resolved.day, deadline.due, None, zone):
                draft.warn(f"{label}: {w}")
    else:
        deadline.due = resolved.day
        deadline.notes["timezone"] = "no zone written: the whole day in the release's zone"
    how = [block.text[s0:].strip()]
    following = doc.blocks[block.index + 1] if block.index + 1 < len(doc.blocks) else None
    if (
        following is not None
        and not following.heading
        and (
            re.match(
                r"(?:please|applications?|requests?|journalists|media|reporters)\b", following.text, re.I
            )
            or re.search(r"\b(?:must|should|required|attach|bring)\b", following.text, re.IGNORECASE)
        )
    ):
        how.append(following.text)
    deadline.how = " ".join(how)
    deadline.notes["how"] = "the deadline's sentence" + (" and the next paragraph" if len(how) > 1 else "")
    urls = find_urls(sentence)
    if urls:
        deadline.url = urls[0]
        deadline.notes["url"] = _q(sentence)
    return deadline


def _resolve_gating(draft: Draft) -> None:
    """A deadline gates the events it comes before; one after every event is flagged, not hidden."""
    timed = [e for e in draft.events if e.start is not None]
    for d in draft.deadlines:
        moment = _deadline_moment(d, draft.timezone)
        if moment is None or not timed:
            continue
        after = [e for e in timed if e.start is not None and e.start >= moment]
        if len(after) == len(timed):
            if len(timed) == 1:
                d.event = timed[0].id
                d.notes["event"] = "the only event, which it comes before"
            continue
        if after:
            d.event = after[0].id
            d.notes["event"] = "the first event after the deadline"
        else:
            draft.warn(f"deadline '{d.title}' ({_show(d.due)}) is after every event; check it")


def _deadline_moment(d: DraftDeadline, release_zone: str | None) -> datetime | None:
    if isinstance(d.due, datetime):
        return d.due
    if isinstance(d.due, date):
        zone = ZoneInfo(d.timezone or release_zone or "UTC")
        return datetime.combine(d.due + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return None


def _show(value: datetime | date | None) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat() if value else "?"


# -- location, stream, zone ----------------------------------------------------------------------

_STREAM = re.compile(
    r"\b(?:live[- ]?stream\w*|stream\w*|webcast\w*|web tv|broadcast live|watch (?:it )?live|live on|"
    r"youtube|nasa tv|nasa\+|esa web tv)\b",
    re.IGNORECASE,
)


def _locations_and_streams(draft: Draft, doc: _Doc) -> None:
    """Each stream sentence gives its URL to the event(s) it is about (see _covered_by), never to every
    event; one that cannot be attributed leaves stream_url null and a warning naming the URL."""
    no_address: dict[str, str] = {}  # event id -> the stream sentence about it that gives no URL
    unattributed: dict[str, str] = {}  # event id -> the stream sentence that may be about it
    for block in doc.blocks:
        for s0, s1 in block.sentences:
            sentence = block.text[s0:s1]
            if not _is_stream_sentence(sentence):
                continue
            urls = find_urls(sentence)
            targets, candidates, why = _covered_by(doc, block, (s0, s1), draft.events)
            for event in targets:
                if not urls:
                    no_address.setdefault(event.id, sentence)
                elif event.stream_url is None:
                    event.stream_url = urls[0]
                    event.notes["stream_url"] = _q(sentence) + ("" if why == "the sentence" else f"; {why}")
            if urls and candidates:
                names = ", ".join(f"'{e.title}'" for e in candidates) or "none with a time"
                draft.warn(
                    f"stream URL {urls[0]} not attributed: {_q(sentence, 70)} does not say which event it "
                    f"streams (candidates: {names}); set stream_url on the right event"
                )
                for event in candidates:
                    unattributed.setdefault(event.id, sentence)
            elif not urls and not targets:
                for event in candidates:
                    no_address.setdefault(event.id, sentence)
    for event in draft.events:
        if event.stream_url is not None:
            pass
        elif event.id in no_address:
            s = no_address[event.id]
            event.notes["stream_url"] = f"NOT FOUND: {_q(s, 70)} gives no address"
            draft.warn(f"stream URL not found ({_q(s, 70)} gives no address)")
        elif event.id in unattributed:
            event.notes["stream_url"] = (
                f"NOT FOUND: {_q(unattributed[event.id], 70)} does not say which event it streams"
            )
        else:
            event.notes["stream_url"] = "NOT FOUND: the text does not mention a stream of this event"
            draft.warn(f"stream URL not found for event '{event.title}'")
        if "stream_start" in event.notes:
            event.notes["stream_url"] += "; " + event.notes.pop("stream_start")
        if event.location is None:
            event.notes["location"] = "NOT FOUND"
            draft.warn(f"location not found for event '{event.title}'")


def _timezone(draft: Draft, doc: _Doc) -> None:
    """The release's default zone, from the strongest hint the text gives: a programme's '(all times CET)';
    the other (non-UTC) zone the release converts its times to; the dateline's place; the first event's zone.
    Null, with a warning, when the text does not tell."""
    candidates: list[tuple[str, str]] = []
    if doc.programme is not None and doc.programme.name:
        candidates.append((doc.programme.name, f"the programme's zone: {_q(doc.programme_quote or '', 50)}"))
    utc_alternates: list[tuple[str, str]] = []
    for block in doc.blocks:
        for stated in _statements(doc, block):
            main_zone = stated.main.zone.name if stated.main.zone else None
            for alt in stated.alternates:
                if alt.zone is not None and alt.zone.name and alt.zone.name != main_zone:
                    why = f"the other zone the release gives its times in ({_q(alt.text, 30)})"
                    (utc_alternates if alt.zone.name == "UTC" else candidates).append((alt.zone.name, why))
    for line in (doc.dateline, doc.blocks[0].text if doc.blocks else None):
        m = re.match(r"^(?P<place>[A-Z][A-Za-z .'-]{2,40}?)\s*(?:,|—|–|--|\()", line or "")
        found = xt.place_zone(m["place"]) if m else None
        if found:
            candidates.append((found[1], f"the dateline's place ({found[0]})"))
    candidates += [(e.timezone, f"the zone of event '{e.title}'") for e in draft.events if e.timezone]
    candidates += [(d.timezone, f"the zone of deadline '{d.title}'") for d in draft.deadlines if d.timezone]
    candidates += utc_alternates
    zone: str | None = candidates[0][0] if candidates else None
    draft.timezone = zone
    draft.notes["timezone"] = (
        candidates[0][1]
        if candidates
        else "NOT FOUND: no zone or place in the text tells the release's own zone"
    )
    shown = [e.timezone for e in draft.events if e.timezone] + ([zone] if zone else [])
    draft.show_timezones = list(dict.fromkeys(shown))
    draft.notes["show_timezones"] = "each event's zone, then the release's zone"


# -- contacts ------------------------------------------------------------------------------------

_CONTACT_HEADING = re.compile(
    r"^(?:for (?:further|more) information|more information|media contacts?|press contacts?|contacts?|"
    r"media (?:enquiries|inquiries)|press (?:office|enquiries|inquiries)|media relations|for media)\b",
    re.IGNORECASE,
)
_MARKER = re.compile(r"^(?:-+\s*(?:end|30)\s*-+|#{3,}|ends?\.?|\*{3,})$", re.IGNORECASE)
_END_OF_CONTACTS = re.compile(r"^(?:about |notes? to editors)", re.IGNORECASE)
_PHONE_LABEL = re.compile(r"\b(?:tel(?:ephone)?|phone|mobile|mob|cell|ph)\b\.?\s*:?\s*", re.IGNORECASE)
_FAX = re.compile(r"\bfax\b", re.IGNORECASE)


def _region(draft: Draft) -> str | None:
    zones = {e.timezone for e in draft.events} | {draft.timezone}
    regions = {
        "America/New_York": "US", "America/Chicago": "US", "America/Denver": "US",
        "America/Los_Angeles": "US",
        "Europe/Paris": "FR", "Europe/Moscow": "RU", "Europe/Berlin": "DE", "Europe/Amsterdam": "NL",
        "Europe/London": "GB", "Europe/Rome": "IT", "Asia/Tokyo": "JP", "Europe/Madrid": "ES",
    }  # fmt: skip
    for zone in zones:
        if zone in regions:
            return regions[zone]
    return None


def _phones(text: str, region: str | None) -> list[tuple[str, str, bool]]:
    """(E.164 number, as written, country code was written) for each phone number in `text`."""
    import phonenumbers

    out = []
    for match in phonenumbers.PhoneNumberMatcher(text, region or "ZZ"):
        before = text[max(0, match.start - 12) : match.start]
        if _FAX.search(before):
            continue
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        out.append((number, match.raw_string, match.raw_string.lstrip().startswith("+")))
    if not out and region is None:
        for m in _PHONE_HINT.finditer(text):
            if not _FAX.search(text[max(0, m.start() - 12) : m.start()]):
                out.append((re.sub(r"[^\d+]", "", m.group(0)), m.group(0), m.group(0).startswith("+")))
    return out


def _contacts(draft: Draft, doc: _Doc) -> None:
    region = _region(draft)
    start = next((b.index for b in doc.blocks if _CONTACT_HEADING.match(b.text)), None)
    if start is not None:
        head = doc.blocks[start]
        blocks = [head] if _has_contact_detail(head.text) else []  # "Contact: media@esa.int"
        for b in doc.blocks[start + 1 :]:
            if _END_OF_CONTACTS.match(b.text) or _MARKER.match(b.text):
                break
            blocks.append(b)
        from_section = True
    else:
        blocks = _contact_clusters(doc)
        from_section = True
    current: DraftContact | None = None
    for b in blocks:
        text = b.text
        emails = _EMAIL.findall(text)
        phones = _phones(text, region)
        rest = text
        for e in emails:
            rest = rest.replace(e, " ")
        for _, raw, _intl in phones:
            rest = rest.replace(raw, " ")
        rest = _PHONE_LABEL.sub(" ", _CONTACT_HEADING.sub(" ", rest))
        rest = re.sub(r"\b(?:e-?mail|email)\s*:?", " ", rest, flags=re.IGNORECASE)
        rest = re.sub(r"[<>\[\]()]|mailto:", " ", rest)
        rest = " ".join(rest.split()).strip(" ,;:–—-|")
        if not from_section and not (emails or phones):
            continue
        if (rest and not (emails or phones)) or (rest and current is None):
            if (
                current is not None
                and current.name
                and not (current.phone or current.email)
                and not current.role
            ):
                current.role = rest
                current.notes["role"] = _q(text)
                continue
            current = DraftContact()
            draft.contacts.append(current)
            name, role = _split_name(rest)
            current.name, current.role = name, role
            current.notes["name"] = _q(text)
        elif (
            rest
            and current is not None
            and (emails or phones)
            and not (current.phone or current.email)
            and not from_section
        ):
            current = DraftContact(name=rest)
            current.notes["name"] = _q(text)
            draft.contacts.append(current)
        if current is None and (emails or phones):
            current = DraftContact()
            draft.contacts.append(current)
        if current is None:
            continue
        for number, _raw, intl in phones:
            if current.phone is None:
                current.phone = number
                current.notes["phone"] = _q(text) + (
                    "" if intl else f"; no country code written, read as {region}"
                )
            elif number != current.phone:
                extra = DraftContact(name=current.name, role=current.role, phone=number)
                extra.notes["phone"] = _q(text)
                draft.contacts.append(extra)
        for e in emails:
            if current.email is None:
                current.email = e
                current.notes["email"] = _q(text)
    draft.contacts = [c for c in draft.contacts if c.name or c.phone or c.email]


def _contact_clusters(doc: _Doc) -> list[_Block]:
    """Without a contacts heading: runs of short lines (name, role, phone, email) holding a phone or email."""
    out: list[_Block] = []
    run: list[_Block] = []
    for b in [*(x for x in doc.blocks if not _MARKER.match(x.text)), None]:
        short = (
            b is not None
            and len(b.text) <= 90
            and (not _SENTENCE_END.search(b.text) or _has_contact_detail(b.text))
        )
        if short and b is not None:
            run.append(b)
            continue
        if any(_has_contact_detail(x.text) for x in run):
            out.extend(run)
        run = []
    return out


def _split_name(text: str) -> tuple[str, str | None]:
    parts = re.split(r"\s+[–—-]\s+|,\s+", text, maxsplit=1)
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip() or None
    return text, None


# -- handles, hashtags, summary, body --------------------------------------------------------------


def _tags(draft: Draft, whole: str) -> None:
    masked = _mask(whole, [_URL, _EMAIL])
    handles = [m.group(0) for m in _HANDLE.finditer(masked)]
    tags = [m.group(0) for m in _HASHTAG.finditer(masked)]
    draft.handles = list(dict.fromkeys(handles))
    draft.hashtags = list(dict.fromkeys(tags))
    for key, found in (("handles", draft.handles), ("hashtags", draft.hashtags)):
        if found:
            line = next(line for line in whole.split("\n") if found[0] in line)
            draft.notes[key] = _q(line, 80)


def _summary(draft: Draft, doc: _Doc) -> None:
    for block in doc.blocks:
        if block.heading or len(block.text.split()) < 12 or _has_contact_detail(block.text):
            continue
        s0, s1 = block.sentences[0]
        draft.summary = block.text[s0:s1].strip()
        draft.notes["summary"] = "the first sentence of the lead paragraph"
        return


def _markdown(doc: _Doc) -> str:
    parts: list[str] = []
    for b in doc.blocks:
        text = b.text
        if re.match(r"^(?:[#>]|[-+*]\s|\d+[.)]\s|-{3,}|\*{3,}|_{3,}|=+$)", text) and not b.item:
            text = "\\" + text  # keep a leading '#', '>' or rule literal rather than Markdown syntax
        if b.heading:
            parts.append(f"## {text.rstrip(':')}")
        elif b.item:
            parts.append(f"- {text}")
        else:
            parts.append(text)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i and not (part.startswith("- ") and parts[i - 1].startswith("- ")):
            out.append("")
        out.append(part)
    return "\n".join(out).strip() + "\n"


def _identify(draft: Draft) -> None:
    pieces = [p for p in (draft.reference, draft.title) if p]
    ident = slug(" ".join(pieces), 64) if pieces else ""
    if ident:
        draft.id = ident
        draft.notes["id"] = "made from the reference and title (an identifier, not a fact); keep it stable"
    else:
        draft.notes["id"] = "NOT FOUND: no title to make it from"


def _report_missing(draft: Draft) -> None:
    for key, message in (
        ("title", "title not found"),
        ("published", "publication date not found (needed to complete dates without a year)"),
        ("timezone", "release time zone not found; set timezone to an IANA name such as Europe/Paris"),
        ("language", "language not recognised (the importer reads English); set language"),
    ):
        if getattr(draft, key) is None:
            draft.warn(message)
            draft.notes.setdefault(key, "NOT FOUND")
            if not draft.notes[key].startswith("NOT FOUND"):
                draft.notes[key] = "NOT FOUND: " + draft.notes[key]
    if draft.url is None:
        draft.notes["url"] = "NOT FOUND: the page address is not in the text"
    if draft.id is None:
        draft.warn("id not made (no title); set id")
    if draft.summary is None:
        draft.notes["summary"] = "NOT FOUND: no lead paragraph"
    if not draft.events:
        draft.warn("no events found (briefing, launch, conference, livestream with a time)")
    if not draft.deadlines:
        draft.warn("no deadlines found (accreditation, registration, applications)")
    if not draft.contacts:
        draft.warn("no contacts found")
    else:
        if not any(c.email for c in draft.contacts):
            draft.warn("no contact email")
        if not any(c.phone for c in draft.contacts):
            draft.warn("no contact phone")
    if not draft.handles:
        draft.warn("no handles found")
    if not draft.hashtags:
        draft.warn("no hashtags found")
