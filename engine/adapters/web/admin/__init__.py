"""The administrators' pages (staff, tokens, audit) and the outbox page; one router for app.py."""

from __future__ import annotations

from fastapi import APIRouter

from engine.adapters.web.admin import audit, outbox, staff, tokens

router = APIRouter()
for _part in (staff.router, tokens.router, audit.router, outbox.router):
    router.include_router(_part)
