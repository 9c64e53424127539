"""Real processes racing on one case: one wins, the rest are told why, history stays whole.

Eight worker processes (``spawn``, so nothing is shared with the test process but the database)
have the engine imported before the race; each then waits on one barrier and runs the same
``treckk`` entry point a shell would (``runner.main``), against SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from multiprocessing.pool import Pool
from typing import Any

import pytest

from engine.compile.workflow import bundle_from_files, compile_bundle
from engine.app.commands import Commands
from engine.app.queries import Queries
from tests.conftest import COMPLAINT, ROOT, FakeClock

PROCESSES = 8

_barrier: Any = None

# Compiled at import, so a forkserver that preloads this module hands every worker a warm
# definition cache: the race measures the commands, not the first compile of each process.
_WARM = compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates"))


def _prepare(barrier: Any) -> None:
    """Pool initializer: keep the barrier (everything else was imported before the fork)."""
    global _barrier
    _barrier = barrier
    os.environ["TZ"] = "Asia/Makassar"
    time.tzset()


def _run_cli(job: tuple[list[str], str]) -> tuple[int, str, str]:
    """Wait for every worker, then run ``treckk ARGV`` at the given frozen time."""
    argv, now = job
    import runner

    os.environ["TRECKK_NOW"] = now
    out, err = io.StringIO(), io.StringIO()
    _barrier.wait(timeout=120)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = runner.main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workers() -> Iterator[Pool]:
    """Eight live worker processes, forked from a server that has already imported the engine."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["runner", "engine.adapters.cli.cases_cmd", "engine.app.commands", "engine.app.queries",
                                    "engine.store.database", "sqlalchemy.dialects.postgresql.psycopg",
                                    "sqlalchemy.dialects.sqlite.pysqlite", __name__])
    barrier = context.Barrier(PROCESSES)
    with context.Pool(PROCESSES, initializer=_prepare, initargs=(barrier,)) as pool:
        # Every worker must be up before the first race is timed: one round through the barrier.
        assert pool.map(_ready, range(PROCESSES), chunksize=1) == [True] * PROCESSES
        yield pool


def _ready(_index: int) -> bool:
    _barrier.wait(timeout=120)
    return True


def race(workers: Pool, jobs: Sequence[list[str]], clock: FakeClock) -> list[tuple[int, str, str]]:
    assert len(jobs) == PROCESSES, "every worker must take exactly one job or the barrier never opens"
    started = time.perf_counter()
    results = workers.map(_run_cli, [(list(argv), clock.iso()) for argv in jobs], chunksize=1)
    print(f"{PROCESSES}-process race took {time.perf_counter() - started:.3f}s; exit codes "
          f"{sorted(code for code, _o, _e in results)}")
    return results


def assert_one_winner(results: list[tuple[int, str, str]]) -> None:
    codes = sorted(code for code, _out, _err in results)
    assert codes.count(0) == 1, results
    assert set(codes[1:]) <= {4, 5}, results
    for code, _out, err in results:
        if code:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("treckk: error: "), err


def test_eight_processes_fire_the_same_trigger_once(engine: Commands, database_url: str, workers: Pool,
                                                    clock: FakeClock) -> None:
    views = Queries(engine)
    number = engine.submit("admin", COMPLAINT).number
    results = race(workers, [["advance", number, "teruskan", "--as", "admin", "--db", database_url, "--json"]]
                   * PROCESSES, clock)
    assert_one_winner(results)
    history = views.history(number)
    assert [(e["seq"], e["trigger"]) for e in history] == [(1, "catat"), (2, "teruskan")]
    assert views.show(number)["version"] == 2 and views.show(number)["state"] == "ditelaah"
    assert views.verify() == []


def test_competing_decisions_on_one_case_leave_exactly_one(engine: Commands, database_url: str, workers: Pool,
                                                           clock: FakeClock) -> None:
    views = Queries(engine)
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")
    decisions = [
        ["tolak", "--set", "alasan=bukan kewenangan"],
        ["limpahkan", "--set", "instansi=Dinas Perhubungan", "--set", "alasan=urusan parkir"],
        ["tugaskan", "--set", "instruksi=tertibkan"],
        ["minta_verifikasi"],
    ] * 2
    results = race(workers, [["advance", number, *decision[:1], "--as", "kabid", "--db", database_url,
                              *decision[1:]] for decision in decisions], clock)
    assert_one_winner(results)
    history = views.history(number)
    winner = next(decision[0] for decision, (code, _o, _e) in zip(decisions, results) if code == 0)
    assert [e["trigger"] for e in history] == ["catat", "teruskan", winner]
    with engine.db.begin() as connection:
        from sqlalchemy import func, select

        from engine.store.schema import notices

        by_event = {seq: count for seq, count in connection.execute(
            select(notices.c.event_seq, func.count()).group_by(notices.c.event_seq))}
    assert set(by_event) <= {1, 2, 3}, "only the winner may leave notices"
    assert views.verify() == []


def test_eight_first_intakes_of_the_year_get_distinct_numbers(engine: Commands, database_url: str, workers: Pool,
                                                              clock: FakeClock) -> None:
    views = Queries(engine)
    results = race(workers, [["submit", "--as", "admin", "--db", database_url, "--set", "kanal=telepon",
                              "--set", f"uraian=aduan nomor {i}"] for i in range(PROCESSES)], clock)
    assert [code for code, _o, _e in results] == [0] * PROCESSES, results
    numbers = sorted(out.strip() for _c, out, _e in results)
    assert numbers == [f"TRK-2026-{i:06d}" for i in range(1, PROCESSES + 1)]
    assert sorted(row["number"] for row in views.list_cases()) == numbers


def test_retries_of_one_intake_racing_each_other_open_one_case(engine: Commands, database_url: str, workers: Pool,
                                                               clock: FakeClock) -> None:
    views = Queries(engine)
    results = race(workers, [["submit", "--as", "admin", "--db", database_url, "--set", "kanal=whatsapp",
                              "--set", "uraian=aduan yang dikirim ulang", "--idempotency-key", "wa-msg-77"]]
                   * PROCESSES, clock)
    assert [code for code, _o, _e in results] == [0] * PROCESSES, results
    assert {out.strip() for _c, out, _e in results} == {"TRK-2026-000001"}
    assert len(views.list_cases()) == 1
    assert len(views.history("TRK-2026-000001")) == 1

