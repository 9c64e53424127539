"""The case page (``/kasus/{number}``) and its action forms (``POST /kasus/{number}/aksi/{trigger}``).

The page shows the case as ``Queries.show`` gives it to the viewer (personal data masked by
role), its deadline, history, notices and attachments, and one form for each trigger the viewer
may fire now, made from the transition's inputs. A form carries the case version and an
idempotency key: a stale form is answered "someone changed it first" with the case as it now
stands, and a double click acts once.
"""

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
from engine.core.fields import display_value
from engine.core.masking import MASK
from engine.definition.model import (
    NOTE_TRIGGER,
    PUBLIC_ACTOR_PREFIX,
    RATING_TRIGGER,
    TransitionSpec,
    WorkflowDefinition,
)
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound, PermissionDenied
from engine.app.credentials import StaffMember

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]

NOT_FOUND_TEXT = "Aduan tidak ditemukan, atau Anda tidak berwenang melihatnya."


def not_found(request: Request, staff: StaffMember) -> HTMLResponse:
    """The same answer for a case that does not exist and one the viewer may not see (no probing)."""
    return common.render(request, "not_found.html", {"staff": staff, "message": NOT_FOUND_TEXT}, status=404)


def transition_of(definition: WorkflowDefinition, state: str, trigger: str) -> TransitionSpec | None:
    return next((t for t in definition.transitions_from(state) if t.trigger == trigger), None)


def action_form(definition: WorkflowDefinition, view: dict[str, Any], transition: TransitionSpec, *,
                typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str | None = None, carried: dict[str, list[str]] | None = None,
                comment: str = "", key: str | None = None) -> forms.Form:
    fields = forms.form_fields(definition, transition.inputs, requires=transition.requires, current=view["data"],
                               typed=typed, errors=errors, form=transition.trigger)
    for made in fields:
        made.carried = (carried or {}).get(made.name, [])
    return forms.Form(
        action=transition.trigger, label=transition.label, fields=fields,
        url=f"/kasus/{view['number']}/aksi/{transition.trigger}", version=view["version"],
        idempotency_key=key or uuid.uuid4().hex, error=error, comment=comment,
        multipart=any(f.widget == "file" for f in fields),
        open=bool(errors or error))


def page_context(request: Request, staff: StaffMember, number: str, *, failed: forms.Form | None = None,
                 banner: str | None = None, banner_kind: str = "info") -> dict[str, Any]:
    """Everything the case page shows; PermissionDenied and NotFound pass through."""
    app = common.application(request)
    view = app.queries.show(number, staff.username)
    number = view["number"]
    definition = app.queries.case_definition(number)
    zone = definition.timezone
    history = app.queries.history(number, staff.username)
    notices = app.queries.notices(case=number, viewer_name=staff.username)
    names = common.staff_names(app, {event["actor"] for event in history})
    store = common.attachments(request)
    data_rows = []
    photos = []
    for name, spec in definition.fields.items():
        if name not in view["data"]:
            continue
        value = view["data"][name]
        if spec.type == "references" and isinstance(value, list):
            described = store.describe(value)
            for reference in value:
                photos.append({"field": spec.label, "reference": reference, "known": reference in described,
                               "href": f"/kasus/{number}/lampiran/{reference}"})
            data_rows.append({"label": spec.label, "value": f"{len(value)} foto", "masked": False})
            continue
        masked = value == MASK
        data_rows.append({"label": spec.label, "value": MASK if masked else display_value(spec, value, zone),
                          "masked": masked, "long": spec.type == "text" and (spec.max_length or 9999) > 300})
    timeline = []
    remarks = []
    for event in history:
        if event["trigger"] in (NOTE_TRIGGER, RATING_TRIGGER):
            remarks.append({"at": event["at"], "what": _event_label(definition, event), "text": event["comment"],
                            "photos": len(event["input"].get(definition.public.photos, []) or [])
                            if definition.public and definition.public.photos else 0,
                            "score": event["input"].get("nilai") if event["trigger"] == RATING_TRIGGER else None})
        changes = []
        for name, value in event["input"].items():
            known = definition.fields.get(name)
            if known is None:
                continue
            shown = (MASK if value == MASK else f"{len(value)} foto" if known.type == "references"
                     and isinstance(value, list) else display_value(known, value, zone))
            changes.append({"label": known.label, "value": shown})
        if event["trigger"] == RATING_TRIGGER and isinstance(event["input"].get("nilai"), int):
            changes.append({"label": "Nilai", "value": f"{event['input']['nilai']} dari 5"})
        public_channel = _public_channel(event["actor"])
        timeline.append({
            "at": event["at"],
            "actor": (f"Pelapor melalui {_channel_label(definition, public_channel)}" if public_channel is not None
                      else names.get(event["actor"], event["actor"])),
            "role": "" if public_channel is not None else definition.roles.label(event["role"]),
            "what": _event_label(definition, event), "from": _state_label(definition, event["from"]),
            "to": _state_label(definition, event["to"]), "changes": changes, "comment": event["comment"],
        })
    source = _public_channel(history[0]["actor"]) if history else None
    timeline.reverse()
    action_forms = []
    for trigger in view["allowed_triggers"]:
        transition = transition_of(definition, view["state"], trigger)
        if transition is None:
            continue
        if failed is not None and failed.action == trigger:
            action_forms.append(failed)
        else:
            action_forms.append(action_form(definition, view, transition))
    if len(action_forms) == 1:
        action_forms[0].open = True
    now = app.clock()
    return {
        "staff": staff, "case": view, "definition": definition, "zone": zone, "data_rows": data_rows,
        "photos": photos, "timeline": timeline, "notices": notices, "forms": action_forms, "banner": banner,
        "banner_kind": banner_kind, "countdown": common.countdown(view.get("deadline"), now),
        "scope_label": _scope_label(definition, view.get("scope")), "case_label": definition.case_label,
        "comment_limit": forms.COMMENT_LIMIT, "comment_field": forms.COMMENT_FIELD,
        "source": _channel_label(definition, source) if source is not None else None, "remarks": remarks,
    }


def _public_channel(actor: str) -> str | None:
    """The public channel of an event's actor (``pelapor:web`` → ``web``), None for staff."""
    return actor[len(PUBLIC_ACTOR_PREFIX):] if actor.startswith(PUBLIC_ACTOR_PREFIX) else None


def _channel_label(definition: WorkflowDefinition, channel: str) -> str:
    """How a public channel reads: the label of the choice value it sets (``kanal: web`` → Situs web)."""
    spec = definition.public.channels.get(channel) if definition.public else None
    for name, value in (spec.set.items() if spec else ()):
        field = definition.fields.get(name)
        if field is not None and field.type == "choice" and value in field.choices:
            return field.choices[str(value)]
    return f"kanal {channel}"


def _event_label(definition: WorkflowDefinition, event: dict[str, Any]) -> str:
    if event["trigger"] == NOTE_TRIGGER:
        return "Keterangan tambahan dari pelapor"
    if event["trigger"] == RATING_TRIGGER:
        return "Penilaian dari pelapor"
    if event["trigger"] == definition.intake.trigger:
        return definition.intake.label
    found = next((t for t in definition.transitions if t.trigger == event["trigger"]), None)
    return found.label if found else event["trigger"]


def _state_label(definition: WorkflowDefinition, state: str | None) -> str:
    if state is None:
        return ""
    spec = definition.states.get(state)
    return spec.label if spec else state


def _scope_label(definition: WorkflowDefinition, value: Any) -> str:
    if value is None:
        return "-"
    spec = definition.fields.get(definition.scope_field or "")
    return str(spec.choices.get(value, value)) if spec else str(value)


DONE = "Tersimpan: {label}. Keadaan sekarang: {state}."


@router.get("/kasus/{number}", response_class=HTMLResponse, include_in_schema=False)
def case_page(request: Request, number: str, staff: Staff) -> HTMLResponse:
    try:
        done = request.query_params.get("selesai")
        context = page_context(request, staff, number)
        if done:
            label = next((t.label for t in context["definition"].transitions if t.trigger == done), None)
            if label:
                context["banner"] = DONE.format(label=label, state=context["case"]["state_label"])
                context["banner_kind"] = "ok"
        return common.render(request, "case.html", context)
    except (PermissionDenied, NotFound):
        return not_found(request, staff)


@router.post("/kasus/{number}/aksi/{trigger}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(current_staff), Depends(csrf_checked)])  # login first: no body read for nobody
async def act(request: Request, number: str, trigger: str, staff: Staff) -> Response:
    form = await request.form()
    received = await uploads.receive(form, uploads.names_in(form), common.attachments(request).max_bytes)
    typed = {name: str(value) for name, value in form.multi_items() if isinstance(value, str)}
    return await run_in_threadpool(_act, request, number, trigger, staff, typed, received)


def _act(request: Request, number: str, trigger: str, staff: StaffMember, typed: dict[str, str],
         received: uploads.Received) -> Response:
    app = common.application(request)
    try:
        view = app.queries.show(number, staff.username)
        definition = app.queries.case_definition(view["number"])
    except (PermissionDenied, NotFound):
        return not_found(request, staff)
    number = view["number"]
    transition = transition_of(definition, view["state"], trigger)
    key = typed.get("idempotency_key", "")[:128] or None
    version_text = typed.get("version", "")
    expect = int(version_text) if version_text.isdigit() else None
    if transition is None or trigger not in view["allowed_triggers"]:
        if key:
            # Perhaps this very form acted already (a double click): the engine answers a used key
            # with the case as it stands, and refuses anything else.
            try:
                app.commands.advance(number, trigger, staff.username, {}, expect_version=expect, idempotency_key=key)
                return RedirectResponse(f"/kasus/{number}", status_code=303)
            except Conflict:
                return _stale(request, staff, number)
            except (NotAllowed, PermissionDenied, InvalidInput):
                pass
        return _refused(request, staff, number, "Aksi ini tidak dapat dilakukan pada keadaan aduan sekarang "
                                                "atau tidak termasuk wewenang Anda.", status=409)
    references, upload_errors, carried = uploads.store(received, common.attachments(request), staff.username,
                                                       only=uploads.file_fields(definition, transition.inputs))
    values, errors = forms.read_values(definition, transition.inputs, typed, references,
                                       requires=transition.requires, current=view["data"])
    errors.update(upload_errors)
    comment, comment_error = forms.read_comment(typed)
    if errors or comment_error:
        failed = action_form(definition, view, transition, typed=typed, errors=errors,
                             error=comment_error and f"Komentar: {comment_error}", carried=carried,
                             comment=typed.get(forms.COMMENT_FIELD, ""), key=key)
        return _page(request, staff, number, failed, "Periksa isian yang ditandai.", "error", 422)
    try:
        app.commands.advance(number, trigger, staff.username, values, comment=comment, expect_version=expect,
                             idempotency_key=key)
    except Conflict:
        return _stale(request, staff, number)
    except (NotAllowed, PermissionDenied) as exc:
        return _refused(request, staff, number, f"Aksi tidak dapat dilakukan: {exc}", status=409)
    except NotFound:
        return not_found(request, staff)
    except InvalidInput as exc:
        field_errors = {exc.field: str(exc)} if exc.field and transition.input_for(exc.field) else {}
        failed = action_form(definition, view, transition, typed=typed, errors=field_errors,
                             error=None if field_errors else str(exc), carried=carried,
                             comment=typed.get(forms.COMMENT_FIELD, ""), key=key)
        return _page(request, staff, number, failed, "Periksa isian yang ditandai.", "error", 422)
    return RedirectResponse(f"/kasus/{number}?selesai={trigger}", status_code=303)


STALE_TEXT = ("Aduan ini sudah diubah orang lain lebih dulu; isian Anda tidak disimpan. Berikut keadaannya "
              "sekarang — periksa lalu kirim lagi bila masih perlu.")


def _stale(request: Request, staff: StaffMember, number: str) -> HTMLResponse:
    return _page(request, staff, number, None, STALE_TEXT, "error", 409)


def _page(request: Request, staff: StaffMember, number: str, failed: forms.Form | None, banner: str, kind: str,
          status: int) -> HTMLResponse:
    try:
        context = page_context(request, staff, number, failed=failed, banner=banner, banner_kind=kind)
    except (PermissionDenied, NotFound):
        return not_found(request, staff)
    return common.render(request, "case.html", context, status=status)


def _refused(request: Request, staff: StaffMember, number: str, message: str, *, status: int) -> HTMLResponse:
    return _page(request, staff, number, None, message, "error", status)
