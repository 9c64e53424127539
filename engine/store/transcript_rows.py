"""What one scenario step produced: the notices queued after a marker, a case's state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from engine.store import body_rows
from engine.store.schema import cases, notices


def last_notice_id(connection: Connection) -> int:
    return int(connection.execute(select(func.coalesce(func.max(notices.c.id), 0))).scalar_one())


def notices_after(connection: Connection, notice_id: int) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(notices.c.id, notices.c.template, notices.c.recipient_kind, notices.c.recipient_name,
               notices.c.recipient_role, notices.c.recipient_username, notices.c.channel, notices.c.subject,
               notices.c.body_digest, notices.c.is_html, cases.c.number)
        .select_from(notices.outerjoin(cases, cases.c.id == notices.c.case_id))
        .where(notices.c.id > notice_id)
        .order_by(notices.c.id)
    )
    found = [dict(row._mapping) for row in rows]
    for row in found:
        row["body_digest"] = bytes(row["body_digest"]).hex()
    bodies = body_rows.load(connection, [row["body_digest"] for row in found])
    for row in found:
        row["body"] = bodies.get(row.pop("body_digest"), "")
    return found


def case_state(connection: Connection, number: str | None) -> str | None:
    if number is None:
        return None
    return connection.execute(select(cases.c.state).where(cases.c.number == number)).scalar()
