"""Hypothesis state machine: queue, tick, crash, restart in any order; posts never double, never vanish."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from channels.errors import TransientError
from distrib.models import Post, Receipt, Status
from distrib.store import Outbox, Store, plan_items
from distrib.worker import VirtualClock, Worker, WorkerConfig
from tests.conftest import NOW
from tests.fakes import planned

LEASE = timedelta(minutes=5)


class Platform:
    """Counts what was really published; an idempotent platform answers a repeated key with the original."""

    def __init__(self, name: str, idempotent: bool) -> None:
        self.name = name
        self.idempotent = idempotent
        self.published: Counter[str] = Counter()
        self.fail_next: Exception | None = None

    def send(self, post: Post) -> Receipt:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            if not (isinstance(error, TransientError) and error.maybe_sent):
                raise error
            self._publish(post.key)  # it got through, but the answer was lost
            raise error
        self._publish(post.key)
        return Receipt(post.key)

    def _publish(self, key: str) -> None:
        if not (self.idempotent and self.published[key]):
            self.published[key] += 1


class OutboxMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.store = Store(f"sqlite:///{self.dir}/s.sqlite3")
        self.outbox = Outbox(self.store)
        self.clock = VirtualClock(NOW)
        self.platforms = {"x": Platform("x", False), "mastodon": Platform("mastodon", True)}
        self.generation = 0
        self.queued: set[str] = set()
        self.worker = self._new_worker()

    def _new_worker(self) -> Worker:
        self.generation += 1
        return Worker(
            self.store, self.platforms, clock=self.clock, worker_id=f"w{self.generation}",
            config=WorkerConfig(lease=LEASE, batch=3), rng=random.Random(self.generation),
        )  # fmt: skip

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(count=st.integers(1, 4), channel=st.sampled_from(["x", "mastodon"]), minutes=st.integers(0, 90))
    def queue(self, count: int, channel: str, minutes: int) -> None:
        start = len(self.queued)
        keys = [f"{channel}:{start + n}" for n in range(count)]
        due = self.clock.now() + timedelta(minutes=minutes)
        with self.store.write() as conn:
            items = [planned(k, due, channel=channel, release_id=f"r{start}") for k in keys]
            plan_items(conn, f"r{start}", items, self.clock.now())
        self.queued.update(keys)

    @rule(minutes=st.integers(1, 120))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def tick(self) -> None:
        self.worker.tick()

    @rule(channel=st.sampled_from(["x", "mastodon"]), maybe_sent=st.booleans())
    def platform_fails_once(self, channel: str, maybe_sent: bool) -> None:
        self.platforms[channel].fail_next = TransientError("flaky", maybe_sent=maybe_sent)

    @rule(reached_platform=st.booleans())
    def crash_mid_send(self, reached_platform: bool) -> None:
        """The worker claims, commits its intent for the first row, maybe posts it, and dies."""
        claimed = self.outbox.claim(self.clock.now(), self.worker.worker_id, LEASE, 3)
        if claimed and self.outbox.begin_attempt(claimed[0], self.clock.now(), LEASE) and reached_platform:
            self.platforms[claimed[0].channel]._publish(claimed[0].key)
        self.worker = self._new_worker()  # restart

    @invariant()
    def never_published_twice(self) -> None:
        for platform in self.platforms.values():
            assert all(n == 1 for n in platform.published.values()), platform.published

    @invariant()
    def sent_rows_were_published(self) -> None:
        for item in self.outbox.items():
            if item.state == Status.SENT:
                assert self.platforms[item.channel].published[item.key] == 1

    def quiet_period(self) -> None:
        """Long after everything: every row is settled, and nothing was lost silently."""
        self.clock.advance(timedelta(days=30))
        for _ in range(5):
            self.worker.tick()
            self.clock.advance(timedelta(days=1))
        for item in self.outbox.items():
            assert item.state in (Status.SENT, Status.UNCERTAIN, Status.FAILED), item
            if item.state == Status.UNCERTAIN:
                assert item.channel == "x"  # only the channel without idempotency needs a human


class QuietAtTheEnd(OutboxMachine):
    def teardown(self) -> None:
        try:
            self.quiet_period()
        finally:
            super().teardown()


QuietAtTheEnd.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_outbox_state_machine = QuietAtTheEnd.TestCase
