"""The timeline: announcement at published, reminders before deadlines and events, none before the embargo."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from distrib.errors import ConfigError
from distrib.models import PostKind, Release
from distrib.plan import ReminderPolicy, format_offset, parse_offsets, timeline


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_exomars_timeline(exomars: Release) -> None:
    got = [
        (p.kind.value, p.target, format_offset(p.offset) if p.offset else "0", p.due, p.not_after)
        for p in timeline(exomars)
    ]
    assert got == [
        ("announcement", exomars.id, "0", _utc(2020, 2, 24, 8), None),
        ("deadline-reminder", "accreditation", "3d", _utc(2020, 2, 25, 23), _utc(2020, 2, 26, 0)),
        ("deadline-reminder", "accreditation", "1d", _utc(2020, 2, 27, 23), _utc(2020, 2, 28, 0)),
        ("deadline-reminder", "accreditation", "3h", _utc(2020, 2, 28, 20), _utc(2020, 2, 28, 20, 45)),
        ("event-reminder", "briefing", "1d", _utc(2020, 3, 11, 11), _utc(2020, 3, 11, 12)),
        ("event-reminder", "briefing", "1h", _utc(2020, 3, 12, 10), _utc(2020, 3, 12, 10, 15)),
        ("event-reminder", "briefing", "10m", _utc(2020, 3, 12, 10, 50), _utc(2020, 3, 12, 10, 52, 30)),
    ]
    assert not any(p.skipped for p in timeline(exomars))


def test_live_now_only_with_a_stream(exomars: Release) -> None:
    streamed = dataclasses.replace(
        exomars, events=(dataclasses.replace(exomars.events[0], stream_url="https://esa.int/live"),)
    )
    live = [p for p in timeline(streamed) if p.kind is PostKind.LIVE_NOW]
    assert [(p.due, p.not_after) for p in live] == [(_utc(2020, 3, 12, 11), _utc(2020, 3, 12, 12))]
    assert not any(p.kind is PostKind.LIVE_NOW for p in timeline(streamed, ReminderPolicy(live_now=False)))


def test_reminders_never_leak_before_the_embargo(exomars: Release) -> None:
    late_release = dataclasses.replace(exomars, published=_utc(2020, 2, 28, 12))
    items = {(p.target, format_offset(p.offset)): p for p in timeline(late_release) if p.offset}
    assert items[("accreditation", "3d")].skip_reason is not None
    assert "embargo" in (items[("accreditation", "1d")].skip_reason or "")
    assert items[("accreditation", "3h")].skip_reason is None


def test_now_marks_a_late_announcement_and_skips_missed_reminders(exomars: Release) -> None:
    now = _utc(2020, 2, 26, 0, 30)  # 90 minutes after the 3-day reminder; its grace is 1 hour
    items = timeline(exomars, now=now)
    assert items[0].late
    assert not items[0].skipped
    assert items[1].skip_reason == "missed: more than its grace late"
    assert not items[2].skipped


def test_grace_is_a_quarter_of_the_lead_time_at_most_an_hour() -> None:
    policy = ReminderPolicy()
    assert policy.grace(timedelta(minutes=10)) == timedelta(minutes=2, seconds=30)
    assert policy.grace(timedelta(days=3)) == timedelta(hours=1)


def test_policy_from_settings() -> None:
    policy = ReminderPolicy.from_env(
        {"DISTRIB_DEADLINE_REMINDERS": "1w, 2d", "DISTRIB_EVENT_REMINDERS": "none"}
    )
    assert policy.deadline_offsets == (timedelta(weeks=1), timedelta(days=2))
    assert policy.event_offsets == ()
    assert ReminderPolicy.from_env({}) == ReminderPolicy()


@pytest.mark.parametrize("bad", ["3x", "0h", "d", "1.5h", "-1d"])
def test_bad_offsets_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="DISTRIB_EVENT_REMINDERS"):
        parse_offsets(bad, "DISTRIB_EVENT_REMINDERS")
