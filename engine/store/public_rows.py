"""Cases opened by the public (tracking-code hashes, senders, ratings) and the public throttles' record.

Functions take the caller's connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from engine.store.schema import cases, public_attempts, public_cases


@dataclass(frozen=True, slots=True)
class PublicCaseRow:
    """What is kept about a case a complainant opened through a public channel."""

    case_id: int
    workflow: str
    channel: str
    code_hash: str
    contact_address: str | None
    created_at: datetime
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None


def _row(found: object) -> PublicCaseRow:
    return PublicCaseRow(*found)  # type: ignore[misc]


_COLUMNS = (public_cases.c.case_id, public_cases.c.workflow, public_cases.c.channel, public_cases.c.code_hash,
            public_cases.c.contact_address, public_cases.c.created_at, public_cases.c.rating,
            public_cases.c.rating_comment, public_cases.c.rated_at)


def insert_public_case(connection: Connection, row: PublicCaseRow) -> None:
    connection.execute(insert(public_cases).values(
        case_id=row.case_id, workflow=row.workflow, channel=row.channel, code_hash=row.code_hash,
        contact_address=row.contact_address, created_at=row.created_at))


def by_case(connection: Connection, case_id: int) -> PublicCaseRow | None:
    found = connection.execute(select(*_COLUMNS).where(public_cases.c.case_id == case_id)).first()
    return _row(found) if found is not None else None


def by_case_ids(connection: Connection, case_ids: list[int]) -> dict[int, PublicCaseRow]:
    if not case_ids:
        return {}
    rows = connection.execute(select(*_COLUMNS).where(public_cases.c.case_id.in_(case_ids))).all()
    return {row[0]: _row(row) for row in rows}


def case_ids_of_sender(connection: Connection, channel: str, address: str) -> list[int]:
    """The cases a sender opened on ``channel``, newest first."""
    return list(connection.execute(
        select(public_cases.c.case_id)
        .where(public_cases.c.channel == channel, public_cases.c.contact_address == address)
        .order_by(public_cases.c.case_id.desc())).scalars())


def set_code_hash(connection: Connection, case_id: int, hashed: str) -> None:
    connection.execute(update(public_cases).where(public_cases.c.case_id == case_id).values(code_hash=hashed))


def set_rating(connection: Connection, case_id: int, score: int, comment: str | None, at: datetime) -> bool:
    """Record the rating unless one is recorded already; whether this call recorded it."""
    result = connection.execute(update(public_cases)
                                .where(public_cases.c.case_id == case_id, public_cases.c.rating.is_(None))
                                .values(rating=score, rating_comment=comment, rated_at=at))
    return result.rowcount == 1


def ratings(connection: Connection, workflow: str, since: datetime | None, until: datetime | None
            ) -> list[tuple[int, int]]:
    """(score, how many) of the ratings of ``workflow`` given in [since, until)."""
    query = (select(public_cases.c.rating, func.count())
             .where(public_cases.c.workflow == workflow, public_cases.c.rating.is_not(None)))
    if since is not None:
        query = query.where(public_cases.c.rated_at >= since)
    if until is not None:
        query = query.where(public_cases.c.rated_at < until)
    return [(int(score), int(count)) for score, count in connection.execute(query.group_by(public_cases.c.rating))]


def case_workflow(connection: Connection, case_id: int) -> str | None:
    return connection.execute(select(cases.c.workflow).where(cases.c.id == case_id)).scalar_one_or_none()


# -- the throttles' record -----------------------------------------------------------------
def count_attempts(connection: Connection, kind: str, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many attempts of ``kind`` by ``key`` are recorded since ``since``, and the oldest of them."""
    found = connection.execute(select(func.count(), func.min(public_attempts.c.at))
                               .where(public_attempts.c.kind == kind, public_attempts.c.key == key[:128],
                                      public_attempts.c.at >= since)).one()
    oldest = found[1]
    if oldest is not None and oldest.tzinfo is None:
        from datetime import timezone

        oldest = oldest.replace(tzinfo=timezone.utc)
    return int(found[0]), oldest


def record_attempt(connection: Connection, kind: str, key: str, at: datetime) -> None:
    connection.execute(insert(public_attempts).values(kind=kind, key=key[:128], at=at))


def forget_attempts(connection: Connection, before: datetime) -> int:
    """Delete the attempts older than ``before`` (no throttle window reaches back that far); how many."""
    return int(connection.execute(delete(public_attempts).where(public_attempts.c.at < before)).rowcount)
