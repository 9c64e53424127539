"""``create_app``: the web app assembled from an application and its settings.

One FastAPI app serves the pages (Jinja, Bahasa Indonesia), ``/static`` and the JSON API under
``/api/v1`` (its own OpenAPI document at ``/api/v1/openapi.json``). Errors are turned into answers
here, in one place: problem details under ``/api/``, a page (or a redirect to the login) elsewhere.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.adapters.web import api, dashboard, definitions, login, open311, pages, public, whatsapp
from engine.adapters.web.admin import routes as admin_pages
from engine.adapters.web.auth import (
    API_PREFIX, SESSION_COOKIE, CsrfRejected, LoginRequired, application_of, current_staff,
)
from engine.adapters.web.rendering import render
from engine.app.assembly import Application
from engine.app.settings import SECRET_KEY, SECRET_KEY_HINT, Settings
from engine.errors import InvalidInput, TreckkError

STATIC = Path(__file__).resolve().parent / "static"
SESSION_MAX_AGE = 14 * 24 * 3600
"""The longest a session cookie is accepted at all, in seconds (the idle timeout is usually first)."""
FORM_BODY_LIMIT = 1024 * 1024
"""The largest body of a request without files (a form, a JSON body), in bytes."""
UPLOADS_PER_FORM = 10
"""How many photos of the largest accepted size one multipart form may carry."""

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: https://tile.openstreetmap.org "
                           "https://*.tile.openstreetmap.org; style-src 'self'; script-src 'self'; "
                           "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)

PAGE_TITLES = {400: "Permintaan tidak dapat dibaca", 401: "Perlu masuk", 403: "Tidak diizinkan",
               404: "Tidak ditemukan", 405: "Cara permintaan tidak didukung", 409: "Tidak dapat dilakukan",
               413: "Kiriman terlalu besar", 422: "Isian belum benar", 429: "Terlalu banyak percobaan", 503: "Layanan sedang tidak tersedia"}
PAGE_MESSAGES = {
    400: "Permintaan ini tidak dapat dibaca. Muat ulang halaman lalu coba lagi.",
    401: "Silakan masuk lebih dulu.",
    403: "Anda tidak berwenang melakukan ini.",
    404: "Halaman ini tidak ada.",
    405: "Alamat ini tidak dapat dibuka dengan cara itu. Buka halamannya lewat menu.",
    409: "Tidak dapat dilakukan pada keadaan sekarang. Muat ulang halaman lalu periksa lagi.",
    412: "Data sudah berubah sejak halaman dibuka. Muat ulang halaman lalu coba lagi.",
    422: "Isian atau alamat halaman ini tidak dapat diterima. Kembali lalu periksa lagi.",
    429: "Terlalu banyak percobaan. Tunggu sebentar lalu coba lagi.",
    503: "Layanan sedang tidak tersedia. Coba lagi sebentar lagi.",
}
"""What an error page says, by status: pages speak Bahasa Indonesia, whatever language the
framework's or the engine's message is in (those stay in the API's problem details)."""
CSRF_MESSAGE = ("Permintaan ditolak karena token keamanan formulir tidak ada atau tidak cocok. "
                "Muat ulang halaman lalu coba lagi.")


TOO_LARGE_MESSAGE = ("Kiriman ini terlalu besar untuk diterima (paling besar {mb} MB sekaligus). "
                     "Kirim foto yang lebih kecil atau lebih sedikit.")


def upload_body_limit(settings: Settings) -> int:
    """The largest multipart body accepted: ``UPLOADS_PER_FORM`` photos of the largest size, plus the fields."""
    return settings.attachment_max_bytes * UPLOADS_PER_FORM + FORM_BODY_LIMIT


class BodyLimit:
    """Refuses (413) a request body past its limit while it arrives: at once when its declared length
    is too big, else as soon as the bytes read pass the limit, so no part of it is parsed or stored
    first. Multipart bodies (photos) get ``upload_limit``, every other body ``FORM_BODY_LIMIT``."""

    def __init__(self, app: ASGIApp, upload_limit: int) -> None:
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.upload_limit if headers.get("content-type", "").startswith("multipart/form-data") \
            else FORM_BODY_LIMIT
        declared = headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        read = 0

        async def receiving() -> Message:
            nonlocal read
            if too_big:
                raise StarletteHTTPException(413, "request body too large")
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise StarletteHTTPException(413, "request body too large")
            return message

        await self.app(scope, receiving, send)


class SecurityHeaders:
    """Adds the headers that stop sniffing, framing and foreign scripts to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in SECURITY_HEADERS if name not in present)]
            await send(message)

        await self.app(scope, receive, sending)


def secret_key_of(settings: Settings, *, demo: bool) -> str:
    """The key signing sessions; the demo makes a throwaway one, anything else must be given one."""
    if settings.secret_key:
        return settings.secret_key
    if demo:
        return secrets.token_urlsafe(32)
    raise InvalidInput(f"the web app needs {SECRET_KEY} to sign its session cookies; make one with "
                       f"{SECRET_KEY_HINT} and set it: export {SECRET_KEY}=<that text>", field=SECRET_KEY,
                       hint=SECRET_KEY_HINT)


def create_app(application: Application, settings: Settings | None = None, *, demo: bool = False) -> FastAPI:
    """The web app on ``application`` (``settings`` default to the application's own).

    Refuses (InvalidInput naming the secret-key setting) to start without a secret key, except
    with ``demo``. Session cookies are HttpOnly, SameSite=Lax, and Secure when the base URL is https.
    """
    settings = settings or application.settings
    key = secret_key_of(settings, demo=demo)
    app = FastAPI(title="TRECKK", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.application = application
    app.state.demo = demo
    app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE,
                       same_site="lax", https_only=settings.secure_cookies)
    app.add_middleware(BodyLimit, upload_limit=upload_body_limit(settings))
    app.add_middleware(SecurityHeaders)
    # The static files are compressed (htmx: 52 KB → 17 KB), the pages are not: a page reflects what
    # was typed (a search) next to its CSRF token, and compressing both together leaks the token (BREACH).
    app.mount("/static", GZipMiddleware(StaticFiles(directory=STATIC), minimum_size=500), name="static")
    app.include_router(login.router)
    app.include_router(api.router)
    app.include_router(whatsapp.router)
    app.include_router(open311.router)  # /open311/v2: no session, no CSRF, its own error format
    for router in pages.routers():
        app.include_router(router)
    for router in public.routers():
        app.include_router(router)
    app.include_router(definitions.router)
    app.include_router(admin_pages.router)
    app.include_router(dashboard.router)
    app.add_api_route("/", _home, include_in_schema=False)
    _install_error_answers(app)
    return app


def _home(request: Request) -> Response:
    """The placeholder home page (the inbox of ``pages`` takes ``/`` when it is mounted)."""
    return render(request, "home.html", {"staff": current_staff(request)})


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _page_error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return render(request, "error.html", {"title": PAGE_TITLES.get(status, "Terjadi kesalahan"),
                                          "message": message}, status_code=status, headers=headers)


def _page_message(status: int) -> str:
    return PAGE_MESSAGES.get(status, "Terjadi kesalahan. Coba lagi sebentar lagi.")


def _install_error_answers(app: FastAPI) -> None:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        if _is_api(request):
            return api.problem(401, "Unauthorized", exc.reason, headers={"WWW-Authenticate": "Bearer"})
        target = "/login?alasan=idle" if exc.reason == "idle" else "/login"
        if request.method == "GET" and request.url.path != "/login" and (request.url.path != "/" or request.url.query):
            from urllib.parse import quote

            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            target += ("&" if "?" in target else "?") + "next=" + quote(path, safe="")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return api.problem(403, "Forbidden", "the CSRF token is missing or wrong")
        return _page_error(request, 403, CSRF_MESSAGE)

    async def treckk_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TreckkError)
        if _is_api(request):
            return api.error_problem(exc)
        return _page_error(request, exc.http_status, _page_message(exc.http_status))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _is_api(request):
            return api.validation_problem(exc)
        return _page_error(request, 422, _page_message(422))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers: dict[str, Any] = dict(exc.headers or {})
        if _is_api(request):
            return api.problem(exc.status_code, _reason(exc.status_code), str(exc.detail), headers=headers)
        if exc.status_code == 413:
            limit = upload_body_limit(application_of(request).settings)
            message = TOO_LARGE_MESSAGE.format(mb=limit // (1024 * 1024))
        else:
            message = _page_message(exc.status_code)
        return _page_error(request, exc.status_code, message, headers)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(TreckkError, treckk_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
