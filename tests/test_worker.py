"""The worker's promise: each post once, on time, or reported — never twice, never silently lost."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest

from channels.errors import DuplicateError, PermanentError, TransientError
from distrib.models import OutboxItem, Status
from distrib.retry import RetryPolicy
from distrib.store import Outbox, Store, plan_items
from distrib.worker import VirtualClock, Worker, WorkerConfig, simulate
from tests.conftest import NOW
from tests.fakes import FakeChannel, planned


def plan(store: Store, *items: object) -> None:
    with store.write() as conn:
        plan_items(conn, "r1", list(items), NOW)  # type: ignore[arg-type]


def worker(store: Store, clock: VirtualClock, *channels: FakeChannel, worker_id: str = "w1") -> Worker:
    return Worker(
        store, {c.name: c for c in channels}, clock=clock, worker_id=worker_id, rng=random.Random(7)
    )


def die_mid_send(store: Store, *keys: str, lease: timedelta = timedelta(minutes=5)) -> list[OutboxItem]:
    """A worker claims rows and commits its intent to send them, then dies without an answer."""
    outbox = Outbox(store)
    claimed = outbox.claim(NOW, "dead-worker", lease)
    for item in claimed:
        if item.key in keys:
            assert outbox.begin_attempt(item, NOW, lease)
    return [i for i in claimed if i.key in keys]


def states(store: Store) -> dict[str, str]:
    return {i.key: i.state.value for i in Outbox(store).items()}


def test_due_post_goes_out_once_with_its_receipt_and_audit_row(store: Store) -> None:
    clock = VirtualClock(NOW)
    fake = FakeChannel()
    plan(store, planned("a", NOW), planned("b", NOW + timedelta(hours=1)))
    w = worker(store, clock, fake)
    first = w.tick()
    assert [(t.item.key, t.state) for t in first] == [("a", Status.SENT)]
    assert w.tick() == []  # nothing else due yet; "a" is never sent again
    item = Outbox(store).item("a")
    assert item is not None
    assert (item.state, item.remote_id, item.remote_url, item.sent_at) == (
        Status.SENT, "fake-1", "https://fake.example/p/1", NOW,
    )  # fmt: skip
    (delivery,) = Outbox(store).deliveries("a")
    assert (delivery.outcome, delivery.worker_id, delivery.attempt, delivery.release_hash) == (
        "sent",
        "w1",
        1,
        "h1",
    )
    assert [p.key for p in fake.posted] == ["a"]


def test_transient_error_retries_later_honouring_retry_after(store: Store) -> None:
    clock = VirtualClock(NOW)
    fake = FakeChannel(script=[TransientError("429 too many", retry_after=timedelta(minutes=20))])
    plan(store, planned("a", NOW))
    w = worker(store, clock, fake)
    (t,) = w.tick()
    item = Outbox(store).item("a")
    assert item is not None
    assert (t.state, item.state, item.next_attempt_at) == (
        Status.PENDING,
        Status.PENDING,
        NOW + timedelta(minutes=20),
    )
    clock.advance(timedelta(minutes=19))
    assert w.tick() == []
    clock.advance(timedelta(minutes=1))
    assert [t.state for t in w.tick()] == [Status.SENT]
    assert [d.outcome for d in Outbox(store).deliveries("a")] == ["pending", "sent"]


def test_backoff_grows_and_gives_up_after_max_attempts(store: Store) -> None:
    clock = VirtualClock(NOW)
    fake = FakeChannel(script=[TransientError("503") for _ in range(3)])
    plan(store, planned("a", NOW))
    config = WorkerConfig(retry=RetryPolicy(max_attempts=3))
    w = Worker(store, {"fake": fake}, clock=clock, worker_id="w1", rng=random.Random(1), config=config)
    waits = []
    for _ in range(3):
        (t,) = w.tick()
        item = Outbox(store).item("a")
        assert item is not None
        if t.state == Status.PENDING:
            waits.append(item.next_attempt_at - clock.now())
            clock.set(item.next_attempt_at)
    assert t.state == Status.FAILED
    assert t.error is not None
    assert t.error.startswith("gave up after 3 attempts: 503")
    assert waits[0] < waits[1]


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (TransientError("connection refused"), False, Status.PENDING),
        (TransientError("read timeout after sending", maybe_sent=True), False, Status.UNCERTAIN),
        (TransientError("read timeout after sending", maybe_sent=True), True, Status.PENDING),
        (PermanentError("401 unauthorized"), False, Status.FAILED),
        (DuplicateError("403 duplicate content"), False, Status.FAILED),
        (RuntimeError("bug in a channel"), False, Status.UNCERTAIN),
        (RuntimeError("bug in a channel"), True, Status.PENDING),
    ],
)
def test_error_classification(store: Store, error: Exception, idempotent: bool, expected: Status) -> None:
    clock = VirtualClock(NOW)
    plan(store, planned("a", NOW))
    (t,) = worker(store, clock, FakeChannel(idempotent=idempotent, script=[error])).tick()
    assert t.state == expected
    assert states(store) == {"a": expected.value}


def test_reminder_past_its_grace_is_skipped_never_sent(store: Store) -> None:
    clock = VirtualClock(NOW + timedelta(hours=2))
    fake = FakeChannel()
    plan(store, planned("late", NOW, not_after=NOW + timedelta(minutes=15)), planned("ok", NOW))
    result = {t.item.key: t for t in worker(store, clock, fake).tick()}
    assert result["late"].state == Status.SKIPPED
    assert result["late"].error is not None
    assert result["late"].error.startswith(
        "missed: due 2020-02-24T07:55:00Z, not sent before 2020-02-24T08:10:00Z"
    )
    assert result["ok"].state == Status.SENT  # an announcement goes out late, once
    assert [p.key for p in fake.posted] == ["ok"]


def test_crash_mid_send_becomes_uncertain_unless_idempotent(store: Store) -> None:
    clock = VirtualClock(NOW)
    plan(store, planned("x1", NOW, channel="x"), planned("m1", NOW, channel="mastodon"))
    crashed = die_mid_send(store, "x1", "m1")
    assert {i.key for i in crashed} == {"x1", "m1"}  # intent committed, request sent, process died
    x, mastodon = FakeChannel("x"), FakeChannel("mastodon", idempotent=True)
    w = worker(store, clock, x, mastodon, worker_id="w2")
    assert w.tick() == []  # leases still valid: nobody touches them
    clock.advance(timedelta(minutes=5, seconds=1))
    result = {(t.item.key, t.state) for t in w.tick()}
    assert ("x1", Status.UNCERTAIN) in result
    assert ("m1", Status.SENT) in result  # idempotent: retried with the same key
    assert x.posted == []
    assert [d.outcome for d in Outbox(store).deliveries("x1")] == ["lost"]


def test_late_finish_of_a_lost_lease_cannot_overwrite_but_truth_settles_uncertain(store: Store) -> None:
    plan(store, planned("a", NOW))
    outbox = Outbox(store)
    (claimed,) = die_mid_send(store, "a", lease=timedelta(minutes=1))
    outbox.sweep(NOW + timedelta(minutes=2), lambda _: False)
    assert states(store) == {"a": "uncertain"}
    assert not outbox.finish(claimed, Status.FAILED, NOW, error="too late to say")
    assert states(store) == {"a": "uncertain"}
    assert outbox.finish(claimed, Status.SENT, NOW, remote_id="r", remote_url="u")  # it did go out
    assert states(store) == {"a": "sent"}


def test_operator_resolves_uncertain_posts(store: Store) -> None:
    plan(store, planned("a", NOW), planned("b", NOW))
    outbox = Outbox(store)
    die_mid_send(store, "a", "b", lease=timedelta(minutes=1))
    outbox.sweep(NOW + timedelta(minutes=2), lambda _: False)
    assert outbox.resolve("a", sent=True, now=NOW).state == Status.SENT
    resent = outbox.resolve("b", sent=False, now=NOW + timedelta(minutes=3))
    assert (resent.state, resent.next_attempt_at) == (Status.PENDING, NOW + timedelta(minutes=3))
    with pytest.raises(ValueError, match="only uncertain or failed"):
        outbox.resolve("a", sent=False, now=NOW)
    with pytest.raises(KeyError):
        outbox.resolve("nope", sent=True, now=NOW)


def test_fan_out_is_concurrent_across_channels_and_ordered_within_one(store: Store) -> None:
    clock = VirtualClock(NOW)
    barrier = threading.Barrier(3)
    channels = [FakeChannel(name, barrier=barrier) for name in ("x", "telegram", "mastodon")]
    items = [
        planned(f"{c.name}-{n}", NOW + timedelta(seconds=n), channel=c.name)
        for c in channels
        for n in range(3)
    ]
    plan(store, *items)
    clock.advance(timedelta(seconds=3))
    # Each channel's first send waits at the barrier for the other two: only a concurrent fan-out passes.
    result = worker(store, clock, *channels).tick()
    assert {t.state for t in result} == {Status.SENT}
    for channel in channels:
        assert [p.key for p in channel.posted] == [f"{channel.name}-{n}" for n in range(3)]


def test_unconfigured_channel_fails_with_a_reason(store: Store) -> None:
    plan(store, planned("a", NOW, channel="telegram"))
    (t,) = worker(store, VirtualClock(NOW), FakeChannel("x")).tick()
    assert (t.state, t.error) == (Status.FAILED, "channel 'telegram' is not configured here")


def test_simulation_jumps_from_due_time_to_due_time(store: Store) -> None:
    fake = FakeChannel()
    plan(
        store,
        planned("a", NOW),
        planned("b", NOW + timedelta(days=2)),
        planned("c", NOW + timedelta(days=30)),
    )
    clock = VirtualClock(NOW - timedelta(hours=1))
    seen = [(t.item.key, t.at) for t in simulate(worker(store, clock, fake), clock, NOW + timedelta(days=3))]
    assert seen == [("a", NOW), ("b", NOW + timedelta(days=2))]
    assert states(store)["c"] == "pending"


def test_replanning_replaces_unsent_and_keeps_sent(store: Store) -> None:
    plan(
        store, planned("a", NOW), planned("b", NOW + timedelta(days=1)), planned("c", NOW + timedelta(days=2))
    )
    worker(store, VirtualClock(NOW), FakeChannel()).tick()
    with store.write() as conn:
        change = plan_items(
            conn,
            "r1",
            [planned("a", NOW, text="changed"), planned("b", NOW + timedelta(days=1, hours=1))],
            NOW,
        )
    assert (change.inserted, change.updated, change.kept, change.withdrawn) == (0, 1, 1, 1)
    assert states(store) == {"a": "sent", "b": "pending", "c": "cancelled"}
    item = Outbox(store).item("a")
    assert item is not None
    assert item.post.parts[0].text == "hello"  # what went out stays on record


def test_claimed_but_never_attempted_rows_return_to_pending_even_on_x(store: Store) -> None:
    plan(store, planned("tried", NOW, channel="x"), planned("untouched", NOW, channel="x"))
    die_mid_send(store, "tried")
    swept = {t.item.key: t.state for t in Outbox(store).sweep(NOW + timedelta(hours=1), lambda _: False)}
    assert swept == {"tried": Status.UNCERTAIN, "untouched": Status.PENDING}


def test_a_worker_whose_claim_was_swept_does_not_send(store: Store) -> None:
    plan(store, planned("a", NOW))
    outbox = Outbox(store)
    (stale,) = outbox.claim(NOW, "paused-worker", timedelta(minutes=1))
    outbox.sweep(NOW + timedelta(minutes=2), lambda _: False)  # never attempted: back to pending
    assert not outbox.begin_attempt(stale, NOW + timedelta(minutes=3), timedelta(minutes=1))
