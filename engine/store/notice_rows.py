"""The outbox of notices. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from engine.store.schema import notices


def insert_notices(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue rendered notices in the caller's transaction (nothing is sent here)."""
    if rows:
        connection.execute(insert(notices), list(rows))
