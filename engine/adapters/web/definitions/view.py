"""Rendering the definition pages (``templates/definitions/*.html``) through the web app's one environment."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from engine.adapters.web import rendering


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """Page ``templates/definitions/<template>`` with ``context`` (plus staff and CSRF token)."""
    return rendering.render(request, f"definitions/{template}", context, status_code=status)


def forbidden(request: Request, message: str) -> HTMLResponse:
    """The 403 page of a member whose roles lack the capability (``message`` says which)."""
    return rendering.render(request, "error.html", {"title": "Tidak diizinkan", "message": message}, status_code=403)
