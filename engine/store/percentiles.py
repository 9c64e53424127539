"""Percentiles of durations per group, counted by the database, in memory bounded by the groups.

PostgreSQL has ``percentile_cont``; SQLite has none, so there a window ranks the values within each
group and only the (at most four) ranks the two percentiles interpolate between come back
(``engine.core.reports.percentile_ranks``: linear interpolation between closest ranks, as
``numpy.percentile`` by default). Functions take the caller's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Integer, cast, func, or_, select

from engine.core.reports import percentile_ranks

PERCENTILES = (0.5, 0.9)
"""The median and the 90th percentile."""


def minutes_between(connection: Connection, start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[Any]:
    """The minutes from ``start`` to ``end`` (two stored times), as the dialect computes them."""
    if connection.dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float) / 60.0
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3) / 60.0


def grouped(connection: Connection, source: Any, fractions: Sequence[float] = PERCENTILES) -> dict[tuple[Any, Any],
                                                                                                   tuple[float, ...]]:
    """Per ``(grouping, value)`` of ``source`` (a subquery with columns ``grouping``, ``value`` and
    ``minutes``): the percentiles ``fractions`` of its minutes. Groups without a row are absent."""
    return {group: values for group, (_count, values) in counted(connection, source, fractions).items()}


def counted(connection: Connection, source: Any,
            fractions: Sequence[float] = PERCENTILES) -> dict[tuple[Any, Any], tuple[int, tuple[float, ...]]]:
    """As ``grouped``, with each group's number of rows: ``{(grouping, value): (count, percentiles)}``.

    One statement; rows whose minutes are NULL are left out.
    """
    s = source.c
    present = s.minutes.is_not(None)
    if connection.dialect.name == "postgresql":
        statement = (select(s.grouping, s.value, func.count(),
                            *(func.percentile_cont(f).within_group(s.minutes) for f in fractions))
                     .where(present).group_by(s.grouping, s.value))
        return {(row[0], row[1]): (int(row[2]), tuple(float(v) for v in row[3:])) for row in connection.execute(statement)}
    ranked = (select(s.grouping, s.value, s.minutes,
                     (func.row_number().over(partition_by=(s.grouping, s.value), order_by=s.minutes) - 1).label("rank"),
                     func.count().over(partition_by=(s.grouping, s.value)).label("n"))
              .where(present).subquery())
    wanted = [ranked.c.rank == cast((ranked.c.n - 1) * f, Integer) + step for f in fractions for step in (0, 1)]
    picked: dict[tuple[Any, Any], tuple[int, dict[int, float]]] = {}
    for row in connection.execute(select(ranked).where(or_(*wanted))):
        picked.setdefault((row.grouping, row.value), (int(row.n), {}))[1][int(row.rank)] = float(row.minutes)
    found: dict[tuple[Any, Any], tuple[int, tuple[float, ...]]] = {}
    for group, (count, at) in picked.items():
        values = []
        for f in fractions:
            low, high, weight = percentile_ranks(count, f)
            values.append(at[low] + (at[high] - at[low]) * weight)
        found[group] = (count, tuple(values))
    return found
