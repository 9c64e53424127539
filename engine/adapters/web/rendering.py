"""The web app's own Jinja templates: an autoescaping environment with the workflow-zone filters.

Not the notice sandbox: these templates are ours, and every value put into them is data, escaped.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from engine.core import localtime

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def local_datetime(value: datetime | str | None, zone: str) -> str:
    """``value`` (aware, or ISO text) as a short date and time in ``zone`` with the zone's label."""
    moment = _moment(value)
    return localtime.short_datetime_in(moment, zone) if moment is not None else ""


def local_datetime_long(value: datetime | str | None, zone: str) -> str:
    """``value`` as a long date and time in ``zone`` (day and month names in Bahasa Indonesia)."""
    moment = _moment(value)
    return localtime.long_datetime_in(moment, zone) if moment is not None else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["local_datetime"] = local_datetime
    env.filters["local_datetime_long"] = local_datetime_long
    env.filters["span"] = localtime.span
    return env


environment = _environment()
"""The one environment every page renders with."""


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Page ``name`` with ``context``, plus ``request``, the logged-in ``staff`` (or None) and ``csrf_token``."""
    from engine.adapters.web.auth import csrf_token

    staff = getattr(request.state, "staff", None)
    values = {"request": request, "staff": staff, "csrf_token": csrf_token(request),
              "can": _capabilities(request, staff), **(context or {})}
    html = environment.get_template(name).render(values)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _capabilities(request: Request, staff: object) -> frozenset[str]:
    """What the logged-in member's roles may do (``deploy``, ``manage_staff``, ...): base.html shows a menu
    link per area only to them (the pages check again in the app layer)."""
    from engine.app.credentials import StaffMember

    if not isinstance(staff, StaffMember):
        return frozenset()
    try:
        return request.app.state.application.staff_desk.capabilities(staff)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - a menu must not turn an error page (database down: 503) into a crash
        return frozenset()
