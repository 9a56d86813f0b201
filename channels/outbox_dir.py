"""outbox-dir: the embedded default channel, one file per post; needs no account and has no limit."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar, Self

from channels.base import Channel
from channels.errors import PermanentError, TransientError
from distrib.config import Settings
from distrib.models import Post, Receipt, iso_z


class OutboxDirChannel(Channel):
    name: ClassVar[str] = "outbox-dir"
    wants_subject: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True  # the file is named by the outbox key: writing it again is a no-op
    required_settings: ClassVar[tuple[str, ...]] = ("DISTRIB_OUTBOX_DIR",)

    def __init__(self, limit: int | None = None, directory: Path | None = None) -> None:
        super().__init__(limit)
        self.directory = directory or Path("outbox")

    def __repr__(self) -> str:
        return f"OutboxDirChannel(directory={str(self.directory)!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(directory=settings.outbox_dir)

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        # DISTRIB_OUTBOX_DIR has a default, so only an explicit setting enables it beside other
        # channels; channels.enabled() falls back to it when nothing else is configured.
        return bool(settings.get("DISTRIB_OUTBOX_DIR"))

    def describe(self) -> str:
        return f"writes files to {self.directory}"

    def check(self) -> str:
        """A local check: the directory exists (or can be made) and takes a file."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".check-"):
                pass
        except OSError as exc:
            raise PermanentError(f"cannot write to {self.directory}: {exc.strerror or exc}") from None
        return f"{self.directory.resolve()} is writable"

    def path_for(self, post: Post) -> Path:
        """Sorted by due time in a directory listing; the key makes the name unique and stable."""
        due = f"{post.due:%Y%m%dT%H%MZ}-" if post.due else ""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", post.key or f"{post.release_id}-{post.kind.value}")
        return self.directory / f"{due}{safe}.txt"

    def send(self, post: Post) -> Receipt:
        path = self.path_for(post)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Temp file + rename: a crash never leaves half a post, and a rewrite is identical.
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                             prefix=".tmp-", suffix=".txt") as handle:  # fmt: skip
                handle.write(render_file(post))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(handle.name, path)
        except OSError as exc:
            raise TransientError(f"cannot write {path}: {exc.strerror}") from exc
        return Receipt(path.name, path.resolve().as_uri())


def render_file(post: Post) -> str:
    head = [
        f"key:      {post.key}",
        f"channel:  {post.channel}",
        f"kind:     {post.kind.value}",
        f"due:      {iso_z(post.due) if post.due else '-'}",
        f"release:  {post.release_id} (content {post.release_hash[:12]})",
    ]
    if post.subject:
        head.append(f"subject:  {post.subject}")
    if post.link:
        head.append(f"link:     {post.link}")
    parts = [p.text for p in post.parts]
    if len(parts) > 1:
        parts = [f"[{n}/{len(parts)}]\n{text}" for n, text in enumerate(parts, start=1)]
    return "\n".join(head) + "\n\n" + "\n\n---\n\n".join(parts) + "\n"
