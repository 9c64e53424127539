"""The dashboard: where a workflow's cases wait and how fast they move, for staff whose role ``can: reports``.

``Dashboard.view`` checks the capability here (a page that hides a link is not a permission),
counts everything in one read transaction (``engine.store.dashboard_rows`` and the recap's own
``engine.app.reports.build_report`` for the chosen period), and returns plain tables
(``engine.core.dashboard``) that the page, its charts and the CSV downloads all show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection

from engine.app.commands import Commands
from engine.app.public_desk import RatingsSummary, ratings_in
from engine.app.reports import build_report, open_states_of
from engine.core import dashboard as tables
from engine.core.dashboard import OpenGroup, Table
from engine.core.localtime import to_local
from engine.core.permissions import capable_role
from engine.core.reports import Period
from engine.definition.model import WorkflowDefinition
from engine.errors import NotFound, PermissionDenied
from engine.store import dashboard_rows, definition_rows, staff_rows
from engine.store.staff_rows import StaffMember

CAPABILITY = "reports"
"""The roles file's ``can:`` entry that opens the dashboard."""


@dataclass(frozen=True, slots=True)
class DashboardView:
    """A workflow's dashboard for a period of local days ``first``..``last``."""

    workflow: str
    definition: WorkflowDefinition
    first: date
    last: date
    period: Period
    today: date
    tables: dict[str, Table]
    """By name (the CSV address), in the order the page shows them."""
    open_count: int
    overdue_count: int
    ratings: RatingsSummary | None
    """How the complainants rated cases in the period; None when the workflow takes no public complaints."""
    workflows: tuple[str, ...]
    """The workflows this viewer may open a dashboard of."""


class Dashboard:
    """The dashboards of one engine's database."""

    def __init__(self, engine: Commands) -> None:
        self.engine = engine

    def workflows_for(self, connection: Connection, member: StaffMember) -> list[str]:
        """The deployed workflows where one of ``member``'s roles holds the reports capability."""
        found = []
        for workflow in definition_rows.workflows(connection):
            roles = self.engine.compiled(connection, workflow).definition.roles
            acting = member.in_workflow(workflow)
            if acting.active and any(role in roles.with_capability(CAPABILITY) for role in acting.roles):
                found.append(workflow)
        return found

    def may_open(self, viewer_name: str) -> bool:
        """Whether ``viewer_name`` may open some dashboard (the menu link; ``view`` checks again)."""

        def work(connection: Connection) -> bool:
            member = self.engine.viewer(connection, viewer_name)
            return member is not None and bool(self.workflows_for(connection, member))

        return self.engine.db.read(work)

    def view(self, viewer_name: str, *, workflow: str | None = None, first: date | None = None,
             last: date | None = None) -> DashboardView:
        """The dashboard of ``workflow`` (default: the first the viewer may open) for the local days
        ``first``..``last`` (default: the last 30 days, in the workflow's time zone).

        PermissionDenied unless one of the viewer's roles in the workflow ``can: reports`` and sees
        every scope value (the dashboard counts them all); InvalidInput for a period that ends
        before it begins or is longer than ``engine.core.dashboard.MAX_DAYS``.
        """

        def work(connection: Connection) -> DashboardView:
            member = self.engine.viewer(connection, viewer_name)
            assert member is not None
            allowed = self.workflows_for(connection, member)
            name = workflow or (allowed[0] if allowed else None)
            if name is None:
                known = definition_rows.workflows(connection)
                name = known[0] if known else None
            if name is None:
                raise NotFound("no workflow is deployed yet; deploy one with `treckk deploy`")
            if name not in definition_rows.workflows(connection):
                raise NotFound(f"workflow {name!r} is not deployed", field="alur", value=name)
            definition = self.engine.compiled(connection, name).definition
            acting = member.in_workflow(name)
            role = capable_role(acting, definition.roles, CAPABILITY, "read the dashboard")
            if definition.roles.roles[role].scoped:
                raise PermissionDenied(f"staff {member.username!r} is bound to one {definition.scope_field or 'scope'} "
                                       f"and the dashboard counts every one", field="role", value=role)
            return self._count(connection, definition, first, last, tuple(allowed))

        return self.engine.db.read(work, reports=True)

    def _count(self, connection: Connection, definition: WorkflowDefinition, first: date | None, last: date | None,
               allowed: tuple[str, ...]) -> DashboardView:
        now = self.engine.clock()
        today = to_local(now, definition.timezone).date()
        default_first, default_last = tables.default_days(today)
        first, last = first or default_first, last or default_last
        period = tables.period_of(first, last, definition.timezone)
        workflow = definition.name
        opened = open_states_of(self.engine, connection, workflow)
        finals = [name for name, spec in definition.states.items() if spec.final]
        groups = dashboard_rows.open_groups(connection, workflow, opened, now)
        weeks = tables.weeks(first, last, definition.timezone)
        every_state = list(dict.fromkeys([*definition.states, *opened]))
        weekly = dashboard_rows.weekly(connection, workflow, finals, weeks)
        stays = dashboard_rows.stays(connection, workflow, every_state, period.start, period.end)
        report = build_report(connection, definition, period.end, now, open_states=opened, period=period)
        made = [tables.open_by_state(definition, groups), tables.open_by_scope(definition, groups),
                tables.overdue_now(definition, groups, now, self._waits_on(connection, definition, groups)),
                tables.weekly(definition, weeks, weekly), tables.durations(definition, stays, report),
                tables.recap_totals(definition, report), *tables.recap_breakdowns(definition, report)]
        return DashboardView(workflow, definition, first, last, period, today,
                             {table.name: table for table in made if table is not None},
                             sum(g.count for g in groups), sum(g.overdue for g in groups),
                             self.ratings_summary(connection, workflow, period), allowed)

    def _waits_on(self, connection: Connection, definition: WorkflowDefinition,
                  groups: list[OpenGroup]) -> dict[tuple[str, str | None], str]:
        """Per late (state, scope value): the roles with a trigger there, each with its active staff
        (for a scoped role, those bound to that scope value). One lookup per role and scope value."""
        roles = definition.roles
        names: dict[tuple[str, str | None], list[str]] = {}
        found: dict[tuple[str, str | None], str] = {}
        for group in groups:
            if not group.overdue:
                continue
            parts = []
            for role in dict.fromkeys(r for t in definition.transitions_from(group.state) for r in t.roles):
                spec = roles.roles.get(role)
                bound = group.scope if spec is not None and spec.scoped else None
                if spec is not None and spec.scoped and bound is None:
                    parts.append(f"{roles.label(role)} (belum ada {definition.scope_field or 'cakupan'})")
                    continue
                if (role, bound) not in names:
                    names[(role, bound)] = [m.name for m in staff_rows.active_with_role(connection, definition.name,
                                                                                        role, bound)]
                people = ", ".join(names[(role, bound)]) or "tidak ada petugas aktif"
                parts.append(f"{roles.label(role)}: {people}")
            found[(group.state, group.scope)] = "; ".join(parts) or "-"
        return found

    def ratings_summary(self, connection: Connection, workflow: str, period: Period) -> RatingsSummary | None:
        """The complainants' ratings given in ``[period.start, period.end)`` (``engine.app.public_desk``),
        or None when the workflow's newest definition has no public section."""
        if self.engine.compiled(connection, workflow).definition.public is None:
            return None
        return ratings_in(connection, workflow, period.start, period.end)


def table_of(view: DashboardView, name: str) -> Table:
    """Table ``name`` of the dashboard, or NotFound naming the tables there are."""
    try:
        return view.tables[name]
    except KeyError:
        raise NotFound(f"the dashboard has no table {name!r}; tables are {', '.join(view.tables)}",
                       field="table", value=name, accepted=tuple(view.tables)) from None


def rows_as_dicts(table: Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as mappings by column key (for scripts and tests)."""
    return [dict(zip((c.key for c in table.columns), row)) for row in table.rows]
