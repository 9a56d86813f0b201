"""Bluesky against a loopback PDS: one kept session, TID record keys, facets by UTF-8 bytes, link cards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.bluesky import BlueskyChannel, created_at, facets, is_tid, record_key, tid, web_url
from channels.errors import PermanentError, TransientError
from distrib.config import Settings
from distrib.models import Post, PostKind, PostPart
from tests.fake_servers import FakePDS, production_debug_logging, serving

DUE = datetime(2020, 2, 24, 8, 0, tzinfo=UTC)
SENT = DUE + timedelta(seconds=2, milliseconds=345)


@pytest.fixture
def pds() -> Iterator[FakePDS]:
    with serving(FakePDS()) as server:
        yield server


def channel_for(pds: FakePDS, **kwargs: Any) -> BlueskyChannel:
    kwargs.setdefault("clock", lambda: SENT)
    return BlueskyChannel(service=pds.url, handle=pds.handle, app_password=pds.password, **kwargs)


def post(*texts: str, key: str = "r1:announcement:r1:0:bluesky", **extra: Any) -> Post:
    parts = tuple(PostPart(t, len(t), 300, facets(t)) for t in texts)
    return Post(
        "bluesky", PostKind.ANNOUNCEMENT, "r1", "r1", parts, key=key, due=DUE, **{"language": "en", **extra}
    )


def records(pds: FakePDS) -> list[dict[str, Any]]:
    return [r["value"] for r in pds.records.values()]


def test_tids_are_valid_and_sortable() -> None:
    assert tid(0, 0) == "2222222222222"
    assert is_tid(tid(1_582_531_200_000_000, 1023))
    assert tid(1, 0) < tid(2, 0) < tid(1 << 52, 0)
    with pytest.raises(ValueError, match="53 bits"):
        tid(1 << 53, 0)


@given(st.text(min_size=1, max_size=200), st.integers(0, 20))
def test_record_keys_are_tids_derived_from_the_outbox_key(key: str, index: int) -> None:
    rkey = record_key(key, index, DUE)
    assert is_tid(rkey)
    assert rkey == record_key(key, index, DUE)  # deterministic: a retry asks for the same record
    assert rkey != record_key(key, index + 1, DUE)
    assert rkey != record_key(key + "x", index, DUE)


def test_record_keys_of_posts_due_together_differ() -> None:
    keys = {record_key(f"release-{n}:announcement:release-{n}:0:bluesky", 0, DUE) for n in range(5000)}
    assert len(keys) == 5000


def test_created_at_is_rfc3339_with_milliseconds() -> None:
    assert created_at(SENT) == "2020-02-24T08:00:02.345Z"


def test_a_post_with_facets_langs_and_a_link_card(pds: FakePDS) -> None:
    text = "Запуск 🚀 ExoMars: https://esa.int/exomars #ExoMars @esa-exomars.bsky.social @nobody.example.org"
    receipt = channel_for(pds).send(
        post(
            text,
            link="https://esa.int/exomars",
            data={"title": "Call for Media", "summary": "ESA and Roscosmos meet."},
        )
    )
    ((rkey, stored),) = pds.records.items()
    record = stored["value"]
    assert is_tid(rkey)
    assert rkey == record_key("r1:announcement:r1:0:bluesky", 0, DUE)
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == text
    assert record["createdAt"] == "2020-02-24T08:00:02.345Z"
    assert record["langs"] == ["en"]
    data = text.encode("utf-8")
    sliced = {
        f["features"][0]["$type"].rsplit("#", 1)[1]: data[
            f["index"]["byteStart"] : f["index"]["byteEnd"]
        ].decode()
        for f in record["facets"]
    }
    # The unresolvable handle is not a mention: its facet is dropped, its text stays.
    assert sliced == {
        "link": "https://esa.int/exomars",
        "tag": "#ExoMars",
        "mention": "@esa-exomars.bsky.social",
    }
    mention = next(f["features"][0] for f in record["facets"] if "mention" in f["features"][0]["$type"])
    assert mention == {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:exomarsrover"}
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://esa.int/exomars",
            "title": "Call for Media",
            "description": "ESA and Roscosmos meet.",
        },
    }
    assert receipt.remote_id == f"at://{FakePDS.DID}/app.bsky.feed.post/{rkey}"
    assert receipt.url == f"https://bsky.app/profile/{FakePDS.DID}/post/{rkey}"


def test_the_card_carries_the_release_image_as_a_blob(pds: FakePDS) -> None:
    channel_for(pds).send(post("hello https://esa.int", link="https://esa.int", image=f"{pds.url}/image.png"))
    (upload,) = pds.calls("POST", "/xrpc/com.atproto.repo.uploadBlob")
    assert upload.headers["content-type"] == "image/png"
    assert upload.body.startswith(b"\x89PNG")
    (record,) = records(pds)
    thumb = record["embed"]["external"]["thumb"]
    assert thumb["$type"] == "blob"
    assert thumb["mimeType"] == "image/png"


def test_an_oversized_or_missing_image_leaves_the_card_without_a_thumbnail(pds: FakePDS) -> None:
    channel = channel_for(pds)
    channel.send(post("a", link="https://esa.int", image=f"{pds.url}/big.png"))
    channel.send(post("b", key="k2", link="https://esa.int", image=f"{pds.url}/missing.png"))
    pds.fail_next("POST", "/xrpc/com.atproto.repo.uploadBlob", 500, {"error": "InternalServerError"})
    channel.send(post("c", key="k3", link="https://esa.int", image=f"{pds.url}/image.png"))
    assert [("thumb" in r["embed"]["external"]) for r in records(pds)] == [False, False, False]
    assert len(pds.records) == 3


def test_a_thread_replies_to_root_and_parent(pds: FakePDS) -> None:
    channel_for(pds).send(post("one https://esa.int", "two", "three", link="https://esa.int"))
    one, two, three = (pds.records[record_key("r1:announcement:r1:0:bluesky", i, DUE)] for i in range(3))
    root = {"uri": one["uri"], "cid": one["cid"]}
    assert "reply" not in one["value"]
    assert "embed" in one["value"]
    assert two["value"]["reply"] == {"root": root, "parent": root}
    assert three["value"]["reply"] == {"root": root, "parent": {"uri": two["uri"], "cid": two["cid"]}}
    assert "embed" not in two["value"]


def test_one_session_for_many_posts(pds: FakePDS) -> None:
    channel = channel_for(pds)
    for n in range(5):
        channel.send(post(f"post {n}", key=f"k{n}"))
    assert pds.logins == 1
    assert len(pds.records) == 5


def test_an_expired_access_token_is_refreshed_not_a_new_login(pds: FakePDS) -> None:
    channel = channel_for(pds)
    channel.send(post("one", key="k1"))
    pds.expire_access()
    channel.send(post("two", key="k2"))
    assert (pds.logins, pds.refreshes, len(pds.records)) == (1, 1, 2)


def test_a_refused_refresh_token_means_a_new_login(pds: FakePDS) -> None:
    channel = channel_for(pds)
    channel.send(post("one", key="k1"))
    pds.expire_all()
    channel.send(post("two", key="k2"))
    assert (pds.logins, len(pds.records)) == (2, 2)


def test_a_retry_after_a_crash_finds_the_record(pds: FakePDS) -> None:
    """The first attempt created the record, then the process died before recording it."""
    first = channel_for(pds).send(post("one", "two"))
    again = channel_for(pds, clock=lambda: SENT + timedelta(hours=5)).send(post("one", "two"))
    assert again == first
    assert len(pds.records) == 2
    assert pds.calls("POST", "/xrpc/com.atproto.repo.createRecord")[2:] == []


def test_a_retry_completes_a_half_posted_thread(pds: FakePDS) -> None:
    channel = channel_for(pds)
    channel.send(post("one"))  # part 1 of the thread alone, as if the crash came right after it
    pds.fail_next("POST", "/xrpc/com.atproto.repo.createRecord", 0, None)  # part 2: connection lost
    with pytest.raises(TransientError) as caught:
        channel.send(post("one", "two"))
    assert caught.value.maybe_sent
    channel.send(post("one", "two"))
    assert [r["text"] for r in records(pds)] == ["one", "two"]


def test_a_wrong_app_password_is_permanent(pds: FakePDS) -> None:
    channel = BlueskyChannel(service=pds.url, handle=pds.handle, app_password="wrong")
    with pytest.raises(PermanentError, match="Invalid identifier or password"):
        channel.send(post("hello"))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "retry_after"),
    [
        (400, {"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}, {},
         PermanentError, None),
        (429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, {"Retry-After": "120"},
         TransientError, timedelta(seconds=120)),
        (429, {"error": "RateLimitExceeded"}, {"RateLimit-Reset": str(int(SENT.timestamp()) + 60)},
         TransientError, timedelta(seconds=62 - 2.345)),  # the reset is whole seconds; SENT is 08:00:02.345
        (502, b"Bad Gateway", {}, TransientError, None),
    ],
)  # fmt: skip
def test_xrpc_errors_map_to_the_two_types(
    pds: FakePDS, status: int, body: Any, headers: dict[str, str], error: type[Exception], retry_after: Any
) -> None:
    pds.fail_next("POST", "/xrpc/com.atproto.repo.createRecord", status, body, headers)
    with pytest.raises(error) as caught:
        channel_for(pds).send(post("hello"))
    assert type(caught.value) is error
    assert f"HTTP {status}" in str(caught.value)
    if isinstance(caught.value, TransientError):
        assert caught.value.retry_after == retry_after


def test_check_logs_in_and_asks_for_the_session(pds: FakePDS) -> None:
    channel = channel_for(pds)
    assert channel.check() == f"bluesky: logged in as esa.bsky.social ({FakePDS.DID}) at {pds.url[7:]}"
    channel.send(post("hello"))
    assert pds.logins == 1


def test_the_service_is_an_origin() -> None:
    settings = Settings.from_env(
        {
            "BLUESKY_SERVICE": "https://bsky.social/xrpc/",
            "BLUESKY_HANDLE": "@esa.bsky.social",
            "BLUESKY_APP_PASSWORD": "p",
        }
    )
    channel = BlueskyChannel.from_settings(settings)
    assert (channel.service, channel.handle) == ("https://bsky.social", "esa.bsky.social")


def test_web_url() -> None:
    assert web_url("at://did:plc:x/app.bsky.feed.post/3k2") == "https://bsky.app/profile/did:plc:x/post/3k2"
    assert web_url("at://did:plc:x/app.bsky.feed.like/3k2") is None


def test_the_app_password_and_tokens_never_show(
    pds: FakePDS, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "CANARY-bsky-app-password-91c2"
    pds.password = canary
    production_debug_logging(caplog)
    channel = BlueskyChannel.from_settings(
        Settings.from_env(
            {"BLUESKY_SERVICE": pds.url, "BLUESKY_HANDLE": pds.handle, "BLUESKY_APP_PASSWORD": canary}
        )
    )
    texts = [repr(channel), channel.check()]
    channel.send(post("hello", link="https://esa.int", image=f"{pds.url}/image.png"))
    texts.append(repr(channel._session))
    secrets = [canary, *pds.tokens.access, *pds.tokens.refresh]
    pds.expire_all()
    pds.password = "changed"
    with pytest.raises(PermanentError) as caught:
        channel.send(post("again", key="k2"))
    texts += [str(caught.value), repr(caught.value), caplog.text, *capsys.readouterr()]
    assert not [t for t in texts for s in secrets if s in t]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            {
                "error": "InvalidRequest",
                "message": "Could not locate record: at://did:plc:x/app.bsky.feed.post/x",
            },
        ),
        (501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}),
    ],
)
def test_other_ways_of_saying_there_is_no_record(pds: FakePDS, status: int, body: dict[str, str]) -> None:
    pds.fail_next("GET", "/xrpc/com.atproto.repo.getRecord", status, body)
    channel_for(pds).send(post("hello"))
    assert len(pds.records) == 1
