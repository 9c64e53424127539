"""The dashboard's numbers: equal to the monthly recap's, to SQL written by hand, and to known values;
every statement behind it on an index; who may open it; its period. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from engine.app.commands import Commands
from engine.app.dashboard import Dashboard, DashboardView, rows_as_dicts, table_of
from engine.app.reports import build_report, open_states_of
from engine.core import dashboard as periods
from engine.core.reports import percentile
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.store.schema import UTCDateTime
from tests.conftest import COMPLAINT, ROOT, STAFF, FakeClock
from tests.test_query_plans import full_scans, recorded, _reads_growing

WITA = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=WITA)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WITA)


def seed(engine: Commands, clock: FakeClock) -> dict[str, str]:
    """Seven complaints with known times (WITA) around November 2026; the clock ends at NOW."""
    numbers: dict[str, str] = {}

    def opened(name: str, when: datetime, **values: Any) -> str:
        clock.set(when)
        numbers[name] = engine.submit("admin", {**COMPLAINT, **values}).number
        return numbers[name]

    def move(name: str, when: datetime, trigger: str, actor: str, values: dict[str, Any] | None = None) -> None:
        clock.set(when)
        engine.advance(numbers[name], trigger, actor, values)

    opened("D", at(28, 9, month=10), kecamatan="juai")
    opened("A", at(2, 9))
    move("A", at(2, 10), "teruskan", "admin")
    move("A", at(2, 13), "tolak", "kabid", {"alasan": "Bukan pelanggaran Perda"})
    opened("B", at(3, 8), kecamatan="juai", kategori="bangunan_liar")
    move("B", at(3, 8, 30), "teruskan", "admin")
    move("D", at(4, 9), "teruskan", "admin")
    move("B", at(5, 8, 30), "limpahkan", "kabid", {"instansi": "Dinas PUPR", "alasan": "Kewenangan dinas"})
    opened("C", at(10, 8))
    move("C", at(10, 9, 30), "teruskan", "admin")
    move("C", at(10, 10), "minta_verifikasi", "kabid", {"instruksi": "Cek lokasi"})
    move("C", at(11, 10), "laporkan_verifikasi", "tim_paringin",
         {"temuan": "Benar ada PKL", "laporan_benar": True})
    move("C", at(11, 11), "tugaskan", "kabid", {"instruksi": "Tertibkan"})
    move("C", at(11, 12), "mulai_tangani", "tim_paringin")
    move("C", at(12, 12), "laporkan_hasil", "tim_paringin", {"tindakan": "Ditertibkan", "hasil": "Jalan bersih"})
    move("C", at(13, 8), "sahkan", "kabid")
    opened("E", at(20, 9), kecamatan="halong", kategori="keributan")
    opened("F", at(25, 9), kecamatan="juai")
    move("F", at(25, 10), "teruskan", "admin")
    clock.set(at(26, 9))
    engine.escalate()
    opened("G", at(1, 9, month=12))
    clock.set(NOW)
    return numbers


@pytest.fixture
def seeded(engine: Commands, clock: FakeClock) -> dict[str, str]:
    return seed(engine, clock)


def november(engine: Commands, viewer: str = "kasat") -> DashboardView:
    return Dashboard(engine).view(viewer, first=date(2026, 11, 1), last=date(2026, 11, 30))


def test_the_dashboard_recap_equals_the_monthly_recap(engine: Commands, seeded: dict[str, str]) -> None:
    view = november(engine)
    fire = datetime(2026, 12, 1, 8, 0, tzinfo=WITA)

    def recap(connection: Any) -> dict[str, Any]:
        definition = engine.compiled(connection, "treckk").definition
        return build_report(connection, definition, fire, engine.clock(),
                            open_states=open_states_of(engine, connection, "treckk"))

    report = engine.db.read(recap)
    [totals] = rows_as_dicts(view.tables["rekap"])
    for key, value in totals.items():
        expected = report[key]
        assert value == (round(expected, 1) if isinstance(expected, float) else expected), key
    for field in ("kecamatan", "kategori"):
        rows = rows_as_dicts(view.tables[f"rekap-{field}"])
        assert [r["nama"] for r in rows] == [g["name"] for g in report[f"per_{field}"]]
        for row, group in zip(rows, report[f"per_{field}"]):
            for key, value in row.items():
                if key != "nama":
                    expected = group[key]
                    assert value == (round(expected, 1) if isinstance(expected, float) else expected), (field, key)
    # And the known values: A (rejected), B (referred), C (completed) closed in November; D opened in
    # October, G in December; A, B, C, E, F received in November.
    assert totals["received"] == 5
    assert (totals["completed"], totals["rejected"], totals["referred"]) == (1, 1, 1)
    assert totals["median_minutes"] == 2910.0  # intake to close: A 240, B 2910, C 4320


def _hand(engine: Commands, sql: str, **params: Any) -> list[Any]:
    statement = text(sql).bindparams(*(bindparam(name, type_=UTCDateTime()) for name, value in params.items()
                                       if isinstance(value, datetime)))
    with engine.db.begin() as connection:
        return [tuple(row) for row in connection.execute(statement, params)]


def test_open_cases_by_state_and_scope_equal_hand_written_sql(engine: Commands, seeded: dict[str, str]) -> None:
    view = november(engine)
    now = engine.clock()
    opened = "'diterima','ditelaah','verifikasi','ditugaskan','ditangani','menunggu_pengesahan'"
    by_state = dict((s, (n, late)) for s, n, late in _hand(engine, f"""
        SELECT state, count(*), sum(CASE WHEN due_at < :now THEN 1 ELSE 0 END) FROM cases
        WHERE workflow = 'treckk' AND state IN ({opened}) GROUP BY state""", now=now))
    shown = {r["keadaan"]: (r["terbuka"], r["terlambat"]) for r in rows_as_dicts(view.tables["terbuka-keadaan"])}
    assert {s: v for s, v in shown.items() if v != (0, 0)} == by_state
    # D (ditelaah since 4 Nov), E (diterima since 20 Nov), F (ditelaah since 25 Nov), G (diterima, 1 Dec).
    assert by_state == {"diterima": (2, 2), "ditelaah": (2, 2)}
    by_scope = dict((s, (n, late)) for s, n, late in _hand(engine, f"""
        SELECT scope, count(*), sum(CASE WHEN due_at < :now THEN 1 ELSE 0 END) FROM cases
        WHERE workflow = 'treckk' AND state IN ({opened}) GROUP BY scope""", now=now))
    shown = {r["kode"]: (r["terbuka"], r["terlambat"]) for r in rows_as_dicts(view.tables["terbuka-kecamatan"])}
    assert {s: v for s, v in shown.items() if v != (0, 0)} == by_scope == {"juai": (2, 2), "halong": (1, 1),
                                                                             "paringin": (1, 1)}
    assert [r["kode"] for r in rows_as_dicts(view.tables["terbuka-kecamatan"])][:2] == ["juai", "halong"]
    assert (view.open_count, view.overdue_count) == (4, 4)
    late = rows_as_dicts(view.tables["terlambat"])
    assert sum(r["terlambat"] for r in late) == 4
    assert late[0]["keadaan"] == "Ditelaah Kepala Bidang" and late[0]["cakupan"] == "Juai"  # D: the longest late
    assert "Ahmad Kabid Trantibum" in late[0]["menunggu"]
    waiting_e = next(r for r in late if r["cakupan"] == "Halong")
    assert waiting_e["menunggu"] == "Admin La-Lisa: Rina Admin La-Lisa"


def test_cases_received_and_closed_per_week_equal_hand_written_sql(engine: Commands,
                                                                   seeded: dict[str, str]) -> None:
    rows = rows_as_dicts(november(engine).tables["mingguan"])
    # 1 November 2026 is a Sunday: the period's weeks are 1, 2-8, 9-15, 16-22, 23-29 and 30 November.
    assert [r["mulai"] for r in rows] == ["2026-11-01", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23",
                                         "2026-11-30"]
    assert [(r["diterima"], r["ditutup"]) for r in rows] == [(0, 0), (2, 2), (1, 1), (1, 0), (1, 0), (0, 0)]
    for row in rows:
        first = date.fromisoformat(row["mulai"])
        start = datetime(first.year, first.month, first.day, tzinfo=WITA)
        end = min(start + timedelta(days=7 - first.weekday()), datetime(2026, 12, 1, tzinfo=WITA))
        [(received,)] = _hand(engine, "SELECT count(*) FROM cases WHERE workflow = 'treckk' "
                                      "AND created_at >= :start AND created_at < :end", start=start, end=end)
        [(closed,)] = _hand(engine, "SELECT count(DISTINCT case_id) FROM events WHERE to_state IN "
                                    "('selesai','ditolak','dilimpahkan') AND from_state NOT IN "
                                    "('selesai','ditolak','dilimpahkan') AND at >= :start AND at < :end",
                            start=start, end=end)
        assert (row["diterima"], row["ditutup"]) == (received, closed), row["minggu"]


def test_time_in_each_state_equals_the_events_read_by_hand(engine: Commands, seeded: dict[str, str]) -> None:
    rows = {r["keadaan"]: r for r in rows_as_dicts(november(engine).tables["durasi"])}
    events = _hand(engine, "SELECT case_id, seq, from_state, to_state, at FROM events ORDER BY case_id, seq")
    start, end = datetime(2026, 11, 1, tzinfo=WITA), datetime(2026, 12, 1, tzinfo=WITA)
    stays: dict[str, list[float]] = {}
    entered: dict[int, Any] = {}
    for case_id, _seq, before, after, moment in events:
        moment = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
        if before is not None and before != after and start <= moment < end:
            stays.setdefault(before, []).append((moment - entered[case_id]).total_seconds() / 60)
        if before != after:
            entered[case_id] = moment
    labels = {"diterima": "Aduan diterima", "ditelaah": "Ditelaah Kepala Bidang", "verifikasi": "Verifikasi lapangan",
              "ditugaskan": "Tim ditugaskan", "ditangani": "Sedang ditangani",
              "menunggu_pengesahan": "Menunggu pengesahan"}
    for state, label in labels.items():
        minutes = stays.get(state, [])
        assert rows[label]["jumlah"] == len(minutes), state
        for key, fraction in (("median_menit", 0.5), ("p90_menit", 0.9)):
            expected = percentile(minutes, fraction)
            assert rows[label][key] == (round(expected, 1) if expected is not None else None), (state, key)
    # Known: A 60, B 30, C 90, D 7 days (entered in October, left on 4 November), F 60.
    assert sorted(stays["diterima"]) == [30, 60, 60, 90, 7 * 1440]
    assert rows["Aduan diterima"]["median_menit"] == 60.0
    assert rows["Aduan diterima"]["p90_menit"] == 6084.0
    assert rows["Ditelaah Kepala Bidang"]["jumlah"] == 4  # A 180, B 2 days, C twice (30 and 60)
    assert rows["Dari masuk sampai keadaan akhir"]["median_menit"] == 2910.0


def test_every_statement_behind_the_dashboard_uses_an_index(engine: Commands, seeded: dict[str, str]) -> None:
    with recorded(engine) as statements:
        november(engine)
    growing = [(s, p) for s, p in statements if _reads_growing(s)]
    assert len(growing) >= 5
    problems = [f"{line}\n    {' '.join(statement.split())[:300]}" for statement, parameters in growing
                for line in full_scans(engine, statement, parameters)]
    assert not problems, "\n".join(problems)


def test_only_roles_that_can_report_open_it(engine: Commands, seeded: dict[str, str]) -> None:
    dashboard = Dashboard(engine)
    assert dashboard.may_open("kabid") and dashboard.may_open("kasat")
    for username in ("admin", "inovator", "tim_paringin"):
        assert not dashboard.may_open(username)
        with pytest.raises(PermissionDenied, match="may not read the dashboard"):
            dashboard.view(username)
    with pytest.raises(NotFound):
        dashboard.view("kabid", workflow="tidak_ada")
    with pytest.raises(NotFound, match="no table"):
        table_of(november(engine), "gaji")


def test_the_period_defaults_to_the_last_30_days_and_is_checked(engine: Commands, seeded: dict[str, str]) -> None:
    view = Dashboard(engine).view("kabid")
    assert (view.first, view.last) == (date(2026, 11, 3), date(2026, 12, 2))
    assert view.period.start == datetime(2026, 11, 3, tzinfo=WITA)
    assert view.period.end == datetime(2026, 12, 3, tzinfo=WITA)
    with pytest.raises(InvalidInput, match="before it begins"):
        Dashboard(engine).view("kabid", first=date(2026, 11, 30), last=date(2026, 11, 1))
    with pytest.raises(InvalidInput, match="too long"):
        Dashboard(engine).view("kabid", first=date(2020, 1, 1), last=date(2026, 11, 1))


def test_weeks_are_monday_to_sunday_in_the_zone_and_clipped() -> None:
    weeks = periods.weeks(date(2026, 11, 1), date(2026, 11, 30), "Asia/Makassar")
    assert [(w.first.day, w.last.day) for w in weeks] == [(1, 1), (2, 8), (9, 15), (16, 22), (23, 29), (30, 30)]
    assert weeks[1].start == datetime(2026, 11, 1, 16, 0, tzinfo=timezone.utc)  # Monday 00:00 WITA
    assert periods.previous_month(date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))
    assert periods.days_label(date(2026, 11, 1), date(2026, 11, 30)) == "1 Nov 2026 – 30 Nov 2026"


def test_another_workflows_cases_are_not_counted(engine: Commands, clock: FakeClock, seeded: dict[str, str],
                                                 tmp_path: Path) -> None:
    """With a second workflow's cases in the same tables, each event's case is looked up, on an index."""
    before = november(engine).tables
    for folder in ("roles", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "workflows").mkdir()
    text = (ROOT / "workflows" / "treckk.yaml").read_text()
    (tmp_path / "workflows" / "lain.yaml").write_text(
        text.replace("workflow: treckk", "workflow: lain").replace("number_prefix: TRK", "number_prefix: LNN"))
    engine.deploy(tmp_path / "workflows" / "lain.yaml", None)
    for username, _name, roles, _scope, _phone, _email in STAFF[:2]:
        engine.update_staff(username, roles=roles, workflow="lain")
    for day in (2, 9, 16):
        clock.set(at(day, 9))
        number = engine.submit("admin", COMPLAINT, workflow="lain").number
        clock.set(at(day, 10))
        engine.advance(number, "teruskan", "admin")
        engine.advance(number, "tolak", "kabid", {"alasan": "Uji"})
    clock.set(NOW)
    with recorded(engine) as statements:
        after = november(engine).tables
    assert {name: t.rows for name, t in after.items()} == {name: t.rows for name, t in before.items()}
    problems = [line for statement, parameters in statements if _reads_growing(statement)
                for line in full_scans(engine, statement, parameters)]
    assert not problems, problems
    assert len(rows_as_dicts(Dashboard(engine).view("kabid", workflow="lain", first=date(2026, 11, 1),
                                                    last=date(2026, 11, 30)).tables["mingguan"])) == 6
