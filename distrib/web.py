"""HTTP for journalists: the feed files with ETag, Last-Modified, 304, HEAD and gzip, served by waitress."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from distrib.config import Settings

log = logging.getLogger("distrib.web")

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".ics": "text/calendar; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# Short: a cache or reader that did not revalidate still sees a new release or a cancellation within minutes.
CACHE_CONTROL = "public, max-age=300"
# Below this, gzip's header costs more than it saves.
GZIP_MIN_BYTES = 256

_FEED = re.compile(
    r"^/(?:(?P<lang>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)/)?(?P<name>feed\.atom|feed\.rss|events\.ics)$"
)
_RELEASE_ICS = re.compile(r"^/releases/(?P<id>[A-Za-z0-9][A-Za-z0-9._-]{0,127})\.ics$")


@dataclass(frozen=True, slots=True)
class Representation:
    """One file as served: its bytes, gzipped bytes, validators and type, computed once per change."""

    data: bytes
    gzipped: bytes | None
    etag: str
    gzip_etag: str
    mtime: int  # whole seconds: HTTP dates have no finer resolution
    last_modified: str
    content_type: str

    @classmethod
    def of(cls, data: bytes, mtime: float, content_type: str) -> Representation:
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        # mtime=0: the same bytes give the same gzip, so its ETag can derive from the identity one.
        packed = gzip.compress(data, compresslevel=6, mtime=0) if len(data) >= GZIP_MIN_BYTES else None
        if packed is not None and len(packed) >= len(data):
            packed = None
        return cls(
            data=data,
            gzipped=packed,
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',  # a different representation needs a different strong ETag
            mtime=int(mtime),
            last_modified=formatdate(int(mtime), usegmt=True),
            content_type=content_type,
        )


class PublicFiles:
    """The public directory, held in memory; a file is re-read only when it changed on disk.

    Each path is looked at (one stat) at most once per `interval` seconds of `clock`, so a burst of
    requests costs no disk access; `write_feeds` replaces files by rename, which always changes the inode.
    """

    def __init__(
        self, root: Path, *, clock: Callable[[], float] = time.monotonic, interval: float = 1.0
    ) -> None:
        self.root = root
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, tuple[int, int, int] | None, Representation | None]] = {}

    def get(self, rel: str) -> Representation | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(rel)
        if cached is not None and now - cached[0] < self._interval:
            return cached[2]
        path = self.root / rel
        try:
            st = os.stat(path)
            key: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        if cached is not None and cached[1] == key:
            rep = cached[2]
        elif key is None:
            rep = None
        else:
            try:
                data = path.read_bytes()
            except OSError:
                rep = None
            else:
                rep = Representation.of(data, st.st_mtime, CONTENT_TYPES[path.suffix])
        with self._lock:
            if rep is not None:
                self._cache[rel] = (now, key, rep)
            else:
                # Misses are not remembered: requests for made-up paths must not grow the cache.
                self._cache.pop(rel, None)
        return rep


class FeedApp:
    """The WSGI application: feeds, calendars, the index page and /healthz; nothing else."""

    def __init__(self, files: PublicFiles, *, public_url: str, hub: str | None = None) -> None:
        self.files = files
        self.public_url = public_url.rstrip("/")
        self.hub = hub

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if method not in ("GET", "HEAD"):
            return self._plain(
                start_response,
                method,
                "405 Method Not Allowed",
                "Method not allowed\n",
                {"Allow": "GET, HEAD"},
            )
        if path == "/healthz":
            return self._plain(start_response, method, "200 OK", "ok\n", {"Cache-Control": "no-store"})
        rel = self._route(path)
        rep = self.files.get(rel) if rel else None
        if rep is None:
            return self._plain(start_response, method, "404 Not Found", "Not found\n", {})
        return self._send(environ, start_response, method, rel or "", rep)

    @staticmethod
    def _route(path: str) -> str | None:
        """The file under the public dir for a URL path; None for anything not on the allow-list."""
        if path in ("/", "/index.html"):
            return "index.html"
        if match := _FEED.match(path):
            lang = match.group("lang")
            return f"{lang}/{match.group('name')}" if lang else match.group("name")
        if match := _RELEASE_ICS.match(path):
            return f"releases/{match.group('id')}.ics"
        return None

    def _send(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        method: str,
        rel: str,
        rep: Representation,
    ) -> Iterable[bytes]:
        use_gzip = rep.gzipped is not None and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        etag = rep.gzip_etag if use_gzip else rep.etag
        headers = [
            ("ETag", etag),
            ("Last-Modified", rep.last_modified),
            ("Cache-Control", CACHE_CONTROL),
        ]
        if rep.gzipped is not None:
            headers.append(("Vary", "Accept-Encoding"))
        if self.hub and rel.endswith((".atom", ".rss")):
            # WebSub discovery (reference §5.5): subscribers look at the headers first.
            headers.append(("Link", f'<{self.hub}>; rel="hub", <{self.public_url}/{rel}>; rel="self"'))
        if not_modified(environ, etag, rep.mtime):
            start_response("304 Not Modified", headers)
            return []
        body = rep.gzipped if use_gzip and rep.gzipped is not None else rep.data
        headers[:0] = [("Content-Type", rep.content_type), ("Content-Length", str(len(body)))]
        if use_gzip:
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("X-Content-Type-Options", "nosniff"))
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [body]

    @staticmethod
    def _plain(
        start_response: StartResponse, method: str, status: str, text: str, extra: dict[str, str]
    ) -> Iterable[bytes]:
        body = text.encode("utf-8")
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        headers += list(extra.items())
        start_response(status, headers)
        return [] if method == "HEAD" else [body]


def accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip (explicitly, or through '*'), honouring q=0."""
    star: bool | None = None
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q > 0
    return bool(star)


def not_modified(environ: WSGIEnvironment, etag: str, mtime: int) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) decides; If-Modified-Since only without it."""
    inm = environ.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        if inm.strip() == "*":
            return True
        wanted = _opaque(etag)
        return any(_opaque(tag) == wanted for tag in inm.split(","))
    ims = environ.get("HTTP_IF_MODIFIED_SINCE")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False  # an unparsable date is ignored (RFC 9110 §13.1.3)
        if since.tzinfo is None:
            return False
        return mtime <= since.timestamp()
    return False


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def make_app(
    settings: Settings, *, clock: Callable[[], float] = time.monotonic, reload_interval: float = 1.0
) -> FeedApp:
    """The app for DISTRIB_PUBLIC_DIR, with the WebSub hub and public URL from the settings."""
    from distrib.feeds import FeedConfig

    config = FeedConfig.from_settings(settings)
    files = PublicFiles(settings.public_dir, clock=clock, interval=reload_interval)
    return FeedApp(files, public_url=config.base_url, hub=config.hub)


class Server:
    """A waitress server that can be started, asked for its port, and stopped from another thread."""

    def __init__(
        self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 8080, *, threads: int = 4
    ) -> None:
        from waitress.server import create_server

        self._map: dict[int, Any] = {}
        self._stopping = threading.Event()
        self._server: Any = create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident="distrib",
            clear_untrusted_proxy_headers=True,
        )  # fmt: skip

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens (a host name may resolve to several addresses)."""
        listen = getattr(self._server, "effective_listen", None)
        if listen is not None:
            return [(str(h), int(p)) for h, p in listen]
        return [(str(self._server.effective_host), int(self._server.effective_port))]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    def run(self, stop_event: threading.Event | None = None) -> None:
        """Serve until `stop()` or until `stop_event` is set (checked at least twice a second)."""
        from waitress import wasyncore

        try:
            while not self._stopping.is_set() and not (stop_event is not None and stop_event.is_set()):
                wasyncore.loop(timeout=0.5, map=self._map, use_poll=True, count=1)
        finally:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._map)

    def stop(self) -> None:
        self._stopping.set()
        from waitress.trigger import trigger

        # Wake the loop now rather than at its next timeout.
        for channel in list(self._map.values()):
            if isinstance(channel, trigger):
                channel.pull_trigger()
                break

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (tests, and `distrib run` next to the worker)."""
        thread = threading.Thread(target=self.run, name="distrib-http", daemon=True)
        thread.start()
        return thread


def serve(
    app: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 8080,
    stop_event: threading.Event | None = None,
    *,
    threads: int = 4,
    on_ready: Callable[[Server], None] | None = None,
) -> None:
    """Serve `app` on host:port until `stop_event` is set (forever without one)."""
    server = Server(app, host, port, threads=threads)
    if on_ready is not None:
        on_ready(server)
    server.run(stop_event)
