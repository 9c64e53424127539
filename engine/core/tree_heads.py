"""Signed checkpoints of the transparency log (a "signed tree head": size, root, time), Ed25519.

The signed text is a canonical JSON of origin, size, root (hex) and time (UTC, ISO 8601); the
signature is Ed25519 over exactly those bytes. ``key_id`` (the first 16 hex digits of SHA-256
over the raw public key) says which key signed, so a verifier can tell a checkpoint signed by
another key from a forged one. Nothing here reads files: keys are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engine.errors import InvalidInput

ORIGIN = "treckk-log/v1"
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A checkpoint: the tree had ``size`` leaves and ``root`` at ``time``, signed by ``key_id``."""

    size: int
    root: str
    time: datetime
    key_id: str
    signature: str
    """Base64 Ed25519 signature over ``signed_text``."""
    origin: str = ORIGIN

    def signed_text(self) -> bytes:
        """The bytes the signature covers."""
        return _signed_text(self.origin, self.size, self.root, self.time)

    def as_json(self) -> dict[str, Any]:
        """The checkpoint as written to files and printed."""
        return {"origin": self.origin, "size": self.size, "root": self.root,
                "time": self.time.astimezone(timezone.utc).isoformat(timespec="microseconds"),
                "key_id": self.key_id, "signature": self.signature}

    def signature_holds(self, public: Ed25519PublicKey) -> bool:
        """Whether ``public`` made this signature over this checkpoint's text."""
        if self.key_id != key_id(public):
            return False
        try:
            public.verify(base64.b64decode(self.signature, validate=True), self.signed_text())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def _signed_text(origin: str, size: int, root: str, time: datetime) -> bytes:
    return _CANONICAL.encode({"origin": origin, "size": size, "root": root,
                              "time": time.astimezone(timezone.utc).isoformat(timespec="microseconds")}).encode()


def sign(private: Ed25519PrivateKey, size: int, root: str, time: datetime) -> TreeHead:
    """A checkpoint of a tree of ``size`` leaves with ``root``, signed now (``time``)."""
    signature = private.sign(_signed_text(ORIGIN, size, root, time))
    return TreeHead(size, root, time.astimezone(timezone.utc), key_id(private.public_key()),
                    base64.b64encode(signature).decode("ascii"))


def from_json(value: Any, where: str) -> TreeHead:
    """A checkpoint read back from its JSON form; InvalidInput naming ``where`` when it is not one."""
    accepted = "a JSON object with origin, size, root, time, key_id and signature, as `treckk checkpoint` prints"
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: not a checkpoint; expected {accepted}")
    try:
        size, root, key, signature = value["size"], value["root"], value["key_id"], value["signature"]
        origin = value.get("origin", ORIGIN)
        time = datetime.fromisoformat(value["time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: not a checkpoint ({exc}); expected {accepted}") from None
    if (not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(root, str)
            or not isinstance(key, str) or not isinstance(signature, str) or not isinstance(origin, str)
            or time.tzinfo is None):
        raise InvalidInput(f"{where}: not a checkpoint (a field has the wrong type); expected {accepted}")
    return TreeHead(size, root, time.astimezone(timezone.utc), key, signature, origin)
