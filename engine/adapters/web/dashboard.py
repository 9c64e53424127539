"""The dashboard (``/dasbor``) and its tables as CSV (``/dasbor/{table}.csv``), for roles with ``can: reports``.

The page parses the period, calls ``engine.app.dashboard.Dashboard.view`` (which checks the
capability) and shows each table with its SVG chart (``engine.adapters.web.charts``); the CSV of a
table is the same table's rows (``engine.adapters.web.csv_export``). Works without JavaScript: the
period is a plain GET form.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from engine.adapters.web import charts
from engine.adapters.web.auth import application_of, current_staff
from engine.adapters.web.csv_export import csv_text
from engine.adapters.web.rendering import environment, render
from engine.app.credentials import StaffMember
from engine.app.dashboard import Dashboard, DashboardView, table_of
from engine.core import dashboard as periods
from engine.core.dashboard import Table
from engine.core.localtime import span, zone_label
from engine.errors import InvalidInput, TreckkError

router = APIRouter()

Staff = Annotated[StaffMember, Depends(current_staff)]
Day = Annotated[str | None, Query(max_length=10)]
Workflow = Annotated[str | None, Query(max_length=64)]


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a date as YYYY-MM-DD, not {text!r}", field=name, value=text) from None


def _view(request: Request, staff: StaffMember, alur: str | None, dari: str | None, sampai: str | None) -> DashboardView:
    return Dashboard(application_of(request).commands).view(
        staff.username, workflow=alur or None, first=_day(dari, "dari"), last=_day(sampai, "sampai"))




@router.get("/dasbor", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, staff: Staff, alur: Workflow = None, dari: Day = None,
              sampai: Day = None) -> HTMLResponse:
    view = _view(request, staff, alur, dari, sampai)
    return render(request, "pages/dashboard.html", page_context(view))


@router.get("/dasbor/{table}.csv", include_in_schema=False)
def table_csv(request: Request, staff: Staff, table: str, alur: Workflow = None, dari: Day = None,
              sampai: Day = None) -> Response:
    view = _view(request, staff, alur, dari, sampai)
    found = table_of(view, table)
    name = f"dasbor-{view.workflow}-{found.name}-{view.first.isoformat()}_{view.last.isoformat()}.csv"
    body = csv_text([c.label for c in found.columns], found.rows)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- what the page shows -----------------------------------------------------------------------

def _shown(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "minutes":
        return span(float(value))
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(table: Table, query: str, *, hide: tuple[str, ...] = (), stack: bool = False) -> dict[str, Any]:
    """A table as the page shows it; ``stack``: on a phone, each row as a card of labelled values."""
    keep = [i for i, c in enumerate(table.columns) if c.key not in hide]
    return {"name": table.name, "title": table.title, "description": table.description,
            "headings": [(table.columns[i].label, table.columns[i].kind) for i in keep],
            "rows": [[(_shown(row[i], table.columns[i].kind), table.columns[i].kind) for i in keep]
                     for row in table.rows],
            "csv": f"/dasbor/{table.name}.csv?{query}", "stack": stack}


def _open_chart(table: Table) -> Markup:
    labels, opened, late = table.column("label"), table.column("terbuka"), table.column("terlambat")
    said = "; ".join(f"{label}: {n} terbuka, {m} terlambat" for label, n, m in zip(labels, opened, late))
    return charts.bars(table.name, table.title, f"{table.description} {said}.", labels,
                       [(float(n), float(m)) for n, m in zip(opened, late)],
                       (charts.Series("Terbuka", charts.BLUE), charts.Series("Terlambat", charts.RED)),
                       stacked_inside=True)


def _weekly_chart(table: Table) -> Markup:
    weeks, got, closed = table.column("mulai"), table.column("diterima"), table.column("ditutup")
    said = "; ".join(f"minggu mulai {w}: {a} diterima, {b} ditutup" for w, a, b in zip(weeks, got, closed))
    labels = [periods.short_day(date.fromisoformat(w))[:-5] for w in weeks]
    return charts.columns(table.name, table.title, f"Per minggu. {said}.", labels,
                          [(float(a), float(b)) for a, b in zip(got, closed)],
                          (charts.Series("Diterima", charts.BLUE), charts.Series("Ditutup", charts.GREEN)))


def _durations_chart(table: Table) -> Markup:
    labels, medians, p90s = table.column("keadaan"), table.column("median_menit"), table.column("p90_menit")
    texts = [(f"median {_shown(m, 'minutes')}", f"persentil ke-90 {_shown(p, 'minutes')}") if m is not None
             else ("belum ada",) for m, p in zip(medians, p90s)]
    said = "; ".join(f"{label}: {', '.join(text)}" for label, text in zip(labels, texts))
    return charts.bars(table.name, table.title, f"Dalam menit. {said}.", labels,
                       [(float(m or 0), float(p or 0)) for m, p in zip(medians, p90s)],
                       (charts.Series("Median", charts.BLUE), charts.Series("Persentil ke-90", charts.GREY)),
                       texts=texts)


def _links(view: DashboardView) -> list[dict[str, Any]]:
    today = view.today
    choices = [("30 hari terakhir", periods.default_days(today)), ("Bulan ini", periods.this_month(today)),
               ("Bulan lalu", periods.previous_month(today)),
               ("12 minggu terakhir", (today - timedelta(days=83), today)),
               ("Tahun ini", (today.replace(month=1, day=1), today))]
    found = []
    for label, (first, last) in choices:
        query = urlencode({"alur": view.workflow, "dari": first.isoformat(), "sampai": last.isoformat()})
        found.append({"label": label, "href": f"/dasbor?{query}", "current": (first, last) == (view.first, view.last)})
    return found


def page_context(view: DashboardView) -> dict[str, Any]:
    """What ``pages/dashboard.html`` shows: each table with its chart, and the period's form."""
    definition = view.definition
    query = urlencode({"alur": view.workflow, "dari": view.first.isoformat(), "sampai": view.last.isoformat()})
    tables = view.tables
    scope_table = tables.get(f"terbuka-{definition.scope_field}") if definition.scope_field else None
    sections = [{**_table(tables["terbuka-keadaan"], query, hide=("keadaan",)),
                 "chart": _open_chart(tables["terbuka-keadaan"])}]
    if scope_table is not None:
        sections.append({**_table(scope_table, query, hide=("kode",)),
                         "chart": _open_chart(scope_table)})
    sections.append({**_table(tables["terlambat"], query, stack=True), "chart": None})
    sections.append({**_table(tables["mingguan"], query, hide=("mulai",)), "chart": _weekly_chart(tables["mingguan"])})
    sections.append({**_table(tables["durasi"], query), "chart": _durations_chart(tables["durasi"])})
    recap = [_table(tables["rekap"], query),
             *(_table(t, query) for name, t in tables.items() if name.startswith("rekap-"))]
    return {"view": view, "definition": definition, "sections": sections, "recap": recap, "links": _links(view),
            "zone_label": zone_label(definition.timezone), "query": query,
            "case_label": definition.case_label, "ratings": view.ratings,
            "workflows": view.workflows}
