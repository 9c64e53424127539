"""Serving a case's photo bytes, for the pages and the API alike: the store of a request and an inert answer.

The answer cannot run in a browser: its type is the sniffed image type, ``nosniff``, a CSP that
allows nothing and sandboxes, and ``Content-Disposition`` with a name made by the store.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import FileResponse

from engine.adapters.web.auth import application_of
from engine.app.attachments import Attachments, StoredFile

INERT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'none'; script-src 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def store_of(request: Request) -> Attachments:
    """The application's attachment store (made once per app, from its settings)."""
    state = request.app.state
    store: Attachments | None = getattr(state, "attachments", None)
    if store is None:
        app = application_of(request)
        store = Attachments(app.queries, app.settings.attachment_folder, app.settings.attachment_max_bytes)
        state.attachments = store
    return store


def send(found: StoredFile) -> FileResponse:
    """The file ``found`` as an inline answer that a browser will only ever show as an image."""
    return FileResponse(found.path, media_type=found.media_type, headers=INERT_HEADERS,
                        content_disposition_type="inline", filename=found.download_name)
