"""Logging: one line per event as key=value pairs, with every configured secret masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

# Settings whose values are secrets wherever they appear (tokens, passwords, signing keys, and URLs
# that embed a token such as Discord/Slack webhooks).
SECRET_SETTINGS = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_TOKEN|WEBHOOK_URL)", re.IGNORECASE)
# Telegram puts the bot token in the URL path (…/bot123456:ABC…/sendMessage); libraries log URLs.
TELEGRAM_TOKEN = re.compile(r"bot\d{5,}:[A-Za-z0-9_-]{20,}")
MASK = "***"

# Libraries that log request URLs or headers (with tokens) at INFO or DEBUG.
NOISY = ("httpx", "httpcore", "telegram", "tweepy", "requests_oauthlib", "oauthlib", "urllib3", "hpack")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values to mask: every secret setting, each URL of a multi-URL setting too."""
    values: list[str] = []
    for name, value in env.items():
        if value and SECRET_SETTINGS.search(name):
            values.append(value)
            values.extend(part for part in value.split() if len(part) >= 8)
    # Longest first, so a secret containing another is masked whole.
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = list(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return TELEGRAM_TOKEN.sub(f"bot{MASK}", text)


class KeyValueFormatter(logging.Formatter):
    """`2026-11-24T13:55:22.123Z INFO distrib.worker post sent key=… channel=x attempt=1`."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        parts = [moment.replace("+00:00", "Z"), record.levelname, record.name, record.getMessage()]
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                parts.append(f"{key}={_quote(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def setup(level: int | str, env: Mapping[str, str], stream: object = None) -> None:
    """Install the one handler of the process (idempotent: main() may run many times in tests)."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(KeyValueFormatter(Redactor(secret_values(env))))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    hold_noisy_loggers()


def hold_noisy_loggers() -> None:
    """Keep the libraries that log URLs and headers (tokens) at WARNING, even under -v.

    Channels call this before their first request too, so an embedding program or a test that logs
    at DEBUG without `setup` never sees a token (python-telegram-bot's httpx lines at INFO, tweepy's
    Authorization header at DEBUG).
    """
    for name in NOISY:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET (0) too: it would inherit the root's DEBUG
            logger.setLevel(logging.WARNING)
