"""One HTTP POST of a body, bounded by a send deadline: what the webhook channel and the checkpoint
witness both do on the wire.

A user and password in the URL are sent as HTTP Basic authentication unless the caller gives its
own ``Authorization`` header; the URL is named in errors without them and without its query values.
Redirects are not followed and proxies from the environment are not used.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from engine.channels.base import DeliveryFailure
from engine.channels.deadline import SendDeadline
from engine.core.masking import without_secrets

ANSWER_LIMIT = 65536
"""How much of an answer is read (enough for any status text; the rest is not needed)."""


def post(url: str, data: bytes, headers: dict[str, str], deadline: SendDeadline, what: str) -> tuple[int, str, bytes]:
    """POST ``data`` to ``url``; returns (status, reason, the first bytes of the answer).

    DeliveryFailure (temporary) when the receiver cannot be reached or the exchange breaks; the
    deadline cuts the connection of a receiver that trickles or stalls.
    """
    import base64
    import http.client

    parts = urlsplit(url)
    headers = dict(headers)
    if "Authorization" not in headers and parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    connection: http.client.HTTPConnection
    try:
        port = parts.port
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname or "", port, timeout=deadline.remaining())
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=deadline.remaining())
        deadline.watch(lambda: connection.sock)
        try:
            connection.request("POST", target, body=data, headers=headers)
            response = connection.getresponse()
            # Read (some of) the answer, so the server sees a complete exchange; a server that
            # sends its status line and then stalls is cut off by the deadline.
            body = response.read(ANSWER_LIMIT)
            return int(response.status), str(response.reason), body
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DeliveryFailure(f"{what} {without_secrets(url)} is not reachable: {type(exc).__name__}: "
                              f"{without_secrets(str(exc))}") from exc
