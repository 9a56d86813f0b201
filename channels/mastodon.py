"""Mastodon: 500 graphemes by default (instances may allow more); URLs count 23, mentions their local part.

Sending: POST /api/v1/statuses as JSON with `Idempotency-Key` = the outbox key (a thread's later parts
`<key>#2`, `#3`…, replying with in_reply_to_id), media through /api/v2/media. The server remembers a
key for one hour only, so a post retried more than READ_BACK_AFTER after it was due is first looked
for among the account's recent statuses: a status that went out before a crash is found, not repeated.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

import regex

from channels import _http
from channels.base import Channel
from channels.errors import PermanentError, TransientError
from channels.twitter_text import TRANSFORMED_URL_LENGTH, extract_urls
from distrib.config import Settings
from distrib.errors import ConfigError
from distrib.models import Post, PostPart, Receipt

if TYPE_CHECKING:
    import requests

log = logging.getLogger("channels.mastodon")

DEFAULT_LIMIT = 500
VISIBILITIES = ("public", "unlisted", "private", "direct")
# The server keeps an Idempotency-Key for an hour; past 50 minutes after the due time the first
# attempt may be older than that, so the account's statuses are read back before posting again.
READ_BACK_AFTER = timedelta(minutes=50)
READ_BACK_COUNT = 40  # the most /api/v1/accounts/:id/statuses returns at once
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # the documented default image_size_limit
INSTANCE_TIMEOUT = 5.0  # the planner waits for this at most once per process and instance
# Mastodon's Account::MENTION_RE: '@alice@example.social' counts as '@alice'.
_MENTION = re.compile(r"(?<![=/\w])@(\w+)(?:@[\w.-]+\w)?", re.UNICODE)
_GRAPHEME = regex.compile(r"\X")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")

_instance_limits: dict[str, int | None] = {}
_instance_lock = threading.Lock()


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def instance_limit(base_url: str, *, timeout: float = INSTANCE_TIMEOUT) -> int | None:
    """configuration.statuses.max_characters of GET /api/v2/instance, once per process; None if unknown."""
    with _instance_lock:
        if base_url not in _instance_limits:
            _instance_limits[base_url] = _fetch_instance_limit(base_url, timeout)
        return _instance_limits[base_url]


def _fetch_instance_limit(base_url: str, timeout: float) -> int | None:
    session = _http.new_session()
    try:
        response = _http.request(
            session,
            "GET",
            f"{base_url}/api/v2/instance",
            what="mastodon GET /api/v2/instance",
            timeout=timeout,
        )
        data = _http.json_body(response) if response.status_code == 200 else None
        limit = data["configuration"]["statuses"]["max_characters"] if isinstance(data, dict) else None
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
            return limit
        reason = f"HTTP {response.status_code}, no configuration.statuses.max_characters"
    except TransientError as exc:
        reason = str(exc)
    except (KeyError, TypeError):
        reason = "no configuration.statuses.max_characters"
    finally:
        session.close()
    # Once per process (the result is cached): the fitter then uses the setting or the default.
    log.warning("cannot read the instance's status limit (%s); using MASTODON_MAX_CHARACTERS or 500", reason)
    return None


class MastodonChannel(Channel):
    name: ClassVar[str] = "mastodon"
    default_limit: ClassVar[int] = DEFAULT_LIMIT
    supports_threads: ClassVar[bool] = True  # replies to the first status (in_reply_to_id)
    idempotent: ClassVar[bool] = True  # Idempotency-Key for an hour, then a read-back (see module doc)
    required_settings: ClassVar[tuple[str, ...]] = ("MASTODON_BASE_URL", "MASTODON_ACCESS_TOKEN")

    def __init__(
        self,
        limit: int | None = None,
        *,
        base_url: str | None = None,
        access_token: str | None = None,
        visibility: str = "public",
        timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll_delay: float = 1.0,
        poll_attempts: int = 30,
    ) -> None:
        super().__init__(limit)
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        self.base_url = base_url.rstrip("/") if base_url else None
        self._token = access_token
        self.visibility = visibility
        self.timeout = timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep  # injectable: tests poll media without waiting
        self.poll_delay = poll_delay
        self.poll_attempts = poll_attempts
        self._session: requests.Session | None = None
        self._account_id: str | None = None
        self._blocked_until: datetime | None = None  # X-RateLimit-Remaining reached 0 until then

    def __repr__(self) -> str:
        return f"MastodonChannel(limit={self.limit}, base_url={self.base_url!r})"  # never the token

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        raw = settings.get("MASTODON_MAX_CHARACTERS")
        fallback = None
        if raw is not None:
            try:
                fallback = int(raw)
            except ValueError:
                fallback = 0
            if fallback < 1:
                raise ConfigError(
                    f"MASTODON_MAX_CHARACTERS must be a whole number of at least 1, not {raw!r}"
                )
        visibility = (settings.get("MASTODON_VISIBILITY") or "public").strip().lower()
        if visibility not in VISIBILITIES:
            raise ConfigError(
                f"MASTODON_VISIBILITY must be one of {', '.join(VISIBILITIES)}, not {visibility!r}"
            )
        base = settings.get("MASTODON_BASE_URL")
        limit = fallback
        if base:
            base = _http.base_url("MASTODON_BASE_URL", base)
            # The instance's own limit is what the fitter must respect; the setting is the fallback.
            limit = instance_limit(base) or fallback
        return cls(
            limit, base_url=base, access_token=settings.get("MASTODON_ACCESS_TOKEN"), visibility=visibility
        )

    def length(self, text: str) -> int:
        # Mastodon's StatusLengthValidator: links with a scheme -> 23 characters (bare domains count
        # as written), remote mentions -> their local part, then grapheme clusters.
        pieces: list[str] = []
        last = 0
        for span in extract_urls(text, without_protocol=False):
            pieces.append(text[last : span.start])
            pieces.append("x" * TRANSFORMED_URL_LENGTH)
            last = span.start + len(span.url)
        pieces.append(text[last:])
        rewritten = _MENTION.sub(lambda m: "@" + m.group(1), "".join(pieces))
        return grapheme_count(rewritten)

    # -- sending -----------------------------------------------------------------------------------

    def send(self, post: Post) -> Receipt:
        now = self.clock()
        if self._blocked_until is not None and now < self._blocked_until:
            raise TransientError(
                "mastodon: the rate limit is used up until its reset", retry_after=self._blocked_until - now
            )
        recent = None
        if post.due is not None and now - post.due > READ_BACK_AFTER:
            recent = self._recent_statuses(post.due)
        first: Mapping[str, Any] | None = None
        parent: str | None = None
        for index, part in enumerate(post.parts):
            status = _find(recent, part, parent) if recent is not None else None
            if status is None:
                body: dict[str, Any] = {"status": part.text, "visibility": self.visibility}
                language = _language(post.language)
                if language:
                    body["language"] = language
                if parent is not None:
                    body["in_reply_to_id"] = parent
                if index == 0 and post.image:
                    media = self._upload_media(post.image, _alt_text(post))
                    if media:
                        body["media_ids"] = media
                key = post.key if index == 0 else f"{post.key}#{index + 1}"
                status = self._post_status(body, key)
            else:
                log.info("found the status among the account's recent ones", extra={"key": post.key})
            parent = str(status["id"])
            first = first or status
        assert first is not None  # a post has at least one part
        url = first.get("url") or first.get("uri")
        return Receipt(str(first["id"]), str(url) if url else None)

    def check(self) -> str:
        """Who the token posts as (GET /api/v1/accounts/verify_credentials); nothing is posted."""
        account = self._account()
        host = urlsplit(self.base_url or "").netloc
        return (
            f"mastodon: posting as @{account.get('acct') or account.get('username')} on {host}, "
            f"statuses up to {self.limit} characters, visibility {self.visibility}"
        )

    # -- the API -------------------------------------------------------------------------------------

    def _post_status(self, body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        what = "mastodon POST /api/v1/statuses"
        response = self._call("POST", "/api/v1/statuses", what, json=body,
                              headers={"Idempotency-Key": _http.header_value(key)})  # fmt: skip
        status = self._checked(response, what, maybe_sent=True)
        if not isinstance(status, Mapping) or "id" not in status:
            raise TransientError(f"{what}: the answer has no status id", maybe_sent=True)
        return status

    def _upload_media(self, image_url: str, description: str) -> list[str]:
        image = _http.fetch_image(self._http(), image_url, max_bytes=MAX_IMAGE_BYTES, timeout=self.timeout)
        if image is None:
            return []
        content, ctype = image
        name = urlsplit(image_url).path.rsplit("/", 1)[-1] or "image"
        what = "mastodon POST /api/v2/media"
        response = self._call("POST", "/api/v2/media", what, files={"file": (name, content, ctype)},
                              data={"description": description})  # fmt: skip
        if response.status_code in (415, 422):
            # The instance refuses this file (type, size): the post goes out without it.
            log.warning("media refused; posting without it: %s", _http.error_text(response, "error"))
            return []
        media = self._checked(response, what)
        if not isinstance(media, Mapping) or "id" not in media:
            raise TransientError(f"{what}: the answer has no media id")
        media_id = str(media["id"])
        if response.status_code != 202:
            return [media_id]  # 200: processed while we waited
        # 202: still processing, and attaching it now would be a 422. GET answers 206 until it is done.
        what = "mastodon GET /api/v1/media/:id"
        for _ in range(self.poll_attempts):
            self.sleep(self.poll_delay)
            response = self._call("GET", f"/api/v1/media/{media_id}", what)
            if response.status_code != 206:
                self._checked(response, what)
                return [media_id]
        raise TransientError(f"mastodon: media {media_id} still processing after {self.poll_attempts} polls")

    def _account(self) -> Mapping[str, Any]:
        what = "mastodon GET /api/v1/accounts/verify_credentials"
        account = self._checked(self._call("GET", "/api/v1/accounts/verify_credentials", what), what)
        if not isinstance(account, Mapping) or "id" not in account:
            raise TransientError(f"{what}: the answer has no account id")
        self._account_id = str(account["id"])
        return account

    def _recent_statuses(self, since: datetime) -> list[Mapping[str, Any]]:
        if self._account_id is None:
            self._account()
        what = "mastodon GET /api/v1/accounts/:id/statuses"
        response = self._call("GET", f"/api/v1/accounts/{self._account_id}/statuses", what,
                              params={"limit": READ_BACK_COUNT, "exclude_reblogs": "true"})  # fmt: skip
        statuses = self._checked(response, what)
        if not isinstance(statuses, list):
            raise TransientError(f"{what}: the answer is not a list")
        horizon = since - timedelta(minutes=5)
        return [
            s
            for s in statuses
            if isinstance(s, Mapping) and (_http.parse_iso(s.get("created_at")) or horizon) >= horizon
        ]

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        if not (self.base_url and self._token):
            raise PermanentError("mastodon: MASTODON_BASE_URL and MASTODON_ACCESS_TOKEN must be set")
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._token}"}
        response = _http.request(self._http(), method, self.base_url + path, what=what,
                                 timeout=self.timeout, headers=headers, **kwargs)  # fmt: skip
        self._note_rate_limit(response)
        return response

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = _http.new_session()
        return self._session

    def _note_rate_limit(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            self._blocked_until = _http.parse_iso(response.headers.get("X-RateLimit-Reset"))
        elif remaining is not None:
            self._blocked_until = None

    def _checked(self, response: requests.Response, what: str, *, maybe_sent: bool = False) -> Any:
        code = response.status_code
        if 200 <= code < 300:
            data = _http.json_body(response)
            if data is None:
                raise TransientError(f"{what}: the answer is not JSON", maybe_sent=maybe_sent)
            return data
        message = f"{what}: HTTP {code} {_http.error_text(response, 'error', 'error_description')}".rstrip()
        if code == 429:
            now = self.clock()
            reset = _http.parse_iso(response.headers.get("X-RateLimit-Reset"))
            wait = _http.until(reset, now) or _http.retry_after(response.headers, now)
            raise TransientError(message, retry_after=wait)
        if code >= 500 or code == 408:
            raise TransientError(message, maybe_sent=maybe_sent)
        raise PermanentError(message)


def _language(tag: str) -> str | None:
    """Mastodon takes ISO 639 codes: 'pt-BR' -> 'pt'; anything else is left out (the server guesses)."""
    primary = tag.split("-")[0].split("_")[0].lower()
    return primary if _LANGUAGE.match(primary) else None


def _alt_text(post: Post) -> str:
    title = post.data.get("title") if isinstance(post.data, Mapping) else None
    return str(title or post.subject or "")[:1500]


def _find(
    statuses: list[Mapping[str, Any]] | None, part: PostPart, parent: str | None
) -> Mapping[str, Any] | None:
    """The status that is this part (same text, same place in the thread), if it went out already."""
    want = " ".join(part.text.split())
    for status in statuses or ():
        reply_to = status.get("in_reply_to_id")
        if (str(reply_to) if reply_to else None) != parent:
            continue
        if " ".join(status_text(str(status.get("content") or "")).split()) == want:
            return status
    return None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def status_text(content: str) -> str:
    """The plain text of a status's HTML `content` (links keep their full address in hidden spans)."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return "".join(parser.out).strip()
