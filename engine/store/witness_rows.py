"""Rows of ``checkpoint_witness``: each checkpoint's send to the outside witness and how it went.

Functions take the caller's connection. A send is claimed before it is made (its next attempt is
pushed past the send's deadline in a short transaction), so two runners never post the same
checkpoint at once; one that crashed mid-send leaves a claim that simply expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, insert, select, update

from engine.store.schema import checkpoint_witness

PENDING = "pending"
SENT = "sent"
SUPERSEDED = "superseded"
ANSWER_LIMIT = 4000
"""How many characters of the witness's answer are kept (a cosignature, a receipt id)."""


@dataclass(frozen=True, slots=True)
class WitnessSend:
    """One checkpoint's send to the witness."""

    checkpoint_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    answer: str | None


def offer(connection: Connection, checkpoint_id: int, now: datetime) -> None:
    """Queue checkpoint ``checkpoint_id`` for the witness; older sends still pending are superseded."""
    connection.execute(update(checkpoint_witness)
                       .where(and_(checkpoint_witness.c.status == PENDING,
                                   checkpoint_witness.c.checkpoint_id < checkpoint_id))
                       .values(status=SUPERSEDED, next_attempt_at=None))
    connection.execute(insert(checkpoint_witness).values(
        checkpoint_id=checkpoint_id, status=PENDING, attempts=0, next_attempt_at=now))


def due(connection: Connection, now: datetime) -> WitnessSend | None:
    """The newest pending send whose next attempt has come, if any."""
    row = connection.execute(select(checkpoint_witness)
                             .where(and_(checkpoint_witness.c.status == PENDING,
                                         checkpoint_witness.c.next_attempt_at <= now))
                             .order_by(checkpoint_witness.c.checkpoint_id.desc()).limit(1)).first()
    return None if row is None else WitnessSend(**row._mapping)


def claim(connection: Connection, send: WitnessSend, until: datetime) -> bool:
    """Take ``send`` for one attempt (no other runner tries it before ``until``); False when taken already."""
    result = connection.execute(update(checkpoint_witness)
                                .where(and_(checkpoint_witness.c.checkpoint_id == send.checkpoint_id,
                                            checkpoint_witness.c.status == PENDING,
                                            checkpoint_witness.c.attempts == send.attempts))
                                .values(attempts=send.attempts + 1, next_attempt_at=until))
    return result.rowcount == 1


def mark_sent(connection: Connection, checkpoint_id: int, now: datetime, answer: str) -> None:
    connection.execute(update(checkpoint_witness).where(checkpoint_witness.c.checkpoint_id == checkpoint_id)
                       .values(status=SENT, sent_at=now, next_attempt_at=None, last_error=None,
                               answer=answer[:ANSWER_LIMIT]))


def mark_failed(connection: Connection, checkpoint_id: int, error: str, retry_at: datetime) -> None:
    """Record a failed attempt; the send stays pending (unless superseded meanwhile) until ``retry_at``."""
    connection.execute(update(checkpoint_witness)
                       .where(and_(checkpoint_witness.c.checkpoint_id == checkpoint_id,
                                   checkpoint_witness.c.status == PENDING))
                       .values(last_error=error[:ANSWER_LIMIT], next_attempt_at=retry_at))


def sends(connection: Connection, limit: int = 20) -> list[WitnessSend]:
    """The newest sends, newest first."""
    rows = connection.execute(select(checkpoint_witness)
                              .order_by(checkpoint_witness.c.checkpoint_id.desc()).limit(limit))
    return [WitnessSend(**row._mapping) for row in rows]
