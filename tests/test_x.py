"""X against a loopback X API v2: tweets, threads, media, auth modes, every error kind, timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from channels.errors import DuplicateError, PermanentError, TransientError
from channels.x import XChannel, XCredentials
from distrib.config import Settings
from distrib.models import Post, PostKind, PostPart
from tests import fake_x
from tests.fake_x import HANG, FakeX, Reply

OAUTH1 = XCredentials("ck-consumer", "cs-secret", "at-token", "ats-secret")


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with fake_x.running(FakeX()) as server:
        yield server


def channel(base_url: str, credentials: XCredentials = OAUTH1) -> XChannel:
    return XChannel(credentials=credentials, base_url=base_url, timeout=0.5, allow_private_media=True)


def post(*texts: str, image: str | None = None) -> Post:
    parts = tuple(PostPart(t, len(t), 280) for t in texts)
    return Post("x", PostKind.ANNOUNCEMENT, "r1", "r1", parts, key="r1:announcement:x", image=image)


def test_a_post_is_one_tweet_signed_with_oauth1(fake: FakeX) -> None:
    receipt = channel(fake.url).send(post("Call for Media #ExoMars"))
    (tweet,) = fake.tweets
    assert tweet["text"] == "Call for Media #ExoMars"
    assert "reply" not in tweet
    assert "media" not in tweet
    assert receipt.remote_id == tweet["id"]
    assert receipt.url == f"https://x.com/i/web/status/{tweet['id']}"
    auth = fake.requests_to("POST /2/tweets")[0].headers["Authorization"]
    assert auth.startswith("OAuth ")
    assert 'oauth_consumer_key="ck-consumer"' in auth


def test_a_thread_replies_to_the_previous_part_and_the_receipt_is_the_first(fake: FakeX) -> None:
    receipt = channel(fake.url).send(post("one", "two", "three"))
    first, second, third = fake.tweets
    assert [t["text"] for t in fake.tweets] == ["one", "two", "three"]
    assert second["reply"] == {"in_reply_to_tweet_id": first["id"]}
    assert third["reply"] == {"in_reply_to_tweet_id": second["id"]}
    assert receipt.remote_id == first["id"]


def test_oauth2_user_token_is_a_bearer_token_on_every_call(fake: FakeX) -> None:
    x = channel(fake.url, XCredentials(oauth2_user_token="oauth2-user-token"))
    assert "authenticated as @esa" in x.check()
    x.send(post("hello", image=f"{fake.url}/img/lead.png"))
    for seen in fake.seen:
        if seen.path.startswith("/2/"):
            assert seen.headers["Authorization"] == "Bearer oauth2-user-token"
    assert fake.tweets[0]["media"] == {"media_ids": ["1880028106020515840"]}


def test_the_image_is_uploaded_with_v2_media_upload_and_attached_to_the_first_part(fake: FakeX) -> None:
    channel(fake.url).send(post("one", "two", image=f"{fake.url}/img/lead.png"))
    (upload,) = fake.requests_to("POST /2/media/upload")
    assert upload.form["media"] == fake_x.PNG
    assert upload.form["media_category"] == "tweet_image"
    assert upload.form["media_type"] == "image/png"
    assert upload.headers["Authorization"].startswith("OAuth ")
    assert fake.tweets[0]["media"] == {"media_ids": ["1880028106020515840"]}
    assert "media" not in fake.tweets[1]


def test_a_failed_upload_that_may_pass_is_transient_and_nothing_is_posted(fake: FakeX) -> None:
    fake.on("POST /2/media/upload", Reply(503, {"title": "Service Unavailable"}))
    with pytest.raises(TransientError) as caught:
        channel(fake.url).send(post("one", image=f"{fake.url}/img/lead.png"))
    assert not caught.value.maybe_sent
    assert fake.tweets == []


@pytest.mark.parametrize(
    ("image", "allow_private"),
    [
        ("/img/missing.png", True),  # 404
        ("/2/users/me", True),  # not an image
        ("/img/lead.png", False),  # loopback: refused before any connection
    ],
)
def test_an_unusable_image_does_not_hold_the_post_back(
    fake: FakeX, image: str, allow_private: bool, caplog: pytest.LogCaptureFixture
) -> None:
    x = XChannel(credentials=OAUTH1, base_url=fake.url, timeout=0.5, allow_private_media=allow_private)
    x.send(post("one", image=fake.url + image))
    assert "media" not in fake.tweets[0]
    assert fake.requests_to("POST /2/media/upload") == []
    assert "without the image" in caplog.text
    if not allow_private:
        assert fake.requests_to("GET /img/lead.png") == []


def test_an_image_larger_than_the_cap_is_not_uploaded(fake: FakeX) -> None:
    fake.images["/img/big.png"] = (b"\x89PNG" + b"0" * (5 * 1024 * 1024), "image/png")
    channel(fake.url).send(post("one", image=f"{fake.url}/img/big.png"))
    assert fake.requests_to("POST /2/media/upload") == []
    assert "media" not in fake.tweets[0]


def test_429_is_transient_until_the_reset_time(fake: FakeX) -> None:
    reset = int(time.time()) + 600
    fake.on("POST /2/tweets", Reply(429, fake_x.TOO_MANY, {"x-rate-limit-reset": str(reset)}))
    with pytest.raises(TransientError) as caught:
        channel(fake.url).send(post("one"))
    assert caught.value.retry_after is not None
    assert timedelta(seconds=590) < caught.value.retry_after <= timedelta(seconds=600)
    assert not caught.value.maybe_sent


def test_429_from_the_24_hour_cap_waits_for_that_reset(fake: FakeX) -> None:
    now = int(time.time())
    headers = {
        "x-rate-limit-reset": str(now + 60),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(now + 7200),
    }
    fake.on("POST /2/tweets", Reply(429, fake_x.TOO_MANY, headers))
    with pytest.raises(TransientError) as caught:
        channel(fake.url).send(post("one"))
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > timedelta(seconds=7000)


def test_403_duplicate_content_is_a_duplicate_not_retried(fake: FakeX) -> None:
    fake.on("POST /2/tweets", Reply(403, fake_x.DUPLICATE))
    with pytest.raises(DuplicateError, match="duplicate content"):
        channel(fake.url).send(post("one"))


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(401, fake_x.UNAUTHORIZED), "rejected the credentials"),
        (Reply(400, fake_x.BAD_REQUEST), "too long"),
        (Reply(403, {"title": "Forbidden", "detail": "App not permitted.", "status": 403}), "not permitted"),
    ],
)  # fmt: skip
def test_4xx_is_permanent(fake: FakeX, reply: Reply, words: str) -> None:
    fake.on("POST /2/tweets", reply)
    with pytest.raises(PermanentError, match=words) as caught:
        channel(fake.url).send(post("one"))
    assert not isinstance(caught.value, DuplicateError)


def test_5xx_on_post_may_have_posted(fake: FakeX) -> None:
    fake.on("POST /2/tweets", Reply(500, fake_x.SERVER_ERROR))
    with pytest.raises(TransientError, match="500") as caught:
        channel(fake.url).send(post("one"))
    assert caught.value.maybe_sent


def test_a_read_timeout_after_sending_may_have_posted(fake: FakeX) -> None:
    fake.on("POST /2/tweets", HANG)
    started = time.monotonic()
    with pytest.raises(TransientError, match="ReadTimeout") as caught:
        channel(fake.url).send(post("one"))
    assert caught.value.maybe_sent
    assert time.monotonic() - started < 5  # tweepy has no timeout of its own: ours applied
    assert len(fake.tweets) == 1  # it did go out: that is why the worker marks it uncertain


def test_connection_refused_was_not_sent() -> None:
    with pytest.raises(TransientError, match="cannot connect") as caught:
        channel(fake_x.closed_port()).send(post("one"))
    assert not caught.value.maybe_sent


def test_a_thread_broken_after_its_first_part_is_never_retried_blindly(fake: FakeX) -> None:
    fake.on("POST /2/tweets", None, Reply(503, {"title": "Service Unavailable"}))
    with pytest.raises(TransientError) as caught:
        channel(fake.url).send(post("one", "two", "three"))
    first = fake.tweets[0]["id"]
    assert caught.value.maybe_sent  # the worker marks it uncertain instead of posting part 1 again
    assert "part 1 of 3 is out" in str(caught.value)
    assert f"https://x.com/i/web/status/{first}" in str(caught.value)
    assert len(fake.tweets) == 1


def test_a_thread_refused_after_its_first_part_fails_saying_what_is_out(fake: FakeX) -> None:
    fake.on("POST /2/tweets", None, None, Reply(400, fake_x.BAD_REQUEST))
    with pytest.raises(PermanentError, match="parts 1-2 of 3 are out"):
        channel(fake.url).send(post("one", "two", "three"))
    assert len(fake.tweets) == 2


def test_a_rate_limit_before_anything_went_out_is_plainly_retryable(fake: FakeX) -> None:
    fake.on("POST /2/tweets", Reply(429, fake_x.TOO_MANY))
    with pytest.raises(TransientError) as caught:
        channel(fake.url).send(post("one", "two"))
    assert not caught.value.maybe_sent
    assert caught.value.retry_after is None


def test_check_calls_users_me(fake: FakeX) -> None:
    assert channel(fake.url).check().startswith("authenticated as @esa (id 2244994945; OAuth 1.0a")
    assert len(fake.requests_to("GET /2/users/me")) == 1
    fake.on("GET /2/users/me", Reply(401, fake_x.UNAUTHORIZED))
    with pytest.raises(PermanentError, match="401"):
        channel(fake.url).check()


def test_configured_by_oauth1_or_an_oauth2_user_token() -> None:
    oauth1 = {"X_API_KEY": "k", "X_API_SECRET": "s", "X_ACCESS_TOKEN": "t", "X_ACCESS_TOKEN_SECRET": "ts"}
    assert XChannel.is_configured(Settings.from_env(oauth1))
    assert XChannel.is_configured(Settings.from_env({"X_OAUTH2_USER_TOKEN": "u"}))
    assert not XChannel.is_configured(Settings.from_env({"X_API_KEY": "k"}))
    missing = XChannel.missing_settings(Settings.from_env({"X_API_KEY": "k"}))
    assert missing == ["X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET", "(or X_OAUTH2_USER_TOKEN)"]
    both = XChannel.from_settings(Settings.from_env({**oauth1, "X_OAUTH2_USER_TOKEN": "u"}))
    assert both.describe() == "OAuth 1.0a user context"  # does not expire: preferred when both are set


def test_no_credential_in_the_repr() -> None:
    x = XChannel(credentials=XCredentials("k-canary", "s-canary", "t-canary", "ts-canary", "o-canary"))
    assert "canary" not in repr(x) + repr(x.credentials)
