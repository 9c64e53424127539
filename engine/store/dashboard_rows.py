"""What the dashboard reads: open cases by state and scope, cases received and closed per week, and
the lengths of stays in each state. Functions take the caller's connection.

Every statement returns one row per group (a state and scope value, a week, a state), never one
per case, so memory is bounded by the groups; each reads through an index:

- open cases: ``cases (workflow, state, scope, due_at, id)``, one range per open state;
- received and closed per week: the stays rollup (``engine.store.stay_rows``), grouped by week in
  one statement: the period's intakes (no ``from_state``) by their index
  ``(workflow, from_state, entered_us)``, and its entries into a final state by
  ``(workflow, state, entered_us, ...)``, one range per final state;
- stays: the rollup by ``(workflow, state, left_us, length_us)`` (the stays that ended in the
  period, counted); their percentiles on PostgreSQL by ``percentile_cont``, on SQLite read at
  their ranks along ``(workflow, state, length_us, left_us)`` (no sort) when the period covers a
  good share of the state's history, else ranked by a window over the period's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (Connection, Integer, and_, case, cast, func, literal, literal_column, null, select,
                        union_all)

from engine.core.dashboard import OpenGroup, Stay, Week
from engine.store import percentiles
from engine.store.schema import UTCDateTime, cases, stays as stay_table
from engine.store.stay_rows import epoch_us

WALK_SHARE = 0.05
"""On SQLite, a state's percentiles are read along its lengths' index (every stay of the state
walked up to the 90th percentile's rank) when the period covers at least this share of the time
since the state's first stay; below it, the period's own stays are ranked by a window."""


def open_groups(connection: Connection, workflow: str, open_states: Sequence[str], now: datetime) -> list[OpenGroup]:
    """Per (state, scope value) of the open cases of ``workflow``: how many, how many due before ``now``,
    and the earliest deadline."""
    if not open_states:
        return []
    late = cases.c.due_at < now
    statement = (select(cases.c.state, cases.c.scope, func.count(),
                        func.coalesce(func.sum(case((late, 1), else_=0)), 0),
                        func.min(cases.c.due_at, type_=UTCDateTime()))
                 .where(cases.c.workflow == workflow, cases.c.state.in_(list(open_states)))
                 .group_by(cases.c.state, cases.c.scope))
    return [OpenGroup(row[0], row[1], int(row[2]), int(row[3]), row[4]) for row in connection.execute(statement)]


def weekly(connection: Connection, workflow: str, final_states: Sequence[str],
           found: Sequence[Week]) -> list[tuple[int, int]]:
    """Per week, in order: (cases of ``workflow`` received, cases that entered a final state from another).

    A case is received at its intake (its stay without a ``from_state``, whatever its state: the
    initial state of the version it was opened under).
    One statement, grouped by week, over two index ranges: the period's intakes (their own
    index) and its entries into the final states.
    """
    if not found:
        return []
    s = stay_table.c
    finals = list(final_states)
    low, ends = epoch_us(found[0].start), [epoch_us(week.end) for week in found]
    in_period = and_(s.workflow == workflow, s.entered_us >= low, s.entered_us < ends[-1])
    entries = [select(s.entered_us, literal(1).label("received"), cast(null(), Integer).label("closed"))
               .where(in_period, s.from_state.is_(None))]
    if finals:
        # Final states have no way out, so a case enters one from elsewhere at most once.
        entries.append(select(s.entered_us, literal(0), s.case_id)
                       .where(in_period, s.state.in_(finals), s.from_state.notin_(finals)))
    both = union_all(*entries).subquery("entries")
    week = _week_of(both.c.entered_us, ends, 0, len(found) - 1)
    statement = (select(week.label("week"), func.sum(both.c.received), func.count(func.distinct(both.c.closed)))
                 .group_by(literal_column("week")))
    counts = {int(row[0]): (int(row[1]), int(row[2])) for row in connection.execute(statement)}
    return [counts.get(index, (0, 0)) for index in range(len(found))]


def _week_of(moment: Any, ends: Sequence[int], first: int, last: int) -> Any:
    """The index of the week ``moment`` falls in, among weeks ``first``..``last`` ending at ``ends``:
    a binary search of nested CASEs, so each row is compared about log2(weeks) times."""
    if first == last:
        return literal(first)
    middle = (first + last) // 2
    return case((moment < ends[middle], _week_of(moment, ends, first, middle)),
                else_=_week_of(moment, ends, middle + 1, last))


def stays(connection: Connection, workflow: str, states: Sequence[str], start: datetime,
          end: datetime) -> dict[str, Stay]:
    """Per state, the stays of ``workflow``'s cases that ended in ``[start, end)``: their number and
    the median and 90th percentile of their minutes.

    A stay in S ends at an event from S to another state; it began at the latest earlier event of
    the same case that entered S from elsewhere (or opened the case in S). Events that keep the
    state (a note) neither begin nor end one (``engine.store.stay_rows``).
    """
    if not states:
        return {}
    s = stay_table.c
    low, high = epoch_us(start), epoch_us(end)
    ended = [s.workflow == workflow, s.state.in_(list(states)), s.left_us >= low, s.left_us < high]
    if connection.dialect.name == "postgresql":
        source = (select(literal(0).label("grouping"), s.state.label("value"), s.length_us.label("us"))
                  .where(*ended).subquery("stays_ended"))
        return {state: Stay(count, values[0], values[1])
                for (_grouping, state), (count, values) in percentiles.counted(connection, source).items()}
    earliest = stay_table.alias("earliest")
    first_stay = (select(func.min(earliest.c.entered_us))
                  .where(earliest.c.workflow == workflow, earliest.c.state == s.state).scalar_subquery())
    counts = {row[0]: (int(row[1]), int(row[2])) for row in connection.execute(
        select(s.state, func.count(), first_stay).where(*ended).group_by(s.state))}
    found: dict[str, Stay] = {}
    windowed = [state for state, (_count, first) in counts.items() if (high - low) < WALK_SHARE * (high - first)]
    if windowed:
        source = (select(literal(0).label("grouping"), s.state.label("value"), s.length_us.label("us"))
                  .where(s.workflow == workflow, s.state.in_(windowed), s.left_us >= low, s.left_us < high)
                  .subquery("stays_ended"))
        for (_grouping, state), (count, values) in percentiles.counted(connection, source).items():
            found[state] = Stay(count, values[0], values[1])
    for state, (count, _first) in counts.items():
        if state in found:
            continue

        def read(offset: int, limit: int, state: str = state) -> list[int]:
            # ``left_us + 0``: not a range of the period's index, so the lengths' index is walked in order.
            return list(connection.execute(
                select(s.length_us).where(s.workflow == workflow, s.state == state, (s.left_us + 0) >= low,
                                          (s.left_us + 0) < high)
                .order_by(s.length_us).offset(offset).limit(limit)).scalars())

        median, p90 = percentiles.at_ranks(count, read)
        found[state] = Stay(count, median, p90)
    return found
