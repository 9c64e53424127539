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
    return moment.astimezone(timezone.utc)


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always answers ``moment``."""
    frozen = moment.astimezone(timezone.utc)
    return lambda: frozen

