"""Giving out a case's photos (``/kasus/{number}/lampiran/{reference}`` and ``.../kecil`` for the thumbnail).

Only to staff who may see the case, and only files the case's data refers to; anything else is
404 whatever the reason, so nobody learns which cases or files exist. The answer is made inert by
``engine.adapters.web.attachment_files`` (shared with the API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.adapters.web import attachment_files
from engine.adapters.web.auth import current_staff
import engine.adapters.web.pages.common as common
from engine.adapters.web.pages.cases import not_found
from engine.errors import NotFound, PermissionDenied
from engine.app.credentials import StaffMember

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]


def _send(request: Request, staff: StaffMember, number: str, reference: str, thumbnail: bool) -> Response:
    try:
        found = common.attachments(request).open_for(number, reference, staff.username, thumbnail=thumbnail)
    except (PermissionDenied, NotFound):
        page: HTMLResponse = not_found(request, staff)
        return page
    return attachment_files.send(found)


@router.get("/kasus/{number}/lampiran/{reference}", include_in_schema=False)
def attachment(request: Request, number: str, reference: str, staff: Staff) -> Response:
    return _send(request, staff, number, reference, thumbnail=False)


@router.get("/kasus/{number}/lampiran/{reference}/kecil", include_in_schema=False)
def thumbnail(request: Request, number: str, reference: str, staff: Staff) -> Response:
    return _send(request, staff, number, reference, thumbnail=True)
