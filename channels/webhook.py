"""Webhooks: plain text plus the structured facts of the post as JSON; no practical length limit."""

from __future__ import annotations

from typing import ClassVar

from channels.base import Channel


class WebhookChannel(Channel):
    name: ClassVar[str] = "webhook"
    wants_subject: ClassVar[bool] = True  # the payload's title
    idempotent: ClassVar[bool] = False  # receivers may dedupe on the webhook-id header, but need not
    required_settings: ClassVar[tuple[str, ...]] = ("WEBHOOK_URL",)
