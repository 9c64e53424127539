"""WhatsApp's tables: the webhook's inbox, message ids seen, each number's window and conversation.

Functions take the caller's connection. An inbox row is written by the webhook (the signed body,
as received) and processed later by ``treckk serve``: ``claim_inbox`` takes unprocessed rows (on
PostgreSQL with ``SKIP LOCKED``, so two runners take different rows) and ``finish_inbox`` marks one
done; a message id is handled once (``first_sighting`` inserts it under its primary key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.store import schema

inbox = schema.whatsapp_inbox
seen = schema.whatsapp_seen
contacts = schema.whatsapp_contacts
conversations = schema.whatsapp_conversations


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One stored webhook POST."""

    id: int
    received_at: datetime
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A guided conversation under way: its step and what it gathered (JSON text)."""

    address: str
    step: str
    data: str
    updated_at: datetime


def store_inbox(connection: Connection, body: bytes, now: datetime) -> int:
    """Keep one webhook body; its id."""
    result = connection.execute(insert(inbox).values(received_at=now, due_at=now, body=body, processed_at=None,
                                                     attempts=0, last_error=None))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def count_inbox(connection: Connection) -> int:
    """How many webhook bodies are stored (processed or not)."""
    return int(connection.execute(select(func.count()).select_from(inbox)).scalar_one())


def claim_inbox(connection: Connection, now: datetime, lease_until: datetime, limit: int,
                max_attempts: int) -> list[InboxRow]:
    """Up to ``limit`` unprocessed bodies due by ``now`` (oldest first), leased until ``lease_until``."""
    due = (select(inbox.c.id, inbox.c.received_at, inbox.c.body, inbox.c.attempts)
           .where(and_(inbox.c.processed_at.is_(None), inbox.c.due_at <= now, inbox.c.attempts < max_attempts))
           .order_by(inbox.c.due_at, inbox.c.id).limit(limit))
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = [InboxRow(r.id, r.received_at, bytes(r.body), r.attempts + 1) for r in connection.execute(due)]
    if rows:
        connection.execute(update(inbox).where(inbox.c.id.in_([r.id for r in rows]))
                           .values(attempts=inbox.c.attempts + 1, due_at=lease_until))
    return rows


def finish_inbox(connection: Connection, inbox_id: int, now: datetime) -> None:
    """Mark a body processed."""
    connection.execute(update(inbox).where(inbox.c.id == inbox_id).values(processed_at=now, last_error=None))


def fail_inbox(connection: Connection, inbox_id: int, retry_at: datetime, error: str) -> None:
    """Record a failed processing attempt; the body is due again at ``retry_at``."""
    connection.execute(update(inbox).where(inbox.c.id == inbox_id).values(due_at=retry_at, last_error=error[:2000]))


def is_seen(connection: Connection, message_id: str) -> bool:
    """Whether ``message_id`` was handled before."""
    return connection.execute(select(seen.c.message_id).where(seen.c.message_id == message_id)).first() is not None


def first_sighting(connection: Connection, message_id: str, now: datetime) -> bool:
    """Record ``message_id`` as handled; False when it was handled before (in a savepoint, so a
    duplicate does not spoil the caller's transaction)."""
    if connection.execute(select(seen.c.message_id).where(seen.c.message_id == message_id)).first():
        return False
    try:
        with connection.begin_nested():
            connection.execute(insert(seen).values(message_id=message_id[:128], seen_at=now))
    except IntegrityError:
        return False
    return True


def heard_from(connection: Connection, address: str, moment: datetime) -> None:
    """``address`` wrote at ``moment`` (kept when later than what is known)."""
    known = connection.execute(select(contacts.c.last_heard_at).where(contacts.c.address == address)).first()
    if known is None:
        connection.execute(insert(contacts).values(address=address, last_heard_at=moment))
    elif known.last_heard_at < moment:
        connection.execute(update(contacts).where(contacts.c.address == address).values(last_heard_at=moment))


def last_heard(connection: Connection, addresses: list[str]) -> dict[str, datetime]:
    """When each of ``addresses`` last wrote, for those that ever did."""
    if not addresses:
        return {}
    return {row.address: row.last_heard_at for row in connection.execute(
        select(contacts.c.address, contacts.c.last_heard_at).where(contacts.c.address.in_(addresses)))}


def conversation(connection: Connection, address: str) -> Conversation | None:
    """The conversation under way with ``address``, or None."""
    row = connection.execute(select(conversations).where(conversations.c.address == address)).first()
    return Conversation(row.address, row.step, row.data, row.updated_at) if row else None


def save_conversation(connection: Connection, address: str, step: str, data: str, now: datetime) -> None:
    """Write the conversation's new step and data."""
    values = {"step": step, "data": data, "updated_at": now}
    if connection.execute(update(conversations).where(conversations.c.address == address).values(**values)).rowcount == 0:
        connection.execute(insert(conversations).values(address=address, **values))


def end_conversation(connection: Connection, address: str) -> None:
    """Forget the conversation with ``address`` (it ended or expired)."""
    connection.execute(delete(conversations).where(conversations.c.address == address))
