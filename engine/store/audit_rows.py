"""The reads ``verify`` streams: cases, their events and escalation steps by ranges of case ids.

Each function reads one range through an index (the primary key of ``cases``, the unique keys
``(case_id, seq)`` of events and ``(case_id, state_entry, step)`` of escalations), so a verify of a
million cases is a few thousand bounded queries, not one read of everything.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, and_, func, select

from engine.core.records import CaseRecord, EventRecord
from engine.store.case_rows import _CASE_COLUMNS, _EVENT_COLUMNS
from engine.store.schema import case_numbers, cases, definitions, escalations, events, log_leaves


def case_id_bounds(connection: Connection) -> tuple[int, int] | None:
    """(lowest, highest) case id, or None when there are no cases."""
    row = connection.execute(select(func.min(cases.c.id), func.max(cases.c.id))).first()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def cases_between(connection: Connection, first: int, last: int) -> list[CaseRecord]:
    rows = connection.execute(select(*_CASE_COLUMNS).where(and_(cases.c.id >= first, cases.c.id <= last))
                              .order_by(cases.c.id))
    return [CaseRecord(*row) for row in rows]  # type: ignore[call-arg]


def cases_by_id(connection: Connection, ids: list[int]) -> list[CaseRecord]:
    rows = connection.execute(select(*_CASE_COLUMNS).where(cases.c.id.in_(ids)).order_by(cases.c.id))
    return [CaseRecord(*row) for row in rows]  # type: ignore[call-arg]


def events_of(connection: Connection, ids: list[int]) -> dict[int, list[EventRecord]]:
    """case id → its events in order, for the cases ``ids``."""
    found: dict[int, list[EventRecord]] = defaultdict(list)
    rows = connection.execute(select(*_EVENT_COLUMNS).where(events.c.case_id.in_(ids))
                              .order_by(events.c.case_id, events.c.seq))
    for row in rows:
        found[int(row[0])].append(EventRecord(*row))
    return found


def steps_of(connection: Connection, ids: list[int]) -> dict[int, dict[int, list[int]]]:
    """case id → state entry → the escalation steps recorded, in order."""
    found: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    rows = connection.execute(select(escalations.c.case_id, escalations.c.state_entry, escalations.c.step)
                              .where(escalations.c.case_id.in_(ids))
                              .order_by(escalations.c.case_id, escalations.c.state_entry, escalations.c.step))
    for case_id, entry, step in rows:
        found[int(case_id)][int(entry)].append(int(step))
    return found


def definition_rows(connection: Connection) -> list[tuple[str, int, str, str]]:
    """(workflow, version, digest, bundle) of every deployed version."""
    return [(str(r.workflow), int(r.version), str(r.digest), str(r.bundle)) for r in connection.execute(
        select(definitions.c.workflow, definitions.c.version, definitions.c.digest, definitions.c.bundle)
        .order_by(definitions.c.workflow, definitions.c.version))]


def case_number_counters(connection: Connection) -> list[tuple[str, int, int]]:
    """(prefix, year, last number handed out) of every counter."""
    return [(str(r.prefix), int(r.year), int(r.last)) for r in connection.execute(select(case_numbers))]


def case_numbers_all(connection: Connection) -> list[str]:
    return list(connection.execute(select(cases.c.number)).scalars())


def count_cases(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(cases)).scalar_one())


def orphan_leaf_cases(connection: Connection) -> list[tuple[int, int]]:
    """(case id, first leaf index) of cases the log holds events of but the cases table lacks (deleted cases)."""
    rows = connection.execute(
        select(log_leaves.c.case_id, func.min(log_leaves.c.idx))
        .where(and_(log_leaves.c.case_id.is_not(None), log_leaves.c.case_id.not_in(select(cases.c.id))))
        .group_by(log_leaves.c.case_id).order_by(log_leaves.c.case_id))
    return [(int(case_id), int(idx)) for case_id, idx in rows]


def deploy_leaves(connection: Connection) -> list[tuple[int, str, int, str, str]]:
    """(index, workflow, version, digest, leaf) of every deployment leaf."""
    return [(int(r.idx), str(r.workflow), int(r.definition_version), str(r.definition_digest), str(r.leaf))
            for r in connection.execute(select(log_leaves.c.idx, log_leaves.c.workflow, log_leaves.c.definition_version,
                                               log_leaves.c.definition_digest, log_leaves.c.leaf)
                                        .where(log_leaves.c.kind == "deploy").order_by(log_leaves.c.idx))]
