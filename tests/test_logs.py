"""Logs are one line per event, and no configured secret ever appears in them."""

from __future__ import annotations

import io
import logging

from distrib import logs

ENV = {
    "TELEGRAM_BOT_TOKEN": "123456789:AAcanaryTELEGRAMtoken_0123456789abc",
    "MASTODON_ACCESS_TOKEN": "canary-mastodon-token-42",
    "WEBHOOK_URL": "https://hooks.example/a/canary-hook-1 https://discord.example/api/webhooks/9/canary-hook-2",
    "SMTP_PASSWORD": "canary-smtp-pw",
    "DISTRIB_PUBLIC_URL": "https://press.example",
}


def capture(level: int = logging.DEBUG) -> io.StringIO:
    buffer = io.StringIO()
    logs.setup(level, ENV, buffer)
    return buffer


def test_secrets_are_masked_in_messages_extras_and_tracebacks() -> None:
    buffer = capture()
    log = logging.getLogger("distrib.test")
    log.info(
        "posting with %s",
        ENV["MASTODON_ACCESS_TOKEN"],
        extra={"url": "https://discord.example/api/webhooks/9/canary-hook-2"},
    )
    try:
        raise RuntimeError(f"failed: {ENV['SMTP_PASSWORD']}")
    except RuntimeError:
        log.exception("send failed")
    logging.getLogger("some.library").warning(
        "POST https://api.example/bot123456789:AAcanaryTELEGRAMtoken_0123456789abc/sendMessage"
    )
    text = buffer.getvalue()
    for name in ("TELEGRAM_BOT_TOKEN", "MASTODON_ACCESS_TOKEN", "SMTP_PASSWORD"):
        assert ENV[name] not in text
    assert "canary-hook" not in text
    assert text.count("***") >= 4


def test_one_line_per_event_with_key_values() -> None:
    buffer = capture(logging.INFO)
    logging.getLogger("distrib.worker").info("post sent", extra={"key": "r1:announcement:x", "attempt": 1})
    (line,) = buffer.getvalue().splitlines()
    assert line.endswith("INFO distrib.worker post sent key=r1:announcement:x attempt=1")


def test_noisy_libraries_that_log_urls_are_kept_at_warning() -> None:
    buffer = capture(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1/getMe")
    assert buffer.getvalue() == ""
