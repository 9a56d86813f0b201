"""A loopback X API v2 in the real wire format: POST /2/tweets, GET /2/users/me, POST /2/media/upload."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests import loopback

# Error bodies as X returns them (RFC 7807 problem details; reference §1.5).
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
SERVER_ERROR = {
    "title": "Internal Server Error",
    "detail": "Internal Server Error",
    "type": "about:blank",
    "status": 500,
}
BAD_REQUEST = {
    "errors": [{"parameters": {"text": [""]}, "message": "Your Tweet text is too long."}],
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
}
HANG = "hang"  # accept the request, never answer (the client's read timeout fires)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)  # multipart fields (bytes for files)


class FakeX(ThreadingHTTPServer):
    """Scripted per route ("POST /2/tweets"): each Reply, or HANG, is used once, then the defaults."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: dict[str, list[Reply | str | None]] = {}  # None: answer as usual
        self.seen: list[Seen] = []
        self.tweets: list[dict[str, Any]] = []  # every tweet created, in order, with its id
        self.images: dict[str, tuple[bytes, str]] = {"/img/lead.png": (PNG, "image/png")}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def on(self, route: str, *replies: Reply | str | None) -> None:
        self.script.setdefault(route, []).extend(replies)

    def requests_to(self, route: str) -> list[Seen]:
        method, path = route.split(" ", 1)
        return [s for s in self.seen if s.method == method and s.path.split("?")[0] == path]


class _Handler(BaseHTTPRequestHandler):
    server: FakeX
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        seen = Seen(method, self.path, dict(self.headers.items()), body)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and body:
            seen.json = json.loads(body)
        elif ctype.startswith("multipart/form-data"):
            seen.form = _multipart(ctype, body)
        server = self.server
        with server.lock:
            server.seen.append(seen)
            queue = server.script.get(f"{method} {path}")
            step = queue.pop(0) if queue else None
        if method == "GET" and path in server.images and step is None:
            data, image_type = server.images[path]
            self._raw(200, data, {"Content-Type": image_type})
            return
        if step == HANG:
            if path == "/2/tweets":
                self._create(seen)  # it is on X; only the answer never comes
            server.stop.wait(10)
            self.close_connection = True
            return
        if isinstance(step, Reply):
            self._json(step.status, step.body, step.headers)
            return
        if not self.headers.get("Authorization"):
            self._json(401, UNAUTHORIZED)
        elif (method, path) == ("POST", "/2/tweets"):
            self._json(201, {"data": self._create(seen)})
        elif (method, path) == ("GET", "/2/users/me"):
            self._json(200, {"data": {"id": "2244994945", "name": "ESA", "username": "esa"}})
        elif (method, path) == ("POST", "/2/media/upload"):
            size = len(seen.form.get("media", b""))
            media = {
                "id": "1880028106020515840",
                "media_key": "3_1880028106020515840",
                "size": size,
                "expires_after_secs": 86400,
                "image": {"image_type": seen.form.get("media_type", "image/png"), "w": 1, "h": 1},
            }
            self._json(200, {"data": media})
        else:
            self._json(404, {"title": "Not Found Error", "detail": "Not found", "type": "about:blank"})

    def _create(self, seen: Seen) -> dict[str, Any]:
        server = self.server
        with server.lock:
            tweet_id = str(1_230_000_000_000_000_000 + len(server.tweets) + 1)
            tweet = {"id": tweet_id, **(seen.json or {})}
            server.tweets.append(tweet)
        return {"id": tweet_id, "text": tweet.get("text", ""), "edit_history_tweet_ids": [tweet_id]}

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _raw(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _multipart(ctype: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if part.get_filename() else payload.decode()
    return fields


def running(server: FakeX) -> AbstractContextManager[FakeX]:
    return loopback.running(server, server.stop)


def closed_port() -> str:
    """A loopback address nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
