"""One HTTP request and its answer, bounded by a send deadline: what the webhook channel, the WhatsApp
Cloud API client and the checkpoint witness all do on the wire.

One connection per request, none kept. A user and password in the URL are sent as HTTP Basic
authentication unless the caller gives its own ``Authorization`` header; errors name the URL
without them and without its query values. Redirects are not followed and proxies from the
environment are not used. The deadline cuts the connection of a peer that trickles or stalls.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from engine.channels.base import DeliveryFailure
from engine.channels.deadline import InFlight, SendDeadline
from engine.core.masking import without_secrets

ANSWER_LIMIT = 65536
"""How much of an answer is read by default (enough for any status text; the rest is not needed)."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the peer answered: status, reason, the first bytes of the body, its media type."""

    status: int
    reason: str
    body: bytes
    media_type: str = ""


def request(method: str, url: str, data: bytes | None, headers: dict[str, str], deadline: SendDeadline,
            what: str, *, limit: int = ANSWER_LIMIT) -> HttpAnswer:
    """``method`` ``url`` with ``data``; the answer, its body read up to ``limit`` + 1 bytes (so a
    caller can tell an answer over its limit).

    DeliveryFailure (temporary) when the peer cannot be reached or the exchange breaks, naming
    ``what`` (which may name the URL: pass it through ``without_secrets`` first).
    """
    import base64
    import http.client

    parts = urlsplit(url)
    headers = dict(headers)
    if "Authorization" not in headers and parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    try:
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=deadline.remaining())
        deadline.watch(lambda: connection.sock)
        try:
            connection.request(method, target, body=data, headers=headers)
            response = connection.getresponse()
            # Read (some of) the answer, so the server sees a complete exchange; a server that
            # sends its status line and then stalls is cut off by the deadline.
            body = response.read(limit + 1)
            return HttpAnswer(int(response.status), str(response.reason), body,
                              response.getheader("Content-Type", "") or "")
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DeliveryFailure(f"{what} is not reachable: {type(exc).__name__}: "
                              f"{without_secrets(str(exc))}") from exc


def bounded_request(method: str, url: str, data: bytes | None, headers: dict[str, str], *, timeout: float,
                    what: str, in_flight: InFlight | None = None, limit: int = ANSWER_LIMIT) -> HttpAnswer:
    """``request`` with its own deadline of ``timeout`` seconds for the whole exchange.

    A peer still connecting, sending or answering at the deadline is cut off and the request fails
    as temporary (the deadline's own message); an answer cut off mid-way is no answer either.
    With ``in_flight``, the send can be cut from outside while it runs (a channel being closed).
    """
    with SendDeadline(timeout, f"{method} to {what}") as deadline:
        if in_flight is not None:
            in_flight.begin(deadline)
        try:
            answer = request(method, url, data, headers, deadline, what, limit=limit)
        except DeliveryFailure:
            if deadline.expired:
                raise deadline.failure() from None
            raise
        finally:
            if in_flight is not None:
                in_flight.end(deadline)
        deadline.check()
    return answer
