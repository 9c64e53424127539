"""Delivery channels: how a rendered notice leaves TRECKK (a file, e-mail, a WhatsApp gateway).

A channel gets one ``Outbound`` message and either returns (the receiver accepted it) or raises
``DeliveryFailure``: ``permanent=True`` when sending the same message again cannot succeed (the
receiver refused *this* message), ``permanent=False`` for everything that may pass (the server is
down, a timeout, a rate limit, wrong credentials). Channels hold no database state; retries,
backoff and the outbox status belong to ``engine.notices.delivery``.

Configuration comes from the environment (see ``docs/channels.md``):

- ``file`` (always available): ``TRECKK_OUTBOX_DIR`` (default ``<home>/var/outbox``);
- ``smtp``: ``TRECKK_SMTP_HOST`` and friends (``engine.channels.smtp``);
- ``webhook``: ``TRECKK_WEBHOOK_URL`` and friends (``engine.channels.webhook``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Protocol

from engine.channels.message import Outbound
from engine.errors import InvalidInput
from engine.app.settings import env_flag, env_number

__all__ = ["Channel", "ChannelSet", "DeliveryFailure", "Outbound", "channels_from_environment", "env_flag",
           "env_number"]


class DeliveryFailure(Exception):
    """A channel could not hand a message over; ``permanent`` says whether retrying can help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent

    def __str__(self) -> str:
        return self.reason


class Channel(Protocol):
    """Something that hands one message to a receiver, or raises ``DeliveryFailure``."""

    name: str

    def send(self, message: Outbound) -> None:
        """Deliver ``message``; return only once the receiver has accepted it."""

    def close(self) -> None:
        """Release connections kept between messages of one delivery run."""


class ChannelSet(AbstractContextManager["ChannelSet"]):
    """The configured channels by name; closing it closes every channel's connections."""

    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self._channels = dict(channels)

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def get(self, name: str) -> Channel | None:
        """The channel called ``name``, or None when it is not configured."""
        return self._channels.get(name)

    def close(self) -> None:
        """Close every channel (kept SMTP connections and the like)."""
        for channel in self._channels.values():
            channel.close()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def channels_from_environment(home: Path, environ: Mapping[str, str] | None = None) -> ChannelSet:
    """Every channel the environment configures; ``file`` always, ``smtp``/``webhook`` when set."""
    from engine.channels.file import FileChannel
    from engine.channels.smtp import SmtpChannel, SmtpSettings
    from engine.channels.webhook import WebhookChannel, WebhookSettings

    env = os.environ if environ is None else environ
    outbox = env.get("TRECKK_OUTBOX_DIR") or str(home / "var" / "outbox")
    channels: dict[str, Channel] = {"file": FileChannel(Path(outbox))}
    smtp = SmtpSettings.from_environment(env)
    if smtp is not None:
        channels["smtp"] = SmtpChannel(smtp)
    webhook = WebhookSettings.from_environment(env)
    if webhook is not None:
        channels["webhook"] = WebhookChannel(webhook)
    return ChannelSet(channels)
