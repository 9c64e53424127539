"""Cases opened in a time window, newest first, keyset-paged: the lists other systems poll.

A window is one workflow's cases of some states opened between two times. Each state is one
range of the index ``(workflow, state, created_at, id)`` (revision 0014), read backwards from the
page's position and cut at the page size; the ranges are merged newest first. So a page costs its
size times the number of states, whatever the table holds. A ``category`` (a field and the values
wanted) is checked on the rows of those ranges: it narrows the window, it does not choose a range.
Functions take the caller's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, literal, select, tuple_, union_all

from engine.core.records import CaseRecord, case_number_key
from engine.store.case_rows import CASE_COLUMNS, record
from engine.store.schema import cases


@dataclass(frozen=True, slots=True)
class Window:
    """The cases of ``workflow`` in one of ``states`` opened from ``since`` to ``until`` (both included).

    ``versions``, per state, limits that state's range to some definition versions (a state that is
    final in one version and not in another); a state not named there is read on every version.
    """

    workflow: str
    states: tuple[str, ...]
    since: datetime
    until: datetime
    category: tuple[str, tuple[str, ...]] | None = None
    versions: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a page ended: its last (oldest) case's opening time and id."""

    created_at: datetime
    id: int


def _range(window: Window, state: str, before: Mark | None, limit: int) -> Select[Any]:
    where: list[ColumnElement[bool]] = [
        cases.c.workflow == window.workflow, cases.c.state == state,
        cases.c.created_at >= window.since, cases.c.created_at <= window.until,
    ]
    versions = dict(window.versions).get(state)
    if versions is not None:
        where.append(cases.c.definition_version.in_(list(versions)))
    if window.category is not None:
        field, values = window.category
        where.append(cases.c.data[field].as_string().in_(list(values)))
    if before is not None:
        where.append(tuple_(cases.c.created_at, cases.c.id) < tuple_(
            bindparam(None, before.created_at, type_=cases.c.created_at.type), literal(before.id)))
    return (select(*CASE_COLUMNS).where(*where)
            .order_by(cases.c.created_at.desc(), cases.c.id.desc()).limit(limit))


def newest(connection: Connection, window: Window, *, before: Mark | None = None, limit: int = 100) -> list[CaseRecord]:
    """Up to ``limit`` cases of ``window`` opened before ``before`` (all when None), newest first."""
    if not window.states or limit < 1:
        return []
    parts = [_range(window, state, before, limit) for state in dict.fromkeys(window.states)]
    # Each range is its own subquery, so its ORDER BY and LIMIT stay inside it (SQLite forbids
    # them on the members of a compound select).
    merged = union_all(*(select(*part.subquery().c) for part in parts)).subquery()
    statement = (select(*(merged.c[column.name] for column in CASE_COLUMNS))
                 .order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit))
    return [record(row) for row in connection.execute(statement)]


def by_numbers(connection: Connection, workflow: str, numbers: Sequence[str]) -> list[CaseRecord]:
    """The cases of ``workflow`` numbered ``numbers`` (any letter case; unknown ones left out), in that order."""
    keys = list(dict.fromkeys(case_number_key(number) for number in numbers))
    if not keys:
        return []
    rows = connection.execute(select(*CASE_COLUMNS).where(cases.c.number.in_(keys), cases.c.workflow == workflow))
    found = {case.number: case for case in map(record, rows)}
    return [found[key] for key in keys if key in found]
