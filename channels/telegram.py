"""Telegram (HTML parse mode): 4096 per message, 1024 per caption, counted on the visible text."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import ClassVar

from channels.base import Channel, Markup

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


class TelegramChannel(Channel):
    name: ClassVar[str] = "telegram"
    markup: ClassVar[Markup] = "html"
    default_limit: ClassVar[int] = MAX_TEXT_LENGTH
    caption_limit: ClassVar[int] = MAX_CAPTION_LENGTH
    # A channel has no reply threads, and 4096 is room enough: long posts are shortened instead.
    supports_threads: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False  # the Bot API has no idempotency key
    required_settings: ClassVar[tuple[str, ...]] = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")

    def length(self, text: str) -> int:
        # Telegram counts after entity parsing; entity offsets are UTF-16 code units, and budgeting
        # in them is the safe side of the one probe that found code points.
        return utf16_length(visible_text(text))

    def limit_for(self, *, with_media: bool = False) -> int:
        return min(self.limit, self.caption_limit) if with_media else self.limit

    def visible_text(self, text: str) -> str:
        return visible_text(text)
