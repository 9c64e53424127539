"""A local peer of the WhatsApp Cloud API for tests: a real HTTP server on loopback speaking its JSON.

It serves ``POST /v21.0/{phone-number-id}/messages`` (answering ``{"messages": [{"id": "wamid..."}]}``),
``GET /v21.0/{media-id}`` (``{"url", "mime_type", "sha256", "file_size", "id"}``) and the media URL
it gave, each only with the right bearer token. A test can make the next sends fail with a status
(``fail_next(500, 2)``), hold the media endpoint until released (``media_gate``), and read every
request it got. Like the real API it takes each message once per ``biz_opaque_callback_data``: a
repeat of one already accepted gets the same ``wamid`` and is not counted again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "v21.0"
PHONE_NUMBER_ID = "109876543210"
TOKEN = "peer-token-not-a-secret-elsewhere"
APP_SECRET = "peer-app-secret-0123456789"
VERIFY_TOKEN = "peer-verify-token"
BUSINESS_NUMBER = "6285100001111"


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    body: Any


@dataclass
class Peer:
    """State of the peer, shared with its handler threads."""

    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Messages taken, by their biz_opaque_callback_data (or wamid when none), first payload kept."""
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    failing: dict[str, list[int]] = field(default_factory=dict)
    """Statuses to answer the next sends of one message (by biz_opaque_callback_data) with."""
    media_gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.media_gate.set()

    @property
    def api_url(self) -> str:
        return f"{self.url}/{VERSION}"

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def fail_message(self, message_id: str, status: int, times: int = 1) -> None:
        with self.lock:
            self.failing.setdefault(message_id, []).extend([status] * times)

    def sends(self) -> list[dict[str, Any]]:
        """The bodies of every send attempt, in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    def texts_to(self, to: str) -> list[str]:
        """The accepted free texts to ``to``, in order."""
        return [m["text"]["body"] for m in self.accepted.values() if m.get("to") == to and m.get("type") == "text"]

    def templates_to(self, to: str) -> list[dict[str, Any]]:
        return [m["template"] for m in self.accepted.values() if m.get("to") == to and m.get("type") == "template"]

    def settings(self) -> dict[str, str]:
        """The TRECKK settings that point at this peer."""
        return {"TRECKK_WHATSAPP_API_URL": self.api_url, "TRECKK_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                "TRECKK_WHATSAPP_TOKEN": TOKEN, "TRECKK_WHATSAPP_APP_SECRET": APP_SECRET,
                "TRECKK_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN, "TRECKK_WHATSAPP_TIMEOUT": "5"}

    def stop(self) -> None:
        self.media_gate.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_peer() -> Peer:
    """A running peer on a free loopback port."""
    peer = Peer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return

        def _answer(self, status: int, payload: Any = None, *, raw: bytes | None = None,
                    media_type: str = "application/json") -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"error": {"message": "Invalid OAuth access token", "code": 190}})
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            with peer.lock:
                peer.requests.append(Request("GET", self.path, self.headers.get("Authorization", ""), None))
            if not self._authorized():
                return
            if self.path.startswith("/download/"):
                media_id = self.path.rsplit("/", 1)[-1]
                found = peer.media.get(media_id)
                if found is None:
                    self._answer(404, {"error": {"message": "not found"}})
                    return
                self._answer(200, raw=found[0], media_type=found[1])
                return
            media_id = self.path.rsplit("/", 1)[-1]
            peer.media_gate.wait(30)  # a slow media endpoint: held until the test releases it
            found = peer.media.get(media_id)
            if found is None:
                self._answer(400, {"error": {"message": "Unsupported get request", "code": 100}})
                return
            data, media_type = found
            self._answer(200, {"messaging_product": "whatsapp", "url": f"{peer.url}/download/{media_id}",
                               "mime_type": media_type, "sha256": hashlib.sha256(data).hexdigest(),
                               "file_size": len(data), "id": media_id})

        def do_POST(self) -> None:  # noqa: N802 - the base class's name
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            with peer.lock:
                peer.requests.append(Request("POST", self.path, self.headers.get("Authorization", ""), body))
                failure = peer.failures.pop(0) if peer.failures else None
                own = peer.failing.get(str((body or {}).get("biz_opaque_callback_data")))
                if failure is None and own:
                    failure = own.pop(0)
            if not self._authorized():
                return
            if self.path != f"/{VERSION}/{PHONE_NUMBER_ID}/messages":
                self._answer(404, {"error": {"message": "Unknown path components"}})
                return
            if failure is not None:
                self._answer(failure, {"error": {"message": "Service temporarily unavailable", "code": 2}})
                return
            key = str(body.get("biz_opaque_callback_data") or f"n{len(peer.accepted)}")
            with peer.lock:
                if key not in peer.accepted:
                    peer.accepted[key] = {**body, "wamid": f"wamid.PEER{len(peer.accepted) + 1:04d}"}
                wamid = peer.accepted[key]["wamid"]
            self._answer(200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"),
                                                                               "wa_id": body.get("to")}],
                               "messages": [{"id": wamid}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    peer.server = server
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="whatsapp-peer", daemon=True).start()
    return peer


# -- what the platform POSTs to the webhook -------------------------------------------------------

def envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
                      **value}}]}]}


def message(sender: str, message_id: str, timestamp: int, kind: str, content: dict[str, Any], *,
            name: str = "Budi Santoso") -> dict[str, Any]:
    """A webhook payload carrying one message."""
    return envelope({"contacts": [{"profile": {"name": name}, "wa_id": sender}],
                     "messages": [{"from": sender, "id": message_id, "timestamp": str(timestamp), "type": kind,
                                   kind: content}]})


def status(wamid: str, state: str, timestamp: int, recipient: str, errors: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    """A webhook payload carrying one status update."""
    entry: dict[str, Any] = {"id": wamid, "status": state, "timestamp": str(timestamp), "recipient_id": recipient}
    if errors:
        entry["errors"] = errors
    return envelope({"statuses": [entry]})


def signed(payload: dict[str, Any], secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """The body as the platform sends it (its own escaping of non-ASCII) and its signature header."""
    body = json.dumps(payload).encode("ascii")  # \\u escapes, as the platform writes them
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
