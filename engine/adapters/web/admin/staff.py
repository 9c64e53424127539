"""Staff pages (``/admin/staf``): list, add, edit roles, scope and contacts, disable/enable, reset a password.

Every handler asks the app layer, which refuses (403) anyone without ``can: [manage_staff]``. An
edit carries the member's revision: a save made on an older one is refused (409) and the page shows
the member as they now are, so two administrators never silently overwrite each other.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import engine.adapters.web.pages.common as common
from engine.adapters.web.admin import wording
from engine.adapters.web.admin.page import POSTED, Staff, page
from engine.adapters.web.auth import client_address
from engine.app.credentials import StaffMember
from engine.definition.model import WorkflowDefinition
from engine.errors import Conflict, InvalidInput, NotAllowed

router = APIRouter()

Username = Annotated[str, Path(max_length=64)]


def _definition(request: Request) -> WorkflowDefinition:
    return common.application(request).queries.deployed()[0]


def _choices(definition: WorkflowDefinition) -> dict[str, Any]:
    scope_field = definition.fields.get(definition.scope_field or "")
    return {"roles": [(name, spec.label, spec.scoped) for name, spec in definition.roles.roles.items()],
            "scope_label": scope_field.label if scope_field is not None else "Wilayah",
            "scope_choices": list(scope_field.choices.items()) if scope_field is not None else [],
            "zone": definition.timezone}


def _typed(form: Any) -> dict[str, Any]:
    return {"username": str(form.get("username", "")).strip(), "name": str(form.get("name", "")).strip(),
            "roles": [str(r) for r in form.getlist("roles")], "scope": str(form.get("scope", "")).strip(),
            "phone": str(form.get("phone", "")).strip(), "email": str(form.get("email", "")).strip(),
            "revision": str(form.get("revision", ""))}


@router.get("/admin/staf", response_class=HTMLResponse, include_in_schema=False)
def staff_list(request: Request, staff: Staff) -> HTMLResponse:
    app = common.application(request)
    members = app.staff_desk.members(staff.username)
    definition = _definition(request)
    return page(request, "staff_list.html", {"members": members, "definition": definition,
                                              **_choices(definition)})


@router.get("/admin/staf/baru", response_class=HTMLResponse, include_in_schema=False)
def new_staff(request: Request, staff: Staff) -> HTMLResponse:
    common.application(request).staff_desk.check(staff.username)
    definition = _definition(request)
    blank = {"username": "", "name": "", "roles": [], "scope": "", "phone": "", "email": "", "revision": ""}
    return page(request, "staff_form.html", {"member": None, "typed": blank,
                                              "errors": {}, **_choices(definition)})


@router.post("/admin/staf/baru", response_class=HTMLResponse, include_in_schema=False, dependencies=POSTED)
async def add_staff(request: Request, staff: Staff) -> Response:
    typed = _typed(await request.form())
    app = common.application(request)
    definition = _definition(request)
    choices = _choices(definition)
    errors: dict[str, str] = {}
    if not typed["roles"]:
        errors["role"] = wording.FIELD_MESSAGES["role"]
    if not errors:
        try:
            app.commands.add_staff(typed["username"], typed["name"], typed["roles"], typed["scope"] or None,
                                   typed["phone"] or None, typed["email"] or None, definition.name,
                                   acting_for=staff.username)
        except Conflict as exc:
            errors = {"username": wording.TAKEN} if exc.field == "username" else {"": str(exc)}
        except InvalidInput as exc:
            errors = wording.field_errors(exc, choices["scope_label"]) or {"": wording.FIELD_MESSAGES["role"]}
    if errors:
        return page(request, "staff_form.html", {"member": None, "typed": typed, "errors": errors, **choices},
                     status=409 if "username" in errors and errors["username"] == wording.TAKEN else 422)
    return RedirectResponse(f"/admin/staf/{typed['username']}?selesai=tambah", status_code=303)


def _member_page(request: Request, staff: StaffMember, username: str, *, typed: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, banner: str | None = None, banner_kind: str = "ok",
                 password: str | None = None, status: int = 200) -> HTMLResponse:
    app = common.application(request)
    member = app.staff_desk.member(staff.username, username)
    definition = _definition(request)
    mine = [g for g in member["grants"] if g["workflow"] == definition.name]
    current = {"username": member["username"], "name": member["name"], "roles": [g["role"] for g in mine],
               "scope": next((g["scope"] for g in mine if g["scope"]), "") or "", "phone": member["phone"] or "",
               "email": member["email"] or "", "revision": str(member["revision"])}
    if typed is not None:
        typed = {**typed, "revision": current["revision"]}  # a refused save shows the newest revision
    return page(request, "staff_form.html", {
        "member": member, "typed": typed or current, "errors": errors or {}, "banner": banner,
        "banner_kind": banner_kind, "password": password, "myself": staff.username == username,
        **_choices(definition)}, status=status)


DONE = {"tambah": "Petugas ditambahkan. Atur kata sandinya di bawah agar ia dapat masuk.",
        "simpan": "Perubahan disimpan.", "nonaktif": "Petugas dinonaktifkan: ia tidak dapat masuk lagi.",
        "aktif": "Petugas diaktifkan kembali."}


@router.get("/admin/staf/{username}", response_class=HTMLResponse, include_in_schema=False)
def member_page(request: Request, staff: Staff, username: Username, selesai: str | None = None) -> HTMLResponse:
    return _member_page(request, staff, username, banner=DONE.get(selesai or ""))


@router.post("/admin/staf/{username}", response_class=HTMLResponse, include_in_schema=False, dependencies=POSTED)
async def save_member(request: Request, staff: Staff, username: Username) -> Response:
    typed = _typed(await request.form())
    app = common.application(request)
    definition = _definition(request)
    revision = int(typed["revision"]) if typed["revision"].isdigit() and len(typed["revision"]) < 10 else None
    if revision is None:
        return _member_page(request, staff, username, banner=wording.STALE, banner_kind="error", status=409)
    if not typed["roles"]:
        return _member_page(request, staff, username, typed=typed, errors={"role": wording.FIELD_MESSAGES["role"]},
                            banner="Periksa isian yang ditandai.", banner_kind="error", status=422)
    try:
        app.commands.update_staff(username, name=typed["name"], roles=typed["roles"], scope=typed["scope"],
                                  phone=typed["phone"], email=typed["email"], workflow=definition.name,
                                  expected_revision=revision, acting_for=staff.username)
    except Conflict:
        return _member_page(request, staff, username, banner=wording.STALE, banner_kind="error", status=409)
    except NotAllowed:
        return _member_page(request, staff, username, typed=typed, banner_kind="error", status=409,
                            banner="Anda tidak dapat mencabut hak mengelola staf dari diri sendiri; "
                                   "minta administrator lain.")
    except InvalidInput as exc:
        errors = wording.field_errors(exc, _choices(definition)["scope_label"]) or {"role": wording.FIELD_MESSAGES["role"]}
        return _member_page(request, staff, username, typed=typed, errors=errors,
                            banner="Periksa isian yang ditandai.", banner_kind="error", status=422)
    return RedirectResponse(f"/admin/staf/{username}?selesai=simpan", status_code=303)


@router.post("/admin/staf/{username}/aktif", response_class=HTMLResponse, include_in_schema=False,
             dependencies=POSTED)
async def set_active(request: Request, staff: Staff, username: Username) -> Response:
    form = await request.form()
    wanted, revision_text = str(form.get("aktif", "")), str(form.get("revision", ""))
    if wanted not in ("0", "1") or not revision_text.isdigit() or len(revision_text) >= 10:
        return _member_page(request, staff, username, banner=wording.STALE, banner_kind="error", status=422)
    try:
        common.application(request).commands.set_staff_active(username, wanted == "1",
                                                               expected_revision=int(revision_text),
                                                               acting_for=staff.username)
    except Conflict:
        return _member_page(request, staff, username, banner=wording.STALE, banner_kind="error", status=409)
    except NotAllowed:
        return _member_page(request, staff, username, banner="Anda tidak dapat menonaktifkan akun sendiri.",
                            banner_kind="error", status=409)
    return RedirectResponse(f"/admin/staf/{username}?selesai={'aktif' if wanted == '1' else 'nonaktif'}",
                            status_code=303)


@router.post("/admin/staf/{username}/sandi", response_class=HTMLResponse, include_in_schema=False,
             dependencies=POSTED)
def reset_password(request: Request, staff: Staff, username: Username) -> Response:
    password = common.application(request).staff_desk.reset_password(staff.username, username,
                                                                      client_address(request))
    return _member_page(request, staff, username, password=password,
                        banner="Kata sandi baru dibuat. Berikan kepada petugasnya sekarang: kata sandi ini "
                               "hanya ditampilkan sekali.")
