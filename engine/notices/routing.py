"""Which delivery channel carries a notice to a recipient, from configuration.

Channels are tried in the configured order (``TRECKK_CHANNELS``, default ``file``); a channel is
chosen when it is configured and the recipient has an address for it: ``webhook`` (a WhatsApp
gateway) needs a phone number, ``smtp`` an e-mail address, ``file`` needs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import InvalidInput

CHANNELS = ("file", "smtp", "webhook")


@dataclass(frozen=True, slots=True)
class Routing:
    """Ordered channel preference and which channels are configured."""

    preference: tuple[str, ...] = ("file",)
    configured: frozenset[str] = frozenset({"file"})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Routing:
        """``TRECKK_CHANNELS`` (order of preference); smtp/webhook count when their host/URL is set."""
        env = os.environ if environ is None else environ
        preference = tuple(p.strip() for p in env.get("TRECKK_CHANNELS", "file").split(",") if p.strip())
        for name in preference:
            if name not in CHANNELS:
                raise InvalidInput(f"TRECKK_CHANNELS names unknown channel {name!r}; allowed: {', '.join(CHANNELS)}")
        configured = {"file"}
        if env.get("TRECKK_SMTP_HOST"):
            configured.add("smtp")
        if env.get("TRECKK_WEBHOOK_URL"):
            configured.add("webhook")
        return cls(preference or ("file",), frozenset(configured))

    def route(self, phone: str | None, email: str | None) -> tuple[str, str | None]:
        """(channel, address) for a recipient with these contacts."""
        for channel in self.preference:
            if channel not in self.configured:
                continue
            if channel == "webhook" and phone:
                return channel, phone
            if channel == "smtp" and email:
                return channel, email
            if channel == "file":
                return channel, email or phone
        return "file", email or phone
