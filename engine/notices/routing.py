"""Which delivery channel carries a notice to a recipient, from configuration.

Channels are tried in the configured order of preference; a channel is chosen when it is
configured and the recipient has the kind of address it sends to (``engine.channels.registry``):
a phone number (``webhook``, a WhatsApp gateway), an e-mail address (``smtp``), or none at all
(``file``). When none fits, the fallback channel takes the notice.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.channels.registry import ADDRESS_KINDS, FALLBACK


@dataclass(frozen=True, slots=True)
class Routing:
    """Ordered channel preference and which channels are configured."""

    preference: tuple[str, ...] = (FALLBACK,)
    configured: frozenset[str] = frozenset({FALLBACK})

    def route(self, phone: str | None, email: str | None) -> tuple[str, str | None]:
        """(channel, address) for a recipient with these contacts."""
        for channel in self.preference:
            if channel not in self.configured:
                continue
            kind = ADDRESS_KINDS.get(channel)
            if kind == "phone" and phone:
                return channel, phone
            if kind == "email" and email:
                return channel, email
            if kind == "none":
                return channel, email or phone
        return FALLBACK, email or phone
