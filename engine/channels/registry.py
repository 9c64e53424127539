"""Every channel the engine has, by name: what routing, settings and delivery ask about channels.

A new channel is a module that declares a ``ChannelSpec`` (``SPEC``), added to ``CHANNELS`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.channels import file, smtp, webhook, whatsapp
from engine.channels.base import AddressKind, ChannelSet, ChannelSpec, Options

CHANNELS: tuple[ChannelSpec[Any], ...] = (file.SPEC, smtp.SPEC, webhook.SPEC, whatsapp.SPEC)
"""Every channel, in the order they are listed to people."""

BY_NAME: Mapping[str, ChannelSpec[Any]] = {spec.name: spec for spec in CHANNELS}

FALLBACK = file.SPEC.name
"""The channel that is always configured and needs no address: used when no preferred one fits."""

ADDRESS_KINDS: Mapping[str, AddressKind] = {spec.name: spec.address for spec in CHANNELS}
"""What each channel sends to, by name."""


def names() -> tuple[str, ...]:
    """The names of every channel."""
    return tuple(spec.name for spec in CHANNELS)


def keys() -> tuple[str, ...]:
    """Every setting any channel reads (without its prefix)."""
    return tuple(key for spec in CHANNELS for key in spec.keys)


def configure(options: Options) -> dict[str, Any]:
    """The parsed settings of each channel that ``options`` turn on, by name (``file`` always)."""
    found: dict[str, Any] = {}
    for spec in CHANNELS:
        parsed = spec.settings(options)
        if parsed is not None:
            found[spec.name] = parsed
    return found


def open_channels(configured: Mapping[str, Any], *, prefix: str = "") -> ChannelSet:
    """Open the channels whose parsed settings are given; the others get a hint naming what turns them on."""
    hints = {spec.name: f"set {prefix}{spec.enabled_by}" for spec in CHANNELS
             if spec.name not in configured and spec.enabled_by is not None}
    return ChannelSet({name: BY_NAME[name].open(settings) for name, settings in configured.items()}, hints=hints)
