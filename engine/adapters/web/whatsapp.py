"""``/webhooks/whatsapp``: the WhatsApp Cloud API's webhook (no session, no CSRF: the signature is the door).

``GET`` answers the verify handshake with the challenge as plain text (403 when the mode or token
is wrong). ``POST`` hands the raw body and its ``X-Hub-Signature-256`` to the application, which
checks the signature before anything else and stores the body; the answer is 200 at once (401
without a signature, 403 with a wrong one, nothing stored). Processing happens later, in
``treckk serve``. Answers are short plain text, never a page, and never echo what was sent.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from engine.adapters.web.auth import application_of
from engine.errors import InvalidInput, PermissionDenied, Unavailable

PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "x-hub-signature-256"

router = APIRouter()


@router.get(PATH, include_in_schema=False)
async def verify(request: Request) -> PlainTextResponse:
    """The platform's verify request: ``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``."""
    desk = application_of(request).whatsapp
    query = request.query_params
    try:
        challenge = desk.handshake(query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge"))
    except Unavailable:
        return PlainTextResponse("not configured", status_code=404)
    except (PermissionDenied, InvalidInput):
        return PlainTextResponse("forbidden", status_code=403)
    return PlainTextResponse(challenge)


@router.post(PATH, include_in_schema=False)
async def receive(request: Request) -> PlainTextResponse:
    """One event delivery: checked, stored, answered; processed later by ``treckk serve``."""
    desk = application_of(request).whatsapp
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return PlainTextResponse("signature required", status_code=401)
    body = await request.body()
    try:
        await run_in_threadpool(desk.receive, body, signature)
    except Unavailable:
        return PlainTextResponse("not configured", status_code=404)
    except PermissionDenied:
        return PlainTextResponse("forbidden", status_code=403)
    except InvalidInput:
        return PlainTextResponse("too large", status_code=413)
    return PlainTextResponse("OK")
