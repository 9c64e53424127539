"""Commands registered by this module (to be filled in)."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """No commands yet."""
