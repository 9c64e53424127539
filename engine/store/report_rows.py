"""What the periodic reports read, and the record that a schedule ran. Functions take a connection.

Rows come back as the plain frozen dataclasses of ``engine.core.reports``, which does every count and percentile.
"""

from __future__ import annotations

import importlib

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select

from engine.core.reports import OpenCaseRow, RecapCaseRow
from engine.store.schema import cases, escalations, events, schedule_runs


def open_cases(connection: Connection, workflow: str, states: Sequence[str]) -> list[OpenCaseRow]:
    """Cases of ``workflow`` in one of ``states`` (the non-final ones)."""
    rows = connection.execute(
        select(cases.c.id, cases.c.number, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at,
               cases.c.due_at, cases.c.next_step)
        .where(and_(cases.c.workflow == workflow, cases.c.state.in_(list(states))))
        .order_by(cases.c.id)
    )
    return [OpenCaseRow(r.id, r.number, r.state, r.scope, dict(r.data or {}), r.created_at, r.due_at, r.next_step)
            for r in rows]


def recap_cases(connection: Connection, workflow: str, final_states: Sequence[str], start: datetime,
                end: datetime) -> list[RecapCaseRow]:
    """Cases created before ``end`` that were not already finished before ``start``."""
    finals = list(final_states)
    # Final states have no way out, so a case has at most one event entering one; the join keeps
    # open cases (no such event) and drops those finished before the period.
    final_event = and_(events.c.case_id == cases.c.id, events.c.to_state.in_(finals),
                       events.c.from_state.notin_(finals))
    rows = connection.execute(
        select(cases.c.id, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at, cases.c.due_at,
               events.c.at)
        .select_from(cases.outerjoin(events, final_event))
        .where(and_(cases.c.workflow == workflow, cases.c.created_at < end,
                    or_(events.c.at.is_(None), events.c.at >= start)))
        .order_by(cases.c.id, events.c.at)
    )
    found: dict[int, RecapCaseRow] = {}
    for r in rows:
        found.setdefault(r.id, RecapCaseRow(r.id, r.state, r.scope, dict(r.data or {}), r.created_at, r.due_at,
                                            r.at if r.state in finals else None))
    return list(found.values())


def escalated_case_ids(connection: Connection, workflow: str, start: datetime, end: datetime) -> set[int]:
    """Cases with an escalation step for a deadline that fell in ``[start, end)``."""
    rows = connection.execute(
        select(escalations.c.case_id).distinct()
        .join(cases, cases.c.id == escalations.c.case_id)
        .where(and_(cases.c.workflow == workflow, escalations.c.due_at >= start, escalations.c.due_at < end))
    )
    return {row.case_id for row in rows}


def record_run(connection: Connection, workflow: str, schedule: str, fire_at: datetime, ran_at: datetime) -> bool:
    """Claim the run of ``schedule`` for ``fire_at``; False when it was already claimed.

    On PostgreSQL a second runner inserting the same key waits for the first one's transaction
    and then inserts nothing, so the notices queued with the claim exist exactly once.
    """
    insert = importlib.import_module(f"sqlalchemy.dialects.{connection.dialect.name}").insert
    statement = (
        insert(schedule_runs)
        .values(workflow=workflow, schedule=schedule, fire_at=fire_at, ran_at=ran_at)
        .on_conflict_do_nothing(index_elements=["workflow", "schedule", "fire_at"])
        .returning(schedule_runs.c.id)
    )
    return connection.execute(statement).first() is not None

