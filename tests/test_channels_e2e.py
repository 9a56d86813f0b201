"""The ExoMars campaign end to end: queued with Mastodon, Bluesky, webhooks and email all configured to
loopback fakes, the worker run on a virtual clock; every fake receives the announcement and reminders."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from channels import mastodon
from distrib.cli import main
from tests.conftest import EXAMPLE
from tests.fake_servers import FakeMastodon, FakePDS, FakeReceiver, serving
from tests.test_email import Mailbox, free_port

SECRET = "whsec_" + base64.b64encode(b"e2e-secret-of-at-least-24-bytes!").decode()
KINDS = Counter({"announcement": 1, "deadline-reminder": 3, "event-reminder": 3})


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeMastodon, FakePDS, FakeReceiver, Mailbox]]:
    mastodon._instance_limits.clear()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with serving(FakeMastodon()) as social, serving(FakePDS()) as pds, serving(FakeReceiver()) as hooks:
        for name, value in {
            "MASTODON_BASE_URL": social.url,
            "MASTODON_ACCESS_TOKEN": social.token,
            "BLUESKY_SERVICE": pds.url,
            "BLUESKY_HANDLE": pds.handle,
            "BLUESKY_APP_PASSWORD": pds.password,
            "WEBHOOK_URL": f"{hooks.url}/hook slack:{hooks.url}/slack/T0/B0/x",
            "WEBHOOK_SECRET": SECRET,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_TLS": "none",
            "EMAIL_FROM": "ESA Media Relations <media@esa.int>",
            "EMAIL_TO": "desk@tass.example, science@lemonde.example",
        }.items():
            monkeypatch.setenv(name, value)
        try:
            yield social, pds, hooks, mailbox
        finally:
            smtp.stop()
            mastodon._instance_limits.clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, _ = capsys.readouterr()
    return code, out


def test_the_campaign_reaches_every_channel_once(
    fakes: tuple[FakeMastodon, FakePDS, FakeReceiver, Mailbox], capsys: pytest.CaptureFixture[str]
) -> None:
    social, pds, hooks, mailbox = fakes
    assert run(capsys, "queue", str(EXAMPLE))[0] == 0
    code, out = run(capsys, "run", "--simulate", "2020-02-24", "2020-03-13", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {(x["channel"], x["state"]) for x in lines} == {
        (name, "sent") for name in ("mastodon", "bluesky", "webhook", "email")
    }
    for name in ("mastodon", "bluesky", "webhook", "email"):
        assert Counter(x["kind"] for x in lines if x["channel"] == name) == KINDS

    # Mastodon: seven statuses (threads reply under them), the instance's limit was asked once.
    roots = [s for s in social.statuses if s["in_reply_to_id"] is None]
    assert len(roots) == 7
    assert len(social.calls("GET", "/api/v2/instance")) == 1
    assert "#ExoMars" in roots[0]["content"]

    # Bluesky: seven top-level records, one login for the whole campaign.
    tops = [r["value"] for r in pds.records.values() if "reply" not in r["value"]]
    assert len(tops) == 7
    assert pds.logins == 1
    assert any(f["features"][0].get("tag") == "ExoMars" for f in tops[0].get("facets", []))

    # Webhooks: the JSON receiver and Slack each got every post; the JSON ones verify.
    generic = hooks.posts("/hook")
    assert Counter(r.json()["kind"] for r in generic) == KINDS
    for request in generic:
        Webhook(SECRET).verify(request.body, request.headers)
    assert len(hooks.posts("/slack/")) == 7

    # Email: one message per post to both journalists; the announcement carries the calendar.
    assert len(mailbox.received) == 7
    assert all(rcpts == ["desk@tass.example", "science@lemonde.example"] for _, rcpts, _ in mailbox.received)
    first = message_from_bytes(mailbox.received[0][2], policy=policy.default)
    attachments: list[Any] = list(first.iter_attachments())  # type: ignore[attr-defined]
    assert [a.get_filename() for a in attachments] == ["esa-2020-05-exomars-call-for-media.ics"]

    # Nothing goes out twice.
    counts = (len(social.statuses), len(pds.records), len(hooks.posts()), len(mailbox.received))
    assert run(capsys, "run", "--simulate", "2020-02-24", "2020-03-13", "--json") == (0, "")
    assert (len(social.statuses), len(pds.records), len(hooks.posts()), len(mailbox.received)) == counts


@pytest.mark.parametrize("name", ["mastodon", "bluesky"])
def test_a_crash_mid_send_then_a_retry_makes_one_post(name: str, tmp_path: Any) -> None:
    """A worker dies after the platform created the post but before it recorded `sent`; once the lease
    expires another worker retries (the channel is idempotent) and the platform still has one post."""
    from datetime import timedelta

    from channels.bluesky import BlueskyChannel
    from channels.mastodon import MastodonChannel
    from distrib.models import Status
    from distrib.store import Outbox, Store, plan_items
    from distrib.worker import VirtualClock, Worker
    from tests.conftest import NOW, sqlite_url
    from tests.fakes import planned

    with serving(FakeMastodon()) as social, serving(FakePDS()) as pds:
        channel: Any
        if name == "mastodon":
            channel = MastodonChannel(base_url=social.url, access_token=social.token, clock=lambda: NOW)
        else:
            channel = BlueskyChannel(service=pds.url, handle=pds.handle, app_password=pds.password)
        store = Store(sqlite_url(tmp_path))
        item = planned(f"r1:announcement:r1:0:{name}", NOW, channel=name, text="Call for Media #ExoMars")
        with store.write() as conn:
            plan_items(conn, "r1", [item], NOW)
        outbox = Outbox(store)
        lease = timedelta(minutes=5)
        (claimed,) = outbox.claim(NOW, "crashed-worker", lease)
        assert outbox.begin_attempt(claimed, NOW, lease)
        channel.send(claimed.post)  # reached the platform; then the process was killed

        clock = VirtualClock(NOW + timedelta(minutes=6))
        worker = Worker(store, {name: channel}, clock=clock)
        states = [t.state for t in worker.tick()]
        clock.advance(timedelta(minutes=10))  # past any backoff
        states += [t.state for t in worker.tick()]
        # Swept back to pending (idempotent: retried, not uncertain), then sent once.
        assert states == [Status.PENDING, Status.SENT]
        final = outbox.item(item.key)
        assert final is not None
        assert final.state is Status.SENT
        assert len(social.statuses if name == "mastodon" else pds.records) == 1
        store.close()
