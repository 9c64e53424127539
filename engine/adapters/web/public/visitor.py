"""What the public pages know of a visitor: their address, and what their signed session holds.

A visitor has no login. Their session (Starlette's signed cookie, the same as staff have) holds
only the CSRF token, when they first opened the complaint form (the minimum fill time), the
receipt of the complaint they just sent, and the case they are following with its code for a
short while — so the tracking code travels in a POST body or this cookie, never in a URL that a
server or a proxy would log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from engine.adapters.web.auth import application_of, client_address, session_of

FORM_STARTED = "aduan_mulai"
RECEIPT = "aduan_terkirim"
TRACKING = "lacak"
ACCESS_MINUTES = 30
"""How long a visitor who gave the right number and code may follow the case without typing it again."""
MIN_FILL_SECONDS = 4
"""A complaint sent sooner than this after the form was opened is refused (a person cannot type it so fast)."""
HONEYPOT = "situs_web"
"""A field hidden from people; a bot that fills every field fills it too, and its complaint is refused."""


@dataclass(frozen=True, slots=True)
class Access:
    """A case the visitor may follow now: its number and tracking code."""

    number: str
    code: str


def address(request: Request) -> str:
    """The visitor's network address (what the public throttles count per)."""
    return "web:" + client_address(request)


def now_seconds(request: Request) -> int:
    return int(application_of(request).clock().timestamp())


def mark_form_opened(request: Request) -> None:
    """Remember when the form was first opened in this session (kept across retries of the form)."""
    session = session_of(request)
    if "session" in request.scope and not isinstance(session.get(FORM_STARTED), int):
        session[FORM_STARTED] = now_seconds(request)


def filled_too_fast(request: Request) -> bool:
    """Whether the form is being sent without having been opened, or sooner than ``MIN_FILL_SECONDS`` after."""
    started = session_of(request).get(FORM_STARTED)
    return not isinstance(started, int) or now_seconds(request) - started < MIN_FILL_SECONDS


def _keep(request: Request, key: str, access: Access) -> None:
    if "session" in request.scope:
        request.session[key] = {"n": access.number, "c": access.code,
                                "t": now_seconds(request) + ACCESS_MINUTES * 60}


def _read(request: Request, key: str) -> Access | None:
    held: Any = session_of(request).get(key)
    if not isinstance(held, dict):
        return None
    number, code, until = held.get("n"), held.get("c"), held.get("t")
    if not isinstance(number, str) or not isinstance(code, str) or not isinstance(until, int):
        return None
    if until < now_seconds(request):
        request.session.pop(key, None)
        return None
    return Access(number, code)


def keep_receipt(request: Request, access: Access) -> None:
    """The complaint just sent: its receipt page shows number and code, and it may be followed at once."""
    _keep(request, RECEIPT, access)
    _keep(request, TRACKING, access)
    session_of(request).pop(FORM_STARTED, None)


def receipt(request: Request) -> Access | None:
    return _read(request, RECEIPT)


def keep_tracking(request: Request, access: Access) -> None:
    _keep(request, TRACKING, access)


def tracking(request: Request, number: str) -> Access | None:
    """The code the visitor gave for case ``number`` (same case, not expired), else None."""
    held = _read(request, TRACKING)
    return held if held is not None and held.number.upper() == number.strip().upper() else None


def forget_tracking(request: Request) -> None:
    session_of(request).pop(TRACKING, None)
    session_of(request).pop(RECEIPT, None)
