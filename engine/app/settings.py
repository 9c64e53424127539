"""Reading numbers and yes/no values from environment variables, refusing bad ones by name."""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import InvalidInput


def env_flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A true/false environment setting; anything unrecognised is refused, naming the variable."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on", "ya"):
        return True
    if raw in ("0", "false", "no", "off", "tidak"):
        return False
    raise InvalidInput(f"{name}={raw!r} is not a yes/no value; write true or false")


def env_number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    """A number from the environment, at least ``minimum``; refused with the variable's name."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise InvalidInput(f"{name}={raw!r} is too small; it must be at least {minimum:g}")
    return value
