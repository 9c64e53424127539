"""The stays rollup: one row per time a case entered a state, derived from its events.

A case enters a state at its intake event and at every event that changes its state (a move, a
migration that renames the state); events that keep the state (a note, a rating, a migration
that keeps it) neither begin nor end a stay. The next state change ends the stay: ``left_us``
and ``length_us`` are set on the row it began. ``record`` is called by
``engine.store.case_rows.insert_event``, the one place events are written, so the rollup is
always in the transaction of its event; ``backfill`` derives it from the events of the cases
written before it existed (revision 0016) or in bulk behind the engine's back (the benchmarks).

The rows are derived data, not part of the hash-chained record: ``verify`` does not read them,
and they can be rebuilt from the events at any time. Times are whole microseconds since the
Unix epoch (UTC), so period filters compare integers and lengths need no conversion.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (BigInteger, ColumnElement, Connection, Integer, and_, bindparam, cast, func, insert,
                        or_, select, update)

from engine.core.records import EventRecord
from engine.store.prepared import PreparedStatement
from engine.store.schema import cases, events, stays

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
BACKFILL_CASES = 20_000
"""Cases per statement of ``backfill``: each batch is one bounded range of case ids."""


def epoch_us(moment: datetime) -> int:
    """``moment`` (aware) as whole microseconds since the Unix epoch."""
    return (moment - EPOCH) // MICROSECOND


_open_stay = PreparedStatement(insert(stays).values({name: bindparam(name) for name in (
    "case_id", "seq", "workflow", "state", "from_state", "entered_us", "since_intake_us")}))
_close_stay = PreparedStatement(
    update(stays)
    .where(and_(stays.c.case_id == bindparam("b_case_id"), stays.c.left_us.is_(None)))
    .values(left_us=bindparam("b_left_us", type_=BigInteger),
            length_us=bindparam("b_left_us", type_=BigInteger) - stays.c.entered_us))


def record(connection: Connection, workflow: str, created_at: datetime, event: EventRecord) -> None:
    """The stays ``event`` (of a case of ``workflow`` opened at ``created_at``) ends and begins."""
    if event.from_state is not None and event.from_state == event.to_state:
        return
    at = epoch_us(event.at)
    if event.from_state is not None:
        _close_stay.rowcount(connection, {"b_case_id": event.case_id, "b_left_us": at})
    _open_stay.rowcount(connection, {
        "case_id": event.case_id, "seq": event.seq, "workflow": workflow, "state": event.to_state,
        "from_state": event.from_state, "entered_us": at, "since_intake_us": at - epoch_us(created_at)})


def stored_epoch_us(connection: Connection, column: ColumnElement[Any]) -> ColumnElement[int]:
    """A stored time column as whole microseconds since the epoch, computed by the database.

    SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` (``engine.store.schema.UTCDateTime``): the whole
    seconds from ``strftime('%s')`` and the six digits after the point, both exact.
    """
    if connection.dialect.name == "postgresql":
        return cast(func.round(func.extract("epoch", column) * 1_000_000), BigInteger)
    return (cast(func.strftime("%s", column), Integer) * 1_000_000
            + cast(func.substr(column, 21, 6), Integer))


def backfill(connection: Connection, *, after: int | None = None, batch: int = BACKFILL_CASES) -> int:
    """Derive the stays of the cases with an id above ``after`` (default: the highest with a stay)
    from their events, ``batch`` cases per statement; returns the number of stays those cases have."""
    if after is None:
        after = int(connection.execute(select(func.coalesce(func.max(stays.c.case_id), 0))).scalar_one())
    last = int(connection.execute(select(func.coalesce(func.max(cases.c.id), 0))).scalar_one())
    at = stored_epoch_us(connection, events.c.at)
    for low in range(after + 1, last + 1, batch):
        high = min(low + batch - 1, last)
        entries = (select(events.c.case_id, events.c.seq, cases.c.workflow, events.c.to_state.label("state"),
                          events.c.from_state, at.label("entered_us"),
                          func.lead(at).over(partition_by=events.c.case_id, order_by=events.c.seq).label("left_us"),
                          (func.lead(at).over(partition_by=events.c.case_id, order_by=events.c.seq) - at).label("length_us"),
                          (at - stored_epoch_us(connection, cases.c.created_at)).label("since_intake_us"))
                   .join(cases, cases.c.id == events.c.case_id)
                   .where(events.c.case_id >= low, events.c.case_id <= high,
                          or_(events.c.from_state.is_(None), events.c.from_state != events.c.to_state)))
        connection.execute(insert(stays).from_select(
            ["case_id", "seq", "workflow", "state", "from_state", "entered_us", "left_us", "length_us",
             "since_intake_us"], entries))
    return int(connection.execute(select(func.count()).select_from(stays).where(stays.c.case_id > after)).scalar_one())
