"""Migrating running cases to the newest version (``/admin/migrasi``): plan, state map, dry run, migrate.

The plan groups the running cases of older versions by version and state; the state map names, for
each state met, the state of the newest version it becomes (flagged when there is none); ``uji``
(dry run) lists what each case becomes, a page at a time (``GET .../uji?peta.S=T&setelah=CURSOR``
for the next pages), with how many go to each new state, and only then offers ``pindahkan``, which
moves them through ``application.definitions.migrate`` in batches (each its own transaction; the
``migrate`` capability checked, one ``migrasi`` event in each case's history) on a thread of its
own: the POST waits up to ``SYNC_WAIT_S`` for it, then answers with the plan page, which shows a
migration under way in this process and, after one, how many moved and how many are left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import engine.adapters.web.pages.common as common
from engine.adapters.web.definitions.view import forbidden as view_forbidden, render as render_page
from engine.adapters.web.auth import csrf_checked, current_staff
from engine.app.credentials import StaffMember
from engine.app.definition_desk import DRY_RUN_PAGE, MigrationPlan
from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]
MAP_PREFIX = "peta."
"""The select of old state S is named ``peta.S``."""
FORBIDDEN = "Anda tidak berwenang memigrasikan kasus."
SYNC_WAIT_S = 20.0
"""How long the migrate POST waits for the migration to end before it answers with the plan page
showing it under way (the batches go on, on their own thread)."""
RUNS: dict[str, threading.Thread] = {}
"""The thread of the last migration each workflow's page started in this process."""
LOG = logging.getLogger(__name__)


def _forbidden(request: Request, staff: StaffMember) -> HTMLResponse:
    return view_forbidden(request, FORBIDDEN)


@router.get("/admin/migrasi", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, staff: Staff) -> HTMLResponse:
    try:
        found = common.application(request).definitions.behind(staff.username)
    except PermissionDenied:
        return _forbidden(request, staff)
    return render_page(request, "migrations.html", {"staff": staff, "workflows": found})


@router.get("/admin/migrasi/{workflow}", response_class=HTMLResponse, include_in_schema=False)
def plan(request: Request, staff: Staff, workflow: str,
         dipindahkan: Annotated[int | None, Query(ge=0, le=10**9)] = None,
         berjalan: Annotated[int | None, Query(ge=0, le=1)] = None) -> HTMLResponse:
    desk = common.application(request).definitions
    try:
        made = desk.plan(staff.username, workflow, page_size=0)
    except PermissionDenied:
        return _forbidden(request, staff)
    except NotFound:
        return _not_found(request, staff, workflow)
    banner = None
    run = desk.progress(workflow)
    if berjalan and run is not None and run.done:
        dipindahkan = run.migrated
    if dipindahkan is not None:
        banner = (f"{dipindahkan} kasus dipindahkan ke versi {made.target_version}; setiap pemindahan tercatat di "
                  "riwayat kasusnya.")
        if berjalan and run is not None and run.interrupted:
            banner = (f"Migrasi terhenti setelah {dipindahkan} kasus dipindahkan; yang sudah dipindahkan tetap "
                      "pada versi baru.")
        if made.count:
            banner += f" {made.count} kasus berjalan masih pada versi lama"
            banner += (f"; keadaan {', '.join(made.unmapped)} belum dipetakan (mungkin staf memindahkan kasus ke "
                       "sana selama migrasi): petakan lalu migrasikan lagi." if made.unmapped else
                       "; migrasikan lagi untuk melanjutkan.")
    return _page(request, staff, made, banner=banner)


@router.get("/admin/migrasi/{workflow}/uji", response_class=HTMLResponse, include_in_schema=False)
def dry_run_page(request: Request, staff: Staff, workflow: str,
                 setelah: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """A later page of a dry run (the state map in ``peta.STATE`` query fields, ``setelah`` the cursor)."""
    state_map = {key[len(MAP_PREFIX):]: value for key, value in request.query_params.multi_items()
                 if key.startswith(MAP_PREFIX)}
    return _act(request, staff, workflow, "uji", state_map, None, setelah or None)


@router.post("/admin/migrasi/{workflow}/{action}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(current_staff), Depends(csrf_checked)])
async def act(request: Request, staff: Staff, workflow: str, action: str) -> Response:
    if action not in ("uji", "pindahkan"):
        return common.render(request, "not_found.html", {"staff": staff, "message": "Tindakan ini tidak ada."},
                             status=404)
    form = await request.form()
    state_map = {key[len(MAP_PREFIX):]: value for key, value in form.multi_items()
                 if key.startswith(MAP_PREFIX) and isinstance(value, str)}
    raw = form.get("jumlah")
    expected = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 10 else None
    return await run_in_threadpool(_act, request, staff, workflow, action, state_map, expected, None)


def _not_found(request: Request, staff: StaffMember, workflow: str) -> HTMLResponse:
    return common.render(request, "not_found.html", {"staff": staff, "message": f"Alur {workflow!r} tidak ada."},
                         status=404)


def _act(request: Request, staff: StaffMember, workflow: str, action: str, state_map: Mapping[str, str],
         expected: int | None, after: str | None) -> Response:
    desk = common.application(request).definitions
    try:
        made = desk.plan(staff.username, workflow, state_map, after=after,
                         page_size=DRY_RUN_PAGE if action == "uji" else 0)
    except PermissionDenied:
        return _forbidden(request, staff)
    except NotFound:
        return _not_found(request, staff, workflow)
    except InvalidInput as exc:
        fallback = desk.plan(staff.username, workflow, page_size=0)
        return _page(request, staff, fallback, chosen=state_map, errors={exc.field or "": str(exc)}, status=422)
    if action == "uji":
        return _page(request, staff, made, dry_run=True)
    outcome: dict[str, Any] = {}

    def migrate() -> None:
        try:
            outcome["done"] = desk.migrate(staff.username, workflow, state_map, expected=expected)
        except Exception as exc:  # noqa: BLE001 - answered below, or logged when nobody waits any more
            outcome["error"] = exc
            if not isinstance(exc, InvalidInput | Conflict | PermissionDenied):
                LOG.exception("migration of %s stopped; running it again continues with the rest", workflow)

    # The batches run on their own thread: a long migration outlives the request, which then answers
    # with the plan page showing it under way (a restart stops it between two batches; pressing
    # "migrate" again continues with the rest).
    thread = threading.Thread(target=migrate, name=f"treckk-migrasi-{workflow}", daemon=True)
    RUNS[workflow] = thread
    thread.start()
    thread.join(SYNC_WAIT_S)
    if thread.is_alive():
        return RedirectResponse(f"/admin/migrasi/{workflow}?berjalan=1", status_code=303)
    error = outcome.get("error")
    if isinstance(error, InvalidInput):
        return _page(request, staff, made, dry_run=True, errors={error.field or "": str(error)}, status=422)
    if isinstance(error, Conflict):
        return _page(request, staff, made, dry_run=True, status=409, banner=f"Tidak dimigrasikan: {error}")
    if isinstance(error, PermissionDenied):
        return _forbidden(request, staff)
    if error is not None:
        raise error
    return RedirectResponse(f"/admin/migrasi/{workflow}?dipindahkan={outcome['done'].migrated}", status_code=303)


def _page(request: Request, staff: StaffMember, made: MigrationPlan, *, dry_run: bool = False,
          chosen: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
          banner: str | None = None, status: int = 200) -> HTMLResponse:
    labels = dict(made.target_states)
    mapping = {**made.state_map, **{k: v for k, v in (chosen or {}).items() if k in made.state_map}}
    unmapped = [state for state, target in mapping.items() if not target or target not in labels]
    kept = [(MAP_PREFIX + old, new) for old, new in mapping.items()]
    next_href = (f"/admin/migrasi/{made.workflow}/uji?" + urlencode([*kept, ("setelah", made.next)])
                 if dry_run and made.next else None)
    under_way = common.application(request).definitions.progress(made.workflow)
    return render_page(request, "migration.html", {
        "staff": staff, "plan": made, "labels": labels, "mapping": mapping, "unmapped": unmapped,
        "errors": {key.removeprefix(MAP_PREFIX): value for key, value in (errors or {}).items()},
        "dry_run": dry_run, "outcomes": made.outcomes, "next_href": next_href,
        "first_href": (f"/admin/migrasi/{made.workflow}/uji?" + urlencode(kept)) if dry_run and made.after else None,
        "banner": banner, "under_way": under_way if under_way is not None and not under_way.done else None,
        "group_labels": {group.state: group.label for group in made.groups},
    }, status=status)
