"""The one router of the administrators' pages and the outbox page (app.py includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from engine.adapters.web.admin import audit, outbox, staff, tokens

router = APIRouter()
for _part in (staff.router, tokens.router, audit.router, outbox.router):
    router.include_router(_part)
