"""The ``whatsapp`` channel and the Cloud API client it stands on (sending, media lookup, download).

Settings (``TRECKK_`` + key): ``WHATSAPP_API_URL`` (the Graph API base with its version, e.g.
``https://graph.facebook.com/v21.0``; setting it turns the channel on), ``WHATSAPP_PHONE_NUMBER_ID``,
``WHATSAPP_TOKEN`` (sent as ``Authorization: Bearer``), ``WHATSAPP_APP_SECRET`` (checks the webhook's
signatures), ``WHATSAPP_VERIFY_TOKEN`` (the webhook's verify handshake), ``WHATSAPP_TIMEOUT``
(seconds one whole exchange may take). With the URL set the four others are required. Secrets
never appear in a ``repr``, a log line or an error.

A notice is ``POST {API_URL}/{PHONE_NUMBER_ID}/messages``: free text (``type: text``, at most 4,096
characters) or, when the notice carries a template call (``Outbound.channel_data``, decided when it
was rendered: the recipient's 24-hour window was closed), ``type: template``. Every attempt of one
notice carries the notice's message id as ``biz_opaque_callback_data``, so a retry is recognisable
as the same message; the answer's ``messages[0].id`` (the ``wamid``) is returned and kept with the
notice, for the status callbacks. 5xx, 408, 425, 429, 401, 403, 404 and unreachable are retried;
other 4xx refuse this message (permanent).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from engine.channels.base import ChannelSpec, DeliveryFailure, Options
from engine.channels.deadline import InFlight
from engine.channels.http_exchange import HttpAnswer, bounded_request
from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.channels.message import Outbound

DEFAULT_TIMEOUT = 10.0
TEXT_LIMIT = 4096
"""The longest text body the Cloud API takes."""
RETRIED_4XX = frozenset({401, 403, 404, 408, 425, 429})
_USER_AGENT = "TRECKK-whatsapp/1"
_ANSWER_LIMIT = 256 * 1024
"""The most bytes of a JSON answer read (a media URL lookup, a send's answer)."""

KEYS = ("WHATSAPP_API_URL", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_TOKEN", "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_TIMEOUT")


@dataclass(frozen=True, slots=True)
class WhatsAppSettings:
    """The ``WHATSAPP_*`` settings; the secrets are left out of ``repr``."""

    api_url: str
    phone_number_id: str
    token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_options(cls, options: Options) -> WhatsAppSettings | None:
        """Settings when ``WHATSAPP_API_URL`` is set, else None; a missing companion is refused by name."""
        url = options.text("WHATSAPP_API_URL").rstrip("/")
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.username:
            raise InvalidInput(f"{options.name('WHATSAPP_API_URL')}={url!r} is not an http:// or https:// URL "
                               "without a query or password, e.g. https://graph.facebook.com/v21.0",
                               field=options.name("WHATSAPP_API_URL"), value=url, accepted=("http://", "https://"))
        missing = [options.name(key) for key in KEYS[1:5] if not options.text(key)]
        if missing:
            raise InvalidInput(f"{options.name('WHATSAPP_API_URL')} is set, so {', '.join(missing)} must be set too",
                               field=missing[0])
        number_id = options.text("WHATSAPP_PHONE_NUMBER_ID")
        if not re.fullmatch(r"[0-9]{1,32}", number_id):
            raise InvalidInput(f"{options.name('WHATSAPP_PHONE_NUMBER_ID')}={number_id!r} is not a phone number id "
                               "(digits, as the WhatsApp Manager shows it)",
                               field=options.name("WHATSAPP_PHONE_NUMBER_ID"), value=number_id)
        return cls(url, number_id, options.text("WHATSAPP_TOKEN"), options.text("WHATSAPP_APP_SECRET"),
                   options.text("WHATSAPP_VERIFY_TOKEN"),
                   options.number("WHATSAPP_TIMEOUT", DEFAULT_TIMEOUT, minimum=0.1))


def wa_address(address: str) -> str:
    """A phone number as WhatsApp writes it: digits only, country code first (``0812…`` → ``62812…``)."""
    digits = re.sub(r"[^0-9]", "", address)
    return "62" + digits[1:] if digits.startswith("0") else digits


def json_of(answer: HttpAnswer) -> Any:
    """The answer's body as JSON, or None when it is not JSON."""
    try:
        return json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def error_text(answer: HttpAnswer) -> str:
    """The API's error message when it gave one (never the request, so never the token)."""
    found = json_of(answer)
    if isinstance(found, dict) and isinstance(found.get("error"), dict):
        error = found["error"]
        return " ".join(str(error.get(key, "")) for key in ("code", "message") if error.get(key) is not None)[:300]
    return " ".join(answer.body.decode("utf-8", "replace").split())[:300]


class CloudApi:
    """HTTP exchanges with the Cloud API, each bounded in wall time by ``WHATSAPP_TIMEOUT``."""

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings
        self._in_flight = InFlight()

    def exchange(self, method: str, url: str, payload: Any = None, *, limit: int = _ANSWER_LIMIT,
                 what: str = "the WhatsApp Cloud API") -> HttpAnswer:
        """``method`` ``url`` (absolute) with the bearer token; raises DeliveryFailure (temporary) when the
        API cannot be reached or does not answer in time, or answers more than ``limit`` bytes."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryFailure(f"{what} gave an unusable URL", permanent=True)
        headers = {"Authorization": f"Bearer {self.settings.token}", "User-Agent": _USER_AGENT,
                   "Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        answer = bounded_request(method, url, data, headers, timeout=self.settings.timeout, what=what,
                                 in_flight=self._in_flight, limit=limit)
        if len(answer.body) > limit:
            raise DeliveryFailure(f"{what} answered more than {limit} bytes", permanent=True)
        return answer

    def send(self, payload: dict[str, Any]) -> str | None:
        """POST one message; the ``wamid`` it was given, or DeliveryFailure."""
        url = f"{self.settings.api_url}/{self.settings.phone_number_id}/messages"
        answer = self.exchange("POST", url, payload, what="the WhatsApp messages endpoint")
        if 200 <= answer.status < 300:
            found = json_of(answer)
            messages = found.get("messages") if isinstance(found, dict) else None
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                wamid = messages[0].get("id")
                return str(wamid) if wamid else None
            return None
        permanent = 400 <= answer.status < 500 and answer.status not in RETRIED_4XX
        detail = error_text(answer)
        raise DeliveryFailure(f"the WhatsApp messages endpoint answered HTTP {answer.status} {answer.reason}"
                              + (f": {detail}" if detail else ""), permanent=permanent)

    def media(self, media_id: str, *, max_bytes: int, accepted: frozenset[str]) -> tuple[bytes, str]:
        """The bytes and media type of an incoming media object (``GET /{media-id}``, then its URL).

        Refused (DeliveryFailure, permanent) when the API announces or sends more than ``max_bytes``,
        or a media type outside ``accepted``; temporary when the API is unreachable or answers 5xx.
        """
        if not re.fullmatch(r"[0-9A-Za-z_.-]{1,128}", media_id):
            raise DeliveryFailure("the media id is not usable", permanent=True)
        lookup = self.exchange("GET", f"{self.settings.api_url}/{quote(media_id)}", what="the WhatsApp media endpoint")
        if lookup.status != 200:
            raise DeliveryFailure(f"the WhatsApp media endpoint answered HTTP {lookup.status}",
                                  permanent=400 <= lookup.status < 500 and lookup.status not in RETRIED_4XX)
        found = json_of(lookup)
        if not isinstance(found, dict) or not isinstance(found.get("url"), str):
            raise DeliveryFailure("the WhatsApp media endpoint gave no URL", permanent=True)
        media_type = str(found.get("mime_type") or "").split(";")[0].strip().lower()
        if media_type not in accepted:
            raise DeliveryFailure(f"media type {media_type or 'unknown'} is not accepted", permanent=True)
        size = found.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise DeliveryFailure(f"the file has {size} bytes; at most {max_bytes} are accepted", permanent=True)
        download = self.exchange("GET", found["url"], limit=max_bytes, what="the WhatsApp media download")
        if download.status != 200:
            raise DeliveryFailure(f"the WhatsApp media download answered HTTP {download.status}",
                                  permanent=400 <= download.status < 500 and download.status not in RETRIED_4XX)
        return download.body, media_type

    def close(self) -> None:
        """Cut any exchange still under way (delivery abandoned it)."""
        self._in_flight.cut_all()


def message_payload(message: Outbound) -> dict[str, Any]:
    """The Cloud API body for one notice: its template call when it has one, else its text."""
    to = wa_address(message.address or "")
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                               "biz_opaque_callback_data": message.message_id}
    call = json.loads(message.channel_data).get("template") if message.channel_data else None
    if isinstance(call, dict):
        payload["type"] = "template"
        payload["template"] = {
            "name": call["name"], "language": {"code": call["language"]},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": text}
                                                           for text in call.get("parameters", [])]}],
        }
        return payload
    text = message.text
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT - 1] + "…"
    payload["type"] = "text"
    payload["text"] = {"preview_url": False, "body": text}
    return payload


class WhatsAppChannel:
    """Sends each notice as one Cloud API message; nothing is kept open between notices."""

    name = "whatsapp"

    def __init__(self, settings: WhatsAppSettings) -> None:
        self.settings = settings
        self.deadline = settings.timeout
        self.api = CloudApi(settings)

    def send(self, message: Outbound) -> str | None:
        """Send ``message``; returns the ``wamid`` the API gave it."""
        if not message.address or not wa_address(message.address):
            raise DeliveryFailure("the notice has no phone number for WhatsApp", permanent=True)
        return self.api.send(message_payload(message))

    def close(self) -> None:
        """Cut a send still under way."""
        self.api.close()


SPEC = ChannelSpec(WhatsAppChannel.name, "phone", KEYS, "WHATSAPP_API_URL", WhatsAppSettings.from_options,
                   WhatsAppChannel)
"""The ``whatsapp`` channel: sends to phone numbers through the Cloud API, on when ``WHATSAPP_API_URL`` is set."""
