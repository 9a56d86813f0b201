"""The feed server over a real loopback socket: types, validators, 304, HEAD, gzip, routing, reloads."""

from __future__ import annotations

import gzip
import http.client
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest

from distrib.config import Settings
from distrib.feeds import write_atomic, write_feeds
from distrib.models import Release
from distrib.store import Store
from distrib.web import Server, accepts_gzip, make_app, serve
from tests.conftest import NOW, sqlite_url

AFTER = datetime(2020, 2, 25, 9, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that move only when a test says so (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    host: str
    port: int
    settings: Settings
    clock: FakeClock

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()


def start(settings: Settings, clock: FakeClock) -> tuple[Server, threading.Thread]:
    server = Server(make_app(settings, clock=clock), "127.0.0.1", 0)
    return server, server.start()


@pytest.fixture
def running(exomars: Release, tmp_path: Path) -> Iterator[Running]:
    settings = Settings.from_env({"DISTRIB_PUBLIC_DIR": str(tmp_path / "public")})
    store = Store(sqlite_url(tmp_path))
    try:
        store.queue(exomars, "f.md", "t", NOW)
        write_feeds(store, settings, AFTER)
    finally:
        store.close()
    clock = FakeClock()
    server, thread = start(settings, clock)
    try:
        yield Running("127.0.0.1", server.port, settings, clock)
    finally:
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/events.ics", "text/calendar; charset=utf-8"),
        ("/releases/esa-2020-05-exomars-call-for-media.ics", "text/calendar; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_files_are_served_with_type_and_validators(running: Running, path: str, content_type: str) -> None:
    response, body = running.request("GET", path)
    assert response.status == 200
    assert response.getheader("Content-Type") == content_type
    on_disk = running.settings.public_dir / ("index.html" if path == "/" else path.lstrip("/"))
    assert body == on_disk.read_bytes()
    assert int(response.getheader("Content-Length", "-1")) == len(body)
    etag = response.getheader("ETag", "")
    assert etag.startswith('"')
    assert etag.endswith('"')
    modified = parsedate_to_datetime(response.getheader("Last-Modified", ""))
    assert int(modified.timestamp()) == int(on_disk.stat().st_mtime)
    assert response.getheader("Last-Modified", "").endswith(" GMT")
    assert response.getheader("Cache-Control") == "public, max-age=300"
    assert response.getheader("Vary") == "Accept-Encoding"


def test_feed_over_http_parses(running: Running) -> None:
    _, body = running.request("GET", "/feed.atom")
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    assert parsed.entries[0].id.endswith(":release/esa-2020-05-exomars-call-for-media")


def test_if_none_match_gives_304(running: Running) -> None:
    first, _ = running.request("GET", "/feed.atom")
    etag = first.getheader("ETag", "")
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response, body = running.request("GET", "/feed.atom", {"If-None-Match": header})
        assert response.status == 304, header
        assert body == b""
        assert response.getheader("ETag") == etag
        assert response.getheader("Cache-Control") == "public, max-age=300"
    response, body = running.request("GET", "/feed.atom", {"If-None-Match": '"stale"'})
    assert response.status == 200
    assert body


def test_if_modified_since(running: Running) -> None:
    first, _ = running.request("GET", "/feed.rss")
    modified = parsedate_to_datetime(first.getheader("Last-Modified", ""))
    same, body = running.request(
        "GET", "/feed.rss", {"If-Modified-Since": first.getheader("Last-Modified", "")}
    )
    assert (same.status, body) == (304, b"")
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    assert running.request("GET", "/feed.rss", {"If-Modified-Since": later})[0].status == 304
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    assert running.request("GET", "/feed.rss", {"If-Modified-Since": earlier})[0].status == 200
    assert running.request("GET", "/feed.rss", {"If-Modified-Since": "yesterday"})[0].status == 200


def test_if_none_match_wins_over_if_modified_since(running: Running) -> None:
    first, _ = running.request("GET", "/events.ics")
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": first.getheader("Last-Modified", "")}
    assert running.request("GET", "/events.ics", headers)[0].status == 200


def test_head_has_the_headers_and_no_body(running: Running) -> None:
    get, _body = running.request("GET", "/feed.atom")
    head, nothing = running.request("HEAD", "/feed.atom")
    assert head.status == 200
    assert nothing == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
        assert head.getheader(name) == get.getheader(name), name
    conditional, _ = running.request("HEAD", "/feed.atom", {"If-None-Match": get.getheader("ETag", "")})
    assert conditional.status == 304


def test_gzip_when_asked(running: Running) -> None:
    plain, body = running.request("GET", "/feed.atom")
    packed, zipped = running.request("GET", "/feed.atom", {"Accept-Encoding": "gzip, deflate"})
    assert packed.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped) == body
    assert len(zipped) < len(body)
    assert int(packed.getheader("Content-Length", "0")) == len(zipped)
    assert packed.getheader("ETag") != plain.getheader("ETag")  # another representation, another ETag
    assert packed.getheader("Vary") == "Accept-Encoding"
    again, empty = running.request(
        "GET", "/feed.atom", {"Accept-Encoding": "gzip", "If-None-Match": packed.getheader("ETag", "")}
    )
    assert (again.status, empty) == (304, b"")
    refused, raw = running.request("GET", "/feed.atom", {"Accept-Encoding": "gzip;q=0, identity"})
    assert refused.getheader("Content-Encoding") is None
    assert raw == body


@pytest.mark.parametrize(
    ("header", "expected"),
    [("gzip", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False), ("*", True), ("", False),
     ("identity", False), ("*;q=0", False), ("br, *;q=0.1", True), ("gzip;q=0, *", False)],
)  # fmt: skip
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    "path",
    ["/nope", "/feed.xml", "/../etc/passwd", "/releases/../feed.atom", "/releases/x/../../feed.atom",
     "/releases/unknown.ics", "/de/feed.atom", "/.feed.atom.tmp", "/index.htm"],
)  # fmt: skip
def test_unknown_paths_are_404(running: Running, path: str) -> None:
    response, _ = running.request("GET", path)
    assert response.status == 404


def test_other_methods_are_405(running: Running) -> None:
    for method in ("POST", "PUT", "DELETE"):
        response, _ = running.request(method, "/feed.atom")
        assert response.status == 405
        assert response.getheader("Allow") == "GET, HEAD"


def test_healthz(running: Running) -> None:
    response, body = running.request("GET", "/healthz")
    assert (response.status, body) == (200, b"ok\n")
    assert response.getheader("Cache-Control") == "no-store"


def test_index_links_the_feeds(running: Running) -> None:
    _, body = running.request("GET", "/")
    page = body.decode()
    assert '<link rel="alternate" type="application/atom+xml" title="Atom feed" ' in page
    assert '<link rel="alternate" type="application/rss+xml" title="RSS feed" ' in page
    assert 'type="text/calendar"' in page
    assert 'href="http://127.0.0.1:8080/events.ics"' in page


def test_a_rewritten_file_is_served_after_the_next_check(running: Running) -> None:
    first, body = running.request("GET", "/feed.atom")
    path = running.settings.public_dir / "feed.atom"
    assert write_atomic(path, body.replace(b"Press releases", b"Press releases, updated"))
    same, _ = running.request("GET", "/feed.atom")
    assert same.getheader("ETag") == first.getheader("ETag")  # checked at most once a second
    running.clock.now += 1.0
    changed, new_body = running.request("GET", "/feed.atom", {"If-None-Match": first.getheader("ETag", "")})
    assert changed.status == 200
    assert b"Press releases, updated" in new_body
    assert changed.getheader("ETag") != first.getheader("ETag")


def test_per_language_paths(exomars: Release, tmp_path: Path) -> None:
    settings = Settings.from_env({"DISTRIB_PUBLIC_DIR": str(tmp_path / "public")})
    store = Store(sqlite_url(tmp_path))
    try:
        store.queue(exomars, "f.md", "t", NOW)
        french = Release.from_dict({**exomars.to_dict(), "id": "fr-release", "language": "fr"})
        store.queue(french, "fr.md", "t", NOW)
        write_feeds(store, settings, AFTER)
    finally:
        store.close()
    server, thread = start(settings, FakeClock())
    try:
        run = Running("127.0.0.1", server.port, settings, FakeClock())
        response, body = run.request("GET", "/fr/feed.atom")
        assert response.status == 200
        assert [e.id.rsplit("/", 1)[1] for e in feedparser.parse(body).entries] == ["fr-release"]
        assert (
            run.request("GET", "/en/events.ics")[0].getheader("Content-Type")
            == "text/calendar; charset=utf-8"
        )
    finally:
        server.stop()
        thread.join(timeout=10)


def test_websub_link_headers(exomars: Release, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DISTRIB_PUBLIC_DIR": str(tmp_path / "public"),
            "DISTRIB_PUBLIC_URL": "https://press.example.org",
            "DISTRIB_WEBSUB_HUB": "https://hub.example.org/",
        }
    )
    write_atomic(settings.public_dir / "feed.atom", b"<feed/>")
    write_atomic(settings.public_dir / "events.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    server, thread = start(settings, FakeClock())
    try:
        run = Running("127.0.0.1", server.port, settings, FakeClock())
        response, _ = run.request("GET", "/feed.atom")
        assert response.getheader("Link") == (
            '<https://hub.example.org/>; rel="hub", <https://press.example.org/feed.atom>; rel="self"'
        )
        assert run.request("GET", "/events.ics")[0].getheader("Link") is None
    finally:
        server.stop()
        thread.join(timeout=10)


def test_serve_stops_when_asked(tmp_path: Path) -> None:
    settings = Settings.from_env({"DISTRIB_PUBLIC_DIR": str(tmp_path / "public")})
    stop, bound = threading.Event(), threading.Event()
    ready: list[Server] = []

    def on_ready(server: Server) -> None:
        ready.append(server)
        bound.set()

    thread = threading.Thread(
        target=serve, args=(make_app(settings), "127.0.0.1", 0, stop), kwargs={"on_ready": on_ready}
    )
    thread.start()
    try:
        assert bound.wait(timeout=10)
        run = Running("127.0.0.1", ready[0].port, settings, FakeClock())
        assert run.request("GET", "/healthz")[0].status == 200
        assert run.request("GET", "/feed.atom")[0].status == 404  # not written yet
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_cli_serve_writes_serves_and_stops_on_sigterm(exomars_path: Path, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DISTRIB_")},
        "DISTRIB_DATA_DIR": str(tmp_path / "data"),
        "DISTRIB_PUBLIC_DIR": str(tmp_path / "public"),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    subprocess.run([sys.executable, "-m", "distrib", "queue", str(exomars_path)], env=env, check=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "distrib", "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            lines: list[str] = []
            while not any(line.startswith("serving ") for line in lines):
                assert selector.select(timeout=30), "distrib serve printed nothing"
                lines.append(proc.stdout.readline())
        port = int(lines[-1].split(":")[2].split("/")[0])
        run = Running("127.0.0.1", port, Settings.from_env({}), FakeClock())
        response, body = run.request("GET", "/feed.atom")
        assert response.status == 200
        assert feedparser.parse(body).entries[0].title.startswith("Call for Media")
        assert (tmp_path / "public" / "feed.atom").read_bytes() == body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, errors = proc.communicate(timeout=30)  # also closes the pipes
    assert proc.returncode == 0, errors
