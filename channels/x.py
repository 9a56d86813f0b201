"""X: 280 by twitter-text's weighted count (URLs 23, emoji 2, CJK 2); threads for long posts; tweepy."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Self

from channels.base import Channel
from channels.errors import ChannelError, DuplicateError, PermanentError, TransientError
from channels.twitter_text import MAX_WEIGHTED_LENGTH, weighted_length
from distrib.logs import hold_noisy_loggers
from distrib.models import Post, Receipt

if TYPE_CHECKING:
    import requests

    from distrib.config import Settings

log = logging.getLogger(__name__)

OAUTH1_SETTINGS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
OAUTH2_SETTING = "X_OAUTH2_USER_TOKEN"
# tweepy hard-codes https://api.twitter.com; X's own docs use https://api.x.com (v2 media upload).
API_HOSTS = ("https://api.twitter.com", "https://api.x.com")
MEDIA_UPLOAD_URL = "https://api.x.com/2/media/upload"
DEFAULT_TIMEOUT = 20.0  # seconds, connect and read: tweepy's Client has none, a stalled socket hangs forever
STATUS_URL = "https://x.com/i/web/status/{}"


@dataclass(frozen=True)
class XCredentials:
    """OAuth 1.0a user context (four values) or an OAuth 2.0 user access token; never in a repr."""

    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    access_token_secret: str | None = field(default=None, repr=False)
    oauth2_user_token: str | None = field(default=None, repr=False)

    @property
    def oauth1(self) -> bool:
        return all((self.api_key, self.api_secret, self.access_token, self.access_token_secret))

    @property
    def mode(self) -> str:
        # OAuth 1.0a wins when both are set: its tokens do not expire, OAuth 2.0 user tokens last 2 h.
        return "OAuth 1.0a user context" if self.oauth1 else "OAuth 2.0 user token"

    @classmethod
    def from_settings(cls, settings: Settings) -> XCredentials:
        return cls(
            api_key=settings.get("X_API_KEY"),
            api_secret=settings.get("X_API_SECRET"),
            access_token=settings.get("X_ACCESS_TOKEN"),
            access_token_secret=settings.get("X_ACCESS_TOKEN_SECRET"),
            oauth2_user_token=settings.get(OAUTH2_SETTING),
        )


class XChannel(Channel):
    name: ClassVar[str] = "x"
    default_limit: ClassVar[int] = MAX_WEIGHTED_LENGTH
    supports_threads: ClassVar[bool] = True  # replies to the first post (in_reply_to_tweet_id)
    idempotent: ClassVar[bool] = False  # POST /2/tweets takes no idempotency key
    required_settings: ClassVar[tuple[str, ...]] = OAUTH1_SETTINGS  # or X_OAUTH2_USER_TOKEN alone

    def __init__(
        self,
        limit: int | None = None,
        *,
        credentials: XCredentials | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_private_media: bool = False,
    ) -> None:
        super().__init__(limit)
        self.credentials = credentials or XCredentials()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.allow_private_media = allow_private_media  # tests serve images from loopback
        self._client: Any = None
        self._lock = threading.Lock()  # one requests.Session; the worker sends one post at a time anyway

    def __repr__(self) -> str:
        where = f", base_url={self.base_url!r}" if self.base_url else ""
        return f"XChannel(limit={self.limit}{where})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(credentials=XCredentials.from_settings(settings), base_url=settings.get("X_API_BASE_URL"))

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(all(settings.get(n) for n in OAUTH1_SETTINGS) or settings.get(OAUTH2_SETTING))

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        if cls.is_configured(settings):
            return []
        return [*(n for n in OAUTH1_SETTINGS if not settings.get(n)), f"(or {OAUTH2_SETTING})"]

    def describe(self) -> str:
        where = f", API at {self.base_url}" if self.base_url else ""
        return f"{self.credentials.mode}{where}"

    def length(self, text: str) -> int:
        return weighted_length(text)

    # -- sending ---------------------------------------------------------------------------------

    @property
    def _user_auth(self) -> bool:
        # tweepy signs with OAuth 1.0a when user_auth=True; an OAuth 2.0 user token is a bearer
        # token and needs user_auth=False on every call (else tweepy signs with None keys).
        return self.credentials.oauth1

    def client(self) -> Any:
        """The tweepy Client, built once, its session mounted with the timeout and base-URL adapter."""
        if self._client is None:
            import tweepy  # lazy: keeps `distrib --help` fast

            hold_noisy_loggers()  # tweepy logs the Authorization header at DEBUG

            creds = self.credentials
            if not (creds.oauth1 or creds.oauth2_user_token):
                raise PermanentError(
                    f"x is not configured: set {', '.join(OAUTH1_SETTINGS)} or {OAUTH2_SETTING}"
                )
            if creds.oauth1:
                client = tweepy.Client(
                    consumer_key=creds.api_key,
                    consumer_secret=creds.api_secret,
                    access_token=creds.access_token,
                    access_token_secret=creds.access_token_secret,
                )
            else:
                client = tweepy.Client(bearer_token=creds.oauth2_user_token)
            adapter = _adapter(self.base_url, self.timeout)
            for host in API_HOSTS:
                client.session.mount(host, adapter)
            self._client = client
        return self._client

    def check(self) -> str:
        """GET /2/users/me: the credentials work and which account they post as."""
        with self._lock:
            try:
                response = self.client().get_me(user_auth=self._user_auth)
            except ChannelError:
                raise
            except Exception as exc:
                raise _map(exc, posting=False) from None
        data = response.data
        return f"authenticated as @{data.username} (id {data.id}; {self.describe()})"

    def send(self, post: Post) -> Receipt:
        """Post the parts as a thread; the receipt is the first post.

        A thread broken after its first part went out is never retried automatically (that would post
        the first part again): a transient failure becomes maybe_sent (the worker marks it uncertain),
        a permanent one fails; both say which parts are out, with the first post's link.
        """
        if not post.parts:
            raise PermanentError("nothing to post: the post has no text")
        with self._lock:
            client = self.client()
            media_ids = self._media(post) if post.image else None
            posted: list[str] = []
            for number, part in enumerate(post.parts, start=1):
                try:
                    response = client.create_tweet(
                        text=part.text,
                        media_ids=media_ids if number == 1 else None,
                        in_reply_to_tweet_id=posted[-1] if posted else None,
                        user_auth=self._user_auth,
                    )
                    tweet_id = _tweet_id(response)
                except Exception as exc:
                    error = exc if isinstance(exc, ChannelError) else _map(exc, posting=True)
                    if not posted:
                        raise error from None
                    raise _partial(error, post, posted, number) from None
                posted.append(tweet_id)
        return Receipt(posted[0], STATUS_URL.format(posted[0]))

    def _media(self, post: Post) -> list[str] | None:
        """Upload the release image (v2 POST /2/media/upload); None to post without it.

        Nothing is posted yet, so a transient failure is safe to retry. An image that cannot be used
        (gone, not an image, too big, refused by X) must not hold the announcement back: it goes out
        without the image and a warning says why.
        """
        import requests

        from channels._media import MediaUnavailable, fetch_image

        assert post.image is not None
        client = self.client()
        try:
            image = fetch_image(
                client.session, post.image, timeout=self.timeout, allow_private=self.allow_private_media
            )
        except MediaUnavailable as exc:
            if exc.transient:
                raise TransientError(f"the release image is unavailable for now: {exc}") from None
            log.warning("posting to x without the image: %s", exc, extra={"key": post.key})
            return None
        auth: Any = None
        headers = {"User-Agent": client.user_agent}
        if self.credentials.oauth1:
            from requests_oauthlib import OAuth1

            creds = self.credentials
            # Multipart bodies are not part of an OAuth 1.0a signature: only the URL and oauth_* params.
            auth = OAuth1(creds.api_key, creds.api_secret, creds.access_token, creds.access_token_secret)
        else:
            headers["Authorization"] = f"Bearer {self.credentials.oauth2_user_token}"
        try:
            response = client.session.post(
                MEDIA_UPLOAD_URL,
                data={"media_category": "tweet_image", "media_type": image.content_type},
                files={"media": (image.filename, image.data, image.content_type)},
                headers=headers,
                auth=auth,
            )
        except requests.RequestException as exc:
            # An upload that may have arrived only leaves an unattached media id behind: retry.
            raise TransientError(f"x media upload failed: {_network(exc)}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"x media upload: {response.status_code} {response.reason}",
                retry_after=_reset_after(response.headers) if response.status_code == 429 else None,
            )
        try:
            media_id = str(response.json()["data"]["id"]) if response.ok else None
        except (ValueError, KeyError, TypeError):
            media_id = None
        if media_id is None:
            log.warning(
                "posting to x without the image: the upload answered %s %s",
                response.status_code, response.reason, extra={"key": post.key},
            )  # fmt: skip
            return None
        return [media_id]


def _tweet_id(response: Any) -> str:
    data = getattr(response, "data", None)
    tweet_id = data.get("id") if isinstance(data, dict) else None
    if not tweet_id:
        # X answered 2xx, so the post exists, but we cannot say which one it is.
        raise TransientError("x accepted the post but its answer had no id", maybe_sent=True)
    return str(tweet_id)


def _partial(error: ChannelError, post: Post, posted: list[str], number: int) -> ChannelError:
    total = len(post.parts)
    out = f"parts 1-{len(posted)} of {total} are" if len(posted) > 1 else f"part 1 of {total} is"
    message = (
        f"thread incomplete: {out} out (first: {STATUS_URL.format(posted[0])}, "
        f"last id {posted[-1]}); part {number} failed: {error}"
    )
    if isinstance(error, TransientError):
        # Retrying would post part 1 again: let a person finish the thread or resolve the row.
        return TransientError(message, retry_after=error.retry_after, maybe_sent=True)
    return type(error)(message)


def _map(exc: Exception, *, posting: bool) -> ChannelError:
    """tweepy/requests errors to the two kinds the worker knows (DESIGN §6, reference §1.5)."""
    import requests
    import tweepy

    if isinstance(exc, tweepy.TooManyRequests):
        return TransientError(
            f"x rate limit: {_describe(exc)}", retry_after=_reset_after(exc.response.headers)
        )
    if isinstance(exc, tweepy.TwitterServerError):
        # A 5xx on POST /2/tweets may come after the post was created (X has no idempotency key):
        # ambiguous, so the worker marks it uncertain instead of risking a second post.
        return TransientError(f"x server error: {_describe(exc)}", maybe_sent=posting)
    if isinstance(exc, tweepy.Forbidden):
        if any("duplicate content" in str(m).lower() for m in exc.api_messages):
            return DuplicateError(f"x refused a duplicate of a post already published: {_describe(exc)}")
        return PermanentError(f"x refused the request: {_describe(exc)}")
    if isinstance(exc, tweepy.Unauthorized):
        return PermanentError(
            f"x rejected the credentials: {_describe(exc)} (check the X_ settings; an OAuth 2.0 user "
            "token expires after 2 hours unless refreshed)"
        )
    if isinstance(exc, tweepy.HTTPException):  # 400, 404 and any other 4xx
        return PermanentError(f"x refused the request: {_describe(exc)}")
    if isinstance(exc, requests.RequestException):
        sent = _maybe_sent(exc)
        return TransientError(f"x unreachable: {_network(exc)}", maybe_sent=posting and sent)
    if isinstance(exc, ValueError):
        return TransientError(
            f"x answered something that is not JSON ({type(exc).__name__})", maybe_sent=posting
        )
    return TransientError(f"x: unexpected {type(exc).__name__}", maybe_sent=posting)


def _describe(exc: Any) -> str:
    """Status line and X's own messages; never headers or URLs (the response holds the auth header)."""
    response = exc.response
    messages = "; ".join(str(m) for m in exc.api_messages)
    head = f"{response.status_code} {response.reason}"
    return f"{head}: {messages}" if messages else head


def _maybe_sent(exc: Exception) -> bool:
    """Whether the request could have reached X: only failures to connect prove it did not."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ProxyError):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        # With retries off, urllib3 wraps only connection failures in MaxRetryError; a read error
        # (reset, closed mid-answer, read timeout) comes through bare, after the body was sent.
        if isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError):
            return False
        return not isinstance(reason, MaxRetryError)
    return True


def _network(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out (ConnectTimeout; not sent)"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time after the request was sent (ReadTimeout)"
    if not _maybe_sent(exc):
        return f"cannot connect ({type(exc).__name__}; not sent)"
    return f"the connection broke after the request was sent ({type(exc).__name__})"


def _reset_after(headers: Any) -> timedelta | None:
    """When to come back: x-rate-limit-reset (epoch seconds), or the 24-hour cap's reset when that
    is what ran out (X sends no Retry-After)."""
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        value = headers.get(f"{prefix}-reset")
        remaining = headers.get(f"{prefix}-remaining")
        if value and str(value).isdigit() and (prefix == "x-rate-limit" or remaining == "0"):
            resets.append(int(value))
    if not resets:
        return None
    return timedelta(seconds=max(max(resets) - time.time(), 1.0))


def _adapter(base_url: str | None, default_timeout: float) -> requests.adapters.HTTPAdapter:
    import requests

    class _XAdapter(requests.adapters.HTTPAdapter):
        """A timeout on every request; with X_API_BASE_URL, the same paths on another host."""

        def send(
            self,
            request: requests.PreparedRequest,
            stream: bool = False,
            timeout: float | tuple[float, float] | tuple[float, None] | None = None,
            verify: bool | str = True,
            cert: Any = None,
            proxies: Mapping[str, str] | None = None,
        ) -> requests.Response:
            if base_url and request.url:
                for host in API_HOSTS:
                    if request.url.startswith(host):
                        request.url = base_url + request.url[len(host) :]
                        break
            # tweepy passes no timeout, so requests passes None: without this a stalled socket hangs.
            return super().send(
                request, stream, default_timeout if timeout is None else timeout, verify, cert, proxies
            )

    return _XAdapter()
