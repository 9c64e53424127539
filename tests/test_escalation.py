"""The escalation scan: every deadline of workflows/treckk.yaml fires on time, once, for the right people.

Times are written in WITA and checked to the minute: one minute before a step is due nothing
fires, at the moment it is due it fires. Holidays used: 24 Dec 2026 (cuti bersama), 25 Dec 2026
(Christmas), 1 Jan 2027 (New Year); 31 Dec 2026 is a working day. Every test runs on SQLite and
on PostgreSQL; the two-process test starts real ``treckk escalate`` processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, func, select, text, update

from engine.core.records import CaseRecord
from engine.app.escalation import EscalationFired, escalate_due, fire_step
from engine.app.commands import Commands
from engine.store import escalation_rows, notice_rows
from engine.store.schema import cases, escalations, events, notices
from tests.conftest import COMPLAINT, ROOT, FakeClock

WITA = ZoneInfo("Asia/Makassar")
MINUTE = timedelta(minutes=1)


def wita(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment on the WITA wall clock."""
    return datetime(year, month, day, hour, minute, tzinfo=WITA)


# How to bring a new case into each state: (trigger, actor, values), in order after intake.
ROUTE: dict[str, list[tuple[str, str, dict[str, object]]]] = {
    "diterima": [],
    "ditelaah": [("teruskan", "admin", {})],
    "verifikasi": [("teruskan", "admin", {}), ("minta_verifikasi", "kabid", {})],
    "ditugaskan": [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan PKL."})],
    "ditangani": [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan PKL."}),
                  ("mulai_tangani", "tim_paringin", {})],
    "menunggu_pengesahan": [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan PKL."}),
                            ("mulai_tangani", "tim_paringin", {}),
                            ("laporkan_hasil", "tim_paringin", {"tindakan": "Penertiban", "hasil": "Jalan bersih"})],
}

HASIL = {"tindakan": "Penertiban", "hasil": "Jalan bersih"}


def open_case(engine: Commands, clock: FakeClock, state: str, at: datetime,
              values: dict[str, object] | None = None) -> CaseRecord:
    """A new case recorded at ``at`` and moved straight on into ``state`` (every step at ``at``)."""
    clock.set(at)
    case = engine.submit("admin", values or COMPLAINT)
    for trigger, actor, given in ROUTE[state]:
        case = engine.advance(case.number, trigger, actor, given)
    assert case.state == state
    return case


def case_row(engine: Commands, number: str) -> Any:
    with engine.db.begin() as connection:
        return connection.execute(select(cases).where(cases.c.number == number)).one()


def escalation_notices(engine: Commands, number: str) -> list[Any]:
    return [row for row in engine.db.transaction(notice_rows.list_notices)
            if row.case_number == number and row.source == "escalation"]


def escalation_rows_of(engine: Commands, number: str) -> list[tuple[str, int, int]]:
    """(state, state_entry, step 0-based) of every recorded step of a case, in firing order."""
    with engine.db.begin() as connection:
        return [(row.state, row.state_entry, row.step) for row in connection.execute(
            select(escalations.c.state, escalations.c.state_entry, escalations.c.step)
            .join(cases, cases.c.id == escalations.c.case_id)
            .where(cases.c.number == number).order_by(escalations.c.id))]


def count(engine: Commands, table: Any, *where: Any) -> int:
    with engine.db.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def scan_at(engine: Commands, clock: FakeClock, moment: datetime, **kwargs: Any) -> list[EscalationFired]:
    clock.set(moment)
    return escalate_due(engine, **kwargs)


# -- every deadline of the shipped workflow ------------------------------------------------------

# state → (entered at, due at, [(step fires at, recipient username, template), ...]), all in WITA.
DEADLINES: dict[str, tuple[datetime, datetime, list[tuple[datetime, str, str]]]] = {
    # 1 working hour: Fri 15:30–16:00, Mon 07:30–08:00; then 2 more working hours to the Kabid.
    "diterima": (wita(2026, 11, 27, 15, 30), wita(2026, 11, 30, 8, 0),
                 [(wita(2026, 11, 30, 8, 0), "admin", "pengingat.txt.j2"),
                  (wita(2026, 11, 30, 10, 0), "kabid", "eskalasi.txt.j2")]),
    # 4 working hours: 30 min on Friday, 3.5 h on Monday; then 1 working day (8.5 h) to the Kasat.
    "ditelaah": (wita(2026, 11, 27, 15, 30), wita(2026, 11, 30, 11, 0),
                 [(wita(2026, 11, 30, 11, 0), "kabid", "pengingat.txt.j2"),
                  (wita(2026, 12, 1, 11, 0), "kasat", "eskalasi.txt.j2")]),
    # 24 hours around the clock, through the weekend.
    "verifikasi": (wita(2026, 11, 27, 15, 30), wita(2026, 11, 28, 15, 30),
                   [(wita(2026, 11, 28, 15, 30), "kabid", "pengingat.txt.j2")]),
    # 2 hours around the clock, across midnight on a Sunday.
    "ditugaskan": (wita(2026, 11, 29, 23, 30), wita(2026, 11, 30, 1, 30),
                   [(wita(2026, 11, 30, 1, 30), "kabid", "pengingat.txt.j2")]),
    # 3 working days (25.5 h) from Wed 23 Dec 10:00, skipping cuti bersama 24 Dec and Christmas;
    # then 2 working days (17 h): Wed 6 h, Thu 31 Dec 8.5 h, New Year off, Mon 4 Jan 2.5 h.
    "ditangani": (wita(2026, 12, 23, 10, 0), wita(2026, 12, 30, 10, 0),
                  [(wita(2026, 12, 30, 10, 0), "kabid", "pengingat.txt.j2"),
                   (wita(2027, 1, 4, 10, 0), "kasat", "eskalasi.txt.j2")]),
    # 1 working day: 30 min on Friday, 8 h on Monday.
    "menunggu_pengesahan": (wita(2026, 11, 27, 15, 30), wita(2026, 11, 30, 15, 30),
                            [(wita(2026, 11, 30, 15, 30), "kabid", "pengingat.txt.j2")]),
}


def test_every_deadline_fires_its_steps_at_the_right_minute(engine: Commands, clock: FakeClock) -> None:
    """One case per state; every step is checked a minute before (nothing) and at its time (it fires)."""
    opened = {state: open_case(engine, clock, state, entered) for state, (entered, _, _) in DEADLINES.items()}
    for state, (_, due, _) in DEADLINES.items():
        assert opened[state].due_at == due, state
    timeline = sorted((when, state, index, username, template)
                      for state, (_, _, steps) in DEADLINES.items()
                      for index, (when, username, template) in enumerate(steps, start=1))
    for when in sorted({event[0] for event in timeline}):
        assert scan_at(engine, clock, when - MINUTE) == [], f"a step due at {when} fired a minute early"
        expected = [event for event in timeline if event[0] == when]
        fired = scan_at(engine, clock, when)
        assert sorted((f.number, f.state, f.step) for f in fired) == \
            sorted((opened[state].number, state, index) for _, state, index, _, _ in expected), when
        for f in fired:
            due = DEADLINES[f.state][1]
            assert (f.recipients, f.due_at, f.late_by) == (1, due, (when - due) // MINUTE)
        for _, state, index, username, template in expected:
            sent = escalation_notices(engine, opened[state].number)
            assert len(sent) == index
            assert (sent[-1].recipient_username, sent[-1].template, sent[-1].status) == (username, template, "pending")
            assert opened[state].number in sent[-1].subject and opened[state].number in sent[-1].body
    for state, case in opened.items():
        steps = DEADLINES[state][2]
        assert escalation_rows_of(engine, case.number) == [(state, case.state_entry, i) for i in range(len(steps))]
        row = case_row(engine, case.number)
        assert (row.next_step, row.next_step_at) == (None, None)
    # Nothing is left to fire, however long the cases wait.
    assert scan_at(engine, clock, wita(2027, 6, 1)) == []
    # The words of the reminders (ditelaah: step 1 at its deadline, step 2 one working day late).
    number = opened["ditelaah"].number
    first, second = escalation_notices(engine, number)
    assert first.subject == f"Pengingat batas waktu aduan {number}"
    assert "telah mencapai batas waktunya" in first.body
    assert "Batas waktu: Senin, 30 November 2026 pukul 11.00 WITA" in first.body
    assert second.subject == f"Eskalasi tingkat 2: aduan {number} melewati batas waktu"
    assert "telah melewati batas waktu selama 1 hari" in second.body
    assert (second.recipient_role, second.recipient_kind) == ("penanggung_jawab", "staff")


# -- only for the state the case is in ----------------------------------------------------------


def test_second_step_goes_to_penanggung_jawab_only_while_the_case_stays(engine: Commands, clock: FakeClock) -> None:
    staying = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    moving = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    fired = scan_at(engine, clock, wita(2026, 11, 30, 11, 0))
    assert sorted((f.number, f.step) for f in fired) == [(staying.number, 1), (moving.number, 1)]
    # The Kabid orders verification of one of them after the reminder, before the second step.
    clock.set(wita(2026, 11, 30, 12, 0))
    engine.advance(moving.number, "minta_verifikasi", "kabid")
    fired = scan_at(engine, clock, wita(2026, 12, 1, 11, 0))
    assert [(f.number, f.state, f.step) for f in fired] == [(staying.number, "ditelaah", 2)]
    assert [n.recipient_username for n in escalation_notices(engine, moving.number)] == ["kabid"]
    # The state it moved to has its own deadline: 24 h after 12:00 on Monday.
    assert scan_at(engine, clock, wita(2026, 12, 1, 11, 59)) == []
    fired = scan_at(engine, clock, wita(2026, 12, 1, 12, 0))
    assert [(f.number, f.state, f.step) for f in fired] == [(moving.number, "verifikasi", 1)]


def test_a_case_that_moves_on_before_its_deadline_is_never_escalated_for_it(engine: Commands,
                                                                            clock: FakeClock) -> None:
    """Neither by a later scan nor by a scan that read the case as due just before it moved."""
    case = open_case(engine, clock, "diterima", wita(2026, 11, 30, 8, 0))  # due 09:00
    clock.set(wita(2026, 11, 30, 8, 59))
    engine.advance(case.number, "teruskan", "admin")  # ditelaah, due 12:59
    for moment in (wita(2026, 11, 30, 9, 0), wita(2026, 11, 30, 11, 0), wita(2026, 11, 30, 12, 58)):
        assert scan_at(engine, clock, moment) == []
    fired = scan_at(engine, clock, wita(2026, 11, 30, 12, 59))
    assert [(f.state, f.step) for f in fired] == [("ditelaah", 1)]
    assert [state for state, _, _ in escalation_rows_of(engine, case.number)] == ["ditelaah"]

    # A scan that read the case as due just before a staff member moved it (compare-and-set).
    late = open_case(engine, clock, "diterima", wita(2026, 11, 30, 13, 0))  # due 14:00
    now = wita(2026, 11, 30, 14, 30)
    with engine.db.begin() as connection:
        (stale,) = escalation_rows.due_cases(connection, now, 10)
    assert stale.id == case_row(engine, late.number).id
    clock.set(now)
    engine.advance(late.number, "teruskan", "admin")
    assert fire_step(engine, stale, now) is None
    assert escalation_rows_of(engine, late.number) == []
    assert escalation_notices(engine, late.number) == []
    row = case_row(engine, late.number)
    assert (row.state, row.next_step, row.next_step_at) == ("ditelaah", 0, wita(2026, 12, 1, 10, 0))


def test_reentering_ditangani_through_kembalikan_starts_its_steps_afresh(engine: Commands, clock: FakeClock) -> None:
    # 3 working days (25.5 h) from Mon 30 Nov 08:00: Mon 8 h, Tue 8.5 h, Wed 8.5 h, Thu 0.5 h.
    case = open_case(engine, clock, "ditangani", wita(2026, 11, 30, 8, 0))
    assert case.due_at == wita(2026, 12, 3, 8, 0)
    first_entry = case.state_entry
    fired = scan_at(engine, clock, wita(2026, 12, 3, 8, 0))
    assert [(f.state, f.step) for f in fired] == [("ditangani", 1)]
    clock.set(wita(2026, 12, 3, 9, 0))
    engine.advance(case.number, "laporkan_hasil", "tim_paringin", HASIL)
    clock.set(wita(2026, 12, 3, 10, 0))
    again = engine.advance(case.number, "kembalikan", "kabid", {"catatan": "Lengkapi foto."})
    assert again.state == "ditangani" and again.state_entry != first_entry
    # Thu 10:00 + 25.5 working hours = Tue 8 Dec 10:00. The first entry's second step would have
    # been Mon 7 Dec 08:00; it never fires.
    assert again.due_at == wita(2026, 12, 8, 10, 0)
    assert scan_at(engine, clock, wita(2026, 12, 8, 9, 59)) == []
    fired = scan_at(engine, clock, wita(2026, 12, 8, 10, 0))
    assert [(f.state, f.step) for f in fired] == [("ditangani", 1)]
    assert scan_at(engine, clock, wita(2026, 12, 10, 9, 59)) == []
    fired = scan_at(engine, clock, wita(2026, 12, 10, 10, 0))  # + 2 working days (17 h)
    assert [(f.state, f.step) for f in fired] == [("ditangani", 2)]
    assert escalation_rows_of(engine, case.number) == [
        ("ditangani", first_entry, 0), ("ditangani", again.state_entry, 0), ("ditangani", again.state_entry, 1)]
    assert [n.recipient_username for n in escalation_notices(engine, case.number)] == ["kabid", "kabid", "kasat"]


# -- what an escalation does not do ---------------------------------------------------------------


def test_an_escalation_is_no_change_of_the_case_and_a_recorded_step_is_never_sent_again(
        engine: Commands, clock: FakeClock) -> None:
    case = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    history = count(engine, events)
    assert [f.step for f in scan_at(engine, clock, wita(2026, 11, 30, 11, 0))] == [1]
    row = case_row(engine, case.number)
    assert (row.version, row.updated_at) == (case.version, case.updated_at)
    assert count(engine, events) == history
    # A writer holding a stale copy of the case puts the pointer back on the step that fired:
    # the unique key keeps the reminder from going out twice, and the pointer moves on.
    with engine.db.begin() as connection:
        connection.execute(update(cast(Table, cases)).where(cases.c.number == case.number)
                           .values(next_step=0, next_step_at=wita(2026, 11, 30, 11, 0)))
    assert scan_at(engine, clock, wita(2026, 11, 30, 12, 0)) == []
    assert len(escalation_notices(engine, case.number)) == 1
    row = case_row(engine, case.number)
    assert (row.next_step, row.next_step_at) == (1, wita(2026, 12, 1, 11, 0))
    assert [f.step for f in scan_at(engine, clock, wita(2026, 12, 1, 11, 0))] == [2]
    assert (case_row(engine, case.number).version, count(engine, events)) == (case.version, history)
    # A Kabid who loaded the case before the reminders can still act with the version they saw.
    moved = engine.advance(case.number, "minta_verifikasi", "kabid", expect_version=case.version)
    assert moved.version == case.version + 1


# -- catching up ----------------------------------------------------------------------------------


def test_a_runner_that_was_down_fires_every_missed_step_once_in_order(engine: Commands, clock: FakeClock) -> None:
    numbers = [open_case(engine, clock, "diterima", wita(2026, 11, 30, 8, m)).number for m in range(5)]
    # Nothing ran all day; both steps of every case are past. Batches of 2 force several reads.
    fired = scan_at(engine, clock, wita(2026, 11, 30, 15, 0), limit=2)
    assert sorted((f.number, f.step) for f in fired) == sorted((n, s) for n in numbers for s in (1, 2))
    for number in numbers:
        steps = [f.step for f in fired if f.number == number]
        assert steps == [1, 2]
        assert [n.recipient_username for n in escalation_notices(engine, number)] == ["admin", "kabid"]
    assert scan_at(engine, clock, wita(2026, 11, 30, 15, 0)) == []
    assert count(engine, escalations) == 10
    # The scan's cost follows the due cases, not the open ones: its query is answered from the
    # index on next_step_at.
    query = "SELECT id FROM cases WHERE next_step_at <= :now ORDER BY next_step_at, id LIMIT 1000"
    with engine.db.begin() as connection:
        if engine.db.is_sqlite:
            rows = connection.execute(text(f"EXPLAIN QUERY PLAN {query}"), {"now": "2026-11-30 00:00:00"})
            plan = " ".join(str(row[-1]) for row in rows)
        else:
            # The test table is tiny, so the planner would rightly read all of it; forbid that to
            # see that the index serves the query.
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            rows = connection.execute(text(f"EXPLAIN {query}"), {"now": wita(2026, 11, 30)})
            plan = " ".join(str(row[0]) for row in rows)
    assert "ix_cases_next_step_at" in plan, plan


# -- the command line -----------------------------------------------------------------------------


def test_treckk_escalate_reports_what_fired_and_show_and_cases_reflect_it(engine: Commands, clock: FakeClock,
                                                                          cli: Callable[..., Any]) -> None:
    case = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))  # due Mon 11:00
    on_time = open_case(engine, clock, "ditelaah", wita(2026, 11, 30, 10, 0))  # due Mon 14:00
    clock.set(wita(2026, 11, 30, 10, 59))
    result = cli("escalate", "--json")
    assert (result.code, json.loads(result.out)) == (0, [])
    clock.set(wita(2026, 11, 30, 13, 30))
    result = cli("escalate", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [{"number": case.number, "state": "ditelaah", "step": 1, "recipients": 1,
                                       "due_at": "2026-11-30T03:00:00+00:00", "late_by_minutes": 150,
                                       "undelivered": []}]
    # `show` and `cases --overdue` after the first step: late by 2 h 30 min, step 1 of 2.
    deadline = json.loads(cli("show", case.number, "--json").out)["deadline"]
    assert deadline["due_at_wita"] == "Senin, 30 November 2026 pukul 11.00 WITA"
    assert (deadline["overdue"], deadline["overdue_minutes"], deadline["overdue_text"]) == (True, 150, "2 jam 30 menit")
    assert (deadline["escalation_steps_fired"], deadline["escalation_steps"]) == (1, 2)
    assert deadline["next_escalation_at"] == "2026-12-01T03:00:00+00:00"
    assert "TERLAMBAT 2 jam 30 menit (eskalasi 1/2)" in cli("show", case.number).out
    assert [row["number"] for row in json.loads(cli("cases", "--overdue", "--json").out)] == [case.number]
    clock.set(wita(2026, 12, 1, 11, 0))
    result = cli("escalate")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[-1] == "2 langkah eskalasi dijalankan."
    assert any(line.startswith(f"{case.number}  Ditelaah Kepala Bidang (ditelaah)") and "langkah 2  1 penerima" in line
               and "batas 30-11-2026 11.00 WITA" in line for line in lines)
    assert any(line.startswith(on_time.number) and "langkah 1" in line for line in lines)
    deadline = json.loads(cli("show", case.number, "--json").out)["deadline"]
    assert (deadline["escalation_steps_fired"], deadline["next_escalation_at"]) == (2, None)
    assert "TERLAMBAT 1 hari (eskalasi 2/2)" in cli("show", case.number).out
    assert {row["number"] for row in json.loads(cli("cases", "--overdue", "--json").out)} == {case.number,
                                                                                           on_time.number}
    result = cli("escalate")
    assert (result.code, result.out.strip()) == (0, "Tidak ada eskalasi yang jatuh tempo.")
    assert cli("escalate", "--limit", "0").code == 2


# -- two real processes, one thousand due cases --------------------------------------------------


def _fast_commits(engine: Commands, database_url: str) -> None:
    """Asynchronous commit for the setup only; it changes durability, never locking or visibility."""
    if not engine.db.is_sqlite:
        with engine.db.begin() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar_one()
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        engine.db.dispose()


def treckk_process(args: Sequence[str], database_url: str, now: datetime,
                   extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``treckk ARGS`` as its own process, at the frozen time ``now``."""
    env = {**os.environ, "TRECKK_DATABASE_URL": database_url, "TRECKK_NOW": now.isoformat(),
           "TZ": "Asia/Makassar", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    env.pop("TRECKK_CHANNELS", None)
    return subprocess.Popen([sys.executable, str(ROOT / "runner.py"), *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_two_processes_over_a_thousand_due_cases_fire_each_step_once(engine: Commands, clock: FakeClock,
                                                                     database_url: str) -> None:
    _fast_commits(engine, database_url)
    started = time.monotonic()
    clock.set(wita(2026, 11, 30, 8, 0))
    quiet = {k: v for k, v in COMPLAINT.items() if k != "nomor_pelapor"}  # no receipts: a faster setup
    numbers = {engine.submit("admin", quiet).number for _ in range(1000)}
    setup = time.monotonic() - started
    # Due 09:00: at 10:00 the first step (a reminder to Admin La-Lisa) of all 1,000 cases is due.
    now = wita(2026, 11, 30, 10, 0)
    started = time.monotonic()
    runners = [treckk_process(["escalate", "--json", "--limit", "200"], database_url, now) for _ in range(2)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    elapsed = time.monotonic() - started
    for runner, (_, err) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, err
    reports = [json.loads(out) for out, _ in outputs]
    fired = [(row["number"], row["step"]) for report in reports for row in report]
    assert len(fired) == len(set(fired)) == 1000
    assert set(fired) == {(number, 1) for number in numbers}
    # On PostgreSQL SKIP LOCKED splits the work between the two; on SQLite writers take turns.
    print(f"\n{engine.db.dialect}: 1,000 cases opened in {setup:.1f} s; 2 processes fired 1,000 steps in "
          f"{elapsed:.1f} s, split {[len(r) for r in reports]}")
    with engine.db.begin() as connection:
        assert connection.execute(select(func.count()).select_from(escalations)).scalar_one() == 1000
        sent = connection.execute(
            select(notices.c.case_id, notices.c.recipient_username, notices.c.template)
            .where(notices.c.source == "escalation")).all()
        assert len(sent) == len({row.case_id for row in sent}) == 1000
        assert {(row.recipient_username, row.template) for row in sent} == {("admin", "pengingat.txt.j2")}
        pointers = connection.execute(select(cases.c.next_step, func.count()).group_by(cases.c.next_step)).all()
        assert [tuple(row) for row in pointers] == [(1, 1000)]
    again = treckk_process(["escalate", "--json"], database_url, now)
    out, err = again.communicate(timeout=60)
    assert (again.returncode, json.loads(out)) == (0, []), err
    assert count(engine, escalations) == 1000
    assert count(engine, notices, notices.c.source == "escalation") == 1000
