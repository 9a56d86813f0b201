"""outbox-dir: the embedded default channel, one file per post; needs no account and has no limit."""

from __future__ import annotations

from typing import ClassVar

from channels.base import Channel
from distrib.config import Settings


class OutboxDirChannel(Channel):
    name: ClassVar[str] = "outbox-dir"
    wants_subject: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True  # the file is named by the outbox key: writing it again is a no-op
    required_settings: ClassVar[tuple[str, ...]] = ("DISTRIB_OUTBOX_DIR",)

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        # DISTRIB_OUTBOX_DIR has a default, so only an explicit setting enables it beside other
        # channels; channels.enabled() falls back to it when nothing else is configured.
        return bool(settings.get("DISTRIB_OUTBOX_DIR"))
