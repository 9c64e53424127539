"""The ``smtp`` channel: e-mail through an SMTP server, with the stdlib's ``smtplib``.

Every message carries ``Message-ID: <id>`` and ``X-TRECKK-Message-ID: id`` (the outbox's id, the
same on every retry) so a mailbox or a receiving script can drop a duplicate, plus
``Auto-Submitted: auto-generated`` so vacation responders do not answer. HTML notices are sent as
``multipart/alternative``: a plain-text part first, the HTML part second.

One connection is kept for the notices of one delivery run (``close()`` ends it); when a kept
connection turns out to have been dropped by the server it is reopened once.

Which failures are permanent: the server refusing the recipient (5xx to ``RCPT``), or the message
itself (5xx after ``DATA``), or an address that is not an e-mail address. Everything else —
connection refused, timeouts, TLS problems, 4xx answers, a refused sender or bad credentials
(configuration, the same for every notice) — is temporary and retried with backoff.

Settings (``SmtpSettings.from_options``): ``SMTP_HOST`` (setting it turns the channel on),
``SMTP_PORT``, ``SMTP_STARTTLS``, ``SMTP_SSL``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_FROM``,
``SMTP_TIMEOUT`` (seconds one whole send may take, connecting included; default 20).
"""

from __future__ import annotations

from datetime import timezone

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.channels.base import ChannelSpec, DeliveryFailure, Options
from engine.channels.deadline import InFlight, SendDeadline
from engine.errors import InvalidInput

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage

    from engine.channels.message import Outbound

# smtplib, ssl and the e-mail package are imported where they are used: every command reads
# the channels' settings, only a delivery run sends e-mail.


DEFAULT_SENDER = "TRECKK Satpol PP Balangan <treckk@localhost>"
DEFAULT_TIMEOUT = 20.0
_QUIT_TIMEOUT = 2.0
"""Seconds a kept connection is given to say goodbye; a server that trickles it is cut off."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to reach the SMTP server (the ``SMTP_*`` settings)."""

    host: str
    port: int = 25
    starttls: bool = False
    use_ssl: bool = False
    user: str | None = None
    password: str | None = None
    sender: str = DEFAULT_SENDER
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_options(cls, options: Options) -> SmtpSettings | None:
        """Settings when ``SMTP_HOST`` is set, else None (the channel is not configured)."""
        host = options.text("SMTP_HOST")
        if not host:
            return None
        from email.utils import parseaddr

        use_ssl = options.flag("SMTP_SSL")
        starttls = options.flag("SMTP_STARTTLS")
        if use_ssl and starttls:
            raise InvalidInput(f"{options.name('SMTP_SSL')} and {options.name('SMTP_STARTTLS')} are both true; "
                               "choose one (SSL for port 465, STARTTLS for port 587)", field=options.name("SMTP_SSL"))
        port = int(options.number("SMTP_PORT", 465 if use_ssl else 25, minimum=1, maximum=65535))
        user = options.get("SMTP_USER") or None
        password = options.get("SMTP_PASSWORD") or None
        if user and password is None:
            raise InvalidInput(f"{options.name('SMTP_USER')} is set but {options.name('SMTP_PASSWORD')} is not",
                               field=options.name("SMTP_PASSWORD"))
        sender = options.text("SMTP_FROM") or DEFAULT_SENDER
        if "@" not in parseaddr(sender)[1]:
            raise InvalidInput(f"{options.name('SMTP_FROM')}={sender!r} is not an e-mail address; write e.g. "
                               "'TRECKK Satpol PP Balangan <treckk@satpolpp.balangankab.go.id>'",
                               field=options.name("SMTP_FROM"), value=sender)
        timeout = options.number("SMTP_TIMEOUT", DEFAULT_TIMEOUT, minimum=0.1)
        return cls(host, port, starttls, use_ssl, user, password, sender, timeout)


def compose(message: Outbound, sender: str) -> EmailMessage:
    """The e-mail for one notice; raises DeliveryFailure (permanent) for an unusable address."""
    from email.errors import HeaderParseError
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import format_datetime

    from engine.channels.message import header_text

    if not message.address:
        raise DeliveryFailure("the notice has no e-mail address", permanent=True)
    try:
        recipient = Address(display_name=header_text(message.recipient_name), addr_spec=message.address)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise DeliveryFailure(f"{message.address!r} is not a usable e-mail address: {exc}", permanent=True) from exc
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient
    email["Subject"] = header_text(message.subject)
    email["Date"] = format_datetime(message.created_at.astimezone(timezone.utc))
    email["Message-ID"] = message.header_id
    email["X-TRECKK-Message-ID"] = message.message_id
    if message.case_number:
        email["X-TRECKK-Case"] = message.case_number
    if message.template:
        email["X-TRECKK-Template"] = message.template
    email["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps non-ASCII text (names, "·", "→") safe on servers without 8BITMIME.
    email.set_content(message.text, cte=_transfer_encoding(message.text))
    if message.is_html:
        email.add_alternative(message.body, subtype="html", cte=_transfer_encoding(message.body))
    return email


class SmtpChannel:
    """Sends notices as e-mail; keeps one connection open for the notices of one run."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.deadline = settings.timeout
        """Seconds one whole send may take (the delivery loop's watch on this channel)."""
        self._client: smtplib.SMTP | None = None
        self._in_flight = InFlight()

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _connect(self, deadline: SendDeadline) -> smtplib.SMTP:
        import smtplib
        import ssl

        s = self.settings
        client: smtplib.SMTP
        # Built without a host so the deadline watches the socket from the moment connect() opens
        # it: a server trickling its greeting is cut off like one trickling any other answer.
        if s.use_ssl:
            client = smtplib.SMTP_SSL(timeout=deadline.remaining(), context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(timeout=deadline.remaining())
        deadline.watch(lambda: client.sock)
        try:
            client.connect(s.host, s.port)
            client.ehlo()
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
                deadline.watch(lambda: client.sock)  # the TLS socket wraps the plain one
                client.ehlo()
            if s.user and s.password is not None:
                client.login(s.user, s.password)
        except BaseException:
            _quietly_close(client)
            raise
        return client

    def send(self, message: Outbound) -> None:
        """Hand ``message`` to the SMTP server; returns once the server accepted it.

        The whole exchange (connecting included) must finish within ``SMTP_TIMEOUT`` seconds;
        past that the connection is cut and the send fails as temporary.
        """
        email = compose(message, self.settings.sender)
        with SendDeadline(self.settings.timeout, f"sending to SMTP server {self.where}") as deadline:
            self._in_flight.begin(deadline)
            try:
                self._send(email, message, deadline)
            except DeliveryFailure:
                if deadline.expired:
                    self._drop()
                    raise deadline.failure() from None
                raise
            finally:
                self._in_flight.end(deadline)

    def _send(self, email: EmailMessage, message: Outbound, deadline: SendDeadline) -> None:
        import smtplib
        from email.utils import parseaddr

        envelope_from = parseaddr(self.settings.sender)[1]
        assert message.address is not None
        for try_number in (1, 2):
            reused = self._client is not None
            try:
                if self._client is None:
                    self._client = self._connect(deadline)
                else:
                    kept = self._client
                    deadline.watch(lambda: kept.sock)
                    if kept.sock is not None:
                        kept.sock.settimeout(min(self.settings.timeout, deadline.remaining()))
                self._client.send_message(email, from_addr=envelope_from, to_addrs=[message.address])
                return
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if reused and try_number == 1 and not deadline.expired:
                    continue  # the server closed a connection kept from an earlier notice; open a new one
                raise DeliveryFailure(f"SMTP server {self.where} closed the connection: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                self._quit()
                answers = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
                permanent = all(500 <= code < 600 for code, _ in exc.recipients.values())
                raise DeliveryFailure(f"SMTP server {self.where} refused recipient {message.address}: {answers}",
                                      permanent=permanent) from exc
            except smtplib.SMTPDataError as exc:
                self._quit()
                raise DeliveryFailure(f"SMTP server {self.where} refused the message: {exc.smtp_code} "
                                      f"{_text(exc.smtp_error)}", permanent=500 <= exc.smtp_code < 600) from exc
            except smtplib.SMTPResponseException as exc:
                self._quit()
                raise DeliveryFailure(f"SMTP server {self.where} answered {exc.smtp_code} "
                                      f"{_text(exc.smtp_error)}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise DeliveryFailure(f"SMTP server {self.where} is not reachable: "
                                      f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """End the kept connection, if any; a send still under way (abandoned by delivery) is cut
        instead, and closes its connection itself as it fails."""
        if self._in_flight.cut_all():
            return
        self._quit()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _quietly_close(client)

    def _quit(self) -> None:
        import smtplib

        client, self._client = self._client, None
        if client is not None:
            try:
                with SendDeadline(_QUIT_TIMEOUT, "closing the SMTP connection") as deadline:
                    deadline.watch(lambda: client.sock)
                    if client.sock is not None:
                        client.sock.settimeout(_QUIT_TIMEOUT)
                    client.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(client)


def _transfer_encoding(text: str) -> str | None:
    return None if text.isascii() else "quoted-printable"


def _quietly_close(client: smtplib.SMTP) -> None:
    try:
        client.close()
    except OSError:
        pass


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


SPEC = ChannelSpec(SmtpChannel.name, "email", ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS", "SMTP_SSL", "SMTP_USER",
                                               "SMTP_PASSWORD", "SMTP_FROM", "SMTP_TIMEOUT"),
                   "SMTP_HOST", SmtpSettings.from_options, SmtpChannel)
"""The ``smtp`` channel: sends to e-mail addresses, on when ``SMTP_HOST`` is set."""
