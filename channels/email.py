"""Email: a subject, a plain-text part and an HTML part (autoescaped), the release's .ics; sent over SMTP.

The journalists get one message, addressed `To:` EMAIL_FROM with every journalist as a blind
recipient (envelope only: no Bcc header is ever written), so nobody sees the list. EMAIL_TO holds the
addresses separated by commas, or `@path/to/file` with one address per line (# comments and blank
lines ignored), read at each send so the list can change without a restart. The Message-ID derives
from the outbox key: a retry carries the same id, which mail systems use to drop duplicates.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from channels.base import Channel
from channels.errors import PermanentError, TransientError
from distrib.config import Settings
from distrib.errors import ConfigError
from distrib.models import Post, Receipt, StoredRelease

if TYPE_CHECKING:
    from distrib.feeds import FeedConfig

log = logging.getLogger("channels.email")

Tls = Literal["starttls", "ssl", "none"]
TLS_MODES: tuple[Tls, ...] = ("starttls", "ssl", "none")
DEFAULT_PORTS: dict[Tls, int] = {"starttls": 587, "ssl": 465, "none": 25}
SMTP_TIMEOUT = 30.0
# RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients per message; longer lists go
# out as several transactions of the same message.
RECIPIENTS_PER_MESSAGE = 100

ReleaseLoader = Callable[[str], StoredRelease | None]


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    wants_subject: ClassVar[bool] = True
    wants_html: ClassVar[bool] = True
    idempotent: ClassVar[bool] = False  # SMTP cannot tell whether a timed-out message was accepted
    required_settings: ClassVar[tuple[str, ...]] = ("SMTP_HOST", "EMAIL_FROM", "EMAIL_TO")

    def __init__(
        self,
        limit: int | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        tls: Tls = "starttls",
        user: str | None = None,
        password: str | None = None,
        sender: str | None = None,
        recipients: str | None = None,
        timeout: float = SMTP_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        releases: ReleaseLoader | None = None,
        calendar_config: Callable[[], FeedConfig] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(limit)
        self.host = host
        self.port = port or DEFAULT_PORTS[tls]
        self.tls = tls
        self.user = user
        self._password = password
        self.sender = sender
        self.recipients_setting = recipients
        self.timeout = timeout
        self.clock = clock or (lambda: datetime.now(UTC))
        self.releases = releases  # the stored release, for its .ics (None: no attachment)
        self.calendar_config = calendar_config
        self.ssl_context = ssl_context
        self._delivered: set[tuple[str, int]] = set()  # (outbox key, batch) this process delivered
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EmailChannel(host={self.host!r}, port={self.port}, tls={self.tls!r})"  # never the password

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        tls = (settings.get("SMTP_TLS") or "starttls").strip().lower()
        if tls not in TLS_MODES:
            raise ConfigError(f"SMTP_TLS must be starttls, ssl or none, not {tls!r}")
        mode: Tls = "ssl" if tls == "ssl" else "none" if tls == "none" else "starttls"
        raw_port = settings.get("SMTP_PORT")
        try:
            port = int(raw_port) if raw_port else None
        except ValueError:
            raise ConfigError(f"SMTP_PORT must be a port number, not {raw_port!r}") from None
        sender = settings.get("EMAIL_FROM")
        if sender and "@" not in parseaddr(sender)[1]:
            raise ConfigError("EMAIL_FROM must be an address, e.g. 'Press office <press@example.org>'")
        return cls(
            host=settings.get("SMTP_HOST"),
            port=port,
            tls=mode,
            user=settings.get("SMTP_USER"),
            password=settings.get("SMTP_PASSWORD"),
            sender=sender,
            recipients=settings.get("EMAIL_TO"),
            releases=_store_loader(settings),
            calendar_config=_calendar_config(settings),
        )

    # -- what goes out -----------------------------------------------------------------------------

    def recipients(self) -> list[str]:
        """The journalists' addresses (deduplicated, in order); PermanentError when there are none."""
        raw = (self.recipients_setting or "").strip()
        where = "EMAIL_TO"
        if raw.startswith("@"):
            path = Path(raw[1:]).expanduser()
            where = f"the EMAIL_TO file {path}"
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise PermanentError(f"email: cannot read {where}: {type(exc).__name__}") from None
            entries = [line.split("#", 1)[0].strip() for line in lines]
        else:
            entries = [raw]
        found: list[str] = []
        for _name, address in getaddresses([e for e in entries if e]):
            if address and "@" in address and address.lower() not in (a.lower() for a in found):
                found.append(address)
        if not found:
            raise PermanentError(f"email: {where} holds no address")
        return found

    def message(self, post: Post) -> EmailMessage:
        if not self.sender:
            raise PermanentError("email: EMAIL_FROM is not set")
        message = EmailMessage()
        message["Subject"] = post.subject or str(post.data.get("title") or post.release_id)
        message["From"] = self.sender
        # The journalists are envelope recipients only: nobody sees the list.
        message["To"] = self.sender
        message["Date"] = format_datetime(self.clock().astimezone(UTC))
        message["Message-ID"] = message_id(post.key or post.release_id, self.sender)
        # Quoted-printable: 7-bit safe whatever the server says about 8BITMIME.
        message.set_content(post.text + "\n", cte="quoted-printable")
        if post.html:
            message.add_alternative(post.html, subtype="html", cte="quoted-printable")
        calendar = self._calendar(post)
        if calendar is not None:
            message.add_attachment(
                calendar, maintype="text", subtype="calendar", filename=f"{post.release_id}.ics",
                params={"method": "PUBLISH", "charset": "utf-8"},
            )  # fmt: skip
        # Last: set_content and add_* move or drop the Content-* headers set before them.
        message["Content-Language"] = post.language
        return message

    def _calendar(self, post: Post) -> bytes | None:
        """The release's .ics (its events and deadlines), or None: a mail without it beats no mail."""
        if self.releases is None:
            return None
        try:
            stored = self.releases(post.release_id)
            if stored is None or not (stored.release.events or stored.release.deadlines):
                return None
            from distrib.feeds import build_release_calendar

            config = self.calendar_config() if self.calendar_config is not None else None
            return build_release_calendar(stored, config)
        except Exception as exc:  # the store or the feed settings: logged, the mail still goes
            log.warning(
                "email without its calendar: %s: %s", type(exc).__name__, exc, extra={"key": post.key}
            )
            return None

    # -- SMTP ----------------------------------------------------------------------------------------

    def send(self, post: Post) -> Receipt:
        recipients = self.recipients()
        message = self.message(post)
        data = message.as_bytes(policy=email.policy.SMTP)
        envelope_from = parseaddr(self.sender or "")[1]
        key = post.key or post.release_id
        batches = [
            (number, recipients[start : start + RECIPIENTS_PER_MESSAGE])
            for number, start in enumerate(range(0, len(recipients), RECIPIENTS_PER_MESSAGE))
        ]
        with self._lock:
            owed = [(n, batch) for n, batch in batches if (key, n) not in self._delivered]
        with self._smtp() as smtp:
            for number, batch in owed:
                self._transaction(smtp, envelope_from, batch, data)
                with self._lock:
                    self._delivered.add((key, number))
        with self._lock:
            self._delivered -= {(key, n) for n, _ in batches}
        return Receipt(str(message["Message-ID"]))

    def check(self) -> str:
        """Connects, says EHLO (and STARTTLS, and logs in, when configured), then QUIT; nothing is sent."""
        count = len(self.recipients())
        with self._smtp() as smtp:
            code, _ = smtp.noop()
            if code != 250:
                raise TransientError(f"email: {self.host}:{self.port} answered NOOP with {code}")
        security = {"starttls": "STARTTLS", "ssl": "TLS", "none": "no TLS"}[self.tls]
        login = ", logged in" if self.user else ""
        addresses = f"{count} recipient address{'es' if count != 1 else ''}"
        return f"email: {self.host}:{self.port} ({security}{login}) accepts mail; {addresses}"

    @contextmanager
    def _smtp(self) -> Iterator[smtplib.SMTP]:
        """A connection after EHLO, STARTTLS and login as configured; QUIT at the end."""
        if not self.host:
            raise PermanentError("email: SMTP_HOST is not set")
        where = f"email: {self.host}:{self.port}"
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self._password or "")
        except Exception as exc:
            _close(smtp)
            raise _mapped(exc, where, sending=False) from None
        try:
            yield smtp
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()  # the message was accepted already; a lost QUIT changes nothing

    def _transaction(self, smtp: smtplib.SMTP, sender: str, batch: list[str], data: bytes) -> None:
        """MAIL, RCPT, DATA by hand (not sendmail): a connection lost after DATA may have delivered."""
        where = f"email: {self.host}:{self.port}"
        sending = False
        try:
            code, reply = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused: dict[str, tuple[int, bytes]] = {}
            for address in batch:
                code, reply = smtp.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, reply)
            if len(refused) == len(batch):
                smtp.rset()
                raise smtplib.SMTPRecipientsRefused(refused)
            if refused:
                # Bounced addresses do not stop the others; the operator sees them here.
                listing = ", ".join(f"{a} ({c})" for a, (c, _) in sorted(refused.items()))
                log.warning("some journalists' addresses were refused: %s", listing)
            sending = True
            code, reply = smtp.data(data)  # smtplib returns the final reply instead of raising
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except Exception as exc:
            raise _mapped(exc, where, sending=sending) from None


def _mapped(exc: Exception, where: str, *, sending: bool) -> Exception:
    """SMTP 4xx transient, 5xx permanent; a connection lost once DATA was under way: maybe sent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        text = f"{where}: every recipient refused ({', '.join(str(c) for c in codes)})"
        if codes and all(400 <= c < 500 for c in codes):
            return TransientError(text)
        return PermanentError(text)
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        text = f"{where}: {exc.smtp_code} {' '.join(reply.split())[:300]}"
        if 400 <= exc.smtp_code < 500:
            return TransientError(text)
        if sending and exc.smtp_code < 400:  # a 2xx/3xx where 250 was due: we cannot know
            return TransientError(text, maybe_sent=True)
        return PermanentError(text)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"{where}: {exc} (check SMTP_TLS and SMTP_USER)")
    if isinstance(exc, ssl.SSLError):
        return PermanentError(
            f"{where}: TLS failed ({exc.reason or type(exc).__name__}); check SMTP_TLS and SMTP_PORT"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        if sending:
            return TransientError(f"{where}: connection lost while sending the message", maybe_sent=True)
        if isinstance(exc, socket.gaierror):
            return TransientError(f"{where}: cannot resolve the host name")
        reason = "timed out" if isinstance(exc, TimeoutError) else "cannot connect or connection lost"
        return TransientError(f"{where}: {reason}")
    if isinstance(exc, smtplib.SMTPException | UnicodeError | ValueError):
        return PermanentError(f"{where}: {type(exc).__name__}: {exc}")
    return exc


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with suppress(OSError):
            smtp.close()


def message_id(key: str, sender: str) -> str:
    """<digest-of-the-outbox-key@sender's domain>: stable across retries, unique per post."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "distrib.invalid"
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.distrib@{domain}>"


def _store_loader(settings: Settings) -> ReleaseLoader:
    """Reads the release from the store, opened on first use (the worker's database)."""
    lock = threading.Lock()
    opened: list[object] = []

    def load(release_id: str) -> StoredRelease | None:
        from sqlalchemy.engine import make_url

        from distrib.store import Store

        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            return None  # no database here (yet): opening it would create an empty file
        with lock:
            if not opened:
                opened.append(Store(settings.database_url, migrate=False))
            store = opened[0]
        assert isinstance(store, Store)
        return store.release(release_id)

    return load


def _calendar_config(settings: Settings) -> Callable[[], FeedConfig]:
    def config() -> FeedConfig:
        from distrib.feeds import FeedConfig

        return FeedConfig.from_settings(settings)  # the UIDs of events.ics: one event, one entry

    return config
