"""Read an import SOURCE (a file, an http(s) URL or '-') into text: the I/O edge, with size limits."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from distrib.errors import NetworkError, SourceError
from distrib.http_body import TooLarge, read_capped

MAX_BYTES = 5_000_000
TIMEOUT_SECONDS = 20.0
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")


@dataclass(frozen=True, slots=True)
class Fetched:
    text: str
    name: str  # how to name the source to a person
    html: bool | None  # None: decide from the content
    url: str | None = None


def read_source(
    source: str,
    *,
    stdin: BinaryIO | None = None,
    timeout: float = TIMEOUT_SECONDS,
    max_bytes: int = MAX_BYTES,
) -> Fetched:
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(max_bytes + 1)
        return Fetched(_decode(_limit(data, "standard input", max_bytes), "standard input", None), "-", None)
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return fetch_url(source, timeout=timeout, max_bytes=max_bytes)
    if re.match(r"^[a-z][a-z0-9+.-]*://", source, re.IGNORECASE):
        raise SourceError(f"{source}: unsupported URL scheme '{scheme}' (only http and https)")
    path = Path(source)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    html = True if path.suffix.lower() in (".html", ".htm", ".xhtml") else None
    return Fetched(_decode(_limit(data, source, max_bytes), source, None), source, html)


def fetch_url(url: str, *, timeout: float = TIMEOUT_SECONDS, max_bytes: int = MAX_BYTES) -> Fetched:
    """GET with a timeout, a streamed size cap (a lying Content-Length cannot beat it), a type check."""
    import requests

    headers = {
        "User-Agent": "distrib-import/1",
        "Accept": "text/html, application/xhtml+xml, text/plain;q=0.8",
    }
    try:
        with requests.get(
            url, headers=headers, timeout=timeout, stream=True, allow_redirects=True
        ) as response:
            final = response.url
            if urlsplit(final).scheme not in ("http", "https"):
                raise SourceError(f"{url}: redirected to an unsupported URL ({final})")
            if response.status_code >= 500:
                raise NetworkError(f"{url}: the server answered {response.status_code} {response.reason}")
            if response.status_code >= 400:
                raise SourceError(f"{url}: the server answered {response.status_code} {response.reason}")
            ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype and ctype not in _TEXT_TYPES:
                raise SourceError(f"{url}: unsupported content type '{ctype}' (expected HTML or plain text)")
            try:
                body = read_capped(response, max_bytes)
            except TooLarge as exc:
                raise SourceError(f"{url}: {exc.detail}") from None
            charset = (
                response.encoding if "charset" in response.headers.get("Content-Type", "").lower() else None
            )
    except requests.exceptions.InvalidURL as exc:
        raise SourceError(f"{url}: not a valid URL ({exc})") from exc
    except requests.RequestException as exc:
        raise NetworkError(f"{url}: cannot fetch ({type(exc).__name__}: {exc})") from exc
    html = None if not ctype else ctype != "text/plain" and ctype != "text/markdown"
    return Fetched(_decode(body, url, charset), url, html, final)


def _limit(data: bytes, name: str, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise SourceError(f"{name}: is larger than the limit of {max_bytes:,} bytes")
    return data


def _decode(data: bytes, name: str, charset: str | None) -> str:
    """UTF-8 (a BOM is dropped), or the charset the server or the page itself declares."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    declared = charset
    if declared is None:
        m = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", data[:4096], re.IGNORECASE)
        declared = m.group(1).decode("ascii") if m else None
    encoding = declared or "utf-8"
    try:
        return data.decode(encoding)
    except LookupError:
        raise SourceError(f"{name}: declares an unknown character set '{encoding}'") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{name}: is not {encoding} (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None
