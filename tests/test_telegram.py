"""Telegram against a loopback Bot API: sendMessage, sendPhoto, link previews, every error kind, timeouts."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta

import pytest

from channels.errors import PermanentError, TransientError
from channels.telegram import TelegramChannel, _map
from distrib.models import Post, PostKind, PostPart
from tests import fake_telegram
from tests.fake_telegram import FakeTelegram
from tests.fake_x import HANG, closed_port

HTML = (
    "<b>Call for Media: ESA &amp; Roscosmos</b>\n\n"
    '<a href="https://esa.int/n5">https://esa.int/n5</a>\n@ESA_ExoMars #ExoMars'
)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with fake_telegram.running(FakeTelegram()) as server:
        yield server


def channel(fake: FakeTelegram, chat_id: str = "@esa_news", token: str | None = None) -> TelegramChannel:
    return TelegramChannel(token=token or fake.token, chat_id=chat_id, base_url=fake.base_url, timeout=0.5)


def post(text: str = HTML, *, link: str | None = "https://esa.int/n5", image: str | None = None) -> Post:
    return Post(
        "telegram", PostKind.ANNOUNCEMENT, "r1", "r1", (PostPart(text, len(text), 4096),),
        key="r1:announcement:telegram", link=link, image=image,
    )  # fmt: skip


def test_send_message_in_html_parse_mode_with_the_release_link_previewed(fake: FakeTelegram) -> None:
    receipt = channel(fake).send(post())
    (call,) = fake.calls  # no getMe before every post
    assert call.method == "sendMessage"
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.fields["chat_id"] == "@esa_news"
    assert call.fields["text"] == HTML
    assert call.fields["parse_mode"] == "HTML"
    assert json.loads(call.fields["link_preview_options"]) == {
        "url": "https://esa.int/n5",
        "prefer_large_media": True,
    }
    assert (receipt.remote_id, receipt.url) == ("1", "https://t.me/esa_news/1")


def test_without_a_link_no_preview_is_shown(fake: FakeTelegram) -> None:
    channel(fake).send(post("<b>Reminder</b>", link=None))
    assert json.loads(fake.calls[0].fields["link_preview_options"]) == {"is_disabled": True}


def test_a_release_image_goes_as_a_photo_with_the_text_as_caption(fake: FakeTelegram) -> None:
    channel(fake).send(post(image="https://esa.int/lead.jpg"))
    (call,) = fake.calls
    assert call.method == "sendPhoto"
    assert call.fields["photo"] == "https://esa.int/lead.jpg"
    assert call.fields["caption"] == HTML
    assert call.fields["parse_mode"] == "HTML"


def test_an_image_telegram_cannot_fetch_falls_back_to_a_message(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("sendPhoto", fake_telegram.BAD_PHOTO)
    receipt = channel(fake).send(post(image="https://esa.int/gone.jpg"))
    assert [c.method for c in fake.calls] == ["sendPhoto", "sendMessage"]
    assert receipt.remote_id == "1"
    assert "without the image" in caplog.text


def test_receipt_links_for_numeric_chats(fake: FakeTelegram) -> None:
    fake_telegram.CHAT.pop("username", None)
    try:
        assert channel(fake, "-1001234567890").send(post()).url == "https://t.me/c/1234567890/1"
        assert channel(fake, "42").send(post()).url is None
    finally:
        fake_telegram.CHAT["username"] = "esa_news"


def test_flood_control_is_transient_with_its_delay(fake: FakeTelegram) -> None:
    fake.on("sendMessage", fake_telegram.FLOOD)
    with pytest.raises(TransientError) as caught:
        channel(fake).send(post())
    assert caught.value.retry_after == timedelta(seconds=3)
    assert not caught.value.maybe_sent


def test_retry_after_as_an_int_is_handled_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from telegram.error import RetryAfter

    monkeypatch.setenv("PTB_TIMEDELTA", "false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exc = RetryAfter(7)
    error = _map(exc, "token")
    assert isinstance(error, TransientError)
    assert error.retry_after == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (fake_telegram.CANT_PARSE, "(?i)can't parse entities"),
        (fake_telegram.NOT_MEMBER, "(?i)not a member"),
        (fake_telegram.MIGRATED, "-1009876543210"),
    ],
)
def test_refusals_are_permanent(fake: FakeTelegram, body: dict[str, object], words: str) -> None:
    fake.on("sendMessage", body)
    with pytest.raises(PermanentError, match=words):
        channel(fake).send(post())


def test_markup_telegram_would_refuse_is_stopped_before_sending(fake: FakeTelegram) -> None:
    with pytest.raises(PermanentError, match="not allowed"):
        channel(fake).send(post("<p>hi</p>"))
    assert fake.calls == []


def test_a_wrong_token_is_permanent_and_never_quoted(fake: FakeTelegram) -> None:
    wrong = "111111111:AAwrongTOKENwrongTOKENwrongTOKEN_xyz"
    with pytest.raises(PermanentError, match="TELEGRAM_BOT_TOKEN") as caught:
        channel(fake, token=wrong).send(post())
    assert wrong not in repr(caught.value)
    assert wrong not in str(caught.value)


def test_a_server_error_may_have_posted(fake: FakeTelegram) -> None:
    fake.on("sendMessage", fake_telegram.SERVER_ERROR)
    with pytest.raises(TransientError) as caught:
        channel(fake).send(post())
    assert caught.value.maybe_sent


def test_a_timeout_after_sending_may_have_posted(fake: FakeTelegram) -> None:
    fake.on("sendMessage", HANG)
    started = time.monotonic()
    with pytest.raises(TransientError, match="no answer in time") as caught:
        channel(fake).send(post())
    assert caught.value.maybe_sent
    assert time.monotonic() - started < 5
    assert len(fake.messages) == 1  # delivered: the answer was what got lost


def test_connection_refused_was_not_sent() -> None:
    ch = TelegramChannel(token="1:x", chat_id="@c", base_url=f"{closed_port()}/bot", timeout=0.5)
    with pytest.raises(TransientError, match="cannot connect") as caught:
        ch.send(post())
    assert not caught.value.maybe_sent


def test_check_calls_get_me(fake: FakeTelegram) -> None:
    assert channel(fake).check().startswith("authenticated as @distrib_bot (id 123456789; chat @esa_news")
    assert [c.method for c in fake.calls] == ["getMe"]
    with pytest.raises(PermanentError, match="rejected the bot token"):
        channel(fake, token="1:nope").check()


def test_no_token_in_the_repr() -> None:
    ch = TelegramChannel(token="123:AAsecretsecretsecretsecret", chat_id="@esa_news")
    assert "secret" not in repr(ch)
