"""Integration tokens (``/admin/token``): list, create (the token shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import engine.adapters.web.pages.common as common
from engine.adapters.web.admin.page import POSTED, Staff, page
from engine.app.credentials import StaffMember
from engine.errors import InvalidInput, NotFound

router = APIRouter()


def _tokens_page(request: Request, staff: StaffMember, *, made: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, typed: dict[str, str] | None = None,
                 banner: str | None = None, status: int = 200) -> HTMLResponse:
    app = common.application(request)
    tokens = app.staff_desk.tokens(staff.username)
    members = [m for m in app.staff_desk.members(staff.username) if m["active"]]
    return page(request, "tokens.html", {"tokens": tokens, "members": members, "made": made, "errors": errors or {},
                                         "typed": typed or {"owner": "", "name": ""}, "banner": banner,
                                         "zone": app.queries.deployed()[0].timezone}, status=status)


@router.get("/admin/token", response_class=HTMLResponse, include_in_schema=False)
def tokens(request: Request, staff: Staff, selesai: str | None = None) -> HTMLResponse:
    return _tokens_page(request, staff, banner="Token dicabut." if selesai == "cabut" else None)


@router.post("/admin/token", response_class=HTMLResponse, include_in_schema=False, dependencies=POSTED)
async def create_token(request: Request, staff: Staff) -> Response:
    form = await request.form()
    typed = {"owner": str(form.get("owner", "")).strip()[:64], "name": str(form.get("name", "")).strip()}
    app = common.application(request)
    try:
        token_id, token = app.staff_desk.create_token(staff.username, typed["owner"], typed["name"])
    except NotFound:
        return _tokens_page(request, staff, typed=typed, status=422,
                            errors={"owner": "Pilih petugas (akun integrasi) pemilik token."})
    except InvalidInput:
        return _tokens_page(request, staff, typed=typed, status=422,
                            errors={"name": "Tulis nama token (sistem yang memakainya), paling banyak 100 karakter."})
    return _tokens_page(request, staff, made={"id": str(token_id), "token": token, "owner": typed["owner"]})


@router.post("/admin/token/{token_id}/cabut", response_class=HTMLResponse, include_in_schema=False,
             dependencies=POSTED)
def revoke_token(request: Request, staff: Staff, token_id: Annotated[int, Path(ge=1, lt=2 ** 31)]) -> Response:
    common.application(request).staff_desk.revoke_token(staff.username, token_id)
    return RedirectResponse("/admin/token?selesai=cabut", status_code=303)
