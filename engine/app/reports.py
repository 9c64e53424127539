"""Periodic notices: reading the rows behind the morning digest and the monthly recap, and running one.

The arithmetic is ``engine.core.reports`` (pure); this module reads what it needs in the caller's
transaction and queues the rendered notices, once per schedule and fire time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from engine.app.runtime import Runtime
from engine.compile.notice_context import report_context
from engine.compile.workflow import CompiledWorkflow
from engine.core.reports import compute_report, recap_period
from engine.definition.model import ScheduleSpec, WorkflowDefinition
from engine.errors import NotFound
from engine.notices.outbox import notice_rows_for
from engine.store import notice_rows, report_rows

__all__ = ["ScheduleRun", "build_report", "run_schedule", "schedule_spec"]


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


def run_schedule(engine: Runtime, workflow: str, schedule: str, fire_at: datetime, *,
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
        rows = notice_rows_for(connection, compiled, None, spec.to, spec.template,
                               lambda recipient: report_context(definition, spec, recipient, moment, report),
                               case_id=None, event_seq=None, source=f"schedule:{spec.name}",
                               routing=engine.routing, now=moment)
        notice_rows.insert_notices(connection, rows)
        return ScheduleRun(workflow, schedule, fire_at, "queued", len(rows))

    return engine.db.transaction(work)
