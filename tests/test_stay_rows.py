"""The stays rollup equals what the events say, after a random walk of moves and a migration with a
state map; and the backfill (revision 0016) derives the very rows the moves wrote. Both backends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from engine.app.commands import Commands
from engine.store import stay_rows
from engine.store.schema import cases, events, stays
from engine.store.stay_rows import epoch_us
from tests.conftest import COMPLAINT, FakeClock
from tests.test_escalation import HASIL, scan_at
from tests.test_service import version_2, workflow_copy

PATHS = [[("teruskan", "admin", {})], [("tandai_duplikat", "admin", {"alasan": "Ganda."})],
         [("teruskan", "admin", {}), ("tolak", "kabid", {"alasan": "Bukan Perda."})],
         [("teruskan", "admin", {}), ("minta_verifikasi", "kabid", {"instruksi": "Cek."}),
          ("laporkan_verifikasi", "tim_paringin", {"temuan": "Ada.", "laporan_benar": True}),
          ("tugaskan", "kabid", {"instruksi": "Tertibkan."}), ("mulai_tangani", "tim_paringin", {}),
          ("laporkan_hasil", "tim_paringin", HASIL), ("sahkan", "kabid", {})],
         [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan."}),
          ("mulai_tangani", "tim_paringin", {})]]


def _aware(moment: Any) -> datetime:
    moment = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def recomputed(engine: Commands) -> list[tuple[Any, ...]]:
    """The stays, read from the events by hand: a stay begins at each event that opens the case or
    changes its state, and ends at the next such event of the case."""
    def work(connection: Any) -> list[tuple[Any, ...]]:
        created = {row.id: (row.workflow, _aware(row.created_at))
                   for row in connection.execute(select(cases.c.id, cases.c.workflow, cases.c.created_at))}
        found: list[list[Any]] = []
        open_stay: dict[int, list[Any]] = {}
        for case_id, seq, before, after, at in connection.execute(
                select(events.c.case_id, events.c.seq, events.c.from_state, events.c.to_state, events.c.at)
                .order_by(events.c.case_id, events.c.seq)):
            if before is not None and before == after:
                continue
            moment = epoch_us(_aware(at))
            if case_id in open_stay:
                stay = open_stay[case_id]
                stay[6], stay[7] = moment, moment - stay[5]
            workflow, opened = created[case_id]
            open_stay[case_id] = [case_id, seq, workflow, after, before, moment, None, None,
                                  moment - epoch_us(opened)]
            found.append(open_stay[case_id])
        return [tuple(row) for row in found]

    return engine.db.read(work)


def stored(engine: Commands) -> list[tuple[Any, ...]]:
    return engine.db.read(lambda connection: [tuple(row) for row in connection.execute(
        select(stays.c.case_id, stays.c.seq, stays.c.workflow, stays.c.state, stays.c.from_state,
               stays.c.entered_us, stays.c.left_us, stays.c.length_us, stays.c.since_intake_us)
        .order_by(stays.c.case_id, stays.c.seq))])


def test_the_rollup_equals_the_events_after_a_random_walk_and_a_migration(engine: Commands, clock: FakeClock,
                                                                          tmp_path: Path) -> None:
    rng = random.Random(16)
    clock.set(datetime(2026, 10, 1, 0, 30, 15, 123456, tzinfo=timezone.utc))
    walks: list[tuple[str, list[tuple[str, str, dict[str, Any]]]]] = []
    for i in range(24):
        clock.advance(minutes=rng.randint(1, 900), seconds=rng.random() * 60)
        number = engine.submit("admin", {**COMPLAINT, "kecamatan": "paringin"}).number
        path = rng.choice(PATHS)
        # The first three end in ``ditangani`` (the state the migration renames).
        walks.append((number, PATHS[-1] if i < 3 else path[:rng.randint(0, len(path))]))
        if i % 6 == 0:
            scan_at(engine, clock, clock() + timedelta(hours=rng.randint(1, 30)))
    # The cases move interleaved, in a random order, each along its own path.
    pending = [(number, list(steps)) for number, steps in walks]
    while any(steps for _number, steps in pending):
        number, steps = rng.choice([walk for walk in pending if walk[1]])
        trigger, actor, given = steps.pop(0)
        clock.advance(minutes=rng.randint(1, 3000), seconds=rng.random() * 60)
        engine.advance(number, trigger, actor, given)
    assert stored(engine) == recomputed(engine)

    # A migration renames ``ditangani`` (the stay there ends, one in ``penanganan`` begins) and keeps
    # every other state (an event that neither ends nor begins a stay).
    engine.deploy(workflow_copy(tmp_path, version_2), "inovator")
    numbers = [number for number, _steps in walks]
    states = {number: engine.db.read(lambda c, n=number: c.execute(select(cases.c.state).where(
        cases.c.number == n)).scalar_one()) for number in numbers}
    clock.advance(hours=5)
    moving = [n for n in numbers if states[n] not in ("selesai", "ditolak", "dilimpahkan", "duplikat")]
    engine.migrate("treckk", 2, moving, {"ditangani": "penanganan"}, "inovator")
    assert any(states[n] == "ditangani" for n in moving) and any(states[n] != "ditangani" for n in moving)
    clock.advance(hours=2)
    for number in moving:
        if states[number] == "ditangani":
            engine.advance(number, "laporkan_hasil", "tim_paringin", HASIL)
    expected = recomputed(engine)
    assert stored(engine) == expected
    assert any(row[3] == "penanganan" and row[6] is not None for row in expected)

    # The backfill derives the same rows from the events alone.
    engine.db.transaction(lambda connection: connection.execute(delete(stays)))
    assert stored(engine) == []
    written = engine.db.transaction(lambda connection: stay_rows.backfill(connection, batch=5))
    assert written == len(expected)
    assert stored(engine) == expected
    # Run again, it adds nothing: every case has its stays.
    assert engine.db.transaction(lambda connection: stay_rows.backfill(connection)) == 0
