"""The worker: claim due posts, fan out to channels, record every outcome; heartbeat and simulation.

The plan lives in the database; `schedule` is only the heartbeat. Between beats the worker sleeps
until the next due row, so reminders leave on time. Every state change after a claim is a
compare-and-set on (row, worker, attempt), so a worker that lost its lease cannot overwrite a
decision made without it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from channels.base import Sender
from channels.errors import PermanentError, TransientError
from distrib.models import OutboxItem, Receipt, Status, utc
from distrib.retry import RetryPolicy
from distrib.store import Outbox, Store, Transition

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class VirtualClock:
    """A clock that only moves when told to: the simulation's and the tests' time."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = utc(moment)

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass(frozen=True)
class WorkerConfig:
    lease: timedelta = timedelta(minutes=5)
    batch: int = 50
    heartbeat_seconds: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Delivers due outbox rows through the channels it is given."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Sender],
        *,
        clock: Clock | None = None,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
        idempotent: Callable[[str], bool] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = Outbox(store)
        self.channels = dict(channels)
        self.clock = clock or SystemClock()
        self.config = config or WorkerConfig()
        self.worker_id = worker_id or new_worker_id()
        # After a crash, rows of channels we do not run may still need judging: the caller can say
        # which channel names are idempotent even when they are not configured here.
        self._idempotent = idempotent or (lambda name: getattr(self.channels.get(name), "idempotent", False))
        self.rng = rng or random.Random()

    # -- one pass --------------------------------------------------------------------------------

    def tick(self) -> list[Transition]:
        """Sweep expired leases, skip what is too late, then send everything due now."""
        now = self.clock.now()
        done = self.outbox.sweep(now, self._idempotent) + self.outbox.expire_late(now)
        while claimed := self.outbox.claim(now, self.worker_id, self.config.lease, self.config.batch):
            done += self._fan_out(claimed)
            now = self.clock.now()
        for transition in done:
            _log_transition(transition)
        return done

    def _fan_out(self, items: list[OutboxItem]) -> list[Transition]:
        """Channels in parallel; within one channel, in due order (a thread stays in order)."""
        by_channel: dict[str, list[OutboxItem]] = {}
        for item in items:
            by_channel.setdefault(item.channel, []).append(item)
        if len(by_channel) == 1:
            return self._send_in_order(items)
        with ThreadPoolExecutor(max_workers=len(by_channel), thread_name_prefix="distrib-send") as pool:
            results = pool.map(self._send_in_order, by_channel.values())
            return [t for group in results for t in group]

    def _send_in_order(self, items: list[OutboxItem]) -> list[Transition]:
        return [t for t in (self._send(item) for item in items) if t is not None]

    def _send(self, item: OutboxItem) -> Transition | None:
        channel = self.channels.get(item.channel)
        if channel is None:
            return self._finish(item, Status.FAILED, f"channel '{item.channel}' is not configured here")
        if not self.outbox.begin_attempt(item, self.clock.now(), self.config.lease):
            log.warning("claim lost before sending; leaving the row alone", extra={"key": item.key})
            return None
        post = replace(item.post, key=item.key)
        try:
            receipt = channel.send(post)
        except TransientError as exc:
            if exc.maybe_sent and not channel.idempotent:
                return self._finish(
                    item,
                    Status.UNCERTAIN,
                    f"{exc} — the post may be out; check {item.channel}, then "
                    f"`distrib resolve {item.key} --sent|--resend`",
                )
            return self._retry_or_give_up(item, str(exc), exc.retry_after)
        except PermanentError as exc:
            return self._finish(item, Status.FAILED, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            # A bug or an unmapped library error: we cannot know whether the post left.
            log.exception("channel %s raised an unexpected error", item.channel, extra={"key": item.key})
            if channel.idempotent:
                return self._retry_or_give_up(item, f"unexpected {type(exc).__name__}: {exc}", None)
            return self._finish(item, Status.UNCERTAIN, f"unexpected {type(exc).__name__}: {exc}")
        return self._finish(item, Status.SENT, None, receipt=receipt)

    def _retry_or_give_up(self, item: OutboxItem, error: str, retry_after: timedelta | None) -> Transition:
        now = self.clock.now()
        at = self.config.retry.next_attempt(item.attempts, now, retry_after, self.rng)
        if at is None:
            return self._finish(item, Status.FAILED, f"gave up after {item.attempts} attempts: {error}")
        if item.not_after is not None and at > item.not_after:
            return self._finish(item, Status.SKIPPED, f"retry would be too late ({error})")
        return self._finish(item, Status.PENDING, error, next_attempt_at=at)

    def _finish(
        self,
        item: OutboxItem,
        state: Status,
        error: str | None,
        *,
        receipt: Receipt | None = None,
        next_attempt_at: datetime | None = None,
    ) -> Transition:
        now = self.clock.now()
        won = self.outbox.finish(
            item,
            state,
            now,
            error=error,
            remote_id=receipt.remote_id if receipt else None,
            remote_url=receipt.url if receipt else None,
            next_attempt_at=next_attempt_at,
        )
        if not won:
            error = f"{error or ''} (this worker's lease had expired; the row was decided elsewhere)".strip()
        return Transition(now, item, state, error, receipt.url if receipt else None)

    # -- the long-running loop -----------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        on_tick: Callable[[list[Transition]], None] | None = None,
        on_beat: Callable[[datetime], None] | None = None,
    ) -> None:
        """Serve until `stop` is set; finish the sends in progress, then return."""
        import schedule  # lazy: only the long-running commands need it

        beats = schedule.Scheduler()

        def beat() -> None:
            # schedule does not catch exceptions: one failure must not stop the heartbeat.
            try:
                transitions = self.tick()
                if on_tick is not None and transitions:
                    on_tick(transitions)
                if on_beat is not None:
                    on_beat(self.clock.now())
            except Exception:
                log.exception("heartbeat failed; trying again at the next beat")

        beats.every(self.config.heartbeat_seconds).seconds.do(beat)
        log.info("worker started", extra={"worker": self.worker_id})
        beat()
        while not stop.is_set():
            beats.run_pending()
            due = self._seconds_to_next_due()
            if due is not None and due <= 0:
                beat()
                continue
            idle = beats.idle_seconds
            wait = self.config.heartbeat_seconds if idle is None else max(idle, 0.0)
            if due is not None:
                wait = min(wait, due)
            stop.wait(wait)
        log.info("worker stopped", extra={"worker": self.worker_id})

    def _seconds_to_next_due(self) -> float | None:
        try:
            nxt = self.outbox.next_due()
        except Exception:
            log.exception("cannot read the next due time")
            return None
        return None if nxt is None else (nxt - self.clock.now()).total_seconds()


def simulate(worker: Worker, clock: VirtualClock, until: datetime) -> Iterator[Transition]:
    """Run the worker on a virtual clock that jumps from due time to due time until `until`."""
    until = utc(until)
    while clock.now() <= until:
        yield from worker.tick()
        nxt = worker.outbox.next_due()
        if nxt is None or nxt > until:
            return
        # Never stand still: rows held by another worker would otherwise spin us in place.
        clock.set(max(nxt, clock.now() + timedelta(microseconds=1)))


def _log_transition(t: Transition) -> None:
    level = logging.WARNING if t.state in (Status.FAILED, Status.UNCERTAIN) else logging.INFO
    log.log(
        level,
        "post %s",
        t.state.value,
        extra={
            "key": t.item.key,
            "channel": t.item.channel,
            "attempt": t.item.attempts,
            "remote_url": t.remote_url,
            "error": t.error,
        },
    )
