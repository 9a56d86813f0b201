"""X and Telegram end to end: ExoMars through the worker to both fakes; `distrib channels [check]`."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace

import pytest

from channels.x import XChannel, XCredentials
from distrib.cli import main
from distrib.models import PostPart, Status
from distrib.store import Outbox, Store, plan_items
from distrib.worker import VirtualClock, Worker
from tests import fake_telegram, fake_x
from tests.conftest import EXAMPLE, NOW, sqlite_url
from tests.fake_telegram import FakeTelegram, html_problem
from tests.fake_x import FakeX, Reply
from tests.fakes import planned


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeX, FakeTelegram]]:
    with fake_x.running(FakeX()) as x, fake_telegram.running(FakeTelegram()) as tg:
        for name, value in {
            "X_API_KEY": "ck", "X_API_SECRET": "cs", "X_ACCESS_TOKEN": "at", "X_ACCESS_TOKEN_SECRET": "ats",
            "X_API_BASE_URL": x.url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_CHAT_ID": "@esa_news",
            "TELEGRAM_API_BASE_URL": tg.base_url,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield x, tg


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_exomars_campaign_reaches_x_and_telegram(
    fakes: tuple[FakeX, FakeTelegram], capsys: pytest.CaptureFixture[str]
) -> None:
    x, tg = fakes
    assert run(capsys, "queue", str(EXAMPLE))[0] == 0
    code, out, _ = run(capsys, "run", "--simulate", "2020-02-24", "2020-03-13", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {(line["channel"], line["state"]) for line in lines} == {("x", "sent"), ("telegram", "sent")}
    kinds = [line["kind"] for line in lines if line["channel"] == "x"]
    assert kinds[0] == "announcement"
    assert "deadline-reminder" in kinds
    assert "event-reminder" in kinds
    assert kinds == [line["kind"] for line in lines if line["channel"] == "telegram"]

    # Every post went out once, threads replying to their first part, each first part tagged.
    firsts = [t for t in x.tweets if "reply" not in t]
    assert len(firsts) == len(kinds)
    assert all("@ESA_ExoMars" in t["text"] and "#ExoMars" in t["text"] for t in firsts)
    assert "Call for Media: ESA and Roscosmos to discuss ExoMars plans" in firsts[0]["text"]
    assert "14:00–15:00 MSK (12:00–13:00 CET)" in firsts[0]["text"]

    assert len(tg.messages) == len(kinds)
    for message in tg.messages:
        fields = message["fields"]
        assert fields["parse_mode"] == "HTML"
        assert fields["chat_id"] == "@esa_news"
        assert html_problem(fields["text"]) is None
        assert "@ESA_ExoMars" in fields["text"]
        assert "#ExoMars" in fields["text"]
    assert (
        "<b>Call for Media: ESA and Roscosmos to discuss ExoMars plans</b>"
        in tg.messages[0]["fields"]["text"]
    )

    code, out, _ = run(capsys, "status", "--json")
    urls = {
        row["channel"]: row["remote_url"]
        for row in json.loads(out)["outbox"]
        if row["kind"] == "announcement"
    }
    assert urls["x"] == f"https://x.com/i/web/status/{firsts[0]['id']}"
    assert urls["telegram"] == "https://t.me/esa_news/1"


def test_a_broken_thread_becomes_uncertain_and_is_not_reposted(fakes: tuple[FakeX, FakeTelegram]) -> None:
    x, _ = fakes
    store = Store(sqlite_url_for_test())
    try:
        item = planned("r1:announcement:x", NOW, channel="x", text="one")
        parts = (PostPart("one", 3, 280), PostPart("two", 3, 280))
        item = replace(item, post=replace(item.post, parts=parts))
        with store.write() as conn:
            plan_items(conn, "r1", [item], NOW)
        x.on("POST /2/tweets", None, Reply(503, {"title": "Service Unavailable"}))
        channel = XChannel(credentials=XCredentials("ck", "cs", "at", "ats"), base_url=x.url, timeout=0.5)
        worker = Worker(store, {"x": channel}, clock=VirtualClock(NOW), rng=random.Random(1))
        (transition,) = worker.tick()
        assert transition.state == Status.UNCERTAIN
        assert "part 1 of 2 is out" in (transition.error or "")
        assert worker.tick() == []  # nothing is retried on its own
        assert len(x.tweets) == 1
        (row,) = Outbox(store).items()
        assert row.state == Status.UNCERTAIN
    finally:
        store.close()


def sqlite_url_for_test() -> str:
    from pathlib import Path

    return sqlite_url(Path.cwd())


def test_channels_lists_every_channel_with_what_is_missing(
    fakes: tuple[FakeX, FakeTelegram], capsys: pytest.CaptureFixture[str]
) -> None:
    _x, tg = fakes
    code, out, err = run(capsys, "channels")
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "enabled" in rows["x"]
    assert "OAuth 1.0a user context" in rows["x"]
    assert "enabled" in rows["telegram"]
    assert "chat @esa_news" in rows["telegram"]
    assert "not configured" in rows["mastodon"]
    assert "MASTODON_ACCESS_TOKEN" in rows["mastodon"]
    assert "not configured" in rows["outbox-dir"]
    assert out.rstrip().endswith("enabled: x, telegram")
    assert tg.token not in out
    assert "ats" not in out.split()


def test_channels_check_calls_each_harmless_verification(
    fakes: tuple[FakeX, FakeTelegram], capsys: pytest.CaptureFixture[str]
) -> None:
    x, tg = fakes
    code, out, _ = run(capsys, "channels", "check")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert code == 0
    assert lines[0].startswith("x ok authenticated as @esa (id 2244994945; OAuth 1.0a user context")
    assert lines[1].startswith("telegram ok authenticated as @distrib_bot (id 123456789; chat @esa_news")
    assert out.rstrip().endswith("all 2 ok")
    assert len(x.requests_to("GET /2/users/me")) == 1
    assert [c.method for c in tg.calls] == ["getMe"]
    assert x.tweets == []
    assert tg.messages == []

    x.on("GET /2/users/me", Reply(401, fake_x.UNAUTHORIZED))
    code, out, _ = run(capsys, "channels", "check")
    assert code == 1
    assert " ".join(out.split()).startswith("x FAILED x rejected the credentials: 401 Unauthorized")
    assert out.rstrip().endswith("1 of 2 failed")


def test_channels_check_with_nothing_configured_checks_the_outbox_dir(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "channels", "check")
    assert code == 0
    assert " ".join(out.split()).startswith("outbox-dir ok ")
    assert "is writable" in out


def test_channels_takes_only_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["channels", "verify"])
    assert caught.value.code == 2
