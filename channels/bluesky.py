"""Bluesky: 300 graphemes and 3000 UTF-8 bytes; links, hashtags and mentions need facets (byte offsets)."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

import regex

from channels.base import Channel, Facet

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_TAG_GRAPHEMES = 64

_GRAPHEME = regex.compile(r"\X")
# The patterns of the official client's rich-text detection (@atproto/api richtext/util.ts).
_URL = re.compile(r"(?:^|(?<=[\s(]))(https?://\S+)", re.IGNORECASE)
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9.-]+)(?![\w.-]*@)")
_HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_TAG = regex.compile(r"(?:^|(?<=\s))[#＃]((?!\ufe0f)[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*"
                     r"[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+"
                     r"[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)")  # fmt: skip
_TRAILING_PUNCT = re.compile(r"[.,;:!?]+$")
_TAG_TRAILING_PUNCT = regex.compile(r"\p{P}+$")


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte position of the code point at `index` (facets count bytes, not characters)."""
    return len(text[:index].encode("utf-8"))


def _facet(text: str, start: int, end: int, feature: dict[str, Any]) -> Facet:
    return {
        "index": {"byteStart": byte_offset(text, start), "byteEnd": byte_offset(text, end)},
        "features": [feature],
    }


def facets(text: str) -> tuple[Facet, ...]:
    """Link, hashtag and mention facets for `text`, in text order.

    A mention facet needs the account's DID, known only by asking the network; it is produced here
    with the handle (`{"$type": "...#mention", "handle": "esa.bsky.social"}`) and the sender resolves
    it with com.atproto.identity.resolveHandle, dropping the facet if the handle does not resolve.
    `@name` without a domain (an X or Mastodon handle) is not a Bluesky handle and stays plain text.
    """
    found: list[tuple[int, Facet]] = []
    for match in _URL.finditer(text):
        uri = _TRAILING_PUNCT.sub("", match.group(1))
        if uri.endswith(")") and "(" not in uri:
            uri = uri[:-1]
        start = match.start(1)
        found.append(
            (
                start,
                _facet(text, start, start + len(uri), {"$type": "app.bsky.richtext.facet#link", "uri": uri}),
            )
        )
    for tag_match in _TAG.finditer(text):
        tag = _TAG_TRAILING_PUNCT.sub("", tag_match.group(1))
        if not tag or grapheme_count(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = tag_match.start(0)
        end = tag_match.start(1) + len(tag)
        found.append((start, _facet(text, start, end, {"$type": "app.bsky.richtext.facet#tag", "tag": tag})))
    for match in _MENTION.finditer(text):
        handle = _TRAILING_PUNCT.sub("", match.group(1))
        if not _HANDLE.match(handle):
            continue
        start = match.start(0)
        end = match.start(1) + len(handle)
        feature = {"$type": "app.bsky.richtext.facet#mention", "handle": handle.lower()}
        found.append((start, _facet(text, start, end, feature)))
    found.sort(key=lambda item: item[0])
    return tuple(facet for _, facet in found)


class BlueskyChannel(Channel):
    name: ClassVar[str] = "bluesky"
    default_limit: ClassVar[int] = MAX_GRAPHEMES
    supports_threads: ClassVar[bool] = True  # replies with reply.root / reply.parent
    idempotent: ClassVar[bool] = True  # the record key is chosen by us, so a retry cannot post twice
    required_settings: ClassVar[tuple[str, ...]] = (
        "BLUESKY_SERVICE",
        "BLUESKY_HANDLE",
        "BLUESKY_APP_PASSWORD",
    )

    def length(self, text: str) -> int:
        """Graphemes, or a tenth of the UTF-8 bytes if that is more: at most 300 means both rules hold.

        The post lexicon allows 300 graphemes and 3000 bytes; folding the byte rule into the one
        number keeps `length <= limit` exact for both (300 emoji of 4 bytes pass, 300 family emoji
        of 25 bytes do not).
        """
        by_bytes = math.ceil(len(text.encode("utf-8")) * MAX_GRAPHEMES / MAX_BYTES)
        return max(grapheme_count(text), by_bytes)

    def facets(self, text: str) -> tuple[Facet, ...]:
        return facets(text)
