"""X: 280 by twitter-text's weighted count (URLs 23, emoji 2, CJK 2); long posts become threads."""

from __future__ import annotations

from typing import ClassVar

from channels.base import Channel
from channels.twitter_text import MAX_WEIGHTED_LENGTH, weighted_length


class XChannel(Channel):
    name: ClassVar[str] = "x"
    default_limit: ClassVar[int] = MAX_WEIGHTED_LENGTH
    supports_threads: ClassVar[bool] = True  # replies to the first post (in_reply_to_tweet_id)
    idempotent: ClassVar[bool] = False  # POST /2/tweets takes no idempotency key
    required_settings: ClassVar[tuple[str, ...]] = (
        "X_API_KEY",
        "X_API_SECRET",
        "X_ACCESS_TOKEN",
        "X_ACCESS_TOKEN_SECRET",
    )

    def length(self, text: str) -> int:
        return weighted_length(text)
