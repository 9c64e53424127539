"""Periodic notices: reading the rows behind the morning digest and the monthly recap, and running one.

The database counts (``engine.store.report_rows``), ``engine.core.reports`` assembles the report
(pure); this module runs the two and queues the rendered notices, once per schedule and fire time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from engine.app.runtime import Runtime
from engine.compile.notice_context import report_context
from engine.compile.workflow import CompiledWorkflow
from engine.core.reports import DIGEST_ROWS, Period, assemble_report, recap_period
from engine.definition.model import ScheduleSpec, WorkflowDefinition
from engine.errors import NotFound
from engine.notices.outbox import notice_rows_for, queue
from engine.store import definition_rows, report_rows

__all__ = ["ScheduleRun", "build_report", "open_states_of", "run_schedule", "schedule_spec"]


def build_report(connection: Connection, definition: WorkflowDefinition, fire_at: datetime,
                 now: datetime, *, open_states: Sequence[str] | None = None,
                 period: Period | None = None) -> dict[str, Any]:
    """Count what a report needs in the caller's transaction (in the database) and assemble it.

    ``open_states``: every non-final state a case may be in, older versions' included (default:
    those of ``definition``). ``period``: what the recap part covers (default: the calendar month
    before ``fire_at``; the dashboard gives its own).
    """
    states = definition.states.values()
    opened = list(open_states) if open_states is not None else [s.name for s in states if not s.final]
    period = period or recap_period(fire_at, definition.timezone)
    digest = report_rows.digest(connection, definition.name, opened, now, DIGEST_ROWS)
    totals, groups = report_rows.recap(connection, report_rows.RecapQuery(
        workflow=definition.name, open_states=opened, final_states=[s.name for s in states if s.final],
        outcomes=definition.reports.outcomes,
        breakdowns=[(field, field == definition.scope_field) for field in definition.reports.breakdowns],
        start=period.start, end=period.end, now=now))
    return assemble_report(definition, listed=digest.listed, open_count=digest.open_count,
                           overdue_count=digest.overdue_count, totals=totals, groups=groups, period=period, now=now)


def open_states_of(engine: Runtime, connection: Connection, workflow: str) -> list[str]:
    """The non-final states of every deployed version of ``workflow`` that the newest does not make final."""
    newest = engine.compiled(connection, workflow).definition
    found: dict[str, None] = {}
    for version in definition_rows.versions(connection, workflow):
        for state in engine.compiled(connection, workflow, version).definition.states.values():
            if not state.final:
                found[state.name] = None
    return [name for name in found if not (name in newest.states and newest.states[name].final)]


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
    two runners, a restart or a retry never send it twice; the report is counted just before,
    in a read transaction that holds no lock. A schedule bound to a calendar's
    working days does nothing on that calendar's other days (weekends, holidays, cuti bersama).
    """
    moment = now or engine.clock()

    def read(connection: Connection) -> ScheduleRun | dict[str, Any]:
        compiled = engine.compiled(connection, workflow)
        definition = compiled.definition
        spec = schedule_spec(compiled, schedule)
        if spec.working_days is not None:
            local_day = fire_at.astimezone(ZoneInfo(definition.timezone)).date()
            if not engine.calendar(compiled, spec.working_days).is_working_day(local_day):
                return ScheduleRun(workflow, schedule, fire_at, "not_working_day")
        if report_rows.has_run(connection, workflow, schedule, fire_at):
            return ScheduleRun(workflow, schedule, fire_at, "already_ran")
        return build_report(connection, definition, fire_at, moment,
                            open_states=open_states_of(engine, connection, workflow))

    # The report is counted in a read transaction, so moves go on while it runs; the claim and
    # the notices are one short write transaction after it.
    report = engine.db.read(read, reports=True)
    if isinstance(report, ScheduleRun):
        return report

    def work(connection: Connection) -> ScheduleRun:
        compiled = engine.compiled(connection, workflow)
        definition = compiled.definition
        spec = schedule_spec(compiled, schedule)
        if not report_rows.record_run(connection, workflow, schedule, fire_at, moment):
            return ScheduleRun(workflow, schedule, fire_at, "already_ran")
        rows = notice_rows_for(connection, compiled, None, spec.to, spec.template,
                               lambda recipient: report_context(definition, spec, recipient, moment, report),
                               case_id=None, event_seq=None, source=f"schedule:{spec.name}",
                               routing=engine.routing, now=moment)
        queue(connection, compiled, rows)
        return ScheduleRun(workflow, schedule, fire_at, "queued", len(rows))

    return engine.db.transaction(work)
