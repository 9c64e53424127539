"""Report arithmetic (pure): what the digest and recap of a workflow count, from plain rows.

Every schedule's template receives the same ``report``, so a schedule is not tied to one template:
the open-case part is a snapshot at the moment the report is built, the period part covers the
calendar month before the scheduled fire time, in the workflow's time zone. What is counted is
declared by the workflow's ``reports:`` section: named outcomes (groups of final states) and the
fields the recap is broken down by.

Definitions of the period measures (``[start, end)`` is the month):

- ``received``: cases opened in the period.
- one count per outcome of ``reports.outcomes`` (TRECKK: ``completed`` / ``rejected`` / ``referred``):
  cases that reached one of the outcome's final states in the period, whenever they were opened.
- ``open``: cases opened before the end of the period and not in a final state at its end.
- ``overdue``: cases that missed a deadline falling in the period while they were in that state:
  an escalation step was recorded for a deadline in the period (so a case that was late and then
  moved on still counts), or the case still sits in a state whose deadline fell in the period.
- ``median_minutes`` / ``p90_minutes``: elapsed (wall-clock) minutes from intake to the final state,
  over the cases that reached a final state in the period; percentiles by linear interpolation
  between closest ranks (the "inclusive" method, as ``numpy.percentile`` by default); None when no
  case finished.

Each field of ``reports.breakdowns`` gives a ``per_<field>`` list that applies the same measures to
the cases of each value; values with no case in any measure are left out, and cases without a value
are grouped as "Belum diisi".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo


from engine.core.fields import display_value
from engine.core.localtime import month_year
from engine.definition.model import WorkflowDefinition

MISSING_VALUE = "Belum diisi"
DIGEST_ROWS = 50
"""Rows listed in ``open_cases``; a WhatsApp message grows unreadable beyond that (the count stays exact)."""


@dataclass(frozen=True, slots=True)
class OpenCaseRow:
    """An open case as the morning digest lists it."""

    id: int
    number: str
    state: str
    scope: str | None
    """The case's value of the workflow's scope field."""
    data: dict[str, Any]
    created_at: datetime
    due_at: datetime | None
    next_step: int | None


@dataclass(frozen=True, slots=True)
class RecapCaseRow:
    """A case that matters to a period: received in it, finished in it, or still open at its end."""

    id: int
    state: str
    scope: str | None
    data: dict[str, Any]
    created_at: datetime
    due_at: datetime | None
    final_at: datetime | None
    """When the case entered the final state it is in; None while it is open."""


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period ``[start, end)`` (aware instants) and its name for people."""

    start: datetime
    end: datetime
    label: str


def recap_period(fire_at: datetime, timezone: str) -> Period:
    """The calendar month before the local date of ``fire_at`` in ``timezone``."""
    zone = ZoneInfo(timezone)
    local = fire_at.astimezone(zone).date()
    end_day = date(local.year, local.month, 1)
    start_day = date(end_day.year - 1, 12, 1) if end_day.month == 1 else date(end_day.year, end_day.month - 1, 1)
    return Period(datetime.combine(start_day, time(0), zone), datetime.combine(end_day, time(0), zone),
                  month_year(start_day))


def percentile_ranks(count: int, fraction: float) -> tuple[int, int, float]:
    """The 0-based ranks a percentile interpolates between, and the weight of the upper one."""
    position = (count - 1) * fraction
    low = math.floor(position)
    return low, min(low + 1, count - 1), position - low


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (``numpy.percentile``'s default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    low, high, weight = percentile_ranks(len(ordered), fraction)
    return ordered[low] + (ordered[high] - ordered[low]) * weight


def _label(definition: WorkflowDefinition, field: str, value: Any, missing: str) -> str:
    spec = definition.fields.get(field)
    if value in (None, ""):
        return missing
    return display_value(spec, value, definition.timezone) if spec is not None else str(value)


def _minutes_late(due_at: datetime | None, now: datetime) -> int:
    return int((now - due_at).total_seconds() // 60) if due_at is not None and now > due_at else 0


def _value(definition: WorkflowDefinition, row: OpenCaseRow | RecapCaseRow, field: str) -> Any:
    return row.scope if field == definition.scope_field else row.data.get(field)


def _digest_row(definition: WorkflowDefinition, row: OpenCaseRow, now: datetime) -> dict[str, Any]:
    state = definition.states.get(row.state)
    steps = len(state.deadline.escalation) if state is not None and state.deadline else 0
    late = _minutes_late(row.due_at, now)
    shown = dict.fromkeys((definition.scope_field, *definition.reports.breakdowns) if definition.scope_field
                          else definition.reports.breakdowns)
    return {
        "number": row.number,
        "state": row.state,
        "state_label": state.label if state is not None else row.state,
        **{field: _label(definition, field, _value(definition, row, field), "-") for field in shown},
        "created_at": row.created_at,
        "due_at": row.due_at,
        "overdue": late > 0,
        "overdue_by": late,
        # Steps already fired for the current state entry; the pointer names the next one.
        "escalation_step": steps if row.next_step is None else row.next_step,
    }


@dataclass(frozen=True, slots=True)
class Measures:
    """The period measures of a set of cases (the whole workflow, or one value of a breakdown)."""

    received: int
    outcomes: Mapping[str, int]
    """Outcome name → cases that reached one of its final states in the period."""
    open: int
    overdue: int
    median_minutes: float | None
    p90_minutes: float | None

    def counted(self) -> bool:
        """Whether any case counts in any measure (groups without one are left out)."""
        return bool(self.received or any(self.outcomes.values()) or self.open or self.overdue)

    def as_dict(self, definition: WorkflowDefinition) -> dict[str, Any]:
        """The measures as the template sees them, outcomes in the definition's order."""
        return {"received": self.received, **{name: self.outcomes.get(name, 0) for name in definition.reports.outcomes},
                "open": self.open, "overdue": self.overdue, "median_minutes": self.median_minutes,
                "p90_minutes": self.p90_minutes}


def _measures(definition: WorkflowDefinition, rows: Iterable[RecapCaseRow], period: Period, late_ids: set[int],
              now: datetime) -> Measures:
    received = still_open = overdue = 0
    outcomes = dict.fromkeys(definition.reports.outcomes, 0)
    minutes: list[float] = []
    for row in rows:
        if period.start <= row.created_at < period.end:
            received += 1
        finished_in_period = row.final_at is not None and period.start <= row.final_at < period.end
        if finished_in_period:
            assert row.final_at is not None
            outcome = definition.reports.outcome_of(row.state)
            if outcome is not None:
                outcomes[outcome] += 1
            minutes.append((row.final_at - row.created_at).total_seconds() / 60)
        if row.created_at < period.end and (row.final_at is None or row.final_at >= period.end):
            still_open += 1
        still_late = (row.final_at is None and row.due_at is not None
                      and period.start <= row.due_at < period.end and row.due_at < now)
        if row.id in late_ids or still_late:
            overdue += 1
    return Measures(received, outcomes, still_open, overdue, percentile(minutes, 0.5), percentile(minutes, 0.9))


def _groups(definition: WorkflowDefinition, field: str, by_value: Mapping[Any, Measures]) -> list[dict[str, Any]]:
    """The ``per_<field>`` list: values in the field's choice order, then others, then "Belum diisi"."""
    spec = definition.fields.get(field)
    order = {value: index for index, value in enumerate(spec.choices if spec is not None else ())}
    groups = []
    for value in sorted(by_value, key=lambda v: (v is None, order.get(v, len(order)), str(v))):
        measures = by_value[value]
        if measures.counted():
            groups.append({"name": _label(definition, field, value, MISSING_VALUE), **measures.as_dict(definition)})
    return groups


_NO_DEADLINE = datetime.min.replace(tzinfo=timezone.utc)


def digest_order(row: OpenCaseRow) -> tuple[bool, datetime, str]:
    """How the digest lists open cases: by deadline, those without one last, then by number."""
    return (row.due_at is None, row.due_at or _NO_DEADLINE, row.number)


def assemble_report(definition: WorkflowDefinition, *, listed: Sequence[OpenCaseRow], open_count: int,
                    overdue_count: int, totals: Measures, groups: Mapping[str, Mapping[Any, Measures]],
                    period: Period, now: datetime, max_rows: int = DIGEST_ROWS) -> dict[str, Any]:
    """The ``report`` a schedule's template sees, from counts already made (no I/O).

    ``listed``: open cases, at least the first ``max_rows`` in ``digest_order``; ``groups``: for
    each breakdown field, its values (None for "not filled in") and their measures.
    """
    rows = sorted(listed, key=digest_order)[:max_rows]
    return {
        "period_start": period.start,
        "period_end": period.end,
        "period_label": period.label,
        "open_cases": [_digest_row(definition, row, now) for row in rows],
        "open_count": open_count,
        "overdue_count": overdue_count,
        **totals.as_dict(definition),
        **{f"per_{field}": _groups(definition, field, groups.get(field, {})) for field in definition.reports.breakdowns},
    }


def compute_report(definition: WorkflowDefinition, *, open_cases: Sequence[OpenCaseRow],
                   recap_cases: Sequence[RecapCaseRow], late_ids: set[int], period: Period, now: datetime,
                   max_rows: int = DIGEST_ROWS) -> dict[str, Any]:
    """The ``report`` a schedule's template sees, from plain rows (no I/O).

    The reference for what the database computes at scale (``engine.store.report_rows``): the
    same measures, counted in memory; used where the rows are few (samples, tests).
    """
    groups: dict[str, dict[Any, Measures]] = {}
    for field in definition.reports.breakdowns:
        by_value: dict[Any, list[RecapCaseRow]] = {}
        for row in recap_cases:
            value = _value(definition, row, field)
            by_value.setdefault(None if value in (None, "") else value, []).append(row)
        groups[field] = {value: _measures(definition, members, period, late_ids, now)
                         for value, members in by_value.items()}
    return assemble_report(
        definition, listed=open_cases, open_count=len(open_cases),
        overdue_count=sum(1 for row in open_cases if _minutes_late(row.due_at, now) > 0),
        totals=_measures(definition, recap_cases, period, late_ids, now), groups=groups, period=period, now=now,
        max_rows=max_rows)
