"""Transition throughput and latency through the engine service, against the replayed-SQL floor."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.recorder import PostgresReplay, Recorder, Recording, SqliteReplay
from bench.seed import add_staff, bulk_cases, copy_sqlite, new_engine

# (trigger, actor, input) moves applied to every case in order; tugaskan has a guard, required
# input and three notices (one of them the HTML Surat Perintah Tugas).
MOVES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("teruskan", "admin", {}),
    ("tugaskan", "kabid", {"instruksi": "Tertibkan PKL dan buka kembali badan jalan."}),
)


def _record_moves(url: str, numbers: list[str]) -> dict[str, Any]:
    """Run every move through the engine on ``url`` and capture the SQL it sent, per trigger."""
    engine = new_engine(url)
    recordings = {}
    for trigger, actor, values in MOVES:
        recorder = Recorder(engine.db.engine)
        recorder.start()
        for number in numbers:
            engine.advance(number, trigger, actor, values)
        recordings[trigger] = recorder.stop()
    engine.db.dispose()
    return recordings


def sqlite_throughput(workdir: Path, count: int) -> dict[str, Any]:
    """Engine vs floor on SQLite files prepared identically."""
    seed = workdir / "seed.db"
    engine = new_engine(f"sqlite:///{seed}")
    add_staff(engine)
    numbers = bulk_cases(engine, count)
    engine.db.dispose()
    record, run, floor = workdir / "record.db", workdir / "engine.db", workdir / "floor.db"
    for target in (record, run, floor):
        copy_sqlite(seed, target)

    results: dict[str, Any] = {"cases": count, "moves": {}}
    recordings = _record_moves(f"sqlite:///{record}", numbers)

    results["moves"], results["latency_ms"] = _measure(numbers, recordings, SqliteReplay(str(floor)),
                                                       f"sqlite:///{run}")
    return results


CHUNKS = 10
"""Engine and floor take turns over this many slices of the cases, so drift in the machine's
speed (other tenants, disk flushes) falls on both alike instead of on whichever ran second."""


def _measure(numbers: list[str], recordings: dict[str, Recording], floor: SqliteReplay | PostgresReplay,
             url: str) -> tuple[dict[str, Any], dict[str, float]]:
    """Every move through the engine and through the floor, in alternating slices; rows and latency.

    Both sides are opened before timing and closed after; only the moves are timed.
    """
    engine = new_engine(url)  # the database is prepared already: deploy finds the same version
    moves: dict[str, Any] = {}
    latencies: list[float] = []
    size = -(-len(numbers) // CHUNKS)
    try:
        for trigger, actor, values in MOVES:
            recording = recordings[trigger]
            assert len(recording.transactions) == len(numbers), "one recorded transaction per move"
            engine_elapsed = floor_elapsed = 0.0
            for start in range(0, len(numbers), size):
                started = time.perf_counter()
                floor.run(recording.transactions[start:start + size])
                floor_elapsed += time.perf_counter() - started
                started = time.perf_counter()
                for number in numbers[start:start + size]:
                    t0 = time.perf_counter()
                    engine.advance(number, trigger, actor, values)
                    latencies.append(time.perf_counter() - t0)
                engine_elapsed += time.perf_counter() - started
            moves[trigger] = _row(len(numbers), engine_elapsed, floor_elapsed, recording)
    finally:
        floor.close()
        engine.db.dispose()
    return moves, _latency(latencies)


def postgres_throughput(admin_url: str, count: int) -> dict[str, Any]:
    """Engine vs psycopg floor on three identical PostgreSQL databases (template copies)."""
    import uuid

    import psycopg

    libpq = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    base = admin_url.rpartition("/")[0]
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"treckk_bench_{kind}_{tag}" for kind in ("seed", "record", "engine", "floor")}
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{names["seed"]}"')
    try:
        seed_engine = new_engine(f"{base}/{names['seed']}")
        add_staff(seed_engine)
        numbers = bulk_cases(seed_engine, count)
        seed_engine.db.dispose()
        with psycopg.connect(libpq, autocommit=True) as admin:
            for kind in ("record", "engine", "floor"):
                admin.execute(f'CREATE DATABASE "{names[kind]}" TEMPLATE "{names["seed"]}"')
        recordings = _record_moves(f"{base}/{names['record']}", numbers)
        results: dict[str, Any] = {"cases": count}
        results["moves"], results["latency_ms"] = _measure(
            numbers, recordings, PostgresReplay(f"{base}/{names['floor']}"), f"{base}/{names['engine']}")
        return results
    finally:
        with psycopg.connect(libpq, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _row(count: int, engine_elapsed: float, floor_elapsed: float, recording: Any) -> dict[str, Any]:
    return {
        "engine_per_s": count / engine_elapsed,
        "floor_per_s": count / floor_elapsed,
        "ratio": floor_elapsed / engine_elapsed,
        "engine_us_per_move": engine_elapsed / count * 1e6,
        "floor_us_per_move": floor_elapsed / count * 1e6,
        "statements_per_move": recording.statement_count() / max(1, len(recording.transactions)),
    }


def _latency(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max": ordered[-1] * 1000,
    }
