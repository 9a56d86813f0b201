"""Telegram (HTML parse mode): 4096 per message, 1024 per caption, counted on the visible text; PTB sends."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from channels.base import Channel, Markup
from channels.errors import ChannelError, PermanentError, TransientError
from distrib.logs import hold_noisy_loggers
from distrib.models import Post, Receipt

if TYPE_CHECKING:
    from distrib.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

# The tags Bot API HTML accepts (core.telegram.org/bots/api#html-style); anything else is a 400.
ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
        "tg-emoji", "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip


class TelegramMarkupError(ValueError):
    """The HTML would be refused by the Bot API ("can't parse entities")."""


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            raise TelegramMarkupError(f"<{tag}> is not allowed in Telegram HTML")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise TelegramMarkupError(f"<{tag}/> is not allowed in Telegram HTML")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise TelegramMarkupError(f"</{tag}> closes a tag that is not open")
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    """The text Telegram shows for an HTML message: tags removed, entities decoded.

    Raises TelegramMarkupError for a tag the Bot API refuses or for unbalanced tags.
    """
    parser = _Visible()
    parser.feed(html)
    parser.close()
    if parser.open:
        raise TelegramMarkupError(f"<{parser.open[-1]}> is never closed")
    return "".join(parser.parts)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- sending -------------------------------------------------------------------------------------

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_TIMEOUT = 20.0  # seconds per connect, read and write; uploads are URLs Telegram fetches itself
# sendPhoto refusals that concern only the image: the post then goes out as a message instead.
_PHOTO_PROBLEMS = (
    "wrong file identifier",
    "failed to get http url content",
    "wrong type of the web page content",
    "photo_invalid",
    "image_process_failed",
    "wrong remote file",
    "file is too big",
)


class TelegramChannel(Channel):
    name: ClassVar[str] = "telegram"
    markup: ClassVar[Markup] = "html"
    default_limit: ClassVar[int] = MAX_TEXT_LENGTH
    caption_limit: ClassVar[int] = MAX_CAPTION_LENGTH
    # A channel has no reply threads, and 4096 is room enough: long posts are shortened instead.
    supports_threads: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False  # the Bot API has no idempotency key
    required_settings: ClassVar[tuple[str, ...]] = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")

    def __init__(
        self,
        limit: int | None = None,
        *,
        token: str | None = None,
        chat_id: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(limit)
        self._token = token  # in every request URL: never logged, never in a message or a repr
        self.chat_id = chat_id
        self.base_url = base_url or DEFAULT_BASE_URL
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"TelegramChannel(limit={self.limit}, chat_id={self.chat_id!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            token=settings.get("TELEGRAM_BOT_TOKEN"),
            chat_id=settings.get("TELEGRAM_CHAT_ID"),
            base_url=settings.get("TELEGRAM_API_BASE_URL"),
        )

    def describe(self) -> str:
        where = f", Bot API at {self.base_url}" if self.base_url != DEFAULT_BASE_URL else ""
        return f"chat {self.chat_id}{where}"

    def length(self, text: str) -> int:
        # Telegram counts after entity parsing; entity offsets are UTF-16 code units, and budgeting
        # in them is the safe side of the one probe that found code points.
        return utf16_length(visible_text(text))

    def limit_for(self, *, with_media: bool = False) -> int:
        return min(self.limit, self.caption_limit) if with_media else self.limit

    def visible_text(self, text: str) -> str:
        return visible_text(text)

    def check(self) -> str:
        """getMe: the token works (and which bot it is)."""
        me = self._run(lambda bot: bot.get_me())
        return f"authenticated as @{me.username} (id {me.id}; {self.describe()})"

    def send(self, post: Post) -> Receipt:
        """sendPhoto with the text as caption when the release has an image, else sendMessage.

        The text is HTML the renderer escaped per the Bot API rules (templates/telegram/*.html.j2),
        already fitted to 1024 for a caption. The link preview shows the release link.
        """
        if not self.chat_id:
            raise PermanentError("telegram is not configured: set TELEGRAM_CHAT_ID")
        text = post.text
        if not text.strip():
            raise PermanentError("nothing to post: the post has no text")
        try:
            visible_text(text)
        except TelegramMarkupError as exc:
            raise PermanentError(f"telegram would refuse the markup: {exc}") from None
        message = self._run(lambda bot: self._post(bot, post, text))
        return Receipt(str(message.message_id), self._message_url(message))

    async def _post(self, bot: Any, post: Post, text: str) -> Any:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import BadRequest

        if post.image and self.length(text) <= self.caption_limit:
            try:
                return await bot.send_photo(
                    chat_id=self.chat_id, photo=post.image, caption=text, parse_mode=ParseMode.HTML
                )
            except BadRequest as exc:
                # Telegram could not use the image (it fetches the URL itself); nothing was posted,
                # and the announcement must not wait for a picture.
                if not any(p in str(exc).lower() for p in _PHOTO_PROBLEMS):
                    raise
                log.warning("posting to telegram without the image: %s", exc, extra={"key": post.key})
        preview = (
            LinkPreviewOptions(url=post.link, prefer_large_media=True)
            if post.link
            else LinkPreviewOptions(is_disabled=True)
        )
        return await bot.send_message(
            chat_id=self.chat_id, text=text, parse_mode=ParseMode.HTML, link_preview_options=preview
        )

    def _run(self, call: Callable[[Any], Awaitable[T]]) -> T:
        """Run one Bot API call in an event loop of its own (the worker calls from plain threads)."""
        if not self._token:
            raise PermanentError("telegram is not configured: set TELEGRAM_BOT_TOKEN")
        # RetryAfter.retry_after as a timedelta (PTB 22.2+); without it PTB warns on every 429.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        hold_noisy_loggers()
        import asyncio  # lazy, like the library: `distrib --help` stays fast

        try:
            return asyncio.run(self._call(call))
        except ChannelError:
            raise
        except Exception as exc:
            raise _map(exc, self._token) from None

    async def _call(self, call: Callable[[Any], Awaitable[T]]) -> T:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        t = self.timeout
        request = HTTPXRequest(
            connect_timeout=t, read_timeout=t, write_timeout=t, pool_timeout=t, media_write_timeout=t
        )
        # One request object for both roles (getUpdates is never called), closed by us: Bot.shutdown
        # only closes what initialize() opened, and initialize() would call getMe before every post.
        bot = Bot(str(self._token), base_url=self.base_url, request=request, get_updates_request=request)
        try:
            return await call(bot)
        finally:
            await request.shutdown()

    def _message_url(self, message: Any) -> str | None:
        username = getattr(message.chat, "username", None)
        if username:
            return f"https://t.me/{username}/{message.message_id}"
        chat = str(self.chat_id)
        if chat.startswith("@"):
            return f"https://t.me/{chat[1:]}/{message.message_id}"
        if chat.startswith("-100"):  # a private channel or supergroup: a link for its members
            return f"https://t.me/c/{chat[4:]}/{message.message_id}"
        return None


def _map(exc: Exception, token: str) -> ChannelError:
    """python-telegram-bot errors to the two kinds the worker knows (reference §2.7).

    Order matters: BadRequest and TimedOut are NetworkErrors, RetryAfter and ChatMigrated are not.
    """
    from telegram import error

    text = _scrub(str(exc), token)
    if isinstance(exc, error.RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # an int when PTB_TIMEDELTA is false
            after = exc.retry_after
        delay = after if isinstance(after, timedelta) else timedelta(seconds=float(after))
        return TransientError(
            f"telegram flood control: retry in {int(delay.total_seconds())} s", retry_after=delay
        )
    if isinstance(exc, error.ChatMigrated):
        return PermanentError(
            f"telegram: the group became a supergroup with chat id {exc.new_chat_id}; "
            f"set TELEGRAM_CHAT_ID={exc.new_chat_id}"
        )
    if isinstance(exc, error.InvalidToken):
        return PermanentError("telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)")
    if isinstance(exc, error.Forbidden):
        return PermanentError(f"telegram refused: {text} (is the bot an administrator of the chat?)")
    if isinstance(exc, error.BadRequest):
        return PermanentError(f"telegram refused the request: {text}")
    if isinstance(exc, error.TimedOut):
        sent = _maybe_sent(exc)
        what = "no answer in time" if sent else "timed out before sending"
        return TransientError(f"telegram: {what} ({_cause(exc)})", maybe_sent=sent)
    if isinstance(exc, error.NetworkError):
        sent = _maybe_sent(exc)
        what = "the connection broke or the server failed" if sent else "cannot connect"
        return TransientError(f"telegram: {what}: {text}", maybe_sent=sent)
    if isinstance(exc, error.TelegramError):  # Conflict and the like: not a sending problem we can retry
        return PermanentError(f"telegram: {type(exc).__name__}: {text}")
    return TransientError(f"telegram: unexpected {type(exc).__name__}", maybe_sent=True)


def _maybe_sent(exc: Exception) -> bool:
    """Only a failure to connect (or to get a pooled connection) proves nothing reached Telegram;
    a read or write timeout, a broken connection or a 5xx answer may come after the message went out."""
    import httpx

    return not isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _cause(exc: Exception) -> str:
    return type(exc.__cause__).__name__ if exc.__cause__ is not None else type(exc).__name__


def _scrub(text: str, token: str) -> str:
    """Library messages could quote a URL, which holds the token: mask it in whatever we pass on."""
    return text.replace(token, "***") if token else text
