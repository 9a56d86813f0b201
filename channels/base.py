"""The channel interface: a name, a limit and the channel's own way of counting a post's length."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from channels.errors import ChannelError, DuplicateError, PermanentError, TransientError
from distrib.models import Post, Receipt

__all__ = [
    "Channel",
    "ChannelError",
    "Checker",
    "DuplicateError",
    "PermanentError",
    "Receipt",
    "Sender",
    "TransientError",
]

if TYPE_CHECKING:
    from distrib.config import Settings

Markup = Literal["text", "html"]
Facet = Mapping[str, Any]

# Channels without a practical limit (webhook, email, outbox-dir) still cap a post, so that a runaway
# template or a pasted book never reaches a mail server or a receiver's endpoint.
NO_PRACTICAL_LIMIT = 100_000


class Channel:
    """One place posts go to. Subclasses live in one module each, with that channel's counting rules.

    Constructing a channel needs no credentials: counting, fitting and `distrib preview` use it as is.
    `from_settings` reads only what changes counting (e.g. a Mastodon instance's own limit).

    A channel that can deliver also implements `send(post) -> Receipt` (the `Sender` protocol),
    raising only TransientError or PermanentError (DESIGN §6-7); the worker alone decides retries.
    """

    name: ClassVar[str]
    markup: ClassVar[Markup] = "text"
    default_limit: ClassVar[int] = NO_PRACTICAL_LIMIT
    supports_threads: ClassVar[bool] = False
    # True where a retry after a crash cannot post twice (Mastodon Idempotency-Key, Bluesky record
    # key, a file named by the outbox key); the worker turns a lost `sending` row of the others into
    # `uncertain` instead of retrying it.
    idempotent: ClassVar[bool] = False
    wants_subject: ClassVar[bool] = False  # email subject line, webhook title
    wants_html: ClassVar[bool] = False  # an HTML alternative beside the text (email)
    required_settings: ClassVar[tuple[str, ...]] = ()  # all set and non-empty: the channel is configured

    def __init__(self, limit: int | None = None) -> None:
        self.limit = self.default_limit if limit is None else limit
        if self.limit < 1:
            raise ValueError(f"{self.name}: a limit must be at least 1, not {self.limit}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.limit})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls()

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(cls.required_settings) and all(settings.get(n) for n in cls.required_settings)

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        """What `distrib channels` says is missing (names only, never values)."""
        return [n for n in cls.required_settings if not settings.get(n)]

    def describe(self) -> str:
        """One line for `distrib channels`: where posts go, without any secret."""
        return ""

    @property
    def template_ext(self) -> str:
        return "html" if self.markup == "html" else "txt"

    def length(self, text: str) -> int:
        """The length the channel itself would count (default: Unicode code points)."""
        return len(text)

    def limit_for(self, *, with_media: bool = False) -> int:
        """The limit that applies to one message (Telegram captions are shorter than messages)."""
        return self.limit

    def visible_text(self, text: str) -> str:
        """What a reader sees: the text without markup (for HTML channels)."""
        return text

    def facets(self, text: str) -> tuple[Facet, ...]:
        """Rich-text annotations the channel needs beside the text (Bluesky); none by default."""
        return ()


@runtime_checkable
class Sender(Protocol):
    """A channel that delivers: what the worker calls (DESIGN §7).

    `send` returns the platform's id and link for the post, or raises TransientError (try later;
    `maybe_sent` when the request may have reached the platform) or PermanentError. `idempotent`
    says whether sending the same post (same `post.key`) twice is harmless on this channel.
    """

    name: ClassVar[str]
    idempotent: ClassVar[bool]

    def send(self, post: Post) -> Receipt: ...


@runtime_checkable
class Checker(Protocol):
    """A channel that can verify its credentials with a harmless call (`distrib channels check`).

    `check` returns one line saying what it found (e.g. the account it posts as), or raises
    TransientError / PermanentError like `send`.
    """

    name: ClassVar[str]

    def check(self) -> str: ...
