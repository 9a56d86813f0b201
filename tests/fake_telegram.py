"""A loopback Telegram Bot API: POST /bot<token>/<method>, form-encoded or multipart, real answer shapes."""

from __future__ import annotations

import json
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests import loopback
from tests.fake_x import HANG, _multipart

# Bot API HTML parse mode (core.telegram.org/bots/api#html-style), checked apart from channels/telegram.py.
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
    "tg-time", "code", "pre", "blockquote",
}  # fmt: skip
NAMED_ENTITIES = {"lt", "gt", "amp", "quot"}

CHAT = {"id": -1001234567890, "title": "ESA news", "type": "channel", "username": "esa_news"}
ME = {"id": 123456789, "is_bot": True, "first_name": "distrib", "username": "distrib_bot"}


def error(code: int, description: str, **parameters: int) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


FLOOD = error(429, "Too Many Requests: retry after 3", retry_after=3)
CANT_PARSE = error(400, 'Bad Request: can\'t parse entities: unsupported start tag "p" at byte offset 0')
NOT_MEMBER = error(403, "Forbidden: bot is not a member of the channel chat")
MIGRATED = error(
    400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1009876543210
)
UNAUTHORIZED = error(401, "Unauthorized")
BAD_PHOTO = error(400, "Bad Request: wrong file identifier/HTTP URL specified")
SERVER_ERROR = error(500, "Internal Server Error")


@dataclass
class Call:
    method: str
    token: str
    fields: dict[str, Any]
    content_type: str


class FakeTelegram(ThreadingHTTPServer):
    """Scripted per method: each error body, or HANG, is used once, then the method succeeds."""

    daemon_threads = True

    def __init__(self, token: str = "123456789:AAfakeTOKENforTESTSonly_abcdefghij") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.script: dict[str, list[dict[str, Any] | str]] = {}
        self.calls: list[Call] = []
        self.messages: list[dict[str, Any]] = []  # what the chat shows, in order
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/bot"

    def on(self, method: str, *replies: dict[str, Any] | str) -> None:
        self.script.setdefault(method, []).extend(replies)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]


class _Handler(BaseHTTPRequestHandler):
    server: FakeTelegram
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _, token_part, method = self.path.split("?")[0].split("/", 2)
        token = token_part.removeprefix("bot")
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            fields = _multipart(ctype, body)
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        server = self.server
        with server.lock:
            server.calls.append(Call(method, token, fields, ctype))
            queue = server.script.get(method)
            step = queue.pop(0) if queue else None
        if token != server.token:
            self._json(401, UNAUTHORIZED)
            return
        if step == HANG:
            if method in ("sendMessage", "sendPhoto"):
                self._message(method, fields)  # delivered; only the answer is lost
            server.stop.wait(10)
            self.close_connection = True
            return
        if isinstance(step, dict):
            self._json(step.get("error_code", 200), step)
            return
        if method == "getMe":
            self._json(200, {"ok": True, "result": ME})
        elif method in ("sendMessage", "sendPhoto"):
            html = fields.get("text" if method == "sendMessage" else "caption", "")
            if fields.get("parse_mode") == "HTML" and (problem := html_problem(html)):
                self._json(400, error(400, f"Bad Request: can't parse entities: {problem}"))
                return
            self._json(200, {"ok": True, "result": self._message(method, fields)})
        else:
            self._json(404, error(404, "Not Found"))

    def _message(self, method: str, fields: dict[str, Any]) -> dict[str, Any]:
        server = self.server
        with server.lock:
            message: dict[str, Any] = {
                "message_id": len(server.messages) + 1,
                "date": int(time.time()),
                "chat": CHAT,
                "sender_chat": CHAT,
            }
            if method == "sendPhoto":
                message["photo"] = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 1, "height": 1}]
                message["caption"] = fields.get("caption", "")
            else:
                message["text"] = fields.get("text", "")
            server.messages.append({**message, "method": method, "fields": fields})
        return message

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Check(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problem = self.problem or f'unexpected end tag "{tag}"'

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.problem = self.problem or f'unsupported entity "&{name};"'

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problem = self.problem or "unescaped < or >"


def html_problem(html: str) -> str | None:
    """What the Bot API would refuse in this HTML, or None."""
    checker = _Check()
    checker.feed(html)
    checker.close()
    if checker.open and not checker.problem:
        return f'can\'t find end tag corresponding to start tag "{checker.open[-1]}"'
    return checker.problem


def running(server: FakeTelegram) -> AbstractContextManager[FakeTelegram]:
    return loopback.running(server, server.stop)
