"""Rendering the public pages (``templates/public/``): their own base, no staff menu, no login.

Every public page carries ``Cache-Control: no-store`` (a tracking page or receipt must not stay in
a shared computer's cache) and is rendered in the workflow's zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from engine.adapters.web import rendering
from engine.adapters.web.auth import application_of
from engine.core import localtime

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """A page from ``templates/public/<template>``; ``zone`` and ``title`` default from the deployed definition."""
    values = dict(context)
    if "definition" not in values:
        try:
            values["definition"], _ = application_of(request).public.public_spec()
        except Exception:  # noqa: BLE001 - a page about a problem must render even without a public section
            values["definition"] = None
    definition = values["definition"]
    values.setdefault("zone", definition.timezone if definition is not None else "UTC")
    values["staff"] = None  # a public page never shows who is logged in on this browser
    return rendering.render(request, f"public/{template}", values, status_code=status, headers=dict(NO_STORE))


def wait_text(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return localtime.span(minutes)


def throttled_page(request: Request, until: datetime, what: str) -> HTMLResponse:
    now = application_of(request).clock()
    message = f"{what} Coba lagi sekitar {wait_text(until, now)} lagi."
    response = render(request, "pesan.html", {"title": "Terlalu banyak percobaan", "message": message}, status=429)
    response.headers["Retry-After"] = str(max(1, int((until - now).total_seconds())))
    return response


def unavailable_page(request: Request) -> HTMLResponse:
    return render(request, "pesan.html", {"title": "Layanan aduan belum tersedia",
                                          "message": "Aduan belum dapat diterima melalui situs ini."}, status=404)
