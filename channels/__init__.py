"""The channel registry: every channel by name, and which of them a release goes to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from channels.base import Channel
from channels.bluesky import BlueskyChannel
from channels.email import EmailChannel
from channels.mastodon import MastodonChannel
from channels.outbox_dir import OutboxDirChannel
from channels.telegram import TelegramChannel
from channels.webhook import WebhookChannel
from channels.x import XChannel

if TYPE_CHECKING:
    from distrib.config import Settings

REGISTRY: dict[str, type[Channel]] = {
    "x": XChannel,
    "telegram": TelegramChannel,
    "mastodon": MastodonChannel,
    "bluesky": BlueskyChannel,
    "webhook": WebhookChannel,
    "email": EmailChannel,
    "outbox-dir": OutboxDirChannel,
}

DEFAULT_CHANNEL = "outbox-dir"


def names() -> list[str]:
    """Every channel distrib knows, in a stable order."""
    return list(REGISTRY)


def build(name: str, settings: Settings) -> Channel:
    """A channel for counting and rendering (no credentials needed); KeyError for an unknown name."""
    return REGISTRY[name].from_settings(settings)


def configured(settings: Settings) -> list[str]:
    """Channels whose settings are all present (DESIGN §7), in registry order."""
    return [name for name, cls in REGISTRY.items() if cls.is_configured(settings)]


def enabled(wanted: Iterable[str] | None, settings: Settings) -> list[str]:
    """The channels a release goes to: the ones it asks for (default: all) that are configured.

    When none of them is configured, posts go to the embedded outbox-dir channel, so a fresh
    checkout without any account still shows and writes every post.
    """
    ready = set(configured(settings))
    asked = list(REGISTRY) if wanted is None else [n for n in wanted if n in REGISTRY]
    chosen = [name for name in asked if name in ready]
    return chosen or [DEFAULT_CHANNEL]
