"""Loopback fakes speaking each wire format: a Mastodon instance, a Bluesky PDS, webhook receivers.

Each is a ThreadingHTTPServer on 127.0.0.1:0 that records every request and answers with the real
response and error shapes. `script` queues canned answers (status, JSON, headers) per route, so a test
can make the next call fail exactly as the platform would.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
    b"\xaeB`\x82"
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, tuple[str | None, bytes]]:
        """multipart/form-data fields: name -> (filename, content)."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        out: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        return out


Answer = tuple[int, Any, dict[str, str]]
Route = Callable[[Request, "re.Match[str]"], Answer]


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.script: dict[str, list[Answer]] = {}  # "METHOD /path" -> canned answers, first served first
        self.lock = threading.RLock()
        self.route("GET", r"/image\.png", lambda r, m: (200, PNG, {"Content-Type": "image/png"}))
        self.route(
            "GET", r"/big\.png", lambda r, m: (200, PNG + b"\0" * 1_100_000, {"Content-Type": "image/png"})
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def fail_next(
        self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        with self.lock:
            self.script.setdefault(f"{method} {path}", []).append((status, body, headers or {}))

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    def answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            canned = self.script.get(f"{request.method} {request.path}")
            if canned:
                return canned.pop(0)
            for method, pattern, handler in self.routes:
                match = pattern.match(request.path)
                if method == request.method and match:
                    return handler(request, match)
        return 404, {"error": "Record not found"}, {}


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            split.path,
            parse_qs(split.query),
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length else b"",
        )
        status, body, headers = self.server.answer(request)
        if status == 0:  # drop the connection without an answer (the platform may have acted)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _serve


@contextmanager
def serving(server: FakeServer) -> Iterator[FakeServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- Mastodon ---------------------------------------------------------------------------------------


def _mastodon_html(text: str) -> str:
    """Roughly what Mastodon stores as `content`: paragraphs, <br />, links split into spans."""
    import html

    def para(p: str) -> str:
        linked = re.sub(
            r"https?://([^\s<]+)",
            lambda m: (
                f'<a href="{m.group(0)}" rel="nofollow noopener" target="_blank">'
                f'<span class="invisible">https://</span><span class="">{m.group(1)}</span></a>'
            ),
            html.escape(p, quote=False),
        )
        return linked.replace("\n", "<br />")

    return "".join(f"<p>{para(p)}</p>" for p in text.split("\n\n"))


class FakeMastodon(FakeServer):
    """POST /api/v1/statuses (Idempotency-Key per account), /api/v2/media (202, then polling),
    /api/v2/instance, verify_credentials, an account's statuses; Bearer token checked."""

    def __init__(
        self, token: str = "mastodon-token", max_characters: int = 500, media_polls: int = 1
    ) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.statuses: list[dict[str, Any]] = []
        self.keys: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> the status it created
        self.media: dict[str, dict[str, Any]] = {}
        self.media_polls = media_polls  # how many GETs answer 206 (processing) before a 200
        self.route("GET", r"/api/v2/instance", self._instance)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._authed(self._account))
        self.route("POST", r"/api/v1/statuses", self._authed(self._post_status))
        self.route("GET", r"/api/v1/accounts/(\w+)/statuses", self._authed(self._account_statuses))
        self.route("POST", r"/api/v2/media", self._authed(self._post_media))
        self.route("GET", r"/api/v1/media/(\w+)", self._authed(self._get_media))

    def forget_keys(self) -> None:
        """An hour passed: the server no longer remembers any Idempotency-Key."""
        with self.lock:
            self.keys.clear()

    def _authed(self, route: Route) -> Route:
        def check(request: Request, match: re.Match[str]) -> Answer:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "The access token is invalid"}, {}
            return route(request, match)

        return check

    def _instance(self, request: Request, match: re.Match[str]) -> Answer:
        config = {"statuses": {"max_characters": self.max_characters, "max_media_attachments": 4,
                               "characters_reserved_per_url": 23}}  # fmt: skip
        return 200, {"domain": "127.0.0.1", "title": "Fake", "version": "4.3.0", "configuration": config}, {}

    def _account(self, request: Request, match: re.Match[str]) -> Answer:
        return 200, {"id": "109", "username": "esa", "acct": "esa", "display_name": "ESA"}, {}

    def _post_status(self, request: Request, match: re.Match[str]) -> Answer:
        key = request.headers.get("idempotency-key")
        if key and key in self.keys:
            return 200, self.keys[key], _ratelimit(299)
        body = request.json()
        if len(body.get("status", "")) > self.max_characters * 4:
            return 422, {"error": "Validation failed: Text character limit of 500 exceeded"}, {}
        for media_id in body.get("media_ids", []):
            if not self.media.get(media_id, {}).get("url"):
                return 422, {"error": "Validation failed: Media attachments are still being processed"}, {}
        number = str(110_000 + len(self.statuses) + 1)
        status = {
            "id": number,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "in_reply_to_id": body.get("in_reply_to_id"),
            "visibility": body.get("visibility", "public"),
            "language": body.get("language"),
            "uri": f"{self.url}/users/esa/statuses/{number}",
            "url": f"{self.url}/@esa/{number}",
            "content": _mastodon_html(body["status"]),
            "media_attachments": [self.media[m] for m in body.get("media_ids", [])],
        }
        self.statuses.append(status)
        if key:
            self.keys[key] = status
        return 200, status, _ratelimit(299)

    def _account_statuses(self, request: Request, match: re.Match[str]) -> Answer:
        limit = int(request.query.get("limit", ["20"])[0])
        return 200, list(reversed(self.statuses))[:limit], {}

    def _post_media(self, request: Request, match: re.Match[str]) -> Answer:
        form = request.form()
        if "file" not in form:
            return 422, {"error": "Validation failed: File can't be blank"}, {}
        media_id = str(200 + len(self.media))
        processed = self.media_polls == 0
        self.media[media_id] = {
            "id": media_id, "type": "image", "description": form.get("description", (None, b""))[1].decode(),
            "url": f"{self.url}/media/{media_id}.png" if processed else None, "polls_left": self.media_polls,
        }  # fmt: skip
        return (200 if processed else 202), self.media[media_id], {}

    def _get_media(self, request: Request, match: re.Match[str]) -> Answer:
        media = self.media.get(match.group(1))
        if media is None:
            return 404, {"error": "Record not found"}, {}
        if media["polls_left"] > 0:
            media["polls_left"] -= 1
            return 206, media, {}
        media["url"] = f"{self.url}/media/{media['id']}.png"
        return 200, media, {}


def _ratelimit(remaining: int, reset: str = "2099-01-01T00:00:00.000Z") -> dict[str, str]:
    return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}


# -- Bluesky -----------------------------------------------------------------------------------------


@dataclass
class _Tokens:
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)


class FakePDS(FakeServer):
    """XRPC: sessions (create/refresh/get), getRecord, createRecord (a taken rkey is a 500, as on the
    reference PDS), uploadBlob, resolveHandle. Access tokens can be expired on demand."""

    DID = "did:plc:esa7fake7exomars"

    def __init__(self, handle: str = "esa.bsky.social", password: str = "app-pass-word") -> None:
        super().__init__()
        self.handle = handle
        self.password = password
        self.tokens = _Tokens()
        self.logins = 0
        self.refreshes = 0
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {"uri", "cid", "value"}
        self.blobs: list[bytes] = []
        self.known_handles = {handle: self.DID, "esa-exomars.bsky.social": "did:plc:exomarsrover"}
        for nsid, method, handler in (
            ("com.atproto.server.createSession", "POST", self._create_session),
            ("com.atproto.server.refreshSession", "POST", self._refresh_session),
            ("com.atproto.server.getSession", "GET", self._get_session),
            ("com.atproto.repo.getRecord", "GET", self._get_record),
            ("com.atproto.repo.createRecord", "POST", self._create_record),
            ("com.atproto.repo.uploadBlob", "POST", self._upload_blob),
            ("com.atproto.identity.resolveHandle", "GET", self._resolve_handle),
        ):
            self.route(method, re.escape(f"/xrpc/{nsid}"), handler)

    def expire_access(self) -> None:
        with self.lock:
            self.tokens.access.clear()

    def expire_all(self) -> None:
        with self.lock:
            self.tokens.access.clear()
            self.tokens.refresh.clear()

    def _new_session(self) -> dict[str, Any]:
        n = self.logins + self.refreshes
        access, refresh = f"access-jwt-{n}", f"refresh-jwt-{n}"
        self.tokens.access.add(access)
        self.tokens.refresh.add(refresh)
        # No didDoc: a client must keep talking to the service it was given.
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.DID}

    def _bearer(self, request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def _needs_access(self, request: Request) -> Answer | None:
        token = self._bearer(request)
        if not token:
            return 401, {"error": "AuthenticationRequired", "message": "Authentication Required"}, {}
        if token not in self.tokens.access:
            return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
        return None

    def _create_session(self, request: Request, match: re.Match[str]) -> Answer:
        body = request.json()
        if body.get("identifier") != self.handle or body.get("password") != self.password:
            return 401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}, {}
        self.logins += 1
        return 200, self._new_session(), {}

    def _refresh_session(self, request: Request, match: re.Match[str]) -> Answer:
        token = self._bearer(request)
        if token not in self.tokens.refresh:
            return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
        self.tokens.refresh.discard(token)
        self.refreshes += 1
        return 200, self._new_session(), {}

    def _get_session(self, request: Request, match: re.Match[str]) -> Answer:
        return self._needs_access(request) or (
            200,
            {"handle": self.handle, "did": self.DID, "active": True},
            {},
        )

    def _get_record(self, request: Request, match: re.Match[str]) -> Answer:
        rkey = request.query["rkey"][0]
        record = self.records.get(rkey)
        if record is None:
            return 400, {"error": "RecordNotFound", "message": f"Could not locate record: {rkey}"}, {}
        return 200, record, {}

    def _create_record(self, request: Request, match: re.Match[str]) -> Answer:
        denied = self._needs_access(request)
        if denied:
            return denied
        body = request.json()
        rkey = body["rkey"]
        if body["repo"] != self.DID or body["collection"] != "app.bsky.feed.post":
            return 400, {"error": "InvalidRequest", "message": "Invalid repo or collection"}, {}
        if not re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", rkey):
            return 400, {"error": "InvalidRequest", "message": "Invalid record key: must be a TID"}, {}
        if rkey in self.records:
            return 500, {"error": "InternalServerError", "message": "Internal Server Error"}, {}
        record = body["record"]
        if len(record["text"].encode()) > 3000 or not record.get("createdAt"):
            return 400, {"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}, {}
        uri = f"at://{self.DID}/app.bsky.feed.post/{rkey}"
        cid = f"bafyrei{len(self.records):06d}fake"
        self.records[rkey] = {"uri": uri, "cid": cid, "value": record}
        return 200, {"uri": uri, "cid": cid, "validationStatus": "valid"}, {}

    def _upload_blob(self, request: Request, match: re.Match[str]) -> Answer:
        denied = self._needs_access(request)
        if denied:
            return denied
        self.blobs.append(request.body)
        blob = {"$type": "blob", "ref": {"$link": f"bafkrei{len(self.blobs):04d}blob"},
                "mimeType": request.headers.get("content-type"), "size": len(request.body)}  # fmt: skip
        return 200, {"blob": blob}, {}

    def _resolve_handle(self, request: Request, match: re.Match[str]) -> Answer:
        did = self.known_handles.get(request.query["handle"][0])
        if did is None:
            return 400, {"error": "InvalidRequest", "message": "Unable to resolve handle"}, {}
        return 200, {"did": did}, {}


# -- webhook receivers -------------------------------------------------------------------------------


class FakeReceiver(FakeServer):
    """Any POST is taken (204 like Discord, 200 "ok" like Slack, 200 JSON otherwise) and recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/discord/.*", lambda r, m: (204, None, {}))
        self.route("POST", r"/slack/.*", lambda r, m: (200, b"ok", {"Content-Type": "text/plain"}))
        self.route("POST", r"/hook.*", lambda r, m: (200, {"ok": True}, {}))

    def posts(self, prefix: str = "/") -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(prefix)]


def production_debug_logging(caplog: Any) -> None:
    """The root logger at DEBUG as `DISTRIB_LOG_LEVEL=DEBUG` sets it, with the noisy libraries (urllib3
    logs request paths, which hold webhook tokens) held at WARNING exactly as distrib.logs.setup does."""
    from distrib.logs import NOISY

    caplog.set_level(logging.DEBUG)
    for name in NOISY:
        caplog.set_level(logging.WARNING, logger=name)
