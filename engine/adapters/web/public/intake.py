"""The public complaint form (``/aduan``, no login) and its receipt (``/aduan/terkirim``).

The form is the web channel's ``input`` in the definition's ``public:`` section, drawn with the
staff pages' field widgets: the pin field gets a map (Leaflet, an enhancement: without JavaScript
the coordinates are typed), the photos field takes up to three photos, the complainant's contact
fields are grouped and may all stay empty. Abuse is met without any outside service: a CSRF token
(the session's), a honeypot field, a minimum fill time, and the desk's throttle per address,
asked before any upload is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import engine.adapters.web.pages.forms as forms
import engine.adapters.web.pages.uploads as uploads
from engine.adapters.web import attachment_files
from engine.adapters.web.auth import application_of, csrf_checked
import engine.adapters.web.public.visitor as visitor
from engine.adapters.web.public.pages import render, throttled_page, unavailable_page
from engine.app.public_desk import MAX_NOTE_PHOTOS, Throttled, shown_code
from engine.definition.model import PublicChannelSpec, PublicSpec, WorkflowDefinition, public_actor
from engine.errors import Conflict, InvalidInput, NotFound

router = APIRouter()

CHANNEL = "web"
"""The public channel of the definition this form is."""
TOO_FAST = ("Formulir terkirim terlalu cepat setelah dibuka. Periksa kembali isian Anda, lalu tekan "
            "Kirim aduan sekali lagi.")
REFUSED = "Aduan tidak dapat diterima dari formulir ini. Muat ulang halaman lalu isi kembali."


@dataclass(slots=True)
class Layout:
    """The form's fields in the order shown: the complaint itself, its photos, who complains."""

    complaint: list[forms.FormField]
    photos: forms.FormField | None
    contact: list[forms.FormField]
    pin: str | None


def _public(request: Request) -> tuple[WorkflowDefinition, PublicSpec, PublicChannelSpec]:
    definition, public = application_of(request).public.public_spec()
    spec = public.channels.get(CHANNEL)
    if spec is None:
        raise NotFound(f"workflow {definition.name!r} takes no complaints on the web")
    return definition, public, spec


def layout(definition: WorkflowDefinition, public: PublicSpec, channel: PublicChannelSpec, *,
           typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
           carried: list[str] | None = None) -> Layout:
    contact = definition.contact
    contact_fields = {name for name in (contact.name, contact.phone, contact.email, contact.anonymous) if name}
    made = forms.form_fields(definition, channel.inputs, typed=typed, errors=errors, form="aduan")
    complaint, people = [], []
    photos = None
    for field in made:
        if field.name == public.pin:
            field.hint = ("Tidak wajib. Ketuk peta untuk menandai tempatnya, atau tulis garis lintang,garis bujur, "
                          "mis. -2.3245,115.6123.")
        if field.name == public.photos:
            field.hint = f"Tidak wajib. Paling banyak {MAX_NOTE_PHOTOS} foto JPEG, PNG atau WebP."
            field.carried = list(carried or [])
            photos = field
        elif field.name in contact_fields or definition.fields[field.name].pii:
            people.append(field)
        else:
            complaint.append(field)
    return Layout(complaint, photos, people, public.pin)


def _page(request: Request, definition: WorkflowDefinition, public: PublicSpec, channel: PublicChannelSpec, *,
          typed: dict[str, str] | None = None, errors: dict[str, str] | None = None, banner: str | None = None,
          carried: list[str] | None = None, key: str | None = None, status: int = 200) -> HTMLResponse:
    center = public.map_center
    context: dict[str, Any] = {
        "definition": definition, "layout": layout(definition, public, channel, typed=typed, errors=errors,
                                                    carried=carried),
        "banner": banner, "idempotency_key": key or uuid.uuid4().hex, "honeypot": visitor.HONEYPOT,
        "map_center": f"{center[0]},{center[1]}" if center else "", "map_zoom": public.map_zoom,
        "max_photos": MAX_NOTE_PHOTOS,
    }
    return render(request, "aduan.html", context, status=status)


@router.get("/aduan", response_class=HTMLResponse, include_in_schema=False)
def complaint_form(request: Request) -> Response:
    try:
        definition, public, channel = _public(request)
    except NotFound:
        return unavailable_page(request)
    visitor.mark_form_opened(request)
    return _page(request, definition, public, channel)


@router.post("/aduan", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(csrf_checked)])
async def send_complaint(request: Request) -> Response:
    try:
        definition, public, channel = _public(request)
    except NotFound:
        return unavailable_page(request)
    desk = application_of(request).public
    address = visitor.address(request)
    blocked = await run_in_threadpool(desk.submissions_blocked, address)
    if blocked is not None:
        return throttled_page(request, blocked, "Terlalu banyak aduan dikirim dari jaringan Anda dalam waktu singkat.")
    form = await request.form()
    typed = {name: str(value) for name, value in form.multi_items() if isinstance(value, str)}
    key = typed.get("idempotency_key", "")[:128] or None
    if typed.get(visitor.HONEYPOT, "").strip():
        return render(request, "pesan.html", {"title": "Aduan tidak diterima", "message": REFUSED}, status=400)
    if visitor.filled_too_fast(request):
        visitor.mark_form_opened(request)
        return _page(request, definition, public, channel, typed=typed, banner=TOO_FAST, key=key, status=422)
    photos = [public.photos] if public.photos and channel.input_for(public.photos) else []
    store = attachment_files.store_of(request)
    received = await uploads.receive(form, photos, store.max_bytes)
    return await run_in_threadpool(_send, request, definition, public, channel, typed, received, key, address)


def _send(request: Request, definition: WorkflowDefinition, public: PublicSpec, channel: PublicChannelSpec,
          typed: dict[str, str], received: uploads.Received, key: str | None, address: str) -> Response:
    desk = application_of(request).public
    photos_field = public.photos if public.photos and channel.input_for(public.photos) else None
    errors: dict[str, str] = {}
    references: dict[str, list[str]] = {}
    carried: list[str] = []
    if photos_field is not None:
        count = len(received.files.get(photos_field, [])) + len(received.carried.get(photos_field, []))
        if count > MAX_NOTE_PHOTOS:
            errors[photos_field] = f"Paling banyak {MAX_NOTE_PHOTOS} foto; pilih lagi fotonya."
        else:
            references, problems, kept = uploads.store(received, attachment_files.store_of(request),
                                                       public_actor(CHANNEL), only=[photos_field])
            errors.update(problems)
            carried = kept.get(photos_field, [])
    values, field_errors = forms.read_values(definition, channel.inputs, typed, references)
    errors.update(field_errors)
    if errors:
        return _page(request, definition, public, channel, typed=typed, errors=errors, carried=carried, key=key,
                     banner="Periksa isian yang ditandai.", status=422)
    try:
        receipt = desk.submit(CHANNEL, values, workflow=definition.name, idempotency_key=key, client=address)
    except Throttled as exc:
        return throttled_page(request, exc.until, "Terlalu banyak aduan dikirim dari jaringan Anda dalam waktu "
                                                  "singkat.")
    except InvalidInput as exc:
        wrong = {exc.field: forms.problem_text(definition.fields[exc.field], typed.get(exc.field, ""))} \
            if exc.field and channel.input_for(exc.field) else {}
        return _page(request, definition, public, channel, typed=typed, errors=wrong, carried=carried, key=key,
                     banner="Periksa isian yang ditandai." if wrong else "Aduan belum dapat disimpan. Periksa "
                     "isian lalu kirim lagi.", status=422)
    except Conflict:
        return _page(request, definition, public, channel, typed=typed, carried=carried, key=key,
                     banner="Aduan belum tersimpan karena banyak kiriman bersamaan. Tekan Kirim aduan sekali lagi.",
                     status=409)
    visitor.keep_receipt(request, visitor.Access(receipt.number, receipt.tracking_code))
    return RedirectResponse("/aduan/terkirim", status_code=303)


@router.get("/aduan/terkirim", response_class=HTMLResponse, include_in_schema=False)
def receipt_page(request: Request) -> Response:
    held = visitor.receipt(request)
    if held is None:
        return RedirectResponse("/lacak", status_code=303)
    definition, _ = application_of(request).public.public_spec()
    return render(request, "terkirim.html", {"definition": definition, "number": held.number,
                                             "code": shown_code(held.code)})
