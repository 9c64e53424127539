"""The public pages (no login): the complaint form ``/aduan`` and its receipt, and ``/lacak`` to follow,
add to and rate a complaint. They stand on ``application.public`` (``engine.app.public_desk``)."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """The public routers in mounting order (``/lacak/keluar`` before ``/lacak/{number}``)."""
    from engine.adapters.web.public import intake, tracking

    return [intake.router, tracking.router]
