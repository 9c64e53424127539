"""Percentiles of durations per group, counted by the database, in memory bounded by the groups.

Durations are whole microseconds (``engine.store.stay_rows``); the percentiles come back in
minutes, each value turned into minutes before interpolating, as Python's ``timedelta`` arithmetic does. PostgreSQL has ``percentile_cont``; SQLite has none, so there a window ranks the values
within each group and only the (at most four) ranks the two percentiles interpolate between come
back, or, for one group read along an index ordered by its values, each rank is read at its
offset (``at_ranks``). Either way: linear interpolation between closest ranks, as
``numpy.percentile`` by default (``engine.core.reports.percentile_ranks``). Functions take the
caller's connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Float, Integer, cast, func, or_, select

from engine.core.reports import percentile_ranks

PERCENTILES = (0.5, 0.9)
"""The median and the 90th percentile."""

def interpolated(count: int, at: Mapping[int, float], fractions: Sequence[float] = PERCENTILES) -> tuple[float, ...]:
    """The percentiles ``fractions`` in minutes of ``count`` values of which ``at`` holds (by 0-based
    rank, in microseconds) those the percentiles interpolate between."""
    values = []
    for fraction in fractions:
        low, high, weight = percentile_ranks(count, fraction)
        first, second = minutes(at[low]), minutes(at[high])
        values.append(first + (second - first) * weight)
    return tuple(values)


def minutes(us: float) -> float:
    """Microseconds as minutes, rounded as ``timedelta.total_seconds() / 60`` rounds them."""
    return us / 1_000_000 / 60


def at_ranks(count: int, read: Callable[[int, int], Sequence[int]],
             fractions: Sequence[float] = PERCENTILES) -> tuple[float, ...]:
    """As ``interpolated``, reading the values it needs with ``read(offset, limit)`` (the ``limit``
    values from 0-based rank ``offset`` on, in order)."""
    at: dict[int, float] = {}
    for fraction in fractions:
        low, high, _weight = percentile_ranks(count, fraction)
        if low not in at or high not in at:
            for index, value in enumerate(read(low, high - low + 1)):
                at[low + index] = float(value)
    return interpolated(count, at, fractions)


def cont(us: Any, fractions: Sequence[float] = PERCENTILES) -> list[Any]:
    """PostgreSQL: ``percentile_cont`` of each of ``fractions`` of the durations ``us`` (microseconds),
    in minutes, as aggregate columns (rows whose ``us`` is NULL are left out)."""
    return [func.percentile_cont(f).within_group(cast(us, Float) / 1_000_000.0 / 60.0) for f in fractions]


def counted(connection: Connection, source: Any,
            fractions: Sequence[float] = PERCENTILES) -> dict[tuple[Any, Any], tuple[int, tuple[float, ...]]]:
    """Per ``(grouping, value)`` of ``source`` (a subquery with columns ``grouping``, ``value`` and
    ``us``, a duration in microseconds): its number of rows and the percentiles ``fractions`` of
    its durations, in minutes: ``{(grouping, value): (count, percentiles)}``. Groups without a row
    are absent.

    One statement; rows whose duration is NULL are left out.
    """
    s = source.c
    present = s.us.is_not(None)
    if connection.dialect.name == "postgresql":
        statement = (select(s.grouping, s.value, func.count(), *cont(s.us, fractions))
                     .where(present).group_by(s.grouping, s.value))
        return {(row[0], row[1]): (int(row[2]), tuple(float(v) for v in row[3:]))
                for row in connection.execute(statement)}
    ranked = (select(s.grouping, s.value, s.us,
                     (func.row_number().over(partition_by=(s.grouping, s.value), order_by=s.us) - 1).label("rank"),
                     func.count().over(partition_by=(s.grouping, s.value)).label("n"))
              .where(present).subquery())
    wanted = [ranked.c.rank == cast((ranked.c.n - 1) * f, Integer) + step for f in fractions for step in (0, 1)]
    picked: dict[tuple[Any, Any], tuple[int, dict[int, float]]] = {}
    for row in connection.execute(select(ranked).where(or_(*wanted))):
        picked.setdefault((row.grouping, row.value), (int(row.n), {}))[1][int(row.rank)] = float(row.us)
    return {group: (count, interpolated(count, at, fractions)) for group, (count, at) in picked.items()}
