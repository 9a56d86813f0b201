"""Each channel counts as the channel does: Telegram the visible text, Mastodon and Bluesky graphemes."""

from __future__ import annotations

import pytest

import channels
from channels.bluesky import BlueskyChannel, facets
from channels.mastodon import MastodonChannel
from channels.telegram import TelegramChannel, TelegramMarkupError, visible_text
from distrib.config import Settings
from distrib.errors import ConfigError

X_SETTINGS = {"X_API_KEY": "k", "X_API_SECRET": "s", "X_ACCESS_TOKEN": "t", "X_ACCESS_TOKEN_SECRET": "ts"}


def test_registry_names_every_channel_once() -> None:
    assert channels.names() == ["x", "telegram", "mastodon", "bluesky", "webhook", "email", "outbox-dir"]
    for name, cls in channels.REGISTRY.items():
        assert cls.name == name
        assert channels.build(name, Settings.from_env({})).limit >= 280


def test_idempotency_is_declared_per_channel() -> None:
    idempotent = {name for name, cls in channels.REGISTRY.items() if cls.idempotent}
    assert idempotent == {"mastodon", "bluesky", "outbox-dir"}


def test_enabled_falls_back_to_outbox_dir() -> None:
    assert channels.enabled(None, Settings.from_env({})) == ["outbox-dir"]
    assert channels.enabled(["x", "telegram"], Settings.from_env(X_SETTINGS)) == ["x"]
    assert channels.enabled(["telegram"], Settings.from_env(X_SETTINGS)) == ["outbox-dir"]
    both = Settings.from_env({**X_SETTINGS, "DISTRIB_OUTBOX_DIR": "out"})
    assert channels.enabled(None, both) == ["x", "outbox-dir"]


@pytest.mark.parametrize(
    ("html", "visible", "length"),
    [
        ("<b>Hi</b> &amp; bye", "Hi & bye", 8),
        ('<a href="https://esa.int/?a=1&amp;b=2">ESA</a>', "ESA", 3),
        ("&lt;script&gt;", "<script>", 8),
        ("1 &#34;2&#34;", '1 "2"', 5),
        ("😀", "😀", 2),  # two UTF-16 code units
    ],
)
def test_telegram_counts_after_entity_parsing(html: str, visible: str, length: int) -> None:
    assert visible_text(html) == visible
    assert TelegramChannel().length(html) == length


@pytest.mark.parametrize("html", ["<p>x</p>", "<br>", "<b>x", "x</b>", "<b><i>x</b></i>", "<img src=x/>"])
def test_telegram_refuses_markup_the_bot_api_refuses(html: str) -> None:
    with pytest.raises(TelegramMarkupError):
        TelegramChannel().length(html)


def test_telegram_caption_limit() -> None:
    channel = TelegramChannel()
    assert (channel.limit_for(), channel.limit_for(with_media=True)) == (4096, 1024)


def test_mastodon_counts_urls_23_and_mentions_by_local_part() -> None:
    channel = MastodonChannel()
    assert channel.length("https://www.esa.int/Science_Exploration/very/long/path?with=query") == 23
    assert channel.length("esa.int") == 7  # bare domains count as written
    assert channel.length("@alice@example.social") == len("@alice")
    assert channel.length("👨‍👩‍👧‍👦") == 1


def test_mastodon_limit_follows_the_instance() -> None:
    settings = Settings.from_env({"MASTODON_MAX_CHARACTERS": "1000"})
    assert channels.build("mastodon", settings).limit == 1000
    with pytest.raises(ConfigError):
        channels.build("mastodon", Settings.from_env({"MASTODON_MAX_CHARACTERS": "lots"}))


def test_bluesky_needs_both_graphemes_and_bytes_within_limits() -> None:
    channel = BlueskyChannel()
    assert channel.length("a" * 300) == 300
    assert channel.length("😀" * 300) == 300  # 1200 bytes: fine
    assert channel.length("👨‍👩‍👧‍👦" * 150) > 300  # 150 graphemes but 3750 bytes
    assert channel.length("é" * 301) == 301


def test_bluesky_facets_slice_the_utf8_bytes() -> None:
    text = "Запуск 🚀 https://esa.int/exomars. #ExoMars, @esa.bsky.social and @ESA_ExoMars"
    data = text.encode("utf-8")
    found = {
        f["features"][0]["$type"].rsplit("#", 1)[1]: data[
            f["index"]["byteStart"] : f["index"]["byteEnd"]
        ].decode()
        for f in facets(text)
    }
    assert found == {"link": "https://esa.int/exomars", "tag": "#ExoMars", "mention": "@esa.bsky.social"}
    link, tag, mention = facets(text)
    assert link["features"][0]["uri"] == "https://esa.int/exomars"
    assert tag["features"][0]["tag"] == "ExoMars"
    assert mention["features"][0]["handle"] == "esa.bsky.social"  # the sender resolves it to a DID
