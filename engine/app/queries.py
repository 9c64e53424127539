"""Read-only views of cases for people and scripts: show, history, inbox, lists.

Every view is built for a viewer: personal data is masked unless the viewer's role may read it,
and staff of scoped roles only see the cases of their own scope value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from engine.app import outbox, page_cursors
from engine.core import localtime as wita
from engine.core.records import CaseRecord, EventRecord
from engine.compile.workflow import CompiledWorkflow
from engine.definition.model import WorkflowDefinition
from engine.errors import InvalidInput, PermissionDenied
from engine.core.masking import masked_values
from engine.core.integrity import first_broken
from engine.core.permissions import may_view, role_for, sees_pii
from engine.app.commands import Commands
from engine.store import case_rows, definition_rows, staff_rows
from engine.store.staff_rows import StaffMember

if TYPE_CHECKING:
    from engine.store.case_lists import Position, Reach

# The lists' queries (``engine.store.case_lists``) are imported by the views that page: a command
# that shows one case does not build them.


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


def searchable_fields(definition: WorkflowDefinition, viewer: StaffMember) -> tuple[str, ...]:
    """The fields ``inbox_page(search=...)`` looks in for ``viewer``: all of them, but personal data
    only for a viewer who may read it (a search must not tell a masked name or number)."""
    may_see = sees_pii(viewer, definition.roles)
    return tuple(name for name, spec in definition.fields.items() if may_see or not spec.pii)


def category_field(definition: WorkflowDefinition) -> str | None:
    """The field ``inbox_page(category=...)`` filters on: the first report breakdown that is not the scope field."""
    return next((name for name in definition.reports.breakdowns if name != definition.scope_field), None)


def _check_limit(limit: int) -> None:
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}", field="limit", value=limit)


MAX_PAGE = 1000
"""The most cases one page may hold (the cost of a page grows with it)."""


def page_cursor(position: Position) -> str:
    """An opaque cursor for the page after ``position``."""
    return page_cursors.encode(position.due_at.isoformat() if position.due_at else "", str(position.id))


def page_position(cursor: str | None) -> Position | None:
    """The position a ``page_cursor`` names (None for no cursor); InvalidInput for anything else."""
    if not cursor:
        return None
    from engine.store.case_lists import Position

    try:
        due, number = page_cursors.decode(cursor, 2)
        due_at = datetime.fromisoformat(due) if due else None
        if due_at is not None and due_at.tzinfo is None:
            raise ValueError("naive time")
        return Position(due_at, int(number))
    except ValueError:
        raise page_cursors.refused(cursor) from None


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

        return self.engine.db.read(work)

    def case_proof(self, number: str, viewer_name: str | None = None) -> dict[str, Any]:
        """The inclusion proof of case ``number``'s events against the newest checkpoint, for who may see the case.

        PermissionDenied for a case the viewer may not see; NotFound when no checkpoint is written yet.
        """
        from engine.app.transparency import case_proof

        number = self.show(number, viewer_name)["number"]
        return case_proof(self.engine, number)

    def view_of(self, case: CaseRecord, viewer_name: str | None) -> dict[str, Any]:
        """The ``show`` object of a case just written by a command."""
        return self.show(case.number, viewer_name)

    def history(self, number: str, viewer_name: str | None = None) -> list[dict[str, Any]]:
        def work(connection: Connection) -> list[dict[str, Any]]:
            viewer = self._viewer(connection, viewer_name)
            case, compiled = self._case(connection, number, viewer)
            may_see = sees_pii(_in(viewer, case), compiled.definition.roles)
            return [self._event_view(compiled, event, may_see) for event in case_rows.history(connection, case.id)]

        return self.engine.db.read(work)

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
                   viewer_name: str | None = None, limit: int = 500, after: str | None = None) -> list[dict[str, Any]]:
        """One page of ``cases_page``: its ``cases``."""
        rows: list[dict[str, Any]] = self.cases_page(state=state, scope=scope, overdue=overdue,
                                                     viewer_name=viewer_name, limit=limit, after=after)["cases"]
        return rows

    def cases_page(self, *, state: str | None = None, scope: str | None = None, overdue: bool = False,
                   viewer_name: str | None = None, limit: int = 500, after: str | None = None) -> dict[str, Any]:
        """Cases the viewer may see, by deadline (undated ones last), ``limit`` at a time.

        Returns ``{"cases": [summary, ...], "next": cursor or None}``; give ``next`` as ``after``
        for the following page. Each filter narrows an index range of one workflow (see
        ``engine.store.case_lists``); a viewer bound to a scope value is bound to it in SQL.
        """
        from engine.store import case_lists
        from engine.store.case_lists import Narrowing, Reach

        _check_limit(limit)
        position = page_position(after)

        def work(connection: Connection) -> dict[str, Any]:
            viewer = self._viewer(connection, viewer_name)
            now = self.engine.clock()
            reaches = []
            workflows = viewer.workflows if viewer is not None else definition_rows.workflows(connection)
            for workflow in workflows:
                visible, bound = self._visible_scope(connection, viewer, workflow)
                if not visible:
                    continue
                if bound is not None and scope is not None and bound != scope:
                    continue
                reaches.append(Reach(workflow, state, scope if scope is not None else bound))
            found = case_lists.page(connection, reaches, narrowing=Narrowing(late_at=now if overdue else None),
                                    after=position, limit=limit + 1)
            return self._page(connection, found, viewer, limit)

        return self.engine.db.read(work)

    def _visible_scope(self, connection: Connection, viewer: StaffMember | None,
                       workflow: str) -> tuple[bool, str | None]:
        """Whether ``viewer`` sees cases of ``workflow``, and the scope value they are bound to (None: every one).

        The same rule as ``may_view``, said as a filter.
        """
        if viewer is None:
            return True, None
        acting = viewer.in_workflow(workflow)
        roles = self.engine.compiled(connection, workflow).definition.roles.roles
        if any(role in roles and not roles[role].scoped for role in acting.roles):
            return True, None
        if acting.scope is None or not any(role in roles for role in acting.roles):
            return False, None
        return True, acting.scope

    def _page(self, connection: Connection, found: list[CaseRecord], viewer: StaffMember | None,
              limit: int) -> dict[str, Any]:
        from engine.store.case_lists import Position

        more = len(found) > limit
        shown = found[:limit]
        last = shown[-1] if more else None
        return {"cases": self._summaries(connection, shown, viewer),
                "next": page_cursor(Position(last.due_at, last.id)) if last is not None else None}

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

    def inbox(self, viewer_name: str, *, limit: int = 500, after: str | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` cases of the viewer's inbox (``inbox_page``), as a list."""
        rows: list[dict[str, Any]] = self.inbox_page(viewer_name, limit=limit, after=after)["cases"]
        return rows

    def inbox_page(self, viewer_name: str, *, state: str | None = None, scope: str | None = None,
                   category: str | None = None, overdue: bool | None = None, search: str | None = None,
                   after: str | None = None, limit: int = 50) -> dict[str, Any]:
        """Open cases on which the viewer may fire a trigger now: overdue first, then by deadline.

        The inbox is read from the compiled definitions, not from the cases: the states where one
        of the viewer's roles has a trigger, in each workflow (and version) they hold a role in,
        bound to their scope value where those roles are scoped. Each such state is one range of
        an index (``engine.store.case_lists``), so a page costs about ``limit`` rows per state.

        Filters: ``state`` (one of those states), ``scope`` (a scope value), ``category`` (the
        value of the workflow's category field: the first ``reports.breakdowns`` field that is not
        the scope field, ``kategori`` in TRECKK), ``overdue`` (True: only late cases, False: none
        of them), ``search`` (a part of a case number such as its last digits, or a text in any
        field's value, any letter case; personal data only for a viewer who may read it). ``category`` and ``search`` are checked on the rows of those ranges, so
        they scan at most the viewer's open cases in the states they act on, never the table.

        Returns ``{"cases": [summary, ...], "next": cursor or None, "counts": {"semua": n,
        "terlambat": n, "by_state": {state: n}}}``: give ``next`` as ``after`` for the following
        page. The counts are the tabs: every filter but ``state`` and ``overdue`` applies to them.
        """
        from engine.store import case_lists
        from engine.store.case_lists import Narrowing, Reach

        _check_limit(limit)
        position = page_position(after)

        def work(connection: Connection) -> dict[str, Any]:
            viewer = self._viewer(connection, viewer_name)
            assert viewer is not None
            now = self.engine.clock()
            reaches: list[Reach] = []
            categories: dict[str, str | None] = {}
            searched: dict[str, tuple[str, ...]] = {}
            for reach in self._inbox_reaches(connection, viewer):
                if scope is not None:
                    if reach.scope not in (None, scope):
                        continue
                    reach = Reach(reach.workflow, reach.state, scope, reach.versions)
                reaches.append(reach)
                if reach.workflow not in categories:
                    latest = self.engine.compiled(connection, reach.workflow).definition
                    categories[reach.workflow] = category_field(latest)
                    searched[reach.workflow] = searchable_fields(latest, viewer.in_workflow(reach.workflow))
            if category is not None:
                reaches = [reach for reach in reaches if categories[reach.workflow] is not None]

            def narrowing(workflow: str, *, late: bool | None) -> Narrowing:
                field = categories[workflow]
                return Narrowing(late_at=now if late else None, on_time_at=now if late is False else None,
                                 category=(field, category) if category is not None and field else None,
                                 search=search or None, search_fields=searched[workflow])

            shown = [reach for reach in reaches if state is None or reach.state == state]
            found: list[CaseRecord] = []
            for workflow in dict.fromkeys(reach.workflow for reach in shown):
                found += case_lists.page(connection, [r for r in shown if r.workflow == workflow],
                                         narrowing=narrowing(workflow, late=overdue), after=position,
                                         limit=limit + 1)
            found.sort(key=lambda c: (c.due_at is None, c.due_at or now, c.id))
            result = self._page(connection, found, viewer, limit)
            result["cases"] = [row for row in result["cases"] if row["allowed_triggers"]]
            by_state: dict[str, int] = {}
            total = late = 0
            for workflow in dict.fromkeys(reach.workflow for reach in reaches):
                for reach, n, n_late in case_lists.counts(
                        connection, [r for r in reaches if r.workflow == workflow],
                        narrowing=narrowing(workflow, late=None), late_at=now):
                    assert reach.state is not None
                    by_state[reach.state] = by_state.get(reach.state, 0) + n
                    total += n
                    late += n_late
            result["counts"] = {"semua": total, "terlambat": late, "by_state": by_state}
            return result

        return self.engine.db.read(work)

    def _inbox_reaches(self, connection: Connection, viewer: StaffMember) -> list[Reach]:
        """One reach per (workflow, state, scope bound) where a role of ``viewer`` has a trigger.

        A state counts for the versions where it does (``versions`` None when it does in all of
        them), so a case is listed exactly when ``allowed_triggers`` would offer it something.
        """
        from engine.store.case_lists import Reach

        if not viewer.active:
            return []
        reaches: list[Reach] = []
        for workflow in viewer.workflows:
            acting = viewer.in_workflow(workflow)
            versions = definition_rows.versions(connection, workflow)
            where: dict[tuple[str, str | None], list[int]] = {}
            for version in versions:
                definition = self.engine.compiled(connection, workflow, version).definition
                roles = definition.roles.roles
                for name, spec in definition.states.items():
                    if spec.final:
                        continue
                    allowed = {role for t in definition.transitions_from(name) for role in t.roles}
                    mine = [role for role in acting.roles if role in allowed]
                    if not mine:
                        continue
                    if any(role not in roles or not roles[role].scoped for role in mine):
                        bound: str | None = None
                    elif acting.scope is not None:
                        bound = acting.scope
                    else:
                        continue
                    where.setdefault((name, bound), []).append(version)
            for (name, bound), found in where.items():
                reaches.append(Reach(workflow, name, bound, None if found == versions else tuple(found)))
        return reaches

    def verify(self, number: str | None = None) -> list[dict[str, Any]]:
        """Every finding of ``engine.app.verification.verify`` on this database (no outside checkpoints)."""
        from engine.app.verification import Anchors, verify

        return verify(self.engine.db.url, number, anchors=Anchors(None), jobs=1).findings

    # -- the outbox as people see it (`treckk notices`, `treckk render`) ---------------------------
    def notices(self, *, case: str | None = None, status: str | None = None, viewer_name: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
        """Notices the viewer may see, personal data masked."""
        return outbox.list_notices(self.engine, case=case, status=status, viewer_name=viewer_name, limit=limit)

    def outbox_page(self, viewer_name: str, *, status: str | None = None, channel: str | None = None,
                    recipient: str | None = None, after: int | None = None, limit: int = outbox.OUTBOX_PAGE
                    ) -> dict[str, Any]:
        """One page of the outbox as ``viewer_name`` may see it, newest first (``outbox.notices_page``)."""
        return outbox.notices_page(self.engine, viewer_name, status=status, channel=channel, recipient=recipient,
                                   after=after, limit=limit)

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

        return self.engine.db.read(work)

    def staff_view(self, member: StaffMember) -> dict[str, Any]:
        """A staff member as the adapters show it: roles, scope (also under each workflow's scope-field name), grants."""
        return self.engine.db.read(lambda connection: self._staff_view(connection, member))

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

    def definition(self, workflow: str, version: int | None = None) -> WorkflowDefinition:
        """A deployed definition (the newest when ``version`` is None): labels, time zone, nouns."""
        return self.engine.db.read(lambda connection: self.engine.compiled(connection, workflow,
                                                                                  version).definition)

    def case_definition(self, number: str) -> WorkflowDefinition:
        """The definition version case ``number`` runs on (its labels and time zone)."""

        def work(connection: Connection) -> WorkflowDefinition:
            case = case_rows.existing_case(connection, number)
            return self.engine.compiled(connection, case.workflow, case.definition_version).definition

        return self.engine.db.read(work)

    def deployed(self) -> list[WorkflowDefinition]:
        """The newest version of every deployed workflow."""

        def work(connection: Connection) -> list[WorkflowDefinition]:
            return [self.engine.compiled(connection, name).definition
                    for name in definition_rows.workflows(connection)]

        return self.engine.db.read(work)

    def capabilities(self, username: str, workflow: str | None = None) -> frozenset[str]:
        """What ``username``'s roles may do beyond moving cases (``deploy``, ``migrate``, ...), in the newest
        version of ``workflow`` (of every deployed workflow when None); nothing for a disabled or unknown member.
        For showing links only: each command checks its own capability again."""

        def work(connection: Connection) -> frozenset[str]:
            member = staff_rows.by_username(connection, username)
            if member is None or not member.active:
                return frozenset()
            found: set[str] = set()
            for name in [workflow] if workflow else member.workflows:
                if definition_rows.latest(connection, name) is None:
                    continue
                book = self.engine.compiled(connection, name).definition.roles
                for role in member.in_workflow(name).roles:
                    if role in book.roles:
                        found |= book.roles[role].can
            return frozenset(found)

        return self.engine.db.read(work)

    def checked_count(self, number: str | None) -> int:
        return 1 if number else self.engine.db.read(case_rows.count_cases)
