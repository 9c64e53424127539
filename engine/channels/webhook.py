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
Connection refused, DNS failures and timeouts are retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.channels.base import ChannelSpec, DeliveryFailure, Options
from engine.errors import InvalidInput

if TYPE_CHECKING:
    import urllib.error
    import urllib.request

    from engine.channels.message import Outbound

# urllib.request and http.client are imported where they are used: every command reads the
# channels' settings, only a delivery run posts to the gateway.

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


def _opener() -> urllib.request.OpenerDirector:
    """A urllib opener that follows no redirect."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError with the 3xx answer

    return urllib.request.build_opener(NoRedirects)


class WebhookChannel:
    """POSTs each notice as JSON; one request per notice, no connection kept."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._opener = _opener()

    def send(self, message: Outbound) -> None:
        """POST ``message``; returns on a 2xx answer, raises DeliveryFailure otherwise."""
        import http.client
        import urllib.error
        import urllib.request

        if not message.address:
            raise DeliveryFailure("the notice has no phone number for the gateway", permanent=True)
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
        request = urllib.request.Request(self.settings.url, data=data, headers=headers, method="POST")
        where = self.settings.url
        try:
            with self._opener.open(request, timeout=self.settings.timeout) as response:
                response.read(65536)  # drain, so the server sees a complete exchange
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            detail = _snippet(exc)
            permanent = 400 <= exc.code < 500 and exc.code not in RETRIED_4XX
            raise DeliveryFailure(f"webhook {where} answered HTTP {exc.code} {exc.reason}{detail}",
                                  permanent=permanent) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DeliveryFailure(f"webhook {where} is not reachable: {type(reason).__name__}: {reason}") from exc
        if not 200 <= status < 300:
            raise DeliveryFailure(f"webhook {where} answered HTTP {status}")

    def close(self) -> None:
        """Nothing is kept open between notices."""


def _snippet(error: urllib.error.HTTPError) -> str:
    import http.client

    try:
        body = error.read(300).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        error.close()
    return f": {' '.join(body.split())}" if body else ""


SPEC = ChannelSpec(WebhookChannel.name, "phone", ("WEBHOOK_URL", "WEBHOOK_TOKEN", "WEBHOOK_TIMEOUT"), "WEBHOOK_URL",
                   WebhookSettings.from_options, WebhookChannel)
"""The ``webhook`` channel: sends to phone numbers (a WhatsApp gateway), on when ``WEBHOOK_URL`` is set."""
