"""The ``webhook`` channel: an HTTP POST of JSON to a WhatsApp gateway (or any receiver).

Request: ``POST <WEBHOOK_URL>`` with ``Content-Type: application/json; charset=utf-8``,
``Idempotency-Key: <message id>``, ``X-TRECKK-Message-ID: <message id>`` and, when
``WEBHOOK_TOKEN`` is set, ``Authorization: Bearer <token>``. Body::

    {"message_id": "...", "to": "+62812...", "name": "...", "subject": "...", "text": "...",
     "html": null, "case": "TRK-2026-000001", "template": "...", "created_at": "...+00:00"}

``text`` is always plain text (HTML notices converted); ``html`` holds the HTML of HTML notices.

Answers: 2xx = delivered. 408, 425 and 429 (timeout, too early, rate limit) and 5xx = retried.
Other 4xx mean the gateway refused *this* message (a bad number, say): a permanent failure —
except 401, 403 and 404, which say our token or URL is wrong, a fault of the configuration that
every notice would meet; those are retried like an outage, so fixing the configuration delivers
them. Redirects are not followed (a webhook that moved is a configuration fault too; retried).
Connection refused, DNS failures and timeouts are retried. ``WEBHOOK_TIMEOUT`` bounds the whole
exchange, not each socket operation: a gateway trickling its answer is cut off at the deadline.
A user and password in the URL are sent as HTTP Basic authentication (unless ``WEBHOOK_TOKEN`` is
set); the URL is shown and stored (in errors) without them and without its query values.
HTTP(S) proxies from the environment are not used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.channels.base import ChannelSpec, DeliveryFailure, Options
from engine.channels.deadline import InFlight
from engine.channels.http_exchange import bounded_request
from engine.core.masking import without_secrets
from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.channels.message import Outbound

RETRIED_4XX = frozenset({401, 403, 404, 408, 425, 429})
"""4xx answers that are retried: configuration faults (401, 403, 404) and 'not now' (408, 425, 429)."""

_USER_AGENT = "TRECKK-notices/1"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where to POST notices and how (the ``WEBHOOK_*`` settings)."""

    url: str
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_options(cls, options: Options) -> WebhookSettings | None:
        """Settings when ``WEBHOOK_URL`` is set, else None (the channel is not configured)."""
        url = options.text("WEBHOOK_URL")
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"{options.name('WEBHOOK_URL')}={url!r} is not an http:// or https:// URL",
                               field=options.name("WEBHOOK_URL"), value=url, accepted=("http://", "https://"))
        timeout = options.number("WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT, minimum=0.1)
        return cls(url, options.get("WEBHOOK_TOKEN") or None, timeout)


def payload(message: Outbound) -> dict[str, Any]:
    """The JSON object POSTed for one notice."""
    return {
        "message_id": message.message_id,
        "to": message.address,
        "name": message.recipient_name,
        "subject": message.subject,
        "text": message.text,
        "html": message.body if message.is_html else None,
        "case": message.case_number,
        "template": message.template,
        "created_at": message.created_at.isoformat(),
    }


class WebhookChannel:
    """POSTs each notice as JSON; one request per notice, no connection kept."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.deadline = settings.timeout
        """Seconds one whole send may take (the delivery loop's watch on this channel)."""
        self._in_flight = InFlight()
        self.where = without_secrets(settings.url)
        """The URL as it may be shown and stored (in ``last_error``): no password, no query values."""

    def send(self, message: Outbound) -> None:
        """POST ``message``; returns on a 2xx answer, raises DeliveryFailure otherwise.

        The whole exchange (connecting, sending, reading the answer) must finish within
        ``WEBHOOK_TIMEOUT`` seconds; past that the connection is cut and the send fails as temporary.
        """
        if not message.address:
            raise DeliveryFailure("the notice has no phone number for the gateway", permanent=True)
        # An answer cut off by the deadline (a status line, then a stall) is no answer:
        # the gateway drops the repeat by its Idempotency-Key.
        status, reason, body = self._post(message)
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in RETRIED_4XX
        text = " ".join(body.decode("utf-8", "replace").split())[:300]
        detail = f": {text}" if text else ""
        raise DeliveryFailure(f"webhook {self.where} answered HTTP {status} {reason}{detail}", permanent=permanent)

    def _post(self, message: Outbound) -> tuple[int, str, bytes]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
            "Idempotency-Key": message.message_id,
            "X-TRECKK-Message-ID": message.message_id,
        }
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        data = json.dumps(payload(message), ensure_ascii=False).encode("utf-8")
        answer = bounded_request("POST", self.settings.url, data, headers, timeout=self.settings.timeout,
                                 what=f"webhook {self.where}", in_flight=self._in_flight)
        return answer.status, answer.reason, answer.body

    def close(self) -> None:
        """Nothing is kept open between notices; a send still under way (abandoned by delivery) is cut."""
        self._in_flight.cut_all()


SPEC = ChannelSpec(WebhookChannel.name, "phone", ("WEBHOOK_URL", "WEBHOOK_TOKEN", "WEBHOOK_TIMEOUT"), "WEBHOOK_URL",
                   WebhookSettings.from_options, WebhookChannel)
"""The ``webhook`` channel: sends to phone numbers (a WhatsApp gateway), on when ``WEBHOOK_URL`` is set."""
