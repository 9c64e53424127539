"""Bringing a database to the newest schema."""

from __future__ import annotations

from engine.store.database import Database


def upgrade(database: Database) -> None:
    """Create or upgrade the schema of ``database`` to the newest version."""
    database.create_schema()
