"""Webhooks: the post and its structured facts as JSON to one or more URLs, signed per Standard Webhooks.

WEBHOOK_URL holds one or more URLs separated by spaces; a `slack:` or `discord:` prefix makes that URL
receive Slack's `{"text"}` or Discord's `{"content"}` shape instead of distrib's JSON. With
WEBHOOK_SECRET (`whsec_<base64>`) every request carries `webhook-id` (the outbox key: the receiver's
idempotency key, the same on every retry), `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

A post is delivered when every URL took it. URLs that took it are remembered by this process, so a
retry after another URL failed goes only to the URLs still owed; after a restart a retry goes to all of
them again and receivers tell the repeat by its webhook-id (Slack and Discord cannot: see README).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from channels import _http
from channels.base import Channel
from channels.errors import ChannelError, PermanentError, TransientError
from distrib.config import Settings
from distrib.errors import ConfigError
from distrib.models import Post, Receipt, iso_z, parse_iso_z

if TYPE_CHECKING:
    import requests

log = logging.getLogger("channels.webhook")

Shape = Literal["json", "slack", "discord"]
SHAPES: tuple[Shape, ...] = ("json", "slack", "discord")
_BY_PREFIX: dict[str, Shape] = {shape: shape for shape in SHAPES}
EVENT_TYPE = "distrib.post"
DISCORD_LIMIT = 2000  # characters of `content` (counted here in UTF-16 units, the safe side)
SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's prefix, not a secret)
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Target:
    """One receiving URL and the payload shape it wants; the URL is a secret (it may embed a token)."""

    url: str
    shape: Shape = "json"

    def __repr__(self) -> str:
        return f"Target(shape={self.shape!r}, host={self.host!r})"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"


def parse_targets(raw: str) -> list[Target]:
    """`https://a/hook slack:https://hooks.slack.com/… discord:https://discord.com/api/webhooks/…`."""
    targets = []
    for number, word in enumerate(raw.split(), start=1):
        shape: Shape = "json"
        prefix, _, rest = word.partition(":")
        if prefix.lower() in _BY_PREFIX and rest and not rest.startswith("//"):
            shape, word = _BY_PREFIX[prefix.lower()], rest
        parts = urlsplit(word)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Never quote the URL: it may hold a token.
            raise ConfigError(
                f"WEBHOOK_URL: entry {number} is not an http(s) URL (optionally prefixed slack: or discord:)"
            )
        targets.append(Target(word, shape))
    return targets


def parse_secret(raw: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the `whsec_` prefix."""
    text = raw.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "WEBHOOK_SECRET must be whsec_ followed by base64 (24 to 64 random bytes)"
        ) from None
    if not key:
        raise ConfigError("WEBHOOK_SECRET is empty after its whsec_ prefix")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks, symmetric)."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


class WebhookChannel(Channel):
    name: ClassVar[str] = "webhook"
    wants_subject: ClassVar[bool] = True  # the payload's title
    # Generic receivers can dedupe on webhook-id, Slack and Discord cannot; a post that may have
    # reached a receiver is therefore `uncertain`, never resent blindly.
    idempotent: ClassVar[bool] = False
    required_settings: ClassVar[tuple[str, ...]] = ("WEBHOOK_URL",)

    def __init__(
        self,
        limit: int | None = None,
        *,
        targets: tuple[Target, ...] = (),
        secret: bytes | None = None,
        timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(limit)
        self.targets = targets
        self._secret = secret
        self.timeout = timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self._session: requests.Session | None = None
        self._delivered: set[tuple[str, int]] = set()  # (outbox key, target number) this process delivered
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WebhookChannel(targets={len(self.targets)}, signed={self.signed})"

    @property
    def signed(self) -> bool:
        return self._secret is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        raw_urls = settings.get("WEBHOOK_URL")
        raw_secret = settings.get("WEBHOOK_SECRET")
        return cls(
            targets=tuple(parse_targets(raw_urls)) if raw_urls else (),
            secret=parse_secret(raw_secret) if raw_secret else None,
        )

    def check(self) -> str:
        """What is configured; no request (a test call would reach the receivers' people)."""
        if not self.targets:
            raise PermanentError("webhook: WEBHOOK_URL is not set")
        shapes = [t.shape for t in self.targets]
        counts = ", ".join(f"{shapes.count(s)} {s}" for s in SHAPES if s in shapes)
        plural = "s" if len(self.targets) != 1 else ""
        signing = "signed (Standard Webhooks)" if self.signed else "unsigned (WEBHOOK_SECRET not set)"
        return f"webhook: {len(self.targets)} URL{plural} ({counts}), {signing}; nothing sent"

    # -- sending -----------------------------------------------------------------------------------

    def send(self, post: Post) -> Receipt:
        if not self.targets:
            raise PermanentError("webhook: WEBHOOK_URL is not set")
        msg_id = _http.header_value(post.key or f"{post.release_id}:{post.kind.value}")
        bodies = {shape: render_body(post, shape) for shape in {t.shape for t in self.targets}}
        failures: list[ChannelError] = []
        for number, target in enumerate(self.targets, start=1):
            with self._lock:
                if (msg_id, number) in self._delivered:
                    continue
            try:
                self._deliver(target, number, bodies[target.shape], msg_id)
            except ChannelError as exc:
                failures.append(exc)
                continue
            with self._lock:
                self._delivered.add((msg_id, number))
        if not failures:
            with self._lock:
                self._delivered -= {(msg_id, n) for n in range(1, len(self.targets) + 1)}
            return Receipt(msg_id)
        done = len(self.targets) - len(failures)
        summary = "; ".join(str(f) for f in failures) + f" (delivered to {done} of {len(self.targets)})"
        transient = [f for f in failures if isinstance(f, TransientError)]
        if transient:
            waits = [f.retry_after for f in transient if f.retry_after is not None]
            raise TransientError(
                summary,
                retry_after=max(waits) if waits else None,
                maybe_sent=any(f.maybe_sent for f in transient),
            )
        raise PermanentError(summary)

    def _deliver(self, target: Target, number: int, body: bytes, msg_id: str) -> None:
        what = f"webhook {number} ({target.shape}, {target.host})"
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = int(self.clock().timestamp())
            headers.update(
                {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(self._secret, msg_id, timestamp, body),
                }
            )
        if self._session is None:
            self._session = _http.new_session()
        # No redirects: a receiver that moved must be reconfigured, not followed (SSRF, B.8).
        response = _http.request(
            self._session, "POST", target.url, what=what, timeout=self.timeout, data=body, headers=headers
        )
        code = response.status_code
        if 200 <= code < 300:
            return
        reason = f"{what}: HTTP {code}"
        if code in (408, 425, 429) or code >= 500:
            # The receiver answered that it did not take the post: safe to try again (not maybe_sent).
            raise TransientError(reason, retry_after=_http.retry_after(response.headers, self.clock()))
        if 300 <= code < 400:
            raise PermanentError(f"{reason}: redirects are not followed; set the final URL")
        raise PermanentError(reason)


# -- payloads ----------------------------------------------------------------------------------------


def render_body(post: Post, shape: Shape) -> bytes:
    """The request body for one shape; the same post always gives the same bytes."""
    payload: dict[str, Any]
    if shape == "slack":
        payload = {"text": slack_text(post)}
    elif shape == "discord":
        # allowed_mentions: a release that says "@everyone" must not ping a whole server.
        payload = {"content": discord_text(post), "allowed_mentions": {"parse": []}}
    else:
        payload = generic_payload(post)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def generic_payload(post: Post) -> dict[str, Any]:
    """distrib's own JSON: the text as previewed plus the facts a receiver may want to act on."""
    data: Mapping[str, Any] = post.data if isinstance(post.data, Mapping) else {}
    zones = [str(z) for z in data.get("timezones") or ()]
    times = [
        _time("event", e, e.get("start"), e.get("end"), [*zones, e.get("timezone")])
        for e in data.get("events") or ()
    ] + [
        _time("deadline", d, d.get("due"), None, [*zones, d.get("timezone")])
        for d in data.get("deadlines") or ()
    ]
    links = [post.link, *(e.get("stream_url") for e in data.get("events") or ())]
    return {
        "type": EVENT_TYPE,
        "id": post.key,
        "release_id": post.release_id,
        "kind": post.kind.value,
        "target": post.target,
        "due": iso_z(post.due) if post.due else None,
        "language": post.language,
        "subject": post.subject,
        "title": data.get("title"),
        "summary": data.get("summary"),
        "text": post.text,
        "parts": [p.text for p in post.parts],
        "link": post.link,
        "links": list(dict.fromkeys(link for link in links if link)),
        "image": post.image,
        "timezones": zones,
        "times": times,
        "handles": list(data.get("handles") or ()),
        "hashtags": list(data.get("hashtags") or ()),
        "changes": list(data.get("changes") or ()),
        "reason": data.get("reason"),
    }


def _time(
    kind: str, item: Mapping[str, Any], start: str | None, end: str | None, zones: list[str | None]
) -> dict[str, Any]:
    shown = [z for z in dict.fromkeys(zones) if z]
    entry: dict[str, Any] = {
        "type": kind,
        "id": item.get("id"),
        "what": item.get("title"),
        "when": item.get("when"),
        "timezone": item.get("timezone"),
        "utc": start,
        "local": _local(start, shown),
    }
    if kind == "event":
        entry.update(
            end_utc=end,
            end_local=_local(end, shown) if end else None,
            location=item.get("location"),
            stream_url=item.get("stream_url"),
        )
    else:
        entry["date_only"] = bool(item.get("date_only"))
    return entry


def _local(moment: str | None, zones: list[str]) -> dict[str, str]:
    """{zone: ISO 8601 with that zone's offset} for each zone the release shows its times in."""
    if not moment:
        return {}
    instant = parse_iso_z(moment)
    out = {}
    for zone in zones:
        try:
            out[zone] = instant.astimezone(ZoneInfo(zone)).isoformat()
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return out


def _slack_escape(text: str) -> str:
    # Slack mrkdwn: only these three are control characters (api.slack.com/reference/surfaces/formatting).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(post: Post) -> str:
    head = f"*{_slack_escape(post.subject)}*\n\n" if post.subject else ""
    return head + _slack_escape(post.text)


def discord_text(post: Post) -> str:
    head = f"**{post.subject}**\n\n" if post.subject else ""
    return truncate(head + post.text, DISCORD_LIMIT)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """At most `limit` UTF-16 units (the safe reading of Discord's 2000), cut at a grapheme boundary
    (never half an emoji), with an ellipsis."""
    if _utf16(text) <= limit:
        return text
    out: list[str] = []
    used = 1  # the ellipsis
    for grapheme in _GRAPHEME.findall(text):
        used += _utf16(grapheme)
        if used > limit:
            break
        out.append(grapheme)
    return "".join(out).rstrip() + "…"
