"""Posts from templates: a sandboxed Jinja2 environment per output type, fitted to each channel's limit.

Fitting (the order is fixed): render the full post; if the channel counts it too long, shorten the
body excerpt, then the summary, at word boundaries with an ellipsis, re-rendering each time. If even
without them it is too long, a channel with threads (and DISTRIB_THREADS on) gets a thread whose
first part holds every paragraph carrying a required element (title, time, link, handles, hashtags)
and whose later parts carry the rest; other channels keep only those paragraphs. Only when that
still does not fit is the title itself shortened — the required elements are never dropped.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import regex
from jinja2.sandbox import ImmutableSandboxedEnvironment

from distrib import timefmt
from distrib.errors import RenderError
from distrib.models import Deadline, Event, Post, PostKind, PostPart, Release, iso_z, utc
from distrib.plan import PlannedPost

if TYPE_CHECKING:
    from channels.base import Channel
    from distrib.config import Settings

ELLIPSIS = "…"
MAX_TEMPLATE_BYTES = 64_000  # the sandbox bounds what a template may reach, not how big it is
CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\ufeff\uffff]")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
# A word, or a single CJK character (those scripts do not separate words with spaces).
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_TOKENS = regex.compile(r"\s*(?:[" + _CJK + r"]|[^\s" + _CJK + r"]+)")
_CUT_PUNCT = re.compile(r"[\s,;:–—-]+$")
_MARKDOWN = (
    (re.compile(r"^#{1,6}\s*", re.MULTILINE), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\(([^)]+)\)"), r"\1 (\2)"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"^\s*[-*+]\s+", re.MULTILINE), ""),
)


@dataclass(frozen=True, slots=True)
class Change:
    """Something a queued release changed after it was announced: a time, a place or a link."""

    what: str  # 'Press briefing time', 'Link'
    before: str | None
    after: str | None


# -- templates ------------------------------------------------------------------------------------


def templates_root(directory: Path | None = None) -> Path:
    """DISTRIB_TEMPLATES_DIR, else the checkout's templates/, else the installed distrib._templates."""
    if directory is not None:
        return directory
    # Only a source checkout has pyproject.toml beside templates/ (site-packages may hold a stray one).
    if (CHECKOUT_TEMPLATES / "default").is_dir() and (CHECKOUT_TEMPLATES.parent / "pyproject.toml").is_file():
        return CHECKOUT_TEMPLATES
    spec = importlib.util.find_spec("distrib._templates")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise RenderError("no templates directory found; set DISTRIB_TEMPLATES_DIR")


class _Loader(jinja2.FileSystemLoader):
    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if len(source.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise RenderError(f"{filename}: template is over {MAX_TEMPLATE_BYTES:,} bytes")
        return source, filename, uptodate


class Templates:
    """The comms team's templates: templates/<channel>/<kind>.<ext>.j2, falling back to default/."""

    def __init__(self, directory: Path | None = None) -> None:
        self.root = templates_root(directory)
        loader = _Loader(str(self.root), encoding="utf-8")
        # Plain-text channels must never see HTML escaping (a post would show '&amp;'); HTML outputs
        # (Telegram HTML, email HTML) always escape every value. Hence one environment per type.
        options: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
        }
        self._text = ImmutableSandboxedEnvironment(autoescape=False, **options)
        self._html = ImmutableSandboxedEnvironment(autoescape=True, **options)

    def candidates(self, channel: str, kind: str, ext: str) -> list[str]:
        return [f"{channel}/{kind}.{ext}.j2", f"default/{kind}.{ext}.j2"]

    def render(self, channel: str, kind: str, ext: str, context: Mapping[str, Any]) -> str:
        env = self._html if ext == "html" else self._text
        names = self.candidates(channel, kind, ext)
        try:
            template = env.select_template(names)
        except jinja2.TemplatesNotFound:
            raise RenderError(
                f"no template for {channel} {kind}: looked for {' and '.join(names)} in {self.root}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}") from None
        try:
            return template.render(context)
        except RenderError:
            raise
        except Exception as exc:  # a template error of any kind names its file and line
            filename = template.filename or template.name or "?"
            raise RenderError(f"{filename}:{_template_line(exc, filename)}: {_describe(exc)}") from None


def _template_line(exc: BaseException, filename: str) -> int | str:
    # Jinja rewrites tracebacks so that frames of template code carry the template's file and line.
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return lines[-1] if lines and lines[-1] is not None else "?"


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"refused by the template sandbox: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"{exc.message} (see the variables listed in templates/README.md)"
    return f"{type(exc).__name__}: {exc}"


# -- the context a template sees: plain data only -------------------------------------------------


def clean(text: str | None) -> str:
    """NFC, without control characters or the non-characters X refuses (U+FFFE, U+FEFF, U+FFFF)."""
    if not text:
        return ""
    return unicodedata.normalize("NFC", _UNSAFE_CHARS.sub("", text)).strip()


def body_excerpt(body: str) -> str:
    """The body's first paragraph as plain text (Markdown marks removed)."""
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        text = paragraph.strip()
        if not text or text.startswith("#"):
            continue
        for pattern, repl in _MARKDOWN:
            text = pattern.sub(repl, text)
        return clean(" ".join(text.split()))
    return ""


def _event_data(event: Event, release: Release, sent: datetime) -> dict[str, Any]:
    zones = release.show_timezones
    lead = zones[0] if zones else event.timezone
    return {
        "id": event.id,
        "title": clean(event.title),
        "when": timefmt.when(event.start, event.end, zones, release.language, reference=sent),
        "starts_in": timefmt.relative(event.start, sent, zone=lead, language=release.language),
        "start": iso_z(event.start),
        "end": iso_z(event.end) if event.end else None,
        "timezone": event.timezone,
        "location": clean(event.location) or None,
        "stream_url": event.stream_url,
        "url": event.url,
        "description": clean(event.description) or None,
    }


def _deadline_data(deadline: Deadline, release: Release, sent: datetime) -> dict[str, Any]:
    zones = release.show_timezones
    if deadline.date_only:
        when = timefmt.when_day(deadline.due_date, deadline.timezone, release.language, reference=sent)
        closes_in = timefmt.relative(
            deadline.due, sent, zone=deadline.timezone, language=release.language, last_day=deadline.due_date
        )
    else:
        when = timefmt.when(deadline.due, None, zones, release.language, reference=sent)
        lead = zones[0] if zones else deadline.timezone
        closes_in = timefmt.relative(deadline.due, sent, zone=lead, language=release.language)
    gated = release.event(deadline.event) if deadline.event else None
    return {
        "id": deadline.id,
        "title": clean(deadline.title),
        "when": when,
        "closes_in": closes_in,
        "due": iso_z(deadline.due),
        "date_only": deadline.date_only,
        "how": clean(deadline.how) or None,
        "url": deadline.url,
        "event_title": clean(gated.title) if gated else None,
    }


@dataclass(frozen=True, slots=True)
class _Subject:
    """What one post is about, and the elements it must never lose."""

    kind: PostKind
    target: str
    sent: datetime
    context: dict[str, Any]
    required: tuple[str, ...]
    link: str | None


def _subject(
    release: Release,
    kind: PostKind,
    target: str | None,
    sent: datetime,
    channel: Channel,
    changes: Sequence[Change] = (),
    reason: str | None = None,
) -> _Subject:
    events = [_event_data(e, release, sent) for e in release.events]
    deadlines = [_deadline_data(d, release, sent) for d in release.deadlines]
    event = next((e for e in events if e["id"] == target), None)
    deadline = next((d for d in deadlines if d["id"] == target), None)
    if kind in (PostKind.EVENT_REMINDER, PostKind.LIVE_NOW) and event is None:
        raise RenderError(f"{release.id}: no event with the id '{target}' for a {kind.value} post")
    if kind is PostKind.DEADLINE_REMINDER and deadline is None:
        raise RenderError(f"{release.id}: no deadline with the id '{target}' for a {kind.value} post")

    link = release.url
    if kind is PostKind.LIVE_NOW and event is not None:
        link = event["stream_url"] or event["url"] or release.url
    elif kind is PostKind.EVENT_REMINDER and event is not None:
        link = event["url"] or release.url
    elif kind is PostKind.DEADLINE_REMINDER and deadline is not None:
        link = deadline["url"] or release.url

    title = clean(release.title)
    handles = [clean(h) for h in release.handles]
    hashtags = [clean(h) for h in release.hashtags]
    required: list[str] = [title]
    if kind is PostKind.ANNOUNCEMENT:
        required += [e["when"] for e in events]
    elif kind is PostKind.EVENT_REMINDER and event is not None:
        required.append(event["when"])
    elif kind is PostKind.DEADLINE_REMINDER and deadline is not None:
        required.append(deadline["when"])
    if link:
        required.append(link)
    required += handles + hashtags

    context: dict[str, Any] = {
        "kind": kind.value,
        "channel": {"name": channel.name, "limit": channel.limit, "markup": channel.markup},
        "language": release.language,
        "release_id": release.id,
        "title": title,
        "reference": clean(release.reference) or None,
        "summary": clean(release.summary),
        "excerpt": body_excerpt(release.body),
        "link": link,
        "url": release.url,
        "image": release.image,
        "handles": handles,
        "hashtags": hashtags,
        "tags": " ".join(handles + hashtags),
        "published": timefmt.when(release.published, None, release.show_timezones, release.language),
        "events": events,
        "deadlines": deadlines,
        "event": event,
        "deadline": deadline,
        "contacts": [
            {"name": clean(c.name) or None, "role": clean(c.role) or None, "phone": c.phone, "email": c.email}
            for c in release.contacts
        ],
        "changes": [{"what": clean(c.what), "before": c.before, "after": c.after} for c in changes],
        "reason": clean(reason) or None,
    }
    return _Subject(kind, target or release.id, sent, context, tuple(r for r in required if r), link)


# -- fitting -----------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return [str(t) for t in _TOKENS.findall(text)]


def _cut(tokens: Sequence[str], count: int) -> str:
    if count >= len(tokens):
        return "".join(tokens).strip()
    if count <= 0:
        return ""
    return _CUT_PUNCT.sub("", "".join(tokens[:count]).strip()) + ELLIPSIS


def _shrink(text: str, render: Callable[[str], str], fits: Callable[[str], bool]) -> str | None:
    """The longest word-boundary cut of `text` whose post fits (dropping it entirely if need be)."""
    tokens = _tokens(text)
    low, high = 0, len(tokens) - 1  # the full text was already tried
    if high < 0 or not fits(render("")):
        return None
    while low < high:  # invariant: a cut of `low` tokens fits
        mid = (low + high + 1) // 2
        if fits(render(_cut(tokens, mid))):
            low = mid
        else:
            high = mid - 1
    return render(_cut(tokens, low))


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def _lead(paragraphs: Sequence[str], required: Iterable[str], visible: Callable[[str], str]) -> list[str]:
    """The fewest paragraphs that still show every required element once, in their own order.

    A paragraph is not needed just because it repeats an element another one carries (a location that
    contains the release link must not crowd the title out of the first part): greedy set cover,
    most uncovered elements first, the shorter paragraph on a tie.
    """
    shown = [visible(p) for p in paragraphs]
    remaining = {r for r in required if r and any(r in text for text in shown)}
    chosen: set[int] = set()
    while remaining:
        best = max(
            (i for i in range(len(paragraphs)) if i not in chosen),
            key=lambda i: (sum(r in shown[i] for r in remaining), -len(shown[i])),
            default=None,
        )
        if best is None or not any(r in shown[best] for r in remaining):
            break
        chosen.add(best)
        remaining = {r for r in remaining if r not in shown[best]}
    return [p for i, p in enumerate(paragraphs) if i in chosen]


def _split_long(paragraph: str, fits: Callable[[str], bool]) -> list[str]:
    """A paragraph too long for one part, cut at word boundaries into parts that fit."""
    parts: list[str] = []
    current = ""
    for token in _tokens(paragraph):
        candidate = current + token
        if current and not fits(candidate.strip()):
            parts.append(current.strip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        parts.append(current.strip())
    return parts


def _thread(
    full: str, required: Sequence[str], fits: Callable[[str], bool], visible: Callable[[str], str]
) -> list[str] | None:
    paragraphs = _paragraphs(full)
    lead = _lead(paragraphs, required, visible)
    rest = [p for p in paragraphs if p not in lead]
    first = "\n\n".join(lead)
    if not fits(first):
        return None
    parts = [first]
    current = ""
    for paragraph in rest:
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if fits(candidate):
            current = candidate
            continue
        if current:
            parts.append(current)
        if fits(paragraph):
            current = paragraph
        else:
            pieces = _split_long(paragraph, fits)
            parts += pieces[:-1]
            current = pieces[-1] if pieces else ""
    if current:
        parts.append(current)
    return parts


def tidy(text: str) -> str:
    """Trailing spaces gone, at most one blank line in a row, no blank edges."""
    return _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("", text)).strip()


# -- the renderer ------------------------------------------------------------------------------------


class Renderer:
    """Renders posts for channels; pure given its templates (nothing is stored or sent)."""

    def __init__(self, templates: Templates | Path | None = None, *, threads: bool = True) -> None:
        self.templates = templates if isinstance(templates, Templates) else Templates(templates)
        self.threads = threads

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        threads = (settings.get("DISTRIB_THREADS") or "true").strip().lower() in ("1", "true", "yes", "on")
        return cls(settings.templates_dir, threads=threads)

    def planned(self, release: Release, channel: Channel, item: PlannedPost) -> Post:
        """The post for one item of the timeline, as it will go out at `item.due`."""
        post = self.render(release, channel, item.kind, target=item.target, due=item.due)
        return _with_key(post, item.key(release.id, channel.name))

    def update(self, release: Release, channel: Channel, changes: Sequence[Change], *, due: datetime) -> Post:
        """The post saying what changed (see `changes_between`)."""
        return self.render(release, channel, PostKind.UPDATE, due=due, changes=changes)

    def cancellation(self, release: Release, channel: Channel, reason: str | None, *, due: datetime) -> Post:
        return self.render(release, channel, PostKind.CANCELLATION, due=due, reason=reason)

    def render(
        self,
        release: Release,
        channel: Channel,
        kind: PostKind,
        *,
        target: str | None = None,
        due: datetime | None = None,
        changes: Sequence[Change] = (),
        reason: str | None = None,
    ) -> Post:
        sent = utc(due) if due is not None else utc(release.published)
        subject = _subject(release, kind, target, sent, channel, changes, reason)
        ext = channel.template_ext
        base = subject.context

        def render(summary: str, excerpt: str, title: str | None = None) -> str:
            context = {**base, "summary": summary, "excerpt": excerpt, "title": title or base["title"]}
            return tidy(self.templates.render(channel.name, kind.value, ext, context))

        texts = self._fit(channel, subject, render, with_media=release.image is not None)
        limit = channel.limit_for(with_media=release.image is not None)
        parts = tuple(
            PostPart(text=text, length=channel.length(text), limit=limit, facets=channel.facets(text))
            for text in texts
        )
        subject_line = None
        if channel.wants_subject:
            subject_line = " ".join(
                self.templates.render(channel.name, kind.value, "subject.txt", base).split()
            )
        html = (
            self.templates.render(channel.name, kind.value, "html", base).strip()
            if channel.wants_html
            else None
        )
        return Post(
            channel=channel.name,
            kind=kind,
            release_id=release.id,
            target=subject.target,
            parts=parts,
            due=sent,
            subject=subject_line,
            html=html,
            link=subject.link,
            image=release.image,
            language=release.language,
            release_hash=release.content_hash(),
            data=_data(release, subject),
        )

    def _fit(
        self,
        channel: Channel,
        subject: _Subject,
        render: Callable[..., str],
        *,
        with_media: bool,
    ) -> list[str]:
        limit = channel.limit_for(with_media=with_media)
        where = f"{channel.name} {subject.kind.value}"

        def fits(text: str) -> bool:
            try:
                return channel.length(text) <= limit
            except ValueError as exc:  # markup the channel would refuse (Telegram HTML)
                raise RenderError(f"{where}: {exc}") from None

        summary, excerpt = subject.context["summary"], subject.context["excerpt"]
        full = render(summary, excerpt)
        if fits(full):
            return [full]
        # Shorten in the fixed order: the body excerpt first, then the summary.
        shorter = _shrink(excerpt, lambda e: render(summary, e), fits) if excerpt else None
        if shorter is None and summary:
            shorter = _shrink(summary, lambda s: render(s, ""), fits)
        if shorter is not None:
            return [shorter]
        visible = channel.visible_text
        if self.threads and channel.supports_threads:
            parts = _thread(full, subject.required, fits, visible)
            if parts:
                return parts
        lean = "\n\n".join(_lead(_paragraphs(render("", "")), subject.required, visible))
        if lean and fits(lean):
            return [lean]
        # Last resort: the title alone is too long for the channel; shorten it, keep everything else.
        title_tokens = _tokens(subject.context["title"])
        for count in range(len(title_tokens) - 1, 0, -1):
            title = _cut(title_tokens, count)
            required = [title, *subject.required[1:]]
            text = render("", "", title)
            lean = "\n\n".join(_lead(_paragraphs(text), required, visible))
            if lean and fits(lean):
                return [lean]
        raise RenderError(
            f"{where}: the title, time, link, handles and hashtags alone need more than {limit} "
            f"characters as {channel.name} counts them; shorten them or leave this channel out"
        )


def _with_key(post: Post, key: str) -> Post:
    return dataclasses.replace(post, key=key)


def _data(release: Release, subject: _Subject) -> dict[str, Any]:
    """The structured facts of a post (webhook payloads), JSON-ready."""
    ctx = subject.context
    return {
        "release_id": release.id,
        "kind": subject.kind.value,
        "target": subject.target,
        "title": ctx["title"],
        "summary": ctx["summary"] or None,
        "link": subject.link,
        "language": release.language,
        "timezones": list(release.show_timezones),  # the zones times are shown in (webhook `local`)
        "handles": ctx["handles"],
        "hashtags": ctx["hashtags"],
        "events": [
            {k: e[k] for k in ("id", "title", "start", "end", "timezone", "location", "stream_url", "when")}
            for e in ctx["events"]
        ],
        "deadlines": [
            {**{k: d[k] for k in ("id", "title", "due", "date_only", "when")}, "timezone": deadline.timezone}
            for d, deadline in zip(ctx["deadlines"], release.deadlines, strict=True)
        ],
        "changes": ctx["changes"],
        "reason": ctx["reason"],
    }


def changes_between(old: Release, new: Release) -> list[Change]:
    """What an `update` post reports: changed times, places and links (DESIGN §5)."""
    zones, lang = new.show_timezones, new.language
    found: list[Change] = []
    if old.url != new.url:
        found.append(Change("Link", old.url, new.url))
    for event in new.events:
        before = old.event(event.id)
        if before is None:
            found.append(Change(clean(event.title), None, timefmt.when(event.start, event.end, zones, lang)))
            continue
        if (before.start, before.end) != (event.start, event.end):
            found.append(
                Change(
                    f"{clean(event.title)} time",
                    timefmt.when(before.start, before.end, zones, lang),
                    timefmt.when(event.start, event.end, zones, lang),
                )
            )
        if before.location != event.location:
            found.append(
                Change(
                    f"{clean(event.title)} place",
                    clean(before.location) or None,
                    clean(event.location) or None,
                )
            )
        if before.stream_url != event.stream_url:
            found.append(Change(f"{clean(event.title)} stream", before.stream_url, event.stream_url))
    for event in old.events:
        if new.event(event.id) is None:
            found.append(Change(clean(event.title), "scheduled", "called off"))
    for deadline in new.deadlines:
        before_deadline = old.deadline(deadline.id)
        if before_deadline is not None and before_deadline.due != deadline.due:
            found.append(
                Change(
                    f"{clean(deadline.title)} deadline",
                    _deadline_when(before_deadline, zones, lang),
                    _deadline_when(deadline, zones, lang),
                )
            )
    return found


def _deadline_when(deadline: Deadline, zones: Sequence[str], language: str) -> str:
    if deadline.date_only:
        return timefmt.when_day(deadline.due_date, deadline.timezone, language)
    return timefmt.when(deadline.due, None, zones, language)
