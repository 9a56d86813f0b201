"""Bluesky: 300 graphemes and 3000 UTF-8 bytes; links, hashtags and mentions need facets (byte offsets).

Sending (XRPC over requests): one session from createSession, kept and renewed with refreshSession —
never a login per post. Each post (each part of a thread) has a record key derived from its outbox
key, a valid TID; the sender asks getRecord for that key before creating it, so a retry after a crash
finds the post instead of making a second one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

import regex

from channels import _http
from channels.base import Channel, Facet
from channels.errors import PermanentError, TransientError
from distrib.config import Settings
from distrib.models import Post, PostPart, Receipt

if TYPE_CHECKING:
    import requests

log = logging.getLogger("channels.bluesky")

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_TAG_GRAPHEMES = 64
MAX_THUMB_BYTES = 1_000_000  # app.bsky.embed.external thumb
POST_COLLECTION = "app.bsky.feed.post"
APP_URL = "https://bsky.app"
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")

_GRAPHEME = regex.compile(r"\X")
# The patterns of the official client's rich-text detection (@atproto/api richtext/util.ts).
_URL = re.compile(r"(?:^|(?<=[\s(]))(https?://\S+)", re.IGNORECASE)
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9.-]+)(?![\w.-]*@)")
_HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_TAG = regex.compile(r"(?:^|(?<=\s))[#＃]((?!\ufe0f)[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*"
                     r"[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+"
                     r"[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)")  # fmt: skip
_TRAILING_PUNCT = re.compile(r"[.,;:!?]+$")
_TAG_TRAILING_PUNCT = regex.compile(r"\p{P}+$")


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte position of the code point at `index` (facets count bytes, not characters)."""
    return len(text[:index].encode("utf-8"))


def _facet(text: str, start: int, end: int, feature: dict[str, Any]) -> Facet:
    return {
        "index": {"byteStart": byte_offset(text, start), "byteEnd": byte_offset(text, end)},
        "features": [feature],
    }


def facets(text: str) -> tuple[Facet, ...]:
    """Link, hashtag and mention facets for `text`, in text order.

    A mention facet needs the account's DID, known only by asking the network; it is produced here
    with the handle (`{"$type": "...#mention", "handle": "esa.bsky.social"}`) and the sender resolves
    it with com.atproto.identity.resolveHandle, dropping the facet if the handle does not resolve.
    `@name` without a domain (an X or Mastodon handle) is not a Bluesky handle and stays plain text.
    """
    found: list[tuple[int, Facet]] = []
    for match in _URL.finditer(text):
        uri = _TRAILING_PUNCT.sub("", match.group(1))
        if uri.endswith(")") and "(" not in uri:
            uri = uri[:-1]
        start = match.start(1)
        found.append(
            (
                start,
                _facet(text, start, start + len(uri), {"$type": "app.bsky.richtext.facet#link", "uri": uri}),
            )
        )
    for tag_match in _TAG.finditer(text):
        tag = _TAG_TRAILING_PUNCT.sub("", tag_match.group(1))
        if not tag or grapheme_count(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = tag_match.start(0)
        end = tag_match.start(1) + len(tag)
        found.append((start, _facet(text, start, end, {"$type": "app.bsky.richtext.facet#tag", "tag": tag})))
    for match in _MENTION.finditer(text):
        handle = _TRAILING_PUNCT.sub("", match.group(1))
        if not _HANDLE.match(handle):
            continue
        start = match.start(0)
        end = match.start(1) + len(handle)
        feature = {"$type": "app.bsky.richtext.facet#mention", "handle": handle.lower()}
        found.append((start, _facet(text, start, end, feature)))
    found.sort(key=lambda item: item[0])
    return tuple(facet for _, facet in found)


def tid(microseconds: int, clock_id: int) -> str:
    """A TID: 53-bit microseconds since the epoch and a 10-bit clock id, 13 sortable base32 characters."""
    if not (0 <= microseconds < 1 << 53 and 0 <= clock_id < 1 << 10):
        raise ValueError("a TID holds 53 bits of microseconds and 10 bits of clock id")
    value = (microseconds << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def is_tid(text: str) -> bool:
    return bool(_TID.match(text))


def record_key(key: str, index: int = 0, due: datetime | None = None) -> str:
    """The record key of one part of a post: a TID that only its outbox key (and part) can produce.

    The time is the post's due second, plus a microsecond offset from a hash of the key, and the clock
    id is 10 more bits of that hash: two posts due at the same second (two releases published at
    09:00) differ in 30 bits. Deterministic, so a retry after a crash asks for the very same record.
    """
    digest = hashlib.sha256(f"{key}#{index}".encode()).digest()
    bits = int.from_bytes(digest[:8], "big")
    seconds = int(due.timestamp()) if due is not None else 0
    return tid(seconds * 1_000_000 + bits % 1_000_000, (bits >> 40) & 0x3FF)


def created_at(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and Z, the form the official clients write."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Session:
    access: str
    refresh: str
    did: str
    handle: str

    def __repr__(self) -> str:
        return f"_Session(did={self.did!r}, handle={self.handle!r})"  # never the tokens


@dataclass(frozen=True)
class _Ref:
    uri: str
    cid: str

    def strong(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


class BlueskyChannel(Channel):
    name: ClassVar[str] = "bluesky"
    default_limit: ClassVar[int] = MAX_GRAPHEMES
    supports_threads: ClassVar[bool] = True  # replies with reply.root / reply.parent
    idempotent: ClassVar[bool] = True  # the record key is chosen by us, so a retry cannot post twice
    required_settings: ClassVar[tuple[str, ...]] = (
        "BLUESKY_SERVICE",
        "BLUESKY_HANDLE",
        "BLUESKY_APP_PASSWORD",
    )

    def __init__(
        self,
        limit: int | None = None,
        *,
        service: str | None = None,
        handle: str | None = None,
        app_password: str | None = None,
        timeout: float = _http.DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(limit)
        self.service = service.rstrip("/") if service else None
        self.handle = handle.lstrip("@") if handle else None
        self._password = app_password
        self.timeout = timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self._session: _Session | None = None
        self._http_session: requests.Session | None = None
        self._dids: dict[str, str | None] = {}
        # The worker sends one channel's posts from one thread at a time, but `check` or a second
        # fan-out may overlap: the session is refreshed by one caller only.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"BlueskyChannel(limit={self.limit}, service={self.service!r}, handle={self.handle!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        service = settings.get("BLUESKY_SERVICE")
        if service:
            service = _http.base_url("BLUESKY_SERVICE", service)
            if service.endswith("/xrpc"):  # the origin is meant, but the XRPC path is a common slip
                service = service[: -len("/xrpc")]
        return cls(
            service=service,
            handle=settings.get("BLUESKY_HANDLE"),
            app_password=settings.get("BLUESKY_APP_PASSWORD"),
        )

    def length(self, text: str) -> int:
        """Graphemes, or a tenth of the UTF-8 bytes if that is more: at most 300 means both rules hold.

        The post lexicon allows 300 graphemes and 3000 bytes; folding the byte rule into the one
        number keeps `length <= limit` exact for both (300 emoji of 4 bytes pass, 300 family emoji
        of 25 bytes do not).
        """
        by_bytes = math.ceil(len(text.encode("utf-8")) * MAX_GRAPHEMES / MAX_BYTES)
        return max(grapheme_count(text), by_bytes)

    def facets(self, text: str) -> tuple[Facet, ...]:
        return facets(text)

    # -- sending -----------------------------------------------------------------------------------

    def send(self, post: Post) -> Receipt:
        with self._lock:
            did = self._logged_in().did
            root: _Ref | None = None
            parent: _Ref | None = None
            for index, part in enumerate(post.parts):
                rkey = record_key(post.key, index, post.due)
                ref = self._existing(did, rkey)
                if ref is None:
                    record = self._record(post, part, index, root, parent)
                    ref = self._create(did, rkey, record)
                else:
                    log.info("the record exists already", extra={"key": post.key, "rkey": rkey})
                root = root or ref
                parent = ref
            assert root is not None  # a post has at least one part
            return Receipt(root.uri, web_url(root.uri))

    def check(self) -> str:
        """Logs in (or reuses the session) and asks com.atproto.server.getSession; nothing is posted."""
        with self._lock:
            self._logged_in()
            info = self._xrpc("GET", "com.atproto.server.getSession")
            host = urlsplit(self.service or "").netloc
            return f"bluesky: logged in as {info.get('handle')} ({info.get('did')}) at {host}"

    def _record(
        self, post: Post, part: PostPart, index: int, root: _Ref | None, parent: _Ref | None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": part.text,
            # Now, not the due time: a late post says when it really appeared. A retry never
            # rebuilds an existing record (getRecord first), so this needs no determinism.
            "createdAt": created_at(self.clock()),
            "langs": [post.language],
        }
        resolved = self._resolved(part.facets)
        if resolved:
            record["facets"] = resolved
        if root is not None and parent is not None:
            record["reply"] = {"root": root.strong(), "parent": parent.strong()}
        elif post.link and urlsplit(post.link).scheme in ("http", "https"):
            record["embed"] = self._link_card(post)
        return record

    def _link_card(self, post: Post) -> dict[str, Any]:
        assert post.link is not None
        data = post.data if isinstance(post.data, Mapping) else {}
        external: dict[str, Any] = {
            "uri": post.link,
            "title": str(data.get("title") or post.subject or post.link),
            "description": str(data.get("summary") or ""),
        }
        if post.image:
            thumb = self._thumb(post.image)
            if thumb is not None:
                external["thumb"] = thumb
        return {"$type": "app.bsky.embed.external", "external": external}

    def _thumb(self, image_url: str) -> Mapping[str, Any] | None:
        """The card's thumbnail blob; None (a card without a picture) when anything goes wrong."""
        image = _http.fetch_image(self._http(), image_url, max_bytes=MAX_THUMB_BYTES, timeout=self.timeout)
        if image is None:
            return None
        content, ctype = image
        try:
            answer = self._xrpc("POST", "com.atproto.repo.uploadBlob", data=content, content_type=ctype)
        except (TransientError, PermanentError) as exc:
            log.warning("link card without a thumbnail: %s", exc)
            return None
        blob = answer.get("blob")
        return blob if isinstance(blob, Mapping) else None

    def _resolved(self, found: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
        """Facets as the lexicon wants them: mention handles resolved to DIDs, unresolvable ones dropped."""
        out: list[dict[str, Any]] = []
        for facet in found:
            features = []
            for feature in facet.get("features", ()):
                feature = dict(feature)
                if feature.get("$type") == "app.bsky.richtext.facet#mention" and "did" not in feature:
                    did = self._did(str(feature.pop("handle", "")))
                    if did is None:
                        continue  # the text keeps "@name"; it is just not a link
                    feature["did"] = did
                features.append(feature)
            if features:
                out.append({"index": dict(facet["index"]), "features": features})
        return out

    def _did(self, handle: str) -> str | None:
        if handle not in self._dids:
            try:
                answer = self._xrpc("GET", "com.atproto.identity.resolveHandle", params={"handle": handle})
                did = answer.get("did")
                self._dids[handle] = did if isinstance(did, str) and did.startswith("did:") else None
            except (TransientError, PermanentError) as exc:
                log.info("mention left as plain text: %s", exc, extra={"handle": handle})
                return None  # not cached: the network may be back for the next post
        return self._dids[handle]

    def _existing(self, did: str, rkey: str) -> _Ref | None:
        params = {"repo": did, "collection": POST_COLLECTION, "rkey": rkey}
        try:
            answer = self._xrpc("GET", "com.atproto.repo.getRecord", params=params)
        except _NotFound:
            return None
        except PermanentError as exc:
            # Cannot look (a server without getRecord, an odd answer): create, and rely on the server
            # refusing a second record under the same key. Network trouble stays transient.
            log.warning("cannot check for the record (%s); creating it", exc, extra={"rkey": rkey})
            return None
        uri, cid = answer.get("uri"), answer.get("cid")
        if not (isinstance(uri, str) and isinstance(cid, str)):
            raise TransientError("bluesky getRecord: the answer has no uri and cid")
        return _Ref(uri, cid)

    def _create(self, did: str, rkey: str, record: Mapping[str, Any]) -> _Ref:
        body = {"repo": did, "collection": POST_COLLECTION, "rkey": rkey, "record": record}
        answer = self._xrpc("POST", "com.atproto.repo.createRecord", json=body, maybe_sent=True)
        uri, cid = answer.get("uri"), answer.get("cid")
        if not (isinstance(uri, str) and isinstance(cid, str)):
            raise TransientError("bluesky createRecord: the answer has no uri and cid", maybe_sent=True)
        return _Ref(uri, cid)

    # -- XRPC and the session --------------------------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._http_session is None:
            self._http_session = _http.new_session()
        return self._http_session

    def _logged_in(self) -> _Session:
        if self._session is None:
            self._session = self._login()
        return self._session

    def _login(self) -> _Session:
        if not (self.service and self.handle and self._password):
            raise PermanentError(
                "bluesky: BLUESKY_SERVICE, BLUESKY_HANDLE and BLUESKY_APP_PASSWORD must be set"
            )
        body = {"identifier": self.handle, "password": self._password}
        answer = self._xrpc("POST", "com.atproto.server.createSession", json=body, auth=False)
        log.info("bluesky session created", extra={"handle": answer.get("handle")})
        return _session_from(answer, "createSession")

    def _refresh(self, stale: _Session) -> None:
        """refreshSession with the refresh token; a new login only when that token is refused too."""
        if self._session is not stale:
            return  # another caller renewed it meanwhile
        try:
            answer = self._xrpc("POST", "com.atproto.server.refreshSession", bearer=stale.refresh)
            self._session = _session_from(answer, "refreshSession")
        except PermanentError:
            log.info("bluesky refresh token refused; logging in again")
            self._session = None
            self._session = self._login()

    def _xrpc(
        self,
        method: str,
        nsid: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        auth: bool = True,
        bearer: str | None = None,
        maybe_sent: bool = False,
    ) -> Mapping[str, Any]:
        """One XRPC call: with the session's access token (renewed once if it expired), or with
        `bearer` (the refresh token), or without authentication (auth=False)."""
        assert self.service is not None
        what = f"bluesky {nsid}"
        for renewed in (False, True):
            headers: dict[str, str] = {}
            session = self._logged_in() if auth and bearer is None else None
            token = session.access if session is not None else bearer
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            if content_type:
                headers["Content-Type"] = content_type
            response = _http.request(self._http(), method, f"{self.service}/xrpc/{nsid}", what=what,
                                     timeout=self.timeout, params=params, json=json, data=data,
                                     headers=headers)  # fmt: skip
            error = _xrpc_error(response)
            if session is not None and not renewed and error in ("ExpiredToken", "InvalidToken"):
                self._refresh(session)
                continue
            return self._checked(response, what, error, maybe_sent=maybe_sent)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checked(
        self, response: requests.Response, what: str, error: str | None, *, maybe_sent: bool
    ) -> Mapping[str, Any]:
        code = response.status_code
        if 200 <= code < 300:
            answer = _http.json_body(response)
            if not isinstance(answer, Mapping):
                raise TransientError(f"{what}: the answer is not a JSON object", maybe_sent=maybe_sent)
            return answer
        message = f"{what}: HTTP {code} {_http.error_text(response, 'error', 'message')}".rstrip()
        if (
            error == "RecordNotFound"
            or (code == 404 and error is None)
            # Older PDS versions: InvalidRequest "Could not locate record: at://…".
            or (error == "InvalidRequest" and "could not locate record" in message.lower())
        ):
            raise _NotFound(message)
        if code == 501 or error in ("MethodNotImplemented", "XRPCNotSupported"):
            raise _NotSupported(message)
        if code == 429 or error == "RateLimitExceeded":
            now = self.clock()
            reset = response.headers.get("RateLimit-Reset", "")
            wait = _http.retry_after(response.headers, now)
            if wait is None and reset.isdigit():
                wait = _http.until(datetime.fromtimestamp(int(reset), UTC), now)
            raise TransientError(message, retry_after=wait)
        if code >= 500 or code == 408:
            # createRecord on a key that exists is a 500 on the reference PDS; the retry's getRecord
            # then finds the record, so treating it as transient is safe.
            raise TransientError(message, maybe_sent=maybe_sent)
        raise PermanentError(message)


class _NotFound(PermanentError):
    """getRecord: no record under that key (yet)."""


class _NotSupported(PermanentError):
    """The server does not implement this method."""


def _xrpc_error(response: requests.Response) -> str | None:
    if response.status_code < 400:
        return None
    answer = _http.json_body(response)
    error = answer.get("error") if isinstance(answer, Mapping) else None
    return error if isinstance(error, str) else None


def _session_from(answer: Mapping[str, Any], nsid: str) -> _Session:
    try:
        return _Session(
            str(answer["accessJwt"]),
            str(answer["refreshJwt"]),
            str(answer["did"]),
            str(answer.get("handle", "")),
        )
    except KeyError:
        raise TransientError(f"bluesky {nsid}: the answer has no session") from None


def web_url(uri: str) -> str | None:
    """at://did/app.bsky.feed.post/rkey -> the post's address in the Bluesky app."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != POST_COLLECTION:
        return None
    return f"{APP_URL}/profile/{parts[0]}/post/{parts[2]}"
