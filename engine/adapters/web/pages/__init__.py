"""The staff pages: inbox, case page with its action forms, new case, attachments (see WEB_LAYOUT)."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The page routers in the order they must be mounted (``/kasus/baru`` before ``/kasus/{number}``)."""
    from engine.adapters.web.pages import attachments, cases, inbox, new_case

    return [new_case.router, attachments.router, cases.router, inbox.router]
