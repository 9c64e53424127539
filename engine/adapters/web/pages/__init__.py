"""The staff pages (inbox, case page, forms, new complaint, attachments); ``routers()`` lists their routers."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The page routers ``create_app`` mounts, before its placeholder home page."""
    return []
