"""Queueing plans the outbox: the ExoMars timeline, re-queues that move things, cancellation, outages."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from distrib.config import Settings
from distrib.models import PostKind, Release, Status
from distrib.plan import ReminderPolicy
from distrib.planner import Planner
from distrib.render import Renderer
from distrib.store import Outbox, Store
from distrib.worker import VirtualClock, Worker, simulate
from tests.fakes import FakeChannel

START = datetime(2020, 2, 24, tzinfo=UTC)
UNTIL = datetime(2020, 3, 13, tzinfo=UTC)

EXOMARS_TIMELINE = [
    ("announcement", "esa-2020-05-exomars-call-for-media", "2020-02-24 08:00"),
    ("deadline-reminder", "accreditation", "2020-02-25 23:00"),  # 3 days before the end of 28 Feb, Paris
    ("deadline-reminder", "accreditation", "2020-02-27 23:00"),
    ("deadline-reminder", "accreditation", "2020-02-28 20:00"),
    ("event-reminder", "briefing", "2020-03-11 11:00"),  # 1 day before 14:00 MSK = 11:00 UTC
    ("event-reminder", "briefing", "2020-03-12 10:00"),
    ("event-reminder", "briefing", "2020-03-12 10:50"),
]


def planner(*names: str) -> Planner:
    return Planner(Renderer(), ReminderPolicy(), names or ("x", "mastodon"), Settings())


def queue(store: Store, release: Release, now: datetime, p: Planner | None = None) -> None:
    store.queue(release, "f.md", "text", now, hook=(p or planner()).on_queued)


def channels() -> dict[str, FakeChannel]:
    return {"x": FakeChannel("x"), "mastodon": FakeChannel("mastodon", idempotent=True)}


def run_until(
    store: Store, fakes: dict[str, FakeChannel], start: datetime, until: datetime
) -> list[tuple[str, str, str, str]]:
    clock = VirtualClock(start)
    worker = Worker(store, fakes, clock=clock, worker_id="w")
    return [
        (t.item.kind.value, t.item.target, f"{t.at:%Y-%m-%d %H:%M}", t.state.value)
        for t in simulate(worker, clock, until)
    ]


def test_exomars_timeline_in_utc_on_every_channel(store: Store, exomars: Release) -> None:
    queue(store, exomars, START)
    fakes = channels()
    outcomes = run_until(store, fakes, START, UNTIL)
    sent = sorted({(k, t, at) for (k, t, at, s) in outcomes if s == "sent"}, key=lambda r: r[2])
    assert sent == EXOMARS_TIMELINE
    for fake in fakes.values():
        assert len(fake.posted) == 7
        assert all("@ESA_ExoMars" in p.text and "#ExoMars" in p.text for p in fake.posted)
    announcement = fakes["x"].posted[0]
    assert "14:00–15:00 MSK (12:00–13:00 CET)" in announcement.text


def test_requeue_moving_the_briefing_sends_an_update_and_fresh_reminders(
    store: Store, exomars: Release
) -> None:
    queue(store, exomars, START)
    fakes = channels()
    run_until(
        store, fakes, START, datetime(2020, 3, 1, tzinfo=UTC)
    )  # announcement and deadline reminders out
    briefing = exomars.events[0]
    assert briefing.end is not None
    day_later = dataclasses.replace(
        briefing, start=briefing.start + timedelta(days=1), end=briefing.end + timedelta(days=1)
    )
    moved = dataclasses.replace(exomars, events=(day_later,))
    queue(store, moved, datetime(2020, 3, 2, 9, tzinfo=UTC))
    outcomes = run_until(store, fakes, datetime(2020, 3, 2, 9, tzinfo=UTC), datetime(2020, 3, 20, tzinfo=UTC))
    sent = [(k, at) for (k, _t, at, s) in outcomes if s == "sent"]
    assert ("update", "2020-03-02 09:00") in sent
    assert ("event-reminder", "2020-03-12 11:00") in sent  # 1 day before the new time, 13 March 11:00 UTC
    assert ("event-reminder", "2020-03-11 11:00") not in sent  # the old time's reminders were withdrawn
    update = next(p for p in fakes["x"].posted if p.kind == PostKind.UPDATE)
    assert "Fri 13 March" in update.text
    assert "Thu 12 March" in update.text  # what it was
    states = {i.key: i.state for i in Outbox(store).items()}
    assert sum(s == Status.SENT for s in states.values()) == len(fakes["x"].posted) + len(
        fakes["mastodon"].posted
    )


def test_change_before_the_announcement_needs_no_update(store: Store, exomars: Release) -> None:
    queue(store, exomars, START)
    queue(
        store,
        dataclasses.replace(exomars, title="Call for Media: ExoMars (corrected)"),
        START + timedelta(hours=1),
    )
    fakes = channels()
    run_until(store, fakes, START, UNTIL)
    assert [p.kind for p in fakes["x"].posted].count(PostKind.UPDATE) == 0
    assert fakes["x"].posted[0].text.startswith("Call for Media: ExoMars (corrected)")


def test_cancel_takes_back_what_went_out_and_withdraws_the_rest(store: Store, exomars: Release) -> None:
    queue(store, exomars, START)
    fakes = channels()
    run_until(store, fakes, START, datetime(2020, 2, 26, tzinfo=UTC))
    now = datetime(2020, 2, 26, 12, tzinfo=UTC)
    store.cancel(exomars.id, "Postponed to a later date", now, hook=planner().on_cancelled)
    outcomes = run_until(store, fakes, now, UNTIL)
    assert [(k, s) for (k, _t, _at, s) in outcomes] == [("cancellation", "sent")] * 2
    cancellation = fakes["x"].posted[-1]
    assert cancellation.kind == PostKind.CANCELLATION
    assert "Postponed to a later date" in cancellation.text
    states = [i.state for i in Outbox(store).items() if i.kind == PostKind.EVENT_REMINDER]
    assert set(states) == {Status.CANCELLED}


def test_cancel_before_publication_posts_nothing(store: Store, exomars: Release) -> None:
    queue(store, exomars, START)
    store.cancel(exomars.id, None, START + timedelta(hours=1), hook=planner().on_cancelled)
    fakes = channels()
    assert run_until(store, fakes, START, UNTIL) == []
    assert fakes["x"].posted == []


def test_reminders_before_the_embargo_lifts_are_skipped_with_the_reason(
    store: Store, exomars: Release
) -> None:
    late_release = dataclasses.replace(exomars, published=datetime(2020, 2, 27, 8, tzinfo=UTC))
    queue(store, late_release, START)
    skipped = {i.key: i.error for i in Outbox(store).items() if i.state == Status.SKIPPED}
    assert len(skipped) == 2  # the 3-day deadline reminder on both channels
    assert all("embargo" in (e or "") for e in skipped.values())


@pytest.mark.parametrize("outage", [timedelta(minutes=5), timedelta(hours=3), timedelta(hours=30)], ids=str)
def test_restart_after_an_outage_around_each_due_time(
    tmp_path: object, exomars: Release, outage: timedelta
) -> None:
    """Down from just before each due time for `outage`: the announcement goes out once (late if need
    be); a reminder goes out once if still within its grace, else it is skipped; none after its moment."""
    from tests.conftest import sqlite_url

    for index, (_kind, _target, due_text) in enumerate(EXOMARS_TIMELINE):
        due = datetime.fromisoformat(due_text).replace(tzinfo=UTC)
        store = Store(sqlite_url(tmp_path / f"{index}"))  # type: ignore[operator]
        queue(store, exomars, START, planner("x"))
        fake = FakeChannel("x")
        before = run_until(store, {"x": fake}, START, due - timedelta(seconds=1))
        after = run_until(store, {"x": fake}, due + outage, max(UNTIL, due + outage + timedelta(days=1)))
        items = {i.key: i for i in Outbox(store).items()}
        store.close()
        keys = [p.key for p in fake.posted]
        assert len(keys) == len(set(keys)), "a post went out twice"
        assert any(k.startswith(f"{exomars.id}:announcement") for k in keys)
        for item in items.values():
            assert item.state in (Status.SENT, Status.SKIPPED), item
            if item.state == Status.SENT and item.not_after is not None:
                assert item.sent_at is not None
                assert item.sent_at <= item.not_after
        late = [o for o in after if o[2] == f"{due + outage:%Y-%m-%d %H:%M}"]
        if index == 0:
            assert ("announcement", exomars.id, f"{due + outage:%Y-%m-%d %H:%M}", "sent") in late
        assert len(before) == index


def test_requeue_after_cancel_brings_the_reminders_back_and_says_so(store: Store, exomars: Release) -> None:
    queue(store, exomars, START)
    fakes = channels()
    run_until(store, fakes, START, datetime(2020, 2, 26, tzinfo=UTC))  # announced, first reminder out
    store.cancel(exomars.id, "Postponed", datetime(2020, 2, 26, 12, tzinfo=UTC), hook=planner().on_cancelled)
    run_until(store, fakes, datetime(2020, 2, 26, 12, tzinfo=UTC), datetime(2020, 2, 27, tzinfo=UTC))
    queue(store, exomars, datetime(2020, 2, 27, 9, tzinfo=UTC))  # called on again, same content
    outcomes = run_until(store, fakes, datetime(2020, 2, 27, 9, tzinfo=UTC), UNTIL)
    sent = [(k, at) for (k, _t, at, s) in outcomes if s == "sent"]
    assert sent[0] == ("update", "2020-02-27 09:00")  # "going ahead" where the cancellation went out
    assert ("deadline-reminder", "2020-02-27 23:00") in sent
    assert ("event-reminder", "2020-03-12 10:50") in sent
    assert "going ahead" in next(p for p in fakes["x"].posted if p.kind == PostKind.UPDATE).text


def test_requeue_unchanged_plans_a_newly_configured_channel_only(store: Store, exomars: Release) -> None:
    queue(store, exomars, START, planner("x"))
    fakes = channels()
    run_until(store, {"x": fakes["x"]}, START, datetime(2020, 2, 26, 6, tzinfo=UTC))
    result = store.queue(
        exomars, "f.md", "text", datetime(2020, 2, 26, 6, tzinfo=UTC), hook=planner("x", "mastodon").on_queued
    )
    assert result.outcome == "unchanged"
    by_channel: dict[str, list[str]] = {}
    for item in Outbox(store).items():
        by_channel.setdefault(item.channel, []).append(item.state.value)
    assert by_channel["x"].count("sent") == 2  # what went out on X stays, and is not planned again
    assert len(by_channel["mastodon"]) == 7
    outcomes = run_until(store, fakes, datetime(2020, 2, 26, 6, tzinfo=UTC), UNTIL)
    mastodon = [(k, s) for (k, _t, _at, s) in outcomes if s == "sent"]
    assert len(fakes["x"].posted) == 7  # X: no post twice
    assert ("announcement", "sent") in mastodon  # late on the new channel, once
    assert (
        len(fakes["mastodon"].posted) == 6
    )  # announcement + the 5 reminders still ahead; the 3-day one is past
    unchanged_again = store.queue(exomars, "f.md", "text", UNTIL, hook=planner("x", "mastodon").on_queued)
    assert unchanged_again.outcome == "unchanged"
