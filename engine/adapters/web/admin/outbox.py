"""The outbox page (``/kotak-keluar``): notices by status, channel and recipient; retry a failed one.

Who sees what is the app layer's rule for reading notices (``engine.app.outbox.notices_page``): every
logged-in member sees the notices sent to them and those of the cases they may see, personal data
masked unless their role may read it. Retrying is for members whose role may manage staff
(``engine.app.outbox.retry_notices``); others see no button, and a posted retry is refused (403).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import engine.adapters.web.pages.common as common
from engine.adapters.web.admin import wording
from engine.adapters.web.admin.page import POSTED, Staff, page
from engine.app.credentials import StaffMember
from engine.errors import InvalidInput

router = APIRouter()


def _outbox(request: Request, staff: StaffMember, status: str, channel: str, recipient: str, after: str,
            banner: str | None = None, banner_kind: str = "ok", http_status: int = 200) -> HTMLResponse:
    app = common.application(request)
    errors: dict[str, str] = {}
    cursor = int(after) if after.isdigit() and len(after) < 10 else None
    try:
        found = app.queries.outbox_page(staff.username, status=status or None, channel=channel or None,
                                        recipient=recipient or None, after=cursor)
    except InvalidInput as exc:
        errors = {exc.field or "status": {"status": "Pilih status dari daftar.", "channel": "Pilih saluran dari daftar.",
                                         "recipient": "Tulis nama pengguna petugas, atau pelapor."}.get(
                                             exc.field or "status", "Periksa saringan.")}
        found = {"notices": [], "next": None, "channels": []}
        http_status = 422
    filters = {"status": status, "saluran": channel, "penerima": recipient}
    keep = {k: v for k, v in filters.items() if v}
    next_href = "/kotak-keluar?" + urlencode({**keep, "setelah": found["next"]}) if found["next"] else None
    return page(request, "outbox.html", {
        "notices": found["notices"], "channels": found["channels"] or ["file", "webhook", "smtp"],
        "filters": filters, "errors": errors, "next_href": next_href, "statuses": wording.STATUSES,
        "may_retry": "manage_staff" in app.queries.capabilities(staff.username), "banner": banner,
        "banner_kind": banner_kind, "zone": app.queries.deployed()[0].timezone}, status=http_status)


@router.get("/kotak-keluar", response_class=HTMLResponse, include_in_schema=False)
def outbox(request: Request, staff: Staff, status: Annotated[str, Query(max_length=16)] = "",
           saluran: Annotated[str, Query(max_length=16)] = "", penerima: Annotated[str, Query(max_length=64)] = "",
           setelah: Annotated[str, Query(max_length=12)] = "", diulang: Annotated[str, Query(max_length=12)] = ""
           ) -> HTMLResponse:
    banner = (f"Kiriman #{diulang} dijadwalkan ulang: dicoba lagi pada pengiriman berikutnya."
              if diulang.isdigit() else None)
    return _outbox(request, staff, status.strip(), saluran.strip(), penerima.strip(), setelah, banner)


@router.post("/kotak-keluar/{notice_id}/ulang", response_class=HTMLResponse, include_in_schema=False,
             dependencies=POSTED)
def retry(request: Request, staff: Staff, notice_id: Annotated[int, Path(ge=1, lt=2 ** 31)]) -> Response:
    app = common.application(request)
    try:
        app.commands.retry_notices([str(notice_id)], acting_for=staff.username)
    except InvalidInput:
        return _outbox(request, staff, "", "", "", "", http_status=409, banner_kind="error",
                       banner=f"Kiriman #{notice_id} tidak dapat diulang: sudah terkirim atau tidak punya penerima.")
    return RedirectResponse(f"/kotak-keluar?diulang={notice_id}", status_code=303)
