"""Email: a subject, a plain-text part and an HTML part (autoescaped); no practical length limit."""

from __future__ import annotations

from typing import ClassVar

from channels.base import Channel


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    wants_subject: ClassVar[bool] = True
    wants_html: ClassVar[bool] = True
    idempotent: ClassVar[bool] = False  # SMTP cannot tell whether a timed-out message was accepted
    required_settings: ClassVar[tuple[str, ...]] = ("SMTP_HOST", "EMAIL_FROM", "EMAIL_TO")
