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


class Capabilities:
    """What the logged-in member's roles may do beyond moving cases (``'deploy' in can`` in a template),
    read from the application on first use; for showing menu links only (every action checks again)."""

    def __init__(self, request: Request, username: str | None) -> None:
        self._request = request
        self._username = username
        self._known: frozenset[str] | None = None

    def __contains__(self, capability: object) -> bool:
        if self._username is None:
            return False
        if self._known is None:
            from engine.adapters.web.auth import application_of

            try:
                self._known = application_of(self._request).queries.capabilities(self._username)
            except Exception:  # noqa: BLE001 - a menu must not turn an error page (database down: 503) into a crash
                self._known = frozenset()
        return capability in self._known


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Page ``name`` with ``context``, plus ``request``, the logged-in ``staff`` (or None) and ``csrf_token``."""
    from engine.adapters.web.auth import csrf_token

    staff = getattr(request.state, "staff", None)
    values = {"request": request, "staff": staff, "csrf_token": csrf_token(request),
              "can": Capabilities(request, staff.username if staff is not None else None), **(context or {})}
    html = environment.get_template(name).render(values)
    return HTMLResponse(html, status_code=status_code, headers=headers)
