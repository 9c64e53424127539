"""What the periodic reports read, and the record that a schedule ran. Functions take a connection.

The digest and the recap are counted by the database: what comes back is one row per group (the
whole workflow, or one value of a breakdown field), never one per case, so memory is bounded by
the groups. The recap reads only the cases its period can count (open ones, and those that reached
a final state since the period began), each set found through an index (revision 0003). Percentiles
are ``percentile_cont`` on PostgreSQL; on SQLite a window over the finished cases picks the two
ranks each percentile interpolates between (``engine.core.reports.percentile_ranks``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (ColumnElement, Connection, Float, Integer, and_, case, cast, func, literal, null, or_,
                        select, union_all)
from sqlalchemy.dialects import postgresql, sqlite

from engine.core.reports import Measures, OpenCaseRow, percentile_ranks
from engine.store.schema import cases, escalations, events, schedule_runs

PERCENTILES = (0.5, 0.9)
"""The median and the 90th percentile of minutes from intake to a final state."""


@dataclass(frozen=True, slots=True)
class Digest:
    """The open part of a report: the first open cases by deadline, and the counts of all of them."""

    listed: list[OpenCaseRow]
    open_count: int
    overdue_count: int


def digest(connection: Connection, workflow: str, open_states: Sequence[str], now: datetime, rows: int) -> Digest:
    """The first ``rows`` open cases (by deadline, then number) and how many are open and overdue.

    Overdue as the digest shows it: at least a whole minute past the deadline.
    """
    where = and_(cases.c.workflow == workflow, cases.c.state.in_(list(open_states)))
    total, late = connection.execute(
        select(func.count(), func.coalesce(func.sum(case((cases.c.due_at <= now - timedelta(minutes=1), 1),
                                                         else_=0)), 0)).where(where)
    ).one()
    found = connection.execute(
        select(cases.c.id, cases.c.number, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at,
               cases.c.due_at, cases.c.next_step)
        .where(where).order_by(cases.c.due_at.is_(None), cases.c.due_at, cases.c.number).limit(rows)
    )
    listed = [OpenCaseRow(r.id, r.number, r.state, r.scope, dict(r.data or {}), r.created_at, r.due_at, r.next_step)
              for r in found]
    return Digest(listed, int(total), int(late))


@dataclass(frozen=True, slots=True)
class RecapQuery:
    """What a recap counts: a workflow's states, outcomes and breakdown fields, and its period."""

    workflow: str
    open_states: Sequence[str]
    """Every non-final state a case of the workflow may be in (of any deployed version)."""
    final_states: Sequence[str]
    outcomes: Mapping[str, Sequence[str]]
    breakdowns: Sequence[tuple[str, bool]]
    """(field, whether it is the scope field, kept in ``cases.scope``)."""
    start: datetime
    end: datetime
    now: datetime


def recap(connection: Connection, query: RecapQuery) -> tuple[Measures, dict[str, dict[Any, Measures]]]:
    """The period measures of the whole workflow and of each value of each breakdown field."""
    finals = list(query.final_states)
    # Final states have no way out, so a case has at most one event entering one from elsewhere.
    reached = (select(events.c.case_id, func.min(events.c.at).label("final_at"))
               .where(events.c.to_state.in_(finals), events.c.from_state.notin_(finals), events.c.at >= query.start)
               .group_by(events.c.case_id).cte("reached"))
    columns = (cases.c.id, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at, cases.c.due_at)
    relevant = union_all(
        select(*columns, reached.c.final_at).join(reached, reached.c.case_id == cases.c.id)
        .where(cases.c.workflow == query.workflow, cases.c.state.in_(finals), cases.c.created_at < query.end),
        select(*columns, null().label("final_at"))
        .where(cases.c.workflow == query.workflow, cases.c.state.in_(list(query.open_states)),
               cases.c.created_at < query.end),
    ).cte("relevant")
    late = (select(escalations.c.case_id).distinct()
            .where(escalations.c.due_at >= query.start, escalations.c.due_at < query.end).cte("late"))
    source = relevant.outerjoin(late, late.c.case_id == relevant.c.id)
    r = relevant.c
    finished = and_(r.final_at.is_not(None), r.final_at < query.end)
    late_now = or_(late.c.case_id.is_not(None),
                   and_(r.final_at.is_(None), r.due_at >= query.start, r.due_at < query.end, r.due_at < query.now))
    outcomes = list(query.outcomes)

    def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    measures = [counted(r.created_at >= query.start),
                *(counted(and_(finished, r.state.in_(list(query.outcomes[name])))) for name in outcomes),
                counted(or_(r.final_at.is_(None), r.final_at >= query.end)), counted(late_now)]
    if connection.dialect.name == "postgresql":
        minutes: ColumnElement[Any] = cast(func.extract("epoch", r.final_at - r.created_at), Float) / 60.0
    else:
        minutes = func.round((func.julianday(r.final_at) - func.julianday(r.created_at)) * 86400.0, 3) / 60.0

    def grouped(key: ColumnElement[Any] | None) -> dict[Any, Measures]:
        value = (func.nullif(key, "") if key is not None else literal(0)).label("value")
        rows = connection.execute(select(value, *measures).select_from(source).group_by(value)).all()
        spread = _percentiles(connection, relevant, finished, minutes, value)
        found = {}
        for row in rows:
            received, *by_outcome, still_open, overdue = (int(v) for v in row[1:])
            median, p90 = spread.get(row[0], (None, None))
            found[row[0]] = Measures(received, dict(zip(outcomes, by_outcome)), still_open, overdue, median, p90)
        return found

    totals = grouped(None).get(0) or Measures(0, dict.fromkeys(outcomes, 0), 0, 0, None, None)
    groups = {field: grouped(r.scope if is_scope else r.data[field].as_string())
              for field, is_scope in query.breakdowns}
    return totals, groups


def _percentiles(connection: Connection, relevant: Any, finished: ColumnElement[bool], minutes: ColumnElement[Any],
                 value: Any) -> dict[Any, tuple[float | None, float | None]]:
    """Per group value: the median and the 90th percentile of ``minutes`` over the finished cases."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(select(value, *(func.percentile_cont(f).within_group(minutes) for f in PERCENTILES))
                                  .select_from(relevant).where(finished).group_by(value)).all()
        return {row[0]: (float(row[1]), float(row[2])) for row in rows}
    done = select(value, minutes.label("minutes")).select_from(relevant).where(finished).subquery()
    ranked = select(done.c.value, done.c.minutes,
                    (func.row_number().over(partition_by=done.c.value, order_by=done.c.minutes) - 1).label("rank"),
                    func.count().over(partition_by=done.c.value).label("n")).subquery()
    wanted = [ranked.c.rank == cast((ranked.c.n - 1) * f, Integer) + step for f in PERCENTILES for step in (0, 1)]
    picked: dict[Any, tuple[int, dict[int, float]]] = {}
    for row in connection.execute(select(ranked).where(or_(*wanted))):
        picked.setdefault(row.value, (int(row.n), {}))[1][int(row.rank)] = float(row.minutes)
    found: dict[Any, tuple[float | None, float | None]] = {}
    for group, (count, at) in picked.items():
        values = []
        for f in PERCENTILES:
            low, high, weight = percentile_ranks(count, f)
            values.append(at[low] + (at[high] - at[low]) * weight)
        found[group] = (values[0], values[1])
    return found


def has_run(connection: Connection, workflow: str, schedule: str, fire_at: datetime) -> bool:
    """Whether the run of ``schedule`` for ``fire_at`` was already claimed."""
    return connection.execute(select(schedule_runs.c.id).where(
        schedule_runs.c.workflow == workflow, schedule_runs.c.schedule == schedule,
        schedule_runs.c.fire_at == fire_at)).first() is not None


def record_run(connection: Connection, workflow: str, schedule: str, fire_at: datetime, ran_at: datetime) -> bool:
    """Claim the run of ``schedule`` for ``fire_at``; False when it was already claimed.

    On PostgreSQL a second runner inserting the same key waits for the first one's transaction
    and then inserts nothing, so the notices queued with the claim exist exactly once.
    """
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(schedule_runs)
        .values(workflow=workflow, schedule=schedule, fire_at=fire_at, ran_at=ran_at)
        .on_conflict_do_nothing(index_elements=["workflow", "schedule", "fire_at"])
        .returning(schedule_runs.c.id)
    )
    return connection.execute(statement).first() is not None

