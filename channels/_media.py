"""Fetch a release image to upload it: http(s) only, public addresses only, a size cap, a timeout."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from distrib.http_body import TooLarge, read_capped

if TYPE_CHECKING:
    import requests

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # X's limit for an image (GIFs and video are not release images)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
MAX_REDIRECTS = 3


class MediaUnavailable(Exception):
    """The image cannot be used (bad URL, refused address, wrong type, too large, 4xx): a post can go
    without it. `transient` marks failures worth retrying (5xx, network)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Image:
    data: bytes
    content_type: str
    filename: str


def check_address(url: str, *, allow_private: bool = False) -> None:
    """Refuse what is not http(s) to a public address (SSRF: metadata services, localhost, LAN)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaUnavailable(f"not an http(s) URL: {url[:200]}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise MediaUnavailable(f"cannot resolve {parts.hostname}: {exc}", transient=True) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise MediaUnavailable(f"{parts.hostname} resolves to a non-public address ({address})")


def fetch_image(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int = MAX_IMAGE_BYTES,
    allow_private: bool = False,
) -> Image:
    """GET the image, following at most a few redirects, each target checked again."""
    import requests

    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_address(current, allow_private=allow_private)
        try:
            with session.get(
                current, timeout=timeout, stream=True, allow_redirects=False,
                headers={"Accept": ", ".join(sorted(IMAGE_TYPES))},
            ) as response:  # fmt: skip
                if response.is_redirect and "Location" in response.headers:
                    current = urljoin(current, response.headers["Location"])
                    continue
                return _read(response, current, max_bytes)
        except requests.RequestException as exc:
            raise MediaUnavailable(f"cannot fetch the image: {type(exc).__name__}", transient=True) from None
    raise MediaUnavailable(f"more than {MAX_REDIRECTS} redirects")


def _read(response: requests.Response, url: str, max_bytes: int) -> Image:
    if response.status_code >= 500:
        raise MediaUnavailable(f"the image server answered {response.status_code}", transient=True)
    if response.status_code != 200:
        raise MediaUnavailable(f"the image server answered {response.status_code}")
    ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype not in IMAGE_TYPES:
        raise MediaUnavailable(f"not an image: content type '{ctype or 'none'}'")
    try:
        data = read_capped(response, max_bytes)
    except TooLarge as exc:
        raise MediaUnavailable(f"the image {exc.detail}") from None
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "image"
    return Image(data, ctype, name)
