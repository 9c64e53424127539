"""Pages of cases for people: the cases of some workflow states and scopes, by deadline, keyset-paged.

A list is described by its ``Reach``es (one workflow, optionally one state and one scope value);
each reach is one range of an index that leads with ``workflow`` and ends in ``(due_at, id)``
(revision 0003), read from the page's position onwards and cut at the page size, and the reaches
are merged by deadline. So a page costs its size times the number of reaches, whatever the table
holds; a count costs the cases it counts. Cases without a deadline come after every dated case,
by id. Functions take the caller's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (ColumnElement, Connection, Select, and_, bindparam, case, func, literal,
                        or_, select, tuple_, union_all)

from engine.core.records import CaseRecord
from engine.store.case_rows import CASE_COLUMNS, record
from engine.store.schema import cases


@dataclass(frozen=True, slots=True)
class Reach:
    """The cases of ``workflow`` in ``state`` (None: any) of scope ``scope`` (None: any), on ``versions`` (None: any)."""

    workflow: str
    state: str | None = None
    scope: str | None = None
    versions: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: its last case's deadline (None: it had none) and id."""

    due_at: datetime | None
    id: int


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Filters applied inside every reach.

    ``late_at``: only cases due before it (overdue), ``on_time_at``: only cases not due before it
    (undated ones included). ``category``: (field, value) on the case data. ``search``: a part of a
    case number (its last digits, say) or a text in the values of ``search_fields``; these two are checked on the rows of the reach's
    index range (they narrow a bounded range, they do not choose one).
    """

    late_at: datetime | None = None
    on_time_at: datetime | None = None
    category: tuple[str, str] | None = None
    search: str | None = None
    search_fields: tuple[str, ...] = ()
    """The fields of the case data ``search`` looks in (the caller leaves out what the viewer may not
    read, such as personal data); the number is always searched."""


def _where(reach: Reach, narrowing: Narrowing) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [cases.c.workflow == reach.workflow]
    if reach.state is not None:
        found.append(cases.c.state == reach.state)
    if reach.scope is not None:
        found.append(cases.c.scope == reach.scope)
    if reach.versions is not None:
        found.append(cases.c.definition_version.in_(list(reach.versions)))
    if narrowing.late_at is not None:
        found.append(cases.c.due_at < narrowing.late_at)
    if narrowing.on_time_at is not None:
        found.append(or_(cases.c.due_at.is_(None), cases.c.due_at >= narrowing.on_time_at))
    if narrowing.category is not None:
        field, value = narrowing.category
        found.append(cases.c.data[field].as_string() == value)
    if narrowing.search:
        text = narrowing.search.strip()
        found.append(or_(cases.c.number.contains(text.upper(), autoescape=True),
                         *(cases.c.data[name].as_string().icontains(text, autoescape=True)
                           for name in narrowing.search_fields)))
    return found


def _ranges(reach: Reach, narrowing: Narrowing, after: Position | None, limit: int) -> list[Select[Any]]:
    """The reach's dated and undated index ranges after ``after``, each cut at ``limit``."""
    where = _where(reach, narrowing)
    parts: list[Select[Any]] = []
    if after is None or after.due_at is not None:
        dated = [*where, cases.c.due_at.is_not(None)]
        if after is not None:
            dated.append(tuple_(cases.c.due_at, cases.c.id) > tuple_(
                bindparam(None, after.due_at, type_=cases.c.due_at.type), literal(after.id)))
        parts.append(select(*CASE_COLUMNS).where(*dated).order_by(cases.c.due_at, cases.c.id).limit(limit))
    if narrowing.late_at is None:  # a case without a deadline is never late
        undated = [*where, cases.c.due_at.is_(None)]
        if after is not None and after.due_at is None:
            undated.append(cases.c.id > after.id)
        # Ordered by (due_at, id) though due_at is NULL throughout: the order of the read indexes'
        # tail, so the range is walked in index order. Ordered by id alone, PostgreSQL can take
        # no index for the order; at 10,000,000 cases it guessed tens of thousands of undated rows
        # in the state (most cases, the closed ones, have no deadline) and walked the primary key
        # over the whole table instead: 12.6 s for none (docs/scale.md).
        parts.append(select(*CASE_COLUMNS).where(*undated).order_by(cases.c.due_at, cases.c.id).limit(limit))
    return parts


def page(connection: Connection, reaches: Sequence[Reach], *, narrowing: Narrowing = Narrowing(),
         after: Position | None = None, limit: int = 50) -> list[CaseRecord]:
    """Up to ``limit`` cases of the reaches after ``after``: dated ones by deadline, then undated ones by id."""
    parts = [part for reach in reaches for part in _ranges(reach, narrowing, after, limit)]
    if not parts:
        return []
    # Each range is its own subquery, so its ORDER BY and LIMIT stay inside it (SQLite forbids
    # them on the members of a compound select).
    merged = union_all(*(select(*part.subquery().c) for part in parts)).subquery()
    statement = (select(*(merged.c[column.name] for column in CASE_COLUMNS))
                 .order_by(merged.c.due_at.is_(None), merged.c.due_at, merged.c.id).limit(limit))
    return [record(row) for row in connection.execute(statement)]


def counts(connection: Connection, reaches: Sequence[Reach], *, narrowing: Narrowing = Narrowing(),
           late_at: datetime) -> list[tuple[Reach, int, int]]:
    """For each reach: how many cases it holds and how many of them are due before ``late_at``."""
    if not reaches:
        return []
    parts = [
        select(literal(index).label("reach"), func.count().label("cases"),
               func.coalesce(func.sum(case((cases.c.due_at < late_at, 1), else_=0)), 0).label("late"))
        .where(and_(*_where(reach, narrowing)))
        for index, reach in enumerate(reaches)
    ]
    rows = {int(row.reach): (int(row.cases), int(row.late)) for row in connection.execute(union_all(*parts))}
    return [(reach, *rows.get(index, (0, 0))) for index, reach in enumerate(reaches)]
