"""``treckk serve`` as a real process: it catches up once on start and stops cleanly on signals.

The cases fall due while nothing runs; a ``treckk serve`` process started with ``TRECKK_NOW``
past their deadlines must escalate each of them once (the test polls the database for the result,
with a bounded timeout), stop with exit code 0 on SIGTERM, and a second start must add nothing
(it is stopped with SIGINT once it reports it is serving).
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.app.commands import Commands
from engine.store.schema import escalations, notices, schedule_runs
from tests.conftest import FakeClock
from tests.test_escalation import open_case, treckk_process, wita

NOW = wita(2026, 12, 1, 12, 0)  # Tuesday: both steps of a ditelaah case entered Friday are past


def counts(engine: Commands) -> tuple[int, int, int]:
    """(escalation steps, notices, schedule runs) recorded so far."""
    with engine.db.begin() as connection:
        steps, sent, runs = (int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                             for table in (escalations, notices, schedule_runs))
    return steps, sent, runs


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll a real process's effect until ``condition`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def stderr_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stderr, line by line, read by a thread so the test can wait with a timeout."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 60.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no line with {needle!r} within {timeout:.0f} s; stderr so far: {''.join(seen)}")
        seen.append(line)
        if needle in line:
            return seen


@pytest.mark.slow
def test_serve_catches_up_once_after_downtime_and_stops_on_sigterm_and_sigint(
        engine: Commands, clock: FakeClock, database_url: str, tmp_path: Path) -> None:
    for _ in range(3):
        open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    before = counts(engine)
    env = {"TRECKK_OUTBOX_DIR": str(tmp_path / "outbox"), "TRECKK_SCHEDULE_GRACE": str(6 * 3600)}

    first = treckk_process(["serve", "--scan-interval", "3600"], database_url, NOW, extra_env=env)
    try:
        # 3 cases × 2 steps; the 07:00 digest and the 08:00 recap of today are within the grace.
        wait_for(lambda: counts(engine)[0] == 6 and counts(engine)[2] == 2, "the catch-up of 6 steps and 2 runs")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "escalation: 6 step(s) fired" in err
    assert "stopping after the current job" in err
    after_first = counts(engine)
    # Six reminders (3 to the Kabid, 3 to the Kasat) and one digest and one recap.
    assert after_first == (6, before[1] + 8, 2)

    second = treckk_process(["serve", "--scan-interval", "3600"], database_url, NOW, extra_env=env)
    try:
        wait_for_line(stderr_lines(second), "serving:")
        second.send_signal(signal.SIGINT)
        second.wait(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0
    assert counts(engine) == after_first


def test_serve_once_catches_up_and_exits(engine: Commands, clock: FakeClock, cli: Callable[..., Any],
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    case = open_case(engine, clock, "ditelaah", wita(2026, 11, 27, 15, 30))
    clock.set(wita(2026, 11, 30, 11, 5))
    result = cli("serve", "--once", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert [(e["number"], e["step"]) for e in summary["escalations"]] == [(case.number, 1)]
    # Monday 11:05: the 07:00 digest is 4 h 5 min old, within the default 6-hour grace.
    assert [(s["schedule"], s["status"]) for s in summary["schedules"]] == [("ringkasan_pagi", "queued")]
    again = json.loads(cli("serve", "--once", "--json").out)
    assert again["escalations"] == []
    assert [(s["schedule"], s["status"]) for s in again["schedules"]] == [("ringkasan_pagi", "already_ran")]
    assert cli("serve", "--scan-interval", "0").code == 2
