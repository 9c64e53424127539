"""The definition editor (``/admin/definisi``): versions, open, check, diff, try and deploy an edit.

One form holds the edit (workflow, roles, templates as text, or uploaded files, and a scenario); its
buttons post it to ``periksa`` (check), ``selisih`` (diff), ``coba`` (try) or ``pasang`` (deploy). Every
answer shows the form again with the texts as sent, so nothing typed is lost to a failed check; only
``pasang`` writes, through ``application.definitions`` (which checks the ``deploy`` capability itself).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import engine.adapters.web.pages.common as common
from engine.adapters.web.definitions.view import forbidden as view_forbidden, render as render_page
import engine.adapters.web.pages.uploads as uploads
from engine.adapters.web.auth import csrf_checked, current_staff
from engine.app.credentials import StaffMember
from engine.app.definition_desk import (
    MAX_FILE_BYTES, ROLES_FILE, WORKFLOW_FILE, Checked, DefinitionDesk, Edit, Located, locate,
)
from engine.errors import Conflict, DefinitionError, InvalidInput, NotFound, PermissionDenied

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]
WORKFLOW_NAME = r"^[a-z][a-z0-9_]{0,63}$"
TEMPLATE_PREFIX = "templat:"
"""A template's textarea is named ``templat:<file name>``."""
CONTEXT_LINES = 2
"""Lines of source shown around each problem."""
FILE_LABELS = {WORKFLOW_FILE: "Alur", ROLES_FILE: "Peran", "scenario": "Skenario"}
FORBIDDEN = "Anda tidak berwenang menyunting definisi alur."


def desk(request: Request) -> DefinitionDesk:
    return common.application(request).definitions


def forbidden(request: Request, staff: StaffMember, message: str = FORBIDDEN) -> HTMLResponse:
    return view_forbidden(request, message)


@dataclass
class EditForm:
    """What the editor form sent: the texts of the edit, the scenario, and a message per field."""

    workflow_text: str
    roles_text: str
    templates: dict[str, str]
    scenario: str
    version: int | None
    errors: dict[str, str] = field(default_factory=dict)


@router.get("/admin/definisi", response_class=HTMLResponse, include_in_schema=False)
def versions(request: Request, staff: Staff) -> HTMLResponse:
    try:
        found = desk(request).versions(staff.username)
    except PermissionDenied:
        return forbidden(request, staff)
    zone = common.application(request).queries.deployed()[0].timezone
    return render_page(request, "versions.html", {"staff": staff, "workflows": found, "zone": zone})


@router.get("/admin/definisi/{workflow}", response_class=HTMLResponse, include_in_schema=False)
def editor(request: Request, staff: Staff, workflow: str,
           versi: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
           terpasang: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> HTMLResponse:
    try:
        opened, bundle = desk(request).opened(staff.username, workflow, versi)
    except PermissionDenied:
        return forbidden(request, staff)
    except NotFound:
        return common.render(request, "not_found.html", {
            "staff": staff, "message": f"Alur {workflow!r} versi {versi or 'terbaru'} tidak ada."}, status=404)
    form = EditForm(bundle.workflow_text, bundle.roles_text, dict(bundle.templates),
                    desk(request).default_scenario(workflow), opened)
    banner = (f"Versi {terpasang} terpasang. Kasus yang sedang berjalan tetap pada versinya sampai dimigrasikan.",
              "ok") if terpasang else None
    return _page(request, staff, workflow, form, banner=banner, migrate_link=bool(terpasang))


@router.post("/admin/definisi/{workflow}/{action}", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(current_staff), Depends(csrf_checked)])
async def act(request: Request, staff: Staff, workflow: str, action: str) -> Response:
    if action not in ACTIONS:
        return common.render(request, "not_found.html", {"staff": staff, "message": "Tindakan ini tidak ada."},
                             status=404)
    form = await _read_form(await request.form())
    return await run_in_threadpool(ACTIONS[action], request, staff, workflow, form)


def _check(request: Request, staff: StaffMember, workflow: str, form: EditForm) -> Response:
    edit = _edit(request, workflow, form)
    if isinstance(edit, Response):
        return edit
    checked = desk(request).check(staff.username, workflow, edit)
    return _page(request, staff, workflow, form, checked=checked, edit=edit)


def _diff(request: Request, staff: StaffMember, workflow: str, form: EditForm) -> Response:
    edit = _edit(request, workflow, form)
    if isinstance(edit, Response):
        return edit
    diffs = desk(request).diff(staff.username, workflow, edit, None)
    return _page(request, staff, workflow, form, diffs=diffs, edit=edit)


def _try(request: Request, staff: StaffMember, workflow: str, form: EditForm) -> Response:
    edit = _edit(request, workflow, form)
    if isinstance(edit, Response):
        return edit
    try:
        tried = desk(request).try_scenario(staff.username, workflow, edit, form.scenario)
    except InvalidInput as exc:
        form.errors["skenario"] = str(exc)
        return _page(request, staff, workflow, form, status=422, edit=edit)
    if tried.problems:
        checked = Checked(tuple(p for p in tried.problems if p.file != "scenario"))
        scenario = tuple(p for p in tried.problems if p.file == "scenario")
        if scenario:
            form.errors["skenario"] = "Skenario belum benar; lihat masalah yang ditandai di atas."
        return _page(request, staff, workflow, form, checked=checked if checked.problems else None,
                     scenario_problems=scenario, status=422, edit=edit)
    return _page(request, staff, workflow, form, tried=tried, edit=edit)


def _deploy(request: Request, staff: StaffMember, workflow: str, form: EditForm) -> Response:
    edit = _edit(request, workflow, form)
    if isinstance(edit, Response):
        return edit
    try:
        stored, fresh = desk(request).deploy(staff.username, workflow, edit)
    except DefinitionError as exc:
        checked = Checked(locate(edit, exc.problems))
        return _page(request, staff, workflow, form, checked=checked, status=422, edit=edit,
                     banner=("Tidak dipasang: definisi ini masih bermasalah.", "error"))
    except (InvalidInput, Conflict) as exc:
        form.errors["alur"] = f"Tidak dipasang: {exc}"
        return _page(request, staff, workflow, form, status=exc.http_status, edit=edit,
                     banner=("Tidak dipasang.", "error"))
    if not fresh:
        return _page(request, staff, workflow, form, edit=edit,
                     banner=(f"Isi ini sudah terpasang sebagai versi {stored.version}; tidak ada yang diubah.", "info"))
    return RedirectResponse(f"/admin/definisi/{workflow}?terpasang={stored.version}", status_code=303)


ACTIONS = {"periksa": _check, "selisih": _diff, "coba": _try, "pasang": _deploy}


# -- reading the form ---------------------------------------------------------------------------


async def _read_form(form: FormData) -> EditForm:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    templates = {key[len(TEMPLATE_PREFIX):]: value for key, value in form.multi_items()
                 if key.startswith(TEMPLATE_PREFIX) and isinstance(value, str)}
    raw_version = text("versi")
    edit = EditForm(text("alur"), text("peran"), templates, text("skenario"),
                    int(raw_version) if raw_version.isdigit() and len(raw_version) < 10 else None)
    received = await uploads.receive(form, ["berkas_alur", "berkas_peran", "berkas_templat"], MAX_FILE_BYTES)
    for name in received.too_large:
        edit.errors[name] = f"Berkas terlalu besar; paling besar {MAX_FILE_BYTES // 1024} KiB."
    for name, files in received.files.items():
        for filename, data in files:
            try:
                content = data.decode("utf-8")
            except UnicodeDecodeError:
                edit.errors[name] = f"Berkas {filename} bukan teks UTF-8; simpan sebagai UTF-8 lalu unggah lagi."
                continue
            if name == "berkas_alur":
                edit.workflow_text = content
            elif name == "berkas_peran":
                edit.roles_text = content
            else:
                base = filename.replace("\\", "/").rsplit("/", 1)[-1]
                if not base.endswith(".j2"):
                    edit.errors[name] = f"Berkas {base} bukan templat (nama templat berakhiran .j2)."
                    continue
                edit.templates[base] = content
    return edit


def _edit(request: Request, workflow: str, form: EditForm) -> Edit | Response:
    """The edit as a bundle; the form again (422, the message next to the field) when it cannot be one."""
    staff = current_staff(request)
    if form.errors:
        return _page(request, staff, workflow, form, status=422, banner=("Berkas unggahan tidak dapat dibaca.", "error"))
    try:
        edit = desk(request).draft(workflow, form.workflow_text, form.roles_text, form.templates)
    except NotFound:
        return common.render(request, "not_found.html", {"staff": staff, "message": f"Alur {workflow!r} tidak ada."},
                             status=404)
    except InvalidInput as exc:
        key = {WORKFLOW_FILE: "alur", ROLES_FILE: "peran"}.get(exc.field or "", "berkas_templat")
        form.errors[key] = str(exc)
        return _page(request, staff, workflow, form, status=422, banner=("Suntingan tidak dapat dibaca.", "error"))
    # The form shows the texts as checked (line ends made \n), so the line numbers match what is typed.
    form.workflow_text, form.roles_text, form.templates = edit.workflow_text, edit.roles_text, dict(edit.templates)
    form.scenario = form.scenario.replace("\r\n", "\n")
    return edit


# -- the page -----------------------------------------------------------------------------------


def _page(request: Request, staff: StaffMember, workflow: str, form: EditForm, *, status: int = 200,
          checked: Checked | None = None, diffs: Sequence[Any] | None = None, tried: Any = None,
          scenario_problems: Sequence[Located] = (), edit: Edit | None = None,
          banner: tuple[str, str] | None = None, migrate_link: bool = False) -> HTMLResponse:
    app = common.application(request)
    try:
        definition = app.queries.definition(workflow)
        # The page is only for members who may deploy (the desk checks again on every action).
        desk(request).opened(staff.username, workflow, None)
    except PermissionDenied:
        return forbidden(request, staff)
    except NotFound:
        return common.render(request, "not_found.html", {"staff": staff, "message": f"Alur {workflow!r} tidak ada."},
                             status=404)
    texts = {WORKFLOW_FILE: form.workflow_text, ROLES_FILE: form.roles_text}
    excerpts = _excerpts(checked.problems, texts) if checked is not None else []
    scenario_excerpts = _excerpts(scenario_problems, {"scenario": form.scenario}) if scenario_problems else []
    drawing = checked.drawing if checked is not None else None
    tall = checked.tall if checked is not None else None
    svg, tall_svg = (base64.b64encode(d.svg.encode("utf-8")).decode("ascii") if d and d.svg else None
                     for d in (drawing, tall))
    return render_page(request, "editor.html", {
        "staff": staff, "workflow": workflow, "title": definition.title, "latest": definition.version,
        "form": form, "templates": sorted(form.templates.items()), "checked": checked, "excerpts": excerpts,
        "scenario_excerpts": scenario_excerpts, "drawing": drawing, "svg": svg, "tall_svg": tall_svg,
        "checked_definition": checked.definition if checked is not None else None,
        "diffs": diffs, "tried": tried, "banner": banner, "zone": definition.timezone,
        "migrate_link": migrate_link and "migrate" in app.queries.capabilities(staff.username, workflow),
    }, status=status)


@dataclass
class ExcerptLine:
    number: int
    text: str
    problems: list[Located]


@dataclass
class Excerpt:
    """The lines of one file around its problems, in runs of consecutive lines."""

    file: str
    label: str
    runs: list[list[ExcerptLine]]
    count: int


def _excerpts(problems: Sequence[Located], texts: Mapping[str, str]) -> list[Excerpt]:
    """Per file with problems: the problem lines with ``CONTEXT_LINES`` around, each problem under its line."""
    found = []
    for name in dict.fromkeys(p.file for p in problems):
        mine = [p for p in problems if p.file == name]
        lines = texts.get(name, "").split("\n")
        last = max(len(lines), max(p.line for p in mine))
        wanted = sorted({n for p in mine for n in range(max(1, p.line - CONTEXT_LINES),
                                                       min(last, p.line + CONTEXT_LINES) + 1)})
        runs: list[list[ExcerptLine]] = []
        for number in wanted:
            row = ExcerptLine(number, lines[number - 1] if number <= len(lines) else "",
                              [p for p in mine if p.line == number])
            if runs and runs[-1][-1].number == number - 1:
                runs[-1].append(row)
            else:
                runs.append([row])
        found.append(Excerpt(name, FILE_LABELS.get(name, name), runs, len(mine)))
    return found
