"""Read-only views of cases for people and scripts: show, history, inbox, lists.

Every view is built for a viewer: personal data is masked unless the viewer's role may read it,
and staff of scoped roles only see the cases of their own scope value.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.app import outbox
from engine.core import localtime as wita
from engine.core.records import CaseRecord, EventRecord
from engine.compile.workflow import CompiledWorkflow
from engine.definition.model import WorkflowDefinition
from engine.errors import PermissionDenied
from engine.core.masking import masked_values
from engine.core.integrity import first_broken
from engine.core.permissions import may_view, role_for, sees_pii
from engine.app.commands import Commands
from engine.store import case_rows, definition_rows, staff_rows
from engine.store.staff_rows import StaffMember


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def masked_data(compiled: CompiledWorkflow, data: dict[str, Any], may_see_pii: bool) -> dict[str, Any]:
    """Stored values, personal data masked unless the viewer may read it."""
    return masked_values(compiled.definition.fields, data, may_see_pii)


def allowed_triggers(compiled: CompiledWorkflow, case: CaseRecord, viewer: StaffMember | None) -> list[str]:
    """Triggers ``viewer`` may fire now (role and scope; guards are checked when firing)."""
    found: list[str] = []
    roles = compiled.definition.roles
    viewer = viewer.in_workflow(case.workflow) if viewer is not None else None
    for transition in compiled.definition.transitions_from(case.state):
        if transition.trigger in found:
            continue
        if viewer is None or role_for(viewer, transition.roles, roles, case.scope) is not None:
            found.append(transition.trigger)
    return found


def deadline_view(case: CaseRecord, compiled: CompiledWorkflow, now: datetime) -> dict[str, Any] | None:
    if case.due_at is None:
        return None
    late_seconds = (now - case.due_at).total_seconds()
    # Rounded up, so a case listed by `cases --overdue` always reads as late, even in its first minute.
    overdue_minutes = max(0, math.ceil(late_seconds / 60))
    state = compiled.definition.states.get(case.state)
    steps = state.deadline.escalation if state and state.deadline else ()
    reached = len(steps) if case.next_step is None else case.next_step
    shown = wita.long_datetime_in(case.due_at, compiled.definition.timezone)
    return {
        "due_at": _iso(case.due_at),
        "due_at_wita": shown,  # the old name of due_at_local, kept for scripts
        "due_at_local": shown,
        "overdue": late_seconds > 0,
        "overdue_minutes": overdue_minutes,
        "overdue_text": wita.span(overdue_minutes) if overdue_minutes else "",
        "escalation_steps_fired": reached,
        "escalation_steps": len(steps),
        "next_escalation_at": _iso(case.next_step_at),
    }


def _in(viewer: StaffMember | None, case: CaseRecord) -> StaffMember | None:
    """The viewer as they act in the case's workflow (its grants only)."""
    return viewer.in_workflow(case.workflow) if viewer is not None else None


def scope_keys(definition: WorkflowDefinition, case: CaseRecord) -> dict[str, Any]:
    """The case's scope value under ``scope`` and under the name of the workflow's scope field."""
    return {"scope": case.scope, **({definition.scope_field: case.scope} if definition.scope_field else {})}


class Queries:
    """Queries over one engine's database."""

    def __init__(self, engine: Commands) -> None:
        self.engine = engine

    def _viewer(self, connection: Connection, username: str | None) -> StaffMember | None:
        return self.engine.viewer(connection, username)

    def _case(self, connection: Connection, number: str, viewer: StaffMember | None) -> tuple[CaseRecord, CompiledWorkflow]:
        case = case_rows.existing_case(connection, number)
        compiled = self.engine.compiled(connection, case.workflow, case.definition_version)
        if viewer is not None and not may_view(viewer.in_workflow(case.workflow), compiled.definition.roles,
                                               case.scope):
            field = compiled.definition.scope_field or "scope"
            raise PermissionDenied(f"staff {viewer.username!r} may not see case {number} (another {field})")
        return case, compiled

    def case_view(self, connection: Connection, case: CaseRecord, compiled: CompiledWorkflow,
                  viewer: StaffMember | None) -> dict[str, Any]:
        definition = compiled.definition
        state = definition.states[case.state]
        return {
            "number": case.number,
            "workflow": case.workflow,
            "definition_version": case.definition_version,
            "state": case.state,
            "state_label": state.label,
            "final": state.final,
            "version": case.version,
            **scope_keys(definition, case),
            "data": masked_data(compiled, case.data, sees_pii(_in(viewer, case), definition.roles)),
            "created_at": _iso(case.created_at),
            "updated_at": _iso(case.updated_at),
            "state_entered_at": _iso(case.state_entered_at),
            "deadline": deadline_view(case, compiled, self.engine.clock()),
            "allowed_triggers": allowed_triggers(compiled, case, viewer),
        }

    def show(self, number: str, viewer_name: str | None = None) -> dict[str, Any]:
        def work(connection: Connection) -> dict[str, Any]:
            viewer = self._viewer(connection, viewer_name)
            case, compiled = self._case(connection, number, viewer)
            return self.case_view(connection, case, compiled, viewer)

        return self.engine.db.transaction(work)

    def view_of(self, case: CaseRecord, viewer_name: str | None) -> dict[str, Any]:
        """The ``show`` object of a case just written by a command."""
        return self.show(case.number, viewer_name)

    def history(self, number: str, viewer_name: str | None = None) -> list[dict[str, Any]]:
        def work(connection: Connection) -> list[dict[str, Any]]:
            viewer = self._viewer(connection, viewer_name)
            case, compiled = self._case(connection, number, viewer)
            may_see = sees_pii(_in(viewer, case), compiled.definition.roles)
            return [self._event_view(compiled, event, may_see) for event in case_rows.history(connection, case.id)]

        return self.engine.db.transaction(work)

    @staticmethod
    def _event_view(compiled: CompiledWorkflow, event: EventRecord, may_see: bool) -> dict[str, Any]:
        return {
            "seq": event.seq,
            "trigger": event.trigger,
            "from": event.from_state,
            "to": event.to_state,
            "actor": event.actor,
            "role": event.role,
            "at": _iso(event.at),
            "input": masked_data(compiled, dict(event.input), may_see),
            "comment": event.comment,
            "hash": event.hash,
        }

    def list_cases(self, *, state: str | None = None, scope: str | None = None, overdue: bool = False,
                   viewer_name: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        def work(connection: Connection) -> list[dict[str, Any]]:
            viewer = self._viewer(connection, viewer_name)
            now = self.engine.clock()
            found = case_rows.list_cases(connection, states=[state] if state else None, scope=scope,
                                         overdue_at=now if overdue else None, limit=limit)
            return self._summaries(connection, found, viewer)

        return self.engine.db.transaction(work)

    def _summaries(self, connection: Connection, found: list[CaseRecord], viewer: StaffMember | None) -> list[dict[str, Any]]:
        rows = []
        now = self.engine.clock()
        for case in found:
            compiled = self.engine.compiled(connection, case.workflow, case.definition_version)
            definition = compiled.definition
            acting = _in(viewer, case)
            if acting is not None and not may_view(acting, definition.roles, case.scope):
                continue
            may_see = sees_pii(acting, definition.roles)
            rows.append({
                "number": case.number,
                "workflow": case.workflow,
                "definition_version": case.definition_version,
                "state": case.state,
                "state_label": definition.states[case.state].label,
                **scope_keys(definition, case),
                **{name: case.data.get(name) for name in definition.reports.breakdowns
                   if name != definition.scope_field},
                "data": masked_data(compiled, case.data, may_see),
                "version": case.version,
                "created_at": _iso(case.created_at),
                "deadline": deadline_view(case, compiled, now),
                "allowed_triggers": allowed_triggers(compiled, case, viewer) if viewer else [],
            })
        return rows

    def inbox(self, viewer_name: str) -> list[dict[str, Any]]:
        """Open cases on which the viewer may fire a trigger now, oldest deadline first."""

        def work(connection: Connection) -> list[dict[str, Any]]:
            viewer = self._viewer(connection, viewer_name)
            assert viewer is not None
            open_cases = [c for c in case_rows.list_cases(connection) if not self._final(connection, c)]
            rows = self._summaries(connection, open_cases, viewer)
            return [row for row in rows if row["allowed_triggers"]]

        return self.engine.db.transaction(work)

    def _final(self, connection: Connection, case: CaseRecord) -> bool:
        compiled = self.engine.compiled(connection, case.workflow, case.definition_version)
        return compiled.definition.states[case.state].final

    def verify(self, number: str | None = None) -> list[dict[str, Any]]:
        """Every finding of ``engine.app.verification.verify`` on this database (no outside checkpoints)."""
        from engine.app.verification import Anchors, verify

        return verify(self.engine.db.url, number, anchors=Anchors(None), jobs=1).findings

    # -- the outbox as people see it (`treckk notices`, `treckk render`) ---------------------------
    def notices(self, *, case: str | None = None, status: str | None = None, viewer_name: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
        """Notices the viewer may see, personal data masked."""
        return outbox.list_notices(self.engine, case=case, status=status, viewer_name=viewer_name, limit=limit)

    def notice(self, reference: str, viewer_name: str | None = None) -> dict[str, Any]:
        """One notice with its full text, as delivered (masked for the viewer)."""
        return outbox.show_notice(self.engine, reference, viewer_name)

    def preview(self, template: str, number: str, viewer_name: str | None = None) -> dict[str, Any]:
        """``template`` rendered for case ``number`` as the viewer would receive it, without storing it."""
        return outbox.preview(self.engine, template, number, viewer_name)

    def staff(self) -> list[dict[str, Any]]:
        """Every staff member with their grants, by username, as ``staff_view`` shows them."""

        def work(connection: Connection) -> list[dict[str, Any]]:
            return [self._staff_view(connection, member) for member in staff_rows.all_staff(connection)]

        return self.engine.db.transaction(work)

    def staff_view(self, member: StaffMember) -> dict[str, Any]:
        """A staff member as the adapters show it: roles, scope (also under each workflow's scope-field name), grants."""
        return self.engine.db.transaction(lambda connection: self._staff_view(connection, member))

    def _staff_view(self, connection: Connection, member: StaffMember) -> dict[str, Any]:
        named: dict[str, str | None] = {}
        for workflow in member.workflows:
            field = self.engine.compiled(connection, workflow).definition.scope_field
            if field:
                named.setdefault(field, member.in_workflow(workflow).scope)
        return {
            "id": member.id, "username": member.username, "name": member.name, "roles": list(member.roles),
            "scope": member.scope, **named, "phone": member.phone, "email": member.email, "active": member.active,
            "grants": [{"workflow": g.workflow, "role": g.role, "scope": g.scope} for g in member.grants],
        }

    def open_cases_below(self, workflow: str, version: int) -> list[str]:
        """Numbers of the open cases of ``workflow`` still on a version older than ``version``."""

        def work(connection: Connection) -> list[str]:
            found = case_rows.list_cases(connection, workflow=workflow, below_version=version)
            return [c.number for c in found if not self._final(connection, c)]

        return self.engine.db.transaction(work)

    def definition(self, workflow: str, version: int | None = None) -> WorkflowDefinition:
        """A deployed definition (the newest when ``version`` is None): labels, time zone, nouns."""
        return self.engine.db.transaction(lambda connection: self.engine.compiled(connection, workflow,
                                                                                  version).definition)

    def case_definition(self, number: str) -> WorkflowDefinition:
        """The definition version case ``number`` runs on (its labels and time zone)."""

        def work(connection: Connection) -> WorkflowDefinition:
            case = case_rows.existing_case(connection, number)
            return self.engine.compiled(connection, case.workflow, case.definition_version).definition

        return self.engine.db.transaction(work)

    def deployed(self) -> list[WorkflowDefinition]:
        """The newest version of every deployed workflow."""

        def work(connection: Connection) -> list[WorkflowDefinition]:
            return [self.engine.compiled(connection, name).definition
                    for name in definition_rows.workflows(connection)]

        return self.engine.db.transaction(work)

    def checked_count(self, number: str | None) -> int:
        return 1 if number else self.engine.db.transaction(case_rows.count_cases)
