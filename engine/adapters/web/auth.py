"""Who is asking: the signed session cookie, CSRF tokens, the idle timeout, bearer tokens.

The session cookie (Starlette's ``SessionMiddleware``: signed with the secret key of the settings, not
encrypted) holds only the staff member's id, the id of its login's row in the login record, the CSRF token
and the minute of the last request.
Pages get the member from ``current_staff`` (a redirect to ``/login`` when there is none); the API
gets it from ``Authorization: Bearer TOKEN`` (401 without one). Every state-changing form and
htmx request passes ``csrf_checked``: the token of the session, from the hidden field
``csrf_token`` or the header ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request

from engine.app.assembly import Application
from engine.app.credentials import LoginFailed, StaffMember

SESSION_COOKIE = "treckk_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
API_PREFIX = "/api/"


class LoginRequired(Exception):
    """No logged-in member (or the session went idle): pages redirect to /login, the API answers 401."""

    def __init__(self, reason: str = "login required") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token: 403, nothing done."""


def application_of(request: Request) -> Application:
    """The application the web app was created with."""
    application: Application = request.app.state.application
    return application


def client_address(request: Request) -> str:
    """The address the request came from (the login record and the address lockout use it)."""
    return request.client.host if request.client is not None else "unknown"


def session_of(request: Request) -> dict[str, Any]:
    """The request's session (empty for API requests, which carry no cookie)."""
    return request.session if "session" in request.scope else {}


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    if "session" not in request.scope:
        return ""
    session = request.session
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def start_session(request: Request, member: StaffMember, login_record: int) -> None:
    """Log ``member`` in: a new session (new CSRF token), so nothing from before the login carries over.

    The session keeps the id of its login's row of the login record: a logout recorded after it
    ends this session and every copy of its cookie (the cookie is signed data, not a server-side
    session, so the logout cannot delete it)."""
    session = request.session
    session.clear()
    session["uid"] = member.id
    session["login"] = login_record
    session["csrf"] = secrets.token_urlsafe(32)
    session["seen"] = _minute(request)
    request.state.staff = member


def end_session(request: Request) -> None:
    """Forget the session (logout, idle timeout, a member disabled meanwhile)."""
    request.session.clear()


def _minute(request: Request) -> int:
    return int(application_of(request).clock().timestamp() // 60)


def current_staff(request: Request) -> StaffMember:
    """The logged-in member: by bearer token under /api/, else by session; ``LoginRequired`` otherwise."""
    cached = getattr(request.state, "staff", None)
    if isinstance(cached, StaffMember):
        return cached
    member = _bearer_staff(request) if request.url.path.startswith(API_PREFIX) else _session_staff(request)
    request.state.staff = member
    return member


def _bearer_staff(request: Request) -> StaffMember:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LoginRequired("an Authorization: Bearer TOKEN header is required (make one with `treckk token create`)")
    try:
        return application_of(request).credentials.authenticate_token(token.strip())
    except LoginFailed as exc:
        raise LoginRequired(str(exc)) from exc


def _session_staff(request: Request) -> StaffMember:
    session = request.session
    uid, seen, logged_in = session.get("uid"), session.get("seen"), session.get("login")
    if not isinstance(uid, int) or not isinstance(seen, int) or not isinstance(logged_in, int):
        raise LoginRequired()
    application = application_of(request)
    now = _minute(request)
    idle_minutes = application.settings.session_idle.total_seconds() / 60
    if now - seen >= idle_minutes:
        end_session(request)
        raise LoginRequired("idle")
    member = application.credentials.member(uid, logged_in)
    if member is None:
        end_session(request)
        raise LoginRequired()
    if seen != now:
        session["seen"] = now
    return member


async def csrf_checked(request: Request) -> None:
    """Refuse (``CsrfRejected``, 403) a request whose CSRF token is missing or not the session's."""
    expected = session_of(request).get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected()
