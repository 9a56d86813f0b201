"""The only two errors a channel raises; the worker alone decides what happens next.

- ChannelError
  - TransientError(retry_after, maybe_sent): try again later (429, 5xx, network)
  - PermanentError: never retry (401/403, validation, a chat that moved)
    - DuplicateError: the platform says this exact post already exists
"""

from __future__ import annotations

from datetime import timedelta


class ChannelError(Exception):
    """Base of the errors channels raise."""


class TransientError(ChannelError):
    """Try again later.

    retry_after: when the platform said to come back (Retry-After, rate-limit reset), if it did.
    maybe_sent: the request may have reached the platform (a timeout after sending, a reset): on a
    channel that is not idempotent, retrying could post twice, so the worker marks it uncertain.
    """

    def __init__(
        self, message: str, *, retry_after: timedelta | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentError(ChannelError):
    """Retrying cannot help; the post is failed with this reason."""


class DuplicateError(PermanentError):
    """The platform refused the post as a duplicate of one already published (X's 403)."""
