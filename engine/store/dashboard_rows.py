"""What the dashboard reads: open cases by state and scope, cases received and closed per week, and
the lengths of stays in each state. Functions take the caller's connection.

Every statement returns one row per group (a state and scope value, a week, a state), never one
per case, so memory is bounded by the groups; each reads through an index (revision 0011 widens
the events' ``(to_state, at)`` so the events' rows need not be read):

- open cases: ``cases (workflow, state, scope, due_at, id)``, one range per open state;
- received and closed per week: ``events (to_state, at, from_state, case_id, seq)``, one range per
  state and week, the intake events (no ``from_state``) and those entering a final state;
- stays: ``events (to_state, at, from_state, case_id, seq)`` for the events that left a state in the
  period, and for each the event before it by ``events (case_id, seq)``.

Each event's case is looked up (for its workflow) only when more than one workflow has cases.
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


def weekly(connection: Connection, workflow: str, states: Sequence[str], final_states: Sequence[str],
           found: Sequence[Week], *, only_workflow: bool = False) -> list[tuple[int, int]]:
    """Per week, in order: (cases of ``workflow`` received, cases that entered a final state from another).

    A case is received at its intake event (the one without a ``from_state``, into any of
    ``states``), at the moment it was created. ``only_workflow``: no other workflow has cases.
    """
    if not found:
        return []
    finals = list(final_states)

    def counted(week: Week, into: Sequence[str], where: Any, what: Any) -> Any:
        source: Any = events
        conditions = [events.c.to_state.in_(list(into)), events.c.at >= week.start, events.c.at < week.end, where]
        if not only_workflow:
            source = events.join(cases, cases.c.id == events.c.case_id)
            conditions.append(cases.c.workflow == workflow)
        return select(what).select_from(source).where(*conditions).scalar_subquery()

    def closed(week: Week) -> Any:
        if not finals:
            return literal(0)
        # Final states have no way out, so a case enters one from elsewhere at most once.
        return counted(week, finals, events.c.from_state.notin_(finals), func.count(func.distinct(events.c.case_id)))

    statement = union_all(*(select(literal(index).label("week"),
                                   counted(week, states, events.c.from_state.is_(None), func.count()).label("received"),
                                   closed(week).label("closed"))
                            for index, week in enumerate(found)))
    counts = {int(row[0]): (int(row[1]), int(row[2])) for row in connection.execute(statement)}
    return [counts[index] for index in range(len(found))]


def stays(connection: Connection, workflow: str, states: Sequence[str], start: datetime,
          end: datetime, *, only_workflow: bool = False) -> dict[str, Stay]:
    """Per state, the stays of ``workflow``'s cases that ended in ``[start, end)``: their number and
    the median and 90th percentile of their minutes. One statement.

    A stay in S ends at an event from S to another state; it began at the latest earlier event of
    the same case that entered S from elsewhere (or opened the case in S). Events that keep the
    state (a note) neither begin nor end one. Nearly always the stay began at the event just
    before (one lookup by ``(case_id, seq)``); only after a note is the earlier event searched for.
    ``only_workflow``: no other workflow has cases, so no event needs its case looked up.
    """
    if not states:
        return {}
    left, before, entered = events.alias("left_state"), events.alias("before_left"), events.alias("entered_state")
    searched = (select(func.max(entered.c.at))
                .where(entered.c.case_id == left.c.case_id, entered.c.seq < left.c.seq,
                       entered.c.to_state == left.c.from_state,
                       or_(entered.c.from_state.is_(None), entered.c.from_state != entered.c.to_state))
                .scalar_subquery())
    changed = or_(before.c.from_state.is_(None), before.c.from_state != before.c.to_state)
    began = case((changed, before.c.at), else_=searched)
    joined = left.join(before, and_(before.c.case_id == left.c.case_id, before.c.seq == left.c.seq - 1))
    where = [left.c.to_state.in_(list(states)), left.c.at >= start, left.c.at < end,
             left.c.from_state.is_not(None), left.c.from_state != left.c.to_state]
    if not only_workflow:
        joined = joined.join(cases, cases.c.id == left.c.case_id)
        where.append(cases.c.workflow == workflow)
    source = (select(literal(0).label("grouping"), left.c.from_state.label("value"),
                     minutes_between(connection, began, left.c.at).label("minutes"))
              .select_from(joined).where(*where).subquery("stays"))
    return {state: Stay(count, values[0], values[1])
            for (_grouping, state), (count, values) in percentiles.counted(connection, source).items()}
