"""What the page modules share: the application of a request, rendering, times on the workflow's
clock, the attachment store, and the one function the inbox reads its page through."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from engine.adapters.web import attachment_files, rendering
from engine.adapters.web.auth import application_of
from engine.app.assembly import Application
from engine.app.attachments import Attachments
from engine.app.queries import Queries
from engine.core import localtime
from engine.definition.model import WorkflowDefinition

PAGE_SIZE = 50


def application(request: Request) -> Application:
    return application_of(request)


def attachments(request: Request) -> Attachments:
    """The application's attachment store (made once per app, from its settings)."""
    return attachment_files.store_of(request)


def staff_names(app: Application, usernames: set[str]) -> dict[str, str]:
    """The names of the staff members ``usernames`` (one read; a disabled or unknown one keeps the username)."""
    from engine.errors import NotFound, PermissionDenied

    def read(connection: Any) -> dict[str, str]:
        found = {}
        for username in usernames:
            try:
                member = app.commands.viewer(connection, username)
            except (NotFound, PermissionDenied):
                continue
            if member is not None:
                found[username] = member.name
        return found

    return app.database.transaction(read)


def countdown(deadline: dict[str, Any] | None, now: datetime) -> str:
    """``terlambat 2 jam`` or ``sisa 45 menit`` for a case's deadline view; empty when it has none."""
    if not deadline:
        return ""
    if deadline["overdue"]:
        return f"terlambat {deadline['overdue_text']}"
    left = (datetime.fromisoformat(deadline["due_at"]) - now).total_seconds() / 60
    return f"sisa {localtime.span(max(1, math.ceil(left)))}"


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """A page from ``templates/pages/<template>``, through the web app's one environment (staff, CSRF token)."""
    return rendering.render(request, f"pages/{template}", context, status_code=status)


def inbox_page(queries: Queries, viewer_name: str, *, state: str | None = None, scope: str | None = None,
               category: str | None = None, overdue: bool | None = None, search: str | None = None,
               after: str | None = None, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of the viewer's inbox: ``{"cases", "next", "counts": {"semua", "terlambat", "by_state"}}``.

    The one place the inbox page reads through: ``Queries.inbox_page`` filters, searches, counts
    and pages in the database, on indexes.
    """
    return queries.inbox_page(viewer_name, state=state, scope=scope, category=category, overdue=overdue,
                              search=search, after=after, limit=limit)


def category_field(definition: WorkflowDefinition) -> str | None:
    """The field a case's category is read from: the first report breakdown that is not the scope field."""
    return next((name for name in definition.reports.breakdowns if name != definition.scope_field), None)


