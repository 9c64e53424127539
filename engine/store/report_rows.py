"""What the periodic reports read, and the record that a schedule ran. Functions take a connection.

The digest and the recap are counted by the database: what comes back is one row per group (the
whole workflow, or one value of a breakdown field), never one per case, so memory is bounded by
the groups. The recap reads only the cases its period can count (open ones, and those that reached
a final state since the period began), each set found through an index (revision 0003), and of
each only the columns it counts. On PostgreSQL the recap is one statement: ``GROUPING SETS`` for
the whole workflow and each breakdown field, ``percentile_cont`` for the percentiles. On SQLite
the finished cases pass once in order of their length and each grouping's percentiles are read at
the two ranks each interpolates between (``engine.core.reports.percentile_ranks``).
"""

from __future__ import annotations

import importlib

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (BigInteger, ColumnElement, Connection, String, and_, case, cast, func, null,
                        or_, select, tuple_, union_all)

from engine.core.reports import Measures, OpenCaseRow, percentile_ranks
from engine.store import percentiles
from engine.store.schema import cases, escalations, schedule_runs, stays
from engine.store.stay_rows import epoch_us

PERCENTILES = percentiles.PERCENTILES
"""The median and the 90th percentile of minutes from intake to a final state."""


@dataclass(frozen=True, slots=True)
class Digest:
    """The open part of a report: the first open cases by deadline, and the counts of all of them."""

    listed: list[OpenCaseRow]
    open_count: int
    overdue_count: int


def digest(connection: Connection, workflow: str, open_states: Sequence[str], now: datetime, rows: int) -> Digest:
    """The first ``rows`` open cases (by deadline, then in the order they were recorded) and how many
    are open and overdue.

    Overdue as the digest shows it: at least a whole minute past the deadline.
    """
    where = and_(cases.c.workflow == workflow, cases.c.state.in_(list(open_states)))
    total, late = connection.execute(
        select(func.count(), func.coalesce(func.sum(case((cases.c.due_at <= now - timedelta(minutes=1), 1),
                                                         else_=0)), 0)).where(where)
    ).one()
    columns = (cases.c.id, cases.c.number, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at,
               cases.c.due_at, cases.c.next_step)
    # Per state, the first ``rows`` by deadline come from one range of the read index
    # ``(workflow, state, due_at, id)`` (the undated ones after them); merged, the first ``rows`` of
    # all are among them. Both ranges are ordered as that index ends, (due_at, id), the undated one
    # too: ordered by number, PostgreSQL walked the unique index of the numbers over the whole
    # table at 10,000,000 cases (25 s, docs/scale.md).
    parts = []
    for state in open_states:
        one = and_(cases.c.workflow == workflow, cases.c.state == state)
        parts.append(select(*columns).where(one, cases.c.due_at.is_not(None))
                     .order_by(cases.c.due_at, cases.c.id).limit(rows))
        parts.append(select(*columns).where(one, cases.c.due_at.is_(None))
                     .order_by(cases.c.due_at, cases.c.id).limit(rows))
    if not parts:
        return Digest([], int(total), int(late))
    merged = union_all(*(select(*part.subquery().c) for part in parts)).subquery()
    found = connection.execute(select(*merged.c).order_by(merged.c.due_at.is_(None), merged.c.due_at,
                                                          merged.c.id).limit(rows))
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

    PostgreSQL: one statement, the counts and ``percentile_cont`` of every grouping at once
    (``GROUPING SETS``: the whole workflow and each breakdown field), over the relevant cases once.
    SQLite (no grouping sets, no percentiles): two statements, the counts grouped by every
    breakdown field's value at once (each grouping summed here), and the cases finished in the
    period once, in order of their length, each grouping's ranks picked as they pass.
    """
    finals = list(query.final_states)
    start_us, end_us = epoch_us(query.start), epoch_us(query.end)
    t = stays.c
    # Final states have no way out, so a case has at most one stay entered into one from elsewhere.
    reached = (select(t.case_id, func.min(t.entered_us).label("final_us"),
                      func.min(t.since_intake_us).label("since_intake_us"))
               .where(t.workflow == query.workflow, t.state.in_(finals), t.from_state.notin_(finals),
                      t.entered_us >= start_us)
               .group_by(t.case_id).cte("reached"))
    fields = [field for field, _ in query.breakdowns]
    scoped = {field for field, is_scope in query.breakdowns if is_scope}
    # Only the columns the measures and the breakdowns need (``data`` only when a field is in it).
    columns = [cases.c.id, cases.c.state, cases.c.created_at, cases.c.due_at,
               *([cases.c.scope] if scoped else []), *([cases.c.data] if set(fields) - scoped else [])]
    finished_select = (select(*columns, reached.c.final_us, reached.c.since_intake_us)
                       .join(reached, reached.c.case_id == cases.c.id)
                       .where(cases.c.workflow == query.workflow, cases.c.state.in_(finals),
                              cases.c.created_at < query.end))
    relevant = union_all(
        finished_select,
        select(*columns, cast(null(), BigInteger).label("final_us"), cast(null(), BigInteger).label("since_intake_us"))
        .where(cases.c.workflow == query.workflow, cases.c.state.in_(list(query.open_states)),
               cases.c.created_at < query.end),
    ).cte("relevant")
    late = (select(escalations.c.case_id).distinct()
            .where(escalations.c.due_at >= query.start, escalations.c.due_at < query.end).cte("late"))
    r = relevant.c
    # Each relevant case once, with its breakdown values (``key_0``...) and whether it was late.
    keyed = (select(*(_key(r, field, scoped).label(f"key_{index}") for index, field in enumerate(fields)),
                    r.state, r.created_at, r.due_at, r.final_us, r.since_intake_us,
                    late.c.case_id.label("late_id"))
             .select_from(relevant.outerjoin(late, late.c.case_id == r.id)).subquery("keyed"))
    k = keyed.c
    keys = [k[f"key_{index}"] for index in range(len(fields))]
    finished = and_(k.final_us.is_not(None), k.final_us < end_us)
    late_now = or_(k.late_id.is_not(None),
                   and_(k.final_us.is_(None), k.due_at >= query.start, k.due_at < query.end, k.due_at < query.now))
    outcomes = list(query.outcomes)

    def counted(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    measures = [counted(k.created_at >= query.start),
                *(counted(and_(finished, k.state.in_(list(query.outcomes[name])))) for name in outcomes),
                counted(or_(k.final_us.is_(None), k.final_us >= end_us)), counted(late_now), counted(finished)]
    sums: dict[tuple[int, Any], list[int]] = {}
    spread: dict[tuple[int, Any], tuple[float, float]] = {}
    if connection.dialect.name == "postgresql":
        # NULL lengths (the cases not finished in the period) are left out of ``percentile_cont``.
        length = case((finished, k.since_intake_us))
        statement = select(*keys, *measures, *percentiles.cont(length))
        if keys:
            # The whole workflow, then each breakdown field alone.
            statement = (statement.add_columns(func.grouping(*keys))
                         .group_by(func.grouping_sets(tuple_(), *(tuple_(key) for key in keys))))
        for row in connection.execute(statement):
            values = list(row[len(keys):len(keys) + len(measures)])
            median, p90 = row[len(keys) + len(measures):len(keys) + len(measures) + 2]
            # GROUPING(): a bit per key, set when the row is not grouped by it (highest bit: key_0).
            absent = row[-1] if keys else 0
            group = next(((index + 1, row[index]) for index in range(len(keys))
                          if not absent & (1 << (len(keys) - 1 - index))), (0, None))
            sums[group] = [int(v) for v in values]
            if median is not None:
                spread[group] = (float(median), float(p90))
    else:
        # One pass, grouped by every breakdown field's value at once; each grouping's counts are the
        # sums over those combinations (the whole workflow: over all of them).
        statement = select(*keys, *measures).group_by(*keys)
        for row in connection.execute(statement):
            values = [int(v) for v in row[len(keys):]]
            for group in _groups(row[:len(keys)]):
                total = sums.setdefault(group, [0] * len(values))
                for index, value in enumerate(values):
                    total[index] += value
        done = finished_select.where(reached.c.final_us < end_us).cte("done")
        sizes = {group: total[-1] for group, total in sums.items() if total[-1]}
        spread = _ranked(connection, done, fields, scoped, sizes)
    found: dict[str | None, dict[Any, Measures]] = {field: {} for field in [None, *fields]}
    for (index, value), total in sums.items():
        received, *by_outcome, still_open, overdue, _done = total
        median, p90 = spread.get((index, value), (None, None))
        field = None if index == 0 else fields[index - 1]
        found[field][value] = Measures(received, dict(zip(outcomes, by_outcome)), still_open, overdue, median, p90)
    totals = found.pop(None).get(None) or Measures(0, dict.fromkeys(outcomes, 0), 0, 0, None, None)
    return totals, {field: values for field, values in found.items() if field is not None}


def _key(table: Any, field: str, scoped: set[str]) -> ColumnElement[Any]:
    """A case's value of breakdown ``field`` (the scope column for the scope field), empty as NULL."""
    column = table.scope if field in scoped else table.data[field].as_string()
    return cast(func.nullif(column, ""), String)


def _groups(values: Sequence[Any]) -> list[tuple[int, Any]]:
    """The groups a row with breakdown ``values`` counts in: (0, None) for the whole workflow, then
    (1 + index of the field, its value) for each field."""
    return [(0, None), *((index + 1, value) for index, value in enumerate(values))]


def _ranked(connection: Connection, done: Any, fields: Sequence[str], scoped: set[str],
            sizes: Mapping[tuple[int, Any], int]) -> dict[tuple[int, Any], tuple[float, float]]:
    """SQLite: per group (as ``_groups``), the median and 90th percentile of minutes from intake to
    the final state of the cases finished in the period; ``sizes``: how many there are in each group.

    The finished cases once, ordered by their length, each group's ranks picked as they pass
    (memory bounded by the groups).
    """
    d = done.c
    # Per group: [how many of its rows have passed, the ranks wanted, the lengths found at them].
    track: dict[tuple[int, Any], tuple[list[int], set[int], dict[int, float]]] = {}
    for group, size in sizes.items():
        ranks: set[int] = set()
        for fraction in PERCENTILES:
            low, high, _weight = percentile_ranks(size, fraction)
            ranks.update((low, high))
        track[group] = ([0], ranks, {})
    whole = track.get((0, None))
    by_value = [{value: kept for (index, value), kept in track.items() if index == field + 1}
                for field in range(len(fields))]
    ordered = select(*(_key(d, field, scoped) for field in fields), d.since_intake_us).order_by(d.since_intake_us)
    if whole is not None:
        for row in connection.execute(ordered):
            length = float(row[-1])
            # The whole workflow's group, then the row's value of each field (a per-row hot loop).
            for passed, ranks, at in (whole, *(by_value[field][row[field]] for field in range(len(fields)))):
                rank = passed[0]
                passed[0] = rank + 1
                if rank in ranks:
                    at[rank] = length
    found = {}
    for group, (_passed, _ranks, at) in track.items():
        median, p90 = percentiles.interpolated(sizes[group], at)
        found[group] = (median, p90)
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
    # The dialect's module is imported here, on first use: a command that runs no schedule never pays for it.
    insert = importlib.import_module(f"sqlalchemy.dialects.{connection.dialect.name}").insert
    statement = (
        insert(schedule_runs)
        .values(workflow=workflow, schedule=schedule, fire_at=fire_at, ran_at=ran_at)
        .on_conflict_do_nothing(index_elements=["workflow", "schedule", "fire_at"])
        .returning(schedule_runs.c.id)
    )
    return connection.execute(statement).first() is not None

