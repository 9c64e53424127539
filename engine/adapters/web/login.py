"""The login and logout pages. The login form's fields are ``username`` and ``password`` (a contract)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.adapters.web.auth import (
    application_of, client_address, csrf_checked, current_staff, end_session, start_session,
)
from engine.adapters.web.rendering import local_datetime, render
from engine.app.credentials import LockedOut, LoginFailed, StaffMember

router = APIRouter()

WRONG = "Nama pengguna atau kata sandi salah."
IDLE = "Sesi berakhir karena lama tidak digunakan. Silakan masuk lagi."


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site, never another site (``//host``, ``\\host``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


def _zone(request: Request) -> str:
    deployed = application_of(request).queries.deployed()
    return deployed[0].timezone if deployed else "UTC"


def _locked_message(request: Request, until: datetime) -> str:
    return (f"Terlalu banyak percobaan masuk yang gagal. Coba lagi setelah "
            f"{local_datetime(until, _zone(request))}.")


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/", alasan: str = "") -> Response:
    """The login form (``alasan=idle`` says the session timed out)."""
    return render(request, "login.html", {"next": safe_next(next), "username": "",
                                          "message": IDLE if alasan == "idle" else ""})


@router.post("/login", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(csrf_checked)])
def login(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=2000),
          next: str = Form("/", max_length=2000)) -> Response:
    """Check the password; on success a new session and a redirect to ``next``."""
    credentials = application_of(request).credentials
    try:
        member, login_record = credentials.login_recorded(username, password, client_address(request))
    except LockedOut as exc:
        return render(request, "login.html", {"next": safe_next(next), "username": username,
                                              "message": _locked_message(request, exc.until)}, status_code=429)
    except LoginFailed:
        return render(request, "login.html", {"next": safe_next(next), "username": username, "message": WRONG},
                      status_code=401)
    start_session(request, member, login_record)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_checked)])
def logout(request: Request, staff: StaffMember = Depends(current_staff)) -> Response:
    """Record the logout, forget the session, back to the login form."""
    application_of(request).credentials.logout(staff, client_address(request))
    end_session(request)
    return RedirectResponse("/login", status_code=303)
