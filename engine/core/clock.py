"""The injected clock: real time, or a frozen moment for replays and tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from engine.errors import InvalidInput

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def parse_moment(text: str, what: str) -> datetime:
    """An ISO 8601 moment that must carry its UTC offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not an ISO 8601 time; write e.g. 2026-11-30T08:00:00+08:00") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{what} {text!r} has no UTC offset; write e.g. 2026-11-30T08:00:00+08:00")
    return within_range(moment, what, text)


EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)
"""The moments the engine computes with: deadlines, calendars, escalation steps and local times of
anything in this range stay representable (a year ahead of 9999-12-31 would not)."""


def within_range(moment: datetime, what: str, text: str | None = None) -> datetime:
    """``moment`` in UTC, or InvalidInput when it lies outside ``EARLIEST`` to ``LATEST``."""
    try:
        utc = moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        shown = text if text is not None else moment.isoformat()
        raise InvalidInput(f"{what} {shown!r} is outside the range the engine computes with "
                           f"({EARLIEST.year} to {LATEST.year - 1})")
    return utc


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always answers ``moment``."""
    frozen = moment.astimezone(timezone.utc)
    return lambda: frozen

