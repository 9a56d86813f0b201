"""Test doubles that behave like real channels: they record what was posted and fail on script."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from distrib.models import Post, PostKind, PostPart, Receipt
from distrib.store import PlannedItem

Step = Callable[[Post], Receipt | None] | Exception | None


@dataclass
class FakeChannel:
    """Records every post; `script` holds one step per call: an exception to raise, or None to succeed."""

    name: str = "fake"
    idempotent: bool = False
    script: list[Exception | None] = field(default_factory=list)
    barrier: threading.Barrier | None = None
    posted: list[Post] = field(default_factory=list)
    calls: int = 0

    def send(self, post: Post) -> Receipt:
        self.calls += 1
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # proves concurrency: every channel must be inside send at once
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        self.posted.append(post)
        number = len(self.posted)
        return Receipt(f"{self.name}-{number}", f"https://{self.name}.example/p/{number}")


def planned(
    key: str,
    due: datetime,
    *,
    channel: str = "fake",
    kind: PostKind = PostKind.ANNOUNCEMENT,
    release_id: str = "r1",
    not_after: datetime | None = None,
    text: str = "hello",
    skip_reason: str | None = None,
) -> PlannedItem:
    post = Post(channel, kind, release_id, release_id, (PostPart(text, len(text), 500),), key=key, due=due)
    return PlannedItem(
        key=key, release_id=release_id, release_version=1, release_hash="h1", channel=channel, kind=kind,
        target=release_id, offset_seconds=0, due=due, not_after=not_after, post=post, skip_reason=skip_reason,
    )  # fmt: skip


def later(moment: datetime, **delta: float) -> datetime:
    return moment + timedelta(**delta)
