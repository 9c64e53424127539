"""Attachment rows: what is known about each stored upload. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from engine.store.schema import attachments


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    """One stored file: its SHA-256, sniffed media type, size in bytes, pixels, uploader and time."""

    digest: str
    media_type: str
    size: int
    width: int
    height: int
    original_name: str | None
    uploaded_by: str
    uploaded_at: datetime


def _row(found: object) -> AttachmentRow:
    mapping = found._mapping  # type: ignore[attr-defined]
    return AttachmentRow(mapping["digest"], mapping["media_type"], mapping["size"], mapping["width"],
                         mapping["height"], mapping["original_name"], mapping["uploaded_by"], mapping["uploaded_at"])


def by_digest(connection: Connection, digest: str) -> AttachmentRow | None:
    found = connection.execute(select(attachments).where(attachments.c.digest == digest)).first()
    return _row(found) if found is not None else None


def by_digests(connection: Connection, digests: Sequence[str]) -> list[AttachmentRow]:
    if not digests:
        return []
    found = connection.execute(select(attachments).where(attachments.c.digest.in_(list(digests))))
    return [_row(row) for row in found]


def insert_attachment(connection: Connection, row: AttachmentRow) -> None:
    """Record a stored file (the caller checked it is not recorded yet)."""
    connection.execute(insert(attachments).values(
        digest=row.digest, media_type=row.media_type, size=row.size, width=row.width, height=row.height,
        original_name=row.original_name, uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at))
