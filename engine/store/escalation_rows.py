"""Due escalation steps: finding them through the index, claiming a case, recording a step once.

Functions take the caller's connection. The scan reads ``cases.next_step_at`` through its index,
so its cost follows the number of due cases, not the number of open ones. A step is recorded in
``escalations`` under the unique key (case, state entry, step); recording it a second time is a
quiet no-op (``ON CONFLICT DO NOTHING``), so racing runners never fail and never remind twice.
"""

from __future__ import annotations

import importlib

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from engine.core.records import CaseRecord
from engine.store import schema
from engine.store.prepared import PreparedStatement

_cases = schema.cases
_escalations = schema.escalations
# Every column of a case, in the order CaseRecord takes them (its fields are named after them).
# (``stored: False`` marks what a command tells its caller, not a column.)
_CASE_COLUMNS = tuple(_cases.c[field.name] for field in fields(CaseRecord) if field.metadata.get("stored", True))


@dataclass(frozen=True, slots=True)
class DueCase:
    """A case whose next escalation step was due when the scan looked (it may have moved since)."""

    id: int
    state_entry: int
    next_step: int
    next_step_at: datetime


_due = (
    select(_cases.c.id, _cases.c.state_entry, _cases.c.next_step, _cases.c.next_step_at)
    .where(_cases.c.next_step_at <= bindparam("now"))
    .order_by(_cases.c.next_step_at, _cases.c.id)
    .limit(bindparam("limit"))
)
_due_cases = PreparedStatement(_due)


def due_cases(connection: Connection, now: datetime, limit: int,
              exclude: Collection[int] = ()) -> list[DueCase]:
    """Up to ``limit`` cases with ``next_step_at <= now``, the longest-waiting first."""
    if exclude:  # cases that failed earlier in this scan: rare, so built when needed
        statement = _due.where(_cases.c.id.notin_(list(exclude)))
        rows = [tuple(row) for row in connection.execute(statement, {"now": now, "limit": limit})]
    else:
        rows = _due_cases.rows(connection, {"now": now, "limit": limit})
    return [DueCase(*row) for row in rows if row[2] is not None]


_claim = select(*_CASE_COLUMNS).where(_cases.c.id == bindparam("case_id"))
_claim_case = PreparedStatement(_claim)
_claim_case_skip_locked = PreparedStatement(_claim.with_for_update(skip_locked=True))


def claim_case(connection: Connection, case_id: int) -> CaseRecord | None:
    """The case row, locked for this transaction; None when another runner holds it.

    On PostgreSQL the row is taken ``FOR UPDATE SKIP LOCKED`` so concurrent runners split the due
    cases instead of queueing on each other; a staff command updating the same case waits for
    this short transaction. SQLite's ``BEGIN IMMEDIATE`` already serialises every writer.
    """
    postgres = connection.dialect.name == "postgresql"
    row = (_claim_case_skip_locked if postgres else _claim_case).first(connection, {"case_id": case_id})
    return CaseRecord(*row) if row else None


def _record_step_statement(insert: Any) -> PreparedStatement:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, built with the dialect's own ``insert``."""
    return PreparedStatement(
        insert(_escalations)
        .values({name: bindparam(name) for name in ("case_id", "state_entry", "state", "step", "due_at", "fired_at")})
        .on_conflict_do_nothing(index_elements=["case_id", "state_entry", "step"])
        .returning(_escalations.c.id)
    )


_record_step: dict[str, PreparedStatement] = {}
"""By dialect name, built on first use: importing a dialect's module costs a process that never escalates."""


def record_step(connection: Connection, case: CaseRecord, step: int, fired_at: datetime) -> bool:
    """Record that ``step`` (0-based) of the case's current state entry fired; False if it already had."""
    assert case.due_at is not None
    name = connection.dialect.name
    if name not in _record_step:
        _record_step[name] = _record_step_statement(importlib.import_module(f"sqlalchemy.dialects.{name}").insert)
    return _record_step[name].first(connection, {
        "case_id": case.id, "state_entry": case.state_entry, "state": case.state, "step": step,
        "due_at": case.due_at, "fired_at": fired_at,
    }) is not None


_move_to_step = PreparedStatement(
    update(_cases)
    .where(and_(_cases.c.id == bindparam("b_id"), _cases.c.state_entry == bindparam("b_state_entry"),
                _cases.c.next_step == bindparam("b_step")))
    .values(next_step=bindparam("next_step"), next_step_at=bindparam("next_step_at"))
)


def move_to_step(connection: Connection, case_id: int, state_entry: int, step: int, next_step: int | None,
                 next_step_at: datetime | None) -> bool:
    """Compare-and-set the step pointer; False when the case left that state entry or step meanwhile.

    Touches neither ``version`` nor history: a reminder is not a change a staff member must
    reload for, so an ``--expect-version`` taken before it still holds.
    """
    return _move_to_step.rowcount(connection, {
        "b_id": case_id, "b_state_entry": state_entry, "b_step": step, "next_step": next_step,
        "next_step_at": next_step_at,
    }) == 1
