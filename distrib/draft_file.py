"""Draft -> release-file text: DESIGN §3 front matter, each value commented with its source, then the body."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from distrib.importer import Draft, DraftContact, DraftDeadline, DraftEvent

# Characters YAML would read as line breaks or refuse inside a double-quoted scalar.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def yaml_str(value: str | None) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's): safe for ':', '#', quotes and '&'."""
    if value is None:
        return "null"
    dumped = json.dumps(value, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", dumped)


def yaml_list(values: list[str]) -> str:
    return "[" + ", ".join(yaml_str(v) for v in values) + "]"


def _comment(text: str | None) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return f"  # {flat}"


def _wall(moment: datetime, zone: str) -> str:
    """An aware instant as the wall-clock text the release file wants in `zone`."""
    local = moment.astimezone(ZoneInfo(zone))
    text = f"{local:%Y-%m-%d %H:%M}"
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        offset = local.strftime("%z")
        text += f" {offset[:3]}:{offset[3:]}"  # the wall time happens twice that night: say which
    return text


def _moment(value: datetime | date | None, zone: str | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime):
        if zone:
            return _wall(value, zone)
        return f"{value:%Y-%m-%d %H:%M} +00:00"
    return value.isoformat()


def render_draft(draft: Draft, source: str) -> str:
    """The whole draft file. Deterministic: the same input gives the same bytes."""
    notes = draft.notes
    lines = [
        "---",
        f"# Draft made by `distrib import` from {' '.join(source.split())}.",
        "# Each value quotes where it came from; check it, fill what is NOT FOUND, then run `distrib check`.",
    ]
    if draft.warnings:
        lines.append("# Warnings:")
        lines.extend(f"#   - {' '.join(w.split())}" for w in draft.warnings)

    def top(key: str, value: str) -> None:
        lines.append(f"{key}: {value}{_comment(notes.get(key))}")

    top("id", yaml_str(draft.id))
    top("title", yaml_str(draft.title))
    top("reference", yaml_str(draft.reference))
    top("published", _moment(draft.published, draft.timezone))
    top("timezone", yaml_str(draft.timezone))
    top("show_timezones", yaml_list(draft.show_timezones))
    top("language", yaml_str(draft.language))
    top("url", yaml_str(draft.url))
    top("summary", yaml_str(draft.summary))
    top("handles", yaml_list(draft.handles))
    top("hashtags", yaml_list(draft.hashtags))
    if draft.events:
        lines.append("events:")
        for event in draft.events:
            lines.extend(_event(event))
    else:
        lines.append("events: []  # NOT FOUND: no briefing, launch or other event with a time")
    if draft.deadlines:
        lines.append("deadlines:")
        for deadline in draft.deadlines:
            lines.extend(_deadline(deadline, draft.timezone))
    else:
        lines.append("deadlines: []  # NOT FOUND: no accreditation, registration or application deadline")
    if draft.contacts:
        lines.append("contacts:")
        for contact in draft.contacts:
            lines.extend(_contact(contact))
    else:
        lines.append("contacts: []  # NOT FOUND")
    lines.append("channels: null  # not part of the published text: every configured channel")
    image_note = "the page's og:image" if draft.image else "NOT FOUND"
    lines.append(f"image: {yaml_str(draft.image)}{_comment(image_note)}")
    lines.append("media: []")
    lines.append("---")
    return "\n".join(lines) + "\n" + draft.body


def _item(first: bool, key: str, value: str, note: str | None) -> str:
    prefix = "  - " if first else "    "
    return f"{prefix}{key}: {value}{_comment(note)}"


def _event(e: DraftEvent) -> list[str]:
    n = e.notes
    return [
        _item(True, "id", yaml_str(e.id), None),
        _item(False, "title", yaml_str(e.title), n.get("title")),
        _item(False, "start", _moment(e.start, e.timezone), n.get("start")),
        _item(False, "end", _moment(e.end, e.timezone), n.get("end")),
        _item(False, "timezone", yaml_str(e.timezone), n.get("timezone")),
        _item(False, "location", yaml_str(e.location), n.get("location")),
        _item(False, "stream_url", yaml_str(e.stream_url), n.get("stream_url")),
        _item(False, "url", yaml_str(e.url), n.get("url")),
        _item(False, "description", yaml_str(e.description), n.get("description")),
    ]


def _deadline(d: DraftDeadline, release_zone: str | None) -> list[str]:
    n = d.notes
    due_zone = d.timezone or release_zone
    return [
        _item(True, "id", yaml_str(d.id), None),
        _item(False, "title", yaml_str(d.title), n.get("title")),
        _item(False, "due", _moment(d.due, due_zone), n.get("due")),
        _item(False, "timezone", yaml_str(d.timezone), n.get("timezone")),
        _item(False, "how", yaml_str(d.how), n.get("how")),
        _item(False, "event", yaml_str(d.event), n.get("event")),
        _item(False, "url", yaml_str(d.url), n.get("url")),
    ]


def _contact(c: DraftContact) -> list[str]:
    n = c.notes
    return [
        _item(True, "name", yaml_str(c.name), n.get("name")),
        _item(False, "role", yaml_str(c.role), n.get("role")),
        _item(False, "phone", yaml_str(c.phone), n.get("phone")),
        _item(
            False, "email", yaml_str(c.email), n.get("email") or ("NOT FOUND" if c.email is None else None)
        ),
    ]
