"""The dashboard's arithmetic (pure): its period, its weeks, and its tables from counted rows.

A dashboard covers a period of whole local days ``[first, last]`` in the workflow's time zone
(stored and compared as UTC instants ``[start, end)``). Its tables are plain data — columns and
rows of values — so the page, its charts and the CSV downloads show the very same numbers. Which
states, which scope field, which outcomes and breakdowns: all from the definition.

What each table counts:

- ``terbuka-keadaan`` / ``terbuka-<scope field>``: open cases now (any non-final state of any
  deployed version), by state and by scope value, and how many of them are past their deadline now.
- ``terlambat``: the open cases past their deadline now, by state and scope value, with the
  roles (and the active staff holding them for that scope value) whose trigger the case waits on.
- ``mingguan``: per week (Monday to Sunday, local; the first and last clipped to the period) the
  cases received and the cases that reached a final state.
- ``durasi``: per non-final state, the stays that ended in the period (the case moved out of the
  state then): how many, and the median and 90th percentile of their length in minutes; and the
  recap's intake-to-final-state median and 90th percentile.
- ``rekap`` and ``rekap-<field>``: the monthly recap's measures (``engine.core.reports``) for the
  dashboard's period, in total and per value of each ``reports.breakdowns`` field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.core.localtime import MONTHS
from engine.core.reports import MISSING_VALUE, Period
from engine.definition.model import WorkflowDefinition
from engine.errors import InvalidInput

MAX_DAYS = 732
"""The longest period a dashboard covers (two years): its weeks are groups, and groups bound the memory."""


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its key, its heading, and its kind (``text``, ``count``, ``minutes`` or ``date``)."""

    key: str
    label: str
    kind: str = "count"


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the dashboard: ``name`` is its address (``/dasbor/<name>.csv``)."""

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def column(self, key: str) -> list[Any]:
        """The values of column ``key``, top to bottom."""
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]


@dataclass(frozen=True, slots=True)
class Week:
    """A week of the period: its first and last local day (clipped to the period) and its instants."""

    first: date
    last: date
    start: datetime
    end: datetime


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def short_day(day: date) -> str:
    """``30 Nov 2026``."""
    return f"{day.day} {MONTHS[day.month - 1][:3]} {day.year}"


def days_label(first: date, last: date) -> str:
    """``1 Nov 2026 – 30 Nov 2026`` (one day: just that day)."""
    return short_day(first) if first == last else f"{short_day(first)} – {short_day(last)}"


def period_of(first: date, last: date, timezone: str) -> Period:
    """The instants ``[start, end)`` of the local days ``first`` to ``last`` (both included).

    InvalidInput when ``last`` is before ``first`` or the period is longer than ``MAX_DAYS``.
    """
    if last < first:
        raise InvalidInput(f"the period ends ({last}) before it begins ({first}); give the earlier date first",
                           field="sampai", value=str(last))
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period of {(last - first).days + 1} days is too long; at most {MAX_DAYS} days",
                           field="dari", value=str(first), accepted=(f"at most {MAX_DAYS} days",))
    zone = ZoneInfo(timezone)
    return Period(_midnight(first, zone), _midnight(last + timedelta(days=1), zone), days_label(first, last))


DEFAULT_DAYS = 30


def default_days(today: date) -> tuple[date, date]:
    """The period a dashboard opens on: the last ``DEFAULT_DAYS`` days, today included."""
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def this_month(today: date) -> tuple[date, date]:
    """This month so far: its first day to today."""
    return today.replace(day=1), today


def previous_month(today: date) -> tuple[date, date]:
    """The calendar month before ``today``'s (the monthly recap's period)."""
    end = today.replace(day=1)
    last = end - timedelta(days=1)
    return last.replace(day=1), last


def weeks(first: date, last: date, timezone: str) -> list[Week]:
    """Monday-to-Sunday weeks covering ``first`` to ``last``, the first and last clipped to them."""
    zone = ZoneInfo(timezone)
    found = []
    day = first
    while day <= last:
        sunday = min(last, day + timedelta(days=6 - day.weekday()))
        found.append(Week(day, sunday, _midnight(day, zone), _midnight(sunday + timedelta(days=1), zone)))
        day = sunday + timedelta(days=1)
    return found


# -- labels ------------------------------------------------------------------------------------

def state_label(definition: WorkflowDefinition, state: str) -> str:
    spec = definition.states.get(state)
    return spec.label if spec is not None else state


def value_label(definition: WorkflowDefinition, field: str | None, value: Any) -> str:
    """A field value as people read it (a choice's label); ``Belum diisi`` when empty."""
    if value in (None, ""):
        return MISSING_VALUE
    spec = definition.fields.get(field) if field else None
    if spec is not None and spec.choices:
        return str(spec.choices.get(value, value))
    return str(value)


def _value_order(definition: WorkflowDefinition, field: str | None, values: Sequence[Any]) -> list[Any]:
    """The field's choices in their order (every one, counted or not), then other values, then the empty one."""
    spec = definition.fields.get(field) if field else None
    choices = list(spec.choices) if spec is not None else []
    others = sorted({v for v in values if v not in choices and v not in (None, "")}, key=str)
    empty = [None] if any(v in (None, "") for v in values) else []
    return [*choices, *others, *empty]


# -- the tables --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OpenGroup:
    """Open cases of one state and scope value now: how many, how many past their deadline, the earliest deadline."""

    state: str
    scope: str | None
    count: int
    overdue: int
    earliest_due: datetime | None


@dataclass(frozen=True, slots=True)
class Stay:
    """The stays in one state that ended in the period: how many, their median and 90th percentile in minutes."""

    count: int
    median_minutes: float | None
    p90_minutes: float | None


def _state_order(definition: WorkflowDefinition, states: Sequence[str]) -> list[str]:
    known = [name for name, spec in definition.states.items() if not spec.final]
    return [*known, *sorted({s for s in states if s not in known})]


def open_by_state(definition: WorkflowDefinition, groups: Sequence[OpenGroup]) -> Table:
    counts: dict[str, list[int]] = {}
    for group in groups:
        total = counts.setdefault(group.state, [0, 0])
        total[0] += group.count
        total[1] += group.overdue
    rows = tuple((state, state_label(definition, state), *counts.get(state, (0, 0)))
                 for state in _state_order(definition, list(counts)))
    noun = definition.case_label.capitalize()
    return Table("terbuka-keadaan", f"{noun} terbuka menurut keadaan",
                 f"{noun} yang belum selesai saat ini di setiap keadaan, dan berapa di antaranya melewati batas waktu.",
                 (Column("keadaan", "Kode keadaan", "text"), Column("label", "Keadaan", "text"),
                  Column("terbuka", "Terbuka"), Column("terlambat", "Terlambat")), rows)


def open_by_scope(definition: WorkflowDefinition, groups: Sequence[OpenGroup]) -> Table | None:
    field = definition.scope_field
    if not field:
        return None
    counts: dict[Any, list[int]] = {}
    for group in groups:
        key = None if group.scope in (None, "") else group.scope
        total = counts.setdefault(key, [0, 0])
        total[0] += group.count
        total[1] += group.overdue
    label = definition.fields[field].label if field in definition.fields else field
    rows = tuple((value if value is not None else "", value_label(definition, field, value), *counts.get(value, (0, 0)))
                 for value in _value_order(definition, field, list(counts)))
    noun = definition.case_label.capitalize()
    return Table(f"terbuka-{field}", f"{noun} terbuka menurut {label.lower()}",
                 f"{noun} yang belum selesai saat ini di setiap {label.lower()}, dan berapa yang melewati batas waktu.",
                 (Column("kode", f"Kode {label.lower()}", "text"), Column("label", label, "text"),
                  Column("terbuka", "Terbuka"), Column("terlambat", "Terlambat")), rows)


def overdue_now(definition: WorkflowDefinition, groups: Sequence[OpenGroup], now: datetime,
                waits_on: Mapping[tuple[str, str | None], str]) -> Table:
    """``waits_on``: per (state, scope value), who the cases wait on, as one line of text."""
    field = definition.scope_field
    label = definition.fields[field].label if field and field in definition.fields else "Cakupan"
    late = sorted((g for g in groups if g.overdue), key=lambda g: (g.earliest_due or now, g.state, g.scope or ""))
    rows = tuple((state_label(definition, g.state), value_label(definition, field, g.scope), g.overdue,
                  round((now - g.earliest_due).total_seconds() / 60, 1) if g.earliest_due is not None else None,
                  waits_on.get((g.state, g.scope), "-"))
                 for g in late)
    noun = definition.case_label.capitalize()
    return Table("terlambat", "Terlambat sekarang, dan menunggu siapa",
                 f"{noun} yang melewati batas waktu saat ini, per keadaan dan {label.lower()}, dengan peran "
                 f"(dan petugas aktifnya) yang harus bertindak; yang paling lama terlambat di atas.",
                 (Column("keadaan", "Keadaan", "text"), Column("cakupan", label, "text"),
                  Column("terlambat", "Terlambat"), Column("paling_lama_menit", "Paling lama terlambat", "minutes"),
                  Column("menunggu", "Menunggu", "text")), rows)


def weekly(definition: WorkflowDefinition, found: Sequence[Week], counts: Sequence[tuple[int, int]]) -> Table:
    rows = tuple((days_label(week.first, week.last), week.first.isoformat(), received, closed)
                 for week, (received, closed) in zip(found, counts))
    noun = definition.case_label.capitalize()
    return Table("mingguan", f"{noun} diterima dan ditutup per minggu",
                 f"{noun} yang masuk dan yang mencapai keadaan akhir setiap minggu (Senin sampai Minggu) "
                 f"dalam periode.",
                 (Column("minggu", "Minggu", "text"), Column("mulai", "Mulai", "date"),
                  Column("diterima", "Diterima"), Column("ditutup", "Ditutup")), rows)


def durations(definition: WorkflowDefinition, stays: Mapping[str, Stay], recap: Mapping[str, Any]) -> Table:
    rows: list[tuple[Any, ...]] = []
    for state in _state_order(definition, list(stays)):
        stay = stays.get(state, Stay(0, None, None))
        rows.append((state_label(definition, state), stay.count, _rounded(stay.median_minutes),
                     _rounded(stay.p90_minutes)))
    finished = sum(int(recap.get(name, 0)) for name in definition.reports.outcomes)
    rows.append(("Dari masuk sampai keadaan akhir", finished, _rounded(recap.get("median_minutes")),
                 _rounded(recap.get("p90_minutes"))))
    return Table("durasi", "Lama waktu di setiap keadaan",
                 "Median dan persentil ke-90 lamanya tinggal di setiap keadaan, atas kunjungan yang berakhir dalam "
                 f"periode; baris terakhir: dari {definition.case_label} masuk sampai keadaan akhir, atas yang "
                 "ditutup dalam periode.",
                 (Column("keadaan", "Keadaan", "text"), Column("jumlah", "Jumlah"),
                  Column("median_menit", "Median", "minutes"), Column("p90_menit", "Persentil ke-90", "minutes")),
                 tuple(rows))


def _rounded(minutes: Any) -> float | None:
    return None if minutes is None else round(float(minutes), 1)


def outcome_label(definition: WorkflowDefinition, outcome: str) -> str:
    """An outcome as people read it: the labels of its final states."""
    return " / ".join(state_label(definition, s) for s in definition.reports.outcomes[outcome])


def _measure_columns(definition: WorkflowDefinition) -> tuple[Column, ...]:
    return (Column("received", "Diterima"),
            *(Column(name, outcome_label(definition, name)) for name in definition.reports.outcomes),
            Column("open", "Masih terbuka"), Column("overdue", "Melewati batas waktu"),
            Column("median_minutes", "Median penanganan", "minutes"),
            Column("p90_minutes", "Persentil ke-90", "minutes"))


def _measures_row(definition: WorkflowDefinition, columns: Sequence[Column], values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(_rounded(values.get(c.key)) if c.kind == "minutes" else values.get(c.key, 0) for c in columns)


def recap_totals(definition: WorkflowDefinition, report: Mapping[str, Any]) -> Table:
    """One row: the recap's measures of the whole workflow in the period."""
    columns = _measure_columns(definition)
    return Table("rekap", "Rekap periode",
                 "Ukuran rekap bulanan definisi alur, dihitung untuk periode yang dipilih.",
                 columns, (_measures_row(definition, columns, report),))


def recap_breakdowns(definition: WorkflowDefinition, report: Mapping[str, Any]) -> list[Table]:
    found = []
    for field in definition.reports.breakdowns:
        label = definition.fields[field].label if field in definition.fields else field
        columns = (Column("nama", label, "text"), *_measure_columns(definition))
        rows = tuple((group["name"], *_measures_row(definition, columns[1:], group))
                     for group in report.get(f"per_{field}", ()))
        found.append(Table(f"rekap-{field}", f"Rekap menurut {label.lower()}",
                           f"Ukuran rekap yang sama untuk setiap {label.lower()} yang punya {definition.case_label} "
                           f"dalam periode.", columns, rows))
    return found
