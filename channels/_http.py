"""HTTP for the API channels: a timeout on every call, network errors as the two types, no URL in messages."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from channels.errors import TransientError
from distrib import __version__
from distrib.errors import ConfigError

if TYPE_CHECKING:
    import requests

log = logging.getLogger("channels.http")

USER_AGENT = f"distrib/{__version__} (press-release distribution)"
DEFAULT_TIMEOUT = 15.0
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]{1,200}$")


def new_session() -> requests.Session:
    import requests  # lazy: ~250 ms, and `distrib --help` imports every channel module

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.max_redirects = 5
    return session


def base_url(setting: str, value: str) -> str:
    """An http(s) origin from a setting, without a trailing slash; ConfigError names the setting only."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{setting} must be an http(s) URL such as https://example.org")
    return value.strip().rstrip("/")


def header_value(key: str) -> str:
    """An outbox key as a header value: as is when it is printable ASCII, else a stable digest."""
    if _HEADER_SAFE.match(key):
        return key
    return "sha256-" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT,
    allow_redirects: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """Send one request; network failures become TransientError.

    `what` names the call for messages ("mastodon POST /api/v1/statuses"); the URL never appears,
    because webhook URLs carry tokens and requests' own messages quote the URL in full. The cause is
    not chained (`from None`) for the same reason: a logged traceback would print it.
    maybe_sent is set when the request may have reached the server (a read timeout, a reset after
    connecting); a refused or timed-out connection, DNS or TLS failure sent nothing.
    """
    import requests

    try:
        return session.request(method, url, timeout=timeout, allow_redirects=allow_redirects, **kwargs)
    except requests.exceptions.ConnectTimeout:
        reason, maybe = "connection timed out", False
    except requests.exceptions.SSLError:
        reason, maybe = "TLS handshake failed", False
    except requests.exceptions.ReadTimeout:
        reason, maybe = f"no answer within {timeout:g} s", True
    except requests.exceptions.ConnectionError as exc:
        if _never_connected(exc):
            reason, maybe = "cannot connect", False
        else:
            reason, maybe = "connection lost", True
    except requests.exceptions.RequestException as exc:
        reason, maybe = type(exc).__name__, True
    raise TransientError(f"{what}: {reason}", maybe_sent=maybe) from None


def _never_connected(exc: BaseException) -> bool:
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | NameResolutionError | ConnectTimeoutError):
            return True
        if isinstance(current, BaseException):
            pending.extend(
                [*current.args, current.__cause__, current.__context__, getattr(current, "reason", None)]
            )
    return False


def json_body(response: requests.Response) -> Any:
    """The JSON of a response, or None when it has none (an HTML error page, an empty body)."""
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: requests.Response, *fields: str) -> str:
    """The API's own error message (Mastodon `error`, XRPC `error`/`message`), short, or the status line."""
    data = json_body(response)
    texts: list[str] = []
    if isinstance(data, Mapping):
        texts = [str(data[f]) for f in fields if isinstance(data.get(f), str | int) and str(data[f])]
    text = ": ".join(dict.fromkeys(texts)) or (response.reason or "")
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """Retry-After as seconds or an HTTP date (RFC 9110)."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


def until(moment: datetime | None, now: datetime) -> timedelta | None:
    return None if moment is None else max(moment - now, timedelta(0))


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp (Mastodon's X-RateLimit-Reset, `2020-02-24T09:05:00.123Z`), aware UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def fetch_image(
    session: requests.Session, url: str, *, max_bytes: int, timeout: float = DEFAULT_TIMEOUT
) -> tuple[bytes, str] | None:
    """The release's image (bytes, content type), or None with a warning: media is never worth failing a post.

    The URL comes from the release file the comms team wrote; only http(s), at most `max_bytes`,
    and the server must say it is an image.
    """
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        log.warning("image skipped: not an http(s) URL")
        return None
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or not ctype.startswith("image/"):
                log.warning("image skipped", extra={"status": response.status_code, "content_type": ctype})
                return None
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    log.warning("image skipped: larger than %d bytes", max_bytes)
                    return None
                chunks.append(chunk)
            return b"".join(chunks), ctype
    except requests.exceptions.RequestException as exc:
        log.warning("image skipped: %s", type(exc).__name__)
        return None
