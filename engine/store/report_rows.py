"""What the periodic reports read, and the record that a schedule ran. Functions take a connection.

The digest and the recap are counted by the database: what comes back is one row per group (the
whole workflow, or one value of a breakdown field), never one per case, so memory is bounded by
the groups. The recap reads only the cases its period can count (open ones, and those that reached
a final state since the period began), each set found through an index (revision 0003). Percentiles
are ``percentile_cont`` on PostgreSQL; on SQLite a window over the finished cases picks the two
ranks each percentile interpolates between (``engine.core.reports.percentile_ranks``).
"""

from __future__ import annotations

import importlib

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (ColumnElement, Connection, String, and_, case, cast, func, literal, null,
                        or_, select, union_all)

from engine.core.reports import Measures, OpenCaseRow
from engine.store import percentiles
from engine.store.percentiles import minutes_between
from engine.store.schema import cases, escalations, events, schedule_runs

PERCENTILES = percentiles.PERCENTILES
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
    columns = (cases.c.id, cases.c.number, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at,
               cases.c.due_at, cases.c.next_step)
    # Per state, the first ``rows`` by deadline come from one index range (the undated ones after
    # them); merged, the first ``rows`` of all are among them.
    parts = []
    for state in open_states:
        one = and_(cases.c.workflow == workflow, cases.c.state == state)
        parts.append(select(*columns).where(one, cases.c.due_at.is_not(None))
                     .order_by(cases.c.due_at, cases.c.number).limit(rows))
        parts.append(select(*columns).where(one, cases.c.due_at.is_(None)).order_by(cases.c.number).limit(rows))
    if not parts:
        return Digest([], int(total), int(late))
    merged = union_all(*(select(*part.subquery().c) for part in parts)).subquery()
    found = connection.execute(select(*merged.c).order_by(merged.c.due_at.is_(None), merged.c.due_at,
                                                          merged.c.number).limit(rows))
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
    """The period measures of the whole workflow and of each value of each breakdown field.

    Two statements: the counts of every grouping at once (one pass over the relevant cases), and
    the percentiles of every grouping at once (one pass over the cases finished in the period).
    """
    finals = list(query.final_states)
    # Final states have no way out, so a case has at most one event entering one from elsewhere.
    reached = (select(events.c.case_id, func.min(events.c.at).label("final_at"))
               .where(events.c.to_state.in_(finals), events.c.from_state.notin_(finals), events.c.at >= query.start)
               .group_by(events.c.case_id).cte("reached"))
    columns = (cases.c.id, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at, cases.c.due_at)
    finished_select = (select(*columns, reached.c.final_at).join(reached, reached.c.case_id == cases.c.id)
                       .where(cases.c.workflow == query.workflow, cases.c.state.in_(finals),
                              cases.c.created_at < query.end))
    relevant = union_all(
        finished_select,
        select(*columns, null().label("final_at"))
        .where(cases.c.workflow == query.workflow, cases.c.state.in_(list(query.open_states)),
               cases.c.created_at < query.end),
    ).cte("relevant")
    late = (select(escalations.c.case_id).distinct()
            .where(escalations.c.due_at >= query.start, escalations.c.due_at < query.end).cte("late"))
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
    groupings = [None, *(field for field, _ in query.breakdowns)]
    scoped = {field for field, is_scope in query.breakdowns if is_scope}

    def key(table: Any, field: str | None) -> ColumnElement[Any]:
        if field is None:
            return cast(null(), String).label("value")
        column = table.scope if field in scoped else table.data[field].as_string()
        return cast(func.nullif(column, ""), String).label("value")

    source = relevant.outerjoin(late, late.c.case_id == r.id)
    keys = [key(r, field) for field in groupings]  # one object each, so GROUP BY repeats the same parameters
    statement = union_all(*(
        select(literal(index).label("grouping"), keys[index], *measures).select_from(source).group_by(keys[index])
        for index in range(len(groupings))))
    spread = _percentiles(connection, finished_select.where(reached.c.final_at < query.end).cte("done"),
                          groupings, scoped)
    found: dict[str | None, dict[Any, Measures]] = {field: {} for field in groupings}
    for row in connection.execute(statement):
        field = groupings[row[0]]
        received, *by_outcome, still_open, overdue = (int(v) for v in row[2:])
        median, p90 = spread.get((row[0], row[1]), (None, None))
        found[field][row[1]] = Measures(received, dict(zip(outcomes, by_outcome)), still_open, overdue, median, p90)
    totals = found.pop(None).get(None) or Measures(0, dict.fromkeys(outcomes, 0), 0, 0, None, None)
    return totals, {field: values for field, values in found.items() if field is not None}


def _percentiles(connection: Connection, done: Any, groupings: Sequence[str | None],
                 scoped: set[str]) -> dict[tuple[int, Any], tuple[float, float]]:
    """Per (grouping, value): the median and 90th percentile of minutes from intake to the final state."""
    d = done.c
    minutes = minutes_between(connection, d.created_at, d.final_at)

    def key(field: str | None) -> ColumnElement[Any]:
        if field is None:
            return cast(null(), String).label("value")
        column = d.scope if field in scoped else d.data[field].as_string()
        return cast(func.nullif(column, ""), String).label("value")

    source = union_all(*(select(literal(index).label("grouping"), key(field), minutes.label("minutes"))
                         for index, field in enumerate(groupings))).subquery()
    return {group: (values[0], values[1]) for group, values in percentiles.grouped(connection, source).items()}


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
    # The dialect's module is imported here, on first use: a command that runs no schedule never pays for it.
    insert = importlib.import_module(f"sqlalchemy.dialects.{connection.dialect.name}").insert
    statement = (
        insert(schedule_runs)
        .values(workflow=workflow, schedule=schedule, fire_at=fire_at, ran_at=ran_at)
        .on_conflict_do_nothing(index_elements=["workflow", "schedule", "fire_at"])
        .returning(schedule_runs.c.id)
    )
    return connection.execute(statement).first() is not None

