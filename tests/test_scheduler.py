"""The scheduler wiring: schedule runs recorded once, holidays skipped, catch-up within the grace, jobs.

Nothing here sleeps: fire times are computed from the triggers, schedule runs are called with
their fire time, and the APScheduler jobs are inspected, not waited for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from engine.app.reports import run_schedule
from engine.adapters.scheduler import Scheduler, latest_fire_time
from engine.app.commands import Commands
from engine.store import notice_rows
from engine.store.schema import schedule_runs
from tests.conftest import FakeClock
from tests.test_escalation import open_case, wita

DIGEST = CronTrigger.from_crontab("0 7 * * mon-fri", timezone="Asia/Makassar")
RECAP = CronTrigger.from_crontab("0 8 1 * *", timezone="Asia/Makassar")
SIX_HOURS = timedelta(hours=6)


def test_latest_fire_time_looks_back_only_as_far_as_the_grace() -> None:
    assert latest_fire_time(DIGEST, wita(2026, 11, 30, 7, 0), SIX_HOURS) == wita(2026, 11, 30, 7, 0)
    assert latest_fire_time(DIGEST, wita(2026, 11, 30, 12, 59), SIX_HOURS) == wita(2026, 11, 30, 7, 0)
    assert latest_fire_time(DIGEST, wita(2026, 11, 30, 13, 1), SIX_HOURS) is None
    # Monday 06:59: Friday's digest is long past the grace; the weekend has none.
    assert latest_fire_time(DIGEST, wita(2026, 11, 30, 6, 59), SIX_HOURS) is None
    # Down for four days: only the latest missed run is caught up (coalesced), not one per day.
    assert latest_fire_time(DIGEST, wita(2026, 12, 3, 7, 30), timedelta(days=4)) == wita(2026, 12, 3, 7, 0)
    assert latest_fire_time(RECAP, wita(2026, 12, 1, 8, 10), SIX_HOURS) == wita(2026, 12, 1, 8, 0)


def schedule_notices(engine: Commands, name: str) -> list[Any]:
    return [row for row in engine.db.transaction(notice_rows.list_notices) if row.source == f"schedule:{name}"]


def run_count(engine: Commands) -> int:
    with engine.db.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(schedule_runs)).scalar_one())


def test_the_digest_runs_once_per_fire_time_and_never_on_a_holiday(engine: Commands, clock: FakeClock) -> None:
    case = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    monday = wita(2026, 11, 30, 7, 0)
    clock.set(monday)
    first = run_schedule(engine, "treckk", "ringkasan_pagi", monday)
    again = run_schedule(engine, "treckk", "ringkasan_pagi", monday)
    assert (first.status, first.notices, again.status, again.notices) == ("queued", 1, "already_ran", 0)
    assert run_count(engine) == 1
    (digest,) = schedule_notices(engine, "ringkasan_pagi")
    assert (digest.recipient_username, digest.case_id) == ("kabid", None)
    assert digest.subject == "Ringkasan pagi: 1 aduan terbuka, 0 terlambat (Senin, 30 November 2026)"
    assert f"1. {case.number} - Ditelaah Kepala Bidang" in digest.body
    assert "Batas waktu: 30-11-2026 11.00 WITA" in digest.body
    # The next working day is a new fire time.
    assert run_schedule(engine, "treckk", "ringkasan_pagi", wita(2026, 12, 1, 7, 0)).status == "queued"
    # Cuti bersama (Thu 24 Dec 2026) and Christmas (Fri 25 Dec): no digest, nothing recorded.
    for holiday in (wita(2026, 12, 24, 7, 0), wita(2026, 12, 25, 7, 0)):
        clock.set(holiday)
        assert run_schedule(engine, "treckk", "ringkasan_pagi", holiday).status == "not_working_day"
    assert run_count(engine) == 2
    assert len(schedule_notices(engine, "ringkasan_pagi")) == 2


def test_catch_up_on_start_fires_what_fell_due_and_the_missed_runs_once(engine: Commands, clock: FakeClock,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))  # catch-up delivers, if it can
    case = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    # The runner was down from Friday evening until Tuesday 1 December 08:10.
    clock.set(wita(2026, 12, 1, 8, 10))
    runner = Scheduler(engine, schedule_grace=SIX_HOURS)
    result = runner.catch_up()
    assert [(f.number, f.step) for f in result.escalations] == [(case.number, 1)]
    assert sorted((r.schedule, r.fire_at, r.status) for r in result.schedules) == [
        ("rekap_bulanan", wita(2026, 12, 1, 8, 0), "queued"), ("ringkasan_pagi", wita(2026, 12, 1, 7, 0), "queued")]
    # The digest was built after the scan: it shows the reminder that just went out.
    (digest,) = schedule_notices(engine, "ringkasan_pagi")
    assert "1 terlambat" in digest.subject and "TERLAMBAT 21 jam 10 menit" in digest.body
    assert schedule_notices(engine, "rekap_bulanan")[0].recipient_username == "kasat"
    # A second runner (or a restart) at the same time adds nothing.
    second = Scheduler(engine, schedule_grace=SIX_HOURS).catch_up()
    assert second.escalations == []
    assert {r.status for r in second.schedules} == {"already_ran"}
    assert run_count(engine) == 2
    # Started in the afternoon, beyond the grace: the morning's runs are not caught up again.
    assert Scheduler(engine, schedule_grace=SIX_HOURS).run_due_schedules(wita(2026, 12, 1, 14, 1)) == []


def test_start_registers_one_job_per_schedule_in_wita_and_stop_ends_cleanly(engine: Commands) -> None:
    runner = Scheduler(engine, scan_interval=3600, delivery_interval=3600)
    runner.start()
    try:
        assert runner.running
        jobs = {job.id: job for job in runner.jobs()}
        assert {"escalation", "schedule:treckk:ringkasan_pagi", "schedule:treckk:rekap_bulanan"} <= set(jobs)
        digest = jobs["schedule:treckk:ringkasan_pagi"]
        assert str(digest.trigger.timezone) == "Asia/Makassar"
        assert str(digest.trigger) == "cron[month='*', day='*', day_of_week='mon-fri', hour='7', minute='0']"
        assert (digest.coalesce, digest.misfire_grace_time) == (True, int(runner.schedule_grace.total_seconds()))
        local = digest.next_run_time.astimezone(digest.trigger.timezone)
        assert (local.hour, local.minute, local.isoweekday() <= 5) == (7, 0, True)
        assert jobs["escalation"].trigger.interval == timedelta(seconds=3600)
    finally:
        runner.stop()
    assert not runner.running


def test_scheduler_delivery_is_the_applications_delivery_command() -> None:
    calls: list[dict[str, Any]] = []

    class Application:
        def deliver(self, **kwargs: Any) -> str:
            calls.append(kwargs)
            return "delivered"

    runner = Scheduler(Application())  # type: ignore[arg-type]
    assert runner.deliver() == "delivered"
    # The scheduler's stop signal reaches the sends under way, so a stalled receiver cannot hold it.
    assert [set(call) for call in calls] == [{"should_stop"}]
    assert calls[0]["should_stop"]() is False
    runner.stopping.set()
    assert calls[0]["should_stop"]() is True

