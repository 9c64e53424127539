"""Recording a new case (``/kasus/baru``), for the roles the intake names; the form is the intake's input."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from engine.adapters.web.auth import csrf_checked, current_staff
import engine.adapters.web.pages.common as common
import engine.adapters.web.pages.forms as forms
import engine.adapters.web.pages.uploads as uploads
from engine.definition.model import WorkflowDefinition
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.app.credentials import StaffMember

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]


def _definition(request: Request) -> WorkflowDefinition:
    return common.application(request).queries.deployed()[0]


def may_record(definition: WorkflowDefinition, staff: StaffMember) -> bool:
    return any(role in definition.intake.roles for role in staff.in_workflow(definition.name).roles)


def intake_form(definition: WorkflowDefinition, *, typed: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, error: str | None = None,
                carried: dict[str, list[str]] | None = None, key: str | None = None) -> forms.Form:
    intake = definition.intake
    fields = forms.form_fields(definition, intake.inputs, typed=typed, errors=errors)
    for made in fields:
        made.carried = (carried or {}).get(made.name, [])
    return forms.Form(action=intake.trigger, label=intake.label, fields=fields, url="/kasus/baru",
                      idempotency_key=key or uuid.uuid4().hex, error=error,
                      comment=(typed or {}).get(forms.COMMENT_FIELD, ""),
                      multipart=any(f.widget == "file" for f in fields), open=True)


def _render(request: Request, staff: StaffMember, definition: WorkflowDefinition, form: forms.Form,
            status: int = 200, banner: str | None = None) -> HTMLResponse:
    context: dict[str, Any] = {"staff": staff, "definition": definition, "form": form, "banner": banner,
                               "case_label": definition.case_label, "comment_limit": forms.COMMENT_LIMIT,
                               "comment_field": forms.COMMENT_FIELD}
    return common.render(request, "new_case.html", context, status=status)


@router.get("/kasus/baru", response_class=HTMLResponse, include_in_schema=False)
def new_case(request: Request, staff: Staff) -> HTMLResponse:
    definition = _definition(request)
    if not may_record(definition, staff):
        return common.render(request, "not_found.html", {
            "staff": staff, "message": f"Anda tidak berwenang mencatat {definition.case_label} baru."}, status=403)
    return _render(request, staff, definition, intake_form(definition))


@router.post("/kasus/baru", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(current_staff), Depends(csrf_checked)])  # login first: no body read for nobody
async def record(request: Request, staff: Staff) -> Response:
    form = await request.form()
    received = await uploads.receive(form, uploads.names_in(form), common.attachments(request).max_bytes)
    typed = {name: str(value) for name, value in form.multi_items() if isinstance(value, str)}
    return await run_in_threadpool(_record, request, staff, typed, received)


def _record(request: Request, staff: StaffMember, typed: dict[str, str], received: uploads.Received) -> Response:
    app = common.application(request)
    definition = _definition(request)
    if not may_record(definition, staff):
        return common.render(request, "not_found.html", {
            "staff": staff, "message": f"Anda tidak berwenang mencatat {definition.case_label} baru."}, status=403)
    intake = definition.intake
    key = typed.get("idempotency_key", "")[:128] or None
    references, upload_errors, carried = uploads.store(received, common.attachments(request), staff.username,
                                                       only=uploads.file_fields(definition, intake.inputs))
    values, errors = forms.read_values(definition, intake.inputs, typed, references)
    errors.update(upload_errors)
    comment, comment_error = forms.read_comment(typed)
    if errors or comment_error:
        failed = intake_form(definition, typed=typed, errors=errors, carried=carried, key=key,
                             error=comment_error and f"Komentar: {comment_error}")
        return _render(request, staff, definition, failed, 422, "Periksa isian yang ditandai.")
    try:
        case = app.commands.submit(staff.username, values, workflow=definition.name, comment=comment,
                                   idempotency_key=key)
    except (PermissionDenied, NotFound, Conflict) as exc:
        failed = intake_form(definition, typed=typed, carried=carried, key=key, error=f"Tidak tersimpan: {exc}")
        return _render(request, staff, definition, failed, 409, "Tidak tersimpan.")
    except InvalidInput as exc:
        field_errors = {exc.field: str(exc)} if exc.field and intake.input_for(exc.field) else {}
        failed = intake_form(definition, typed=typed, errors=field_errors, carried=carried, key=key,
                             error=None if field_errors else str(exc))
        return _render(request, staff, definition, failed, 422, "Periksa isian yang ditandai.")
    return RedirectResponse(f"/kasus/{case.number}?selesai={intake.trigger}", status_code=303)
