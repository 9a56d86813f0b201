"""Webhooks against loopback receivers: payload shapes; Standard Webhooks signatures checked independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from channels.errors import PermanentError, TransientError
from channels.webhook import WebhookChannel, parse_secret, parse_targets, truncate
from distrib.config import Settings
from distrib.errors import ConfigError
from distrib.models import Post, PostKind, PostPart
from distrib.render import Renderer
from tests.fake_servers import FakeReceiver, Request, production_debug_logging, serving

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
KEY = "esa-2020-05-exomars-call-for-media:announcement:esa-2020-05-exomars-call-for-media:0:webhook"


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with serving(FakeReceiver()) as server:
        yield server


def settings(urls: str, secret: str | None = SECRET) -> Settings:
    return Settings.from_env({"WEBHOOK_URL": urls, **({"WEBHOOK_SECRET": secret} if secret else {})})


def exomars_post(exomars: Any, kind: PostKind = PostKind.ANNOUNCEMENT, target: str | None = None) -> Post:
    from dataclasses import replace

    channel = WebhookChannel()
    return replace(Renderer().render(exomars, channel, kind, target=target), key=KEY)


def verify_independently(request: Request, secret: str, now: datetime) -> None:
    """The Standard Webhooks check written from the spec, sharing nothing with channels.webhook."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id = request.headers["webhook-id"]
    stamp = request.headers["webhook-timestamp"]
    assert abs(now.timestamp() - int(stamp)) <= 300, "stale or future timestamp"
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + request.body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    offered = [s.split(",", 1) for s in request.headers["webhook-signature"].split()]
    assert any(v == "v1" and hmac.compare_digest(base64.b64decode(sig), expected) for v, sig in offered)


def test_the_generic_payload_carries_the_facts_and_is_signed(exomars: Any, receiver: FakeReceiver) -> None:
    channel = WebhookChannel.from_settings(settings(f"{receiver.url}/hook"))
    receipt = channel.send(exomars_post(exomars))
    (request,) = receiver.posts()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == KEY == receipt.remote_id
    assert receipt.url is None  # the URLs are secrets: not shown in `distrib status`
    verify_independently(request, SECRET, datetime.now(UTC))
    Webhook(SECRET).verify(request.body, request.headers)  # the reference library agrees
    body = request.json()
    assert body["type"] == "distrib.post"
    assert (body["id"], body["release_id"], body["kind"]) == (KEY, exomars.id, "announcement")
    assert "14:00–15:00 MSK (12:00–13:00 CET)" in body["text"]
    assert body["subject"]
    assert body["timezones"] == ["Europe/Moscow", "Europe/Paris"]
    briefing, accreditation = body["times"]
    assert briefing == {
        "type": "event",
        "id": "briefing",
        "what": "Press briefing",
        "when": briefing["when"],
        "timezone": "Europe/Moscow",
        "utc": "2020-03-12T11:00:00Z",
        "local": {"Europe/Moscow": "2020-03-12T14:00:00+03:00", "Europe/Paris": "2020-03-12T12:00:00+01:00"},
        "end_utc": "2020-03-12T12:00:00Z",
        "end_local": {
            "Europe/Moscow": "2020-03-12T15:00:00+03:00",
            "Europe/Paris": "2020-03-12T13:00:00+01:00",
        },
        "location": "4 Khoromny lane, Moscow",
        "stream_url": None,
    }
    assert accreditation["type"] == "deadline"
    assert accreditation["utc"] == "2020-02-28T23:00:00Z"  # the end of 28 February in Paris
    assert accreditation["local"]["Europe/Paris"] == "2020-02-29T00:00:00+01:00"
    assert accreditation["date_only"] is True
    assert body["handles"] == ["@ESA_ExoMars"]
    assert body["hashtags"] == ["#ExoMars"]


def test_tampering_fails_verification(exomars: Any, receiver: FakeReceiver) -> None:
    WebhookChannel.from_settings(settings(f"{receiver.url}/hook")).send(exomars_post(exomars))
    (request,) = receiver.posts()
    flipped = Request(
        request.method, request.path, {}, request.headers, request.body.replace(b"ExoMars", b"ExoMarz", 1)
    )
    with pytest.raises(AssertionError):
        verify_independently(flipped, SECRET, datetime.now(UTC))
    with pytest.raises(AssertionError, match="stale"):
        verify_independently(request, SECRET, datetime.now(UTC) + timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(flipped.body, flipped.headers)
    other = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


def test_the_timestamp_comes_from_the_clock_and_the_id_stays(exomars: Any, receiver: FakeReceiver) -> None:
    moments = iter([datetime(2020, 2, 24, 8, 0, 1, tzinfo=UTC), datetime(2020, 2, 24, 8, 5, tzinfo=UTC)])
    channel = WebhookChannel.from_settings(settings(f"{receiver.url}/hook"))
    channel.clock = lambda: next(moments)
    post = exomars_post(exomars)
    channel.send(post)
    channel.send(post)  # a retry: same id (the receiver's idempotency key), new timestamp, new signature
    first, second = receiver.posts()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == KEY
    assert (first.headers["webhook-timestamp"], second.headers["webhook-timestamp"]) == (
        "1582531201",
        "1582531500",
    )
    assert first.body == second.body
    verify_independently(first, SECRET, datetime(2020, 2, 24, 8, 0, 1, tzinfo=UTC))


def test_without_a_secret_nothing_is_signed(exomars: Any, receiver: FakeReceiver) -> None:
    WebhookChannel.from_settings(settings(f"{receiver.url}/hook", secret=None)).send(exomars_post(exomars))
    (request,) = receiver.posts()
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & set(request.headers)


def test_slack_and_discord_shapes_by_prefix(exomars: Any, receiver: FakeReceiver) -> None:
    urls = f"{receiver.url}/hook slack:{receiver.url}/slack/T1/B2/x discord:{receiver.url}/discord/1/tok"
    channel = WebhookChannel.from_settings(settings(urls))
    channel.send(exomars_post(exomars))
    generic, slack, discord = receiver.posts()
    assert generic.json()["type"] == "distrib.post"
    assert set(slack.json()) == {"text"}
    assert slack.json()["text"].startswith("*")
    assert "@ESA_ExoMars #ExoMars" in slack.json()["text"]
    assert discord.json()["allowed_mentions"] == {"parse": []}
    assert discord.json()["content"].startswith("**")
    for request in (generic, slack, discord):
        verify_independently(request, SECRET, datetime.now(UTC))


def test_slack_text_escapes_its_control_characters(receiver: FakeReceiver) -> None:
    text = "Q&A <today> with <!channel>"
    post = Post("webhook", PostKind.ANNOUNCEMENT, "r1", "r1", (PostPart(text, len(text), 100_000),), key="k")
    WebhookChannel.from_settings(settings(f"slack:{receiver.url}/slack/x", None)).send(post)
    assert receiver.posts()[0].json()["text"] == "Q&amp;A &lt;today&gt; with &lt;!channel&gt;"


def test_discord_content_is_cut_safely_at_2000() -> None:
    text = "a" * 1998 + "👨‍👩‍👧‍👦" + "tail"
    cut = truncate(text, 2000)
    assert cut == "a" * 1998 + "…"
    assert len(cut.encode("utf-16-le")) // 2 <= 2000
    assert truncate("short", 2000) == "short"


def test_a_failed_url_alone_is_retried(exomars: Any, receiver: FakeReceiver) -> None:
    urls = f"{receiver.url}/hook/a {receiver.url}/hook/b"
    channel = WebhookChannel.from_settings(settings(urls))
    receiver.fail_next("POST", "/hook/b", 503, {"error": "busy"}, {"Retry-After": "30"})
    post = exomars_post(exomars)
    with pytest.raises(TransientError) as caught:
        channel.send(post)
    assert caught.value.retry_after == timedelta(seconds=30)
    assert not caught.value.maybe_sent  # the receiver answered: it did not take it
    assert "webhook 2 (json, 127.0.0.1): HTTP 503 (delivered to 1 of 2)" in str(caught.value)
    channel.send(post)
    assert [r.path for r in receiver.posts()] == ["/hook/a", "/hook/b", "/hook/b"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, PermanentError), (410, PermanentError), (400, PermanentError), (408, TransientError),
     (429, TransientError), (500, TransientError), (301, PermanentError)],
)  # fmt: skip
def test_status_codes_map_to_the_two_types(
    exomars: Any, receiver: FakeReceiver, status: int, error: type[Exception]
) -> None:
    headers = {"Location": f"{receiver.url}/hook/elsewhere"} if status == 301 else {}
    receiver.fail_next("POST", "/hook", status, None, headers)
    with pytest.raises(error) as caught:
        WebhookChannel.from_settings(settings(f"{receiver.url}/hook")).send(exomars_post(exomars))
    assert type(caught.value) is error
    assert len(receiver.posts()) == 1  # a redirect is not followed


def test_a_lost_connection_may_have_delivered(exomars: Any, receiver: FakeReceiver) -> None:
    receiver.fail_next("POST", "/hook", 0, None)
    with pytest.raises(TransientError) as caught:
        WebhookChannel.from_settings(settings(f"{receiver.url}/hook")).send(exomars_post(exomars))
    assert caught.value.maybe_sent
    assert not WebhookChannel.idempotent  # so the worker marks it uncertain instead of resending


def test_bad_settings_are_named_without_the_url() -> None:
    with pytest.raises(ConfigError, match="entry 2 is not an http") as caught:
        parse_targets("https://ok.example/hook ftp://secret-token@files.example/x")
    assert "secret-token" not in str(caught.value)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        parse_secret("whsec_not base64!")
    assert parse_secret(SECRET) == b"0123456789abcdef0123456789abcdef"
    assert [
        t.shape for t in parse_targets("https://a.example slack:https://b.example DISCORD:http://c.example")
    ] == [
        "json",
        "slack",
        "discord",
    ]


def test_check_reports_without_sending(receiver: FakeReceiver) -> None:
    urls = f"{receiver.url}/hook slack:{receiver.url}/slack/x discord:{receiver.url}/discord/y"
    line = WebhookChannel.from_settings(settings(urls)).check()
    assert line == "webhook: 3 URLs (1 json, 1 slack, 1 discord), signed (Standard Webhooks); nothing sent"
    assert receiver.requests == []
    assert receiver.url not in line


def test_urls_and_secret_never_show(
    exomars: Any, receiver: FakeReceiver, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    production_debug_logging(caplog)
    token = "CANARY-discord-token-5b1e"
    urls = f"{receiver.url}/hook/{token} discord:{receiver.url}/discord/{token}"
    secret_key = b"CANARY-secret-bytes-0000000000000"
    secret = "whsec_" + base64.b64encode(secret_key).decode()
    channel = WebhookChannel.from_settings(settings(urls, secret))
    texts = [repr(channel), channel.check(), repr(channel.targets)]
    channel.send(exomars_post(exomars))
    receiver.fail_next("POST", f"/hook/{token}", 500, None)
    receiver.fail_next("POST", f"/discord/{token}", 404, None)
    with pytest.raises(TransientError) as caught:
        channel.send(exomars_post(exomars))
    texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(TransientError) as down:
        WebhookChannel.from_settings(settings(f"http://127.0.0.1:9/{token}", secret)).send(
            exomars_post(exomars)
        )
    texts += [
        str(down.value),
        repr(down.value),
        repr(down.value.__cause__),
        caplog.text,
        *capsys.readouterr(),
    ]
    canaries = [token, secret, base64.b64encode(secret_key).decode(), secret_key.decode()]
    assert not [t for t in texts for c in canaries if c in t]
    assert json.loads(receiver.posts()[0].body)["id"] == KEY
