"""What every delivery channel is: the failure it raises, its protocol, a set of them, its settings.

A channel gets one ``Outbound`` message and either returns (the receiver accepted it) or raises
``DeliveryFailure``: ``permanent=True`` when sending the same message again cannot succeed (the
receiver refused *this* message), ``permanent=False`` for everything that may pass (the server is
down, a timeout, a rate limit, wrong credentials). Channels hold no database state; retries,
backoff and the outbox status belong to ``engine.notices.delivery``.

Each channel module declares a ``ChannelSpec``: its name, the kind of address it sends to, the
settings it reads (as plain text by key, in ``Options``) and how to open it from them.
``engine.channels.registry`` lists the specs; nothing here reads the environment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

from engine.errors import InvalidInput

MAX_NUMBER = 1e9
"""The largest number a setting may hold unless it says otherwise (seconds: about 31 years)."""

if TYPE_CHECKING:
    from engine.channels.message import Outbound

AddressKind = Literal["phone", "email", "none"]
"""What a channel sends to: a phone number, an e-mail address, or nothing (it keeps the notice)."""

S = TypeVar("S")


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
    # A channel may also have ``deadline`` (seconds one send may take); the delivery loop stops
    # waiting for a send that outlives it (engine.notices.delivery.DEFAULT_DEADLINE otherwise).

    def send(self, message: Outbound) -> str | None:
        """Deliver ``message``; return only once the receiver has accepted it, with the receiver's own
        id for it when it gives one (WhatsApp's ``wamid``, kept with the notice for status callbacks)."""

    def close(self) -> None:
        """Release connections kept between messages of one delivery run."""


class ChannelSet(AbstractContextManager["ChannelSet"]):
    """The configured channels by name; closing it closes every channel's connections.

    ``hints`` say, for channels that exist but are not configured here, what would configure
    them (``set ...``), for the message of a notice routed to one of them.
    """

    def __init__(self, channels: Mapping[str, Channel], *, hints: Mapping[str, str] | None = None) -> None:
        self._channels = dict(channels)
        self._hints = dict(hints or {})

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def get(self, name: str) -> Channel | None:
        """The channel called ``name``, or None when it is not configured."""
        return self._channels.get(name)

    def how_to_configure(self, name: str) -> str:
        """What would configure channel ``name`` in this process, or which channels there are."""
        hint = self._hints.get(name)
        if hint is not None:
            return hint
        return f"known channels are {', '.join(sorted({*self._channels, *self._hints}))}"

    def close(self) -> None:
        """Close every channel (kept SMTP connections and the like)."""
        for channel in self._channels.values():
            channel.close()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


YES_WORDS = ("1", "true", "yes", "on", "ya")
"""How a yes/no setting may say yes (lower case)."""
NO_WORDS = ("0", "false", "no", "off", "tidak")
"""How a yes/no setting may say no (lower case)."""


@dataclass(frozen=True, slots=True)
class Options:
    """Settings as plain text by key; a key is named to a person as ``prefix + key``.

    ``home`` is the project directory, for defaults that lie under it. Unset and empty keys read
    as ``""``; numbers and yes/no values that cannot be read are refused by their full name.
    """

    values: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""
    home: Path = Path(".")

    def name(self, key: str) -> str:
        """How a person names ``key`` (the environment variable they set)."""
        return f"{self.prefix}{key}"

    def get(self, key: str) -> str:
        """The text of ``key`` as given, or ``""``."""
        return self.values.get(key) or ""

    def text(self, key: str) -> str:
        """The text of ``key`` without surrounding blanks, or ``""``."""
        return self.get(key).strip()

    def flag(self, key: str, default: bool = False) -> bool:
        """A true/false setting; anything unrecognised is refused, naming the setting."""
        raw = self.text(key).lower()
        if not raw:
            return default
        if raw in YES_WORDS:
            return True
        if raw in NO_WORDS:
            return False
        raise InvalidInput(f"{self.name(key)}={raw!r} is not a yes/no value; write true or false",
                           field=self.name(key), value=raw, accepted=("true", "false"))

    def number(self, key: str, default: float, *, minimum: float = 0.0, maximum: float = MAX_NUMBER) -> float:
        """A finite number from ``minimum`` to ``maximum``; refused with the setting's name."""
        raw = self.text(key)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InvalidInput(f"{self.name(key)}={raw!r} is not a number", field=self.name(key), value=raw) from None
        if not math.isfinite(value) or value > maximum:
            raise InvalidInput(f"{self.name(key)}={raw!r} is not a usable number; give one from {minimum:g} to "
                               f"{maximum:g}", field=self.name(key), value=raw)
        if value < minimum:
            raise InvalidInput(f"{self.name(key)}={raw!r} is too small; it must be at least {minimum:g}",
                               field=self.name(key), value=raw)
        return value


@dataclass(frozen=True, slots=True)
class ChannelSpec(Generic[S]):
    """What a channel module declares: name, address kind, the settings it reads, how to open it."""

    name: str
    address: AddressKind
    keys: tuple[str, ...]
    """The settings the channel reads (environment variables without their prefix)."""
    enabled_by: str | None
    """The key whose value turns the channel on; None for a channel that is always there."""
    settings: Callable[[Options], S | None]
    """Parses the channel's settings; None when they leave it off."""
    open: Callable[[S], Channel]
