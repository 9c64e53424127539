"""What the dashboard reads: open cases by state and scope, cases received and closed per week, and
the lengths of stays in each state. Functions take the caller's connection.

Every statement returns one row per group (a state and scope value, a week, a state), never one
per case, so memory is bounded by the groups; each reads through an index (revision 0011 adds
``cases (workflow, created_at)`` for the weeks' intake counts):

- open cases: ``cases (workflow, state, scope, due_at, id)``, one range per open state;
- received per week: ``cases (workflow, created_at)``, one range per week;
- closed per week: ``events (to_state, at)``, one range per final state and week, each event's case
  by its key;
- stays: ``events (to_state, at)`` for the events that left a state in the period, and for each the
  event that entered it by ``events (case_id, seq)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select, union_all

from engine.core.dashboard import OpenGroup, Stay, Week
from engine.store import percentiles
from engine.store.percentiles import minutes_between
from engine.store.schema import UTCDateTime, cases, events


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
    """Per week, in order: (cases of ``workflow`` received, cases that entered a final state from another)."""
    if not found:
        return []
    finals = list(final_states)

    def received(week: Week) -> Any:
        return (select(func.count()).select_from(cases)
                .where(cases.c.workflow == workflow, cases.c.created_at >= week.start, cases.c.created_at < week.end)
                .scalar_subquery())

    def closed(week: Week) -> Any:
        if not finals:
            return literal(0)
        # Final states have no way out, so a case enters one from elsewhere at most once.
        return (select(func.count(func.distinct(events.c.case_id)))
                .select_from(events.join(cases, cases.c.id == events.c.case_id))
                .where(events.c.to_state.in_(finals), events.c.at >= week.start, events.c.at < week.end,
                       events.c.from_state.notin_(finals), cases.c.workflow == workflow)
                .scalar_subquery())

    statement = union_all(*(select(literal(index).label("week"), received(week).label("received"),
                                   closed(week).label("closed"))
                            for index, week in enumerate(found)))
    counts = {int(row[0]): (int(row[1]), int(row[2])) for row in connection.execute(statement)}
    return [counts[index] for index in range(len(found))]


def stays(connection: Connection, workflow: str, states: Sequence[str], start: datetime,
          end: datetime) -> dict[str, Stay]:
    """Per state, the stays of ``workflow``'s cases that ended in ``[start, end)``: their number and
    the median and 90th percentile of their minutes.

    A stay in S ends at an event from S to another state; it began at the latest earlier event of
    the same case that entered S from elsewhere (or opened the case in S). Events that keep the
    state (a note) neither begin nor end one.
    """
    if not states:
        return {}
    left, entered = events.alias("left_state"), events.alias("entered_state")
    began = (select(func.max(entered.c.at))
             .where(entered.c.case_id == left.c.case_id, entered.c.seq < left.c.seq,
                    entered.c.to_state == left.c.from_state,
                    or_(entered.c.from_state.is_(None), entered.c.from_state != entered.c.to_state))
             .scalar_subquery())
    source = (select(literal(0).label("grouping"), left.c.from_state.label("value"),
                     minutes_between(connection, began, left.c.at).label("minutes"))
              .select_from(left.join(cases, cases.c.id == left.c.case_id))
              .where(left.c.to_state.in_(list(states)), left.c.at >= start, left.c.at < end,
                     and_(left.c.from_state.is_not(None), left.c.from_state != left.c.to_state),
                     cases.c.workflow == workflow)
              .subquery("stays"))
    counted = {row[0]: int(row[1]) for row in connection.execute(
        select(source.c.value, func.count()).where(source.c.minutes.is_not(None)).group_by(source.c.value))}
    spread = percentiles.grouped(connection, select(source).where(source.c.minutes.is_not(None)).subquery())
    found = {}
    for state, count in counted.items():
        median, p90 = spread.get((0, state), (None, None))
        found[state] = Stay(count, median, p90)
    return found
