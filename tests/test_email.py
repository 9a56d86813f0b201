"""Email through a real SMTP server on loopback (aiosmtpd): parts, headers, the .ics, Bcc, SMTP errors."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar

from channels.email import EmailChannel, message_id
from channels.errors import PermanentError, TransientError
from distrib.config import Settings
from distrib.models import PostKind, Release
from distrib.render import Renderer
from distrib.store import Store
from tests.fake_servers import production_debug_logging

KEY = "esa-2020-05-exomars-call-for-media:announcement:esa-2020-05-exomars-call-for-media:0:email"
SENT = datetime(2020, 2, 24, 8, 0, 3, tzinfo=UTC)
JOURNALISTS = ["a@example.org", "b@example.net", "c@example.com"]


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what arrives; `rcpt_reply` / `data_reply` script refusals."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    rcpt_reply: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    drop_at_data: bool = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_reply.get(address) or self.rcpt_reply.get("*")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_at_data:
            server.transport.close()  # the message arrived; the answer never will
            return "250 OK"
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(mailbox: Mailbox, **kwargs: Any) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp(mailbox: Mailbox) -> Iterator[Controller]:
    controller = start(mailbox)
    yield controller
    controller.stop()


@pytest.fixture
def stored(exomars: Release, tmp_path: Path) -> str:
    """The ExoMars release in a store; the database URL."""
    url = f"sqlite:///{tmp_path / 'mail.sqlite3'}"
    store = Store(url)
    store.queue(exomars, "exomars.md", "", SENT)
    store.close()
    return url


def env(controller: Controller, **extra: str) -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(controller.port),
        "SMTP_TLS": "none",
        "EMAIL_FROM": "ESA Media Relations <media@esa.int>",
        "EMAIL_TO": ", ".join(JOURNALISTS),
        **extra,
    }


def channel_for(settings: dict[str, str]) -> EmailChannel:
    channel = EmailChannel.from_settings(Settings.from_env(settings))
    channel.clock = lambda: SENT
    return channel


def email_post(exomars: Release, kind: PostKind = PostKind.ANNOUNCEMENT, target: str | None = None) -> Any:
    return replace(Renderer().render(exomars, EmailChannel(), kind, target=target), key=KEY)


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_one_message_to_every_journalist_with_text_html_and_the_ics(
    exomars: Release, smtp: Controller, mailbox: Mailbox, stored: str
) -> None:
    channel = channel_for(env(smtp, DISTRIB_DATABASE_URL=stored))
    receipt = channel.send(email_post(exomars))
    ((mail_from, rcpt_tos, raw),) = mailbox.received
    assert (mail_from, rcpt_tos) == ("media@esa.int", JOURNALISTS)
    message = parsed(raw)
    assert message["To"] == "ESA Media Relations <media@esa.int>"  # the list stays private
    assert message["Bcc"] is None
    assert not any(address in raw.decode("ascii") for address in JOURNALISTS)
    assert message["Subject"].startswith("Call for Media: ESA and Roscosmos")
    assert message["Date"] == "Mon, 24 Feb 2020 08:00:03 +0000"
    assert message["Message-ID"] == message_id(KEY, "media@esa.int") == receipt.remote_id
    assert message["Message-ID"].endswith("@esa.int>")
    assert message["Content-Language"] == "en"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert "14:00–15:00 MSK (12:00–13:00 CET)" in text.get_content()
    assert html is not None
    assert "<" in html.get_content()
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "PUBLISH"
    assert attachment.get_filename() == "esa-2020-05-exomars-call-for-media.ics"
    calendar = Calendar.from_ical(attachment.get_content())
    summaries = sorted(str(event["SUMMARY"]) for event in calendar.walk("VEVENT"))
    assert any("Press briefing" in s for s in summaries)
    assert any("accreditation" in s.lower() for s in summaries)


def test_a_retry_has_the_same_message_id(exomars: Release, smtp: Controller, mailbox: Mailbox) -> None:
    channel = channel_for(env(smtp))
    channel.send(email_post(exomars))
    channel.send(email_post(exomars))
    first, second = (parsed(raw)["Message-ID"] for _, _, raw in mailbox.received)
    assert first == second


def test_without_a_stored_release_there_is_no_attachment(
    exomars: Release, smtp: Controller, mailbox: Mailbox
) -> None:
    channel_for(env(smtp, DISTRIB_DATABASE_URL="sqlite:///nowhere/none.sqlite3")).send(email_post(exomars))
    message = parsed(mailbox.received[0][2])
    assert list(message.iter_attachments()) == []
    assert message.get_body(("plain",)) is not None


def test_recipients_from_a_file(exomars: Release, smtp: Controller, mailbox: Mailbox, tmp_path: Path) -> None:
    listing = tmp_path / "journalists.txt"
    listing.write_text(
        "# accredited for the briefing\nAnna <anna@example.org>\n\n"
        "ben@example.net  # TASS\nANNA@example.org\n",
        encoding="utf-8",
    )
    channel_for(env(smtp, EMAIL_TO=f"@{listing}")).send(email_post(exomars))
    assert mailbox.received[0][1] == ["anna@example.org", "ben@example.net"]
    listing.write_text("# nobody yet\n", encoding="utf-8")
    with pytest.raises(PermanentError, match="holds no address"):
        channel_for(env(smtp, EMAIL_TO=f"@{listing}")).send(email_post(exomars))
    with pytest.raises(PermanentError, match="cannot read"):
        channel_for(env(smtp, EMAIL_TO="@missing.txt")).send(email_post(exomars))


def test_a_refused_address_does_not_stop_the_others(
    exomars: Release, smtp: Controller, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox.rcpt_reply["b@example.net"] = "550 5.1.1 No such user"
    channel_for(env(smtp)).send(email_post(exomars))
    assert mailbox.received[0][1] == ["a@example.org", "c@example.com"]
    assert "b@example.net (550)" in caplog.text


@pytest.mark.parametrize(
    ("where", "reply", "error"),
    [
        ("rcpt", "450 4.2.1 Mailbox busy, try later", TransientError),
        ("rcpt", "550 5.1.1 No such user", PermanentError),
        ("data", "451 4.3.0 Temporary failure", TransientError),
        ("data", "554 5.7.1 Message rejected as spam", PermanentError),
    ],
)
def test_smtp_4xx_is_transient_and_5xx_permanent(
    exomars: Release, smtp: Controller, mailbox: Mailbox, where: str, reply: str, error: type[Exception]
) -> None:
    if where == "rcpt":
        mailbox.rcpt_reply["*"] = reply
    else:
        mailbox.data_reply = reply
    with pytest.raises(error) as caught:
        channel_for(env(smtp)).send(email_post(exomars))
    assert type(caught.value) is error
    assert reply[:3] in str(caught.value)
    assert not getattr(caught.value, "maybe_sent", False)
    assert mailbox.received == []


def test_a_connection_lost_after_data_may_have_delivered(
    exomars: Release, smtp: Controller, mailbox: Mailbox
) -> None:
    mailbox.drop_at_data = True
    with pytest.raises(TransientError) as caught:
        channel_for(env(smtp)).send(email_post(exomars))
    assert caught.value.maybe_sent


def test_a_refused_connection_sent_nothing(exomars: Release) -> None:
    channel = channel_for({**env_stub(), "SMTP_PORT": str(free_port())})
    with pytest.raises(TransientError) as caught:
        channel.send(email_post(exomars))
    assert not caught.value.maybe_sent


def env_stub() -> dict[str, str]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_TLS": "none",
        "EMAIL_FROM": "media@esa.int",
        "EMAIL_TO": "a@example.org",
    }


class Accounts:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (self.user, self.password)
        return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_and_a_wrong_password(exomars: Release, mailbox: Mailbox) -> None:
    controller = start(mailbox, authenticator=Accounts("distrib", "s3cret-pass"), auth_require_tls=False,
                       auth_required=True)  # fmt: skip
    try:
        channel_for(env(controller, SMTP_USER="distrib", SMTP_PASSWORD="s3cret-pass")).send(
            email_post(exomars)
        )
        assert len(mailbox.received) == 1
        with pytest.raises(PermanentError, match="535"):
            channel_for(env(controller, SMTP_USER="distrib", SMTP_PASSWORD="wrong")).send(email_post(exomars))
    finally:
        controller.stop()


def test_check_connects_without_sending(smtp: Controller, mailbox: Mailbox) -> None:
    line = channel_for(env(smtp)).check()
    assert line == f"email: 127.0.0.1:{smtp.port} (no TLS) accepts mail; 3 recipient addresses"
    assert mailbox.received == []


def test_settings_are_checked() -> None:
    from distrib.errors import ConfigError

    with pytest.raises(ConfigError, match="SMTP_TLS"):
        EmailChannel.from_settings(Settings.from_env({"SMTP_TLS": "tls"}))
    with pytest.raises(ConfigError, match="SMTP_PORT"):
        EmailChannel.from_settings(Settings.from_env({"SMTP_PORT": "smtp"}))
    assert EmailChannel.from_settings(Settings.from_env({"SMTP_TLS": "ssl"})).port == 465
    assert EmailChannel.from_settings(Settings.from_env({})).port == 587


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_starttls_and_smtps(
    exomars: Release, mailbox: Mailbox, certificate: tuple[Path, Path], mode: str
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    if mode == "ssl":
        controller = start(mailbox, ssl_context=server_tls)
    else:
        controller = start(mailbox, tls_context=server_tls, require_starttls=True)
    try:
        channel = channel_for(env(controller, SMTP_TLS=mode))
        with pytest.raises(PermanentError, match="TLS failed"):  # an unknown certificate is refused
            channel.send(email_post(exomars))
        channel.ssl_context = ssl.create_default_context(cafile=str(cert))
        channel.send(email_post(exomars))
        assert len(mailbox.received) == 1
        assert channel.check().startswith(
            f"email: 127.0.0.1:{controller.port} ({'STARTTLS' if mode == 'starttls' else 'TLS'})"
        )
    finally:
        controller.stop()


def test_plain_smtp_is_refused_where_starttls_is_required(exomars: Release, mailbox: Mailbox) -> None:
    controller = start(mailbox, require_starttls=True)
    try:
        with pytest.raises(PermanentError, match="STARTTLS"):
            channel_for(env(controller, SMTP_TLS="starttls")).send(email_post(exomars))
    finally:
        controller.stop()


def test_the_password_never_shows(
    exomars: Release, mailbox: Mailbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "CANARY-smtp-password-d41d8c"
    production_debug_logging(caplog)
    controller = start(mailbox, authenticator=Accounts("distrib", canary), auth_require_tls=False)
    try:
        good = channel_for(env(controller, SMTP_USER="distrib", SMTP_PASSWORD=canary))
        texts = [repr(good), good.check()]
        good.send(email_post(exomars))
        bad = channel_for(env(controller, SMTP_USER="distrib", SMTP_PASSWORD=canary + "x"))
        with pytest.raises(PermanentError) as caught:
            bad.send(email_post(exomars))
        texts += [str(caught.value), repr(caught.value), caplog.text, *capsys.readouterr()]
        assert not [t for t in texts if canary in t]
    finally:
        controller.stop()


def test_long_lists_go_in_batches_and_a_retry_skips_the_delivered_ones(
    exomars: Release, smtp: Controller, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels import email as email_channel

    monkeypatch.setattr(email_channel, "RECIPIENTS_PER_MESSAGE", 2)
    channel = channel_for(env(smtp))
    mailbox.rcpt_reply["c@example.com"] = "451 4.3.0 Try again later"
    with pytest.raises(TransientError):
        channel.send(email_post(exomars))  # the first batch went out, the second did not
    del mailbox.rcpt_reply["c@example.com"]
    channel.send(email_post(exomars))
    assert [rcpts for _, rcpts, _ in mailbox.received] == [
        ["a@example.org", "b@example.net"],
        ["c@example.com"],
    ]
    channel.send(email_post(exomars))  # a new post (or a resend) goes to everyone again
    assert len(mailbox.received) == 4
