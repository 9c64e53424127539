"""One notice as it leaves TRECKK, and its readable form (headers, then the text).

The same readable form is written by the file channel and shown by ``treckk notices show``, so
what an operator reads is what was (or will be) delivered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime

from engine.channels.plaintext import html_to_text


@dataclass(frozen=True, slots=True)
class Outbound:
    """A rendered notice ready to hand to a channel; ``message_id`` is the same on every retry."""

    message_id: str
    channel: str
    address: str | None
    recipient_name: str
    subject: str
    body: str
    is_html: bool
    created_at: datetime
    case_number: str | None = None
    template: str = ""
    channel_data: str | None = None
    """What the channel needs beyond the text, as JSON (the WhatsApp template call), or None."""

    @property
    def header_id(self) -> str:
        """The id in angle brackets, as RFC 5322 writes a Message-ID."""
        return f"<{self.message_id}>"

    @property
    def text(self) -> str:
        """The body as plain text (HTML notices are converted; text notices are as rendered)."""
        return html_to_text(self.body) if self.is_html else self.body

    @property
    def to(self) -> str:
        """``Name <address>``, or the name alone when there is no address."""
        return f"{self.recipient_name} <{self.address}>" if self.address else self.recipient_name


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """``value`` as one header line: CR, LF and every other control character become a space, so a
    name or subject can never add a header line (``Bcc: ...``) to a file, an e-mail or a listing."""
    return _CONTROL.sub(" ", value).strip()


def headers(message: Outbound) -> list[tuple[str, str]]:
    """The header lines of the readable form, in a fixed order (each value on one line)."""
    return [(name, header_text(value)) for name, value in _headers(message)]


def _headers(message: Outbound) -> list[tuple[str, str]]:
    lines = [
        ("Message-ID", message.header_id),
        ("Date", format_datetime(message.created_at.astimezone(timezone.utc))),
        ("To", message.to),
        ("Channel", message.channel),
    ]
    if message.case_number:
        lines.append(("Case", message.case_number))
    if message.template:
        lines.append(("Template", message.template))
    lines.append(("Format", "html" if message.is_html else "text"))
    lines.append(("Subject", message.subject))
    return lines


def readable(message: Outbound, *, html_as_text: bool = True, extra: tuple[tuple[str, str], ...] = ()) -> str:
    """Headers, a blank line, then the body (HTML shown as text unless ``html_as_text`` is False)."""
    head = "\n".join(f"{name}: {header_text(value)}" for name, value in [*headers(message), *extra])
    body = message.text if html_as_text else message.body
    return f"{head}\n\n{body.rstrip()}\n"
