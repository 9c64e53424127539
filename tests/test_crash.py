"""SIGKILL in the middle of work: every committed command is whole, every other one left no trace.

A child process loops over cases, sending results back and forth (``laporkan_hasil`` /
``kembalikan``) and now and then recording a new complaint. The test kills it with SIGKILL after
a seeded-random number of its progress lines (one per SQL statement and commit) — so it dies
inside a transaction, before a commit, or between commands — then checks that each case's state
is the ``to`` of its last event, that its version equals its number of events, and that
``treckk verify`` passes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import func, select

from engine.app.commands import Commands
from engine.store.schema import case_numbers, cases, events
from tests.conftest import COMPLAINT, ROOT, FakeClock

KILLS = 4
SEED = 20261130
CASES = 6

CHILD = textwrap.dedent("""
    import itertools, sys
    from datetime import datetime
    from pathlib import Path

    from engine.core.clock import fixed_clock
    from engine.errors import NotAllowed
    from engine.app.commands import Commands
    from engine.store.database import Database

    from sqlalchemy import event

    url, home, now, *numbers = sys.argv[1:]
    database = Database(url)
    engine = Commands(database, fixed_clock(datetime.fromisoformat(now)), Path(home))

    # A progress line before every SQL statement and at every commit, so a kill after a random
    # number of lines lands at a random statement: between UPDATE cases and INSERT events, or
    # just before COMMIT, as often as between commands.
    @event.listens_for(database.engine, "before_cursor_execute")
    def statement(conn, cursor, sql, parameters, context, executemany):
        print("sql", sql.split(None, 1)[0], flush=True)

    @event.listens_for(database.engine, "commit")
    def commit(conn):
        print("commit", flush=True)
    complaint = {"kanal": "telepon", "uraian": "Ternak lepas di jalan", "kecamatan": "paringin",
                 "kategori": "ternak_lepas", "lokasi": "Jl. Sudirman"}
    print("ready", flush=True)
    for i in itertools.count():
        number = numbers[i % len(numbers)]
        print(f"begin {i}", flush=True)
        if i % 5 == 4:
            engine.submit("admin", complaint)
        else:
            try:
                engine.advance(number, "laporkan_hasil", "tim_paringin",
                               {"tindakan": f"penertiban ke-{i}", "hasil": "ternak dikembalikan ke pemilik"})
            except NotAllowed:
                engine.advance(number, "kembalikan", "kabid", {"catatan": f"lengkapi foto (putaran {i})"})
        print(f"end {i}", flush=True)
""")


def case_in_ditangani(engine: Commands) -> str:
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "tertibkan"})
    engine.advance(number, "mulai_tangani", "tim_paringin")
    return number


def check_every_case(engine: Commands) -> int:
    """The invariants after a kill; returns the number of events."""
    with engine.db.begin() as connection:
        counted = {case_id: (n, last_seq) for case_id, n, last_seq in connection.execute(
            select(events.c.case_id, func.count(), func.max(events.c.seq)).group_by(events.c.case_id))}
        total = 0
        for case_id, number, state, version in connection.execute(
                select(cases.c.id, cases.c.number, cases.c.state, cases.c.version)):
            count, last_seq = counted[case_id]
            last_to = connection.execute(select(events.c.to_state).where(
                (events.c.case_id == case_id) & (events.c.seq == last_seq))).scalar_one()
            assert state == last_to, f"{number}: state {state} but its last event went to {last_to}"
            assert version == count == last_seq, f"{number}: version {version}, {count} events, last seq {last_seq}"
            total += count
        opened = connection.execute(select(func.count()).select_from(cases)).scalar_one()
        handed_out = connection.execute(select(func.max(case_numbers.c.last))).scalar_one()
        assert handed_out == opened, "a case number was used up without its case (or twice)"
    return total


def test_sigkill_at_random_moments_leaves_whole_commands(engine: Commands, database_url: str, cli: object,
                                                         clock: FakeClock, tmp_path: Path) -> None:
    numbers = [case_in_ditangani(engine) for _ in range(CASES)]
    script = tmp_path / "advance_loop.py"
    script.write_text(CHILD, encoding="utf-8")
    rng = random.Random(SEED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    events_seen = [check_every_case(engine)]
    for _kill in range(KILLS):
        child = subprocess.Popen([sys.executable, str(script), database_url, str(ROOT), clock.iso(), *numbers],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n", child.stderr.read() if child.stderr else ""
            # Kill after a random number of progress lines: inside a transaction after some
            # statement, just before a commit, or between commands.
            line = ""
            for _line in range(rng.randint(1, 150)):
                line = child.stdout.readline()
                assert line, child.stderr.read() if child.stderr else "child stopped early"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=60)
        assert child.returncode == -signal.SIGKILL
        printed = ([line.strip()] + (child.stdout.read().splitlines() if child.stdout else []))[-1]
        events_seen.append(check_every_case(engine))
        # Where the kill landed, for the log.
        print(f"kill {_kill + 1}: last progress {printed!r}; events {events_seen[-2]} -> {events_seen[-1]}")
        result = cli("verify")  # type: ignore[operator]
        assert result.code == 0, result.out + result.err
    assert events_seen == sorted(events_seen) and events_seen[-1] > events_seen[0], events_seen
