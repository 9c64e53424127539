"""The inbox (``/`` and ``/kotak-masuk``): what waits for me, overdue first, then by deadline."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from engine.adapters.web.auth import current_staff
import engine.adapters.web.pages.common as common
from engine.app.credentials import StaffMember

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]


def _yes_no(text: str | None) -> bool | None:
    if text in ("ya", "1", "true"):
        return True
    if text in ("tidak", "0", "false"):
        return False
    return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/kotak-masuk", response_class=HTMLResponse, include_in_schema=False)
def inbox(request: Request, staff: Staff, status: Annotated[str | None, Query(max_length=64)] = None,
          wilayah: Annotated[str | None, Query(max_length=64)] = None,
          kategori: Annotated[str | None, Query(max_length=64)] = None,
          terlambat: Annotated[str | None, Query(max_length=8)] = None,
          cari: Annotated[str | None, Query(max_length=200)] = None,
          setelah: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    app = common.application(request)
    definitions = app.queries.deployed()
    definition = definitions[0]
    filters: dict[str, Any] = {"status": status or "", "wilayah": wilayah or "", "kategori": kategori or "",
                               "terlambat": terlambat or "", "cari": cari or ""}
    page = common.inbox_page(app.queries, staff.username, state=status or None, scope=wilayah or None,
                             category=kategori or None, overdue=_yes_no(terlambat), search=(cari or "").strip() or None,
                             after=setelah or None)
    now = app.clock()
    category = common.category_field(definition)
    rows = []
    for case in page["cases"]:
        rows.append({**case, "countdown": common.countdown(case.get("deadline"), now),
                     "late": bool(case.get("deadline") and case["deadline"]["overdue"]),
                     "category_label": _label(definition, category, case.get(category) if category else None),
                     "scope_label": _label(definition, definition.scope_field, case.get("scope")),
                     "summary": _summary(case)})
    keep = {k: v for k, v in filters.items() if v}
    tabs = [{"label": "Semua", "count": page["counts"]["semua"], "href": "/kotak-masuk",
             "current": not status and not terlambat},
            {"label": "Terlambat", "count": page["counts"]["terlambat"], "href": "/kotak-masuk?terlambat=ya",
             "current": terlambat == "ya" and not status}]
    for state, count in page["counts"]["by_state"].items():
        label = definition.states[state].label if state in definition.states else state
        tabs.append({"label": label, "count": count, "href": "/kotak-masuk?" + urlencode({"status": state}),
                     "current": status == state})
    next_href = "/kotak-masuk?" + urlencode({**keep, "setelah": page["next"]}) if page["next"] else None
    scoped = [role for role in staff.in_workflow(definition.name).roles
              if role in definition.roles.roles and definition.roles.roles[role].scoped]
    return common.render(request, "inbox.html", {
        "staff": staff, "definition": definition, "rows": rows, "tabs": tabs, "filters": filters,
        "next_href": next_href, "states": [(n, s.label) for n, s in definition.states.items() if not s.final],
        "scope_choices": _choices(definition, definition.scope_field),
        "category_choices": _choices(definition, category),
        "scope_name": definition.fields[definition.scope_field].label if definition.scope_field else "",
        "category_name": definition.fields[category].label if category else "",
        "scoped": bool(scoped), "my_scope": staff.in_workflow(definition.name).scope,
        "roles": [definition.roles.label(r) for r in staff.in_workflow(definition.name).roles],
        "may_record": any(r in definition.intake.roles for r in staff.in_workflow(definition.name).roles),
        "case_label": definition.case_label, "zone": definition.timezone,
    })


def _choices(definition: Any, name: str | None) -> list[tuple[str, str]]:
    if not name or name not in definition.fields:
        return []
    return list(definition.fields[name].choices.items())


def _label(definition: Any, name: str | None, value: Any) -> str:
    if value is None or not name or name not in definition.fields:
        return "-" if value is None else str(value)
    return str(definition.fields[name].choices.get(value, value))


def _summary(case: dict[str, Any]) -> str:
    """A line of the case's own words for the list (masked data only), at most 120 characters."""
    for value in case.get("data", {}).values():
        if isinstance(value, str) and len(value) > 30:
            return value if len(value) <= 120 else value[:117] + "…"
    return ""
