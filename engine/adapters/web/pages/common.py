"""What the page modules share: the application of a request, rendering, times on the workflow's
clock, the attachment store, and the one function the inbox reads its page through."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from engine.adapters.web import rendering
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
    state = request.app.state
    store: Attachments | None = getattr(state, "attachments", None)
    if store is None:
        app = application(request)
        store = Attachments(app.queries, app.settings.attachment_folder, app.settings.attachment_max_bytes)
        state.attachments = store
    return store


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

    The one place the inbox page reads through. It uses ``Queries.inbox_page`` where the
    application has it (filters, search and the cursor in the database); otherwise it filters
    ``Queries.inbox`` here, the cursor being the position in the ordered list.
    """
    paged = getattr(queries, "inbox_page", None)
    if paged is not None:
        found: dict[str, Any] = paged(viewer_name, state=state, scope=scope, category=category, overdue=overdue,
                                      search=search, after=after, limit=limit)
        return found
    rows = queries.inbox(viewer_name)
    rows.sort(key=_urgency)
    counts = {"semua": len(rows), "terlambat": sum(1 for r in rows if _late(r)),
              "by_state": _count_states(rows)}
    categories = {w: category_field(queries.definition(w)) for w in {row["workflow"] for row in rows}}
    wanted = [row for row in rows if _matches(row, state, scope, (categories[row["workflow"]], category) if category else None,
                                              overdue, search)]
    start = int(after) if after and after.isdigit() else 0
    chunk = wanted[start:start + limit]
    following = str(start + limit) if start + limit < len(wanted) else None
    return {"cases": chunk, "next": following, "counts": counts}


def _late(row: dict[str, Any]) -> bool:
    return bool(row.get("deadline") and row["deadline"]["overdue"])


def _urgency(row: dict[str, Any]) -> tuple[int, str, str]:
    """Overdue first, then the nearest deadline, cases without one last."""
    deadline = row.get("deadline")
    due = deadline["due_at"] if deadline else ""
    return (0 if _late(row) else 1 if deadline else 2, due or "~", row["number"])


def _count_states(rows: list[dict[str, Any]]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["state"]] = counted.get(row["state"], 0) + 1
    return counted


def category_field(definition: WorkflowDefinition) -> str | None:
    """The field a case's category is read from: the first report breakdown that is not the scope field."""
    return next((name for name in definition.reports.breakdowns if name != definition.scope_field), None)


def _matches(row: dict[str, Any], state: str | None, scope: str | None, category: tuple[str | None, str] | None,
             overdue: bool | None, search: str | None) -> bool:
    if state and row["state"] != state:
        return False
    if scope and row.get("scope") != scope:
        return False
    if category and (category[0] is None or row.get(category[0]) != category[1]):
        return False
    if overdue is not None and _late(row) != overdue:
        return False
    if search:
        needle = search.casefold().strip()
        if needle not in row["number"].casefold() and not any(
                needle in str(value).casefold() for value in row.get("data", {}).values()):
            return False
    return True
