"""Periodic notices: the report behind the morning digest and the monthly recap, and running one.

Every schedule's template receives the same ``report`` (the keys of
``engine.compile.notice_context.sample_report``, which `treckk validate` checks templates against), so a
schedule is not tied to one template: the open-case part is a snapshot at the moment the report is
built, the period part covers the calendar month before the scheduled fire time, in the workflow's
time zone.

Definitions of the period measures (``[start, end)`` is the month):

- ``received``: cases opened in the period.
- ``completed`` / ``rejected`` / ``referred``: cases that reached ``selesai`` / ``ditolak`` /
  ``dilimpahkan`` in the period, whenever they were opened.
- ``open``: cases opened before the end of the period and not in a final state at its end.
- ``overdue``: cases that missed a deadline falling in the period while they were in that state:
  an escalation step was recorded for a deadline in the period (so a case that was late and then
  moved on still counts), or the case still sits in a state whose deadline fell in the period.
- ``median_minutes`` / ``p90_minutes``: elapsed (wall-clock) minutes from intake to the final state,
  over the cases that reached a final state in the period; percentiles by linear interpolation
  between closest ranks (the "inclusive" method, as ``numpy.percentile`` by default); None when no
  case finished.

The per-kecamatan and per-kategori rows apply the same measures to the cases of each value; values
with no case in any measure are left out, and cases without a value are grouped as "Belum diisi".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import Connection

from engine.compile.workflow import CompiledWorkflow
from engine.definition.model import ScheduleSpec, WorkflowDefinition
from engine.errors import NotFound
from engine.core.fields import display_value
from engine.compile.notice_context import report_context
from engine.notices.outbox import render_rows, resolve_recipients
from engine.app.commands import Commands
from engine.store import notice_rows, report_rows
from engine.store.report_rows import OpenCaseRow, RecapCaseRow

__all__ = ["OUTCOMES", "Period", "ScheduleRun", "build_report", "compute_report", "percentile", "recap_period",
           "run_schedule", "schedule_spec"]

OUTCOMES = {"selesai": "completed", "ditolak": "rejected", "dilimpahkan": "referred"}
"""Final state → the recap count it adds to (the TRECKK flow's three outcomes)."""

CATEGORY_FIELD = "kategori"
MISSING_VALUE = "Belum diisi"
DIGEST_ROWS = 50
"""Rows listed in ``open_cases``; a WhatsApp message grows unreadable beyond that (the count stays exact)."""


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
                  format_date(start_day, "MMMM y", locale="id"))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (``numpy.percentile``'s default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _label(definition: WorkflowDefinition, field: str | None, value: Any, missing: str) -> str:
    spec = definition.fields.get(field or "")
    if value in (None, ""):
        return missing
    return display_value(spec, value) if spec is not None else str(value)


def _minutes_late(due_at: datetime | None, now: datetime) -> int:
    return int((now - due_at).total_seconds() // 60) if due_at is not None and now > due_at else 0


def _digest_row(definition: WorkflowDefinition, row: OpenCaseRow, now: datetime) -> dict[str, Any]:
    state = definition.states.get(row.state)
    steps = len(state.deadline.escalation) if state is not None and state.deadline else 0
    late = _minutes_late(row.due_at, now)
    return {
        "number": row.number,
        "state": row.state,
        "state_label": state.label if state is not None else row.state,
        "kecamatan": _label(definition, definition.scope_field, row.kecamatan, "-"),
        "kategori": _label(definition, CATEGORY_FIELD, row.data.get(CATEGORY_FIELD), "-"),
        "created_at": row.created_at,
        "due_at": row.due_at,
        "overdue": late > 0,
        "overdue_by": late,
        # Steps already fired for the current state entry; the pointer names the next one.
        "escalation_step": steps if row.next_step is None else row.next_step,
    }


def _measures(rows: Iterable[RecapCaseRow], period: Period, late_ids: set[int], now: datetime) -> dict[str, Any]:
    received = completed = rejected = referred = still_open = overdue = 0
    minutes: list[float] = []
    for row in rows:
        if period.start <= row.created_at < period.end:
            received += 1
        finished_in_period = row.final_at is not None and period.start <= row.final_at < period.end
        if finished_in_period:
            assert row.final_at is not None
            outcome = OUTCOMES.get(row.state)
            completed += outcome == "completed"
            rejected += outcome == "rejected"
            referred += outcome == "referred"
            minutes.append((row.final_at - row.created_at).total_seconds() / 60)
        if row.created_at < period.end and (row.final_at is None or row.final_at >= period.end):
            still_open += 1
        still_late = (row.final_at is None and row.due_at is not None
                      and period.start <= row.due_at < period.end and row.due_at < now)
        if row.id in late_ids or still_late:
            overdue += 1
    return {"received": received, "completed": completed, "rejected": rejected, "referred": referred,
            "open": still_open, "overdue": overdue, "median_minutes": percentile(minutes, 0.5),
            "p90_minutes": percentile(minutes, 0.9)}


def _groups(definition: WorkflowDefinition, rows: Sequence[RecapCaseRow], period: Period, late_ids: set[int],
            now: datetime, field: str | None, value_of: Callable[[RecapCaseRow], Any]) -> list[dict[str, Any]]:
    spec = definition.fields.get(field or "")
    order = {value: index for index, value in enumerate(spec.choices if spec is not None else ())}
    by_value: dict[Any, list[RecapCaseRow]] = {}
    for row in rows:
        value = value_of(row)
        by_value.setdefault(None if value in (None, "") else value, []).append(row)
    groups = []
    for value in sorted(by_value, key=lambda v: (v is None, order.get(v, len(order)), str(v))):
        measures = _measures(by_value[value], period, late_ids, now)
        if any(measures[key] for key in ("received", "completed", "rejected", "referred", "open", "overdue")):
            groups.append({"name": _label(definition, field, value, MISSING_VALUE), **measures})
    return groups


def compute_report(definition: WorkflowDefinition, *, open_cases: Sequence[OpenCaseRow],
                   recap_cases: Sequence[RecapCaseRow], late_ids: set[int], period: Period, now: datetime,
                   max_rows: int = DIGEST_ROWS) -> dict[str, Any]:
    """The ``report`` a schedule's template sees, from plain rows (no I/O)."""
    listed = sorted((_digest_row(definition, row, now) for row in open_cases),
                    key=lambda r: (r["due_at"] is None, r["due_at"] or now, r["number"]))
    return {
        "period_start": period.start,
        "period_end": period.end,
        "period_label": period.label,
        "open_cases": listed[:max_rows],
        "open_count": len(listed),
        "overdue_count": sum(1 for r in listed if r["overdue"]),
        **_measures(recap_cases, period, late_ids, now),
        "per_kecamatan": _groups(definition, recap_cases, period, late_ids, now, definition.scope_field,
                                 lambda r: r.kecamatan),
        "per_kategori": _groups(definition, recap_cases, period, late_ids, now, CATEGORY_FIELD,
                                lambda r: r.data.get(CATEGORY_FIELD)),
    }


def build_report(connection: Connection, definition: WorkflowDefinition, fire_at: datetime,
                 now: datetime) -> dict[str, Any]:
    """Read the rows a report needs in the caller's transaction and compute it."""
    states = definition.states.values()
    period = recap_period(fire_at, definition.timezone)
    return compute_report(
        definition,
        open_cases=report_rows.open_cases(connection, definition.name, [s.name for s in states if not s.final]),
        recap_cases=report_rows.recap_cases(connection, definition.name, [s.name for s in states if s.final],
                                            period.start, period.end),
        late_ids=report_rows.escalated_case_ids(connection, definition.name, period.start, period.end),
        period=period,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """What running a schedule for one fire time did: ``queued``, ``already_ran`` or ``not_working_day``."""

    workflow: str
    schedule: str
    fire_at: datetime
    status: str
    notices: int = 0


def schedule_spec(compiled: CompiledWorkflow, name: str) -> ScheduleSpec:
    """The schedule ``name`` of a compiled workflow, or NotFound listing the known ones."""
    for spec in compiled.definition.schedules:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in compiled.definition.schedules) or "(none)"
    raise NotFound(f"workflow {compiled.definition.name!r} has no schedule {name!r}; schedules are {known}")


def run_schedule(engine: Commands, workflow: str, schedule: str, fire_at: datetime, *,
                 now: datetime | None = None) -> ScheduleRun:
    """Queue the notices of ``schedule`` for its fire time ``fire_at``, once, whoever asks how often.

    The run is claimed in ``schedule_runs`` in the same transaction that queues its notices, so
    two runners, a restart or a retry never send it twice. A schedule bound to a calendar's
    working days does nothing on that calendar's other days (weekends, holidays, cuti bersama).
    """
    moment = now or engine.clock()

    def work(connection: Connection) -> ScheduleRun:
        compiled = engine.compiled(connection, workflow)
        definition = compiled.definition
        spec = schedule_spec(compiled, schedule)
        if spec.working_days is not None:
            local_day = fire_at.astimezone(ZoneInfo(definition.timezone)).date()
            if not engine.calendar(compiled, spec.working_days).is_working_day(local_day):
                return ScheduleRun(workflow, schedule, fire_at, "not_working_day")
        if not report_rows.record_run(connection, workflow, schedule, fire_at, moment):
            return ScheduleRun(workflow, schedule, fire_at, "already_ran")
        report = build_report(connection, definition, fire_at, moment)
        recipients = resolve_recipients(connection, compiled, None, spec.to)
        contexts = [report_context(definition, spec, recipient, moment, report) for recipient, _, _ in recipients]
        rows = render_rows(compiled, spec.template, recipients, contexts, case_id=None, event_seq=None,
                           source=f"schedule:{spec.name}", routing=engine.routing, now=moment)
        notice_rows.insert_notices(connection, rows)
        return ScheduleRun(workflow, schedule, fire_at, "queued", len(rows))

    return engine.db.transaction(work)
