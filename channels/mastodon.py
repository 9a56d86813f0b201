"""Mastodon: 500 graphemes by default (instances may allow more); URLs count 23, mentions their local part."""

from __future__ import annotations

import re
from typing import ClassVar, Self

import regex

from channels.base import Channel
from channels.twitter_text import TRANSFORMED_URL_LENGTH, extract_urls
from distrib.config import Settings
from distrib.errors import ConfigError

DEFAULT_LIMIT = 500
# Mastodon's Account::MENTION_RE: '@alice@example.social' counts as '@alice'.
_MENTION = re.compile(r"(?<![=/\w])@(\w+)(?:@[\w.-]+\w)?", re.UNICODE)
_GRAPHEME = regex.compile(r"\X")


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


class MastodonChannel(Channel):
    name: ClassVar[str] = "mastodon"
    default_limit: ClassVar[int] = DEFAULT_LIMIT
    supports_threads: ClassVar[bool] = True  # replies to the first status (in_reply_to_id)
    idempotent: ClassVar[bool] = True  # Idempotency-Key, remembered by the server for an hour
    required_settings: ClassVar[tuple[str, ...]] = ("MASTODON_BASE_URL", "MASTODON_ACCESS_TOKEN")

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        # The instance's real limit (GET /api/v2/instance, configuration.statuses.max_characters)
        # can be set here until the sender reads it from the server.
        raw = settings.get("MASTODON_MAX_CHARACTERS")
        if raw is None:
            return cls()
        try:
            return cls(limit=int(raw))
        except ValueError as exc:
            raise ConfigError(
                f"MASTODON_MAX_CHARACTERS must be a whole number of at least 1, not {raw!r}"
            ) from exc

    def length(self, text: str) -> int:
        # Mastodon's StatusLengthValidator: links with a scheme -> 23 characters (bare domains count
        # as written), remote mentions -> their local part, then grapheme clusters.
        pieces: list[str] = []
        last = 0
        for span in extract_urls(text, without_protocol=False):
            pieces.append(text[last : span.start])
            pieces.append("x" * TRANSFORMED_URL_LENGTH)
            last = span.start + len(span.url)
        pieces.append(text[last:])
        rewritten = _MENTION.sub(lambda m: "@" + m.group(1), "".join(pieces))
        return grapheme_count(rewritten)
