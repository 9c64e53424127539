"""The definition pages for staff who may deploy or migrate: the editor (``/admin/definisi``) and
migrations (``/admin/migrasi``)."""

from __future__ import annotations

from fastapi import APIRouter

from engine.adapters.web.definitions import editor, migration

router = APIRouter()
router.include_router(editor.router)
router.include_router(migration.router)
