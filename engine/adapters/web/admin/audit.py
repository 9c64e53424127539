"""The audit page (``/admin/audit``): logins, failed logins, deploys, migrations, staff and token changes."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

import engine.adapters.web.pages.common as common
from engine.adapters.web.admin import wording
from engine.adapters.web.admin.page import Staff, page

router = APIRouter()


@router.get("/admin/audit", response_class=HTMLResponse, include_in_schema=False)
def audit(request: Request, staff: Staff, jenis: Annotated[str | None, Query(max_length=16)] = None,
          setelah: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    app = common.application(request)
    found = app.staff_desk.audit(staff.username, kind=jenis or None, after=setelah or None)
    rows = [{**entry, "label": wording.ACTIONS.get(entry["action"], entry["action"]),
             "text": wording.detail_text(entry), "target_text": wording.target_text(entry)}
            for entry in found["entries"]]
    next_href = "/admin/audit?" + urlencode({**({"jenis": jenis} if jenis else {}), "setelah": found["next"]}) \
        if found["next"] else None
    tabs = [{"label": label, "href": "/admin/audit" + (f"?jenis={kind}" if kind else ""),
             "current": (jenis or "") == kind} for kind, label in wording.KINDS.items()]
    return page(request, "audit.html", {"rows": rows, "tabs": tabs, "next_href": next_href,
                                        "zone": app.queries.deployed()[0].timezone})
