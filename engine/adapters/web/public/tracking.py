"""Following a complaint: ``/lacak`` (number and code), ``/lacak/{number}`` (where it stands), a note
while it is open (``POST /lacak/{number}/catatan``), a rating once it is closed (``POST /lacak/{number}/nilai``), and the
inclusion proof of its history against the newest signed checkpoint (``/lacak/{number}/bukti``).

The code is POSTed once and then kept for a short while in the visitor's signed session
(``visitor``), never put in a URL. A wrong code and an unknown number get the same page; wrong
codes are throttled by the desk, per address and per number. The page shows only the desk's
``PublicCaseView``: no staff name, no personal data, no comment, no other case.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import engine.adapters.web.pages.uploads as uploads
from engine.adapters.web import attachment_files
from engine.adapters.web.auth import application_of, csrf_checked
import engine.adapters.web.public.visitor as visitor
from engine.adapters.web.public.pages import render, throttled_page
from engine.app.public_desk import MAX_NOTE_LENGTH, MAX_NOTE_PHOTOS, MAX_RATING_COMMENT, PublicCaseView, Throttled
from engine.definition.model import public_actor
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound

router = APIRouter()

UNKNOWN = ("Nomor aduan atau kode pelacakan tidak cocok. Periksa keduanya pada tanda terima Anda "
           "(kode terdiri dari 10 huruf dan angka).")
TOO_MANY = "Terlalu banyak percobaan kode pelacakan yang salah."
NOTE_FIELD = "catatan"
PHOTO_FIELD = "foto"
SCORE_FIELD = "nilai"
COMMENT_FIELD = "komentar"
NO_PROOF_YET = ("Bukti belum tersedia: riwayat aduan ini belum masuk tanda tangan digital berkala. "
                "Coba lagi nanti (tanda tangan dibuat paling lama setiap jam).")
DONE = {"catatan": "Keterangan Anda sudah kami terima dan diteruskan kepada petugas.",
        "nilai": "Terima kasih atas penilaian Anda."}


def _form(request: Request, *, number: str = "", error: str | None = None, status: int = 200) -> HTMLResponse:
    return render(request, "lacak.html", {"number": number, "error": error}, status=status)


@router.get("/lacak", response_class=HTMLResponse, include_in_schema=False)
def tracking_form(request: Request) -> HTMLResponse:
    number = request.query_params.get("nomor", "")[:32]
    return _form(request, number=number)


@router.post("/lacak", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(csrf_checked)])
async def look_up(request: Request) -> Response:
    form = await request.form()
    number = str(form.get("nomor", ""))[:64].strip()
    code = str(form.get("kode", ""))[:64]
    desk = application_of(request).public
    try:
        view = await run_in_threadpool(desk.track, number, code, client=visitor.address(request))
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        return _form(request, number=number[:32], error=UNKNOWN, status=404)
    visitor.keep_tracking(request, visitor.Access(view.number, code))
    return RedirectResponse(f"/lacak/{view.number}", status_code=303)


@router.post("/lacak/keluar", include_in_schema=False, dependencies=[Depends(csrf_checked)])
def leave(request: Request) -> Response:
    visitor.forget_tracking(request)
    return RedirectResponse("/lacak", status_code=303)


def _case_page(request: Request, view: PublicCaseView, *, banner: str | None = None, error: str | None = None,
               typed: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    definition = application_of(request).queries.definition(view.workflow)
    context: dict[str, Any] = {
        "definition": definition, "view": view, "banner": banner, "error": error, "typed": typed or {},
        "note_limit": MAX_NOTE_LENGTH, "comment_limit": MAX_RATING_COMMENT, "max_photos": MAX_NOTE_PHOTOS,
        "scores": [(5, "Sangat baik"), (4, "Baik"), (3, "Cukup"), (2, "Kurang"), (1, "Buruk")],
    }
    return render(request, "kasus.html", context, status=status)


def _held(request: Request, number: str) -> visitor.Access | None:
    return visitor.tracking(request, number)


@router.get("/lacak/{number}", response_class=HTMLResponse, include_in_schema=False)
def case_page(request: Request, number: str) -> Response:
    held = _held(request, number)
    if held is None:
        return RedirectResponse(f"/lacak?nomor={number[:32]}", status_code=303)
    try:
        view = application_of(request).public.track(held.number, held.code, client=visitor.address(request))
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        visitor.forget_tracking(request)
        return _form(request, number=number[:32], error=UNKNOWN, status=404)
    done = DONE.get(request.query_params.get("terkirim", ""))
    return _case_page(request, view, banner=done)


@router.get("/lacak/{number}/bukti", include_in_schema=False)
def proof(request: Request, number: str) -> Response:
    """The case's inclusion proof as a JSON file, for the visitor holding its code (checked offline with
    ``treckk verify --proof FILE``); a page saying so while no checkpoint has been signed yet."""
    held = _held(request, number)
    if held is None:
        return RedirectResponse(f"/lacak?nomor={number[:32]}", status_code=303)
    desk = application_of(request).public
    try:
        value = desk.proof(held.number, held.code, client=visitor.address(request))
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        try:
            view = desk.track(held.number, held.code, client=visitor.address(request))
        except NotFound:
            visitor.forget_tracking(request)
            return _form(request, number=number[:32], error=UNKNOWN, status=404)
        return _case_page(request, view, error=NO_PROOF_YET, status=404)
    body = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="bukti-{value["case"]}.json"', "Cache-Control": "no-store"})


@router.post("/lacak/{number}/catatan", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(csrf_checked)])
async def add_note(request: Request, number: str) -> Response:
    held = _held(request, number)
    if held is None:
        return RedirectResponse(f"/lacak?nomor={number[:32]}", status_code=303)
    form = await request.form()
    store = attachment_files.store_of(request)
    received = await uploads.receive(form, [PHOTO_FIELD], store.max_bytes)
    text = str(form.get(NOTE_FIELD, ""))
    return await run_in_threadpool(_add_note, request, held, text, received)


def _add_note(request: Request, held: visitor.Access, text: str, received: uploads.Received) -> Response:
    desk = application_of(request).public
    address = visitor.address(request)
    typed = {NOTE_FIELD: text}

    def again(error: str, status: int) -> Response:
        return _refused(request, held, error, typed, status)

    count = len(received.files.get(PHOTO_FIELD, []))
    if count > MAX_NOTE_PHOTOS:
        return again(f"Paling banyak {MAX_NOTE_PHOTOS} foto sekali kirim.", 422)
    if PHOTO_FIELD in received.too_large:
        return again(f"Foto terlalu besar; paling besar {attachment_files.store_of(request).max_bytes // 2**20} MB.",
                     422)
    try:
        channel = desk.track(held.number, held.code, client=address).channel
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        visitor.forget_tracking(request)
        return _form(request, number=held.number, error=UNKNOWN, status=404)
    references, problems, _ = uploads.store(received, attachment_files.store_of(request), public_actor(channel),
                                            only=[PHOTO_FIELD])
    if problems:
        return again(" ".join(problems.values()), 422)
    try:
        desk.add_note(held.number, held.code, text, attachments=references.get(PHOTO_FIELD, []), client=address)
    except (InvalidInput, NotAllowed) as exc:
        return again(_sentence(str(exc)), 422 if isinstance(exc, InvalidInput) else 409)
    except Conflict:
        return again("Keterangan belum tersimpan karena aduan sedang diperbarui. Kirim sekali lagi.", 409)
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        return _form(request, number=held.number, error=UNKNOWN, status=404)
    return RedirectResponse(f"/lacak/{held.number}?terkirim=catatan", status_code=303)


def _refused(request: Request, held: visitor.Access, error: str, typed: dict[str, str], status: int) -> Response:
    """The case page again with ``error`` next to what was typed (the form when the case is no longer
    the visitor's to see)."""
    try:
        view = application_of(request).public.track(held.number, held.code, client=visitor.address(request))
    except (NotFound, Throttled):
        return RedirectResponse(f"/lacak?nomor={held.number}", status_code=303)
    return _case_page(request, view, error=error, typed=typed, status=status)


@router.post("/lacak/{number}/nilai", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(csrf_checked)])
async def rate(request: Request, number: str) -> Response:
    held = _held(request, number)
    if held is None:
        return RedirectResponse(f"/lacak?nomor={number[:32]}", status_code=303)
    form = await request.form()
    score_text = str(form.get(SCORE_FIELD, ""))
    comment = str(form.get(COMMENT_FIELD, ""))
    return await run_in_threadpool(_rate, request, held, score_text, comment)


def _rate(request: Request, held: visitor.Access, score_text: str, comment: str) -> Response:
    desk = application_of(request).public
    address = visitor.address(request)
    typed = {COMMENT_FIELD: comment, SCORE_FIELD: score_text}
    try:
        if not score_text.isdigit():
            raise InvalidInput("pilih nilai 1 sampai 5", field=SCORE_FIELD)
        desk.rate(held.number, held.code, int(score_text), comment, client=address)
    except (InvalidInput, NotAllowed, Conflict) as exc:
        return _refused(request, held, _sentence(str(exc)), typed, 422 if isinstance(exc, InvalidInput) else 409)
    except Throttled as exc:
        return throttled_page(request, exc.until, TOO_MANY)
    except NotFound:
        visitor.forget_tracking(request)
        return _form(request, number=held.number, error=UNKNOWN, status=404)
    return RedirectResponse(f"/lacak/{held.number}?terkirim=nilai", status_code=303)


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
