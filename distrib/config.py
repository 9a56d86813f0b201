"""Settings from the environment, then `.env` in the working directory; secrets never in reprs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from distrib.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Everything distrib reads from its environment; see .env.example for each variable."""

    env: Mapping[str, str] = field(repr=False, default_factory=dict)  # may hold secrets
    data_dir: Path = Path("data")
    database_url: str = ""
    public_dir: Path = Path("public")
    public_url: str = "http://127.0.0.1:8080"
    outbox_dir: Path = Path("outbox")
    templates_dir: Path | None = None
    feed_limit: int = 50
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Pure: build settings from a mapping (os.environ merged with .env by `load`)."""
        data_dir = Path(env.get("DISTRIB_DATA_DIR") or "data")
        database_url = env.get("DISTRIB_DATABASE_URL") or f"sqlite:///{data_dir / 'distrib.sqlite3'}"
        templates = env.get("DISTRIB_TEMPLATES_DIR")
        try:
            feed_limit = int(env.get("DISTRIB_FEED_LIMIT") or 50)
        except ValueError as exc:
            raise ConfigError(
                f"DISTRIB_FEED_LIMIT must be a whole number, not {env['DISTRIB_FEED_LIMIT']!r}"
            ) from exc
        if feed_limit < 1:
            raise ConfigError("DISTRIB_FEED_LIMIT must be at least 1")
        return cls(
            env=dict(env),
            data_dir=data_dir,
            database_url=database_url,
            public_dir=Path(env.get("DISTRIB_PUBLIC_DIR") or "public"),
            public_url=(env.get("DISTRIB_PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/"),
            outbox_dir=Path(env.get("DISTRIB_OUTBOX_DIR") or "outbox"),
            templates_dir=Path(templates) if templates else None,
            feed_limit=feed_limit,
            log_level=(env.get("DISTRIB_LOG_LEVEL") or "INFO").upper(),
        )

    def get(self, name: str, default: str | None = None) -> str | None:
        """A raw setting (channel credentials live here); empty counts as unset."""
        value = self.env.get(name)
        return value if value else default


def load(env_file: Path | None = None) -> Settings:
    """Settings from os.environ, falling back to `.env` (the environment wins)."""
    merged: dict[str, str] = {}
    path = env_file or Path(".env")
    if path.is_file():
        from dotenv import dotenv_values  # lazy: keeps `distrib --help` fast

        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return Settings.from_env(merged)
