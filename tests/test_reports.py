"""The reports behind the morning digest and the monthly recap: keys, counts, median and p90.

The monthly recap is checked twice: as a pure computation over hand-made rows, and on a small
dataset built through the engine (real cases, real history, one real escalation) on SQLite and
PostgreSQL, with the October 2026 period bounded in WITA.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from engine.compile.workflow import bundle_from_files, compile_bundle
from engine.definition.model import WorkflowDefinition
from engine.compile.notice_context import sample_report
from engine.app.reports import build_report, run_schedule
from engine.core.reports import OpenCaseRow, Period, RecapCaseRow, compute_report, percentile, recap_period
from engine.app.commands import Commands
from engine.store import notice_rows
from tests.conftest import COMPLAINT, ROOT, FakeClock
from tests.test_escalation import HASIL, escalation_notices, open_case, scan_at, wita


def definition(engine: Commands) -> Any:
    with engine.db.begin() as connection:
        return engine.compiled(connection, "treckk").definition


@functools.cache
def shipped() -> WorkflowDefinition:
    """The shipped definition, compiled from the files (for tests that need no database)."""
    return compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates")).definition


# -- pure pieces -------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    minutes = [60.0 * n for n in range(1, 11)]  # 60 … 600
    assert percentile(minutes, 0.5) == 330.0
    assert percentile(minutes, 0.9) == pytest.approx(546.0)
    assert percentile([120.0], 0.9) == 120.0
    assert percentile([], 0.5) is None
    assert percentile([300.0, 60.0], 0.5) == 180.0  # order of the input does not matter


def test_the_recap_period_is_the_previous_calendar_month_in_wita() -> None:
    period = recap_period(wita(2026, 11, 1, 8, 0), "Asia/Makassar")
    assert (period.start, period.end, period.label) == (wita(2026, 10, 1), wita(2026, 11, 1), "Oktober 2026")
    january = recap_period(wita(2027, 1, 1, 8, 0), "Asia/Makassar")
    assert (january.start, january.end, january.label) == (wita(2026, 12, 1), wita(2027, 1, 1), "Desember 2026")
    # 1 Dec 2026 00:30 WITA is still 30 November in UTC; the month is WITA's.
    assert recap_period(datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc), "Asia/Makassar").label == "November 2026"


def _recap_row(case_id: int, state: str, created: datetime, final: datetime | None, kecamatan: str | None,
               kategori: str | None, due: datetime | None = None) -> RecapCaseRow:
    return RecapCaseRow(case_id, state, kecamatan, {"kategori": kategori} if kategori else {}, created, due, final)


def test_compute_report_counts_each_measure_by_its_definition() -> None:
    period = Period(wita(2026, 10, 1), wita(2026, 11, 1), "Oktober 2026")
    now = wita(2026, 11, 1, 8, 0)
    created = wita(2026, 10, 5, 8, 0)
    rows = [
        # Ten cases received and finished in October, 60 … 600 minutes after intake.
        *(_recap_row(n, ("selesai", "ditolak", "dilimpahkan")[n % 3], created, created + timedelta(minutes=60 * n),
                     "paringin", "pkl_tempat_usaha") for n in range(1, 11)),
        # Opened in September, still open: open at the end, overdue (deadline in October, passed).
        _recap_row(11, "ditelaah", wita(2026, 9, 30, 9, 0), None, None, None, due=wita(2026, 10, 1, 9, 0)),
        # Opened in October, due in November: open, not overdue.
        _recap_row(12, "diterima", wita(2026, 10, 31, 23, 30), None, "juai", "keributan",
                   due=wita(2026, 11, 2, 8, 30)),
    ]
    report = compute_report(shipped(), open_cases=[], recap_cases=rows, late_ids={3}, period=period, now=now)
    assert {k: report[k] for k in ("received", "completed", "rejected", "referred", "open", "overdue")} == \
        {"received": 11, "completed": 3, "rejected": 4, "referred": 3, "open": 2, "overdue": 2}
    assert (report["median_minutes"], report["p90_minutes"]) == (330.0, pytest.approx(546.0))
    names = [g["name"] for g in report["per_kecamatan"]]
    assert names == ["Juai", "Paringin", "Belum diisi"]  # the definition's order, missing last
    juai = report["per_kecamatan"][0]
    assert (juai["received"], juai["open"], juai["median_minutes"], juai["p90_minutes"]) == (1, 1, None, None)
    assert [g["name"] for g in report["per_kategori"]] == ["PKL dan tempat usaha",
                                                           "Keributan dan gangguan ketenteraman", "Belum diisi"]
    assert report["per_kategori"][2]["overdue"] == 1


def test_the_report_has_exactly_the_documented_keys(engine: Commands, clock: FakeClock) -> None:
    waiting = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))  # due Mon 11:00
    fresh = open_case(engine, clock, "diterima", wita(2026, 11, 30, 8, 0), values={
        k: v for k, v in COMPLAINT.items() if k not in ("kecamatan", "kategori")})
    scan_at(engine, clock, wita(2026, 11, 30, 12, 0))
    workflow = definition(engine)
    with engine.db.begin() as connection:
        report = build_report(connection, workflow, wita(2026, 12, 1, 7, 0), wita(2026, 11, 30, 12, 0))
    sample = sample_report(workflow)
    assert set(report) == set(sample)
    assert set(report["open_cases"][0]) == set(sample["open_cases"][0])
    assert report["period_label"] == "November 2026"
    assert (report["open_count"], report["overdue_count"]) == (2, 2)
    assert report["open_cases"] == [
        {"number": fresh.number, "state": "diterima", "state_label": "Aduan diterima", "kecamatan": "-",
         "kategori": "-", "created_at": wita(2026, 11, 30, 8, 0), "due_at": wita(2026, 11, 30, 9, 0),
         "overdue": True, "overdue_by": 180, "escalation_step": 2},
        {"number": waiting.number, "state": "ditelaah", "state_label": "Ditelaah Kepala Bidang",
         "kecamatan": "Paringin", "kategori": "PKL dan tempat usaha", "created_at": wita(2026, 11, 27, 15, 30),
         "due_at": wita(2026, 11, 30, 11, 0), "overdue": True, "overdue_by": 60, "escalation_step": 1},
    ]
    assert set(report["per_kecamatan"][0]) == set(sample["per_kecamatan"][0])


# -- the recap on a small known dataset --------------------------------------------------------


def _complaint(kecamatan: str, kategori: str) -> dict[str, object]:
    return {**COMPLAINT, "kecamatan": kecamatan, "kategori": kategori}


def test_the_monthly_recap_on_a_known_dataset(engine: Commands, clock: FakeClock) -> None:
    tim = {"paringin": "tim_paringin", "juai": "tim_juai"}

    def finish(number: str, kecamatan: str, at: list[datetime]) -> None:
        """teruskan, tugaskan, mulai_tangani, laporkan_hasil, sahkan at the given moments."""
        steps = [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan."}),
                 ("mulai_tangani", tim[kecamatan], {}), ("laporkan_hasil", tim[kecamatan], HASIL),
                 ("sahkan", "kabid", {})]
        for moment, (trigger, actor, values) in zip(at, steps, strict=True):
            clock.set(moment)
            engine.advance(number, trigger, actor, values)

    def opened(at: datetime, kecamatan: str, kategori: str) -> str:
        clock.set(at)
        return engine.submit("admin", _complaint(kecamatan, kategori)).number

    # Before the period: opened and rejected in September (left out entirely).
    old = opened(wita(2026, 9, 15, 9, 0), "paringin", "pkl_tempat_usaha")
    clock.set(wita(2026, 9, 16, 9, 0))
    engine.advance(old, "tandai_duplikat", "admin", {"alasan": "Ganda."})
    # Opened 30 Sep, completed 2 Oct after 2 days (2,880 min): completed in October, not received.
    straddling = opened(wita(2026, 9, 30, 10, 0), "juai", "pkl_tempat_usaha")
    finish(straddling, "juai", [wita(2026, 10, 2, 10, 0)] * 5)
    # 1 Oct: a duplicate, rejected after 60 min.
    duplicate = opened(wita(2026, 10, 1, 9, 0), "paringin", "pkl_tempat_usaha")
    clock.set(wita(2026, 10, 1, 10, 0))
    engine.advance(duplicate, "tandai_duplikat", "admin", {"alasan": "Aduan ganda."})
    # 5 Oct: forwarded late (the diterima reminder fired at 10:00), referred after 120 min.
    referred = opened(wita(2026, 10, 5, 9, 0), "juai", "bangunan_liar")
    assert [f.number for f in scan_at(engine, clock, wita(2026, 10, 5, 10, 30))] == [referred]
    engine.advance(referred, "teruskan", "admin")
    clock.set(wita(2026, 10, 5, 11, 0))
    engine.advance(referred, "limpahkan", "kabid", {"instansi": "Dinas PUPR", "alasan": "Kewenangan dinas."})
    # 12 Oct: handled on time, approved after 360 min.
    handled = opened(wita(2026, 10, 12, 8, 0), "paringin", "pkl_tempat_usaha")
    finish(handled, "paringin", [wita(2026, 10, 12, 8, 0), wita(2026, 10, 12, 8, 0), wita(2026, 10, 12, 9, 0),
                                 wita(2026, 10, 12, 13, 0), wita(2026, 10, 12, 14, 0)])
    # 20 Oct: forwarded at 08:00, never reviewed: still in ditelaah, its deadline (12:00) long past.
    stuck = opened(wita(2026, 10, 20, 8, 0), "paringin", "bangunan_liar")
    engine.advance(stuck, "teruskan", "admin")
    # 31 Oct 23:30 WITA (15:30 UTC): still October in Balangan. Open, due in November.
    late_night = opened(wita(2026, 10, 31, 23, 30), "juai", "pkl_tempat_usaha")
    # 1 Nov 00:30 WITA (31 Oct 16:30 UTC): November in Balangan, so not in the October recap.
    opened(wita(2026, 11, 1, 0, 30), "paringin", "pkl_tempat_usaha")

    fire_at = wita(2026, 11, 1, 8, 0)
    clock.set(fire_at)
    run = run_schedule(engine, "treckk", "rekap_bulanan", fire_at)
    assert (run.status, run.notices) == ("queued", 1)
    workflow = definition(engine)
    with engine.db.begin() as connection:
        report = build_report(connection, workflow, fire_at, fire_at)
    assert report["period_label"] == "Oktober 2026"
    assert {k: report[k] for k in ("received", "completed", "rejected", "referred", "open", "overdue")} == \
        {"received": 5, "completed": 2, "rejected": 1, "referred": 1, "open": 2, "overdue": 2}
    # Finished in October: 60, 120, 360, 2,880 minutes → median 240, p90 360 + 0.7 × 2,520.
    assert (report["median_minutes"], report["p90_minutes"]) == (240.0, pytest.approx(2124.0))
    by_name = {g["name"]: g for g in report["per_kecamatan"]}
    assert list(by_name) == ["Juai", "Paringin"]
    assert {k: by_name["Juai"][k] for k in ("received", "completed", "rejected", "referred", "open", "overdue")} == \
        {"received": 2, "completed": 1, "rejected": 0, "referred": 1, "open": 1, "overdue": 1}
    assert (by_name["Juai"]["median_minutes"], by_name["Juai"]["p90_minutes"]) == (1500.0, pytest.approx(2604.0))
    assert {k: by_name["Paringin"][k] for k in ("received", "completed", "rejected", "referred", "open",
                                                 "overdue")} == \
        {"received": 3, "completed": 1, "rejected": 1, "referred": 0, "open": 1, "overdue": 1}
    assert (by_name["Paringin"]["median_minutes"], by_name["Paringin"]["p90_minutes"]) == (210.0, 330.0)
    by_kategori = {g["name"]: g for g in report["per_kategori"]}
    assert list(by_kategori) == ["PKL dan tempat usaha", "Bangunan liar"]
    pkl, bangunan = by_kategori["PKL dan tempat usaha"], by_kategori["Bangunan liar"]
    assert (pkl["received"], pkl["completed"], pkl["rejected"], pkl["open"], pkl["overdue"]) == (3, 2, 1, 1, 0)
    assert (pkl["median_minutes"], pkl["p90_minutes"]) == (360.0, pytest.approx(2376.0))
    assert (bangunan["received"], bangunan["referred"], bangunan["open"], bangunan["overdue"]) == (2, 1, 1, 2)
    # The recap notice, as the Penanggung Jawab receives it.
    (notice,) = [row for row in engine.db.transaction(notice_rows.list_notices) if row.source == "schedule:rekap_bulanan"]
    assert notice.recipient_username == "kasat"
    assert notice.subject == "Rekap bulanan penanganan aduan TRECKK: Oktober 2026"
    for line in ("Aduan diterima: 5", "Selesai ditangani: 2", "Ditolak: 1", "Dilimpahkan ke instansi lain: 1",
                 "Masih terbuka: 2", "Melewati batas waktu: 2", "Waktu penanganan (median): 4 jam",
                 "Waktu penanganan (persentil ke-90): 1 hari 11 jam 24 menit",
                 "- Juai: diterima 2, selesai 1, ditolak 0, dilimpahkan 1, terbuka 1, terlambat 1; "
                 "median 1 hari 1 jam"):
        assert line in notice.body, line
    assert [n.recipient_username for n in escalation_notices(engine, referred)] == ["admin"]
    assert late_night not in {straddling, duplicate, handled}


# -- the database's counts against the arithmetic over plain rows --------------------------------


def _rows_the_slow_way(connection: Any, workflow: WorkflowDefinition, start: datetime,
                       end: datetime) -> tuple[list[OpenCaseRow], list[RecapCaseRow], set[int]]:
    """Every row a report could need, read naively (the reference the SQL counts must match)."""
    from sqlalchemy import and_, or_

    from engine.store.schema import cases, escalations, events

    finals = [s.name for s in workflow.states.values() if s.final]
    opened = [s.name for s in workflow.states.values() if not s.final]
    open_rows = [OpenCaseRow(r.id, r.number, r.state, r.scope, dict(r.data), r.created_at, r.due_at, r.next_step)
                 for r in connection.execute(select(cases).where(cases.c.state.in_(opened)))]
    final_event = and_(events.c.case_id == cases.c.id, events.c.to_state.in_(finals),
                       events.c.from_state.notin_(finals))
    recap: dict[int, RecapCaseRow] = {}
    for r in connection.execute(
            select(cases.c.id, cases.c.state, cases.c.scope, cases.c.data, cases.c.created_at, cases.c.due_at,
                   events.c.at).select_from(cases.outerjoin(events, final_event))
            .where(cases.c.created_at < end, or_(events.c.at.is_(None), events.c.at >= start))
            .order_by(cases.c.id, events.c.at)):
        recap.setdefault(r.id, RecapCaseRow(r.id, r.state, r.scope, dict(r.data), r.created_at, r.due_at,
                                            r.at if r.state in finals else None))
    late = {r.case_id for r in connection.execute(select(escalations.c.case_id).where(
        escalations.c.due_at >= start, escalations.c.due_at < end))}
    return open_rows, list(recap.values()), late


def test_the_database_counts_what_the_row_arithmetic_counts(engine: Commands, clock: FakeClock) -> None:
    import random

    rng = random.Random(7)
    paths = [[], [("teruskan", "admin", {})], [("tandai_duplikat", "admin", {"alasan": "Ganda."})],
             [("teruskan", "admin", {}), ("tolak", "kabid", {"alasan": "Bukan Perda."})],
             [("teruskan", "admin", {}), ("limpahkan", "kabid", {"instansi": "PUPR", "alasan": "Dinas."})],
             [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan."}),
              ("mulai_tangani", "tim_paringin", {}), ("laporkan_hasil", "tim_paringin", HASIL),
              ("sahkan", "kabid", {})]]
    moment = wita(2026, 9, 20, 8, 0)
    for i in range(40):
        moment += timedelta(minutes=rng.randint(30, 3000))
        clock.set(moment)
        kategori = rng.choice(["pkl_tempat_usaha", "bangunan_liar", ""])
        values = {**COMPLAINT, "kecamatan": "paringin", "kategori": kategori}
        if not kategori:
            del values["kategori"]
        number = engine.submit("admin", values).number
        # Without a kategori a case can only wait or be marked a duplicate (teruskan requires it).
        for trigger, actor, given in rng.choice(paths if kategori else paths[:1] + paths[2:3]):
            clock.advance(minutes=rng.randint(10, 4000))
            engine.advance(number, trigger, actor, given)
        if i % 5 == 0:
            scan_at(engine, clock, clock() + timedelta(hours=rng.randint(1, 30)))
    workflow = definition(engine)
    seen = []
    for fire_at in (wita(2026, 10, 1, 8, 0), wita(2026, 11, 1, 8, 0), wita(2026, 12, 1, 8, 0)):
        now = fire_at + timedelta(minutes=1)
        period = recap_period(fire_at, workflow.timezone)
        with engine.db.begin() as connection:
            counted = build_report(connection, workflow, fire_at, now)
            open_rows, recap_rows, late = _rows_the_slow_way(connection, workflow, period.start, period.end)
        expected = compute_report(workflow, open_cases=open_rows, recap_cases=recap_rows, late_ids=late,
                                  period=period, now=now)
        assert counted == expected
        seen.append((expected["received"], expected["median_minutes"], expected["overdue"], expected["open_count"]))
    assert all(received for received, *_ in seen[:2]), seen  # the dataset fills the periods it is compared on
    assert all(any(s[i] for s in seen) for i in range(4)), seen
