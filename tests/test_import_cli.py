"""`distrib import` end to end: files, standard input, a loopback HTTP server, bad input, -o."""

from __future__ import annotations

import http.server
import io
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from distrib.cli import main
from distrib.release import load_release

RELEASES = Path(__file__).resolve().parent / "releases"
EXOMARS = RELEASES / "esa-n5-2020-exomars-call-for-media.txt"

PAGE = b"""<!DOCTYPE html><html><head><title>Call for media | Agency</title>
<script>var tracking = "12:00 CET";</script></head><body>
<div class="cookie-consent">We use cookies <button>OK</button></div>
<nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Call for Media: Sentinel-6 launch</h1>
<time datetime="2020-10-20">20 October 2020</time>
<p>Sentinel-6 is set to launch on 10 November 2020 at 09:17 PST from Vandenberg Air Force Base,
California.</p>
<p>The launch will be streamed at <a href="https://www.esa.int/live">ESA Web TV</a>.</p>
<p>Media must register by 3 November 2020.</p>
<p>Follow @ESA_EO #Sentinel6</p>
</article><footer>Terms</footer></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/release.html": (200, "text/html; charset=utf-8", PAGE),
            "/release.txt": (200, "text/plain; charset=utf-8", EXOMARS.read_bytes()),
            "/image.png": (200, "image/png", b"\x89PNG"),
            "/big.html": (200, "text/html", b"<p>" + b"x" * 6_000_000 + b"</p>"),
            "/error": (503, "text/plain", b"down"),
        }
        status, ctype, body = routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_import_file_to_stdout_with_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["import", str(EXOMARS)], capsys)
    assert code == 0
    assert out.startswith("---\n")
    assert "start: 2020-03-12 14:00" in out
    assert "warning: stream URL not found" in err
    assert all(line.startswith("warning: ") for line in err.splitlines())


def test_import_to_file_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "draft.md"
    code, out, err = run(["import", str(EXOMARS), "-o", str(target)], capsys)
    assert code == 0
    assert out == ""
    assert "wrote" in err
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind
    release = load_release(target)
    assert release.events[0].timezone == "Europe/Moscow"
    assert run(["check", str(target)], capsys)[0] == 0


def test_existing_output_is_refused_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "draft.md"
    target.write_text("mine", encoding="utf-8")
    code, _, err = run(["import", str(EXOMARS), "-o", str(target)], capsys)
    assert code == 2
    assert "already exists" in err
    assert target.read_text(encoding="utf-8") == "mine"
    assert run(["import", str(EXOMARS), "-o", str(target), "--force"], capsys)[0] == 0
    assert target.read_text(encoding="utf-8").startswith("---\n")


def test_import_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EXOMARS.read_bytes())))
    code, out, _ = run(["import", "-"], capsys)
    assert code == 0
    assert "from -." in out
    assert '"+74956319707"' in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.txt", "cannot read"),
        (lambda p: (p / "latin1.txt", (p / "latin1.txt").write_bytes(b"caf\xe9 at 14:00"))[0], "not utf-8"),
        (
            lambda p: (p / "big.txt", (p / "big.txt").write_bytes(b"a" * 5_000_001))[0],
            "larger than the limit",
        ),
    ],
)
def test_bad_input_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    code, out, err = run(["import", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert str(path) in err
    assert message in err.lower()


def test_unsupported_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["import", "ftp://example.org/release.txt"], capsys)
    assert code == 2
    assert "only http and https" in err


def test_import_html_from_loopback_server(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["import", f"{server}/release.html"], capsys)
    assert code == 0, err
    assert 'title: "Call for Media: Sentinel-6 launch"' in out
    assert f'url: "{server}/release.html"' in out
    assert "published: 2020-10-20" in out
    assert "start: 2020-11-10 09:17" in out
    assert 'timezone: "America/Los_Angeles"' in out
    assert 'stream_url: "https://www.esa.int/live"' in out
    assert 'handles: ["@ESA_EO"]' in out
    assert 'hashtags: ["#Sentinel6"]' in out
    body = out.split("\n---\n", 1)[1]
    for chrome in ("cookies", "Home", "Terms", "tracking"):
        assert chrome not in body


def test_import_text_from_loopback_server(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["import", f"{server}/release.txt"], capsys)
    assert code == 0
    assert 'location: "4 Khoromny lane, Moscow"' in out


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/image.png", 2, "unsupported content type"),
        ("/big.html", 2, "limit"),
        ("/missing", 2, "404"),
        ("/error", 1, "503"),
    ],
)
def test_url_failures(
    server: str, capsys: pytest.CaptureFixture[str], path: str, code: int, message: str
) -> None:
    got, out, err = run(["import", f"{server}{path}"], capsys)
    assert got == code
    assert out == ""
    assert message in err
    assert f"{server}{path}" in err


def test_network_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    # A port nobody listens on: bind, learn the number, close.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run(["import", f"http://127.0.0.1:{port}/x"], capsys)
    assert code == 1
    assert "cannot fetch" in err
