"""When to try a failed post again: capped exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt n waits base * 2**(n-1), capped, scaled by a random factor in [1 - jitter, 1]."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.5

    def next_attempt(
        self,
        attempts: int,
        now: datetime,
        retry_after: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """The moment of the next attempt after `attempts` failed ones, or None: give up."""
        if attempts >= self.max_attempts:
            return None
        backoff = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        # Jitter spreads retries of many posts hit by one outage, so they don't return in a herd.
        factor = 1 - self.jitter * (rng or random).random()
        wait = backoff * factor
        if retry_after is not None:
            wait = max(wait, retry_after)  # the platform said when; never earlier
        moment: datetime = now + wait
        return moment
