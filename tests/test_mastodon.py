"""Mastodon against a loopback fake: requests checked against the OpenAPI description, idempotency, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jsonschema
import pytest

from channels import mastodon
from channels.errors import PermanentError, TransientError
from channels.mastodon import MastodonChannel, status_text
from distrib.config import Settings
from distrib.models import Post, PostKind, PostPart
from tests.conftest import ROOT
from tests.fake_servers import FakeMastodon, Request, production_debug_logging, serving

SPEC_PLACES = (
    ROOT.parent / "shared" / "specs" / "mastodon-openapi.json",
    ROOT / "tests" / "data" / "mastodon-openapi.json",
)
DUE = datetime(2020, 2, 24, 8, 0, tzinfo=UTC)


@cache
def spec() -> dict[str, Any]:
    path = next(p for p in SPEC_PLACES if p.is_file())
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def check_status_request(request: Request) -> None:
    """The JSON body of POST /api/v1/statuses against the description's requestBody schema.

    The description says oneOf(TextStatus, MediaStatus, PollStatus), but a status with text *and*
    media matches both of the first two (Mastodon takes it); so: valid under at least one, and no
    field that none of them defines.
    """
    doc = spec()
    operation = doc["paths"]["/api/v1/statuses"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = request.json()
    valid = []
    fields: set[str] = set()
    for choice in schema["oneOf"]:
        validator = jsonschema.Draft202012Validator({**choice, "components": doc["components"]})
        valid.append(validator.is_valid(body))
        name = choice["$ref"].rsplit("/", 1)[1]
        for part in doc["components"]["schemas"][name]["allOf"]:
            target = doc["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
            fields |= set(target.get("properties", {}))
    assert any(valid), body
    assert set(body) <= fields, set(body) - fields
    headers = {p["name"].lower() for p in operation["parameters"] if p["in"] == "header"}
    assert "idempotency-key" in headers
    assert request.headers["idempotency-key"]
    assert request.headers["authorization"].startswith("Bearer ")
    assert request.headers["content-type"] == "application/json"


def check_media_request(request: Request) -> None:
    operation = spec()["paths"]["/api/v2/media"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = request.form()
    assert set(form) <= set(schema["properties"])
    assert set(schema["required"]) <= set(form)


@pytest.fixture(autouse=True)
def _fresh_instance_cache() -> Iterator[None]:
    mastodon._instance_limits.clear()
    yield
    mastodon._instance_limits.clear()


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with serving(FakeMastodon()) as server:
        yield server


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def channel_for(fake: FakeMastodon, **kwargs: Any) -> MastodonChannel:
    kwargs.setdefault("clock", Clock(DUE + timedelta(seconds=5)))
    kwargs.setdefault("sleep", lambda seconds: None)
    return MastodonChannel(base_url=fake.url, access_token=fake.token, **kwargs)


def post(*texts: str, key: str = "r1:announcement:r1:0:mastodon", **extra: Any) -> Post:
    parts = tuple(PostPart(t, len(t), 500) for t in texts)
    return Post(
        "mastodon", PostKind.ANNOUNCEMENT, "r1", "r1", parts, key=key, due=DUE, **{"language": "en", **extra}
    )


def test_the_fitter_gets_the_instance_limit(fake: FakeMastodon) -> None:
    fake.max_characters = 1000
    settings = Settings.from_env({"MASTODON_BASE_URL": fake.url, "MASTODON_ACCESS_TOKEN": "t"})
    assert MastodonChannel.from_settings(settings).limit == 1000
    assert MastodonChannel.from_settings(settings).limit == 1000
    assert len(fake.calls("GET", "/api/v2/instance")) == 1  # once per process
    assert "authorization" not in fake.requests[0].headers  # a public endpoint: no token sent


def test_without_the_instance_the_setting_or_500_is_used(caplog: pytest.LogCaptureFixture) -> None:
    closed = "http://127.0.0.1:9"
    settings = Settings.from_env({"MASTODON_BASE_URL": closed, "MASTODON_MAX_CHARACTERS": "700"})
    assert MastodonChannel.from_settings(settings).limit == 700
    mastodon._instance_limits.clear()
    assert MastodonChannel.from_settings(Settings.from_env({"MASTODON_BASE_URL": closed})).limit == 500
    assert "cannot read the instance's status limit" in caplog.text


def test_a_post_is_a_json_status_with_the_outbox_key(fake: FakeMastodon) -> None:
    channel = channel_for(fake, visibility="unlisted")
    receipt = channel.send(
        post("Call for Media: ESA and Roscosmos https://esa.int #ExoMars", language="pt-BR")
    )
    (request,) = fake.calls("POST", "/api/v1/statuses")
    check_status_request(request)
    assert request.headers["idempotency-key"] == "r1:announcement:r1:0:mastodon"
    assert request.json() == {
        "status": "Call for Media: ESA and Roscosmos https://esa.int #ExoMars",
        "visibility": "unlisted",
        "language": "pt",
    }
    assert receipt.remote_id == fake.statuses[0]["id"]
    assert receipt.url == fake.statuses[0]["url"]


def test_a_thread_replies_with_a_key_per_part(fake: FakeMastodon) -> None:
    receipt = channel_for(fake).send(post("one", "two", "three"))
    first, second, third = fake.calls("POST", "/api/v1/statuses")
    for request in (first, second, third):
        check_status_request(request)
    assert [r.headers["idempotency-key"] for r in (first, second, third)] == [
        "r1:announcement:r1:0:mastodon",
        "r1:announcement:r1:0:mastodon#2",
        "r1:announcement:r1:0:mastodon#3",
    ]
    ids = [s["id"] for s in fake.statuses]
    assert "in_reply_to_id" not in first.json()
    assert [second.json()["in_reply_to_id"], third.json()["in_reply_to_id"]] == ids[:2]
    assert receipt.remote_id == ids[0]


def test_the_image_is_uploaded_and_polled_until_processed(fake: FakeMastodon) -> None:
    fake.media_polls = 2
    waits: list[float] = []
    channel = channel_for(fake, sleep=waits.append, poll_delay=0.5)
    channel.send(post("hello", "thread", image=f"{fake.url}/image.png", data={"title": "ExoMars"}))
    (upload,) = fake.calls("POST", "/api/v2/media")
    check_media_request(upload)
    assert upload.form()["description"] == (None, b"ExoMars")
    assert upload.form()["file"][1].startswith(b"\x89PNG")
    assert len(fake.calls("GET", r"/api/v1/media/\w+")) == 3  # 206, 206, then 200 with its url
    assert waits == [0.5, 0.5, 0.5]
    first, second = fake.calls("POST", "/api/v1/statuses")
    check_status_request(first)
    assert first.json()["media_ids"] == ["200"]
    assert "media_ids" not in second.json()  # the picture belongs to the first status only


def test_media_that_never_finishes_is_a_transient_error(fake: FakeMastodon) -> None:
    fake.media_polls = 99
    channel = channel_for(fake, poll_attempts=3)
    with pytest.raises(TransientError, match="still processing"):
        channel.send(post("hello", image=f"{fake.url}/image.png"))
    assert fake.statuses == []


def test_a_broken_image_does_not_stop_the_post(fake: FakeMastodon, caplog: pytest.LogCaptureFixture) -> None:
    channel_for(fake).send(post("hello", image=f"{fake.url}/missing.png"))
    assert len(fake.statuses) == 1
    assert fake.calls("POST", "/api/v2/media") == []
    assert "image skipped" in caplog.text


def test_a_retry_after_a_crash_replays_the_same_status(fake: FakeMastodon) -> None:
    """The first attempt reached the server but the answer was lost; the retry has the same key."""
    first = channel_for(fake).send(post("one", "two"))
    again = channel_for(fake).send(post("one", "two"))  # a new process: nothing remembered locally
    assert len(fake.statuses) == 2
    assert again == first


def test_after_an_hour_the_account_is_read_back_instead(fake: FakeMastodon) -> None:
    channel_for(fake).send(post("Mars is hard & https://esa.int/exomars\nsecond line", "two"))
    fake.forget_keys()  # the Idempotency-Key is older than an hour
    late = channel_for(fake, clock=Clock(DUE + timedelta(hours=2)))
    receipt = late.send(post("Mars is hard & https://esa.int/exomars\nsecond line", "two"))
    assert len(fake.statuses) == 2  # found both, posted nothing
    assert receipt.remote_id == fake.statuses[0]["id"]
    assert fake.calls("GET", r"/api/v1/accounts/109/statuses")


def test_a_read_back_completes_a_half_posted_thread(fake: FakeMastodon) -> None:
    channel_for(fake).send(post("one"))
    fake.forget_keys()
    channel_for(fake, clock=Clock(DUE + timedelta(hours=2))).send(post("one", "two"))
    assert [status_text(s["content"]) for s in fake.statuses] == ["one", "two"]
    assert fake.statuses[1]["in_reply_to_id"] == fake.statuses[0]["id"]


def test_status_text_reads_mastodon_html() -> None:
    html = '<p>A &amp; B<br />C <a href="https://esa.int/x"><span class="invisible">https://</span><span>esa.int/x</span></a></p><p>D</p>'
    assert " ".join(status_text(html).split()) == "A & B C https://esa.int/x D"


def test_rate_limit_reset_is_an_iso_time(fake: FakeMastodon) -> None:
    now = DUE + timedelta(seconds=5)
    reset = (now + timedelta(minutes=4)).isoformat().replace("+00:00", ".000Z")
    limits = {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"}
    fake.fail_next("POST", "/api/v1/statuses", 429, {"error": "Too many requests"}, limits)
    with pytest.raises(TransientError) as caught:
        channel_for(fake, clock=Clock(now)).send(post("hello"))
    assert caught.value.retry_after == timedelta(minutes=4)
    assert "Too many requests" in str(caught.value)


def test_a_used_up_rate_limit_waits_for_its_reset_without_asking(fake: FakeMastodon) -> None:
    clock = Clock(DUE)
    reset = (DUE + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    fake.fail_next("POST", "/api/v1/statuses", 200, {"id": "1", "url": None},
                   {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})  # fmt: skip
    channel = channel_for(fake, clock=clock)
    channel.send(post("first"))
    with pytest.raises(TransientError) as caught:
        channel.send(post("second", key="k2"))
    assert caught.value.retry_after == timedelta(minutes=3)
    assert len(fake.calls("POST", "/api/v1/statuses")) == 1
    clock.now = DUE + timedelta(minutes=3, seconds=1)
    channel.send(post("second", key="k2"))
    assert len(fake.calls("POST", "/api/v1/statuses")) == 2


@pytest.mark.parametrize(
    ("status", "body", "error", "maybe_sent"),
    [
        (422, {"error": "Validation failed: Text character limit of 500 exceeded"}, PermanentError, False),
        (404, {"error": "Record not found"}, PermanentError, False),
        (403, {"error": "This action is not allowed"}, PermanentError, False),
        (503, {"error": "Service unavailable"}, TransientError, True),
        (502, b"<html>Bad gateway</html>", TransientError, True),
    ],
)
def test_api_errors_map_to_the_two_types(
    fake: FakeMastodon, status: int, body: Any, error: type[Exception], maybe_sent: bool
) -> None:
    fake.fail_next("POST", "/api/v1/statuses", status, body)
    with pytest.raises(error) as caught:
        channel_for(fake).send(post("hello"))
    assert type(caught.value) is error
    assert f"HTTP {status}" in str(caught.value)
    if isinstance(body, dict):
        assert body["error"] in str(caught.value)
    assert getattr(caught.value, "maybe_sent", False) is maybe_sent


def test_a_wrong_token_is_permanent(fake: FakeMastodon) -> None:
    channel = MastodonChannel(base_url=fake.url, access_token="wrong")
    with pytest.raises(PermanentError, match="401 The access token is invalid"):
        channel.send(post("hello"))


def test_network_failures_say_whether_the_post_may_be_out(fake: FakeMastodon) -> None:
    with pytest.raises(TransientError) as refused:
        MastodonChannel(base_url="http://127.0.0.1:9", access_token="t").send(post("hello"))
    assert not refused.value.maybe_sent
    assert "cannot connect" in str(refused.value)
    fake.fail_next("POST", "/api/v1/statuses", 0, None)  # the connection drops after the request
    with pytest.raises(TransientError) as lost:
        channel_for(fake).send(post("hello"))
    assert lost.value.maybe_sent


def test_check_names_the_account(fake: FakeMastodon) -> None:
    line = channel_for(fake).check()
    assert line == "mastodon: posting as @esa on " + fake.url.removeprefix("http://") + (
        ", statuses up to 500 characters, visibility public"
    )
    assert fake.statuses == []


def test_settings_are_checked() -> None:
    from distrib.errors import ConfigError

    with pytest.raises(ConfigError, match="MASTODON_VISIBILITY"):
        MastodonChannel.from_settings(Settings.from_env({"MASTODON_VISIBILITY": "everyone"}))
    with pytest.raises(ConfigError, match="MASTODON_BASE_URL"):
        MastodonChannel.from_settings(Settings.from_env({"MASTODON_BASE_URL": "mastodon.social"}))


def test_the_token_never_shows(
    fake: FakeMastodon, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "CANARY-mastodon-token-7f3a9c"
    fake.token = canary
    production_debug_logging(caplog)
    channel = MastodonChannel.from_settings(
        Settings.from_env({"MASTODON_BASE_URL": fake.url, "MASTODON_ACCESS_TOKEN": canary})
    )
    channel.sleep = lambda seconds: None
    texts = [repr(channel), channel.check()]
    channel.send(post("hello", image=f"{fake.url}/image.png"))
    for status in (401, 422, 429, 500):
        fake.fail_next("POST", "/api/v1/statuses", status, {"error": "nope"})
        with pytest.raises((TransientError, PermanentError)) as caught:
            channel.send(post(f"hello {status}", key=f"k{status}"))
        texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(TransientError) as down:
        replace_base(channel, "http://127.0.0.1:9").send(post("x"))
    texts += [str(down.value), repr(down.value), caplog.text, *capsys.readouterr()]
    assert not [t for t in texts if canary in t]


def replace_base(channel: MastodonChannel, url: str) -> MastodonChannel:
    channel.base_url = url
    return channel
