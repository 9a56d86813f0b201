"""Test S1: with every secret set to a canary, sends, errors and checks at DEBUG never show one."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from channels.errors import ChannelError
from channels.telegram import TelegramChannel
from channels.x import XChannel
from distrib.cli import main
from distrib.config import Settings
from distrib.models import Post, PostKind, PostPart
from tests import fake_telegram, fake_x
from tests.fake_telegram import FakeTelegram
from tests.fake_x import HANG, FakeX, Reply

TELEGRAM_TOKEN = "987654321:AAcanaryTELEGRAMtoken_0123456789abcdef"
OAUTH2_TOKEN = "canary-x-oauth2-user-token-5f3a"
CANARIES = {  # every secret setting distrib reads
    "X_API_KEY": "canary-x-api-key-1b7e",
    "X_API_SECRET": "canary-x-api-secret-9c2d",
    "X_ACCESS_TOKEN": "canary-x-access-token-4e8f",
    "X_ACCESS_TOKEN_SECRET": "canary-x-access-token-secret-7a1c",
    "X_OAUTH2_USER_TOKEN": OAUTH2_TOKEN,
    "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
    "MASTODON_ACCESS_TOKEN": "canary-mastodon-token-2d6b",
    "BLUESKY_APP_PASSWORD": "canary-bluesky-app-password-8e3f",
    "WEBHOOK_SECRET": "whsec_canaryWEBHOOKsecret0123",
    "SMTP_PASSWORD": "canary-smtp-password-6c9a",
}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeX, FakeTelegram]]:
    with fake_x.running(FakeX()) as x, fake_telegram.running(FakeTelegram(TELEGRAM_TOKEN)) as tg:
        for name, value in CANARIES.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("X_API_BASE_URL", x.url)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", tg.base_url)
        monkeypatch.setenv("TELEGRAM_CHAT_ID", "@esa_news")
        yield x, tg


def post(channel: str, *texts: str, image: str | None = None) -> Post:
    parts = tuple(PostPart(t, len(t), 280) for t in texts)
    return Post(channel, PostKind.ANNOUNCEMENT, "r1", "r1", parts, key=f"r1:{channel}", link="https://esa.int/n5",
                image=image)  # fmt: skip


def exercise(x: XChannel, tg: TelegramChannel, fx: FakeX, ftg: FakeTelegram) -> list[str]:
    """Every path that touches a credential; returns what the raised errors say (str and repr)."""
    said: list[str] = [repr(x), repr(tg), repr(x.credentials), x.describe(), tg.describe()]
    said += [x.check(), tg.check()]
    said.append(repr(x.send(post("x", "one", "two", image=f"{fx.url}/img/lead.png"))))
    said.append(repr(tg.send(post("telegram", "<b>one</b>"))))
    said.append(repr(tg.send(post("telegram", "<b>photo</b>", image="https://esa.int/a.jpg"))))
    for reply in (
        Reply(401, fake_x.UNAUTHORIZED), Reply(403, fake_x.DUPLICATE), Reply(429, fake_x.TOO_MANY),
        Reply(500, fake_x.SERVER_ERROR), HANG,
    ):  # fmt: skip
        fx.on("POST /2/tweets", reply)
        said += raised(lambda: x.send(post("x", "again")))
    fx.on("POST /2/tweets", None, Reply(400, fake_x.BAD_REQUEST))
    said += raised(lambda: x.send(post("x", "a", "b")))
    for body in (
        fake_telegram.FLOOD, fake_telegram.CANT_PARSE, fake_telegram.NOT_MEMBER, fake_telegram.MIGRATED,
        fake_telegram.SERVER_ERROR, HANG,
    ):  # fmt: skip
        ftg.on("sendMessage", body)
        said += raised(lambda: tg.send(post("telegram", "<b>x</b>")))
    wrong = TelegramChannel(token=TELEGRAM_TOKEN + "0", chat_id="@c", base_url=ftg.base_url, timeout=0.5)
    said += raised(wrong.check)
    said += raised(lambda: wrong.send(post("telegram", "x")))
    return said


def raised(call: object) -> list[str]:
    try:
        call()  # type: ignore[operator]
    except ChannelError as exc:
        cause = exc.__cause__ or exc.__context__
        return [str(exc), repr(exc), repr(exc.args), repr(cause) if cause else ""]
    raise AssertionError("expected a ChannelError")


@pytest.mark.parametrize("oauth", ["oauth1", "oauth2"])
def test_no_canary_in_logs_errors_or_reprs(
    fakes: tuple[FakeX, FakeTelegram],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    oauth: str,
) -> None:
    fx, ftg = fakes
    if oauth == "oauth2":
        for name in ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
            monkeypatch.delenv(name)
    caplog.set_level(logging.DEBUG)  # the root at DEBUG, raw records: no formatter masks anything here
    settings = Settings.from_env(dict(os.environ))
    x = XChannel.from_settings(settings)
    x.timeout = 0.5
    x.allow_private_media = True
    tg = TelegramChannel.from_settings(settings)
    tg.timeout = 0.5
    said = exercise(x, tg, fx, ftg)
    assert (x.credentials.oauth1, x.credentials.oauth2_user_token) == (
        (True, OAUTH2_TOKEN) if oauth == "oauth1" else (False, OAUTH2_TOKEN)
    )
    out, err = capsys.readouterr()
    records = [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    captured = "\n".join([caplog.text, *records, out, err, *said])
    assert len(caplog.records) > 0
    for name, canary in CANARIES.items():
        assert captured.count(canary) == 0, name


def test_no_canary_from_the_command_line_under_verbose(
    fakes: tuple[FakeX, FakeTelegram], capsys: pytest.CaptureFixture[str]
) -> None:
    fx, _ = fakes
    outputs = []
    for argv in (["-v", "channels"], ["-v", "channels", "check"]):
        assert main(argv) == 0
        outputs.append(capsys.readouterr())
    fx.on("GET /2/users/me", Reply(401, fake_x.UNAUTHORIZED))
    assert main(["-v", "channels", "check"]) == 1
    outputs.append(capsys.readouterr())
    text = "\n".join(o.out + o.err for o in outputs)
    assert "authenticated as @distrib_bot" in text
    for name, canary in CANARIES.items():
        assert canary not in text, name
