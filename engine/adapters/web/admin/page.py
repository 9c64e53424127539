"""How an administrators' page answers: who is asking, the checks every POST passes, the template."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from engine.adapters.web import rendering
from engine.adapters.web.auth import csrf_checked, current_staff
from engine.app.credentials import StaffMember

Staff = Annotated[StaffMember, Depends(current_staff)]
POSTED = [Depends(current_staff), Depends(csrf_checked)]  # login first: no body read for nobody
NO_STORE = {"Cache-Control": "no-store"}


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """An administrators' page from ``templates/admin/``; never cached (it may show a password or token once)."""
    return rendering.render(request, f"admin/{template}", context, status_code=status, headers=dict(NO_STORE))
